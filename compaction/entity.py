"""``compact_entity``: merge an entity's new deliveries into its RawData document (pure, no I/O).

Document shape written (docs/compaction.md §2.4, with our additions ``state`` and ``state_batch``)::

    {"_id": key, "value": {
        "key": key, "scope": "etablissement" | "entreprise",
        "batch": {batch_key: {type: {hash: record},
                              "compact": {"delete": {type: [hash, ...]}},
                              "reporder": {"2014-01-01": {"periode": datetime, "siret": key,
                                                          "random_order": float}}}},
        "index": {"algo2": bool},
        "state": {type: [live hashes, sorted], "reporder": [months covered, sorted]},
        "state_batch": <key of the last batch entry>}}

``state`` is the live state after the last entry (what :func:`sf.compaction.state.live_state_of`
rebuilds from the entries); it lets the I/O shell compact the next month from a projection
(:mod:`sf.compaction.incremental`) instead of reading the whole history.

Rules, for a run that compacts batches ``since_batch`` (K) and later:

1. Every batch key used by the imported data or the run must be defined (``batches``), else
   :class:`UnknownBatchError` and nothing is produced (vector T10; the original dropped the data).
2. Stored entries ≥ K are recomputed from this run's deliveries, so each of them must belong
   to a batch delivered again in this run (``run_batches``), else :class:`NotReimportedError`
   (the original re-diffed stored diffs, which is lossy: T15, T16). Entries < K are kept as
   they are.
3. Imported data of a batch < K is merged into that stored entry as is, without
   deduplication against earlier batches (vector T9, as the original).
4. The live state is rebuilt from the entries < K, then every run batch is diffed in key
   order (:func:`sf.compaction.diff.compact_batch`): the entity's delivery, or its absence.
5. ``reporder`` (etablissements): after a run batch that delivers the entity or changes it,
   the months of that batch's ``serie_periode`` not yet covered are added to that batch's
   entry, or, when the batch left no entry, to the last entry before it (the original's
   "last batch" rule); an entity with no entry at all gets an entry holding only them (the
   original's new-entity case, ``tests/test.sh``). Each month appears once in the document.
6. ``index.algo2`` as in :func:`sf.compaction.finalize.compute_algo2`.

The result depends only on the deliveries of each batch, not on how batches were grouped
into runs or re-compacted; compacting again with nothing new returns the same document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .diff import compact_batch
from .errors import InvalidCompactionInputError, NotReimportedError, UnknownBatchError
from .finalize import compute_algo2
from .imported import Deliveries, merge_imported_values
from .model import (
    COMPACT,
    REPORDER,
    RESERVED_ENTRY_KEYS,
    BatchInfo,
    Scope,
    entity_key_problem,
)
from .reporder import reporder_record
from .size import DEFAULT_MAX_DOCUMENT_BYTES, check_document_size
from .state import LiveState, live_state, rebuild_state


@dataclass
class RunOutcome:
    """What replaying the run batches produced for one entity.

    ``new_entries``: entries of run batches, in key order. ``earlier_reporder``: reporder
    entries to add to the last entry that existed before the run. ``state``: live state after
    the run. ``added`` / ``deleted``: numbers of records added and deleted.
    """

    new_entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    earlier_reporder: dict[str, dict[str, Any]] = field(default_factory=dict)
    state: LiveState = field(default_factory=dict)
    added: int = 0
    deleted: int = 0


def replay_run(key: str, scope: Scope, state: Mapping[str, Sequence[str]], last_entry_key: str | None,
               deliveries: Mapping[str, Mapping[str, Any]], run: Sequence[str],
               batches: Mapping[str, BatchInfo]) -> RunOutcome:
    """Diff the run batches (sorted, all after ``last_entry_key``) in order, then place the
    reporder months (rule 5 of the module docstring). Shared by the whole-document and the
    incremental forms, so both apply exactly the same rules."""
    outcome = RunOutcome(state=dict(state))  # type: ignore[arg-type]
    current: LiveState = outcome.state
    for batch_key in run:
        info = batches[batch_key]
        delivery = deliveries.get(batch_key)
        entry, current = compact_batch(current, batch_key, delivery, info)
        if entry is not None:
            outcome.new_entries[batch_key] = entry
            for type_name, records in entry.items():
                if type_name not in RESERVED_ENTRY_KEYS:
                    outcome.added += len(records)
            for hashes in entry.get(COMPACT, {}).get("delete", {}).values():
                outcome.deleted += len(hashes)
        touched = delivery is not None or entry is not None
        if scope != "etablissement" or not touched or not info.serie_periode:
            continue
        covered = set(current.get(REPORDER, ()))
        missing = [(m, p) for m, p in zip(info.month_keys, info.serie_periode, strict=True) if m not in covered]
        if not missing:
            continue
        records = {m: reporder_record(key, p) for m, p in missing}
        if entry is not None:
            target: str | None = batch_key
        elif outcome.new_entries:
            target = max(outcome.new_entries)
        elif last_entry_key is not None:
            target = None
        else:
            outcome.new_entries[batch_key] = {}
            target = batch_key
        if target is None:
            outcome.earlier_reporder.update(records)
        else:
            target_entry = outcome.new_entries[target]
            target_entry[REPORDER] = {**target_entry.get(REPORDER, {}), **records}
        current = {**current, REPORDER: sorted(covered.union(records))}
    outcome.state = {t: current[t] for t in sorted(current)}
    return outcome


def _existing_identity(existing_doc: Mapping[str, Any]) -> tuple[str, Scope, Mapping[str, Any]]:
    value = existing_doc.get("value")
    where = f"RawData document {existing_doc.get('_id')!r}"
    if not isinstance(value, Mapping):
        raise InvalidCompactionInputError(where, "value must be a document")
    key, scope = value.get("key"), value.get("scope")
    problem = entity_key_problem(key, scope)
    if problem:
        raise InvalidCompactionInputError(where, f"value.{problem}")
    if existing_doc.get("_id", key) != key:
        raise InvalidCompactionInputError(where, f"_id differs from value.key {key!r}")
    batch = value.get("batch") or {}
    if not isinstance(batch, Mapping):
        raise InvalidCompactionInputError(where, "value.batch must be a document")
    return key, scope, batch


def _merge_old_batch(entry: Mapping[str, Any] | None, delivery: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Vector T9: imported records of a batch < since-batch join its stored entry as they are;
    on a hash present in both the stored record is kept (the original's pass-2 merge order)."""
    merged = dict(entry or {})
    for type_name, records in delivery.items():
        stored = merged.get(type_name)
        merged[type_name] = {**records, **stored} if isinstance(stored, Mapping) else dict(records)
    return merged


