"""Small builders of records and states for the feature tests."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from sf.features.months import month_index


def d(text: str) -> datetime:
    """``"2018-01"`` or ``"2018-01-15"`` → aware UTC datetime."""
    parts = [int(x) for x in text.split("-")]
    return datetime(parts[0], parts[1], parts[2] if len(parts) > 2 else 1, tzinfo=UTC)


def axis(first: str, count: int) -> np.ndarray:
    """``count`` month indices from ``first``."""
    start = month_index(d(first))
    return np.arange(start, start + count)


def periods(first: str, count: int) -> list[datetime]:
    return [datetime(int(m) // 12, int(m) % 12 + 1, 1, tzinfo=UTC) for m in axis(first, count)]


def col(cols, name):  # values as a list with None for absent
    arr = cols.values.get(name)
    if arr is None:
        return [None] * cols.n
    return [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in arr]
