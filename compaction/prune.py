"""``sf prune-entities``: RawData entities outside the current perimeter (count, list, delete).

The perimeter is the SIREN list of the ``filter`` file(s) of a batch: by default the latest
batch (string order of keys) whose definition lists one, or the batch given explicitly. An
entity is outside when the first 9 characters of its key are not in that list (a company and
all its establishments go together).

What the original did (docs/compaction.md §4.3) and what we do instead:

* it sent the whole perimeter as one ``$nin`` array (a multi-MB command close to the 16 MB
  limit for a national perimeter) and deleted with one ``Remove`` per document: here the
  RawData keys are read with an ``_id``-only projection, tested against the perimeter in
  Python, and deleted by chunks of ``$in`` on ``_id``;
* its ``--delete`` path was not journaled: both paths are (the delete path as a destructive
  run holding the lock);
* an empty perimeter would have pruned everything: it is refused.

Without ``delete`` nothing is written (dry run). A delete run killed half-way can be run again:
it deletes what is left.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from pymongo.database import Database

from sf.engine.batches import Batch, get_batch, list_batches
from sf.engine.collections import RAW_DATA
from sf.engine.errors import BadInputError, UsageError

#: Keys per ``delete_many`` with ``$in``.
DELETE_CHUNK = 1_000


@dataclass(frozen=True)
class PerimeterSource:
    """Where the perimeter comes from: the batch and its filter files, and the SIRENs."""

    batch: str
    files: tuple[str, ...]
    sirens: frozenset[str]


def perimeter_batch(db: Database, batch_key: str | None = None) -> Batch:
    """The batch whose filter defines the current perimeter: ``batch_key`` if given (it must
    list a filter), else the latest batch that lists one. Raises :class:`UsageError`."""
    if batch_key is not None:
        batch = get_batch(db, batch_key)
        if not batch.files.get("filter"):
            raise UsageError(f"batch {batch_key} has no filter file", "pick a batch with one (sf batch list)")
        return batch
    with_filter = [b for b in list_batches(db) if b.files.get("filter")]
    if not with_filter:
        raise UsageError("no batch lists a filter file: the current perimeter is unknown",
                         "declare one with `sf batch add KEY --file filter=PATH`")
    return with_filter[-1]


def load_batch_perimeter(batch: Batch) -> PerimeterSource:
    """Read the SIRENs of ``batch``'s filter files. Raises :class:`BadInputError` naming the
    file when one cannot be read, :class:`UsageError` when the perimeter is empty."""
    from sf.importers.perimeter import load_perimeter
    from sf.importers.reading import FatalFileError

    files = tuple(batch.files.get("filter") or ())
    try:
        perimeter = load_perimeter(files)
    except (FatalFileError, OSError) as exc:
        raise BadInputError(f"filter of batch {batch.key}: {exc}") from None
    if not perimeter.sirens:
        raise UsageError(f"the filter of batch {batch.key} lists no SIREN; refusing to treat every entity as "
                         "outside the perimeter", "check the filter file(s): " + ", ".join(files))
    return PerimeterSource(batch=batch.key, files=files, sirens=perimeter.sirens)


def outside_keys(keys: Iterator[str], sirens: frozenset[str]) -> Iterator[str]:
    """The keys whose SIREN (first 9 characters) is not in ``sirens`` (pure)."""
    for key in keys:
        if key[:9] not in sirens:
            yield key


def _rawdata_keys(db: Database) -> Iterator[str]:
    for doc in db[RAW_DATA].find({}, {"_id": 1}):
        yield str(doc["_id"])


@dataclass
class PruneSummary:
    """Result of a run: ``outside`` keys counted per scope (9 characters = entreprise,
    otherwise etablissement), ``deleted`` documents, a ``sample`` of keys (sorted)."""

    perimeter_batch: str
    perimeter_sirens: int
    documents: int = 0
    outside: int = 0
    entreprises: int = 0
    etablissements: int = 0
    deleted: int = 0
    sample: list[str] = field(default_factory=list)
    delete: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def prune_entities(db: Database, source: PerimeterSource, *, delete: bool = False,
                   sample_size: int | None = 20) -> PruneSummary:
    """Count (and with ``delete``, remove) the RawData documents outside ``source``'s perimeter.

    ``sample_size``: how many outside keys to return in ``summary.sample`` (None: all).
    Deletion goes by chunks of :data:`DELETE_CHUNK` keys; a database error propagates
    (the keys deleted so far stay deleted; run again to finish).
    """
    summary = PruneSummary(perimeter_batch=source.batch, perimeter_sirens=len(source.sirens), delete=delete)
    pending: list[str] = []

    def counted() -> Iterator[str]:
        for key in _rawdata_keys(db):
            summary.documents += 1
            yield key

    # Only the outside keys are kept in memory (sorted, so that the sample is stable).
    outside = sorted(outside_keys(counted(), source.sirens))
    for key in outside:
        summary.outside += 1
        if len(key) == 9:
            summary.entreprises += 1
        else:
            summary.etablissements += 1
        if sample_size is None or len(summary.sample) < sample_size:
            summary.sample.append(key)
        if delete:
            pending.append(key)
            if len(pending) >= DELETE_CHUNK:
                summary.deleted += db[RAW_DATA].delete_many({"_id": {"$in": pending}}).deleted_count
                pending = []
    if pending:
        summary.deleted += db[RAW_DATA].delete_many({"_id": {"$in": pending}}).deleted_count
    return summary
