"""Headcount variables (spec §2.2): ``effectif``, ``effectif_reporte``, ``effectif_past_k``.

Input: the ``effectif`` records (``{periode, effectif}``) of an établissement, or the
``effectif_ent`` records of an entreprise (``prefix="effectif_ent"``); the month axis.

Parity (quirks Q1, Q2): ``E(p)`` is the last record iterated for month p (accounts are not
summed); a missing or zero month gets ``E(date_fin_effectif)`` — a value from the future — or
null; ``past_k(p) = E(p − k + offset_effectif + 1)`` from the raw history.

Fixed: records of one month are summed (one per URSSAF account); a missing or zero month gets
the **last known past** value (forward fill, never a later one), absent if there is none;
``past_k`` uses the same raw-history formula but only a source month ``<= p``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .columns import Columns
from .months import record_month

PAST_MONTHS = (6, 12, 18, 24)


def raw_headcounts(records: dict[str, dict[str, Any]], where: str, summed: bool) -> dict[int, float | None]:
    """``{month: headcount}``; ``summed`` adds the records of one month, else the last one wins."""
    raw: dict[int, float | None] = {}
    for record_hash, record in records.items():
        if record is None:
            continue
        m = record_month(record, "periode", f"{where} {record_hash}")
        value = record.get("effectif")
        value = None if value is None else float(value)
        if summed and m in raw and raw[m] is not None and value is not None:
            raw[m] = raw[m] + value  # type: ignore[operator]
        else:
            raw[m] = value
    return raw


def headcount_features(records: dict[str, dict[str, Any]], axis: np.ndarray, serie_last: int,
                       offset_effectif: int, mode: str, prefix: str, where: str) -> Columns:
    """Headcount columns over ``axis`` (month indices); see the module docstring."""
    n = len(axis)
    cols = Columns(n)
    raw = raw_headcounts(records, where, summed=(mode == "fixed"))
    m0 = int(axis[0]) if n else 0
    e = np.full(n, np.nan)  # E(p) on the axis; NaN = no record or null
    for m, v in raw.items():
        if m0 <= m < m0 + n and v is not None:
            e[m - m0] = v
    known = e > 0  # the original tests truthiness: 0 and null are missing
    effectif = cols.num(prefix)
    effectif[known] = e[known]
    cols.num(prefix + "_reporte")[:] = np.where(known, 0.0, 1.0)
    if mode == "parity":
        carried = raw.get(serie_last + offset_effectif + 1)
        if carried is None or carried == 0:
            # E(p) || R: a 0 or missing R still goes through `|| null`-like logic: R ?? null
            if carried == 0:
                effectif[~known] = 0.0
            else:
                cols.set_null(prefix, ~known)
        else:
            effectif[~known] = carried
    else:
        # Forward fill from the last known past month, history before the axis included.
        before = [m for m, v in raw.items() if m < m0 and v]
        last = raw[max(before)] if before else np.nan
        idx = np.where(known, np.arange(n), -1)
        np.maximum.accumulate(idx, out=idx)
        filled = np.where(idx >= 0, e[np.maximum(idx, 0)], last)
        effectif[:] = filled
    lags = [(k, k - offset_effectif - 1) for k in PAST_MONTHS]  # past_k(p) = E(p - lag)
    if mode == "fixed":
        lags = [(k, lag) for k, lag in lags if lag >= 0]  # never a source month after p
    if not lags or n == 0:
        return cols
    lo = m0 - max(lag for _, lag in lags)
    hi = m0 + n - min(lag for _, lag in lags)
    values = np.full(hi - lo, np.nan)
    is_null = np.zeros(hi - lo, dtype=bool)
    for m, v in raw.items():
        if lo <= m < hi:
            if v is None:
                is_null[m - lo] = True
            else:
                values[m - lo] = v
    for k, lag in lags:
        src = axis - lag - lo
        name = f"{prefix}_past_{k}"
        cols.num(name)[:] = values[src]
        if is_null[src].any():
            cols.set_null(name, is_null[src])
    return cols
