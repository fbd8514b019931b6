"""URSSAF variables of an établissement: contributions, debts and their lags (§2.3), ratios on
contributions (§2.4), account number (§2.9) and CCSF (§2.6).

All functions take the records ``{hash: record}`` of one type and the month axis (contiguous
month indices). Windows and lags are calendar shifts on the axis: in parity mode the axis is
the period series (quirk Q5: nothing before ``date_debut``), in fixed mode it also covers
``history_months`` before it, so lags and 12-month means exist from the first period on.
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
    """True at i when ``mask[i-window+1 .. i]`` are all True (False for the first window-1)."""
    n = len(mask)
    out = np.zeros(n, dtype=bool)
    if n < window:
        return out
    c = np.concatenate([[0], np.cumsum(~mask)])
    out[window - 1:] = (c[window:] - c[:-window]) == 0
    return out


def _rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of ``values[i-window+1 .. i]`` (NaN for the first window-1 and if any is NaN)."""
    n = len(values)
    out = np.full(n, np.nan)
    if n < window:
        return out
    c = np.concatenate([[0.0], np.cumsum(np.nan_to_num(values))])
    ok = _rolling_all(~np.isnan(values), window)
    sums = np.full(n, np.nan)
    sums[window - 1:] = c[window:] - c[:-window]
    out[ok] = sums[ok] / window
    return out


def cotisations_dettes(cotisation: dict[str, dict[str, Any]], debit: dict[str, dict[str, Any]],
                       axis: np.ndarray, date_fin_month: int, where: str) -> Columns:
    """``cotisation``, ``montant_part_{ouvriere,patronale}`` and their ``_past_k``, and
    ``interessante_urssaf`` over ``axis``.

    Only called when the établissement has both cotisation and debit records (quirk Q3, kept
    in both modes: a missing debit file cannot be told from "no debt"). The debit chain is the
    spec's §2.3 algorithm: a record is current from ``m*(date_traitement)`` to the ``m*`` of
    the next record of its (period, ecart negatif, account) group, the last one until
    ``date_fin``; ``m*`` moves a record processed after the 20th to the next month.
    """
    n = len(axis)
    m0 = int(axis[0])
    cols = Columns(n)
    cot = np.zeros(n)
    has_cot = np.zeros(n, dtype=bool)
    for h, r in cotisation.items():
        first, stop = period_months(r, f"{where} cotisation {h}")
        du = r.get("du")
        if du is None or stop <= first:
            continue
        share = float(du) / (stop - first)
        lo, hi = max(first, m0) - m0, min(stop, m0 + n) - m0
        if lo < hi:
            cot[lo:hi] += share
            has_cot[lo:hi] = True
    cols.num("cotisation")[has_cot] = cot[has_cot]

    groups: dict[tuple, list[tuple[Any, datetime_like, float, float]]] = defaultdict(list)
    for h, r in debit.items():
        w = f"{where} debit {h}"
        periode = r.get("periode") or {}
        key = (repr(periode.get("start")), repr(periode.get("end")), r.get("numero_ecart_negatif"),
               r.get("numero_compte"))
        hist = r.get("numero_historique")
        groups[key].append((hist if hist is not None else -1, record_date(r, "date_traitement", w),
                            float(r.get("part_ouvriere") or 0.0), float(r.get("part_patronale") or 0.0)))
    # Difference arrays: +amount at the first month of a record's interval, -amount after it.
    diff_po = np.zeros(n + 1)
    diff_pp = np.zeros(n + 1)
    for chain in groups.values():
        chain.sort(key=lambda e: (e[0], e[1]))
        for i, (_, treated, po, pp) in enumerate(chain):
            begin = day_20_month(treated)
            end = day_20_month(chain[i + 1][1]) if i + 1 < len(chain) else date_fin_month
            lo, hi = max(begin, m0) - m0, min(end, m0 + n) - m0
            if lo < hi:
                diff_po[lo] += po
                diff_po[hi] -= po
                diff_pp[lo] += pp
                diff_pp[hi] -= pp
    po_arr = np.cumsum(diff_po)[:n]
    pp_arr = np.cumsum(diff_pp)[:n]
    # Rounding noise of the difference arrays must not create debts of 1e-13 €.
    po_arr = np.where(np.abs(po_arr) < 1e-9, 0.0, po_arr)
    pp_arr = np.where(np.abs(pp_arr) < 1e-9, 0.0, pp_arr)
    cols.values["montant_part_ouvriere"] = po_arr
    cols.values["montant_part_patronale"] = pp_arr
    for k in DEBT_LAGS:
        for name, arr in (("montant_part_ouvriere", po_arr), ("montant_part_patronale", pp_arr)):
            past = cols.num(f"{name}_past_{k}")
            if k < n:
                past[k:] = arr[:-k]
    in_debt = (po_arr + pp_arr) > 0
    # interessante_urssaf is false when a debt exists in [p-5, p] (within the axis).
    c = np.concatenate([[0], np.cumsum(in_debt)])
    idx = np.arange(n)
    recent = (c[idx + 1] - c[np.maximum(idx + 1 - INTERESSANTE_WINDOW, 0)]) > 0
    cols.values["interessante_urssaf"] = np.where(recent, 0.0, 1.0)
    return cols


