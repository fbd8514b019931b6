"""Feature rows of companies: ``compute_companies_features`` and ``to_feature_documents``.

For every établissement of the given companies and every month of ``periods`` this builds one
row with the catalogue's variables (:mod:`sf.features.catalogue`). The computation is
chunk-wide (:func:`chunk_columns`): one ``(établissements, months)`` array per variable for the
whole chunk, each source group computed with numpy for all the établissements that have that
source, so the Python work per établissement is little more than reading its records (this is
what the throughput recorded in BENCHMARKS.md needs). Company aggregates are exact because every
company is complete in its :class:`CompanyState`; a chunk gives exactly the rows of its
companies computed one by one (``tests/features/test_chunk.py``).

Modes (:class:`FeatureParams.mode`):

* ``parity`` reproduces the original's Features (quirks of docs/features.md Appendix A), including which
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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from sf.compaction.reporder import reporder_grid

from .apart import apart
from .catalogue import CATALOGUE, VARIABLES
from .columns import Columns, as_object, merge_columns
from .company import company_totals, entreprise_rows, siren_aggregates
from .delais import delais
from .effectif import headcount_rows
from .errors import FeatureInputError
from .months import as_utc, month_index, month_start, serie_months
from .procol import defaillances, procol_events
from .sirene import sirene_rows
from .state import MAX_ETABLISSEMENTS_PARITY, CompanyState, FeatureParams
from .target import fixed_target, months_to_next, parity_target
from .urssaf import ccsf, compte_urssaf_rows, cotisation_ratios, cotisations_dettes_rows

#: Hours of one full-time month: the original's constant (a typo) and the legal one.
APART_HOURS_PARITY = 157.67
APART_HOURS_FIXED = 151.67
#: Columns of the rows besides the catalogue's variables.
NULL_FIELDS = "_null_fields"


@dataclass(frozen=True, slots=True)
class _Axis:
    """The month axes of one computation: ``serie`` (the periods), ``axis`` (the periods plus
    the history months before them, fixed mode), ``s0`` (first period's position on ``axis``)."""

    serie: np.ndarray
    axis: np.ndarray
    axis_years: np.ndarray
    s0: int
    date_fin_month: int
    offset: int

    @classmethod
    def of(cls, periods: list[datetime], params: FeatureParams) -> _Axis:
        serie = serie_months(periods)
        history = 0 if params.mode == "parity" else params.history_months
        axis = np.arange(serie[0] - history, serie[-1] + 1) if len(serie) else np.zeros(0, dtype=np.int64)
        date_fin_month = int(serie[-1]) + 1 if len(serie) else 0
        return cls(serie, axis, axis // 12, history, date_fin_month, params.date_fin_effectif_month - date_fin_month)


@dataclass(slots=True)
class _Rows:
    """The établissements that get rows, in output order: company by company (in the given
    order), SIRET order inside a company. ``companies`` lists the indices in ``states`` of the
    companies that have rows, ``starts`` the first row of each of them."""

    states: list[CompanyState]
    sirets: list[str]
    records: list[dict[str, dict[str, Any]]]
    companies: list[int]
    starts: np.ndarray

    @classmethod
    def of(cls, states: list[CompanyState], parity: bool) -> _Rows:
        sirets, records, companies, starts = [], [], [], []
        for c, state in enumerate(states):
            chosen = sorted(state.etablissements)
            if parity:
                # index.algo2: only établissements with headcount records are reduced.
                chosen = [s for s in chosen if state.etablissements[s].get("effectif")]
                if len(chosen) > MAX_ETABLISSEMENTS_PARITY:
                    chosen = []
            if chosen:
                companies.append(c)
                starts.append(len(sirets))
            sirets.extend(chosen)
            records.extend(state.etablissements[s] for s in chosen)
        return cls(states, sirets, records, companies, np.array(starts, dtype=np.int64))

    @property
    def counts(self) -> np.ndarray:
        """Number of rows of each company of ``companies``."""
        return np.diff(np.append(self.starts, len(self.sirets)))

    def where(self, r: int) -> str:
        return f"etablissement {self.sirets[r]}"

    def having(self, *types: str) -> list[int]:
        """Rows whose établissement has records of every one of ``types``."""
        return [r for r, records in enumerate(self.records) if all(records.get(t) for t in types)]


def _etablissements(rows: _Rows, ax: _Axis, params: FeatureParams) -> Columns:
    """The établissement variables of every row over the whole axis (the original's "other"
    documents), computed source by source for all the rows that have that source."""
    n, axis = len(ax.axis), ax.axis
    cols = Columns(n, rows=len(rows.sirets))
    cols.num("interessante_urssaf")[:] = 1.0
    subset = rows.having("compte")
    if subset:
        merge_columns(cols, compte_urssaf_rows([rows.records[r]["compte"] for r in subset], axis,
                                               [rows.where(r) for r in subset]), np.array(subset))
    subset = rows.having("effectif")
    if subset:
        merge_columns(cols, headcount_rows([rows.records[r]["effectif"] for r in subset], axis, int(ax.serie[-1]),
                                           ax.offset, params.mode, "effectif", [rows.where(r) for r in subset]),
                      np.array(subset))
    # Parity keeps the original's rule (quirk Q3): contributions and debts only for an
    # établissement that has debit records somewhere in its history. In fixed mode that rule
    # leaks the future — the variables would appear (as 0) from the first month for any
    # établissement that gets a debt years later, and stay absent for the others — so they
    # are computed for every établissement with contribution records, no debit meaning no debt.
    subset = rows.having("cotisation", "debit") if params.mode == "parity" else rows.having("cotisation")
    with_debts = np.zeros(len(rows.sirets), dtype=bool)
    if subset:
        debts = cotisations_dettes_rows([rows.records[r]["cotisation"] for r in subset],
                                        [rows.records[r].get("debit") or {} for r in subset], axis,
                                        ax.date_fin_month, [rows.where(r) for r in subset])
        cotisation_ratios(debts)
        merge_columns(cols, debts, np.array(subset))
        with_debts[subset] = True
    subset = rows.having("sirene")
    if subset:
        merge_columns(cols, sirene_rows([rows.records[r]["sirene"] for r in subset], [rows.sirets[r] for r in subset],
                                        ax.axis_years, params.mode, params.naf, [rows.where(r) for r in subset]),
                      np.array(subset))
    defaults = defaillances([], axis)
    for name, arr in defaults.values.items():
        cols.values[name] = np.repeat(arr[None, :], len(rows.sirets), axis=0)
    for r, records in enumerate(rows.records):
        # Rare sources: one établissement at a time.
        where = rows.where(r)
        if records.get("delai"):
            debts_row = cols.row(r) if with_debts[r] else None
            merge_columns(cols, delais(records["delai"], axis, debts_row, where), r)
        if records.get("procol"):
            merge_columns(cols, defaillances(procol_events(records["procol"], where), axis), r)
        if records.get("ccsf"):
            merge_columns(cols, ccsf(records["ccsf"], axis, where), r)
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


def chunk_columns(states: list[CompanyState], periods: list[datetime], params: FeatureParams) -> Columns:
    """The variables over ``periods`` of the établissements of ``states`` that get rows, as a
    multi-row :class:`Columns`: one row per établissement, company by company (in the given
    order), SIRET order inside a company.

    Raises :class:`FeatureInputError` on malformed records or periods.
    """
    ax = _Axis.of(periods, params)
    n = len(ax.serie)
    parity = params.mode == "parity"
    if n == 0:
        return Columns(0, rows=0)
    rows = _Rows.of(states, parity)
    if not rows.sirets:
        return Columns(n, rows=0)
    cols = _etablissements(rows, ax, params).crop(ax.s0)
    company = np.repeat(np.arange(len(rows.companies)), rows.counts)  # row → its company in rows.companies
    for name, arr in siren_aggregates(cols, rows.starts).items():
        cols.values[name] = arr[company]
    _add_target(cols, rows, company, ax, parity)
    _add_entreprise(cols, rows, company, ax, params)
    _add_apart(cols, rows, company, ax, parity)
    if parity:
        cols.values["random_order"] = np.stack([_reporder(records, ax.serie) for records in rows.records])
    else:
        cols.values["random_order"] = reporder_grid(rows.sirets, [month_start(int(m)) for m in ax.serie])
    cols.values["siret"] = np.repeat(np.array(rows.sirets, dtype=object)[:, None], n, axis=1)
    cols.values["siren"] = np.repeat(np.array([s[:9] for s in rows.sirets], dtype=object)[:, None], n, axis=1)
    cols.values["periode"] = np.repeat(np.array([month_start(int(m)) for m in ax.serie], dtype=object)[None, :],
                                       len(rows.sirets), axis=0)
    cols.nulls.pop("siren", None)
    return cols


def _add_target(cols: Columns, rows: _Rows, company: np.ndarray, ax: _Axis, parity: bool) -> None:
    """``outcome``, ``time_til_outcome``, ``time_til_default`` and ``time_til_failure``."""
    if parity:
        target = parity_target(cols.num("tag_failure"), cols.num("tag_default"))
    else:
        target = {"time_til_default": months_to_next(cols.num("tag_default") == 1.0),
                  "time_til_failure": months_to_next(cols.num("tag_failure") == 1.0)}
        by_company = []
        for c in rows.companies:
            state = rows.states[c]
            events = [procol_events(state.etablissements[s].get("procol") or {}, f"etablissement {s}")
                      for s in sorted(state.etablissements)]
            events.append(procol_events(state.entreprise.get("procol") or {}, f"entreprise {state.siren}"))
            by_company.append(fixed_target(events, ax.serie))
        for name in ("outcome", "time_til_outcome"):
            target[name] = np.stack([t[name] for t in by_company])[company]
    cols.values.update(target)


def _add_entreprise(cols: Columns, rows: _Rows, company: np.ndarray, ax: _Axis, params: FeatureParams) -> None:
    """Merge the entreprise variables into the rows of its établissements; entreprise fields
    overwrite établissement fields of the same name (finalize.ts). Parity: only on the months
    where the original emits the entreprise block (quirk Q12)."""
    states = [rows.states[c] for c in rows.companies]
    entreprise, emitted = entreprise_rows(states, ax.axis, ax.axis_years, int(ax.serie[-1]), ax.offset, params)
    entreprise = entreprise.crop(ax.s0)
    # Only the columns with a value or a null somewhere: an all-absent column changes nothing
    # (many Diane columns are, on the periods of a batch).
    shown_names = [name for name in entreprise.values if entreprise.present(name).any()]
    per_row = Columns(cols.n, {name: entreprise.values[name][company] for name in shown_names},
                      {name: mask[company] for name, mask in entreprise.nulls.items()}, cols.rows)
    if params.mode == "parity":
        shown = emitted[:, ax.s0:][company]
        for name, arr in per_row.values.items():
            arr[~shown] = None if arr.dtype == object else np.nan
        for mask in per_row.nulls.values():
            mask &= shown
    # Columns the établissement rows do not have are taken as they are (per_row's arrays are
    # fresh copies); merge_columns would copy them once more.
    for name in list(per_row.values):
        if name not in cols.values and name not in cols.nulls:
            cols.values[name] = per_row.values.pop(name)
            if name in per_row.nulls:
                cols.nulls[name] = per_row.nulls.pop(name)
    merge_columns(cols, per_row)


def _add_apart(cols: Columns, rows: _Rows, company: np.ndarray, ax: _Axis, parity: bool) -> None:
    """Short-time work variables, ``apart_entreprise`` and ``ratio_apart`` (the "apart" documents)."""
    mask = np.zeros(cols.shape, dtype=bool)
    for r in rows.having("apconso", "apdemande"):
        records = rows.records[r]
        apart_cols, mask[r] = apart(records["apconso"], records["apdemande"], ax.serie, rows.where(r))
        merge_columns(cols, apart_cols, r)
    conso = cols.values.get("apart_heures_consommees")
    conso = np.full(cols.shape, np.nan) if conso is None else conso
    # Sum of truthy consumed hours over établissements with an "apart" document that month
    # (parity, finalize of the "apart" keys) or over all établissements (fixed); NaN = none.
    truthy = ~np.isnan(conso) & (conso != 0)
    counted = truthy & mask if parity else truthy
    apart_entreprise = company_totals(conso, counted, rows.starts)[company]
    cols.values["apart_entreprise"] = np.where(mask, apart_entreprise, np.nan) if parity else apart_entreprise
    effectif = cols.num("effectif")
    ok = ~np.isnan(conso) & ~np.isnan(effectif) & (effectif != 0)
    ratio = np.full(cols.shape, np.nan)
    ratio[ok] = conso[ok] / (effectif[ok] * (APART_HOURS_PARITY if parity else APART_HOURS_FIXED))
    cols.values["ratio_apart"] = ratio
    if parity:
        cols.set_null("ratio_apart", mask & ~ok)


def frame_from_columns(cols: Columns, mode: str) -> pd.DataFrame:
    """DataFrame with the catalogue's columns (in catalogue order) from the multi-row columns of
    :func:`chunk_columns` (row-major: établissement by établissement, month by month).

    Raises :class:`FeatureInputError` if a variable was computed that the catalogue does not
    define (the catalogue is the single list of variables). Text and date variables are object
    columns whatever the chunk holds (a column of only absent values included). In parity mode the column
    ``_null_fields`` holds, per row, the tuple (in catalogue order) of variables the original
    writes as null.
    """
    unknown = set(cols.values) - VARIABLES.keys()
    if unknown:
        raise FeatureInputError("catalogue", f"variables computed but not catalogued: {sorted(unknown)}")
    total = (cols.rows or 0) * cols.n
    data: dict[str, Any] = {}
    for var in CATALOGUE:
        numeric = var.dtype in ("float", "bool")
        arr = cols.values.get(var.name)
        if arr is None:
            arr = np.full(total, np.nan) if numeric else np.full(total, None, dtype=object)
        elif numeric and arr.dtype == object:
            arr = np.array([np.nan if v is None else float(v) for v in arr.reshape(-1)], dtype=np.float64)
        elif not numeric and arr.dtype != object:
            arr = as_object(arr.reshape(-1))
        else:
            arr = arr.reshape(-1)
        if var.dtype == "bool":
            values = np.zeros(total, dtype=bool)
            values[arr == 1.0] = True
            data[var.name] = pd.arrays.BooleanArray(values, np.isnan(arr))
        elif var.dtype == "datetime":
            data[var.name] = pd.to_datetime(pd.Series(arr, dtype=object), utc=True) if total \
                else pd.Series([], dtype="datetime64[ns, UTC]")
        else:
            data[var.name] = arr
    if mode == "parity":
        nulls: list[list[str]] = [[] for _ in range(total)]
        for var in CATALOGUE:  # catalogue order, whatever order the masks were made in
            mask = cols.nulls.get(var.name)
            for i in np.flatnonzero(mask.reshape(-1)).tolist() if mask is not None else ():
                nulls[i].append(var.name)
        data[NULL_FIELDS] = pd.Series([tuple(n) for n in nulls], dtype=object) if total else \
            pd.Series([], dtype=object)
    return pd.DataFrame(data, index=pd.RangeIndex(total))


def compute_company_features(state: CompanyState, periods: list[datetime], params: FeatureParams) -> pd.DataFrame:
    """One row per (siret, periode) of the company; columns = the catalogue's variables.

    ``periods``: consecutive month starts (aware UTC), ``date_debut`` to ``date_fin``
    excluded. Returns an empty frame (with the columns) when the company has no row (parity:
    no établissement with headcount, or more than 1500). Raises :class:`FeatureInputError` on
    a malformed record, naming the entity, type and hash.
    """
    return compute_companies_features([state], periods, params)


def compute_companies_features(states: Iterable[CompanyState], periods: list[datetime],
                               params: FeatureParams) -> pd.DataFrame:
    """:func:`compute_company_features` of many companies as one frame, computed chunk-wide
    (one array per variable for all their établissements: this is what makes it fast)."""
    return frame_from_columns(chunk_columns(list(states), periods, params), params.mode)


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
        if not present.any():
            return [None] * len(series), present
        py = np.asarray(series.dt.tz_convert("UTC").dt.to_pydatetime(), dtype=object).tolist()
        return [v if ok else None for v, ok in zip(py, present.tolist())], present
    if isinstance(dtype, pd.StringDtype):
        return series.tolist(), series.notna().to_numpy()  # already Python str where present
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
