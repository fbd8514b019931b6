"""MongoDB's sort order of documents (``find`` sort, ``$sort``): re-exported by :mod:`.query`.

A sort field's key is the smallest value its path reaches (ascending) or the largest
(descending): an array field sorts by one of its elements; a missing field sorts as null;
an empty array sorts below null ("undefined"). Strings compare by the collation if one is
given. Sorting is stable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import bsonorder
from .bsonorder import Collation, sort_key
from .errors import BAD_VALUE, StoreError, not_supported
from .query import (
    _MISSING_RANK, MISSING, NO_TRAVERSAL, Document, _as_collation, _integral, path_values, split_path,
)

# An empty array sorts as "undefined", below null (docs "Comparison/Sort Order").
_EMPTY_ARRAY_KEY = bytes([_MISSING_RANK])
_NULL_KEY = sort_key(None)
_COMPLEMENT = bytes(255 - i for i in range(256))


def parse_sort(sort_spec: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> list[tuple[str, int]]:
    """``{a: 1, b: -1}`` → ``[("a", 1), ("b", -1)]``; StoreError for anything but 1/-1."""
    if not sort_spec:
        return []
    items = sort_spec.items() if isinstance(sort_spec, Mapping) else sort_spec
    keys = []
    for name, direction in items:
        if not name:
            raise StoreError(BAD_VALUE, "FieldPath cannot be constructed with empty string")
        if name == "$natural":
            raise not_supported("sorting by $natural")
        if name.startswith("$"):
            raise StoreError(BAD_VALUE, f"FieldPath field names may not start with '$'. Consider using $getField or $setField.")
        if isinstance(direction, Mapping) and "$meta" in direction:
            raise not_supported("sorting by $meta")
        if not bsonorder.is_number(direction) or _integral(direction) not in (1, -1):
            raise StoreError(15975, "$sort key ordering must be 1 (for ascending) or -1 (for descending)")
        keys.append((name, _integral(direction)))
    return keys


def _field_sort_key(doc: Mapping, parts: tuple[str, ...], descending: bool, collation: Collation | None) -> bytes:
    """The key of one sort field: the smallest (ascending) or largest (descending) value the
    path reaches, leaf arrays contributing their elements; missing is null."""
    keys = []
    for value in path_values(doc, parts, NO_TRAVERSAL):
        if isinstance(value, list):
            if value:
                keys.extend(sort_key(v, collation) for v in value)
            else:
                keys.append(_EMPTY_ARRAY_KEY)
        elif value is MISSING:
            keys.append(_NULL_KEY)
        else:
            keys.append(sort_key(value, collation))
    if not keys:
        return _NULL_KEY
    return max(keys) if descending else min(keys)


def compile_sort(sort_spec: Mapping[str, Any] | Iterable[tuple[str, Any]] | None,
                 collation: Collation | Mapping | None = None) -> Callable[[Mapping], bytes] | None:
    """A key function ``doc -> bytes`` ordering documents as MongoDB's sort does (None: no sort).

    Descending fields use the complement of their self-delimiting key, so one bytes key
    orders by every field at once.
    """
    keys = [(split_path(name), direction == -1) for name, direction in parse_sort(sort_spec)]
    if not keys:
        return None
    coll = _as_collation(collation)

    def key(doc: Mapping) -> bytes:
        out = bytearray()
        for parts, descending in keys:
            part = _field_sort_key(doc, parts, descending, coll)
            out += part.translate(_COMPLEMENT) if descending else part
        return bytes(out)

    return key


def sort_documents(docs: Iterable[Document], sort_spec: Mapping[str, Any] | Iterable[tuple[str, Any]] | None,
                   collation: Collation | Mapping | None = None) -> list[Document]:
    """The documents in MongoDB's sort order (stable: ties keep their input order)."""
    key = compile_sort(sort_spec, collation)
    return list(docs) if key is None else sorted(docs, key=key)
