"""The import step as a library operation: check or import a batch's files, journaled.

:func:`import_batch` is what ``sf import``, ``sf check`` and ``sf demo`` call: it opens
nothing (the caller passes the database), journals its run as the command does (command
name, arguments, batch, lock for a writing run, one report per file, the totals as counts)
and returns the per-file result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pymongo.database import Database

from sf.engine.batches import get_batch
from sf.engine.errors import BadInputError
from sf.engine.journal import journal_run

from .driver import BatchRunResult, report_document, run_batch
from .tracker import FileReport


def import_batch(db: Database, batch_key: str, *, parsers: Sequence[str] | None = None, no_filter: bool = False,
                 write: bool = True, break_lock: bool = False,
                 on_progress: Callable[[FileReport], None] | None = None) -> BatchRunResult:
    """Parse the files of batch ``batch_key`` and, with ``write``, upsert their records into
    ImportedData (rejected lines into Quarantine); without ``write`` only check them.

    Inputs: ``parsers`` restricts the file types (None: all of the batch), ``no_filter``
    allows a batch without a filter file, ``break_lock`` takes over a dead run's lock,
    ``on_progress`` sees the running report of the file being read (progress displays).

    Output: the :class:`~.driver.BatchRunResult` (one report per file, fatal ones included).

    Journal: one run ``import`` (``check`` without ``write``) with args ``batch, parsers,
    no_filter``, the batch, the lock when writing, each file's report as it ends, and the
    totals as counts. Failure modes: :class:`~sf.engine.errors.UsageError` for an undefined
    batch (no run journaled) or bad parser names, :class:`~sf.engine.errors.BadInputError`
    for an unreadable filter, :class:`~sf.engine.errors.LockHeld` — all with a failed run
    once it is journaled. A file that cannot be read is not an error here: its report is
    fatal, the other files are processed; see :func:`unreadable_files`.
    """
    batch = get_batch(db, batch_key)
    selected = list(parsers) if parsers else None
    args = {"batch": batch_key, "parsers": selected, "no_filter": no_filter}
    with journal_run(db, "import" if write else "check", args, batch=batch_key, destructive=write,
                     break_lock=break_lock) as run:

        def journal(report: FileReport) -> None:
            run.add_report(report_document(report))
            if on_progress is not None:
                on_progress(report)

        result = run_batch(batch, parsers=selected, no_filter=no_filter, db=db if write else None,
                           on_report=journal, on_progress=on_progress)
        run.counts = result.totals()
    return result


def unreadable_files(result: BatchRunResult) -> BadInputError | None:
    """The error (exit code 3) naming the files of ``result`` that could not be read, or
    None when every file was read; the caller raises it once it has shown the reports."""
    if not result.fatal_reports:
        return None
    names = ", ".join(r.display_path for r in result.fatal_reports)
    return BadInputError(f"batch {result.batch_key}: {len(result.fatal_reports)} file(s) could not be read: {names}",
                         "see the report above; the other files were processed")
