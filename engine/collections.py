"""Collection names and their indexes, created idempotently when a store is opened.

Every shape is documented in the README ("Collections"); keep the two in step.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

ADMIN = "Admin"
IMPORTED_DATA = "ImportedData"
RAW_DATA = "RawData"
FEATURES = "Features"
FEATURES_DEBUG = "Features_debug"
SCORES = "Scores"
JOURNAL = "Journal"
QUARANTINE = "Quarantine"
LOCK = "Lock"

COLLECTIONS = (ADMIN, IMPORTED_DATA, RAW_DATA, FEATURES, SCORES, JOURNAL, QUARANTINE, LOCK)

# (collection, keys, options). An index is recognised by its keys, not its name: the embedded
# server names indexes its own way.
INDEXES: tuple[tuple[str, list[tuple[str, int]], dict], ...] = (
    # As the original: batches are listed by type then key (string order).
    (ADMIN, [("_id.type", ASCENDING), ("_id.key", ASCENDING)], {"name": "type_key"}),
    # Compaction reads ImportedData by ranges of entity keys.
    (IMPORTED_DATA, [("value.key", ASCENDING)], {"name": "value_key"}),
    # As the original: downstream jobs select establishments with headcount data.
    (RAW_DATA, [("value.index.algo2", DESCENDING)], {"name": "algo2"}),
    (FEATURES, [("_id.batch", ASCENDING), ("_id.siret", ASCENDING), ("_id.periode", ASCENDING)], {"name": "batch_siret_periode"}),
    (SCORES, [("_id.batch", ASCENDING), ("score", DESCENDING)], {"name": "batch_score"}),
    (JOURNAL, [("started_at", DESCENDING)], {"name": "started_at"}),
    (QUARANTINE, [("batch", ASCENDING), ("file", ASCENDING), ("line", ASCENDING)], {"name": "batch_file_line"}),
)


def ensure_collections(db: Database) -> None:
    """Create the collections and indexes that are missing; safe to call on every start."""
    existing = set(db.list_collection_names())
    for name in COLLECTIONS:
        if name not in existing:
            db.create_collection(name)
    for collection, keys, options in INDEXES:
        present = [list(map(tuple, info["key"])) for info in db[collection].index_information().values()]
        if [(field, int(direction)) for field, direction in keys] not in [
            [(field, int(direction)) for field, direction in index] for index in present
        ]:
            db[collection].create_index(keys, **options)
