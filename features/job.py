"""The features job: RawData → Features, one Dask task per SIREN-aligned key range.

``plan_features`` fixes what a run computes: the batch (``--until-batch``), its monthly periods
(``param.date_debut`` included to ``param.date_fin`` excluded; in fixed mode, none before the
first month the batch's deliveries describe, :func:`first_data_month`) and the
:class:`~sf.features.state.FeatureParams`; an unknown batch or an empty period series is
refused before anything is written.

``features_range`` is the task. It streams the RawData documents of one key range in ``_id``
order (a company's SIREN document and its SIRET documents are adjacent and in the same range,
:mod:`sf.engine.partitions`), groups them by SIREN, rebuilds each company's state as of the
batch (:func:`~sf.features.state.company_state_from_rawdata`), computes the rows of many
companies per call (:func:`~sf.features.compute.compute_companies_features`), converts them
to Features documents and writes them with unordered bulk inserts. Memory is bounded by
``chunk_companies`` companies, whatever the size of the range.

Re-running replaces, never duplicates: before inserting, the task deletes the range's
Features of the batch (dotted filters ``{"_id.batch": B, "_id.siret": {range}}``: the
embedded server cannot match a whole sub-document ``_id``). A killed run leaves some ranges
written and others not; running it again gives the uninterrupted result.

A company whose records cannot be used (:class:`~sf.features.errors.FeatureInputError`) is
skipped and reported with its SIREN and the reason (stats ``failed``); the others are
written. :func:`compute_company_debug` recomputes one company in-process into
``Features_debug`` (``sf features --key``).

Timings returned per range: ``read_s`` (fetching and BSON-decoding RawData), ``state_s``
(rebuilding the states), ``compute_s`` (the feature computation itself), ``convert_s``
(rows → documents), ``write_s`` (delete + inserts).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from pymongo.database import Database
from sf.engine.batches import Batch, get_batch, list_batches
from sf.engine.bulk import paused_gc
from sf.engine.cluster import run_job, worker_database
from sf.engine.collections import FEATURES, RAW_DATA
from sf.engine.documents import insert_documents
from sf.engine.errors import SfError, UsageError
from sf.engine.partitions import KeyRange

from .compute import compute_companies_features, to_feature_documents
from .errors import FeatureInputError
from .months import as_utc, month_index, month_start
from .state import (
    CompanyState,
    FeatureParams,
    Mode,
    NafTable,
    company_state_from_rawdata,
)

#: Companies computed per call of the pure function (bounds a task's memory).
DEFAULT_CHUNK_COMPANIES = 250
#: Failed companies kept with their reason per range (the count is always exact).
MAX_FAILURES_LISTED = 50


@dataclass(frozen=True)
class FeaturesPlan:
    """What one run computes: batch, periods, parameters, target collection."""

    batch: str
    periods: tuple[datetime, ...]
    params: FeatureParams
    collection: str = FEATURES
    chunk_companies: int = DEFAULT_CHUNK_COMPANIES
    dry_run: bool = False
    #: Why the periods start after the batch's date_debut (None: they start at date_debut).
    clipped: str | None = None


def batch_periods(batch: Batch) -> tuple[datetime, ...]:
    """Month starts from ``param.date_debut`` (included; its month if it is a month start,
    else the next one) to ``param.date_fin`` (excluded), as the original's GenereSeriePeriode."""
    debut, fin = as_utc(batch.param.date_debut), as_utc(batch.param.date_fin)
    first = month_index(debut) + (0 if (debut.day, debut.hour, debut.minute, debut.second, debut.microsecond)
                                  == (1, 0, 0, 0, 0) else 1)
    months = []
    m = first
    while month_start(m) < fin:
        months.append(month_start(m))
        m += 1
    return tuple(months)


def first_data_month(db: Database, until_batch: str) -> tuple[datetime, str] | None:
    """The earliest month named by the header of a headcount file (``effectif``, else
    ``effectif_ent``) of a batch up to ``until_batch``, and ``"batch K: <file>, column <eff…>"``.

    RawData of ``until_batch`` holds what those batches delivered, and the headcount file of a
    delivery covers its whole history (the first eff… column is the first month the sources
    describe), so no month before this one has data to compute Features from. Only header
    lines are read. Files no longer on disk or unreadable are passed over; None when no
    header could be read (then nothing is clipped).
    """
    from sf.importers.delivery_dates import HEADCOUNT_TYPES, header_first_month
    from sf.importers.reading import FatalFileError

    found: list[tuple[datetime, str]] = []
    for batch in list_batches(db):
        if batch.key > until_batch:
            break
        for file_type in HEADCOUNT_TYPES:
            for path in batch.files.get(file_type, []):
                try:
                    first = header_first_month(path)
                except FatalFileError:
                    continue  # moved or damaged since the import: says nothing about the data
                if first is not None:
                    found.append((first[0], f"batch {batch.key}: {first[1]}"))
    return min(found, key=lambda item: item[0]) if found else None


