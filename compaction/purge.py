"""``sf purge``: remove the batches ≥ a key from RawData (to re-import and re-compact them).

The original (docs/compaction.md §4.1) deleted every ``value.batch[k]`` with ``k ≥ since-batch`` and kept the
document even when nothing was left, without recomputing ``index.algo2``, and only printed the
errors of its chunks. Here, per entity (:func:`purge_entity`, pure):

* the entries ≥ K are removed, then the document is passed through
  :func:`sf.compaction.entity.compact_entity` with no imported data, which recomputes
  ``value.state`` / ``value.state_batch`` / ``value.index.algo2`` from the remaining entries
  (so the incremental compaction of the re-imported batches starts from the right state);
* an entity left with no entry is deleted (no empty ``batch: {}`` document);
* ``reporder`` months brought by purged batches disappear: those held by purged entries, and
  those a purged batch placed in an earlier entry (it left no entry of its own), i.e. every
  month outside the ``serie_periode`` of the batches < K. They come back, with the same
  deterministic ``random_order``, when the batches are compacted again.

The document after a purge is the one the deliveries of the batches < K alone would have
produced, and re-importing and compacting the purged batches gives back the RawData from
before the purge (tested with hypothesis in ``tests/compaction/test_purge.py``).

The job (:func:`purge_range`, one Dask task per SIREN-aligned key range) reads only the
documents holding an entry ≥ K (a projection on ``value.state_batch`` first; legacy documents
without it are read whole), computes every new document, then writes them with one unordered
bulk write (``ReplaceOne`` / ``DeleteOne`` on ``_id``). Purging again is a no-op, so a run
killed half-way and started again ends with the same RawData; ranges that fail are reported
with their first error and the run fails (exit 1), the other ranges being purged.

:func:`run_purge` drives a run: checks the batch key (unknown → :class:`UnknownBatchError`,
nothing removed), optionally restricts it to one SIREN/SIRET (``key``), checkpoints each range
in the Journal.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pymongo import DeleteOne, ReplaceOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from sf.engine.bulk import paused_gc
from sf.engine.collections import RAW_DATA
from sf.engine.documents import unflatten
from sf.engine.errors import SfError, UsageError
from sf.engine.partitions import KeyRange

from .entity import compact_entity
from .errors import UnknownBatchError
from .model import REPORDER, BatchInfo
from .state import reporder_month

#: Documents per bulk write.
WRITE_CHUNK = 2_000
#: Keys per ``$in`` read of whole documents.
READ_CHUNK = 500

_ENTITY_KEY = re.compile(r"^[0-9]{9}([0-9]{5})?$")


class PurgeFailed(SfError):
    """Some ranges failed; the others are purged. Running the purge again finishes the work."""


def purge_entity(doc: Mapping[str, Any], since_batch: str,
                 batches: Mapping[str, BatchInfo] | None = None) -> tuple[dict[str, Any] | None, list[str]]:
    """Remove the entries ≥ ``since_batch`` of one RawData document.

    Returns ``(new_doc, removed_batch_keys)``: ``new_doc`` is None when no entry is left (the
    document must be deleted), else the document in our current shape (equal to ``doc`` when
    a document written by ``sf compact`` has nothing to purge). ``batches`` (every Admin
    batch) gives the months to keep in ``reporder`` (none is dropped when it is empty). Raises
    :class:`sf.compaction.errors.InvalidCompactionInputError` naming the key when the
    document cannot be read.
    """
    value = doc.get("value") or {}
    stored = value.get("batch") or {}
    if isinstance(stored, Mapping):
        removed = sorted(k for k in stored if k >= since_batch)
        kept = {k: e for k, e in stored.items() if k < since_batch}
        if batches:
            kept = _without_later_months(kept, allowed_months(since_batch, batches), str(value.get("key")))
        doc = {**doc, "value": {**value, "batch": kept}}
    else:
        removed = []  # compact_entity reports the malformed document
    new_doc = compact_entity(doc, [], batches or {}, max_document_bytes=None)
    return new_doc, removed


def allowed_months(since_batch: str, batches: Mapping[str, BatchInfo]) -> frozenset[str]:
    """Month keys of the ``serie_periode`` of every batch < ``since_batch``."""
    return frozenset(m for b, info in batches.items() if b < since_batch for m in info.month_keys)


def _without_later_months(entries: Mapping[str, Any], allowed: frozenset[str], key: str) -> dict[str, Any]:
    """Drop the ``reporder`` months that no batch < ``since_batch`` covers (not in ``allowed``).

    A batch that brings nothing new for an entity leaves no entry, so compaction puts the
    months it adds into the entity's last earlier entry (the original's "last batch" rule):
    those months belong to a purged batch although they sit in a kept entry. Every month
    outside the ``serie_periode`` of all batches < K is such a month; it comes back, with the
    same value, when the purged batches are compacted again. An entry left empty is dropped.
    """
    out: dict[str, Any] = {}
    for batch_key, entry in entries.items():
        reporder = entry.get(REPORDER) if isinstance(entry, Mapping) else None
        if isinstance(reporder, Mapping) and reporder:
            where = f"RawData {key!r} batch {batch_key}"
            months = {k: r for k, r in reporder.items() if reporder_month(r, where) in allowed}
            if len(months) != len(reporder):
                entry = {t: v for t, v in entry.items() if t != REPORDER}
                if months:
                    entry[REPORDER] = months
                if not entry:
                    continue
        out[batch_key] = entry
    return out


@dataclass
class PurgeStats:
    """Counts of one range: documents read, rewritten, deleted, left alone; entries removed per batch."""

    documents_read: int = 0
    rewritten: int = 0
    deleted: int = 0
    unchanged: int = 0
    entries_removed: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "entries_removed": dict(self.entries_removed)}  # a plain dict, not a Counter


def _candidate_keys(db: Database, since_batch: str, allowed: frozenset[str], key_range: KeyRange) -> list[str]:
    """Keys of the range whose document the purge may change: ``state_batch`` (our last
    entry) ≥ K, a ``reporder`` month outside ``allowed``, or no ``state`` at all (a legacy
    document). Reads two small fields per document, not the histories."""
    keys = []
    for doc in db[RAW_DATA].find(key_range.filter("_id"), {"value.state_batch": 1, "value.state.reporder": 1}):
        value = unflatten(doc).get("value", {})
        state_batch = value.get("state_batch")
        months = (value.get("state") or {}).get(REPORDER) or ()
        if not isinstance(state_batch, str) or state_batch >= since_batch or not allowed.issuperset(months):
            keys.append(doc["_id"])
    return keys


def purge_range(uri: str, db_name: str, since_batch: str, batches: Mapping[str, BatchInfo], dry_run: bool,
                key_range: KeyRange) -> dict[str, Any]:
    """Purge one key range (see module docstring); returns its :class:`PurgeStats` as a dict.

    Nothing of the range is written before every document of it is computed. Raises a
    :class:`sf.compaction.errors.CompactionError` naming the entity when a document cannot be
    read, :class:`SfError` naming the first failed key when the bulk write fails.
    """
    from sf.engine.cluster import worker_database

    db = worker_database(uri, db_name)
    stats = PurgeStats()
    ops: list[Any] = []
    keys = _candidate_keys(db, since_batch, allowed_months(since_batch, batches), key_range)
    with paused_gc():  # bulk BSON decoding
        for start in range(0, len(keys), READ_CHUNK):
            for doc in db[RAW_DATA].find({"_id": {"$in": keys[start:start + READ_CHUNK]}}):
                stats.documents_read += 1
                new_doc, removed = purge_entity(doc, since_batch, batches)
                stats.entries_removed.update(removed)
                if new_doc is None:
                    stats.deleted += 1
                    ops.append(DeleteOne({"_id": doc["_id"]}))
                elif new_doc != doc:
                    stats.rewritten += 1
                    ops.append(ReplaceOne({"_id": doc["_id"]}, new_doc))
                else:
                    stats.unchanged += 1
    if not dry_run:
        for start in range(0, len(ops), WRITE_CHUNK):
            try:
                db[RAW_DATA].bulk_write(ops[start:start + WRITE_CHUNK], ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                first = errors[0] if errors else {}
                raise SfError(f"RawData write failed for {len(errors)} document(s) of range {key_range.name}, "
                              f"first {first.get('op', {}).get('q', {}).get('_id')!r}: "
                              f"{str(first.get('errmsg', ''))[:200]}") from None
    return stats.as_dict()


def key_prefix_range(key: str) -> KeyRange:
    """The range of every entity key starting with ``key``: a SIREN (9 digits) selects the
    company's document and all its establishments, a SIRET (14 digits) that one document.
    Raises :class:`UsageError` for anything else."""
    if not _ENTITY_KEY.match(key):
        raise UsageError(f"--key {key!r}: expected a 9-digit SIREN or a 14-digit SIRET")
    # ":" follows "9" in ASCII: [key, key[:-1] + next char) holds exactly the keys with this prefix.
    return KeyRange(key, key[:-1] + chr(ord(key[-1]) + 1))


@dataclass
class PurgeSummary:
    """What a purge run did (for the final line, ``--json`` and the Journal counts)."""

    since_batch: str
    key: str | None
    partitions: int = 0
    totals: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"since_batch": self.since_batch, "key": self.key, "partitions": self.partitions, **self.totals,
                "seconds": round(self.seconds, 3), "dry_run": self.dry_run}


def check_since_batch(db: Database, since_batch: str) -> dict[str, BatchInfo]:
    """Admin batches as :class:`BatchInfo`; raises :class:`UnknownBatchError` if
    ``since_batch`` is not one of them (nothing is purged then)."""
    from sf.engine.batches import list_batches

    admin = list_batches(db)
    if since_batch not in {b.key for b in admin}:
        raise UnknownBatchError(since_batch, None, "--since-batch")
    try:
        return {b.key: BatchInfo.from_admin(b) for b in admin}
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run_purge(store: Any, run: Any, since_batch: str, *, key: str | None = None, workers: int | None = None,
              scheduler: str | None = None, partitions: int | None = None, dry_run: bool = False,
              silent: bool = False) -> PurgeSummary:
    """Purge batches ≥ ``since_batch`` from RawData (all entities, or those of ``key``).

    ``store``: an open :class:`sf.engine.connection.Store`; ``run``: the Journal run (one
    checkpoint per finished range). With ``key`` the single range runs in this process;
    otherwise one Dask task per range. Raises :class:`UnknownBatchError` /
    :class:`UsageError` before anything is removed, :class:`PurgeFailed` when ranges failed.
    """
    from sf.engine.cluster import run_job, sum_stats

    started = time.monotonic()
    batches = check_since_batch(store.db, since_batch)
    summary = PurgeSummary(since_batch=since_batch, key=key, dry_run=dry_run)
    if key is not None:
        key_range = key_prefix_range(key)
        stats = purge_range(store.uri, store.settings.db_name, since_batch, batches, dry_run, key_range)
        if not dry_run:
            run.checkpoint(key_range.name, stats)
        summary.partitions = 1
        summary.totals = sum_stats({key_range.name: stats})
    else:
        job = run_job(store, run, purge_range, store.uri, store.settings.db_name, since_batch, batches, dry_run,
                      sources=[(store.db[RAW_DATA], "_id")], label="purge", failure=PurgeFailed,
                      hint=f"fix the cause and run sf purge --since-batch {since_batch} again: purged ranges stay purged",
                      checkpoint=not dry_run, partitions=partitions, workers=workers, scheduler=scheduler,
                      silent=silent)
        summary.partitions, summary.totals = job.partitions, job.totals
    summary.seconds = time.monotonic() - started
    return summary
