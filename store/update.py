"""MongoDB 7.0 updates of one document: update operators, replacements, pipelines, upsert seeds.

:func:`apply_update` takes a decoded document and an update (an operator document such as
``{$set: {...}, $inc: {...}}``, a replacement document, or a pipeline list) and returns the
new document. The input is never modified; the result is built copy-on-write, so it shares
the sub-documents the update did not touch with the input (treat both as read-only).
**When the update changes nothing, the input object itself is returned** (``new is doc``):
that is how MongoDB's ``nModified`` is told (a ``$set`` of the same value, an ``$unset`` of a
missing field, a ``$setOnInsert`` outside an upsert, a ``$pull`` that removes nothing are all
no-ops). An upsert insert always returns a new document.

The rules follow MongoDB's own update system (``src/mongo/db/update``): all modifiers of an
update are parsed into one tree of paths, so that two paths where one is a prefix of the
other conflict (ConflictingUpdateOperators, 40) before anything is applied; the tree is then
applied to the document with the fields of each level visited in MongoDB's order (names in
lexicographic order, numeric names in numeric order), so new fields are appended in that
order and existing fields keep their place. Missing intermediate documents are created; an
array along a path is entered only by a numeric index (``a.3``, padded with nulls), by the
positional ``$`` (the array index the query matched), by ``$[]`` (every element) or by
``$[<identifier>]`` (the elements an array filter selects) — never implicitly.

Values keep their BSON types: ``$set`` of ``true`` stores a boolean, an int32 stays an int32;
only MongoDB's own rules change a type (``$inc``/``$mul``: int32 overflow gives an int64, any
double gives a double, any Decimal128 gives a Decimal128; an int64 overflow is an error).

Failure modes: every invalid update raises :class:`~.errors.StoreError` with MongoDB's code —
FailedToParse 9 (unknown modifier, a modifier that is not a document, bad ``$pop``/array
filter), BadValue 2 (bad operator arguments, positional operator without a match, array
update of a non-array), TypeMismatch 14 (``$inc`` of a string), PathNotViable 28 (a path
through a scalar, a name inside an array), ConflictingUpdateOperators 40, ImmutableField 66
(``_id`` changed), DollarPrefixedFieldName 52, EmptyFieldName 56, CannotBackfillArray 34,
InvalidIdField 53, NotSingleValueField 54.

Comparisons (``$min``, ``$max``, ``$addToSet``, ``$pull``, ``$push`` with ``$sort``) use
:mod:`.bsonorder`; conditions (``$pull`` with a query, array filters, the positional ``$``)
use :func:`.query.compile_filter`; pipeline updates use :func:`.aggregate.run_pipeline`.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import re
import struct
from collections.abc import Callable, Mapping
from typing import Any

from bson.binary import Binary
from bson.datetime_ms import DatetimeMS
from bson.decimal128 import Decimal128, create_decimal128_context
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp

from . import codec
from .clock import next_timestamp
from .errors import (
    BAD_VALUE,
    CONFLICTING_UPDATE_OPERATORS,
    DOLLAR_PREFIXED_FIELD_NAME,
    EMPTY_FIELD_NAME,
    FAILED_TO_PARSE,
    IMMUTABLE_FIELD,
    INVALID_OPTIONS,
    PATH_NOT_VIABLE,
    TYPE_MISMATCH,
    StoreError,
)

CANNOT_BACKFILL_ARRAY = 34
INVALID_ID_FIELD = 53
NOT_SINGLE_VALUE_FIELD = 54
INVALID_DBREF = 55
NOT_EXACT_VALUE_FIELD = 111
QUERY_FEATURE_NOT_ALLOWED = 224

_CODE_NAMES = {CANNOT_BACKFILL_ARRAY: "CannotBackfillArray", INVALID_ID_FIELD: "InvalidIdField",
               NOT_SINGLE_VALUE_FIELD: "NotSingleValueField", INVALID_DBREF: "InvalidDBRef",
               NOT_EXACT_VALUE_FIELD: "NotExactValueField", QUERY_FEATURE_NOT_ALLOWED: "QueryFeatureNotAllowed"}


def _error(code: int, message: str) -> StoreError:
    """A StoreError carrying MongoDB's code name also for the codes errors.py does not list."""
    return StoreError(code, message, _CODE_NAMES.get(code))


# MongoDB refuses to pad an array with more nulls than this (pathsupport::kMaxPaddingAllowed).
MAX_PADDING = 1_500_000

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_DECIMAL = create_decimal128_context()

_MISSING = object()   # a path that does not exist
_NOOP = object()      # a modifier that leaves the value as it is
_REMOVE = object()    # a modifier that removes the value ($unset)

PIPELINE_STAGES = frozenset({"$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith"})


# --- public API ----------------------------------------------------------------------------

def is_replacement(update: Mapping | list) -> bool:
    """True for a replacement document: a document whose first field is not ``$``-prefixed
    (MongoDB decides on the first field only; ``{}`` is an empty replacement)."""
    if isinstance(update, list):
        return False
    first = next(iter(update), None)
    return first is None or not first.startswith("$")


def validate_update(update: Any, array_filters: list | None = None, collation: Any = None) -> None:
    """Raise the StoreError :func:`apply_update` would raise for ``update`` before it meets a
    document (its parse errors: unknown modifier 9, conflicting paths 40, unused array filter
    9, a stage not allowed in an update pipeline, an invalid replacement…); nothing otherwise.
    Lets a command on a missing collection refuse an invalid update as MongoDB does."""
    if isinstance(update, list):
        _check_pipeline_stages(update)
        from .aggregate import compile_pipeline  # lazy, as in _apply_pipeline
        compile_pipeline(update, collation)
    elif not isinstance(update, Mapping):
        raise _error(FAILED_TO_PARSE, "Update argument must be either an object or an array")
    elif is_replacement(update):
        if array_filters:
            raise _error(FAILED_TO_PARSE, "arrayFilters may not be specified for replacement-style updates")
        validate_replacement(update)
    else:
        _parse_update(update, array_filters, collation)


def validate_replacement(doc: Mapping) -> None:
    """Raise StoreError unless ``doc`` may replace a stored document: no ``$``-prefixed
    top-level field (except a well-formed DBRef's ``$ref``/``$id``/``$db``; code 52) and a
    valid ``_id`` (not an array, regex or undefined; code 53)."""
    _validate_top_level(doc, allow_dollar=False)


def upsert_seed(filter: Mapping | None, *, replacement: bool = False) -> dict:
    """The document an upsert starts from: the filter's equality conditions, ``_id`` first.

    Equalities are ``{path: value}`` (not a regex, not an operator document), ``{path: {$eq:
    v, …}}`` and a one-element ``$in``/``$all``, at the top level, inside ``$and`` or a
    one-clause ``$or``; dotted paths create nested documents, fields in path order. For a
    replacement upsert (``replacement=True``) only ``_id`` is taken, and a dotted ``_id.x``
    raises NotExactValueField (111). Two equalities on the same path, or on a path and its
    prefix, raise NotSingleValueField (54); ``$expr`` raises QueryFeatureNotAllowed (224).
    """
    equalities: dict[str, Any] = {}
    _collect_equalities(filter or {}, equalities)
    if replacement:
        # Only the immutable _id is taken, and it must be given whole.
        for path in equalities:
            if path.startswith("_id."):
                raise _error(NOT_EXACT_VALUE_FIELD, f"field at '_id' must be exactly specified, field at "
                                                        f"sub-path '{path}'found")
        equalities = {p: v for p, v in equalities.items() if p == "_id"}
    paths = sorted(equalities)
    for a, b in zip(paths, paths[1:]):
        if b.startswith(a + "."):
            raise _error(NOT_SINGLE_VALUE_FIELD,
                             f"cannot infer query fields to set, both paths '{b}' and '{a}' are matched")
    seed: dict[str, Any] = {}
    for path in paths:
        parts = path.split(".")
        target = seed
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = _copy_tree(equalities[path])
    if "_id" in seed:
        seed = {"_id": seed.pop("_id"), **seed}
    return seed


