"""Feature rows of one company: ``compute_company_features`` and ``to_feature_documents``.

For every établissement of the company and every month of ``periods`` this builds one row with
the catalogue's variables (:mod:`sf.features.catalogue`), computed per source group over the
month axis with numpy (no loop per month and variable). Company aggregates are exact because
the whole company is in one :class:`CompanyState`.

Modes (:class:`FeatureParams.mode`):

* ``parity`` reproduces the original's Features (quirks of spec Appendix A), including which
  établissements get rows (only those with headcount records: ``index.algo2``), which keys are
  absent and which are ``null`` (column ``_null_fields``), and the >1500-établissement drop.
* ``fixed`` (default) is point in time: a value for month p uses only records dated <= p.
  Differences, each tested in ``tests/features/test_point_in_time.py``:
  F1 headcount gaps are forward-filled from the past (the original copies the value at
  ``date_fin_effectif``, a future value); F2 lags and 12-month windows look at the
  ``history_months`` before ``date_debut`` (the original only sees the series, so its first
  months have no lag); F3 the target is the company's entry into proceedings (procol only);
  F4 entreprise variables are present on every month (the original drops them on months
  without a BdF/Diane sheet); F5 every établissement gets rows (no >1500 drop, no headcount
  needed); F6 ``apart_entreprise`` and ``ratio_apart`` on every month they can be computed,
  ``ratio_apart`` with 151.67 h/month; F7 headcounts of several URSSAF accounts are summed;
  F8 Corsica's 2A/2B map to "Corse"; F9 ``random_order`` always set (deterministic hash);
  F10 contributions and debts are computed for every établissement with contribution records
  (the original required debit records anywhere in the history, so their mere presence
  revealed a future debt — quirk Q3).

Dates in the output are aware UTC datetimes (``periode``) or pandas UTC timestamps.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from sf.compaction.reporder import reporder_value

from .apart import apart
from .catalogue import CATALOGUE, VARIABLES
from .columns import Columns
from .company import entreprise_features, merge_columns, siren_aggregates
from .delais import delais
from .effectif import headcount_features
from .errors import FeatureInputError
from .months import as_utc, month_index, month_start, serie_months
from .procol import defaillances, procol_events
from .sirene import sirene
from .state import MAX_ETABLISSEMENTS_PARITY, CompanyState, FeatureParams
from .target import fixed_target, months_to_next, parity_target
from .urssaf import ccsf, compte_urssaf, cotisation_ratios, cotisations_dettes

#: Hours of one full-time month: the original's constant (a typo) and the legal one.
APART_HOURS_PARITY = 157.67
APART_HOURS_FIXED = 151.67
#: Columns of the rows besides the catalogue's variables.
NULL_FIELDS = "_null_fields"


def _etablissement(siret: str, records: dict[str, dict[str, Any]], axis: np.ndarray, axis_years: np.ndarray,
                   serie_last: int, date_fin_month: int, offset: int, params: FeatureParams) -> Columns:
    """Columns of the original's "other" document of one établissement, over ``axis``."""
    where = f"etablissement {siret}"
    n = len(axis)
    cols = Columns(n)
    cols.num("interessante_urssaf")[:] = 1.0
    if records.get("compte"):
        merge_columns(cols, compte_urssaf(records["compte"], axis, where))
    if records.get("effectif"):
        merge_columns(cols, headcount_features(records["effectif"], axis, serie_last, offset, params.mode,
                                               "effectif", where))
    elif params.mode == "parity":
        cols.set_null("effectif", slice(None))  # base record: effectif null
    debts = None
    # Parity keeps the original's rule (quirk Q3): contributions and debts only for an
    # établissement that has debit records somewhere in its history. In fixed mode that rule
    # leaks the future — the variables would appear (as 0) from the first month for any
    # établissement that gets a debt years later, and stay absent for the others — so they
    # are computed for every établissement with contribution records, no debit meaning no debt.
    has_debts_input = records.get("debit") or (params.mode == "fixed" and records.get("cotisation"))
    if records.get("cotisation") and has_debts_input:
        debts = cotisations_dettes(records["cotisation"], records.get("debit") or {}, axis, date_fin_month, where)
        cotisation_ratios(debts)
        merge_columns(cols, debts)
    if records.get("delai"):
        merge_columns(cols, delais(records["delai"], axis, debts, where))
    merge_columns(cols, defaillances(procol_events(records.get("procol") or {}, where), axis))
    if records.get("ccsf"):
        merge_columns(cols, ccsf(records["ccsf"], axis, where))
    if records.get("sirene"):
        merge_columns(cols, sirene(records["sirene"], siret, axis_years, params.mode, params.naf, where))
    return cols


