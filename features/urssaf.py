"""URSSAF variables of an établissement: contributions, debts and their lags (docs/features.md §2.3), ratios on
contributions (§2.4), account number (§2.9) and CCSF (§2.6).

The ``*_rows`` functions take, for many établissements at once, the records ``{hash: record}``
of one type of each and the month axis (contiguous month indices), and return one row per
établissement; the one-établissement functions are thin wrappers over them. Windows and lags
are calendar shifts on the axis: in parity mode the axis is the period series (quirk Q5:
nothing before ``date_debut``), in fixed mode it also covers ``history_months`` before it, so
lags and 12-month means exist from the first period on.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from .columns import Columns
from .months import day_20_month, month_start, optional_date, period_months, record_date, record_month

DEBT_LAGS = (1, 2, 3, 6, 12)
#: Months (p-5 .. p) over which a debt makes an établissement "not interesting" for URSSAF.
INTERESSANTE_WINDOW = 6


def _rolling_all(mask: np.ndarray, window: int) -> np.ndarray:
    """True at i when ``mask[..., i-window+1 .. i]`` are all True (False for the first window-1);
    along the last axis (one entity per row)."""
    n = mask.shape[-1]
    out = np.zeros(mask.shape, dtype=bool)
    if n < window:
        return out
    c = np.concatenate([np.zeros(mask.shape[:-1] + (1,), dtype=np.int64), np.cumsum(~mask, axis=-1)], axis=-1)
    out[..., window - 1:] = (c[..., window:] - c[..., :-window]) == 0
    return out


def _rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of ``values[..., i-window+1 .. i]`` (NaN for the first window-1 and if any is NaN)."""
    n = values.shape[-1]
    out = np.full(values.shape, np.nan)
    if n < window:
        return out
    c = np.concatenate([np.zeros(values.shape[:-1] + (1,)), np.cumsum(np.nan_to_num(values), axis=-1)], axis=-1)
    ok = _rolling_all(~np.isnan(values), window)
    sums = np.full(values.shape, np.nan)
    sums[..., window - 1:] = c[..., window:] - c[..., :-window]
    out[ok] = sums[ok] / window
    return out


def cotisations_dettes(cotisation: dict[str, dict[str, Any]], debit: dict[str, dict[str, Any]],
                       axis: np.ndarray, date_fin_month: int, where: str) -> Columns:
    """``cotisation``, ``montant_part_{ouvriere,patronale}`` and their ``_past_k``, and
    ``interessante_urssaf`` of one établissement over ``axis`` (:func:`cotisations_dettes_rows`)."""
    return cotisations_dettes_rows([cotisation], [debit], axis, date_fin_month, [where]).row(0)