def apply_update(doc: dict, update: Mapping | list, *, query: Mapping | None = None,
                 array_filters: list | None = None, is_upsert_insert: bool = False,
                 collation: Any = None, variables: Mapping | None = None,
                 now: datetime.datetime | None = None) -> dict:
    """The document ``doc`` becomes under ``update`` (``doc`` itself when nothing changes).

    ``query`` is the filter that selected ``doc`` (needed by the positional ``$``);
    ``array_filters`` the update's ``arrayFilters``; ``is_upsert_insert`` marks the insert of
    an upsert, where ``doc`` is :func:`upsert_seed` of the filter: ``$setOnInsert`` applies,
    ``$``-prefixed fields are allowed, and the result gets an ``ObjectId`` ``_id`` when it has
    none, placed first. ``collation`` (a :class:`.bsonorder.Collation`) is used by the
    comparing operators; ``variables`` are the command's ``let`` variables for pipelines;
    ``now`` fixes the time of ``$currentDate`` (default: the current UTC time).
    Raises StoreError as described in the module docstring.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if now.tzinfo is not None:
        now = now.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # BSON dates hold milliseconds
    if isinstance(update, list):
        new = _apply_pipeline(doc, update, is_upsert_insert, collation, variables, now)
    elif not isinstance(update, Mapping):
        raise _error(FAILED_TO_PARSE, "Update argument must be either an object or an array")
    elif is_replacement(update):
        if array_filters:
            raise _error(FAILED_TO_PARSE, "arrayFilters may not be specified for replacement-style updates")
        new = _apply_replacement(doc, update, is_upsert_insert, now)
    else:
        tree = _parse_update(update, array_filters, collation)
        new = dict(doc)  # copy-on-write: levels the update enters are copied as it goes
        ctx = _ApplyContext(root=new, query=query, original=doc, upsert=is_upsert_insert,
                            collation=collation, now=now)
        tree.apply_into(ctx, new, [], [])
        if not ctx.changed and not is_upsert_insert:
            return doc
    if is_upsert_insert:
        return _finish_upsert(dict(new))
    return new


# --- field order and paths -----------------------------------------------------------------

def _field_order(a: str, b: str) -> int:
    """MongoDB's order of the fields of one level of an update (cmpPathsAndArrayIndexes):
    digit strings without leading zeros by numeric value, everything else as strings."""
    def numeric(s: str) -> bool:
        return bool(s) and s[0].isdigit() and not (s[0] == "0" and len(s) > 1)
    if numeric(a) and numeric(b):
        if len(a) != len(b):
            return -1 if len(a) < len(b) else 1
    return (a > b) - (a < b)


_FIELD_KEY = functools.cmp_to_key(_field_order)


def _array_index(name: str) -> int | None:
    """The array index a path component names (``"3"`` → 3), or None for a field name."""
    return int(name) if name.isascii() and name.isdigit() else None


def _split_path(path: str) -> list[str]:
    """Split a dotted update path, rejecting empty ones (EmptyFieldName, 56)."""
    if path == "":
        raise _error(EMPTY_FIELD_NAME, "An empty update path is not valid.")
    parts = path.split(".")
    if any(part == "" for part in parts):
        raise _error(EMPTY_FIELD_NAME,
                         f"The update path '{path}' contains an empty field name, which is not allowed.")
    return parts


def _is_array_filter_part(part: str) -> bool:
    return len(part) >= 3 and part.startswith("$[") and part.endswith("]")


def _lookup(elem: Any, parts: list[str]) -> Any:
    """The value at ``parts`` below ``elem`` (array elements by index), or _MISSING."""
    for part in parts:
        if isinstance(elem, dict):
            if part not in elem:
                return _MISSING
            elem = elem[part]
        elif isinstance(elem, list):
            index = _array_index(part)
            if index is None or index >= len(elem):
                return _MISSING
            elem = elem[index]
        else:
            return _MISSING
    return elem


def _render(value: Any) -> str:
    """A short rendering of a value for error messages (MongoDB prints extended JSON-ish)."""
    if type(value) is str:
        return f'"{value}"'
    if type(value) is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k}: {_render(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, list):
        return "[ " + ", ".join(_render(v) for v in value) + " ]" if value else "[]"
    return repr(value) if not isinstance(value, (int, float)) else str(value)


def _type_name(value: Any) -> str:
    """MongoDB's name of the BSON type of ``value`` (as in its error messages)."""
    t = type(value)
    if t is bool:
        return "bool"
    if t is int:
        return "int" if INT32_MIN <= value <= INT32_MAX else "long"
    names = {Int64: "long", float: "double", Decimal128: "decimal", str: "string", dict: "object",
             list: "array", bytes: "binData", ObjectId: "objectId", type(None): "null",
             datetime.datetime: "date", Regex: "regex", Timestamp: "timestamp"}
    for cls, name in names.items():
        if isinstance(value, cls):
            return name
    return type(value).__name__


def _id_text(root: Mapping) -> str:
    return f"_id: {_render(root['_id'])}" if "_id" in root else "no id"


# --- parsing: the update tree --------------------------------------------------------------

class _ApplyContext:
    """What the nodes of a tree need while they are applied to one document."""

    def __init__(self, *, root: dict, query: Mapping | None, original: dict, upsert: bool,
                 collation: Any, now: datetime.datetime) -> None:
        self.root = root
        self.query = query
        self.original = original
        self.upsert = upsert
        self.collation = collation
        self.now = now
        self.changed = False
        self.fresh = {id(root)}  # containers copied for this update (safe to mutate)
        self._matched: Any = _MISSING

    def matched_index(self) -> str:
        """The array index the query matched, for the positional ``$`` (BadValue if none)."""
        if self._matched is _MISSING:
            self._matched = None if self.upsert or self.query is None else _positional_index(
                self.query, self.original, self.collation)
        if self._matched is None:
            raise _error(BAD_VALUE, "The positional operator did not find the match needed from the query.")
        return str(self._matched)


class _Node:
    """A node of the update tree (an object level, an array level, or one modifier)."""

    def apply_existing(self, ctx: _ApplyContext, container: Any, key: Any, path: list[str]) -> None:
        raise NotImplementedError

    def apply_missing(self, ctx: _ApplyContext, base: Any, taken: list[str], to_create: list[str]) -> None:
        raise NotImplementedError


def _dispatch(ctx: _ApplyContext, child: _Node, elem: Any, name: str, taken: list[str]) -> None:
    """Apply ``child`` to the field or element ``name`` of the existing value ``elem``."""
    if isinstance(elem, dict) and name in elem:
        child.apply_existing(ctx, elem, name, taken + [name])
        return
    if isinstance(elem, list):
        index = _array_index(name)
        if index is not None and index < len(elem):
            child.apply_existing(ctx, elem, index, taken + [name])
            return
    child.apply_missing(ctx, elem, taken, [name])


def _writable(ctx: _ApplyContext, container: Any, key: Any) -> Any:
    """``container[key]``, replaced first by a shallow copy when it is a document or array of
    the input (the input is never modified; unchanged parts are shared with the result)."""
    value = container[key]
    if isinstance(value, (dict, list)) and id(value) not in ctx.fresh:
        value = dict(value) if isinstance(value, dict) else list(value)
        ctx.fresh.add(id(value))
        container[key] = value
    return value


