"""State of an entity after a batch, rebuilt from its RawData batch entries (the original's ``flatten``).

A RawData batch entry holds what the batch added (``{type: {hash: record}}``) plus, under
``compact.delete``, the hashes it removed (``{type: [hash, ...]}``), plus ``reporder``
entries (``{month_key: {periode, siret, random_order}}``, etablissements only).

Two views of the state:

* :func:`rebuild_state` — ``{type: {hash: record}}``: fold the entries in batch-key order; for
  each entry delete the hashes of ``compact.delete`` first, then add its records (docs/compaction.md §3.5).
  ``reporder`` is folded like a type, as the original's ``currentState`` did.
* :func:`live_state` — the compact form stored in ``value.state``: ``{type: sorted hashes}``;
  for ``reporder`` the sorted ISO months (``"2014-01-01"``) of the ``periode`` of its records,
  so that legacy entries keyed by a JavaScript date string count for their month.

Empty types are left out of both. A type entry whose value is ``None`` (BSON ``undefined`` /
``null``, vector T7) holds no record and is skipped; any other non-mapping value raises
:class:`InvalidCompactionInputError` naming the entity, batch and type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from .errors import InvalidCompactionInputError
from .model import COMPACT, REPORDER, month_key

#: ``{type: sorted list of live hashes}``; ``reporder`` maps to sorted month keys.
LiveState = dict[str, list[str]]


def iter_entry_types(entry: Mapping[str, Any], where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield ``(type, {hash: record})`` for every type of a batch entry except ``compact``
    (``reporder`` included). ``where`` names the entry in error messages."""
    if not isinstance(entry, Mapping):
        raise InvalidCompactionInputError(where, f"batch entry must be a document, got {type(entry).__name__}")
    for type_name, records in entry.items():
        if type_name == COMPACT or records is None:
            continue
        if not isinstance(records, Mapping):
            raise InvalidCompactionInputError(
                where, f"type {type_name!r} must map hashes to records, got {type(records).__name__}")
        yield type_name, records


def entry_deletions(entry: Mapping[str, Any], where: str) -> Mapping[str, Sequence[str]]:
    """``compact.delete`` of a batch entry as ``{type: [hash, ...]}`` (empty if absent)."""
    compact = entry.get(COMPACT)
    if compact is None:
        return {}
    deletions = compact.get("delete") if isinstance(compact, Mapping) else None
    if deletions is None:
        if isinstance(compact, Mapping):
            return {}
        raise InvalidCompactionInputError(where, "compact must be a document")
    if not isinstance(deletions, Mapping) or not all(
            isinstance(v, Sequence) and not isinstance(v, str) for v in deletions.values()):
        raise InvalidCompactionInputError(where, "compact.delete must map types to lists of hashes")
    return deletions


def rebuild_state(rawdata_value: Mapping[str, Any], until_batch: str | None = None) -> dict[str, dict[str, Any]]:
    """State ``{type: {hash: record}}`` after batch ``until_batch`` (after the last one if None).

    Input: the ``value`` of a RawData document (only ``batch`` and ``key`` are read). The
    records are the stored objects themselves, not copies. Raises
    :class:`InvalidCompactionInputError` on a malformed entry.
    """
    batches = rawdata_value.get("batch") or {}
    if not isinstance(batches, Mapping):
        raise InvalidCompactionInputError(f"RawData {rawdata_value.get('key')!r}", "value.batch must be a document")
    state: dict[str, dict[str, Any]] = {}
    for batch_key in sorted(batches):
        if until_batch is not None and batch_key > until_batch:
            break
        entry = batches[batch_key]
        where = f"RawData {rawdata_value.get('key')!r} batch {batch_key}"
        if entry is None:
            continue
        if not isinstance(entry, Mapping):
            raise InvalidCompactionInputError(where, f"batch entry must be a document, got {type(entry).__name__}")
        for type_name, hashes in entry_deletions(entry, where).items():
            live = state.get(type_name)
            if live:
                for record_hash in hashes:
                    live.pop(record_hash, None)
        for type_name, records in iter_entry_types(entry, where):
            state.setdefault(type_name, {}).update(records)
    return {t: records for t, records in state.items() if records}


def reporder_month(record: Any, where: str) -> str:
    """Month key of a ``reporder`` record, from its ``periode``."""
    periode = record.get("periode") if isinstance(record, Mapping) else None
    if not isinstance(periode, datetime):
        raise InvalidCompactionInputError(where, f"reporder record without a periode date: {record!r}")
    return month_key(periode)


def live_state(state: Mapping[str, Mapping[str, Any]], where: str = "RawData") -> LiveState:
    """Compact form of a rebuilt state: ``{type: sorted hashes}``, ``reporder`` as sorted months."""
    live: LiveState = {}
    for type_name in sorted(state):
        records = state[type_name]
        if not records:
            continue
        if type_name == REPORDER:
            live[type_name] = sorted({reporder_month(r, where) for r in records.values()})
        else:
            live[type_name] = sorted(records)
    return live


def live_state_of(rawdata_value: Mapping[str, Any], until_batch: str | None = None) -> LiveState:
    """:func:`live_state` of :func:`rebuild_state` for a RawData ``value``."""
    return live_state(rebuild_state(rawdata_value, until_batch), f"RawData {rawdata_value.get('key')!r}")
