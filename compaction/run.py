"""Driving a compaction run: ``sf compact``.

Journal run and lock; the plan (:func:`sf.compaction.job.plan_compaction`), checked before
anything is written; one Dask task per SIREN-aligned key range, with a progress bar and a
Journal checkpoint per finished range; and, only once every range has succeeded, the removal
of the compacted batches from ImportedData. Killed anywhere, a run can be started again and
ends with the same RawData: ImportedData is still there, and recomputing a batch entry from
its delivery is idempotent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sf.engine.batches import get_batch, save_batch
from sf.engine.cluster import run_job
from sf.engine.collections import IMPORTED_DATA, RAW_DATA
from sf.engine.connection import Store
from sf.engine.errors import SfError
from sf.engine.journal import Run

from .job import clear_staged, compact_range, plan_compaction
from .size import DEFAULT_MAX_DOCUMENT_BYTES


class CompactionFailed(SfError):
    """Some ranges failed; the others are written and ImportedData is kept for a re-run."""


@dataclass
class CompactionSummary:
    """What a run did, for the final line, ``--json`` and the Journal counts."""

    since_batch: str | None
    batches: list[str]
    partitions: int
    totals: dict[str, Any] = field(default_factory=dict)
    imported_removed: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"since_batch": self.since_batch, "batches": self.batches, "partitions": self.partitions,
                **self.totals, "imported_removed": self.imported_removed, "seconds": round(self.seconds, 3),
                "dry_run": self.dry_run}


def set_stock_absent(store: Store, batch_keys: list[str], policy: str) -> None:
    """Record ``policy`` as the ``stock_absent`` choice of each batch (kept in Admin, so that a
    later re-compaction applies the same rule)."""
    for key in batch_keys:
        batch = get_batch(store.db, key)
        if batch.stock_absent != policy:
            save_batch(store.db, batch.model_copy(update={"stock_absent": policy}), replace=True)


def run_compaction(store: Store, run: Run, *, since_batch: str | None = None, stock_absent: str | None = None,
                   workers: int | None = None, scheduler: str | None = None, dry_run: bool = False,
                   partitions: int | None = None, max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
                   silent: bool = False) -> CompactionSummary:
    """Compact what ImportedData holds into RawData (see module docstring).

    Raises :class:`CompactionFailed` naming the failed ranges and their first error, or the
    planning errors of :func:`plan_compaction`; ImportedData is cleared only on success.
    """
    started = time.monotonic()
    plan = plan_compaction(store.db, since_batch, max_document_bytes)
    if stock_absent is not None and not dry_run:
        set_stock_absent(store, list(plan.run_batches), stock_absent)
        plan = plan_compaction(store.db, since_batch, max_document_bytes)
    summary = CompactionSummary(since_batch=plan.since_batch, batches=list(plan.staged_batches), partitions=0,
                                dry_run=dry_run)
    if not plan.staged_batches and not plan.recompute:
        summary.seconds = time.monotonic() - started
        return summary
    sources = [(store.db[IMPORTED_DATA], "value.key")]
    if plan.visit_all or plan.recompute:
        sources.append((store.db[RAW_DATA], "_id"))
    job = run_job(store, run, compact_range, store.uri, store.settings.db_name, plan, dry_run,
                  sources=sources, label="compact", failure=CompactionFailed,
                  hint="fix the cause and run sf compact again: finished ranges are kept and ImportedData is still there",
                  checkpoint=not dry_run, partitions=partitions, workers=workers, scheduler=scheduler, silent=silent)
    summary.partitions, summary.totals = job.partitions, job.totals
    if not dry_run:
        summary.imported_removed = clear_staged(store.db, plan.staged_batches)
    summary.seconds = time.monotonic() - started
    return summary
