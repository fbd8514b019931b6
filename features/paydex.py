"""Paydex (docs/features.md §2.14; raw ``paydex``): ``paydex_nb_jours`` of the month of ``date_valeur`` and
the same value written 3, 6 and 12 months later as ``_past_3/6/12``. No forward fill (Q14).

Parity: when the company has paydex records every month starts with the four keys set to null.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .columns import Columns
from .months import record_month

PAYDEX_LAGS = (3, 6, 12)


def paydex(records: dict[str, dict[str, Any]], axis: np.ndarray, where: str) -> Columns:
    """Paydex columns over ``axis`` (nulls marked where the original writes null)."""
    n = len(axis)
    cols = Columns(n)
    if not records:
        return cols
    names = ["paydex_nb_jours"] + [f"paydex_nb_jours_past_{k}" for k in PAYDEX_LAGS]
    for name in names:
        cols.num(name)
        cols.set_null(name, slice(None))
    m0 = int(axis[0])
    for h, r in records.items():
        m = record_month(r, "date_valeur", f"{where} paydex {h}")
        for name, lag in zip(names, (0,) + PAYDEX_LAGS):
            j = m + lag - m0
            if 0 <= j < n:
                cols.put(name, j, r.get("nb_jours"))
    return cols
