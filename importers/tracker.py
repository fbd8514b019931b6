"""Per-file report and the generic line checks of the original (docs/importers.md §1.5–1.6).

:func:`track` consumes the ParsedLine stream of one file and yields the tuples to store,
applying in order: parser errors, then the key check against the scope (``siret invalide
: <key>`` / ``siren invalide : <key>``, only when the line had no other error), then the
range of every number of the record (``sf.importers.bounds``: NaN, inf and impossible
values make the line rejected and the record is not stored), then the perimeter (tuples
outside it are dropped and the line counted filtered).

Line numbers are lines of the file (header = line 1). A rejected line gives one entry of
``first_errors``, ``Line <n>: <message>; <message>…``, whatever the number of its problems.

One line, one outcome — so that ``lines_read == lines_valid + lines_rejected +
lines_filtered`` always holds:

* a line marked ``filtered`` by its parser is *filtered* (its errors are ignored, as in the
  original);
* otherwise a line with any error (parser, key or range) is *rejected*; its tuples that
  pass the key, range and perimeter checks are still emitted (effectif, effectif_ent,
  sirene, diane emit tuples alongside errors, as in the original);
* otherwise a line with at least one tuple outside the perimeter is *filtered*;
* otherwise it is *valid* (including a line that produced no tuple at all).

Deviations: the original counted a line that was both rejected and partly filtered twice
(so its ``linesValid`` could go negative); here it counts once, as rejected. The original
repeated the key message once per tuple (an effectif line with an invalid SIRET and 100
months filled half of the 200 kept messages); here each distinct message is kept once per
line, and the 200 kept entries are 200 lines. The original numbered data records (header
and blank lines excluded), so that its ``Line 622`` was line 623 of the file, and did not
check the range of numbers (Go parses ``NaN``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sf.importers.bounds import record_violations
from sf.importers.columnar import RecordBlock, keys_in_perimeter
from sf.importers.perimeter import Perimeter
from sf.importers.reading import FatalFileError, strip_scheme
from sf.importers.records import ParseContext, ParsedLine, Parser, Tuple

__all__ = ["MAX_PARSING_ERRORS", "FileReport", "RejectedHook", "track", "track_file"]

#: At most this many rejected lines are kept per file (the original's MaxParsingErrors).
MAX_PARSING_ERRORS = 200


@dataclass
class FileReport:
    """Counts and messages of one parsed file.

    ``path`` is the batch path (a ``gzip:`` prefix is removed in ``summary``);
    ``first_errors`` holds the first 200 rejected lines as ``Line <n>: <messages>`` (``<n>``
    the line in the file, the line's messages joined by ``; ``);
    ``fatal_error`` the message of a fatal error (the file could not be read to the end).
    """

    file_type: str
    path: str
    batch_key: str
    lines_read: int = 0
    lines_valid: int = 0
    lines_rejected: int = 0
    lines_filtered: int = 0
    is_fatal: bool = False
    fatal_error: str | None = None
    first_errors: list[str] = field(default_factory=list)

    @property
    def display_path(self) -> str:
        return strip_scheme(self.path)[0]

    @property
    def fatal_count(self) -> int:
        return 1 if self.is_fatal else 0

    @property
    def summary(self) -> str:
        """The original's French summary, literally."""
        return (f"{self.display_path}: intégration terminée, {self.lines_read} lignes traitées, "
                f"{self.fatal_count} erreurs fatales, {self.lines_rejected} lignes rejetées, "
                f"{self.lines_filtered} lignes filtrées, {self.lines_valid} lignes valides")

    def add_error(self, number: int, message: str) -> None:
        if len(self.first_errors) < MAX_PARSING_ERRORS:
            self.first_errors.append(f"Line {number}: {message}")

    def set_fatal(self, message: str) -> None:
        self.is_fatal = True
        self.fatal_error = message

    def to_event(self) -> dict[str, Any]:
        """The original's Journal ``event`` sub-document (v2022 field names)."""
        return {
            "batchKey": self.batch_key,
            "summary": self.summary,
            "linesParsed": self.lines_read,
            "linesValid": self.lines_valid,
            "linesSkipped": self.lines_filtered,
            "linesRejected": self.lines_rejected,
            "isFatal": self.is_fatal,
            "headRejected": list(self.first_errors),
            "headFatal": [f"Fatal: {self.fatal_error}"] if self.fatal_error else [],
        }


_SCOPE_WIDTH = {"etablissement": 14, "entreprise": 9}
_SCOPE_NAME = {"etablissement": "siret", "entreprise": "siren"}


def _valid_key(key: str, scope: str) -> bool:
    return len(key) == _SCOPE_WIDTH[scope] and key.isascii() and key.isdigit()


RejectedHook = Callable[[int, list[str]], None]


def _track_block(block: RecordBlock, report: FileReport, perimeter: Perimeter | None) -> Iterator[RecordBlock]:
    """Count a RecordBlock (error-free lines, one record per non-filtered line, keys already
    valid) and yield its records inside the perimeter."""
    report.lines_read += block.lines
    filtered = block.filtered
    if perimeter is not None and block.keys:
        inside = keys_in_perimeter(perimeter, block.keys)
        outside = len(inside) - int(inside.sum())
        if outside:
            filtered += outside
            block = block.select(inside)
    report.lines_filtered += filtered
    report.lines_valid += block.lines - filtered
    if block.keys:
        yield block


def track(lines: Iterable[ParsedLine | RecordBlock], report: FileReport, perimeter: Perimeter | None = None, *,
          on_rejected: RejectedHook | None = None) -> Iterator[Tuple | RecordBlock]:
    """Yield the tuples of ``lines`` to store, counting every line into ``report``.

    ``lines`` may also hold RecordBlocks (a parser's ``parse_blocks`` fast path): their
    lines are counted valid or filtered (perimeter applied to their keys) and the block is
    yielded with only the records inside the perimeter; a stream of ParsedLines only
    yields Tuples.

    ``perimeter`` None means no filter. ``on_rejected(number, reasons)`` is called once per
    rejected line with all its messages (parser errors, then key and range errors),
    uncapped — the hook for a quarantine of rejected lines. A FatalFileError raised while
    iterating ``lines`` (unreadable file, truncated gzip, bad encoding, missing column) is
    recorded in ``report`` (``is_fatal``, ``fatal_error``) and ends the iteration; the counts
    already made are kept, and the caller must not store what was yielded (the import
    driver holds a file's records until its end, ``sf.importers.file_stage``).
    """
    try:
        for line in lines:
            if type(line) is RecordBlock:
                yield from _track_block(line, report, perimeter)
                continue
            report.lines_read += 1
            if line.filtered:
                report.lines_filtered += 1
                continue
            errors = line.errors
            messages: list[str] | None = list(errors) if errors else None
            filtered = False
            for item in line.tuples:
                key = item.key
                if not _valid_key(key, item.scope):
                    if not errors:
                        message = f"{_SCOPE_NAME[item.scope]} invalide : {key}"
                        if messages is None:
                            messages = [message]
                        elif message not in messages:
                            messages.append(message)
                    continue
                problems = record_violations(item.type, item.record)
                if problems:
                    if messages is None:
                        messages = []
                    messages.extend(m for m in problems if m not in messages)
                    continue
                if perimeter is not None and not perimeter.contains(key):
                    filtered = True
                    continue
                yield item
            if messages:
                report.lines_rejected += 1
                report.add_error(line.number, "; ".join(messages))
                if on_rejected is not None:
                    on_rejected(line.number, messages)
            elif filtered:
                report.lines_filtered += 1
            else:
                report.lines_valid += 1
    except FatalFileError as exc:
        report.set_fatal(str(exc))


def track_file(parser: Parser, path: str, ctx: ParseContext, *,
               on_rejected: RejectedHook | None = None) -> tuple[FileReport, Iterator[Tuple]]:
    """Parse one file with ``parser`` under ``ctx``: returns the report (filled as the
    iterator is consumed) and the iterator of tuples to store. Fatal errors, including
    those raised when opening the file, end up in the report."""
    report = FileReport(file_type=parser.file_type, path=path, batch_key=ctx.batch_key)

    def lines() -> Iterator[ParsedLine]:
        yield from parser.parse(path, ctx)

    return report, track(lines(), report, ctx.perimeter, on_rejected=on_rejected)
