"""The features step as library operations: ``sf features`` and ``sf demo`` call
:func:`compute_features` (the Dask job over every company) and ``sf features --key`` calls
:func:`compute_company_features` (one company, in-process, into ``Features_debug``)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from pymongo.database import Database

from sf.engine.collections import FEATURES_DEBUG, IMPORTED_DATA, RAW_DATA
from sf.engine.errors import UsageError
from sf.engine.journal import journal_run

from .job import DEFAULT_CHUNK_COMPANIES, FeaturesSummary, compute_company_debug, plan_features, run_features
from .state import Mode


def require_raw_data(db: Database) -> None:
    """:class:`UsageError` when RawData is empty: there is nothing to compute Features from
    (the hint says whether the imported batches only wait for ``sf compact``)."""
    if db[RAW_DATA].find_one({}, {"_id": 1}) is not None:
        return
    if db[IMPORTED_DATA].find_one({}, {"_id": 1}) is not None:
        raise UsageError("RawData is empty: the imported batches are still waiting in ImportedData",
                         "run sf compact first")
    raise UsageError("RawData is empty: there is nothing to compute Features from",
                     "import and compact a batch first: sf import --batch KEY && sf compact")


def _args(until_batch: str, key: str | None, mode: Mode, history_months: int, workers: int | None,
          scheduler: str | None, partitions: int | None, dry_run: bool) -> dict[str, Any]:
    return {"until_batch": until_batch, "key": key, "mode": mode, "history_months": history_months,
            "workers": workers, "scheduler": scheduler, "partitions": partitions, "dry_run": dry_run}


def compute_features(store: Any, until_batch: str, *, mode: Mode = "fixed", history_months: int = 24,
                     workers: int | None = None, scheduler: str | None = None, partitions: int | None = None,
                     chunk_companies: int = DEFAULT_CHUNK_COMPANIES, dry_run: bool = False, silent: bool = False,
                     break_lock: bool = False) -> FeaturesSummary:
    """Compute the Features of batch ``until_batch`` for every company of RawData (replacing
    the batch's Features), one Dask task per key range (:func:`~.job.run_features`).

    Inputs: an open :class:`~sf.engine.connection.Store`; ``mode`` fixed (point in time) or
    parity; ``history_months`` read before date_debut for lags (fixed mode); the Dask job's
    ``workers``/``scheduler``/``partitions``/``chunk_companies``; ``dry_run`` writes nothing;
    ``silent`` hides the progress bar; ``break_lock`` takes over a dead run's lock.

    Output: the :class:`~.job.FeaturesSummary` (also the run's counts); companies skipped
    for unusable records are counted in it (``companies_failed``, ``failed``), not raised.

    Journal: one run ``features`` (args ``until_batch, key, mode, history_months, workers,
    scheduler, partitions, dry_run``; the batch; the lock unless ``dry_run``). Failure
    modes: :class:`UsageError` for an undefined batch or an empty period (before any run is
    journaled) and for an empty RawData, :class:`~.job.FeaturesFailed` naming failed ranges,
    :class:`~sf.engine.errors.LockHeld`, each leaving a failed run.
    """
    plan = plan_features(store.db, until_batch, mode=mode, history_months=history_months,
                         chunk_companies=chunk_companies, dry_run=dry_run)
    args = _args(until_batch, None, mode, history_months, workers, scheduler, partitions, dry_run)
    with journal_run(store.db, "features", args, batch=until_batch, destructive=not dry_run,
                     break_lock=break_lock) as run:
        require_raw_data(store.db)
        summary = run_features(store, run, plan, workers=workers, scheduler=scheduler, partitions=partitions,
                               silent=silent)
        run.counts = summary.as_dict()
    return summary


def compute_company_features(db: Database, until_batch: str, key: str, *, mode: Mode = "fixed",
                             history_months: int = 24, dry_run: bool = False,
                             break_lock: bool = False) -> tuple[pd.DataFrame, int]:
    """Recompute the company of ``key`` (SIREN or SIRET) at batch ``until_batch`` into
    ``Features_debug``, in this process (:func:`~.job.compute_company_debug`).

    Output: ``(the company's Features rows, documents written)`` (0 written with ``dry_run``).

    Journal: one run ``features`` with ``key`` among its args and counts ``rows,
    documents_written``. Failure modes: :class:`UsageError` for an undefined batch, an empty
    RawData, a malformed key or a company absent from RawData;
    :class:`~sf.engine.errors.SfError` naming the company when its records cannot be used.
    """
    plan = plan_features(db, until_batch, mode=mode, history_months=history_months, collection=FEATURES_DEBUG,
                         dry_run=dry_run)
    args = _args(until_batch, key, mode, history_months, None, None, None, dry_run)
    with journal_run(db, "features", args, batch=until_batch, destructive=not dry_run,
                     break_lock=break_lock) as run:
        require_raw_data(db)
        frame, written = compute_company_debug(db, plan, key)
        run.counts = {"rows": len(frame), "documents_written": written}
    return frame, written
