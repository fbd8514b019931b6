"""Deterministic ``reporder`` entries: the sampling order of an etablissement's months.

The original drew ``random_order`` with JavaScript's unseeded ``Math.random()`` and keyed each
entry by the server's ``Date.prototype.toString()`` (time-zone dependent). Here:

* key: the ISO date of the month, ``"2014-01-01"`` (:func:`sf.compaction.model.month_key`);
* value: ``{"periode": <aware UTC datetime, first of the month>, "siret": <key>,
  "random_order": reporder_value(siret, periode)}``.

``reporder_value`` hashes ``f"{siret}|{YYYY-MM}"`` with SHA-256, takes the first 8 bytes as a
big-endian unsigned integer, keeps its top 53 bits and divides by 2**53. 53 bits are what a
float holds exactly, so the value is uniform on [0, 1) and never rounds up to 1.0 (dividing
the full 64 bits by 2**64 can). Purging and re-compacting therefore reproduces the same values.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import numpy as np

from .model import as_utc, month_key


def reporder_value(siret: str, periode: datetime) -> float:
    """Sampling value in [0, 1) for ``(siret, month of periode)``; see the module docstring."""
    return _value(f"{siret}|{as_utc(periode):%Y-%m}")


def reporder_grid(sirets: list[str], periodes: list[datetime]) -> np.ndarray:
    """``reporder_value(sirets[i], periodes[j])`` as an array of shape ``(len(sirets), len(periodes))``."""
    months = [f"{as_utc(p):%Y-%m}" for p in periodes]
    values = [_value(f"{siret}|{month}") for siret in sirets for month in months]
    return np.array(values, dtype=np.float64).reshape(len(sirets), len(months))


def _value(text: str) -> float:
    digest = hashlib.sha256(text.encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / float(1 << 53)


def reporder_record(siret: str, periode: datetime) -> dict[str, Any]:
    """The ``reporder`` record of ``siret`` for the month starting at ``periode``."""
    periode = as_utc(periode)
    return {"periode": periode, "siret": siret, "random_order": reporder_value(siret, periode)}


def reporder_entries(siret: str, months: list[datetime]) -> dict[str, dict[str, Any]]:
    """``{month_key: record}`` for the given month starts, in their order."""
    return {month_key(p): reporder_record(siret, p) for p in months}