def plan_features(db: Database, until_batch: str, *, mode: Mode = "fixed", history_months: int = 24,
                  naf: NafTable | None = None, collection: str = FEATURES,
                  chunk_companies: int = DEFAULT_CHUNK_COMPANIES, dry_run: bool = False) -> FeaturesPlan:
    """Plan a run over batch ``until_batch`` (see module docstring).

    ``date_fin_effectif`` defaults to ``date_fin`` when the batch does not define it. In fixed
    mode the periods start no earlier than :func:`first_data_month` (``plan.clipped`` says
    so); parity mode keeps the original's whole series.
    Raises :class:`UsageError` when the batch is not defined, its period series is empty, or
    a parameter is invalid.
    """
    batch = get_batch(db, until_batch)
    periods = batch_periods(batch)
    if not periods:
        raise UsageError(f"batch {until_batch}: no month between date_debut {batch.param.date_debut.date()} "
                         f"and date_fin {batch.param.date_fin.date()}", "fix the batch with sf batch add --replace")
    clipped = None
    first = first_data_month(db, until_batch) if mode == "fixed" else None
    if first is not None and first[0] > periods[0]:
        # An old batch (date_debut 2014-01-01 by default) would otherwise get rows for years
        # without any data, which training would take as observed months.
        clipped = (f"date_debut {periods[0].date()} clipped to {first[0].date()}, the first month of the "
                   f"deliveries ({first[1]})")
        periods = tuple(p for p in periods if p >= first[0])
        if not periods:
            raise UsageError(f"batch {until_batch}: no month between the first month of its deliveries "
                             f"{first[0].date()} ({first[1]}) and date_fin {batch.param.date_fin.date()}",
                             "check the batch's files and dates with sf batch show")
    if chunk_companies < 1:
        raise UsageError("chunk_companies must be >= 1")
    try:
        params = FeatureParams(batch=until_batch,
                               date_fin_effectif=batch.param.date_fin_effectif or batch.param.date_fin,
                               mode=mode, naf=naf, history_months=history_months)
    except FeatureInputError as exc:
        raise UsageError(str(exc)) from None
    return FeaturesPlan(batch=until_batch, periods=periods, params=params, collection=collection,
                        chunk_companies=chunk_companies, dry_run=dry_run, clipped=clipped)


@dataclass
class FeaturesStats:
    """Counts and timings of one range (summed over ranges for the run summary)."""

    companies: int = 0
    establishments: int = 0
    rows: int = 0
    documents_deleted: int = 0
    documents_written: int = 0
    companies_failed: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    read_s: float = 0.0
    state_s: float = 0.0
    compute_s: float = 0.0
    convert_s: float = 0.0
    write_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        timings = ("read_s", "state_s", "compute_s", "convert_s", "write_s")
        return {**asdict(self), **{k: round(getattr(self, k), 4) for k in timings}}


def siret_filter(batch: str, lo: str | None, hi: str | None) -> dict[str, Any]:
    """Features of ``batch`` whose SIRET is in ``[lo, hi)`` (dotted sub-field filters)."""
    bounds: dict[str, str] = {}
    if lo is not None:
        bounds["$gte"] = lo
    if hi is not None:
        bounds["$lt"] = hi
    query: dict[str, Any] = {"_id.batch": batch}
    if bounds:
        query["_id.siret"] = bounds
    return query


def group_by_company(docs: Iterable[Mapping[str, Any]]) -> Iterator[tuple[str, list[Mapping[str, Any]]]]:
    """``(siren, [RawData values])`` from documents sorted by ``_id``: a company's SIREN
    document and SIRET documents are adjacent in that order (a SIRET starts with its SIREN)."""
    current: str | None = None
    values: list[Mapping[str, Any]] = []
    for doc in docs:
        value = doc.get("value") or {}
        key = value.get("key") or doc.get("_id")
        siren = str(key)[:9]
        if siren != current:
            if current is not None:
                yield current, values
            current, values = siren, []
        values.append(value)
    if current is not None:
        yield current, values


