"""``sf rawdata show``: the history and rebuilt state of one entity, for a person debugging a case.

:func:`describe_entity` (pure) turns a RawData document into an :class:`EntityView`:

* ``history``: one line per batch entry, in batch order, with the records it added and the
  hashes it deleted per type, and its number of ``reporder`` months;
* ``state``: :func:`sf.compaction.state.rebuild_state` of the document up to ``at_batch``
  (after the last entry when None), ``{type: {hash: record}}``, with counts per type;
* ``stored_state_ok``: whether the stored ``value.state`` (written by ``sf compact``) equals the
  state rebuilt from the entries (None for a legacy document without it, or when ``at_batch``
  stops before the last entry).

:func:`record_rows` lays out the records of one type as table rows (sorted by their first
date field, then hash) for the readable output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .model import REPORDER
from .state import entry_deletions, iter_entry_types, live_state, rebuild_state


@dataclass
class BatchLine:
    """What one batch entry did: ``added`` / ``deleted`` record counts per type, ``reporder`` months."""

    batch: str
    added: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    reporder: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "added": self.added, "deleted": self.deleted, "reporder": self.reporder}


@dataclass
class EntityView:
    """One entity as :func:`describe_entity` shows it (see module docstring)."""

    key: str
    scope: str | None
    algo2: bool | None
    state_batch: str | None
    at_batch: str | None
    history: list[BatchLine]
    state: dict[str, dict[str, Any]]
    stored_state_ok: bool | None

    @property
    def counts(self) -> dict[str, int]:
        """Number of live records per type (``reporder`` included) in ``state``."""
        return {t: len(records) for t, records in sorted(self.state.items())}

    def as_dict(self, with_records: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "scope": self.scope, "algo2": self.algo2,
                               "state_batch": self.state_batch, "at_batch": self.at_batch,
                               "stored_state_ok": self.stored_state_ok,
                               "history": [line.as_dict() for line in self.history], "counts": self.counts}
        if with_records:
            out["state"] = self.state
        return out


def describe_entity(doc: Mapping[str, Any], at_batch: str | None = None) -> EntityView:
    """The :class:`EntityView` of a RawData document. ``history`` stops at ``at_batch`` too.

    Raises :class:`sf.compaction.errors.InvalidCompactionInputError` naming the key and batch
    when an entry is malformed (``sf validate --collection RawData`` lists every such problem).
    """
    value = doc.get("value") or {}
    key = str(value.get("key", doc.get("_id")))
    batches = value.get("batch") or {}
    history: list[BatchLine] = []
    for batch_key in sorted(batches):
        if at_batch is not None and batch_key > at_batch:
            break
        entry = batches[batch_key] or {}
        where = f"RawData {key!r} batch {batch_key}"
        line = BatchLine(batch_key)
        for type_name, records in iter_entry_types(entry, where):
            if type_name == REPORDER:
                line.reporder = len(records)
            elif records:
                line.added[type_name] = len(records)
        for type_name, hashes in entry_deletions(entry, where).items():
            if hashes:
                line.deleted[type_name] = len(hashes)
        history.append(line)
    state = rebuild_state(value, at_batch)
    stored = value.get("state")
    last = max(batches) if batches else None
    checks_stored = isinstance(stored, Mapping) and (at_batch is None or last is None or at_batch >= last)
    ok = live_state(state, f"RawData {key!r}") == stored if checks_stored else None
    index = value.get("index")
    return EntityView(key=key, scope=value.get("scope"),
                      algo2=index.get("algo2") if isinstance(index, Mapping) else None,
                      state_batch=value.get("state_batch"), at_batch=at_batch, history=history, state=state,
                      stored_state_ok=ok)


def _sort_key(item: tuple[str, Any]) -> tuple[Any, ...]:
    record_hash, record = item
    if isinstance(record, Mapping):
        for value in record.values():
            if isinstance(value, datetime):
                return (0, value.isoformat(), record_hash)
            if isinstance(value, Mapping) and isinstance(value.get("start"), datetime):
                return (0, value["start"].isoformat(), record_hash)
    return (1, "", record_hash)


def record_rows(records: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """``(columns, rows)`` for the records of one type: ``hash`` then every field seen (in
    first-seen order); rows sorted by the first date of each record, then hash. Nested
    documents (e.g. ``periode: {start, end}``) are shown as ``start → end``."""
    columns: list[str] = []
    for record in records.values():
        if isinstance(record, Mapping):
            for name in record:
                if name not in columns:
                    columns.append(name)
    rows = []
    for record_hash, record in sorted(records.items(), key=_sort_key):
        record = record if isinstance(record, Mapping) else {}
        rows.append([record_hash, *(_cell(record.get(name)) for name in columns)])
    return ["hash", *columns], rows


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date().isoformat() if (value.hour, value.minute, value.second) == (0, 0, 0) else value.isoformat()
    if isinstance(value, Mapping) and set(value) == {"start", "end"}:
        return f"{_cell(value['start'])} → {_cell(value['end'])}"
    if value is None:
        return ""
    return value


__all__ = ["BatchLine", "EntityView", "describe_entity", "record_rows"]