def _reporder(records: dict[str, dict[str, Any]], serie: np.ndarray) -> np.ndarray:
    """``random_order`` from the state's ``reporder`` records (parity), NaN where none."""
    out = np.full(len(serie), np.nan)
    m0 = int(serie[0])
    for record in (records.get("reporder") or {}).values():
        periode = record.get("periode") if isinstance(record, dict) else None
        if isinstance(periode, datetime):
            j = month_index(periode) - m0
            if 0 <= j < len(serie) and record.get("random_order") is not None:
                out[j] = float(record["random_order"])
    return out


def company_columns(state: CompanyState, periods: list[datetime], params: FeatureParams) -> list[Columns]:
    """One :class:`Columns` per établissement row block (months of ``periods``), in SIRET order.

    Raises :class:`FeatureInputError` on malformed records or periods.
    """
    serie = serie_months(periods)
    if len(serie) == 0:
        return []
    parity = params.mode == "parity"
    history = 0 if parity else params.history_months
    axis = np.arange(serie[0] - history, serie[-1] + 1)
    axis_years = axis // 12
    s0 = history
    date_fin_month = int(serie[-1]) + 1
    offset = params.date_fin_effectif_month - date_fin_month
    sirets = sorted(state.etablissements)
    if parity:
        # index.algo2: only établissements with headcount records are reduced.
        sirets = [s for s in sirets if state.etablissements[s].get("effectif")]
        if not sirets or len(sirets) > MAX_ETABLISSEMENTS_PARITY:
            return []
    n = len(serie)
    etabs = [_etablissement(s, state.etablissements[s], axis, axis_years, int(serie[-1]), date_fin_month,
                            offset, params).crop(s0) for s in sirets]
    aparts = []
    for s in sirets:
        records = state.etablissements[s]
        if records.get("apconso") and records.get("apdemande"):
            aparts.append(apart(records["apconso"], records["apdemande"], serie, f"etablissement {s}"))
        else:
            aparts.append((Columns(n), np.zeros(n, dtype=bool)))
    aggregates = siren_aggregates(etabs, n)
    entreprise, emitted = entreprise_features(state, axis, axis_years, int(serie[-1]), offset, params)
    entreprise, emitted = entreprise.crop(s0), emitted[s0:]
    if not parity:
        emitted = np.ones(n, dtype=bool)
    entreprise.values.setdefault("siren", np.full(n, state.siren, dtype=object))
    apart_conso = [a.values.get("apart_heures_consommees", np.full(n, np.nan)) for a, _ in aparts]
    apart_hours = APART_HOURS_PARITY if parity else APART_HOURS_FIXED
    if not parity:
        events = [procol_events(state.etablissements[s].get("procol") or {}, f"etablissement {s}")
                  for s in sorted(state.etablissements)]
        events.append(procol_events(state.entreprise.get("procol") or {}, f"entreprise {state.siren}"))
        company_target = fixed_target(events, serie)
    apart_ent_parity, apart_ent_fixed = _apart_entreprise(apart_conso, [m for _, m in aparts], n)
    periodes = np.array([month_start(int(m)) for m in serie], dtype=object)
    rows: list[Columns] = []
    for i, (siret, cols) in enumerate(zip(sirets, etabs)):
        apart_cols, apart_mask = aparts[i]
        for name, arr in aggregates.items():
            cols.values[name] = arr.copy()
        if parity:
            target = parity_target(cols.num("tag_failure"), cols.num("tag_default"))
        else:
            target = dict(company_target)
            target["time_til_default"] = months_to_next(cols.num("tag_default") == 1.0)
            target["time_til_failure"] = months_to_next(cols.num("tag_failure") == 1.0)
        for name, arr in target.items():
            cols.values[name] = arr.copy()
        # Entreprise fields overwrite établissement fields of the same name (finalize.ts).
        block = Columns(n, {k: _masked(v, emitted) for k, v in entreprise.values.items()},
                        {k: m & emitted for k, m in entreprise.nulls.items()})
        merge_columns(cols, block)
        # "apart" documents: apart fields, apart_entreprise over établissements with AP data.
        apart_ent = np.where(apart_mask, apart_ent_parity, np.nan) if parity else apart_ent_fixed
        merge_columns(cols, apart_cols)
        cols.values["apart_entreprise"] = apart_ent
        conso = apart_cols.values.get("apart_heures_consommees", np.full(n, np.nan))
        effectif = cols.num("effectif")
        ok = ~np.isnan(conso) & ~np.isnan(effectif) & (effectif != 0)
        ratio = np.full(n, np.nan)
        ratio[ok] = conso[ok] / (effectif[ok] * apart_hours)
        cols.values["ratio_apart"] = ratio
        if parity:
            cols.set_null("ratio_apart", apart_mask & ~ok)
            cols.values["random_order"] = _reporder(state.etablissements[siret], serie)
        else:
            cols.values["random_order"] = np.array([reporder_value(siret, p) for p in periodes])
        cols.values["siret"] = np.full(n, siret, dtype=object)
        cols.values["siren"] = np.full(n, state.siren, dtype=object)
        cols.values["periode"] = periodes
        if "siren" in cols.nulls:
            del cols.nulls["siren"]
        rows.append(cols)
    return rows