def plan_run(deliveries: Mapping[str, Any], batches: Mapping[str, BatchInfo], key: str,
             since_batch: str | None, run_batches: Iterable[str] | None) -> tuple[str | None, list[str]]:
    """Check batch keys and return ``(K, sorted run batches)``.

    ``K`` defaults to the smallest run or delivered batch (None when there is neither). Run
    batches default to the delivered batches ≥ K. Raises :class:`UnknownBatchError` for a
    batch (delivered, of the run, or K) not in ``batches``; ``ValueError`` for a run batch
    < K or a delivered batch ≥ K outside the run.
    """
    for batch_key in sorted(deliveries):
        if batch_key not in batches:
            raise UnknownBatchError(batch_key, key)
    if since_batch is not None and since_batch not in batches:
        raise UnknownBatchError(since_batch, None, "--since-batch")
    explicit_run = None if run_batches is None else set(run_batches)
    for batch_key in sorted(explicit_run or ()):
        if batch_key not in batches:
            raise UnknownBatchError(batch_key, None, "run")
    candidates = set(deliveries) | (explicit_run or set())
    since = since_batch if since_batch is not None else (min(candidates) if candidates else None)
    if since is None:
        return None, []
    if explicit_run is None:
        run = sorted(b for b in deliveries if b >= since)
    else:
        too_old = sorted(b for b in explicit_run if b < since)
        if too_old:
            raise ValueError(f"run batches {too_old} are before since-batch {since}")
        outside = sorted(b for b in deliveries if b >= since and b not in explicit_run)
        if outside:
            raise ValueError(f"entity {key}: imported data for batches {outside} that are not part of the run")
        run = sorted(explicit_run)
    return since, run


