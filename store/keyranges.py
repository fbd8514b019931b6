"""The ``encode_key`` ranges a filter allows for one field (the storage layer's index fast path):
re-exported by :mod:`.query`.

Ranges are necessary conditions only: the storage layer narrows its candidates with them and
always re-checks each candidate with :func:`.query.compile_filter`, so a range may admit more
documents than the filter does, never fewer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson.max_key import MaxKey
from bson.min_key import MinKey

from .bsonorder import Collation, encode_key, type_rank
from .query import _GT, _GTE, _LT, _LTE, _as_collation, _is_nan, _is_operator_document, _is_regex

KeyRange = tuple[bytes, bytes, bool, bool]


def _collation_sensitive(value: Any) -> bool:
    if type(value) is str:
        return True
    if isinstance(value, Mapping):
        return any(_collation_sensitive(v) for v in value.values())
    if isinstance(value, list):
        return any(_collation_sensitive(v) for v in value)
    return False


def _point(value: Any, collation: Collation | None) -> list[KeyRange] | None:
    if value is None or isinstance(value, list) or _is_regex(value):
        return None  # null also matches missing; arrays and regexes match more than one key
    if collation is not None and _collation_sensitive(value):
        return None
    key = encode_key(value)
    return [(key, key, True, True)]


def _comparison_range(op: str, rhs: Any, collation: Collation | None) -> list[KeyRange] | None:
    if rhs is None or isinstance(rhs, (list, MinKey, MaxKey)):
        return None
    if collation is not None and _collation_sensitive(rhs):
        return None
    if _is_nan(rhs):  # only NaN can match (and only with $gte/$lte)
        return _point(rhs, None)
    key = encode_key(rhs)
    rank = type_rank(rhs)
    type_low, type_high = bytes([rank]), bytes([rank + 1])
    if op == _GT:
        return [(key, type_high, False, False)]
    if op == _GTE:
        return [(key, type_high, True, False)]
    if op == _LT:
        return [(type_low, key, True, False)]
    return [(type_low, key, True, True)]


def _condition_ranges(value: Any, collation: Collation | None) -> list[list[KeyRange]]:
    """The range lists each necessary condition of ``{field: value}`` gives (all must hold)."""
    if not _is_operator_document(value):
        if _is_regex(value):
            return []
        point = _point(value, collation)
        return [point] if point is not None else []
    out = []
    for op, arg in value.items():
        ranges = None
        if op == "$eq":
            ranges = _point(arg, collation)
        elif op == "$in" and isinstance(arg, list):
            ranges = []
            for item in arg:
                point = _point(item, collation)
                if point is None:
                    ranges = None
                    break
                ranges += point
        elif op in (_GT, _GTE, _LT, _LTE):
            ranges = _comparison_range(op, arg, collation)
        if ranges is not None:
            out.append(_merge(ranges))
    return out


def _merge(ranges: list[KeyRange]) -> list[KeyRange]:
    """Sorted, non-overlapping ranges covering the same keys."""
    ranges = sorted(ranges, key=lambda r: (r[0], not r[2]))
    merged: list[KeyRange] = []
    for low, high, low_in, high_in in ranges:
        if merged:
            m_low, m_high, m_low_in, m_high_in = merged[-1]
            if low < m_high or (low == m_high and (low_in or m_high_in)):
                if high > m_high or (high == m_high and high_in):
                    merged[-1] = (m_low, high, m_low_in, high_in if high > m_high else (high_in or m_high_in))
                continue
        merged.append((low, high, low_in, high_in))
    return merged


def _intersect(a: list[KeyRange], b: list[KeyRange]) -> list[KeyRange]:
    out = []
    for a_low, a_high, a_low_in, a_high_in in a:
        for b_low, b_high, b_low_in, b_high_in in b:
            if a_low > b_low or (a_low == b_low and not a_low_in):
                low, low_in = a_low, a_low_in
            else:
                low, low_in = b_low, b_low_in
            if a_high < b_high or (a_high == b_high and not a_high_in):
                high, high_in = a_high, a_high_in
            else:
                high, high_in = b_high, b_high_in
            if low < high or (low == high and low_in and high_in):
                out.append((low, high, low_in, high_in))
    return _merge(out)


def _conditions(filter: Mapping[str, Any], field: str, collation: Collation | None, multikey: bool) -> list:
    conditions: list[list[KeyRange]] = []
    for name, value in filter.items():
        if name == field:
            conditions += _condition_ranges(value, collation)
        elif name == "$and" and isinstance(value, list):
            for sub in value:
                if isinstance(sub, Mapping):
                    conditions += _conditions(sub, field, collation, multikey)
        elif name == "$or" and isinstance(value, list) and value:
            union: list[KeyRange] = []
            for sub in value:
                ranges = key_ranges(sub, field, collation=collation, multikey=multikey) \
                    if isinstance(sub, Mapping) else None
                if ranges is None:
                    break
                union += ranges
            else:
                conditions.append(_merge(union))
    return conditions


def key_ranges(filter: Mapping[str, Any] | None, field: str, *, collation: Collation | Mapping | None = None,
               multikey: bool | None = None) -> list[KeyRange] | None:
    """Ranges of ``encode_key`` bytes that ``field``'s value (or, for an array, one of its
    elements) must fall into for a document to match ``filter``; None if the filter does not
    narrow ``field``; ``[]`` if nothing can match.

    Each range is ``(lower, upper, lower_inclusive, upper_inclusive)``; ranges are sorted and
    do not overlap. They may admit more than the filter does (the caller re-checks with
    :func:`compile_filter`) but never less: comparisons stay within their type's bracket
    (``{$gt: 5}`` only reaches numbers), null, arrays, regexes and collation-sensitive strings
    do not narrow. ``multikey`` (default: every field but ``_id``) says the field may hold
    arrays: then conditions cannot be intersected (``{a: {$gt: 1, $lt: 5}}`` matches
    ``a: [0, 9]``) and the narrowest single condition is used.
    """
    if not filter:
        return None
    coll = _as_collation(collation)
    if multikey is None:
        multikey = field != "_id"
    conditions = _conditions(filter, field, coll, multikey)
    if not conditions:
        return None
    if multikey:
        # Any one necessary condition is a valid superset: prefer the one with point ranges.
        return min(conditions, key=lambda r: (not all(x[0] == x[1] for x in r), len(r)))
    result = conditions[0]
    for other in conditions[1:]:
        result = _intersect(result, other)
    return result