def cotisations_dettes_rows(cotisations: list[dict[str, dict[str, Any]]], debits: list[dict[str, dict[str, Any]]],
                            axis: np.ndarray, date_fin_month: int, wheres: list[str]) -> Columns:
    """:func:`cotisations_dettes` of many établissements: one row per entry of ``cotisations``
    (with ``debits[i]`` its debit records, possibly empty, and ``wheres[i]`` its name in errors).

    The caller decides who gets these variables (quirk Q3 in parity mode: établissements with
    debit records; fixed mode: every établissement with contribution records). The debit chain
    is the algorithm of docs/features.md §2.3: a record is current from ``m*(date_traitement)`` to the
    ``m*`` of the next record of its (period, ecart negatif, account) group, the last one until
    ``date_fin``; ``m*`` moves a record processed after the 20th to the next month. Raises
    :class:`FeatureInputError` on a record with a malformed period or date.
    """
    rows, n = len(cotisations), len(axis)
    m0 = int(axis[0])
    cols = Columns(n, rows=rows)
    # Contribution intervals (row, first, stop, monthly share) on the axis, in record order.
    shares: tuple[list[int], list[int], list[int], list[float]] = ([], [], [], [])
    # Difference arrays of the debts: +amount at the first month of a record's interval,
    # -amount after it (one extra column for the "after" of intervals ending at the axis end).
    diff = np.zeros((2, rows, n + 1))
    # (row, column, part ouvrière, part patronale) of every +/- step, in record order.
    steps: tuple[list[int], list[int], list[float], list[float]] = ([], [], [], [])
    for i, (cotisation, debit, where) in enumerate(zip(cotisations, debits, wheres, strict=True)):
        for h, r in cotisation.items():
            first, stop = period_months(r, f"{where} cotisation {h}")
            du = r.get("du")
            if du is None or stop <= first:
                continue
            lo, hi = max(first, m0) - m0, min(stop, m0 + n) - m0
            if lo < hi:
                shares[0].append(i)
                shares[1].append(lo)
                shares[2].append(hi)
                shares[3].append(float(du) / (stop - first))
        for lo, hi, po, pp in _debit_intervals(debit, m0, n, date_fin_month, where):
            steps[0].extend((i, i))
            steps[1].extend((lo, hi))
            steps[2].extend((po, -po))
            steps[3].extend((pp, -pp))
    cot_rows, cot_months, cot_values = _spread(*shares)
    cot = np.zeros((rows, n))
    np.add.at(cot, (cot_rows, cot_months), cot_values)  # in record order, as slice-by-slice adds
    cotisation = cols.num("cotisation")
    cotisation[cot_rows, cot_months] = cot[cot_rows, cot_months]
    # np.add.at adds in the order given (unbuffered): the same sums as a loop over the records.
    np.add.at(diff[0], (steps[0], steps[1]), steps[2])
    np.add.at(diff[1], (steps[0], steps[1]), steps[3])
    po_arr, pp_arr = np.cumsum(diff, axis=-1)[..., :n]
    # Rounding noise of the difference arrays must not create debts of 1e-13 €.
    po_arr = np.where(np.abs(po_arr) < 1e-9, 0.0, po_arr)
    pp_arr = np.where(np.abs(pp_arr) < 1e-9, 0.0, pp_arr)
    cols.values["montant_part_ouvriere"] = po_arr
    cols.values["montant_part_patronale"] = pp_arr
    for k in DEBT_LAGS:
        for name, arr in (("montant_part_ouvriere", po_arr), ("montant_part_patronale", pp_arr)):
            past = cols.num(f"{name}_past_{k}")
            if k < n:
                past[:, k:] = arr[:, :-k]
    in_debt = (po_arr + pp_arr) > 0
    # interessante_urssaf is false when a debt exists in [p-5, p] (within the axis).
    c = np.concatenate([np.zeros((rows, 1), dtype=np.int64), np.cumsum(in_debt, axis=-1)], axis=-1)
    idx = np.arange(n)
    recent = (c[:, idx + 1] - c[:, np.maximum(idx + 1 - INTERESSANTE_WINDOW, 0)]) > 0
    cols.values["interessante_urssaf"] = np.where(recent, 0.0, 1.0)
    return cols


def _spread(rows: list[int], lo: list[int], hi: list[int], values: list[float]) -> tuple[np.ndarray, ...]:
    """``(row, month, value)`` of every month of the intervals ``[lo[k], hi[k])`` (non-empty),
    interval by interval in the given order."""
    lengths = np.array(hi, dtype=np.int64) - np.array(lo, dtype=np.int64)
    first_of = np.cumsum(lengths) - lengths
    months = np.repeat(np.array(lo, dtype=np.int64), lengths) + np.arange(int(lengths.sum())) \
        - np.repeat(first_of, lengths)
    return (np.repeat(np.array(rows, dtype=np.int64), lengths), months,
            np.repeat(np.array(values, dtype=np.float64), lengths))


def _debit_intervals(debit: dict[str, dict[str, Any]], m0: int, n: int, date_fin_month: int,
                     where: str) -> list[tuple[int, int, float, float]]:
    """``(lo, hi, part_ouvriere, part_patronale)``: axis positions ``[lo, hi)`` where each debit
    record is the current one of its chain (empty intervals left out), in chain order."""
    groups: dict[tuple, list[tuple[Any, datetime_like, float, float]]] = defaultdict(list)
    for h, r in debit.items():
        w = f"{where} debit {h}"
        periode = r.get("periode") or {}
        key = (repr(periode.get("start")), repr(periode.get("end")), r.get("numero_ecart_negatif"),
               r.get("numero_compte"))
        hist = r.get("numero_historique")
        groups[key].append((hist if hist is not None else -1, record_date(r, "date_traitement", w),
                            float(r.get("part_ouvriere") or 0.0), float(r.get("part_patronale") or 0.0)))
    intervals = []
    for chain in groups.values():
        chain.sort(key=lambda e: (e[0], e[1]))
        for i, (_, treated, po, pp) in enumerate(chain):
            begin = day_20_month(treated)
            end = day_20_month(chain[i + 1][1]) if i + 1 < len(chain) else date_fin_month
            lo, hi = max(begin, m0) - m0, min(end, m0 + n) - m0
            if lo < hi:
                intervals.append((lo, hi, po, pp))
    return intervals


