"""``sf check`` and ``sf import``: parse every file of a batch, count, and (import) store.

:func:`run_batch` is the single driver of both commands. For each requested file type of
the batch, in type order, and each of its files, it streams the parser's lines through the
tracker (``sf.importers.tracker``) and, when importing, upserts the kept records into
``ImportedData`` and the rejected lines into ``Quarantine`` — once the file has been read to
its end (``sf.importers.file_stage``). One file's fatal error (file absent, unreadable,
missing column, truncated gzip) is recorded in its report, the file stores nothing, and
the other files go on. Every line of every file ends up valid, rejected (with its reason) or filtered
(outside the perimeter, or an URSSAF account without SIRET), and the counts add up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo.database import Database
from sf.engine.batches import Batch
from sf.engine.collections import IMPORTED_DATA, QUARANTINE
from sf.engine.errors import BadInputError, UsageError

from .columnar import paused_gc
from .file_stage import FileStage
from .perimeter import AccountMapping, Perimeter, load_account_mapping, load_perimeter
from .reading import FatalFileError
from .records import ParseContext
from .registry import FILE_TYPES, load_parser
from .staging import ImportedDataWriter, QuarantineWriter
from .tracker import FileReport, track

MAPPING_TYPE = "admin_urssaf"


@dataclass
class BatchRunResult:
    """Reports of every file, in processing order, and what was written (import only)."""

    batch_key: str
    reports: list[FileReport] = field(default_factory=list)
    records_written: int = 0
    documents_touched: int = 0
    lines_quarantined: int = 0

    @property
    def fatal_reports(self) -> list[FileReport]:
        return [r for r in self.reports if r.is_fatal]

    def totals(self) -> dict[str, int]:
        """Sums over files, for the Journal's ``counts`` and the final summary line."""
        return {
            "files": len(self.reports), "fatal_files": len(self.fatal_reports),
            "lines_read": sum(r.lines_read for r in self.reports),
            "lines_valid": sum(r.lines_valid for r in self.reports),
            "lines_rejected": sum(r.lines_rejected for r in self.reports),
            "lines_filtered": sum(r.lines_filtered for r in self.reports),
            "records_written": self.records_written, "documents_touched": self.documents_touched,
            "lines_quarantined": self.lines_quarantined,
        }


def report_document(report: FileReport) -> dict[str, Any]:
    """A file report as stored in the Journal run (our names plus the original's ``event``)."""
    return {"file_type": report.file_type, "path": report.path, "batch": report.batch_key,
            "lines_read": report.lines_read, "lines_valid": report.lines_valid,
            "lines_rejected": report.lines_rejected, "lines_filtered": report.lines_filtered,
            "is_fatal": report.is_fatal, "fatal_error": report.fatal_error,
            "first_errors": report.first_errors[:20], "summary": report.summary, "event": report.to_event()}


def select_types(batch: Batch, parsers: Sequence[str] | None) -> list[str]:
    """The batch's file types to parse, in the registry's order; unknown names → UsageError."""
    if parsers:
        unknown = sorted(set(parsers) - set(FILE_TYPES))
        if unknown:
            raise UsageError(f"--parsers: unknown parser(s) {', '.join(unknown)}; known: {', '.join(FILE_TYPES)}")
    wanted = set(parsers) if parsers else set(FILE_TYPES)
    return [t for t in FILE_TYPES if t in batch.files and t in wanted]


def load_batch_perimeter(batch: Batch, no_filter: bool) -> Perimeter | None:
    """The batch's SIREN perimeter (None = keep everything).

    As the original: a batch without a filter file is refused unless ``no_filter``;
    ``no_filter`` only waives that requirement, a filter file present is still applied.
    An unreadable filter aborts the whole run (:class:`BadInputError`).
    """
    paths = batch.files.get("filter") or []
    if not paths:
        if no_filter:
            return None
        raise UsageError(f"batch {batch.key} has no filter file",
                         "add one with --file filter=PATH, or run with --no-filter to keep every entity")
    try:
        return load_perimeter(paths)
    except FatalFileError as exc:
        raise BadInputError(f"filter file unreadable: {exc}") from None


