"""The compaction step as a library operation: ``sf compact`` and ``sf demo`` call :func:`compact`."""

from __future__ import annotations

from sf.engine.connection import Store
from sf.engine.journal import journal_run

from .run import CompactionSummary, run_compaction
from .size import DEFAULT_MAX_DOCUMENT_BYTES


def compact(store: Store, *, since_batch: str | None = None, stock_absent: str | None = None,
            workers: int | None = None, scheduler: str | None = None, partitions: int | None = None,
            max_document_mb: float = DEFAULT_MAX_DOCUMENT_BYTES / (1024 * 1024), dry_run: bool = False,
            silent: bool = False, break_lock: bool = False) -> CompactionSummary:
    """Merge every batch waiting in ImportedData into RawData (:func:`~.run.run_compaction`).

    Inputs: an open ``store`` (its Dask workers reach the same server); ``since_batch``
    recomputes batches from that key on, ``stock_absent`` records that choice for the run's
    batches, ``workers``/``scheduler``/``partitions`` shape the Dask job, documents larger
    than ``max_document_mb`` are refused, ``dry_run`` writes nothing, ``silent`` hides the
    progress bar, ``break_lock`` takes over a dead run's lock.

    Output: the :class:`~.run.CompactionSummary` (also the run's counts).

    Journal: one run ``compact`` (args ``since_batch, stock_absent, workers, scheduler,
    dry_run, max_document_mb``; batch ``since_batch``; the lock unless ``dry_run``; a
    checkpoint per range). Failure modes: :class:`~.run.CompactionFailed` naming the failed
    ranges, the planning errors of :func:`~.job.plan_compaction`,
    :class:`~sf.engine.errors.LockHeld`, each leaving a failed run.
    """
    args = {"since_batch": since_batch, "stock_absent": stock_absent, "workers": workers, "scheduler": scheduler,
            "dry_run": dry_run, "max_document_mb": max_document_mb}
    with journal_run(store.db, "compact", args, batch=since_batch, destructive=not dry_run,
                     break_lock=break_lock) as run:
        summary = run_compaction(store, run, since_batch=since_batch, stock_absent=stock_absent, workers=workers,
                                 scheduler=scheduler, dry_run=dry_run, partitions=partitions,
                                 max_document_bytes=int(max_document_mb * 1024 * 1024), silent=silent)
        run.counts = summary.as_dict()
    return summary