class _TimedIterator:
    """Wraps a cursor and adds the time spent waiting for it (fetch + BSON decode) to ``seconds``."""

    def __init__(self, iterable: Iterable[Any]) -> None:
        self._it = iter(iterable)
        self.seconds = 0.0

    def __iter__(self) -> _TimedIterator:
        return self

    def __next__(self) -> Any:
        t0 = time.perf_counter()
        try:
            return next(self._it)
        finally:
            self.seconds += time.perf_counter() - t0


def compute_chunk(companies: list[tuple[str, list[Mapping[str, Any]]]], plan: FeaturesPlan,
                  stats: FeaturesStats) -> list[dict[str, Any]]:
    """Features documents of a chunk of companies; updates ``stats`` (counts, timings, failures).

    A company whose state cannot be rebuilt or whose features cannot be computed is skipped
    and recorded in ``stats.failed`` (SIREN → reason); the others are computed.
    """
    t0 = time.perf_counter()
    states: list[CompanyState] = []
    for siren, values in companies:
        try:
            states.append(company_state_from_rawdata(siren, values, plan.batch))
        except (FeatureInputError, ValueError, TypeError, KeyError) as exc:
            _fail(stats, siren, exc)
    t1 = time.perf_counter()
    stats.state_s += t1 - t0
    try:
        frame = compute_companies_features(states, list(plan.periods), plan.params)
    except (FeatureInputError, ValueError, TypeError, KeyError):
        # Isolate the culprit(s): recompute company by company.
        frames = []
        for state in states:
            try:
                frames.append(compute_companies_features([state], list(plan.periods), plan.params))
            except (FeatureInputError, ValueError, TypeError, KeyError) as exc:
                _fail(stats, state.siren, exc)
        frame = pd.concat(frames, ignore_index=True) if frames else \
            compute_companies_features([], list(plan.periods), plan.params)
    t2 = time.perf_counter()
    stats.compute_s += t2 - t1
    docs = to_feature_documents(frame, plan.batch)
    stats.convert_s += time.perf_counter() - t2
    stats.companies += len(companies)
    stats.establishments += int(frame["siret"].nunique()) if len(frame) else 0
    stats.rows += len(frame)
    return docs


def _fail(stats: FeaturesStats, siren: str, exc: Exception) -> None:
    stats.companies_failed += 1
    if len(stats.failed) < MAX_FAILURES_LISTED:
        stats.failed[siren] = f"{type(exc).__name__}: {exc}"[:300]


def features_range(uri: str, db_name: str, plan: FeaturesPlan, key_range: KeyRange) -> dict[str, Any]:
    """Compute and write the Features of one key range; returns its :class:`FeaturesStats` as a dict.

    Raises :class:`SfError` when a write fails (the range's previous Features are then
    already deleted: re-running the range repairs it).
    """
    db = worker_database(uri, db_name)
    stats = FeaturesStats()
    if not plan.dry_run:
        t0 = time.perf_counter()
        stats.documents_deleted = db[plan.collection].delete_many(
            siret_filter(plan.batch, key_range.lo, key_range.hi)).deleted_count
        stats.write_s += time.perf_counter() - t0
    cursor = _TimedIterator(db[RAW_DATA].find(key_range.filter("_id")).sort("_id", 1).batch_size(500))
    # Bulk BSON decoding and the computation create many objects the cyclic GC would scan
    # again and again (docs/README.md §1.2); collect once per chunk instead.
    try:
        with paused_gc():
            chunk: list[tuple[str, list[Mapping[str, Any]]]] = []
            for company in group_by_company(cursor):
                chunk.append(company)
                if len(chunk) >= plan.chunk_companies:
                    _flush(db, plan, chunk, stats, key_range)
                    chunk = []
            if chunk:
                _flush(db, plan, chunk, stats, key_range)
    finally:
        stats.read_s += cursor.seconds
    return stats.as_dict()


def _flush(db: Database, plan: FeaturesPlan, chunk: list[tuple[str, list[Mapping[str, Any]]]],
           stats: FeaturesStats, key_range: KeyRange) -> None:
    docs = compute_chunk(chunk, plan, stats)
    if docs and not plan.dry_run:
        t0 = time.perf_counter()
        stats.documents_written += insert_documents(db, plan.collection, docs, f"range {key_range.name}")
        stats.write_s += time.perf_counter() - t0
    del docs
    gc.collect()


# --- one company, in-process: sf features --key ---------------------------------------------

