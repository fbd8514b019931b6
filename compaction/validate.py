"""``sf validate``: the records of ImportedData or RawData that violate their schema.

Each stored type has the pydantic record model of its parser (``sf.importers.<file_type>``;
admin_urssaf's records are stored as type ``compte``): :func:`record_models` maps stored type
names to models. A record is valid when ``Model.model_validate(record, strict=True)`` accepts
it — strict, because a stored record is the parser's own output: a number stored as a string
is a defect, not something to coerce.

What is checked, per document (:func:`validate_document`, pure):

* the entity: ``value.key`` / ``value.scope`` (14-digit SIRET for ``etablissement``, 9-digit
  SIREN for ``entreprise``), ``_id`` equal to ``value.key`` in RawData;
* every batch entry and type entry is a document — a ``null``/``undefined`` type entry is
  reported, as the original's ``detect_invalid_entries`` pipeline did (such entries crashed
  its compaction);
* every type is known; ``compact`` and ``reporder`` are allowed in RawData only
  (``compact.delete`` must map types to lists of hashes; a ``reporder`` record needs a
  ``periode`` date, ``siret`` equal to the key, ``random_order`` in [0, 1]);
* every hash is lowercase hexadecimal, every record validates against its model;
* RawData documents written by ``sf compact`` (with ``value.state``): the stored live state
  equals the one rebuilt from the batch entries (what incremental compaction relies on).

Each violation is reported with the collection, key, batch, type, hash and the first error
(pydantic's first error: field path and message). The original printed one JSON line per
invalid entry and always exited 0; ``sf validate`` prints the same information, records the
counts in the Journal and exits 3 (bad input data) when any violation exists, so that a
script can stop before ``sf compact``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

from sf.engine.collections import IMPORTED_DATA, RAW_DATA
from sf.engine.partitions import KeyRange

from .errors import InvalidCompactionInputError
from .model import COMPACT, REPORDER, entity_key_problem
from .state import entry_deletions, live_state_of

COLLECTIONS: tuple[str, ...] = (IMPORTED_DATA, RAW_DATA)
_HASH = re.compile(r"^[0-9a-f]+$")


@dataclass(frozen=True)
class Violation:
    """One invalid entry. ``batch``, ``type`` and ``hash`` are None when the problem is at a
    higher level (the entity, the batch entry, the type entry)."""

    collection: str
    key: str | None
    batch: str | None
    type: str | None
    hash: str | None
    error: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=1)
def record_models() -> dict[str, type[BaseModel]]:
    """Stored type name → record model, from the parser registry (``sf.importers.registry``).

    The model of a source is the one :class:`sf.importers.records.SourceRecord` subclass its
    module defines; the stored type is the parser's ``tuple_type`` when it has one (``compte``
    for admin_urssaf), else its file type. Raises ``LookupError`` when a module defines none
    or several (the registry changed: this function must be told which model to use).
    """
    from sf.importers.records import SourceRecord
    from sf.importers.registry import FILE_TYPES, PARSERS

    models: dict[str, type[BaseModel]] = {}
    for file_type in FILE_TYPES:
        module = importlib.import_module(f"sf.importers.{file_type}")
        found = [c for c in vars(module).values() if inspect.isclass(c) and issubclass(c, SourceRecord)
                 and c is not SourceRecord and c.__module__ == module.__name__]
        if len(found) != 1:
            raise LookupError(f"sf.importers.{file_type} defines {len(found)} record models, expected one")
        stored_type = getattr(PARSERS[file_type], "tuple_type", None) or file_type
        models[stored_type] = found[0]
    return models


def first_error(exc: ValidationError) -> str:
    """``"field.path: message"`` of the first error of a pydantic validation error."""
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "record"
    return f"{where}: {error['msg']}"


def _reporder_problem(record: Any, key: str) -> str | None:
    if not isinstance(record, Mapping):
        return f"must be a document, got {type(record).__name__}"
    if not isinstance(record.get("periode"), datetime):
        return "periode: must be a date"
    if record.get("siret") != key:
        return f"siret: must be the entity key {key}, got {record.get('siret')!r}"
    value = record.get("random_order")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        return f"random_order: must be a number in [0, 1], got {value!r}"
    return None


def validate_document(doc: Mapping[str, Any], collection: str,
                      models: Mapping[str, type[BaseModel]] | None = None) -> list[Violation]:
    """Every violation of one ImportedData or RawData document (see module docstring).

    ``models``: stored type → record model (default :func:`record_models`). Never raises for
    bad data: every problem is a :class:`Violation`. ``ValueError`` for an unknown collection.
    """
    if collection not in COLLECTIONS:
        raise ValueError(f"collection must be one of {COLLECTIONS}, got {collection!r}")
    models = record_models() if models is None else models
    raw = collection == RAW_DATA
    found: list[Violation] = []
    value = doc.get("value")
    if not isinstance(value, Mapping):
        return [Violation(collection, str(doc.get("_id")), None, None, None, "value: must be a document")]
    key = value.get("key")
    shown_key = key if isinstance(key, str) else str(doc.get("_id"))

    def report(batch: str | None, type_name: str | None, record_hash: str | None, error: str) -> None:
        found.append(Violation(collection, shown_key, batch, type_name, record_hash, error))

    problem = entity_key_problem(key, value.get("scope"))
    if problem:
        report(None, None, None, f"value.{problem}")
    if raw and doc.get("_id") != key:
        report(None, None, None, f"_id {doc.get('_id')!r} differs from value.key {key!r}")
    batches = value.get("batch")
    if not isinstance(batches, Mapping):
        report(None, None, None, "value.batch: must be a document")
        return found
    for batch_key in sorted(batches):
        entry = batches[batch_key]
        if not isinstance(entry, Mapping):
            report(batch_key, None, None, f"batch entry must be a document, got {_kind(entry)}")
            continue
        for type_name, records in entry.items():
            if type_name in (COMPACT, REPORDER) and not raw:
                report(batch_key, type_name, None, f"{type_name!r} is produced by compaction, not imported")
                continue
            if type_name == COMPACT:
                try:
                    entry_deletions(entry, f"batch {batch_key}")
                except InvalidCompactionInputError as exc:
                    report(batch_key, COMPACT, None, exc.reason)
                continue
            if not isinstance(records, Mapping):
                report(batch_key, type_name, None, f"type entry must map hashes to records, got {_kind(records)}")
                continue
            model = models.get(type_name)
            if model is None and type_name != REPORDER:
                report(batch_key, type_name, None, "unknown type: no record model")
                continue
            for record_hash, record in records.items():
                if type_name == REPORDER:
                    problem = _reporder_problem(record, shown_key)
                    if problem:
                        report(batch_key, type_name, record_hash, problem)
                    continue
                if not _HASH.match(record_hash):
                    report(batch_key, type_name, record_hash, "hash: must be lowercase hexadecimal")
                if not isinstance(record, Mapping):
                    report(batch_key, type_name, record_hash, f"record must be a document, got {_kind(record)}")
                    continue
                try:
                    model.model_validate(record, strict=True)  # type: ignore[union-attr]
                except ValidationError as exc:
                    report(batch_key, type_name, record_hash, first_error(exc))
    if raw and "state" in value and not found:
        try:
            rebuilt = live_state_of(value)
        except InvalidCompactionInputError as exc:
            report(None, "state", None, f"cannot rebuild the state: {exc.reason}")
        else:
            if rebuilt != value.get("state"):
                report(value.get("state_batch"), "state", None,
                       "value.state differs from the state rebuilt from the batch entries")
    return found


def _kind(value: Any) -> str:
    return "null/undefined" if value is None else type(value).__name__


def count_records(doc: Mapping[str, Any]) -> int:
    """Number of records (hash entries of data types) in a document, for the summary."""
    total = 0
    for entry in ((doc.get("value") or {}).get("batch") or {}).values():
        if isinstance(entry, Mapping):
            for type_name, records in entry.items():
                if type_name not in (COMPACT, REPORDER) and isinstance(records, Mapping):
                    total += len(records)
    return total


@dataclass
class ValidationResult:
    """Counts and the first ``limit`` violations of a collection (or a range of it)."""

    collection: str
    documents: int = 0
    records: int = 0
    violation_count: int = 0
    violations: list[Violation] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "documents": self.documents, "records": self.records,
                "violation_count": self.violation_count,
                "violations": [v.as_dict() for v in self.violations or []]}


def validate_documents(docs: Iterable[Mapping[str, Any]], collection: str, limit: int | None = None) -> ValidationResult:
    """Validate ``docs``; keep at most ``limit`` violations (None: all), count them all."""
    result = ValidationResult(collection, violations=[])
    models = record_models()
    for doc in docs:
        result.documents += 1
        result.records += count_records(doc)
        for violation in validate_document(doc, collection, models):
            result.violation_count += 1
            if limit is None or len(result.violations) < limit:  # type: ignore[arg-type]
                result.violations.append(violation)  # type: ignore[union-attr]
    return result


def key_field(collection: str) -> str:
    """The field key ranges are taken on: ``value.key`` (indexed) in ImportedData, ``_id`` in RawData."""
    return "value.key" if collection == IMPORTED_DATA else "_id"


def validate_range(uri: str, db_name: str, collection: str, limit: int | None, key_range: KeyRange) -> dict[str, Any]:
    """Dask task: validate the documents of one key range; returns :meth:`ValidationResult.as_dict`."""
    from sf.engine.cluster import worker_database

    db = worker_database(uri, db_name)
    return validate_documents(db[collection].find(key_range.filter(key_field(collection))), collection,
                              limit).as_dict()


def merge_results(collection: str, parts: Iterable[Mapping[str, Any]], limit: int | None) -> ValidationResult:
    """Add up range results (in key order of their violations), keeping ``limit`` violations."""
    total = ValidationResult(collection, violations=[])
    every: list[Violation] = []
    for part in parts:
        total.documents += part["documents"]
        total.records += part["records"]
        total.violation_count += part["violation_count"]
        every.extend(Violation(**v) for v in part["violations"])
    every.sort(key=lambda v: (v.key or "", v.batch or "", v.type or "", v.hash or ""))
    total.violations = every if limit is None else every[:limit]
    return total


def iter_violation_lines(result: ValidationResult) -> Iterator[dict[str, Any]]:
    """The violations in the original's JSON-lines spirit: ``{_id, batchKey, dataType, dataHash, error}``."""
    for v in result.violations or []:
        yield {"_id": v.key, "batchKey": v.batch, "dataType": v.type, "dataHash": v.hash, "error": v.error}


