"""Incremental compaction: one new month read and written through a projection and a ``$set``.

Compacting the usual new batch must not read and rewrite whole histories (docs/README.md §1.1). The RawData document keeps, next to its history,
the entity's live state (``value.state``) and the key of its last entry
(``value.state_batch``). The I/O shell reads only :data:`HEAD_PROJECTION`, calls
:func:`compact_increment`, and sends ``{"$set": increment.set_fields}`` (upsert) when
``increment.changed``.

Applying the ``$set`` to the stored document gives exactly the document
:func:`sf.compaction.entity.compact_entity` would produce (same rules, same code:
:func:`sf.compaction.entity.replay_run`).

When to use the whole-document form instead (:func:`can_compact_incrementally` is False, or
:meth:`EntityHead.from_document` returns None):

* a document without ``state`` (written by the original system): read it whole once;
* a run that recomputes stored batches (``--since-batch`` at or before ``state_batch``) or
  imports data for an old batch (vector T9).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .entity import plan_run, replay_run
from .errors import DocumentTooLargeError, InvalidCompactionInputError
from .finalize import compute_algo2
from .imported import merge_imported_values
from .model import REPORDER, BatchInfo, Scope, entity_key_problem
from .size import DEFAULT_MAX_DOCUMENT_BYTES, document_size

#: Fields the shell reads for an incremental compaction.
HEAD_PROJECTION: dict[str, int] = {
    "value.key": 1, "value.scope": 1, "value.state": 1, "value.state_batch": 1, "value.index.algo2": 1,
}


@dataclass(frozen=True, slots=True)
class EntityHead:
    """What incremental compaction needs of a stored RawData document."""

    key: str
    scope: Scope
    state: Mapping[str, Sequence[str]]
    state_batch: str
    algo2: bool

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> EntityHead | None:
        """Head of a RawData document read with :data:`HEAD_PROJECTION` (or whole).

        Returns ``None`` when the document has no ``state``/``state_batch``/``index.algo2``
        (legacy): compact it with ``compact_entity``. Raises
        :class:`InvalidCompactionInputError` when those fields are malformed.
        """
        value = doc.get("value")
        where = f"RawData document {doc.get('_id')!r}"
        if not isinstance(value, Mapping):
            raise InvalidCompactionInputError(where, "value must be a document")
        state, state_batch = value.get("state"), value.get("state_batch")
        algo2 = (value.get("index") or {}).get("algo2")
        if state is None or state_batch is None or algo2 is None:
            return None
        key, scope = value.get("key"), value.get("scope")
        problem = entity_key_problem(key, scope)
        if problem:
            raise InvalidCompactionInputError(where, f"value.{problem}")
        if not isinstance(state, Mapping) or not all(
                isinstance(h, list) and all(isinstance(x, str) for x in h) for h in state.values()):
            raise InvalidCompactionInputError(where, "value.state must map types to lists of hashes")
        if not isinstance(state_batch, str) or not isinstance(algo2, bool):
            raise InvalidCompactionInputError(where, "value.state_batch must be a string, index.algo2 a boolean")
        return cls(key=key, scope=scope, state=state, state_batch=state_batch, algo2=algo2)


@dataclass(frozen=True, slots=True)
class Increment:
    """Result of :func:`compact_increment` for one entity.

    ``set_fields``: the ``$set`` document (dotted paths), empty when nothing changes.
    ``head``: the entity's head after the update (None if it still has no document).
    ``added`` / ``deleted``: records added / deleted by the run. ``new_batches``: keys of
    the batch entries created.
    """

    key: str
    set_fields: dict[str, Any]
    head: EntityHead | None
    added: int
    deleted: int
    new_batches: tuple[str, ...]

    @property
    def changed(self) -> bool:
        """True if the document must be written."""
        return bool(self.set_fields)


def can_compact_incrementally(head: EntityHead | None, batch_keys: Iterable[str]) -> bool:
    """True if every batch of the run and of the entity's imported data comes after its last
    stored entry (always true for an entity without document)."""
    return head is None or all(b > head.state_batch for b in batch_keys)


def compact_increment(head: EntityHead | None, imported_values: Iterable[Mapping[str, Any]],
                      batches: Mapping[str, BatchInfo], *, run_batches: Iterable[str] | None = None,
                      stored_size: int | None = None,
                      max_document_bytes: int | None = DEFAULT_MAX_DOCUMENT_BYTES) -> Increment:
    """Compact the run batches for one entity from its head.

    Inputs: ``head`` (None: the entity has no RawData document), its ImportedData values,
    every Admin batch, the run's batches (default: the batches its data names; pass the
    run's batches for an entity visited because of a ``stock_absent="delete"`` batch), and
    optionally the stored document's BSON size.

    Size guard (:class:`DocumentTooLargeError`): the BSON size of the ``$set`` payload, plus
    ``stored_size`` when given (an upper bound of the new size), must not pass
    ``max_document_bytes``. For a new entity the payload is the whole document; for an
    existing one without ``stored_size`` only the payload is checked, so the shell should
    pass ``stored_size`` (e.g. projected with ``{"$bsonSize": "$$ROOT"}``).

    Raises ``ValueError`` when a batch is not after ``head.state_batch`` (use
    ``compact_entity``) or when there is neither head nor imported value, plus the errors of
    :func:`sf.compaction.entity.compact_entity`.
    """
    merged = merge_imported_values(imported_values)
    if head is not None:
        key, scope = head.key, head.scope
        if merged is not None and merged[:2] != (key, scope):
            raise InvalidCompactionInputError(
                f"ImportedData value of {merged[0]!r}", f"does not belong to RawData document {key!r} ({scope})")
    elif merged is not None:
        key, scope = merged[0], merged[1]
    else:
        raise ValueError("compact_increment: no head and no imported value")
    deliveries = merged[2] if merged is not None else {}
    _, run = plan_run(deliveries, batches, key, None, run_batches)
    if not can_compact_incrementally(head, set(run) | set(deliveries)):
        raise ValueError(f"entity {key}: batches {sorted(set(run) | set(deliveries))} are not all after its last "
                         f"entry {head.state_batch if head else None}; use compact_entity")

    outcome = replay_run(key, scope, head.state if head else {}, head.state_batch if head else None,
                         deliveries, run, batches)
    new_batches = tuple(outcome.new_entries)
    if not new_batches and not outcome.earlier_reporder:
        return Increment(key, {}, head, outcome.added, outcome.deleted, ())

    set_fields: dict[str, Any] = {}
    if head is None:
        set_fields["value.key"] = key
        set_fields["value.scope"] = scope
    for batch_key, entry in outcome.new_entries.items():
        set_fields[f"value.batch.{batch_key}"] = entry
    if outcome.earlier_reporder:
        assert head is not None  # replay_run only defers months to an entry that existed before
        for month, record in outcome.earlier_reporder.items():
            set_fields[f"value.batch.{head.state_batch}.{REPORDER}.{month}"] = record
    state_batch = max(new_batches) if new_batches else head.state_batch  # type: ignore[union-attr]
    algo2 = (head is not None and head.algo2) or compute_algo2(scope, outcome.new_entries)
    if head is None or outcome.state != dict(head.state):
        set_fields["value.state"] = outcome.state
    if head is None or state_batch != head.state_batch:
        set_fields["value.state_batch"] = state_batch
    if head is None or algo2 != head.algo2:
        set_fields["value.index.algo2"] = algo2

    if max_document_bytes is not None:
        size = document_size({"_id": key, "value": set_fields}) + (stored_size or 0)
        if size > max_document_bytes:
            raise DocumentTooLargeError(key, size, max_document_bytes)
    new_head = EntityHead(key=key, scope=scope, state=outcome.state, state_batch=state_batch, algo2=algo2)
    return Increment(key, set_fields, new_head, outcome.added, outcome.deleted, new_batches)