def company_key_range(key: str) -> KeyRange:
    """The keys of the company of ``key`` (a SIREN or a SIRET): ``[siren, siren + ":")``
    (``:`` follows the digits in ASCII, so every SIRET of the SIREN is inside)."""
    if not (isinstance(key, str) and key.isdigit() and len(key) in (9, 14)):
        raise UsageError(f"--key {key!r}: expected a 9-digit SIREN or a 14-digit SIRET")
    return KeyRange(key[:9], key[:9] + ":")


def compute_company_debug(db: Database, plan: FeaturesPlan, key: str) -> tuple[pd.DataFrame, int]:
    """Recompute the company of ``key`` (SIREN or SIRET) into ``plan.collection`` (normally
    ``Features_debug``), replacing that company's documents of the batch there.

    Returns ``(rows, documents written)``. Raises :class:`UsageError` for a malformed key or a
    company absent from RawData, :class:`SfError` naming the company when its records cannot
    be used.
    """
    key_range = company_key_range(key)
    docs = list(db[RAW_DATA].find(key_range.filter("_id")).sort("_id", 1))
    if not docs:
        raise UsageError(f"--key {key}: no RawData document for SIREN {key[:9]}",
                         "check the key, or run sf compact first")
    siren = key[:9]
    try:
        state = company_state_from_rawdata(siren, [d["value"] for d in docs], plan.batch)
        frame = compute_companies_features([state], list(plan.periods), plan.params)
    except FeatureInputError as exc:
        raise SfError(f"company {siren}: {exc}") from None
    written = 0
    if not plan.dry_run:
        db[plan.collection].delete_many(siret_filter(plan.batch, key_range.lo, key_range.hi))
        written = insert_documents(db, plan.collection, to_feature_documents(frame, plan.batch), f"company {siren}")
    return frame, written


# --- the driver: sf features --until-batch --------------------------------------------------

class FeaturesFailed(SfError):
    """Some ranges failed; the others are written. Running again recomputes every range."""


class CompaniesSkipped(SfError):
    """Some companies had unusable records and got no Features (exit code 3, bad input);
    every other company is written."""

    exit_code = 3


@dataclass
class FeaturesSummary:
    """What a run did, for the final line, ``--json`` and the Journal counts."""

    batch: str
    mode: str
    first_period: datetime
    last_period: datetime
    months: int = 0
    clipped: str | None = None
    partitions: int = 0
    totals: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        totals = {k: v for k, v in self.totals.items() if k != "failed"}
        rows = totals.get("rows", 0)
        compute_s = totals.get("state_s", 0.0) + totals.get("compute_s", 0.0)
        return {"batch": self.batch, "mode": self.mode, "first_period": self.first_period,
                "last_period": self.last_period, "months": self.months, "clipped": self.clipped,
                "partitions": self.partitions, **totals,
                "failed": self.totals.get("failed", {}), "seconds": round(self.seconds, 3),
                "rows_per_compute_s": round(rows / compute_s) if compute_s > 0 else None, "dry_run": self.dry_run}


def run_features(store: Any, run: Any, plan: FeaturesPlan, *, workers: int | None = None,
                 scheduler: str | None = None, partitions: int | None = None,
                 silent: bool = False) -> FeaturesSummary:
    """Compute the Features of ``plan.batch`` for every company of RawData (module docstring).

    ``store``: an open :class:`~sf.engine.connection.Store`; ``run``: its Journal
    :class:`~sf.engine.journal.Run` (a checkpoint per finished range, a report listing the
    companies skipped). Raises :class:`FeaturesFailed` naming the failed ranges and the first
    error, then :class:`CompaniesSkipped` when some companies had unusable records.
    """
    started = time.monotonic()
    summary = FeaturesSummary(batch=plan.batch, mode=plan.params.mode, first_period=plan.periods[0],
                              last_period=plan.periods[-1], months=len(plan.periods), clipped=plan.clipped,
                              dry_run=plan.dry_run)
    job = run_job(store, run, features_range, store.uri, store.settings.db_name, plan,
                  sources=[(store.db[RAW_DATA], "_id")], label="features", failure=FeaturesFailed,
                  hint="fix the cause and run sf features again: it replaces the batch's Features range by range",
                  checkpoint=not plan.dry_run, partitions=partitions, workers=workers, scheduler=scheduler,
                  silent=silent)
    summary.partitions, summary.totals = job.partitions, job.totals
    summary.seconds = time.monotonic() - started
    failed = summary.totals.get("failed") or {}
    if failed and not plan.dry_run:
        run.add_report({"companies_skipped": summary.totals.get("companies_failed", 0), "first": failed})
    return summary
