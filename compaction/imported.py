"""Merge the ImportedData values of one entity into one delivery per batch.

An ImportedData ``value`` is ``{"key", "scope", "batch": {batch_key: {type: {hash: record}}}}``
(other fields, such as a stray ``index``, are ignored). The same entity may come in several
values, even for the same batch (the original's bug #215 lost all but the last one, vector
T6): they are merged per batch, type **and hash**. When two values carry the same hash for
the same batch and type, the later value's record is kept, as the original's import buffer
did; records with the same hash normally have the same content.

A type whose value is ``None`` (BSON ``undefined``/``null``, vector T7) holds no record and is
dropped; so is a batch whose value is ``None``. Failure modes, all
:class:`InvalidCompactionInputError` naming the entity and the offending key: values with
different keys or scopes, a malformed key for its scope, a reserved type (``compact``,
``reporder``), a type or record that is not a document, a hash that is not a string.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidCompactionInputError
from .model import RESERVED_ENTRY_KEYS, Scope, entity_key_problem

#: ``{batch_key: {type: {hash: record}}}`` for one entity.
Deliveries = dict[str, dict[str, dict[str, Any]]]


def merge_imported_values(values: Iterable[Mapping[str, Any]]) -> tuple[str, Scope, Deliveries] | None:
    """Merge the ImportedData ``value`` dicts of one entity.

    Returns ``(key, scope, {batch_key: {type: {hash: record}}})``, or ``None`` when
    ``values`` is empty. A batch present in some value is present in the result even if it
    brings no record: the entity is *delivered* in that batch (relevant for stock types).
    """
    key: str | None = None
    scope: str | None = None
    merged: Deliveries = {}
    for value in values:
        if not isinstance(value, Mapping):
            raise InvalidCompactionInputError("ImportedData value", f"must be a document, got {type(value).__name__}")
        value_key, value_scope = value.get("key"), value.get("scope")
        where = f"ImportedData value of {value_key!r}"
        if key is None:
            problem = entity_key_problem(value_key, value_scope)
            if problem:
                raise InvalidCompactionInputError(where, problem)
            key, scope = value_key, value_scope
        elif (value_key, value_scope) != (key, scope):
            raise InvalidCompactionInputError(
                where, f"cannot be merged with values of {key!r} ({scope}): got key {value_key!r} ({value_scope})")
        batches = value.get("batch")
        if not isinstance(batches, Mapping):
            raise InvalidCompactionInputError(where, "value.batch must be a document")
        for batch_key, types in batches.items():
            if not isinstance(batch_key, str):
                raise InvalidCompactionInputError(where, f"batch key {batch_key!r} is not a string")
            target = merged.setdefault(batch_key, {})
            if types is None:
                continue
            if not isinstance(types, Mapping):
                raise InvalidCompactionInputError(where, f"batch {batch_key} must be a document")
            for type_name, records in types.items():
                if type_name in RESERVED_ENTRY_KEYS:
                    raise InvalidCompactionInputError(
                        where, f"batch {batch_key}: {type_name!r} is produced by compaction, not imported")
                if records is None:
                    continue
                if not isinstance(records, Mapping):
                    raise InvalidCompactionInputError(
                        where, f"batch {batch_key} type {type_name!r} must map hashes to records")
                for record_hash, record in records.items():
                    if not isinstance(record_hash, str) or not isinstance(record, Mapping):
                        raise InvalidCompactionInputError(
                            where, f"batch {batch_key} type {type_name!r}: entry {record_hash!r} must be a "
                                   "string hash mapped to a record document")
                if records:
                    target.setdefault(type_name, {}).update(records)
    if key is None:
        return None
    return key, scope, merged  # type: ignore[return-value]