class _ObjectNode(_Node):
    """One level of a path: its named children and the positional ``$`` child."""

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.positional: _Node | None = None
        self._order: list[str] | None = None

    def apply_existing(self, ctx, container, key, path):
        self.apply_into(ctx, _writable(ctx, container, key), path, [])

    def apply_missing(self, ctx, base, taken, to_create):
        self.apply_into(ctx, base, taken, to_create)

    def apply_into(self, ctx: _ApplyContext, elem: Any, taken: list[str], to_create: list[str]) -> None:
        children = self.children
        if self.positional is not None:
            name = ctx.matched_index()
            children = dict(children)
            children[name] = _merge(children[name], self.positional, taken + [name]) \
                if name in children else self.positional
            order = sorted(children, key=_FIELD_KEY)
        else:
            if self._order is None:  # the tree does not change once parsed
                self._order = sorted(children, key=_FIELD_KEY)
            order = self._order
        for name in order:
            if to_create:
                # An earlier child may have created the missing path: continue inside it.
                created = _lookup(elem, to_create)
                if created is not _MISSING:
                    elem, taken, to_create = created, taken + to_create, []
            if to_create:
                children[name].apply_missing(ctx, elem, taken, to_create + [name])
            else:
                _dispatch(ctx, children[name], elem, name, taken)


class _ArrayNode(_Node):
    """``$[]`` (identifier ``""``) and ``$[<identifier>]`` children of one array path."""

    def __init__(self, filters: dict[str, Callable[[Any], bool]]) -> None:
        self.children: dict[str, _Node] = {}
        self.filters = filters

    def apply_existing(self, ctx, container, key, path):
        array = _writable(ctx, container, key)
        if not isinstance(array, list):
            raise _error(BAD_VALUE, f"Cannot apply array updates to non-array element "
                                        f"{path[-1]}: {_render(array)}")
        children = sorted(self.children.items(), key=lambda kv: _FIELD_KEY(kv[0]))
        for index in range(len(array)):
            matching = [child for ident, child in children if ident == "" or self.filters[ident](array[index])]
            if not matching:
                continue
            node = functools.reduce(lambda a, b: _merge(a, b, path + [str(index)]), matching)
            node.apply_existing(ctx, array, index, path + [str(index)])

    def apply_missing(self, ctx, base, taken, to_create):
        raise _error(BAD_VALUE, f"The path '{'.'.join(taken + to_create)}' must exist in the "
                                    f"document in order to apply array updates.")


def _merge(a: _Node, b: _Node, path: list[str]) -> _Node:
    """One node doing what ``a`` and ``b`` do at the same place (positional ``$`` meeting an
    index, several array filters selecting one element); two modifiers conflict (40)."""
    if isinstance(a, _ObjectNode) and isinstance(b, _ObjectNode):
        merged = _ObjectNode()
        merged.children = dict(a.children)
        for name, child in b.children.items():
            merged.children[name] = _merge(merged.children[name], child, path + [name]) \
                if name in merged.children else child
        if a.positional and b.positional:
            merged.positional = _merge(a.positional, b.positional, path + ["$"])
        else:
            merged.positional = a.positional or b.positional
        return merged
    if isinstance(a, _ArrayNode) and isinstance(b, _ArrayNode):
        merged_array = _ArrayNode(a.filters)
        merged_array.children = dict(a.children)
        for ident, child in b.children.items():
            merged_array.children[ident] = _merge(merged_array.children[ident], child, path + [f"$[{ident}]"]) \
                if ident in merged_array.children else child
        return merged_array
    raise _error(CONFLICTING_UPDATE_OPERATORS, f"Update created a conflict at '{'.'.join(path)}'")


_MODIFIERS: dict[str, Callable[..., "_Leaf"]] = {}


def _modifier(name: str):
    def register(cls):
        _MODIFIERS[name] = cls
        cls.op = name
        return cls
    return register


def _parse_update(update: Mapping, array_filters: list | None, collation: Any) -> _ObjectNode:
    """Parse an operator update into its tree (all parse errors raised here, in MongoDB's order)."""
    filters = _parse_array_filters(array_filters, collation)
    used: set[str] = set()
    root = _ObjectNode()
    for op, spec in update.items():
        factory = _MODIFIERS.get(op)
        if factory is None:
            raise _error(FAILED_TO_PARSE, f"Unknown modifier: {op}. Expected a valid update modifier "
                                              "or pipeline-style update specified as an array")
        if not isinstance(spec, Mapping):
            raise _error(FAILED_TO_PARSE, f"Modifiers operate on fields but we found type "
                                              f"{_type_name(spec)} instead. For example: {{$mod: {{<field>: ...}}}}"
                                              f" not {{{op}: {_render(spec)}}}")
        for path, arg in spec.items():
            if op == "$rename":
                if type(arg) is not str:
                    raise _error(BAD_VALUE, f"The 'to' field for $rename must be a string: {path}: {_render(arg)}")
                source = _split_path(path)
                target = _split_path(arg)
                _insert(root, source, _RenameSource(source), filters, used, path)
                leaf = _Rename(source, target, path, arg)
                _insert(root, target, leaf, filters, used, arg)
            else:
                parts = _split_path(path)
                _insert(root, parts, factory(arg, parts, collation), filters, used, path)
    unused = set(filters) - used
    if unused:
        ident = sorted(unused)[0]
        raise _error(FAILED_TO_PARSE, f"The array filter for identifier '{ident}' was not used in the "
                                          f"update {_render(dict(update))}")
    return root


def _insert(root: _ObjectNode, parts: list[str], leaf: "_Leaf", filters: dict, used: set[str],
            path: str) -> None:
    """Place ``leaf`` at ``parts`` in the tree; a path that is (or runs through) another
    update's path conflicts (ConflictingUpdateOperators, 40)."""
    positions = [i for i, part in enumerate(parts) if part == "$"]
    if len(positions) > 1:
        raise _error(BAD_VALUE, f"Too many positional (i.e. '$') elements found in path '{path}'")
    if positions and positions[0] == 0:
        raise _error(BAD_VALUE, f"Cannot have positional (i.e. '$') element in the first position in path '{path}'")
    names: list[str] = []
    for i, part in enumerate(parts):
        if _is_array_filter_part(part):
            if i == 0:
                raise _error(BAD_VALUE, "Cannot have array filter identifier (i.e. '$[<id>]') element in "
                                            f"the first position in path '{path}'")
            ident = part[2:-1]
            if ident and ident not in filters:
                raise _error(BAD_VALUE, f"No array filter found for identifier '{ident}' in path '{path}'")
            if ident:
                used.add(ident)
            names.append(ident)
        else:
            names.append(part)
    current: _Node = root
    for i in range(len(parts)):
        last = i == len(parts) - 1
        wanted = None if last else (_ArrayNode if _is_array_filter_part(parts[i + 1]) else _ObjectNode)
        if isinstance(current, _ArrayNode):
            existing = current.children.get(names[i])
        elif parts[i] == "$":
            existing = current.positional
        else:
            existing = current.children.get(names[i])
        if existing is not None and (last or not isinstance(existing, wanted)):
            at = path if last else ".".join(parts[:i + 1])
            raise _error(CONFLICTING_UPDATE_OPERATORS,
                             f"Updating the path '{path}' would create a conflict at '{at}'")
        if existing is None:
            existing = leaf if last else (wanted(filters) if wanted is _ArrayNode else wanted())
            if isinstance(current, _ArrayNode) or parts[i] != "$":
                current.children[names[i]] = existing
            else:
                current.positional = existing
        current = existing