def compact_entity(existing_doc: Mapping[str, Any] | None, imported_values: Iterable[Mapping[str, Any]],
                   batches: Mapping[str, BatchInfo], *, since_batch: str | None = None,
                   run_batches: Iterable[str] | None = None,
                   max_document_bytes: int | None = DEFAULT_MAX_DOCUMENT_BYTES) -> dict[str, Any] | None:
    """Compact one entity; see the module docstring for the rules.

    Inputs:

    * ``existing_doc``: its RawData document (``{"_id", "value"}``), legacy or ours, or None;
    * ``imported_values``: its ImportedData ``value`` dicts, any number, any order;
    * ``batches``: every batch defined in Admin, ``{batch_key: BatchInfo}``;
    * ``since_batch``: K, the first batch to (re)compute (default: the smallest run or
      delivered batch);
    * ``run_batches``: the batches this run delivers, at batch level (default: those the
      entity's imported data names, ≥ K). The shell must pass the run's batches when it
      visits an entity absent from some of them, so that a ``stock_absent="delete"`` batch
      applies to it;
    * ``max_document_bytes``: BSON size limit (None: no check).

    Output: the new RawData document, or ``None`` when the entity has no batch entry (the
    shell then deletes any stored document). ``value`` is rebuilt with the fields above only
    (a legacy document's other fields are not kept). Inputs are not modified; records are
    shared with them.

    Raises :class:`UnknownBatchError` (T10), :class:`NotReimportedError`,
    :class:`InvalidCompactionInputError`, :class:`DocumentTooLargeError`, or ``ValueError``
    for inconsistent arguments (no data at all, run batches < K, imported batches outside
    the run) — in every case before producing anything.
    """
    merged = merge_imported_values(imported_values)
    stored: Mapping[str, Any] = {}
    if existing_doc is not None:
        key, scope, stored = _existing_identity(existing_doc)
        if merged is not None and merged[:2] != (key, scope):
            raise InvalidCompactionInputError(
                f"ImportedData value of {merged[0]!r}",
                f"does not belong to RawData document {key!r} ({scope}), scope {merged[1]}")
    elif merged is not None:
        key, scope = merged[0], merged[1]
    else:
        raise ValueError("compact_entity: no RawData document and no imported value")
    deliveries: Deliveries = merged[2] if merged is not None else {}

    since, run = plan_run(deliveries, batches, key, since_batch, run_batches)
    run_set = set(run)
    kept: dict[str, Any] = {}
    for batch_key in sorted(stored):
        if since is not None and batch_key >= since:
            if batch_key not in run_set:
                raise NotReimportedError(key, batch_key, since)
            continue
        # A legacy null entry (BSON undefined/null) holds nothing; {} keeps later $set paths valid.
        kept[batch_key] = {} if stored[batch_key] is None else stored[batch_key]
    for batch_key in sorted(deliveries):
        if since is not None and batch_key < since and (deliveries[batch_key] or batch_key in kept):
            kept[batch_key] = _merge_old_batch(kept.get(batch_key), deliveries[batch_key])

    state = live_state(rebuild_state({"key": key, "batch": kept}), f"RawData {key!r}")
    last_entry_key = max(kept) if kept else None
    outcome = replay_run(key, scope, state, last_entry_key, deliveries, run, batches)
    if outcome.earlier_reporder:
        assert last_entry_key is not None
        entry = dict(kept[last_entry_key])
        entry[REPORDER] = {**(entry.get(REPORDER) or {}), **outcome.earlier_reporder}
        kept[last_entry_key] = entry

    all_entries = {**kept, **outcome.new_entries}
    if not all_entries:
        return None
    batch = {b: all_entries[b] for b in sorted(all_entries)}
    doc = {"_id": key, "value": {
        "key": key,
        "scope": scope,
        "batch": batch,
        "index": {"algo2": compute_algo2(scope, batch)},
        "state": outcome.state,
        "state_batch": max(batch),
    }}
    if max_document_bytes is not None:
        check_document_size(doc, max_document_bytes, key)
    return doc