datetime_like = Any


def cotisation_ratios(cols: Columns) -> None:
    """Add ``cotisation_moy12m``, ``ratio_dette``, ``ratio_dette_moy12m``, ``tag_debit`` and
    ``tag_default`` to the columns of :func:`cotisations_dettes` (docs/features.md §2.4, quirks Q6, Q7).

    ``tag_default``: the 3rd consecutive month with ``ratio_dette > 1``; months where
    ``ratio_dette`` is 0 or absent neither count nor reset the counter (as the original).
    """
    cot = cols.num("cotisation")
    dette = np.nan_to_num(cols.num("montant_part_ouvriere")) + np.nan_to_num(cols.num("montant_part_patronale"))
    moy = _rolling_mean(cot, 12)
    cols.values["cotisation_moy12m"] = moy
    positive = moy > 0
    ratio = np.full(cot.shape, np.nan)
    ratio[positive] = dette[positive] / moy[positive]
    cols.values["ratio_dette"] = ratio
    with np.errstate(divide="ignore", invalid="ignore"):
        monthly = np.where(cot > 0, dette / np.where(cot > 0, cot, 1.0), np.nan)
    ratio_moy = _rolling_mean(monthly, 12)
    cols.values["ratio_dette_moy12m"] = np.where(positive, ratio_moy, np.nan)
    truthy = ~np.isnan(ratio) & (ratio != 0)
    cols.values["tag_debit"] = np.where(truthy & (ratio > 0.01), 1.0, np.nan)
    # Run length of ratio > 1 over the truthy months only (other months are skipped): the
    # number of "over" months since the last truthy month that is not over.
    over = truthy & (ratio > 1)
    overs = np.cumsum(over, axis=-1)
    month = np.broadcast_to(np.arange(cot.shape[-1]), cot.shape)
    last_reset = np.where(truthy & ~over, month, -1)
    np.maximum.accumulate(last_reset, axis=-1, out=last_reset)
    at_reset = np.where(last_reset >= 0, np.take_along_axis(overs, np.maximum(last_reset, 0), axis=-1), 0)
    tag = np.full(cot.shape, np.nan)
    tag[over & (overs - at_reset >= 3)] = 1.0
    cols.values["tag_default"] = tag


def compte_urssaf(compte: dict[str, dict[str, Any]], axis: np.ndarray, where: str) -> Columns:
    """``compte_urssaf`` = ``numero_compte`` on the months of ``compte`` records (no fill)."""
    return compte_urssaf_rows([compte], axis, [where]).row(0)


def compte_urssaf_rows(comptes: list[dict[str, dict[str, Any]]], axis: np.ndarray, wheres: list[str]) -> Columns:
    """:func:`compte_urssaf` of many établissements, one row each."""
    n = len(axis)
    cols = Columns(n, rows=len(comptes))
    m0 = int(axis[0])
    col = cols.obj("compte_urssaf")
    for i, (compte, where) in enumerate(zip(comptes, wheres, strict=True)):
        row = col[i]
        for h, r in compte.items():
            m = record_month(r, "periode", f"{where} compte {h}")
            if m0 <= m < m0 + n:
                row[m - m0] = r.get("numero_compte")
    return cols


def ccsf(records: dict[str, dict[str, Any]], axis: np.ndarray, where: str) -> Columns:
    """``date_ccsf(p)`` = latest ``date_traitement`` strictly before p (docs/features.md §2.6)."""
    n = len(axis)
    cols = Columns(n)
    dates = sorted(d for h, r in records.items()
                   if (d := optional_date(r, "date_traitement", f"{where} ccsf {h}")) is not None)
    if not dates:
        return cols
    stamps = np.array([d.timestamp() for d in dates])
    starts = np.array([month_start(int(m)).timestamp() for m in axis])
    idx = np.searchsorted(stamps, starts, side="left") - 1
    col = cols.obj("date_ccsf")
    for j in np.flatnonzero(idx >= 0):
        col[j] = dates[idx[j]]
    return cols
