"""Writing parsed records to ``ImportedData`` and rejected lines to ``Quarantine``.

ImportedData holds one document per (batch, entity key), ``_id = "<batch>:<key>"``::

    {"_id": "2401:000000001",
     "value": {"key": "000000001", "scope": "entreprise",
               "batch": {"2401": {"paydex": {"<hash>": {...record...}}}}}}

Records are merged in with ``$set`` of ``value.batch.<batch>.<type>.<hash>`` in unordered bulk
upserts, so importing a file twice, or one entity spread over several files, never creates a
duplicate or a split document, and re-running an interrupted import converges to the same
documents. The buffer is bounded (``flush_records``, ~15 MB at the default), so memory does
not grow with the file; it spans files, so that an entity present in several files of a
small batch is written once (upserts into existing documents are the slow part).

Quarantine documents have a deterministic ``_id`` (batch, file, line) for the same reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pymongo import ReplaceOne, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from .columnar import RecordBlock
from .identity import record_hash
from .records import Tuple

FLUSH_RECORDS = 50_000

#: ``(type, key, scope, document, hash)``: a record as ImportedData stores it.
PreparedRecord = tuple[str, str, str, dict[str, Any], str]


def prepare(tuple_: Tuple) -> PreparedRecord:
    """The stored document of a parsed record and its hash (the costly part of storing it)."""
    document = tuple_.record.to_document()
    return tuple_.type, tuple_.key, tuple_.scope, document, record_hash(tuple_.type, document)


def imported_data_id(batch_key: str, key: str) -> str:
    """The ``_id`` of the ImportedData document of ``key`` in ``batch_key``."""
    return f"{batch_key}:{key}"


class StagingWriteError(Exception):
    """A bulk write to ImportedData or Quarantine failed; the message names the first keys."""


@dataclass
class ImportedDataWriter:
    """Buffers tuples per entity and upserts them into ImportedData (see module docstring).

    ``records_added`` counts the records sent (after collapsing identical ones within a
    flush); ``documents_touched`` the entity documents upserted or modified.
    """

    collection: Collection
    batch_key: str
    flush_records: int = FLUSH_RECORDS
    records_added: int = 0
    documents_touched: int = 0
    _pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    _pending_records: int = 0

    def add(self, tuple_: Tuple) -> None:
        """Queue one parsed record; flushes when the buffer is full."""
        self.add_prepared(prepare(tuple_))

    def add_prepared(self, record: PreparedRecord) -> None:
        """Queue one record already turned into its document and hash (:func:`prepare`)."""
        type_, key, scope, document, digest = record
        path = f"value.batch.{self.batch_key}.{type_}.{digest}"
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = {"value.key": key, "value.scope": scope}
        if path not in entry:
            self._pending_records += 1
        entry[path] = document
        if self._pending_records >= self.flush_records:
            self.flush()

    def add_block(self, block: RecordBlock) -> None:
        """Queue the records of a RecordBlock (documents and hashes already computed); same
        result as :meth:`add` of each record."""
        prefix = f"value.batch.{self.batch_key}.{block.type}."
        scope = block.scope
        pending = self._pending
        for key, document, digest in zip(block.keys, block.documents, block.hashes, strict=True):
            path = prefix + digest
            entry = pending.get(key)
            if entry is None:
                entry = pending[key] = {"value.key": key, "value.scope": scope}
            if path not in entry:
                self._pending_records += 1
            entry[path] = document
            if self._pending_records >= self.flush_records:
                self.flush()

    def flush(self) -> None:
        """Write the buffer with one unordered bulk upsert; raises :class:`StagingWriteError`."""
        if not self._pending:
            return
        ops = [UpdateOne({"_id": imported_data_id(self.batch_key, key)}, {"$set": sets}, upsert=True)
               for key, sets in self._pending.items()]
        try:
            result = self.collection.bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            raise StagingWriteError(_describe_bulk_error(exc, "ImportedData")) from None
        self.documents_touched += result.upserted_count + result.modified_count
        self.records_added += self._pending_records
        self._pending.clear()
        self._pending_records = 0


@dataclass
class QuarantineWriter:
    """Keeps every rejected line of a batch: ``{batch, file, type, line, reason}``."""

    collection: Collection
    batch_key: str
    flush_lines: int = 1_000
    lines_written: int = 0
    _pending: list[ReplaceOne] = field(default_factory=list)

    def add(self, path: str, file_type: str, line: int, reasons: list[str]) -> None:
        """Queue the rejected ``line`` (its line in the file, header = line 1) of ``path`` with its reasons."""
        digest = hashlib.blake2b(path.encode(), digest_size=8).hexdigest()
        doc = {"_id": f"{self.batch_key}:{file_type}:{digest}:{line}", "batch": self.batch_key, "file": path,
               "type": file_type, "line": line, "reason": "; ".join(reasons)}
        self._pending.append(ReplaceOne({"_id": doc["_id"]}, doc, upsert=True))
        if len(self._pending) >= self.flush_lines:
            self.flush()

    def flush(self) -> None:
        """Write the queued lines (replacing those of an earlier run of the same import)."""
        if not self._pending:
            return
        try:
            self.collection.bulk_write(self._pending, ordered=False)
        except BulkWriteError as exc:
            raise StagingWriteError(_describe_bulk_error(exc, "Quarantine")) from None
        self.lines_written += len(self._pending)
        self._pending.clear()


def _describe_bulk_error(exc: BulkWriteError, collection: str) -> str:
    errors = exc.details.get("writeErrors", [])
    keys = ", ".join(str(e.get("op", {}).get("q", {}).get("_id", "?")) for e in errors[:3])
    first = errors[0].get("errmsg", "") if errors else str(exc)
    return f"{len(errors)} write(s) to {collection} failed (first keys: {keys}): {first[:200]}"

