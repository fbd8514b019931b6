"""Small helpers for documents: reading them back from the server, inserting many."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database
from pymongo.errors import BulkWriteError

from .errors import SfError

#: Documents per insert_many call (bounds the size of one request).
WRITE_CHUNK = 5_000


def unflatten(doc: dict[str, Any]) -> dict[str, Any]:
    """Nest dotted keys: ``{"value.key": k, "_id": i}`` → ``{"value": {"key": k}, "_id": i}``.

    MongoDB returns a projection on dotted paths nested; the embedded server returns the
    dotted paths as flat keys. Passing every projected document through this makes both
    look the same (already-nested documents are returned unchanged).
    """
    if not any("." in key for key in doc):
        return doc
    nested: dict[str, Any] = {}
    for key, value in doc.items():
        target = nested
        *parents, last = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        if isinstance(value, dict) and isinstance(target.get(last), dict):
            target[last].update(value)
        else:
            target[last] = value
    return nested


def insert_documents(db: Database, collection: str, docs: list[dict[str, Any]], where: str,
                     chunk: int = WRITE_CHUNK) -> int:
    """Insert ``docs`` into ``collection`` with unordered ``insert_many`` calls of ``chunk``
    documents; returns the number written.

    Raises :class:`SfError` naming ``where`` (e.g. ``"range 0..5"``), how many documents
    failed and the first failed ``_id`` with its reason; the chunks before it stay written.
    """
    written = 0
    for start in range(0, len(docs), chunk):
        part = docs[start:start + chunk]
        try:
            written += len(db[collection].insert_many(part, ordered=False).inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            first = errors[0] if errors else {}
            raise SfError(f"{collection} write failed for {len(errors)} document(s) of {where}, first "
                          f"{first.get('op', {}).get('_id')!r}: {str(first.get('errmsg', ''))[:200]}") from None
    return written
