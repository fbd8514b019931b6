"""``finalize``: the ``index.algo2`` flag and the ``reporder`` months of a RawData value.

As the original's ``js/compact/finalize.ts`` + ``complete_reporder.ts`` (docs/compaction.md §3.6):

* entreprise: ``index.algo2 = True``, no ``reporder``;
* etablissement: ``index.algo2`` is True iff some batch entry has a non-empty ``effectif``
  map — including effectif later deleted by a stock (sticky, vector T13); then, going
  through the batches in key order, only the first ``reporder`` entry of each month
  (compared by ``periode``) is kept and later duplicates are deleted; finally every month of
  ``serie_periode`` still missing is added to the **last** batch entry.

What differs from the original: ``random_order`` is deterministic and keys are ISO month
dates (see :mod:`sf.compaction.reporder`); a value with no batch entry while months are
missing gets a new entry for ``batch_if_empty`` instead of the original's exception
("the last batch should not be undefined"), or raises ``ValueError`` if none is given.

:func:`sf.compaction.entity.compact_entity` applies the same rules batch by batch (each batch
with its own ``serie_periode``); this whole-document function is the reference for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .model import REPORDER, month_key
from .reporder import reporder_entries
from .state import reporder_month

EFFECTIF = "effectif"


def compute_algo2(scope: str, batches: Mapping[str, Any]) -> bool:
    """``index.algo2``: True for an entreprise; for an etablissement, True iff some entry of
    ``batches`` (``{batch_key: entry}``) has a non-empty ``effectif`` map."""
    if scope == "entreprise":
        return True
    return any(isinstance(entry, Mapping) and bool(entry.get(EFFECTIF)) for entry in batches.values())


def finalize(value: Mapping[str, Any], serie_periode: Sequence[datetime], *,
             batch_if_empty: str | None = None) -> dict[str, Any]:
    """Return a copy of RawData ``value`` with ``index`` and ``reporder`` completed.

    Input entries are not modified; changed entries are shallow copies. Raises
    ``ValueError`` when months are missing, there is no batch entry and no ``batch_if_empty``.
    """
    scope = value.get("scope")
    batches: dict[str, Any] = dict(value.get("batch") or {})
    out = dict(value)
    out["index"] = {"algo2": compute_algo2(scope, batches)}
    if scope == "entreprise":
        out["batch"] = batches
        return out

    seen: set[str] = set()
    for batch_key in sorted(batches):
        entry = batches[batch_key]
        reporder = entry.get(REPORDER) if isinstance(entry, Mapping) else None
        if not reporder:
            continue
        where = f"RawData {value.get('key')!r} batch {batch_key}"
        kept: dict[str, Any] = {}
        for entry_key, record in reporder.items():
            month = reporder_month(record, where)
            if month not in seen:
                seen.add(month)
                kept[entry_key] = record
        if len(kept) != len(reporder):
            batches[batch_key] = {**entry, REPORDER: kept}

    missing = [p for p in serie_periode if month_key(p) not in seen]
    if missing:
        if batches:
            last = max(batches)
        elif batch_if_empty is not None:
            last = batch_if_empty
            batches[last] = {}
        else:
            raise ValueError(f"RawData {value.get('key')!r}: no batch entry to hold the reporder months")
        entry = dict(batches[last])
        entry[REPORDER] = {**(entry.get(REPORDER) or {}), **reporder_entries(value["key"], missing)}
        batches[last] = entry
    out["batch"] = batches
    return out
