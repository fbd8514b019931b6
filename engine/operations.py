"""Declaring a batch as a library operation: ``sf batch add`` and ``sf demo`` call :func:`declare_batch`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.database import Database

from .batches import Batch, save_batch
from .journal import journal_run


def declare_batch(db: Database, batch: Batch, *, replace: bool = False,
                  args: Mapping[str, Any] | None = None) -> int:
    """Store the definition ``batch`` in Admin (:func:`~.batches.save_batch`); returns its number of files.

    ``args``: what the caller was given (files, folder, …), journaled as the run's
    arguments (default: the key). Journal: one run ``batch add`` (the batch; no lock: a
    definition is not data) with counts ``files``. Failure modes: :class:`~.errors.UsageError`
    when the key is already defined and ``replace`` is false, with a failed run.
    """
    with journal_run(db, "batch add", dict(args) if args is not None else {"key": batch.key}, batch=batch.key) as run:
        save_batch(db, batch, replace=replace)
        run.counts = {"files": sum(len(paths) for paths in batch.files.values())}
    return run.counts["files"]