def _apart_entreprise(conso: list[np.ndarray], masks: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum of truthy consumed hours: over établissements with an "apart" document that month
    (parity, finalize of the "apart" keys) and over all établissements (fixed); NaN = none."""
    totals, has = np.zeros((2, n)), np.zeros((2, n), dtype=bool)
    for c, m in zip(conso, masks):
        truthy = ~np.isnan(c) & (c != 0)
        for k, keep in enumerate((truthy & m, truthy)):
            totals[k][keep] += c[keep]
            has[k] |= keep
    return np.where(has[0], totals[0], np.nan), np.where(has[1], totals[1], np.nan)


def _masked(arr: np.ndarray, keep: np.ndarray) -> np.ndarray:
    out = arr.copy()
    out[~keep] = None if arr.dtype == object else np.nan
    return out


def frame_from_columns(rows: list[Columns], mode: str) -> pd.DataFrame:
    """DataFrame with the catalogue's columns (in catalogue order) from row blocks.

    Raises :class:`FeatureInputError` if a block holds a variable the catalogue does not
    define (the catalogue is the single list of variables). In parity mode the column
    ``_null_fields`` holds, per row, the tuple of variables the original writes as null.
    """
    names = [v.name for v in CATALOGUE]
    for cols in rows:
        unknown = set(cols.values) - VARIABLES.keys()
        if unknown:
            raise FeatureInputError("catalogue", f"variables computed but not catalogued: {sorted(unknown)}")
    total = sum(c.n for c in rows)
    lengths = sorted({c.n for c in rows})
    absent_num = {n: np.full(n, np.nan) for n in lengths}
    absent_obj = {n: np.full(n, None, dtype=object) for n in lengths}
    data: dict[str, Any] = {}
    for name in names:
        var = VARIABLES[name]
        numeric = var.dtype in ("float", "bool")
        # One concatenation per column (the blocks are short: one per établissement).
        parts = [c.values.get(name) for c in rows]
        if all(p is None for p in parts):
            arr = np.full(total, np.nan) if numeric else np.full(total, None, dtype=object)
        elif numeric:
            pieces = [absent_num[c.n] if p is None else
                      (np.array([np.nan if v is None else float(v) for v in p]) if p.dtype == object else p)
                      for c, p in zip(rows, parts)]
            arr = np.concatenate(pieces).astype(np.float64, copy=False)
        else:
            pieces = [absent_obj[c.n] if p is None else p.astype(object, copy=False) for c, p in zip(rows, parts)]
            arr = np.concatenate(pieces)
        if var.dtype == "bool":
            values = np.zeros(total, dtype=bool)
            values[arr == 1.0] = True
            data[name] = pd.arrays.BooleanArray(values, np.isnan(arr))
        elif var.dtype == "datetime":
            data[name] = pd.to_datetime(pd.Series(arr, dtype=object), utc=True) if total \
                else pd.Series([], dtype="datetime64[ns, UTC]")
        else:
            data[name] = arr
    frame = pd.DataFrame(data, index=pd.RangeIndex(total))
    if mode == "parity":
        nulls: list[tuple[str, ...]] = []
        for c in rows:
            masks = [(k, m) for k, m in c.nulls.items() if m.any()]
            for j in range(c.n):
                nulls.append(tuple(k for k, m in masks if m[j]))
        frame[NULL_FIELDS] = pd.Series(nulls, dtype=object, index=frame.index) if total else \
            pd.Series([], dtype=object)
    return frame


def compute_company_features(state: CompanyState, periods: list[datetime], params: FeatureParams) -> pd.DataFrame:
    """One row per (siret, periode) of the company; columns = the catalogue's variables.

    ``periods``: consecutive month starts (aware UTC), ``date_debut`` to ``date_fin``
    excluded. Returns an empty frame (with the columns) when the company has no row (parity:
    no établissement with headcount, or more than 1500). Raises :class:`FeatureInputError` on
    a malformed record, naming the entity, type and hash.
    """
    return frame_from_columns(company_columns(state, periods, params), params.mode)


def compute_companies_features(states: Iterable[CompanyState], periods: list[datetime],
                               params: FeatureParams) -> pd.DataFrame:
    """:func:`compute_company_features` of many companies as one frame (faster than concat)."""
    rows: list[Columns] = []
    for state in states:
        rows.extend(company_columns(state, periods, params))
    return frame_from_columns(rows, params.mode)


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _column_values(series: pd.Series) -> tuple[list[Any], np.ndarray]:
    """``(python values, present mask)`` of one column, converted column-wise (fast path of
    :func:`to_feature_documents`): floats, bools, UTC datetimes and strings as plain Python."""
    dtype = series.dtype
    if dtype == np.float64:
        arr = series.to_numpy()
        return arr.tolist(), ~np.isnan(arr)
    if isinstance(dtype, pd.BooleanDtype):
        mask = series.isna().to_numpy()
        return series.to_numpy(dtype=bool, na_value=False).tolist(), ~mask
    if isinstance(dtype, pd.DatetimeTZDtype):
        present = series.notna().to_numpy()
        values = [None] * len(series)
        if present.any():
            py = series.dt.tz_convert("UTC").dt.to_pydatetime()
            for i in np.flatnonzero(present):
                values[i] = py[i]
        return values, present
    values = [_plain(v) for v in series.tolist()]
    present = np.array([not (v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v))
                        for v in values], dtype=bool)
    return values, present


def to_feature_documents(df: pd.DataFrame, batch: str) -> list[dict[str, Any]]:
    """Features documents ``{"_id": {batch, siret, periode}, "value": {...}}``.

    Absent values (NaN/None/NaT) are omitted; the variables listed in ``_null_fields`` (parity
    frames) are written as ``None`` (BSON null), as the original writes ``null`` for
    ``effectif`` (no headcount to carry), ``latitude``/``longitude``/``code_commune``/
    ``departement`` (empty in sirene), ``statut_juridique``, ``paydex_*`` (months without
    paydex), ``ratio_apart`` (merged documents lacking an operand), ``date_creation_*``
    and ``age``, and BdF/Diane values delivered empty. Whole-number floats stay floats.
    Values are converted column by column (no per-cell pandas access), keys in column order.
    """
    n = len(df)
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for name in df.columns:
        if name == NULL_FIELDS:
            continue
        values, present = _column_values(df[name])
        if present.all():
            for row, v in zip(rows, values):
                row[name] = v
        else:
            for i in np.flatnonzero(present).tolist():
                rows[i][name] = values[i]
    if NULL_FIELDS in df.columns:
        for row, names in zip(rows, df[NULL_FIELDS].tolist()):
            for name in names:
                row.setdefault(name, None)
    return [{"_id": {"batch": batch, "siret": value["siret"], "periode": as_utc(value["periode"])}, "value": value}
            for value in rows]
