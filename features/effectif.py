"""Headcount variables (docs/features.md §2.2): ``effectif``, ``effectif_reporte``, ``effectif_past_k``.

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
    """Headcount columns of one entity over ``axis`` (month indices); see the module docstring."""
    return headcount_rows([records], axis, serie_last, offset_effectif, mode, prefix, [where]).row(0)


def headcount_rows(records_by_row: list[dict[str, dict[str, Any]]], axis: np.ndarray, serie_last: int,
                   offset_effectif: int, mode: str, prefix: str, wheres: list[str]) -> Columns:
    """Headcount columns of many entities at once: a ``Columns`` with one row per entry of
    ``records_by_row`` (``wheres[i]`` names entity i in errors), equal row by row to
    :func:`headcount_features`. Raises :class:`FeatureInputError` on a record without a date."""
    rows, n = len(records_by_row), len(axis)
    cols = Columns(n, rows=rows)
    raws = [raw_headcounts(records, where, summed=(mode == "fixed"))
            for records, where in zip(records_by_row, wheres, strict=True)]
    m0 = int(axis[0]) if n else 0
    e = _grid(raws, m0, n)[0]  # E(p) on the axis; NaN = no record or null
    known = e > 0  # the original tests truthiness: 0 and null are missing
    effectif = cols.num(prefix)
    effectif[known] = e[known]
    cols.num(prefix + "_reporte")[:] = np.where(known, 0.0, 1.0)
    if mode == "parity":
        for i, raw in enumerate(raws):
            carried = raw.get(serie_last + offset_effectif + 1)
            # E(p) || R: a 0 R gives 0, a missing or null R gives null.
            if carried is None:
                cols.set_null(prefix, (i, ~known[i]))
            else:
                effectif[i, ~known[i]] = carried
    else:
        # Forward fill from the last known past month, history before the axis included.
        last = np.full(rows, np.nan)
        for i, raw in enumerate(raws):
            before = [m for m, v in raw.items() if m < m0 and v]
            if before:
                last[i] = raw[max(before)]
        idx = np.where(known, np.arange(n), -1)
        np.maximum.accumulate(idx, axis=-1, out=idx)
        filled = np.where(idx >= 0, np.take_along_axis(e, np.maximum(idx, 0), axis=-1), last[:, None])
        effectif[:] = filled
    lags = [(k, k - offset_effectif - 1) for k in PAST_MONTHS]  # past_k(p) = E(p - lag)
    if mode == "fixed":
        lags = [(k, lag) for k, lag in lags if lag >= 0]  # never a source month after p
    if not lags or n == 0:
        return cols
    lo = m0 - max(lag for _, lag in lags)
    hi = m0 + n - min(lag for _, lag in lags)
    values, is_null = _grid(raws, lo, hi - lo)
    for k, lag in lags:
        src = axis - lag - lo
        name = f"{prefix}_past_{k}"
        cols.num(name)[:] = values[:, src]
        if is_null[:, src].any():
            cols.set_null(name, is_null[:, src])
    return cols


def _grid(raws: list[dict[int, float | None]], start: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``(values, is_null)`` of shape ``(len(raws), width)`` for months ``start ..``: the
    headcount (NaN if none or null) and where the record is an explicit null."""
    where_value: tuple[list[int], list[int], list[float]] = ([], [], [])
    where_null: tuple[list[int], list[int]] = ([], [])
    for i, raw in enumerate(raws):
        for m, v in raw.items():
            j = m - start
            if 0 <= j < width:
                if v is None:
                    where_null[0].append(i)
                    where_null[1].append(j)
                else:
                    where_value[0].append(i)
                    where_value[1].append(j)
                    where_value[2].append(v)
    values = np.full((len(raws), width), np.nan)
    values[where_value[0], where_value[1]] = where_value[2]
    is_null = np.zeros((len(raws), width), dtype=bool)
    is_null[where_null[0], where_null[1]] = True
    return values, is_null
