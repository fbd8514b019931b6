"""Small helpers for documents read back from the server."""

from __future__ import annotations

from typing import Any


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