class _MappingLoader:
    """Loads the admin_urssaf mapping once, on first use; remembers a failure too."""

    def __init__(self, paths: list[str], perimeter: Perimeter | None) -> None:
        self.paths, self.perimeter = paths, perimeter
        self._mapping: AccountMapping | None = None
        self._error: FatalFileError | None = None

    def __call__(self) -> AccountMapping:
        if self._error is not None:
            raise self._error
        if self._mapping is None:
            try:
                if not self.paths:
                    raise FatalFileError(MAPPING_TYPE, "no admin_urssaf mapping found")
                self._mapping = load_account_mapping(self.paths, self.perimeter)
            except FatalFileError as exc:
                self._error = exc
                raise
        return self._mapping


ReportHook = Callable[[FileReport], None]
ProgressHook = Callable[[FileReport], None]


def run_batch(batch: Batch, *, parsers: Sequence[str] | None = None, no_filter: bool = False,
              db: Database | None = None, on_report: ReportHook | None = None,
              on_progress: ProgressHook | None = None, progress_every: int = 50_000) -> BatchRunResult:
    """Check (``db`` None) or import (``db`` given) the files of ``batch``.

    ``on_report`` is called after each file with its final report (the Journal hook);
    ``on_progress`` every ``progress_every`` lines with the running report (progress bars).
    Raises :class:`UsageError` (bad parser names, no filter without ``no_filter``) or
    :class:`BadInputError` (unreadable filter) before reading any data file; per-file fatal
    errors are in the reports, not raised.
    """
    types = select_types(batch, parsers)
    perimeter = load_batch_perimeter(batch, no_filter)
    ctx = ParseContext(batch_key=batch.key, date_debut=batch.param.date_debut, date_fin=batch.param.date_fin,
                       perimeter=perimeter, mapping=_MappingLoader(batch.files.get(MAPPING_TYPE, []), perimeter))
    result = BatchRunResult(batch_key=batch.key)
    writer = ImportedDataWriter(db[IMPORTED_DATA], batch.key) if db is not None else None
    quarantine = QuarantineWriter(db[QUARANTINE], batch.key) if db is not None else None
    for file_type in types:
        parser = load_parser(file_type)
        for path in batch.files[file_type]:
            report = FileReport(file_type=file_type, path=path, batch_key=batch.key)
            # The file's output is held until it is read to the end: a fatal file stores nothing.
            stage = FileStage(path, file_type) if db is not None else None
            rejected = stage.reject if stage is not None else None

            # The column-wise fast path when the parser has one (same results, see columnar).
            parse = getattr(parser, "parse_blocks", None) or parser.parse

            def lines(_path: str = path, _parse=parse):  # a generator, so that open errors reach the tracker
                yield from _parse(_path, ctx)

            next_progress = progress_every
            try:
                with paused_gc():  # records are acyclic: the cyclic GC would only rescan them
                    for item in track(lines(), report, perimeter, on_rejected=rejected):
                        if stage is not None:
                            stage.add(item)
                        if on_progress is not None and report.lines_read >= next_progress:
                            on_progress(report)
                            next_progress = (report.lines_read // progress_every + 1) * progress_every
                    if stage is not None and not report.is_fatal:
                        stage.commit(writer, quarantine)
                        quarantine.flush()  # type: ignore[union-attr]
            finally:
                if stage is not None:
                    stage.discard()
            result.reports.append(report)
            if on_report is not None:
                on_report(report)
    if writer is not None and quarantine is not None:
        writer.flush()
        result.records_written, result.documents_touched = writer.records_added, writer.documents_touched
        result.lines_quarantined = quarantine.lines_written
    return result
