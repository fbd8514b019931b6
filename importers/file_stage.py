"""Holding one file's output until the file has been read to the end.

A file that fails half-way (truncated gzip, undecodable bytes, an unreadable sheet) must
store nothing: its first records would otherwise reach ImportedData, and the next ``sf
compact`` would merge a partial delivery. So ``sf import`` puts each file's records and
rejected lines into a :class:`FileStage` and hands them to the ImportedData and Quarantine
writers only once the file is read to its end (:meth:`FileStage.commit`); a fatal file's
stage is dropped (:meth:`FileStage.discard`).

Why a local spool file rather than a staging collection or a delete by run marker:

* records reach MongoDB once — writes are the slow part of an import, a staging collection
  would double them;
* records are merged into ImportedData with ``$set`` of their hash path, and an earlier
  file (or an earlier import) may have set the very same path: removing "what this run
  wrote" after a failure could remove records that belong to another file;
* nothing is left to clean after a crash: the spool is an anonymous temporary file
  (unlinked at creation), which the system reclaims even when the process is killed.

Memory stays bounded: up to ``spill_records`` records are kept in memory, beyond that they
are pickled to the spool in chunks and read back in order at commit. A small file — the
usual case — never touches the disk.
"""

from __future__ import annotations

import pickle
import tempfile
from dataclasses import dataclass, field
from collections.abc import Iterator
from typing import IO, Any

from .columnar import RecordBlock
from .records import Tuple
from .staging import ImportedDataWriter, QuarantineWriter, prepare

__all__ = ["SPILL_RECORDS", "FileStage"]

#: Records kept in memory before the stage spills them to its temporary file.
SPILL_RECORDS = 50_000


@dataclass(frozen=True, slots=True)
class _Rejected:
    line: int
    reasons: list[str]


@dataclass
class FileStage:
    """The records and rejected lines of one file (``path`` of type ``file_type``), held
    until :meth:`commit` or :meth:`discard`. Use as a context manager: leaving it without a
    commit discards."""

    path: str
    file_type: str
    spill_records: int | None = None  # None: the module's SPILL_RECORDS at creation
    records: int = 0
    rejected: int = 0
    _items: list[Any] = field(default_factory=list)
    _held: int = 0
    _spool: IO[bytes] | None = None
    _closed: bool = False

    def __post_init__(self) -> None:
        if self.spill_records is None:
            self.spill_records = SPILL_RECORDS

    def add(self, item: Tuple | RecordBlock) -> None:
        """Hold a record (or a RecordBlock of records) of the file."""
        if type(item) is RecordBlock:
            self._items.append(item)
            size = len(item)
        else:
            self._items.append(prepare(item))  # type: ignore[arg-type]
            size = 1
        self.records += size
        self._hold(size)

    def reject(self, line: int, reasons: list[str]) -> None:
        """Hold a rejected line of the file for the Quarantine."""
        self._items.append(_Rejected(line, list(reasons)))
        self.rejected += 1
        self._hold(1)

    def _hold(self, size: int) -> None:
        self._held += size
        if self._held >= self.spill_records:  # type: ignore[operator]
            self._spill()

    def _spill(self) -> None:
        if self._spool is None:
            self._spool = tempfile.TemporaryFile(prefix="sf-stage-")  # noqa: SIM115 - closed by commit/discard
        pickle.dump(self._items, self._spool, protocol=pickle.HIGHEST_PROTOCOL)
        self._items = []
        self._held = 0

    def _chunks(self) -> Iterator[list[Any]]:
        if self._spool is not None:
            self._spool.seek(0)
            while True:
                try:
                    yield pickle.load(self._spool)
                except EOFError:
                    break
        yield self._items

    def commit(self, writer: ImportedDataWriter | None, quarantine: QuarantineWriter | None) -> None:
        """Hand everything held, in file order, to the writers (which write in bulk as
        their buffers fill); then release the stage."""
        if self._closed:
            raise RuntimeError(f"stage of {self.path} already closed")
        try:
            for chunk in self._chunks():
                for item in chunk:
                    kind = type(item)
                    if kind is tuple:
                        if writer is not None:
                            writer.add_prepared(item)  # type: ignore[arg-type]
                    elif kind is RecordBlock:
                        if writer is not None:
                            writer.add_block(item)
                    elif quarantine is not None:
                        quarantine.add(self.path, self.file_type, item.line, item.reasons)
        finally:
            self.discard()

    def discard(self) -> None:
        """Drop everything held (the file failed); idempotent."""
        self._items = []
        self._held = 0
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._closed = True

    def __enter__(self) -> FileStage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