datetime_like = Any


def cotisation_ratios(cols: Columns) -> None:
    """Add ``cotisation_moy12m``, ``ratio_dette``, ``ratio_dette_moy12m``, ``tag_debit`` and
    ``tag_default`` to the columns of :func:`cotisations_dettes` (spec §2.4, quirks Q6, Q7).

    ``tag_default``: the 3rd consecutive month with ``ratio_dette > 1``; months where
    ``ratio_dette`` is 0 or absent neither count nor reset the counter (as the original).
    """
    n = cols.n
    cot = cols.num("cotisation")
    dette = np.nan_to_num(cols.num("montant_part_ouvriere")) + np.nan_to_num(cols.num("montant_part_patronale"))
    moy = _rolling_mean(cot, 12)
    cols.values["cotisation_moy12m"] = moy
    positive = moy > 0
    ratio = np.full(n, np.nan)
    ratio[positive] = dette[positive] / moy[positive]
    cols.values["ratio_dette"] = ratio
    with np.errstate(divide="ignore", invalid="ignore"):
        monthly = np.where(cot > 0, dette / np.where(cot > 0, cot, 1.0), np.nan)
    ratio_moy = _rolling_mean(monthly, 12)
    cols.values["ratio_dette_moy12m"] = np.where(positive, ratio_moy, np.nan)
    truthy = ~np.isnan(ratio) & (ratio != 0)
    cols.values["tag_debit"] = np.where(truthy & (ratio > 0.01), 1.0, np.nan)
    # Run length of ratio > 1 over the truthy months only (other months are skipped).
    pos = np.flatnonzero(truthy)
    over = ratio[pos] > 1
    run_start = np.where(~over, np.arange(len(pos)), -1)
    np.maximum.accumulate(run_start, out=run_start)
    run_length = np.arange(len(pos)) - run_start
    tag = np.full(n, np.nan)
    tag[pos[over & (run_length >= 3)]] = 1.0
    cols.values["tag_default"] = tag


def compte_urssaf(compte: dict[str, dict[str, Any]], axis: np.ndarray, where: str) -> Columns:
    """``compte_urssaf`` = ``numero_compte`` on the months of ``compte`` records (no fill)."""
    n = len(axis)
    cols = Columns(n)
    m0 = int(axis[0])
    col = cols.obj("compte_urssaf")
    for h, r in compte.items():
        m = record_month(r, "periode", f"{where} compte {h}")
        if m0 <= m < m0 + n:
            col[m - m0] = r.get("numero_compte")
    return cols


def ccsf(records: dict[str, dict[str, Any]], axis: np.ndarray, where: str) -> Columns:
    """``date_ccsf(p)`` = latest ``date_traitement`` strictly before p (spec §2.6)."""
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