def _parse_array_filters(array_filters: list | None, collation: Any) -> dict[str, Callable[[Any], bool]]:
    """``arrayFilters`` → {identifier: predicate on one array element}."""
    if not array_filters:
        return {}
    from .query import compile_filter  # lazy: query depends on more than update needs at import

    filters: dict[str, Callable[[Any], bool]] = {}
    for spec in array_filters:
        if not isinstance(spec, Mapping):
            raise _error(TYPE_MISMATCH, "arrayFilters entries must be objects")
        names = _top_level_names(spec)
        if not names:
            raise _error(FAILED_TO_PARSE, "Cannot use an expression without a top-level field name in arrayFilters")
        if len(names) > 1:
            a, b = sorted(names)[:2]
            raise _error(FAILED_TO_PARSE, f"Error parsing array filter :: caused by :: Expected a single "
                                              f"top-level field name, found '{a}' and '{b}'")
        ident = names.pop()
        if not re.fullmatch(r"[a-z][a-zA-Z0-9]*", ident):
            raise _error(BAD_VALUE, "Error parsing array filter :: caused by :: The top-level field name must "
                                        f"be an alphanumeric string beginning with a lowercase letter, found '{ident}'")
        if ident in filters:
            raise _error(FAILED_TO_PARSE, f"Found multiple array filters with the same top-level field name {ident}")
        matcher = compile_filter(spec, collation)
        filters[ident] = (lambda m, name: lambda element: m({name: element}))(matcher, ident)
    return filters


def _top_level_names(spec: Mapping) -> set[str]:
    """The first path components a filter tests (through ``$and``/``$or``/``$nor``)."""
    names: set[str] = set()
    for key, value in spec.items():
        if key in ("$and", "$or", "$nor") and isinstance(value, list):
            for clause in value:
                if isinstance(clause, Mapping):
                    names |= _top_level_names(clause)
        elif not key.startswith("$"):
            names.add(key.split(".")[0])
    return names


# --- the modifiers -------------------------------------------------------------------------

class _Leaf(_Node):
    """One modifier at one path. Subclasses define :meth:`modify` (the new value of an existing
    field, or _NOOP/_REMOVE) and, when they create missing fields, :meth:`create`."""

    op = ""
    creates = True        # False: a missing (or non-viable) path is a no-op ($unset, $pop, $pull…)
    insert_only = False   # $setOnInsert

    def __init__(self, arg: Any, parts: list[str], collation: Any) -> None:
        self.arg = arg
        self.parts = parts
        self.collation = collation

    def modify(self, ctx: _ApplyContext, value: Any, path: list[str]) -> Any:
        raise NotImplementedError

    def create(self, ctx: _ApplyContext) -> Any:
        raise NotImplementedError

    def apply_existing(self, ctx, container, key, path):
        if self.insert_only and not ctx.upsert:
            return
        new = self.modify(ctx, container[key], path)
        if new is _NOOP:
            return
        if path[0] == "_id":
            raise _error(IMMUTABLE_FIELD, f"Performing an update on the path '{'.'.join(path)}' would "
                                              f"modify the immutable field '_id'")
        if new is _REMOVE:
            if isinstance(container, dict):
                del container[key]
            else:
                container[key] = None  # $unset of an array element leaves a null in its place
        else:
            container[key] = new
            if not ctx.upsert and len(path) == 1:
                _validate_dollar_field(container, key)
        ctx.changed = True

    def apply_missing(self, ctx, base, taken, to_create):
        if (self.insert_only and not ctx.upsert) or not self.creates:
            return
        value = self.create(ctx)
        if taken and taken[0] == "_id":
            raise _error(IMMUTABLE_FIELD, f"Updating the path '{'.'.join(taken + to_create)}' would "
                                              f"modify the immutable field '_id'")
        _create_path(base, taken, to_create, value)
        if not ctx.upsert and not taken and isinstance(base, dict):
            _validate_dollar_field(base, to_create[0])
        ctx.changed = True


def _create_path(base: Any, taken: list[str], to_create: list[str], value: Any) -> None:
    """Create ``to_create`` below the existing ``base`` (at ``taken``) holding ``value``:
    documents for the missing levels, null padding when the first level is an array index."""
    first = to_create[0]
    if isinstance(base, list):
        index = _array_index(first)
        if index is None:
            raise _error(PATH_NOT_VIABLE, f"Cannot create field '{first}' in element "
                                              f"{{{taken[-1] if taken else ''}: {_render(base)}}}")
        if index - len(base) > MAX_PADDING:
            raise _error(CANNOT_BACKFILL_ARRAY, f"can't backfill more than {MAX_PADDING} elements")
    elif not isinstance(base, dict):
        raise _error(PATH_NOT_VIABLE, f"Cannot create field '{first}' in element "
                                          f"{{{taken[-1] if taken else ''}: {_render(base)}}}")
    for part in reversed(to_create[1:]):
        value = {part: value}
    if isinstance(base, list):
        base.extend([None] * (index - len(base)))
        base.append(value)
    else:
        base[first] = value


def _validate_dollar_field(container: dict, key: str) -> None:
    """A top-level field an update operator writes may not be ``$``-prefixed (52) unless it is
    part of a DBRef (MongoDB 5.0+ only checks the top level for operator updates)."""
    if key.startswith("$"):
        _validate_dollar_element(container, key)


@_modifier("$set")
class _Set(_Leaf):
    def modify(self, ctx, value, path):
        return _NOOP if _binary_equal(value, self.arg) else _copy_tree(self.arg)

    def create(self, ctx):
        return _copy_tree(self.arg)


@_modifier("$setOnInsert")
class _SetOnInsert(_Set):
    insert_only = True


@_modifier("$unset")
class _Unset(_Leaf):
    creates = False

    def modify(self, ctx, value, path):
        return _REMOVE


