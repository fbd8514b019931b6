"""sf.compaction: merge the batches waiting in ImportedData into RawData histories.

Pure functions (no I/O) carrying every rule; the Dask job that reads and writes MongoDB
calls them per entity:

* :func:`compact_entity` — whole-document form (any run, re-compaction, legacy documents);
* :func:`compact_increment` — the usual new month, from a projected :class:`EntityHead`,
  producing a ``$set``;
* :func:`compact_batch` — the diff of one batch against a live state;
* :func:`rebuild_state` / :func:`live_state_of` — state after a batch (the original's ``flatten``, docs/compaction.md §3.5);
* :func:`finalize`, :func:`reporder_value` — ``index.algo2`` and deterministic ``reporder``;
* :func:`check_document_size` — the BSON size guard.
"""

from .diff import compact_batch
from .entity import compact_entity
from .errors import (
    CompactionError,
    DocumentTooLargeError,
    InvalidCompactionInputError,
    NotReimportedError,
    UnknownBatchError,
)
from .finalize import compute_algo2, finalize
from .imported import merge_imported_values
from .incremental import (
    HEAD_PROJECTION,
    EntityHead,
    Increment,
    can_compact_incrementally,
    compact_increment,
)
from .model import BatchInfo, month_key, serie_periode
from .reporder import reporder_record, reporder_value
from .size import DEFAULT_MAX_DOCUMENT_BYTES, check_document_size, document_size
from .state import LiveState, live_state, live_state_of, rebuild_state

__all__ = [
    "DEFAULT_MAX_DOCUMENT_BYTES",
    "HEAD_PROJECTION",
    "BatchInfo",
    "CompactionError",
    "DocumentTooLargeError",
    "EntityHead",
    "Increment",
    "InvalidCompactionInputError",
    "LiveState",
    "NotReimportedError",
    "UnknownBatchError",
    "can_compact_incrementally",
    "check_document_size",
    "compact_batch",
    "compact_entity",
    "compact_increment",
    "compute_algo2",
    "document_size",
    "finalize",
    "live_state",
    "live_state_of",
    "merge_imported_values",
    "month_key",
    "rebuild_state",
    "reporder_record",
    "reporder_value",
    "serie_periode",
]