#: Collections up to this size are validated in the calling process (a Dask cluster costs
#: seconds to start); larger ones get one Dask task per key range.
IN_PROCESS_MAX_DOCUMENTS = 20_000


def run_validation(store: Any, collection: str, *, limit: int | None = 1_000, workers: int | None = None,
                   scheduler: str | None = None, partitions: int | None = None,
                   silent: bool = False) -> ValidationResult:
    """Validate a whole collection of ``store`` (see module docstring).

    Runs in this process when ``workers == 1`` or the collection is small, else one Dask task
    per key range. Raises ``UsageError`` for an unknown collection, :class:`SfError` naming
    the failed ranges when tasks fail.
    """
    from sf.engine.errors import SfError, UsageError

    if collection not in COLLECTIONS:
        raise UsageError(f"--collection {collection!r}: expected one of {', '.join(COLLECTIONS)}")
    db = store.db
    size = db[collection].count_documents({})
    if workers == 1 or (scheduler is None and store.settings.dask_scheduler is None
                        and size <= IN_PROCESS_MAX_DOCUMENTS):
        part = validate_range(store.uri, store.settings.db_name, collection, limit, KeyRange(None, None))
        return merge_results(collection, [part], limit)
    from sf.engine.cluster import run_over_ranges

    outcome = run_over_ranges(store, validate_range, store.uri, store.settings.db_name, collection, limit,
                              sources=[(db[collection], key_field(collection))], partitions=partitions,
                              workers=workers, scheduler=scheduler, label="validate", silent=silent)
    if outcome.errors:
        raise SfError(f"validation failed: {outcome.failure_message()}")
    return merge_results(collection, outcome.results.values(), limit)
