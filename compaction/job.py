"""The compaction job: ImportedData + RawData → RawData, one Dask task per key range.

``plan_compaction`` decides what a run does (which batches, from which since-batch) and
refuses before anything is written when a batch is unknown to Admin (vector T10) or when a
stored batch ≥ since-batch would have to be recomputed without being re-imported (T15).

``compact_range`` is the task: it reads one key range of ImportedData (and the RawData
documents of the same keys), computes every entity with the pure functions of
:mod:`sf.compaction`, checks document sizes, and only then writes the changed documents
with one unordered bulk write. The usual new month goes through the incremental path: a
projection of the entity's head (live hashes) and a ``$set`` of the new batch entry, so
its cost does not grow with the length of the history (docs/README.md §1.1). Re-compactions, legacy
documents and crash restarts go through the whole-document path.

:mod:`sf.compaction.run` drives a run (Journal, lock, Dask, clearing ImportedData).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pymongo import DeleteOne, ReplaceOne, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from sf.engine.batches import Batch, batch_is_compacted, list_batches
from sf.engine.bulk import paused_gc
from sf.engine.cluster import worker_database
from sf.engine.collections import IMPORTED_DATA, RAW_DATA
from sf.engine.documents import unflatten
from sf.engine.errors import SfError, UsageError
from sf.engine.partitions import KeyRange

from .entity import compact_entity
from .errors import UnknownBatchError
from .incremental import HEAD_PROJECTION, EntityHead, can_compact_incrementally, compact_increment
from .model import COMPACT, RESERVED_ENTRY_KEYS, BatchInfo
from .size import DEFAULT_MAX_DOCUMENT_BYTES, document_size


@dataclass(frozen=True)
class CompactionPlan:
    """What one run compacts.

    ``run_batches``: the batches delivered in ImportedData that are ≥ ``since_batch``, in
    order; ``older_batches``: delivered batches < ``since_batch`` (merged into their stored
    entries as they are, vector T9); ``batches``: every Admin batch as :class:`BatchInfo`;
    ``recompute``: stored entries ≥ since-batch may exist (explicit --since-batch), so
    entities whose last entry is ≥ since-batch are visited even without new data;
    ``visit_all``: some run batch deletes the records of entities absent from its stock
    (``stock_absent="delete"``), so every RawData entity of a range is visited.
    """

    since_batch: str | None
    run_batches: tuple[str, ...]
    older_batches: tuple[str, ...]
    batches: Mapping[str, BatchInfo]
    recompute: bool
    visit_all: bool
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES

    @property
    def staged_batches(self) -> tuple[str, ...]:
        """Every batch whose ImportedData this run consumes."""
        return self.older_batches + self.run_batches


def imported_batch_keys(db: Database) -> list[str]:
    """Batch keys present in ImportedData (from the ``<batch>:<key>`` ids), in order."""
    keys: set[str] = set()
    for doc in db[IMPORTED_DATA].find({}, {"_id": 1}):
        keys.add(str(doc["_id"]).split(":", 1)[0])
    return sorted(keys)


def plan_compaction(db: Database, since_batch: str | None = None,
                    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> CompactionPlan:
    """Plan a run over what ImportedData holds (see :class:`CompactionPlan`).

    Raises :class:`UnknownBatchError` when ImportedData or ``since_batch`` names a batch that
    Admin does not define, :class:`UsageError` when a compacted batch ≥ ``since_batch`` is not
    re-imported, before anything is written.
    """
    admin: dict[str, Batch] = {b.key: b for b in list_batches(db)}
    staged = imported_batch_keys(db)
    for key in staged:
        if key not in admin:
            raise UnknownBatchError(key, None)
    if since_batch is not None and since_batch not in admin:
        raise UnknownBatchError(since_batch, None, "--since-batch")
    try:
        infos = {key: BatchInfo.from_admin(batch) for key, batch in admin.items()}
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    since = since_batch if since_batch is not None else (staged[0] if staged else None)
    run = tuple(b for b in staged if since is not None and b >= since)
    older = tuple(b for b in staged if since is not None and b < since)
    if since_batch is not None:
        missing = [k for k in admin if k >= since_batch and k not in run and batch_is_compacted(db, k)]
        if missing:
            raise UsageError(f"batch(es) {', '.join(missing)} are compacted and ≥ --since-batch {since_batch} "
                             "but not re-imported; nothing was compacted",
                             f"re-import them (sf import --batch …) or purge them first (sf purge --since-batch {since_batch})")
    visit_all = any(infos[b].stock_absent == "delete" and infos[b].complete_types for b in run)
    return CompactionPlan(since_batch=since, run_batches=run, older_batches=older, batches=infos,
                          recompute=since_batch is not None, visit_all=visit_all,
                          max_document_bytes=max_document_bytes)


# --- the task, run on Dask workers -------------------------------------------------------

@dataclass
class RangeStats:
    """Counts of one range (summed over ranges for the run summary)."""

    entities_read: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    incremental: int = 0
    whole_document: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    added: Counter = field(default_factory=Counter)
    deleted: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "added": dict(self.added), "deleted": dict(self.deleted)}  # plain dicts, not Counters

    def count_outcome(self, changed: bool, existed: bool) -> bool:
        """Count one entity's outcome: unchanged, or else changed (its document ``existed``)
        or created. Returns ``changed``, so that the caller writes only then."""
        if not changed:
            self.unchanged += 1
        elif existed:
            self.changed += 1
        else:
            self.created += 1
        return changed


def _count_entry(stats: RangeStats, entry: Mapping[str, Any]) -> None:
    for type_name, records in entry.items():
        if type_name not in RESERVED_ENTRY_KEYS:
            stats.added[type_name] += len(records)
    for type_name, hashes in (entry.get(COMPACT) or {}).get("delete", {}).items():
        stats.deleted[type_name] += len(hashes)


def _read_imported(db: Database, key_range: KeyRange, staged: tuple[str, ...], stats: RangeStats) -> dict[str, list]:
    imported: dict[str, list[dict]] = {}
    staged_set = set(staged)
    for doc in db[IMPORTED_DATA].find(key_range.filter("value.key")):
        if str(doc["_id"]).split(":", 1)[0] not in staged_set:
            continue  # staged after this run was planned: left for the next run
        stats.bytes_read += document_size(doc)
        value = doc["value"]
        imported.setdefault(value["key"], []).append(value)
    return imported


def _read_heads(db: Database, plan: CompactionPlan, key_range: KeyRange, keys: list[str]) -> dict[str, dict]:
    """Heads (projection) of the entities to visit: those with imported data, plus those
    the plan says must be recomputed or checked for absence from a stock."""
    projection = dict(HEAD_PROJECTION, size={"$bsonSize": "$$ROOT"})
    heads = {}
    for doc in db[RAW_DATA].find({"_id": {"$in": keys}}, projection):
        heads[doc["_id"]] = unflatten(doc)
    if plan.visit_all or plan.recompute:
        extra: dict[str, Any] = key_range.filter("_id")
        if not plan.visit_all:
            extra["value.state_batch"] = {"$gte": plan.since_batch}
        for doc in db[RAW_DATA].find(extra, projection):
            heads.setdefault(doc["_id"], unflatten(doc))
    return heads


def compact_range(uri: str, db_name: str, plan: CompactionPlan, dry_run: bool, key_range: KeyRange) -> dict[str, Any]:
    """Compact one key range (see module docstring); returns its :class:`RangeStats` as a dict.

    Raises a :class:`CompactionError` naming the entity (document too large, malformed
    input) before writing anything of the range, or ``SfError`` when the bulk write fails.
    """
    db = worker_database(uri, db_name)
    stats = RangeStats()
    ops: list[Any] = []
    with paused_gc():  # bulk BSON decoding
        imported = _read_imported(db, key_range, plan.staged_batches, stats)
        heads = _read_heads(db, plan, key_range, sorted(imported))
        run_batches = list(plan.run_batches)
        for key in sorted(set(imported) | set(heads)):
            values = imported.get(key, [])
            head_doc = heads.get(key)
            stats.entities_read += 1
            op = _compact_one(db, plan, key, values, head_doc, run_batches, stats)
            if op is not None:
                ops.append(op)
    if ops and not dry_run:
        try:
            db[RAW_DATA].bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            first = errors[0] if errors else {}
            raise SfError(f"RawData write failed for {len(errors)} document(s) of range {key_range.name}, "
                          f"first {first.get('op', {}).get('q', {}).get('_id')!r}: {first.get('errmsg', '')[:200]}") from None
    return stats.as_dict()


def _compact_one(db: Database, plan: CompactionPlan, key: str, values: list[dict], head_doc: dict | None,
                 run_batches: list[str], stats: RangeStats) -> Any:
    """The write operation for one entity (None when nothing changes); updates ``stats``."""
    head = EntityHead.from_document(head_doc) if head_doc is not None else None
    delivered = {b for value in values for b in (value.get("batch") or {})}
    if (head_doc is None or head is not None) and can_compact_incrementally(head, delivered | set(run_batches)) \
            and not plan.older_batches:
        increment = compact_increment(head, values, plan.batches, run_batches=run_batches,
                                      stored_size=head_doc.get("size") if head_doc else None,
                                      max_document_bytes=plan.max_document_bytes)
        stats.incremental += 1
        if not stats.count_outcome(increment.changed, existed=head_doc is not None):
            return None
        for batch_key in increment.new_batches:
            _count_entry(stats, increment.set_fields[f"value.batch.{batch_key}"])
        stats.bytes_written += document_size({"$set": increment.set_fields})
        return UpdateOne({"_id": key}, {"$set": increment.set_fields}, upsert=True)
    existing = db[RAW_DATA].find_one({"_id": key}) if head_doc is not None else None
    stats.whole_document += 1
    if existing is not None:
        stats.bytes_read += document_size(existing)
    new_doc = compact_entity(existing, values, plan.batches, since_batch=plan.since_batch,
                             run_batches=run_batches, max_document_bytes=plan.max_document_bytes)
    if new_doc is None:
        if existing is None:
            stats.unchanged += 1
            return None
        stats.removed += 1
        return DeleteOne({"_id": key})
    if not stats.count_outcome(new_doc != existing, existed=existing is not None):
        return None
    for batch_key in run_batches:
        entry = new_doc["value"]["batch"].get(batch_key)
        if entry:
            _count_entry(stats, entry)
    stats.bytes_written += document_size(new_doc)
    return ReplaceOne({"_id": key}, new_doc, upsert=True)


def clear_staged(db: Database, batch_keys: tuple[str, ...]) -> int:
    """Remove the ImportedData of ``batch_keys`` (after a successful run); returns the count."""
    removed = 0
    for key in batch_keys:
        # ids are "<batch>:<key>" and ";" follows ":" in ASCII: one range per batch.
        removed += db[IMPORTED_DATA].delete_many({"_id": {"$gte": f"{key}:", "$lt": f"{key};"}}).deleted_count
    return removed


