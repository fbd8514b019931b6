"""Diff of one batch delivery against an entity's live state: the heart of compaction.

For batch ``b``, live hashes ``M[t]`` before it and delivered records ``A[t]`` (docs/compaction.md §3.4):

* every type: ``add[t] = A[t] \\ M[t]`` — a record already known is not stored again;
* a type listed in ``b``'s ``complete_types`` (a stock): ``delete[t] = M[t] \\ A[t]``, also
  when the entity's delivery has no record of that type (vector T11b); with an empty
  ``M[t]`` nothing is deleted (T11c);
* an entity absent from the batch (``imported_types is None``): nothing happens under the
  ``keep`` policy (the original, T11d); under ``delete`` every live hash of each complete
  type is deleted.

After the batch, ``M[t] = (M[t] \\ delete[t]) ∪ add[t]``; for a stock type that is exactly
the delivered set. The batch entry holds ``{type: {hash: record}}`` for additions and
``compact.delete: {type: [hashes]}`` (sorted) for deletions; a batch that changes nothing
gives no entry (``None``). Unlike the original, a pre-existing ``compact.delete`` is never
carried over (the stale deletion of vector T12 cannot arise): entries are always recomputed
from deliveries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import InvalidCompactionInputError
from .model import COMPACT, RESERVED_ENTRY_KEYS, BatchInfo
from .state import LiveState

#: ``{type: {hash: record}}`` for one entity and one batch; a ``None`` type holds nothing (T7).
ImportedTypes = Mapping[str, Mapping[str, Any] | None]


def compact_batch(live_state: Mapping[str, Sequence[str]], batch_key: str,
                  imported_types: ImportedTypes | None,
                  batch_info: BatchInfo) -> tuple[dict[str, Any] | None, LiveState]:
    """Diff one batch for one entity.

    Inputs: ``live_state`` ``{type: sorted hashes}`` before the batch (not modified; a
    ``reporder`` key passes through untouched), the batch key (for messages), the entity's
    merged delivery for this batch or ``None`` if the entity is absent from it, and the
    batch definition.

    Output: ``(entry or None, new_live_state)``. The entry's records are the delivered
    objects themselves (not copies). Unchanged types share their list with ``live_state``.

    Raises :class:`InvalidCompactionInputError` when a delivered type is reserved
    (``compact``, ``reporder``) or does not map hashes to records.
    """
    delivered = imported_types is not None
    types: ImportedTypes = imported_types or {}
    # A stock applies to an entity present in the delivery; to an absent one only under "delete".
    stock_applies = delivered or batch_info.stock_absent == "delete"
    touched: set[str] = set()
    for type_name, records in types.items():
        if type_name in RESERVED_ENTRY_KEYS:
            raise InvalidCompactionInputError(f"delivery of batch {batch_key}", f"{type_name!r} is not a data type")
        if records is None:
            continue
        if not isinstance(records, Mapping):
            raise InvalidCompactionInputError(
                f"delivery of batch {batch_key}", f"type {type_name!r} must map hashes to records")
        if records:
            touched.add(type_name)
    if stock_applies:
        touched.update(t for t in batch_info.complete_types if live_state.get(t))

    new_state: LiveState = dict(live_state)  # type: ignore[arg-type]
    entry: dict[str, Any] = {}
    deletions: dict[str, list[str]] = {}
    for type_name in sorted(touched):
        live = live_state.get(type_name) or ()
        live_set = set(live)
        records = types.get(type_name) or {}
        added = {h: records[h] for h in sorted(records) if h not in live_set}
        removed = ([h for h in live if h not in records]
                   if stock_applies and type_name in batch_info.complete_types else [])
        if not added and not removed:
            continue
        if added:
            entry[type_name] = added
        if removed:
            deletions[type_name] = removed
        remaining = (live_set.difference(removed) if removed else live_set) | added.keys()
        if remaining:
            new_state[type_name] = sorted(remaining)
        else:
            new_state.pop(type_name, None)
    if deletions:
        entry[COMPACT] = {"delete": deletions}
    return (entry or None), new_state