class _Arithmetic(_Leaf):
    verb = ""

    def __init__(self, arg, parts, collation):
        if _num_kind(arg) is None:
            raise _error(TYPE_MISMATCH, f"Cannot {self.verb} with non-numeric argument: "
                                            f"{{{'.'.join(parts)}: {_render(arg)}}}")
        super().__init__(arg, parts, collation)

    def combine(self, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def modify(self, ctx, value, path):
        if _num_kind(value) is None:
            raise _error(TYPE_MISMATCH, f"Cannot apply {self.op} to a value of non-numeric type. "
                                            f"{{{_id_text(ctx.root)}}} has the field '{path[-1]}' of "
                                            f"non-numeric type {_type_name(value)}")
        result = self.combine(self.arg, value)
        if result is None:
            raise _error(BAD_VALUE, f"Failed to apply {self.op} operations to current value "
                                        f"({_render(value)}) for document {{{_id_text(ctx.root)}}}")
        return _NOOP if _identical_numbers(result, value) else result


@_modifier("$inc")
class _Inc(_Arithmetic):
    verb = "increment"

    def combine(self, a, b):
        return _add(a, b)

    def create(self, ctx):
        return self.arg


@_modifier("$mul")
class _Mul(_Arithmetic):
    verb = "multiply"

    def combine(self, a, b):
        return _multiply(a, b)

    def create(self, ctx):
        return _multiply(self.arg, 0)  # a zero of the argument's type (-0.0 for a negative double)


class _Compare(_Leaf):
    keep_when = 0  # compare(current, arg) sign that keeps the current value

    def modify(self, ctx, value, path):
        from .bsonorder import compare

        c = compare(value, self.arg, ctx.collation)
        return _NOOP if c == 0 or c == self.keep_when else _copy_tree(self.arg)

    def create(self, ctx):
        return _copy_tree(self.arg)


@_modifier("$min")
class _Min(_Compare):
    keep_when = -1


@_modifier("$max")
class _Max(_Compare):
    keep_when = 1


@_modifier("$currentDate")
class _CurrentDate(_Leaf):

    def __init__(self, arg, parts, collation):
        super().__init__(arg, parts, collation)
        if type(arg) is bool:
            self.as_date = True
        elif isinstance(arg, Mapping):
            found = None
            for name, value in arg.items():
                if name != "$type":
                    raise _error(BAD_VALUE, f"Unrecognized $currentDate option: {name}")
                if value in ("date", "timestamp") and type(value) is str:
                    found = value
            if found is None:
                raise _error(BAD_VALUE, "The '$type' string field is required to be 'date' or 'timestamp': "
                                            "{$currentDate: {field : {$type: 'date'}}}")
            self.as_date = found == "date"
        else:
            raise _error(BAD_VALUE, f"{_type_name(arg)} is not valid type for $currentDate. Please use a "
                                        "boolean ('true') or a $type expression ({$type: 'timestamp/date'}).")

    def modify(self, ctx, value, path):
        return self.create(ctx)

    def create(self, ctx):
        if self.as_date:
            return ctx.now
        return next_timestamp(int(ctx.now.replace(tzinfo=datetime.timezone.utc).timestamp()))


def _parse_integer(value: Any) -> int | None:
    """An int, int64, or integral double/decimal as a Python int (parseIntegerElementToLong)."""
    kind = _num_kind(value)
    if kind in ("int", "long"):
        return int(value)
    if kind == "double" and value == value and value not in (float("inf"), float("-inf")) \
            and value == int(value) and INT64_MIN <= value < 2.0**63:
        return int(value)
    if kind == "decimal":
        d = value.to_decimal()
        if d.is_finite() and d == d.to_integral_value() and INT64_MIN <= d <= INT64_MAX:
            return int(d)
    return None


@_modifier("$push")
class _Push(_Leaf):
    def __init__(self, arg, parts, collation):
        super().__init__(arg, parts, collation)
        self.position: int | None = None
        self.slice: int | None = None
        self.sort: Any = None
        if isinstance(arg, Mapping) and "$each" in arg:
            for clause in arg:
                if clause not in ("$each", "$slice", "$sort", "$position"):
                    raise _error(BAD_VALUE, f"Unrecognized clause in $push: {clause}")
            if not isinstance(arg["$each"], list):
                raise _error(BAD_VALUE, "The argument to $each in $push must be an array but it was of type: "
                                            f"{_type_name(arg['$each'])}")
            self.values = arg["$each"]
            if "$slice" in arg:
                self.slice = _parse_integer(arg["$slice"])
                if self.slice is None:
                    raise _error(BAD_VALUE, "The value for $slice must be an integer value but was given type: "
                                                f"{_type_name(arg['$slice'])}")
            if "$sort" in arg:
                self.sort = _parse_push_sort(arg["$sort"])
            if "$position" in arg:
                self.position = _parse_integer(arg["$position"])
                if self.position is None:
                    raise _error(BAD_VALUE, "The value for $position must be an integer value, not of type: "
                                                f"{_type_name(arg['$position'])}")
        else:
            self.values = [arg]

    def modify(self, ctx, value, path):
        if not isinstance(value, list):
            raise _error(BAD_VALUE, f"The field '{'.'.join(path)}' must be an array but is of type "
                                        f"{_type_name(value)} in document {{{_id_text(ctx.root)}}}")
        return self._push(list(value), ctx)

    def create(self, ctx):
        result = self._push([], ctx)
        return [] if result is _NOOP else result

    def _push(self, array: list, ctx: _ApplyContext) -> Any:
        changed = bool(self.values)
        values = _copy_tree(self.values)
        size, position = len(array), self.position
        if position is None or position > size or size == 0:
            array.extend(values)
        elif position >= 0:
            array[position:position] = values
        elif -position < size:
            array[size + position:size + position] = values
        else:
            array[0:0] = values
        if self.sort is not None:
            changed = True
            array = _sort_array(array, self.sort, ctx.collation)
        if self.slice is not None and len(array) > abs(self.slice):
            changed = True
            array = array[:self.slice] if self.slice >= 0 else array[len(array) + self.slice:]
        return array if changed else _NOOP


def _parse_push_sort(spec: Any) -> Any:
    """``$sort`` of ``$push``: ±1 (whole elements) or ``{field: ±1, …}``; returns 1, -1 or a
    list of (path parts, direction)."""
    if isinstance(spec, Mapping):
        if not spec:
            raise _error(BAD_VALUE, "The $sort pattern is empty when it should be a set of fields.")
        pattern = []
        for field, direction in spec.items():
            if _num_kind(direction) is None or float(_as_float(direction)) not in (1.0, -1.0):
                raise _error(BAD_VALUE, "The $sort element value must be either 1 or -1")
            if field == "":
                raise _error(BAD_VALUE, "The $sort field cannot be empty")
            if any(part == "" for part in field.split(".")):
                raise _error(BAD_VALUE, f"The $sort field is a dotted field but has an empty part: {field}")
            pattern.append((field.split("."), 1 if _as_float(direction) > 0 else -1))
        return pattern
    if _num_kind(spec) is not None:
        if _as_float(spec) not in (1.0, -1.0):
            raise _error(BAD_VALUE, "The $sort element value must be either 1 or -1")
        return 1 if _as_float(spec) > 0 else -1
    raise _error(BAD_VALUE, "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} "
                                "to sort embedded fields")


def _sort_array(array: list, sort: Any, collation: Any) -> list:
    """Stable sort of ``$push``'s array: whole values, or documents by field values found with
    plain dotted lookup (no array expansion; missing and non-documents count as null)."""
    from .bsonorder import compare

    if isinstance(sort, int):
        return sorted(array, key=functools.cmp_to_key(lambda a, b: sort * compare(a, b, collation)))

    def by_pattern(a: Any, b: Any) -> int:
        for parts, direction in sort:
            va = _dotted_value(a, parts)
            vb = _dotted_value(b, parts)
            c = compare(va, vb, collation)
            if c:
                return c * direction
        return 0

    return sorted(array, key=functools.cmp_to_key(by_pattern))


def _dotted_value(value: Any, parts: list[str]) -> Any:
    """BSONObj::getFieldDotted of one array element (null when missing or not a document)."""
    if not isinstance(value, dict):
        return None
    found = value
    for part in parts:
        if isinstance(found, dict) and part in found:
            found = found[part]
        elif isinstance(found, list) and part.isdigit() and str(int(part)) == part and int(part) < len(found):
            found = found[int(part)]
        else:
            return None
    return found


@_modifier("$addToSet")
class _AddToSet(_Leaf):
    def __init__(self, arg, parts, collation):
        super().__init__(arg, parts, collation)
        first = next(iter(arg), None) if isinstance(arg, Mapping) else None
        if first == "$each":
            if not isinstance(arg["$each"], list):
                raise _error(TYPE_MISMATCH, "The argument to $each in $addToSet must be an array but it was "
                                                f"of type {_type_name(arg['$each'])}")
            if len(arg) > 1:
                raise _error(BAD_VALUE, f"Found unexpected fields after $each in $addToSet: {_render(dict(arg))}")
            values = arg["$each"]
        else:
            values = [arg]
        self.values = _deduplicate(values, collation)

    def modify(self, ctx, value, path):
        from .bsonorder import compare

        if not isinstance(value, list):
            raise _error(BAD_VALUE, f"Cannot apply $addToSet to non-array field. Field named "
                                        f"'{path[-1]}' has non-array type {_type_name(value)}")
        added = [v for v in self.values if not any(compare(v, e, ctx.collation) == 0 for e in value)]
        return value + _copy_tree(added) if added else _NOOP

    def create(self, ctx):
        return _copy_tree(self.values)


def _deduplicate(values: list, collation: Any) -> list:
    from .bsonorder import compare

    kept: list = []
    for v in values:
        if not any(compare(v, k, collation) == 0 for k in kept):
            kept.append(v)
    return kept


@_modifier("$pop")
class _Pop(_Leaf):
    creates = False

    def __init__(self, arg, parts, collation):
        super().__init__(arg, parts, collation)
        if _num_kind(arg) is None:
            raise _error(FAILED_TO_PARSE, f"Expected a number in: {'.'.join(parts)}: {_render(arg)}")
        n = _parse_integer(arg)
        if n is None:
            raise _error(FAILED_TO_PARSE, f"Expected an integer: {'.'.join(parts)}: {_render(arg)}")
        if n not in (1, -1):
            raise _error(FAILED_TO_PARSE, f"$pop expects 1 or -1, found: {n}")
        self.from_front = n == -1

    def modify(self, ctx, value, path):
        if not isinstance(value, list):
            raise _error(TYPE_MISMATCH, f"Path '{'.'.join(path)}' contains an element of non-array type "
                                            f"'{_type_name(value)}'")
        if not value:
            return _NOOP
        return value[1:] if self.from_front else value[:-1]


class _Culling(_Leaf):
    """$pull and $pullAll: remove the elements ``removes`` selects."""

    creates = False

    def removes(self, ctx: _ApplyContext, element: Any) -> bool:
        raise NotImplementedError

    def modify(self, ctx, value, path):
        if not isinstance(value, list):
            raise _error(BAD_VALUE, "Cannot apply $pull to a non-array value")
        kept = [e for e in value if not self.removes(ctx, e)]
        return kept if len(kept) != len(value) else _NOOP


# Operators that apply to a value (a $pull condition starting with one of these is matched
# against each element itself; any other document is a query on document elements).
_VALUE_OPERATORS = frozenset({
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$type", "$mod", "$regex",
    "$options", "$elemMatch", "$size", "$all", "$not", "$bitsAllSet", "$bitsAllClear", "$bitsAnySet",
    "$bitsAnyClear", "$geoWithin", "$geoIntersects", "$near", "$nearSphere", "$within",
    "$_internalSchemaType",
})


@_modifier("$pull")
class _Pull(_Culling):
    def __init__(self, arg, parts, collation):
        super().__init__(arg, parts, collation)
        first = next(iter(arg), None) if isinstance(arg, Mapping) else None
        if isinstance(arg, Mapping) and first not in _VALUE_OPERATORS:
            self.mode = "object"      # a query each document element must match
            self.matcher = _compile({**arg}, collation)
        elif isinstance(arg, (Mapping, Regex, re.Pattern)):
            self.mode = "wrapped"     # a condition on the element itself
            self.matcher = _compile({"x": arg}, collation)
        else:
            self.mode = "equal"

    def removes(self, ctx, element):
        if self.mode == "object":
            return isinstance(element, dict) and self.matcher(element)
        if self.mode == "wrapped":
            return self.matcher({"x": element})
        from .bsonorder import compare

        return compare(element, self.arg, ctx.collation) == 0


def _compile(spec: Mapping, collation: Any) -> Callable[[dict], bool]:
    from .query import compile_filter  # lazy: query is a sibling module written in parallel

    return compile_filter(spec, collation)


@_modifier("$pullAll")
class _PullAll(_Culling):
    def __init__(self, arg, parts, collation):
        super().__init__(arg, parts, collation)
        if not isinstance(arg, list):
            raise _error(BAD_VALUE, f"$pullAll requires an array argument but was given a {_type_name(arg)}")

    def removes(self, ctx, element):
        from .bsonorder import compare

        return any(compare(element, v, ctx.collation) == 0 for v in self.arg)


@_modifier("$bit")
class _Bit(_Leaf):
    def __init__(self, arg, parts, collation):
        super().__init__(arg, parts, collation)
        if not isinstance(arg, Mapping):
            raise _error(BAD_VALUE, f"The $bit modifier is not compatible with a {_type_name(arg)}.  You must "
                                        "pass in an embedded document: {$bit: {field: {and/or/xor: #}}")
        self.ops = []
        for name, operand in arg.items():
            if name not in ("and", "or", "xor"):
                raise _error(BAD_VALUE, "The $bit modifier only supports 'and', 'or', and 'xor', not "
                                            f"'{name}' which is an unknown operator: {{{name}: {_render(operand)}}}")
            if _num_kind(operand) not in ("int", "long"):
                raise _error(BAD_VALUE, "The $bit modifier field must be an Integer(32/64 bit); a "
                                            f"'{_type_name(operand)}' is not supported here: "
                                            f"{{{name}: {_render(operand)}}}")
            self.ops.append((name, operand))
        if not self.ops:
            raise _error(BAD_VALUE, "You must pass in at least one bitwise operation. The format is: "
                                        "{$bit: {field: {and/or/xor: #}}")

    def _run(self, value: Any) -> Any:
        for name, operand in self.ops:
            wide = _num_kind(value) == "long" or _num_kind(operand) == "long"
            a, b = int(value), int(operand)
            result = a & b if name == "and" else a | b if name == "or" else a ^ b
            value = Int64(result) if wide else result
        return value

    def modify(self, ctx, value, path):
        if _num_kind(value) not in ("int", "long"):
            raise _error(BAD_VALUE, f"Cannot apply $bit to a value of non-integral type.{_id_text(ctx.root)} "
                                        f"has the field {path[-1]} of non-integer type {_type_name(value)}")
        result = self._run(value)
        return _NOOP if _identical_numbers(result, value) else result

    def create(self, ctx):
        return self._run(0)


class _RenameSource(_Leaf):
    """The source path of a ``$rename``: holds its place in the tree (so that other updates
    of it conflict); the :class:`_Rename` at the destination does the work."""

    creates = False

    def __init__(self, parts: list[str]) -> None:
        super().__init__(None, parts, None)

    def apply_existing(self, ctx, container, key, path):
        pass

    def apply_missing(self, ctx, base, taken, to_create):
        pass


@_modifier("$rename")
class _Rename(_Leaf):
    """``$rename`` placed at its destination: moves the source value there, then removes the
    source. A missing source is a no-op; sources or destinations inside arrays are refused."""

    def __init__(self, source: list[str], target: list[str], source_text: str, target_text: str) -> None:
        super().__init__(None, target, None)
        spec = f"{source_text}: \"{target_text}\""
        if source == target:
            raise _error(BAD_VALUE, f"The source and target field for $rename must differ: {spec}")
        if source[:len(target)] == target or target[:len(source)] == source:
            raise _error(BAD_VALUE, f"The source and target field for $rename must not be on the same path: {spec}")
        if any(p == "$" or _is_array_filter_part(p) for p in source):
            raise _error(BAD_VALUE, f"The source field for $rename may not be dynamic: {source_text}")
        if any(p == "$" or _is_array_filter_part(p) for p in target):
            raise _error(BAD_VALUE, f"The destination field for $rename may not be dynamic: {target_text}")
        self.source = source
        self.source_text = source_text
        self.target_text = target_text

    def _find_source(self, ctx: _ApplyContext) -> tuple[Any, Any]:
        """(parent document, value) of the source, or (None, _MISSING) when it does not exist.

        A path through a scalar, or by name through an array, is not viable (28); a source
        inside an array is refused (BadValue)."""
        parent: Any = ctx.root
        array_name = None
        for i, part in enumerate(self.source):
            if isinstance(parent, list):
                index = _array_index(part)
                if index is None:
                    raise _error(PATH_NOT_VIABLE, f"cannot use the part ({part} of {self.source_text}) to "
                                                      f"traverse the element ({{{self.source[i - 1]}: {_render(parent)}}})")
                array_name = array_name or self.source[i - 1]
                if index >= len(parent):
                    return None, _MISSING
                value = parent[index]
            elif isinstance(parent, dict):
                if part not in parent:
                    return None, _MISSING
                value = parent[part]
            else:
                raise _error(PATH_NOT_VIABLE, f"cannot use the part ({part} of {self.source_text}) to traverse "
                                                  f"the element ({{{self.source[i - 1]}: {_render(parent)}}})")
            if i < len(self.source) - 1:
                parent = value
        if array_name is not None:
            raise _error(BAD_VALUE, f"The source field cannot be an array element, '{self.source_text}' in doc "
                                        f"with {_id_text(ctx.root)} has an array field called '{array_name}'")
        return parent, value

    def _check_destination(self, ctx: _ApplyContext, parts: list[str]) -> None:
        """No array may hold the destination (``parts`` are its existing ancestors)."""
        elem: Any = ctx.root
        for part in parts:
            elem = elem[part] if isinstance(elem, dict) else elem[int(part)]
            if isinstance(elem, list):
                raise _error(BAD_VALUE, f"The destination field cannot be an array element, "
                                            f"'{self.target_text}' in doc with {_id_text(ctx.root)} has an array "
                                            f"field called '{part}'")

    def _move(self, ctx: _ApplyContext, ancestors: list[str], write: Callable[[Any], None]) -> None:
        _, value = self._find_source(ctx)
        if value is _MISSING:
            return
        self._check_destination(ctx, ancestors)
        write(value)
        parent = ctx.root
        for part in self.source[:-1]:
            parent = _writable(ctx, parent, part)
        del parent[self.source[-1]]
        if self.source[0] == "_id":
            raise _error(IMMUTABLE_FIELD, f"Unsetting the path '{self.source_text}' using $rename would modify "
                                              "the immutable field '_id'")
        ctx.changed = True

    def apply_existing(self, ctx, container, key, path):
        def write(value: Any) -> None:
            from .bsonorder import compare

            # Same value (exactly, without collation): the destination is left as it is.
            if compare(container[key], value) != 0:
                if path[0] == "_id":
                    raise _error(IMMUTABLE_FIELD, f"Performing an update on the path '{'.'.join(path)}' "
                                                      "would modify the immutable field '_id'")
                container[key] = value
        self._move(ctx, path[:-1], write)

    def apply_missing(self, ctx, base, taken, to_create):
        def write(value: Any) -> None:
            if taken and taken[0] == "_id":
                raise _error(IMMUTABLE_FIELD, f"Updating the path '{'.'.join(taken + to_create)}' would "
                                                  "modify the immutable field '_id'")
            _create_path(base, taken, to_create, value)
            if not ctx.upsert and not taken:
                _validate_dollar_field(base, to_create[0])
        self._move(ctx, taken, write)


def _copy_tree(value: Any) -> Any:
    """A copy of a BSON value whose documents and arrays are new (the only mutable values the
    update mutates; scalars are shared). Much faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: _copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_tree(v) for v in value]
    return value


# --- numbers (MongoDB's SafeNum rules for $inc, $mul, $bit) ----------------------------------

def _num_kind(value: Any) -> str | None:
    t = type(value)
    if t is int:
        return "int" if INT32_MIN <= value <= INT32_MAX else "long"
    return {Int64: "long", float: "double", Decimal128: "decimal"}.get(t)


def _as_float(value: Any) -> float:
    return float(value.to_decimal()) if type(value) is Decimal128 else float(value)


def _as_decimal(value: Any) -> decimal.Decimal:
    """A number as a decimal the way MongoDB widens it (a double keeps 15 significant digits)."""
    kind = _num_kind(value)
    if kind == "decimal":
        return value.to_decimal()
    if kind == "double":
        if value != value or value in (float("inf"), float("-inf")):
            return decimal.Decimal(repr(value).replace("inf", "Infinity"))
        return _DECIMAL.create_decimal(f"{value:.14e}")
    return decimal.Decimal(int(value))


def _integer_result(value: int, wide: bool) -> Any:
    """An integer result: int32 when both operands were int32 and it fits, int64 when it fits
    in 64 bits, None (MongoDB's invalid SafeNum → an error) otherwise."""
    if not wide and INT32_MIN <= value <= INT32_MAX:
        return value
    if not wide:
        return Int64(value)  # int32 op int32 never overflows 64 bits
    return Int64(value) if INT64_MIN <= value <= INT64_MAX else None


def _arith(a: Any, b: Any, op: str) -> Any:
    ka, kb = _num_kind(a), _num_kind(b)
    if ka in ("int", "long") and kb in ("int", "long"):
        result = int(a) + int(b) if op == "+" else int(a) * int(b)
        return _integer_result(result, wide=ka == "long" or kb == "long")
    if ka == "decimal" or kb == "decimal":
        da, db = _as_decimal(a), _as_decimal(b)
        return Decimal128(_DECIMAL.add(da, db) if op == "+" else _DECIMAL.multiply(da, db))
    fa, fb = _as_float(a), _as_float(b)
    return fa + fb if op == "+" else fa * fb


def _add(a: Any, b: Any) -> Any:
    return _arith(a, b, "+")


def _multiply(a: Any, b: Any) -> Any:
    return _arith(a, b, "*")


def _identical_numbers(a: Any, b: Any) -> bool:
    """SafeNum::isIdentical: same numeric type and equal value (so a no-op)."""
    ka, kb = _num_kind(a), _num_kind(b)
    if ka != kb:
        return False
    if ka == "decimal":
        return a.to_decimal() == b.to_decimal()
    return a == b


_SIMPLE_TYPES = (str, bool, int, type(None))
# Distinct Python types that can encode to the same BSON value.
_SAME_BSON_TYPE = {bytes: "binary", Binary: "binary", datetime.datetime: "date", DatetimeMS: "date"}


def _binary_equal(a: Any, b: Any) -> bool:
    """Same BSON type and bytes (MongoDB's binaryEqualValues: ``1`` and ``1.0`` differ, and so
    do ``0.0`` and ``-0.0``)."""
    ta, tb = type(a), type(b)
    if ta is not tb:
        if _SAME_BSON_TYPE.get(ta, ta) != _SAME_BSON_TYPE.get(tb, tb):
            return False
    elif ta in _SIMPLE_TYPES:
        return a == b
    elif ta is float:
        return struct.pack("<d", a) == struct.pack("<d", b)
    try:
        return codec.encode({"v": a}) == codec.encode({"v": b})
    except Exception:  # noqa: BLE001 - a value BSON cannot encode is never equal
        return False


# --- validation of stored field names ------------------------------------------------------

def _validate_dollar_element(container: dict, key: str) -> None:
    """A ``$``-prefixed field is only valid as part of a DBRef ($ref, $id, $db in that order)."""
    keys = list(container)
    i = keys.index(key)
    prev = keys[i - 1] if i > 0 else None
    nxt = keys[i + 1] if i + 1 < len(keys) else None
    if key == "$db":
        if type(container[key]) is not str:
            raise _error(INVALID_DBREF, f"The DBRef $db field must be a String, not a {_type_name(container[key])}")
        if prev != "$id":
            raise _error(INVALID_DBREF, "Found $db field without a $id before it, which is invalid.")
        return
    if key == "$id":
        if prev != "$ref":
            raise _error(INVALID_DBREF, "Found $id field without a $ref before it, which is invalid.")
        return
    if key == "$ref":
        if type(container[key]) is not str:
            raise _error(INVALID_DBREF, f"The DBRef $ref field must be a String, not a {_type_name(container[key])}")
        if nxt != "$id":
            raise _error(INVALID_DBREF, "The DBRef $ref field must be followed by a $id field")
        return
    raise _error(DOLLAR_PREFIXED_FIELD_NAME,
                     f"The dollar ($) prefixed field '{key}' in '{key}' is not allowed in the context of an "
                     "update's replacement document. Consider using an aggregation pipeline with $replaceWith.")


def _validate_id(value: Any) -> None:
    if isinstance(value, (list, Regex, re.Pattern)):
        raise _error(INVALID_ID_FIELD, f"The '_id' value cannot be of type {_type_name(value)}")
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.startswith("$"):
                try:
                    _validate_dollar_element(value, key)
                except StoreError as error:
                    raise _error(error.code, f"_id fields may not contain '$'-prefixed fields: {error.message}") \
                        from None
            if isinstance(inner, dict):
                _validate_id({k: v for k, v in inner.items()})


def _validate_top_level(doc: Mapping, *, allow_dollar: bool) -> None:
    if "_id" in doc:
        _validate_id(doc["_id"])
    if not allow_dollar:
        plain = dict(doc)
        for key in plain:
            if key.startswith("$"):
                _validate_dollar_element(plain, key)


# --- replacements, pipelines, upserts ------------------------------------------------------

def _apply_replacement(doc: dict, replacement: Mapping, upsert: bool, now: datetime.datetime) -> dict:
    """ObjectReplaceExecutor: the replacement's fields after the kept ``_id``; zero timestamps
    at the top level become the current time; ``_id`` may not change."""
    new_fields = _copy_tree(dict(replacement))
    for key, value in new_fields.items():
        if type(value) is Timestamp and value.time == 0 and value.inc == 0 and key != "_id":
            new_fields[key] = next_timestamp(int(now.replace(tzinfo=datetime.timezone.utc).timestamp()))
    return _replace(doc, new_fields, allow_dollar=upsert)


def _replace(doc: dict, new_fields: dict, *, allow_dollar: bool) -> dict:
    """``doc`` replaced by ``new_fields`` (a no-op only when both are the same bytes, as in
    MongoDB); a replacement without ``_id`` keeps the original one in its place."""
    if _same_document(doc, new_fields):
        return doc
    new = {"_id": doc["_id"]} if "_id" in doc and "_id" not in new_fields else {}
    new.update(new_fields)
    _validate_top_level(new, allow_dollar=allow_dollar)
    if "_id" in doc:
        from .bsonorder import compare

        if compare(new["_id"], doc["_id"]) != 0:
            raise _error(IMMUTABLE_FIELD, "After applying the update, the (immutable) field '_id' was found "
                                              f"to have been altered to _id: {_render(new['_id'])}")
    return new


def _same_document(a: dict, b: dict) -> bool:
    try:
        return codec.encode(a) == codec.encode(b)
    except Exception:  # noqa: BLE001 - a document BSON cannot encode is not the stored one
        return False


class _NoCollections:
    """The PipelineContext of an update pipeline: its stages never read other collections."""

    def scan(self, collection: str):
        raise _error(INVALID_OPTIONS, "other collections are not available within an update")

    def write_out(self, collection: str, docs: list) -> None:
        raise _error(INVALID_OPTIONS, "$out is not allowed to be used within an update")

    def merge_into(self, *args: Any) -> None:
        raise _error(INVALID_OPTIONS, "$merge is not allowed to be used within an update")


def _check_pipeline_stages(pipeline: list) -> None:
    """Refuse an update pipeline with a malformed stage or one not allowed in an update."""
    for stage in pipeline:
        if not isinstance(stage, Mapping) or len(stage) != 1:
            raise _error(FAILED_TO_PARSE, "A pipeline stage specification object must contain exactly one field.")
        name = next(iter(stage))
        if name not in PIPELINE_STAGES:
            raise _error(INVALID_OPTIONS, f"{name} is not allowed to be used within an update")


def _apply_pipeline(doc: dict, pipeline: list, upsert: bool, collation: Any, variables: Mapping | None,
                    now: datetime.datetime) -> dict:
    """An update pipeline ($addFields/$set, $project/$unset, $replaceRoot/$replaceWith) run on
    the document; the result replaces it (its ``_id`` may not change; a dropped ``_id`` is kept)."""
    _check_pipeline_stages(pipeline)
    from .aggregate import run_pipeline  # lazy: the aggregation module is large and optional here

    results = list(run_pipeline([_copy_tree(doc)], pipeline, _NoCollections(), collation=collation,
                                variables=dict(variables or {})))
    if len(results) != 1:
        raise _error(BAD_VALUE, "An update pipeline must produce exactly one document")
    return _replace(doc, results[0], allow_dollar=True)


def _finish_upsert(doc: dict) -> dict:
    """The document an upsert inserts: ``_id`` first (a new ObjectId when there is none), a
    valid ``_id`` and no array on its path."""
    if "_id" not in doc:
        doc = {"_id": ObjectId(), **doc}
    elif next(iter(doc)) != "_id":
        doc = {"_id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}
    _validate_top_level(doc, allow_dollar=True)
    if isinstance(doc["_id"], list):
        raise _error(NOT_SINGLE_VALUE_FIELD, "After applying the update to the document, the field '_id' was "
                                                 "found to be an array or array descendant.")
    return doc


def _collect_equalities(filter: Mapping, out: dict[str, Any]) -> None:
    """The equality conditions of a filter (see :func:`upsert_seed`)."""
    for key, value in filter.items():
        if key == "$expr":
            raise _error(QUERY_FEATURE_NOT_ALLOWED, "$expr is not allowed in the query of an upsert",
                             )
        if key == "$and" and isinstance(value, list):
            for clause in value:
                if isinstance(clause, Mapping):
                    _collect_equalities(clause, out)
        elif key == "$or" and isinstance(value, list) and len(value) == 1 and isinstance(value[0], Mapping):
            _collect_equalities(value[0], out)  # a one-clause $or is its clause
        elif key.startswith("$"):
            continue
        else:
            found = _equality_value(value)
            if found is not _MISSING:
                if key in out:
                    raise _error(NOT_SINGLE_VALUE_FIELD,
                                     f"cannot infer query fields to set, path '{key}' is matched twice")
                out[key] = found


def _equality_value(condition: Any) -> Any:
    """The value a condition fixes (implicit equality, ``$eq``, one-element ``$in``/``$all``),
    or _MISSING. Regexes are not equalities."""
    def plain(value: Any) -> bool:
        return not isinstance(value, (Regex, re.Pattern))

    if not plain(condition):
        return _MISSING
    if isinstance(condition, Mapping) and any(k.startswith("$") for k in condition):
        if "$eq" in condition and plain(condition["$eq"]):
            return condition["$eq"]
        for op in ("$in", "$all"):
            values = condition.get(op)
            if isinstance(values, list) and len(values) == 1 and plain(values[0]) \
                    and not (isinstance(values[0], Mapping) and "$elemMatch" in values[0]):
                return values[0]
        return _MISSING
    return condition


# --- the positional operator ---------------------------------------------------------------

# Query operators through which MongoDB records the array index that matched (elemMatchKey).
_POSITIONAL_OPERATORS = frozenset({"$eq", "$gt", "$gte", "$lt", "$lte", "$in", "$all", "$elemMatch",
                                   "$regex", "$options", "$mod", "$type", "$bitsAllSet", "$bitsAllClear",
                                   "$bitsAnySet", "$bitsAnyClear"})


def _positional_index(query: Mapping, doc: dict, collation: Any) -> int | None:
    """The index of the first element of the first array on a predicate's path that makes the
    predicate match (MongoDB's elemMatchKey; the last predicate that records one wins)."""
    found = None
    for path, condition in _predicates(query):
        if isinstance(condition, Mapping) and any(k.startswith("$") for k in condition) \
                and not set(condition) <= _POSITIONAL_OPERATORS:
            continue
        index = _first_matching_element(doc, path, condition, collation)
        if index is not None:
            found = index
    return found


def _predicates(query: Mapping):
    for key, value in query.items():
        if key == "$and" and isinstance(value, list):
            for clause in value:
                if isinstance(clause, Mapping):
                    yield from _predicates(clause)
        elif not key.startswith("$"):
            yield key, value


def _first_matching_element(doc: dict, path: str, condition: Any, collation: Any) -> int | None:
    parts = path.split(".")
    prefix: list[str] = []
    value: Any = doc
    for part in parts:
        if isinstance(value, list):
            break
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
        prefix.append(part)
    if not isinstance(value, list):
        return None
    matcher = _compile({path: condition}, collation)
    for index, element in enumerate(value):
        if matcher(_with_value(doc, prefix, [element])):
            return index
    return None


def _with_value(doc: dict, prefix: list[str], value: Any) -> dict:
    """A shallow copy of ``doc`` with the value at ``prefix`` (documents only) replaced."""
    if not prefix:
        return value
    copy_ = dict(doc)
    copy_[prefix[0]] = _with_value(doc[prefix[0]], prefix[1:], value)
    return copy_
