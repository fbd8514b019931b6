"""MongoDB query filters and dotted paths; the entry point for sorts, key ranges and projections.

- :func:`compile_filter` turns a filter document into a predicate over decoded documents,
  with MongoDB 7.0's semantics: a dotted path that crosses arrays reaches every element; a
  leaf array matches if the array itself or any of its elements matches; ``{a: null}``
  matches a missing ``a``; comparisons only hold between values of the same type (type
  bracketing); ``$ne``/``$nin``/``$not`` negate the whole path. Invalid filters raise
  :class:`StoreError` with MongoDB's code (BadValue 2 for an unknown operator).
- :func:`get_path_values` — the values a path reaches (``distinct``, index keys).
- :func:`key_ranges` — the ``encode_key`` ranges a field must fall into for a document to
  match (the storage layer's index fast path; in :mod:`.keyranges`).
- :func:`sort_documents` / :func:`compile_sort` — sorts (in :mod:`.sorting`).
- :func:`project` / :func:`compile_projection` — ``find`` projections (in :mod:`.projection`).

The path traversal follows MongoDB's ``BSONElementIterator`` (src/mongo/db/matcher/path.cpp).
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from bson.binary import Binary
from bson.dbref import DBRef
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.regex import Regex

from . import bsonorder
from .bsonorder import (
    NUMBER_TYPES, RANK_MAXKEY, RANK_MINKEY, RANK_NULL, RANK_NUMBER, TYPE_ALIASES, TYPE_NAMES,
    Collation, bson_type, compare, regex_flags, sort_key, type_rank,
)
from .errors import BAD_VALUE, StoreError, not_supported
from .pcre import REGEX_FLAGS, compile_pcre

Document = dict[str, Any]
Predicate = Callable[[Document], bool]


class _Missing:
    """The value of a path that reaches nothing (MongoDB's EOO): distinct from null."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

# Leaf array behaviours of MongoDB's path iterator.
TRAVERSE = 0       # the elements of a leaf array, then the array itself (most operators)
NO_TRAVERSAL = 1   # the leaf array itself only ($size, $elemMatch)
OMIT_ARRAY = 2     # the elements of a leaf array only (sort keys, distinct, index keys)


def _as_collation(collation: Collation | Mapping | None) -> Collation | None:
    if collation is None or isinstance(collation, Collation):
        return collation
    return Collation.from_spec(collation)


# --- paths ----------------------------------------------------------------------------

def _is_index(piece: str) -> bool:
    return piece.isascii() and piece.isdigit()


def _walk(obj: Mapping, parts: tuple[str, ...], start: int, mode: int, out: list) -> None:
    """Append to ``out`` the values ``parts[start:]`` reaches from the document ``obj``."""
    n = len(parts)
    i = start
    value: Any = MISSING
    cur: Any = obj
    # Follow documents until the path ends, is missing, hits a scalar or hits an array.
    while i < n:
        value = cur.get(parts[i], MISSING)
        if isinstance(value, dict):
            cur = value
            i += 1
            continue
        if type(value) is DBRef and i + 1 < n:  # a DBRef is the document {$ref, $id, ...}
            cur = value.as_doc()
            i += 1
            continue
        if value is not MISSING and not isinstance(value, list) and i + 1 < n:
            value = MISSING  # a scalar in the middle of the path: the path reaches nothing
        break
    if not isinstance(value, list):
        out.append(value)
        return
    if i + 1 == n:  # the path ends on this array
        if mode == NO_TRAVERSAL:
            out.append(value)
            return
        out.extend(value)
        if mode == TRAVERSE:
            out.append(value)
        return
    _walk_array(value, parts, i + 1, mode, out)


def _walk_array(array: list, parts: tuple[str, ...], k: int, mode: int, out: list) -> None:
    """The rest of the path ``parts[k:]`` from each element of an array in the middle of a path.

    Documents are searched for the rest of the path; if ``parts[k]`` is an index, the element
    at that index is also followed (a scalar there ends the path; a nested array continues).
    """
    piece = parts[k]
    index = int(piece) if _is_index(piece) and str(int(piece)) == piece else -1
    last = k + 1 == len(parts)
    for position, element in enumerate(array):
        if type(element) is DBRef:
            element = element.as_doc()
        if isinstance(element, dict):
            _walk(element, parts, k, mode, out)
            if position == index:
                if last:
                    out.append(element)
                else:
                    _walk(element, parts, k + 1, mode, out)
        elif position == index:
            if last:
                out.append(element)
            elif isinstance(element, list):
                _walk_array(element, parts, k + 1, mode, out)


def path_values(doc: Mapping, parts: tuple[str, ...], mode: int = TRAVERSE) -> list:
    """The values (possibly :data:`MISSING`) a split path reaches in ``doc`` (matcher view)."""
    if len(parts) == 1:
        value = doc.get(parts[0], MISSING)
        if not isinstance(value, list):
            return [value]
    out: list = []
    _walk(doc, parts, 0, mode, out)
    return out


def split_path(path: str) -> tuple[str, ...]:
    """``"a.b.0"`` → ``("a", "b", "0")``."""
    return tuple(path.split("."))


def get_path_values(doc: Mapping, path: str, *, keep_missing: bool = False) -> list:
    """The values a dotted path reaches, leaf arrays expanded one level (``distinct``, index keys).

    ``{a: [{b: [1, 2]}, {b: 3}]}`` and ``"a.b"`` give ``[1, 2, 3]``; nested arrays stay whole
    (``{a: [[1], 2]}`` gives ``[[1], 2]``). A document of an array lacking the field gives
    nothing, or ``None`` with ``keep_missing=True`` (index keys of such a document are null);
    a path missing altogether gives ``[]`` (or ``[None]``).
    """
    values = path_values(doc, split_path(path), OMIT_ARRAY)
    if keep_missing:
        return [None if v is MISSING else v for v in values]
    return [v for v in values if v is not MISSING]


# --- clauses: what an operator tests on the values of one path ------------------------

class _Leaf:
    """Any value reached by the path (in ``mode``) satisfies ``test``."""

    __slots__ = ("test", "mode")

    def __init__(self, test: Callable[[Any], bool], mode: int = TRAVERSE) -> None:
        self.test = test
        self.mode = mode

    def on_path(self, doc: Mapping, parts: tuple[str, ...]) -> bool:
        test = self.test
        for value in path_values(doc, parts, self.mode):
            if test(value):
                return True
        return False

    def on_value(self, value: Any) -> bool:
        return self.test(value)


class _Not:
    """Not all of ``inner`` hold ($ne, $nin, $not: the negation of the whole path)."""

    __slots__ = ("inner",)

    def __init__(self, inner: list) -> None:
        self.inner = inner

    def on_path(self, doc: Mapping, parts: tuple[str, ...]) -> bool:
        return not all(c.on_path(doc, parts) for c in self.inner)

    def on_value(self, value: Any) -> bool:
        return not all(c.on_value(value) for c in self.inner)


class _All:
    """All of ``inner`` hold ($all)."""

    __slots__ = ("inner",)

    def __init__(self, inner: list) -> None:
        self.inner = inner

    def on_path(self, doc: Mapping, parts: tuple[str, ...]) -> bool:
        return bool(self.inner) and all(c.on_path(doc, parts) for c in self.inner)

    def on_value(self, value: Any) -> bool:
        return bool(self.inner) and all(c.on_value(value) for c in self.inner)


# --- value tests ----------------------------------------------------------------------

# A missing value ranks between MinKey and null (MongoDB's EOO, canonical type 0).
_MISSING_RANK = (RANK_MINKEY + RANK_NULL) // 2


def _rank(value: Any) -> int:
    return _MISSING_RANK if value is MISSING else type_rank(value)


def _is_nan(value: Any) -> bool:
    t = type(value)
    if t is float:
        return value != value
    if t is Decimal128:
        return value.to_decimal().is_nan()
    return False


def _equality_test(rhs: Any, collation: Collation | None) -> Callable[[Any], bool]:
    """Single-value equality with MongoDB's rules (null also matches a missing value)."""
    if rhs is None:
        return lambda v: v is None or v is MISSING
    t = type(rhs)
    if t is str and collation is None:
        return lambda v: type(v) is str and v == rhs
    if t in (int, Int64, float, Decimal128) and t is not bool:
        if _is_nan(rhs):
            return _is_nan
        if t is not Decimal128:
            return lambda v: (type(v) in (int, Int64, float) and v == rhs) or (
                type(v) is Decimal128 and bsonorder.compare_numbers(v, rhs) == 0)
        return lambda v: bsonorder.is_number(v) and bsonorder.compare_numbers(v, rhs) == 0
    rank = type_rank(rhs)
    return lambda v: v is not MISSING and _rank(v) == rank and compare(v, rhs, collation) == 0


_LT, _LTE, _GT, _GTE = "$lt", "$lte", "$gt", "$gte"


def _comparison_test(op: str, rhs: Any, collation: Collation | None) -> Callable[[Any], bool]:
    """``$lt/$lte/$gt/$gte``: only values of the rhs's type compare (type bracketing)."""
    rhs_rank = type_rank(rhs)
    rhs_nan = _is_nan(rhs)
    inclusive = op in (_LTE, _GTE)
    below = op in (_LT, _LTE)

    # Same-type values Python orders like MongoDB: compared directly.
    fast_type = type(rhs) if type(rhs) in (int, Int64, str, datetime.datetime) or (
        type(rhs) is float and not rhs_nan) else None
    if fast_type is str and collation is not None:
        fast_type = None
    fast_types = (int, Int64, float) if fast_type in (int, Int64, float) else (fast_type,)

    def test(v: Any) -> bool:
        if fast_type is not None and type(v) in fast_types and v == v \
                and (fast_type is not datetime.datetime or (v.tzinfo is None) == (rhs.tzinfo is None)):
            if v == rhs:
                return inclusive
            return (v < rhs) == below
        rank = _rank(v)
        if rank != rhs_rank:
            if rhs_rank == RANK_NULL and rank == _MISSING_RANK:  # missing compares equal to null
                return inclusive
            if rhs_rank in (RANK_MINKEY, RANK_MAXKEY):
                return rank < rhs_rank if below else rank > rhs_rank
            return False
        if rank == RANK_NUMBER and (rhs_nan or _is_nan(v)):
            # NaN equals NaN and is neither above nor below anything.
            return inclusive and rhs_nan and _is_nan(v)
        c = compare(v, rhs, collation)
        if c == 0:
            return inclusive
        return (c < 0) == below

    return test


def compile_regex(pattern: str, options: str) -> re.Pattern[str]:
    """A Python regex for a MongoDB (PCRE) pattern and options; StoreError if invalid."""
    flags = 0
    for letter in options:
        if letter not in REGEX_FLAGS:
            raise StoreError(51108, f"invalid flag in regex options: {letter}")
        flags |= REGEX_FLAGS[letter]
    if "\x00" in pattern:
        raise StoreError(51109, "Regular expression cannot contain an embedded null byte")
    try:
        return compile_pcre(pattern, flags)
    except re.error as exc:
        raise StoreError(51091, f"Regular expression is invalid: {exc}") from None


def _regex_test(pattern: str, options: str) -> Callable[[Any], bool]:
    """A string matching the regex, or a stored regex with the same pattern and options."""
    compiled = compile_regex(pattern, options)
    flags = "".join(sorted(options))

    def test(v: Any) -> bool:
        if type(v) is str:
            return compiled.search(v) is not None
        if type(v) is Regex:
            return v.pattern == pattern and regex_flags(v) == flags
        return False

    return test


def _regex_of(value: Regex | re.Pattern) -> tuple[str, str]:
    if isinstance(value, re.Pattern):
        value = Regex.from_native(value)
    pattern = value.pattern.decode() if isinstance(value.pattern, bytes) else value.pattern
    return pattern, regex_flags(value)


def _is_regex(value: Any) -> bool:
    return isinstance(value, (Regex, re.Pattern))


def _in_test(values: list, collation: Collation | None) -> Callable[[Any], bool]:
    """``$in``: equal to one value, or matching one regex (null also matches missing)."""
    regexes = [_regex_test(*_regex_of(v)) for v in values if _is_regex(v)]
    literals = [v for v in values if not _is_regex(v)]
    has_null = any(v is None for v in literals)
    keys = {sort_key(v, collation) for v in literals}
    # Strings (without collation) are looked up directly: the common case of key lists.
    strings = {v for v in literals if type(v) is str} if collation is None else None

    def test(v: Any) -> bool:
        if v is MISSING:
            return has_null
        if strings is not None and type(v) is str:
            if v in strings:
                return True
        elif sort_key(v, collation) in keys:
            return True
        return any(r(v) for r in regexes)

    return test


def _type_test(spec: Any, path: str = "$type") -> Callable[[Any], bool]:
    if isinstance(spec, list) and not spec:
        raise StoreError(9, f"{path} must match at least one type")
    codes: set[int] = set()
    for item in spec if isinstance(spec, list) else [spec]:
        if type(item) is str:
            if item == "number":
                codes |= NUMBER_TYPES
            elif item in TYPE_ALIASES:
                codes.add(TYPE_ALIASES[item])
            else:
                raise StoreError(BAD_VALUE, f"Unknown type name alias: {item}")
        elif bsonorder.is_number(item):
            code = _integral(item)
            if code is None or code not in TYPE_NAMES:
                raise StoreError(BAD_VALUE, f"Invalid numerical type code: {item}")
            codes.add(code)
        else:
            raise StoreError(BAD_VALUE, "type must be represented as a number or a string")
    return lambda v: v is not MISSING and bson_type(v) in codes


def _whole_number(value: Any, what: str) -> int:
    """An integral number argument (int, Int64, integral double or decimal) as an int."""
    if not bsonorder.is_number(value):
        raise StoreError(BAD_VALUE, f"{what} needs a number")
    if type(value) is Decimal128:
        dec = value.to_decimal()
        if not dec.is_finite() or dec != dec.to_integral_value():
            raise StoreError(BAD_VALUE, f"{what} must be a whole number")
        return int(dec)
    if type(value) is float and (not math.isfinite(value) or value != int(value)):
        raise StoreError(BAD_VALUE, f"{what} must be a whole number")
    return int(value)


def _size_test(arg: Any) -> Callable[[Any], bool]:
    size = _whole_number(arg, "$size")
    if size < 0:
        raise StoreError(BAD_VALUE, "$size may not be negative")
    return lambda v: isinstance(v, list) and len(v) == size


def _integral(value: Any) -> int | None:
    """The int value of an integral finite number, else None."""
    truncated = _truncate(value)
    if truncated is None:
        return None
    exact = value.to_decimal() if type(value) is Decimal128 else value
    return truncated if truncated == exact else None


def _truncate(value: Any) -> int | None:
    """A number truncated toward zero, or None for NaN and infinities."""
    if type(value) is Decimal128:
        dec = value.to_decimal()
        return int(dec) if dec.is_finite() else None
    if type(value) is float:
        return int(value) if math.isfinite(value) else None
    return int(value)


def _mod_test(arg: Any) -> Callable[[Any], bool]:
    if not isinstance(arg, list):
        raise StoreError(BAD_VALUE, "malformed mod, needs to be an array")
    if len(arg) < 2:
        raise StoreError(BAD_VALUE, "malformed mod, not enough elements")
    if len(arg) > 2:
        raise StoreError(BAD_VALUE, "malformed mod, too many elements")
    names = ("divisor", "remainder")
    parsed = []
    for name, item in zip(names, arg):
        if not bsonorder.is_number(item):
            raise StoreError(BAD_VALUE, f"malformed mod, {name} not a number")
        truncated = _truncate(item)
        if truncated is None:
            raise StoreError(BAD_VALUE, f"malformed mod, {name} value is invalid :: caused by :: "
                                        "Unable to coerce NaN/Inf to integral type")
        parsed.append(truncated)
    divisor, remainder = parsed
    if divisor == 0:
        raise StoreError(BAD_VALUE, "divisor cannot be 0")

    def test(v: Any) -> bool:
        if not bsonorder.is_number(v):
            return False
        x = _truncate(v)
        if x is None:
            return False
        r = abs(x) % abs(divisor)  # C++ %: the remainder has the dividend's sign
        return (-r if x < 0 else r) == remainder

    return test


def _bit_positions(op: str, arg: Any) -> list[int]:
    if isinstance(arg, (bytes, Binary)):
        data = bytes(arg)
        return [8 * i + j for i, byte in enumerate(data) for j in range(8) if byte >> j & 1]
    if isinstance(arg, list):
        positions = []
        for item in arg:
            if not bsonorder.is_number(item):
                raise StoreError(BAD_VALUE, f"bit positions must be an integer but got: {item!r}")
            position = _integral(item)
            if position is None:
                raise StoreError(BAD_VALUE, f"bit positions must be an integer but got: {item!r}")
            if position < 0:
                raise StoreError(BAD_VALUE, f"bit positions must be >= 0 but got: {item!r}")
            if position >= 2**31:
                raise StoreError(BAD_VALUE, f"bit positions cannot be represented as a 32-bit signed integer: {item!r}")
            positions.append(position)
        return positions
    if bsonorder.is_number(arg):
        mask = _integral(arg)
        if mask is None:
            raise StoreError(BAD_VALUE, f"{op} cannot take a non-integral number: {arg!r}")
        if mask < 0:
            raise StoreError(BAD_VALUE, f"{op} cannot take a negative number: {arg!r}")
        if mask >= 2**63:
            raise StoreError(BAD_VALUE, f"{op} cannot be represented as a 64-bit integer: {arg!r}")
        return [i for i in range(mask.bit_length()) if mask >> i & 1]
    raise StoreError(BAD_VALUE, f"{op} takes an Array, a number, or a BinData but received: {arg!r}")


def _bits_test(op: str, arg: Any) -> Callable[[Any], bool]:
    positions = _bit_positions(op, arg)
    want_set = op in ("$bitsAllSet", "$bitsAnySet")
    want_all = op in ("$bitsAllSet", "$bitsAllClear")

    def bit(v: Any) -> Callable[[int], bool] | None:
        if isinstance(v, (bytes, Binary)):
            data = bytes(v)
            return lambda p: p < 8 * len(data) and bool(data[p // 8] >> (p % 8) & 1)
        if not bsonorder.is_number(v) or type(v) is Decimal128:
            return None
        if type(v) is float:
            if not math.isfinite(v) or v != int(v) or not -2**63 <= v < 2**63:
                return None
        n = int(v)
        # Two's complement, sign extended: bits beyond 63 are those of the sign.
        return lambda p: bool(n >> p & 1) if p < 64 else n < 0

    def test(v: Any) -> bool:
        get = bit(v)
        if get is None:
            return False
        hits = (get(p) == want_set for p in positions)
        return all(hits) if want_all else any(hits)

    return test


def _is_operator_document(value: Any) -> bool:
    """A value ``{$op: ...}`` is a set of operators (MongoDB looks at the first field only);
    ``{$ref, $id}`` is a DBRef, compared as a value."""
    if not isinstance(value, dict) or not value:
        return False
    first = next(iter(value))
    return first.startswith("$") and first not in ("$ref", "$id", "$db")


# --- compilation ----------------------------------------------------------------------

_NOT_SUPPORTED_FIELD_OPERATORS = {"$near", "$nearSphere", "$geoWithin", "$geoIntersects", "$within",
                                  "$box", "$center", "$centerSphere", "$polygon", "$geometry",
                                  "$maxDistance", "$minDistance"}
_BIT_OPERATORS = ("$bitsAllSet", "$bitsAnySet", "$bitsAllClear", "$bitsAnyClear")


class _Compiler:
    """Compiles filters for one collation and one set of ``let`` variables."""

    def __init__(self, collation: Collation | None, variables: Mapping[str, Any] | None) -> None:
        self.collation = collation
        self.variables = dict(variables or {})
        self.path = ""  # the field being compiled (for error messages)

    # Filters -------------------------------------------------------------------------

    def filter(self, spec: Any, top_level: bool = True) -> Predicate:
        if not isinstance(spec, Mapping):
            raise StoreError(BAD_VALUE, "filter must be an object")
        predicates = [self.entry(name, value, top_level) for name, value in spec.items()]
        predicates = [p for p in predicates if p is not None]
        if not predicates:
            return lambda doc: True
        if len(predicates) == 1:
            return predicates[0]
        return lambda doc: all(p(doc) for p in predicates)

    def entry(self, name: str, value: Any, top_level: bool) -> Predicate | None:
        if name.startswith("$"):
            return self.top_level_operator(name, value, top_level)
        parts = split_path(name)
        self.path = name
        clauses = self.field(value)
        if len(clauses) == 1:
            clause = clauses[0]
            return lambda doc: clause.on_path(doc, parts)
        return lambda doc: all(c.on_path(doc, parts) for c in clauses)

    def top_level_operator(self, name: str, value: Any, top_level: bool) -> Predicate | None:
        if name in ("$and", "$or", "$nor"):
            if not isinstance(value, list):
                raise StoreError(BAD_VALUE, f"{name} must be an array")
            if not value:
                raise StoreError(BAD_VALUE, "$and/$or/$nor must be a nonempty array")
            subs = []
            for item in value:
                if not isinstance(item, Mapping):
                    raise StoreError(BAD_VALUE, "$or/$and/$nor entries need to be full objects")
                subs.append(self.filter(item, top_level))
            if name == "$and":
                return lambda doc: all(p(doc) for p in subs)
            if name == "$or":
                return lambda doc: any(p(doc) for p in subs)
            return lambda doc: not any(p(doc) for p in subs)
        if name == "$comment":
            return None
        if name == "$expr":
            if not top_level:
                raise StoreError(BAD_VALUE, "$expr can only be applied to the top-level document")
            return self.expr(value)
        if name == "$alwaysTrue":
            return lambda doc: True
        if name == "$alwaysFalse":
            return lambda doc: False
        if name in ("$where", "$text", "$jsonSchema", "$sampleRate"):
            if name in ("$where", "$text") and not top_level:
                raise StoreError(BAD_VALUE, f"{name} can only be applied to the top-level document")
            raise not_supported(f"the {name} query operator")
        raise StoreError(BAD_VALUE, f"unknown top level operator: {name}. If you have a field name that "
                                    "starts with a '$' symbol, consider using $getField or $setField.")

    def expr(self, expression: Any) -> Predicate:
        # The aggregation helper's module; imported here because it imports this one.
        from .expressions import compile_expression, make_scope, truthy

        compiled = compile_expression(expression, self.collation)  # invalid expressions fail now
        variables = self.variables

        def predicate(doc: Document) -> bool:
            return truthy(compiled(make_scope(doc, variables)))

        return predicate

    # The operators of one field -------------------------------------------------------

    def field(self, value: Any) -> list:
        """The clauses of ``{field: value}``: equality, a regex, or a set of operators."""
        if _is_regex(value):
            return [_Leaf(_regex_test(*_regex_of(value)))]
        if _is_operator_document(value):
            return self.operators(value)
        return [_Leaf(_equality_test(value, self.collation))]

    def operators(self, spec: Mapping[str, Any]) -> list:
        clauses: list = []
        names = list(spec)
        if "$options" in spec and "$regex" not in spec:
            raise StoreError(BAD_VALUE, "$options needs a $regex")
        for name in names:
            arg = spec[name]
            if not name.startswith("$"):
                raise StoreError(BAD_VALUE, f"unknown operator: {name}")
            if name == "$options":
                continue
            if name == "$regex":
                clauses.append(_Leaf(self.regex(arg, spec.get("$options"))))
                continue
            clauses.append(self.operator(name, arg))
        return clauses

    def regex(self, arg: Any, options: Any) -> Callable[[Any], bool]:
        if options is not None and type(options) is not str:
            raise StoreError(BAD_VALUE, "$options has to be a string")
        if _is_regex(arg):
            pattern, flags = _regex_of(arg)
            if options and flags:
                raise StoreError(51075, "options set in both $regex and $options")
            return _regex_test(pattern, options or flags)
        if type(arg) is not str:
            raise StoreError(BAD_VALUE, "$regex has to be a string")
        return _regex_test(arg, options or "")

    def operator(self, name: str, arg: Any):
        collation = self.collation
        if name == "$eq":
            return _Leaf(_equality_test(arg, collation))
        if name == "$ne":
            return _Not([_Leaf(_equality_test(arg, collation))])
        if name in (_LT, _LTE, _GT, _GTE):
            return _Leaf(_comparison_test(name, arg, collation))
        if name in ("$in", "$nin"):
            if not isinstance(arg, list):
                raise StoreError(BAD_VALUE, f"{name} needs an array")
            for item in arg:
                if _is_operator_document(item):
                    raise StoreError(BAD_VALUE, f"cannot nest $ under {name}")
            leaf = _Leaf(_in_test(arg, collation))
            return leaf if name == "$in" else _Not([leaf])
        if name == "$exists":
            from .expressions import truthy  # MongoDB's boolean coercion, one definition

            leaf = _Leaf(lambda v: v is not MISSING)
            return leaf if truthy(arg) else _Not([leaf])
        if name == "$type":
            return _Leaf(_type_test(arg, self.path))
        if name == "$not":
            if _is_regex(arg):
                return _Not([_Leaf(_regex_test(*_regex_of(arg)))])
            if not isinstance(arg, Mapping):
                raise StoreError(BAD_VALUE, "$not needs a regex or a document")
            if not arg:
                raise StoreError(BAD_VALUE, "$not cannot be empty")
            return _Not(self.operators(arg))
        if name == "$elemMatch":
            return _Leaf(self.elem_match(arg), NO_TRAVERSAL)
        if name == "$size":
            return _Leaf(_size_test(arg), NO_TRAVERSAL)
        if name == "$all":
            return self.all(arg)
        if name == "$mod":
            return _Leaf(_mod_test(arg))
        if name in _BIT_OPERATORS:
            return _Leaf(_bits_test(name, arg))
        if name in _NOT_SUPPORTED_FIELD_OPERATORS:
            raise not_supported(f"the geospatial query operator {name}")
        raise StoreError(BAD_VALUE, f"unknown operator: {name}")

    def elem_match(self, arg: Any) -> Callable[[Any], bool]:
        if not isinstance(arg, Mapping):
            raise StoreError(BAD_VALUE, "$elemMatch needs an Object")
        first = next(iter(arg), "")
        if first.startswith("$") and first not in ("$and", "$or", "$nor", "$expr", "$where", "$text",
                                                   "$comment", "$jsonSchema", "$alwaysTrue", "$alwaysFalse"):
            # Operators applied to each element itself: {$elemMatch: {$gte: 80, $lt: 85}}.
            clauses = self.operators(arg)
            return lambda v: isinstance(v, list) and any(
                all(c.on_value(e) for c in clauses) for e in v)
        # A filter applied to each element that is a document (or an array, seen as one).
        sub = self.filter(arg, top_level=False)
        return lambda v: isinstance(v, list) and any(
            sub(e) if isinstance(e, dict) else isinstance(e, list) and sub({str(i): x for i, x in enumerate(e)})
            for e in v)

    def all(self, arg: Any):
        if not isinstance(arg, list):
            raise StoreError(BAD_VALUE, "$all needs an array")
        if arg and isinstance(arg[0], Mapping) and next(iter(arg[0]), None) == "$elemMatch":
            clauses = []
            for item in arg:
                if not (isinstance(item, Mapping) and next(iter(item), None) == "$elemMatch"):
                    raise StoreError(BAD_VALUE, "$all/$elemMatch has to be consistent")
                clauses.append(_Leaf(self.elem_match(item["$elemMatch"]), NO_TRAVERSAL))
            return _All(clauses)
        clauses = []
        for item in arg:
            if _is_operator_document(item):
                raise StoreError(BAD_VALUE, "no $ expressions in $all")
            if _is_regex(item):
                clauses.append(_Leaf(_regex_test(*_regex_of(item))))
            else:
                clauses.append(_Leaf(_equality_test(item, self.collation)))
        return _All(clauses)


def compile_filter(filter: Mapping[str, Any] | None, collation: Collation | Mapping | None = None,
                   variables: Mapping[str, Any] | None = None) -> Predicate:
    """A predicate ``doc -> bool`` for a MongoDB filter document.

    ``collation`` (a :class:`Collation` or a collation document) applies to string
    comparisons (not to regexes); ``variables`` are the ``let`` variables ``$expr`` sees.
    Raises StoreError for an invalid filter (BadValue 2 for unknown operators, regex and
    argument errors with MongoDB's codes) or an unsupported one ($where, $text, geo,
    $jsonSchema: NotImplemented).
    """
    return _Compiler(_as_collation(collation), variables).filter(filter or {})


def matches(doc: Document, filter: Mapping[str, Any] | None, collation: Collation | Mapping | None = None) -> bool:
    """Whether ``doc`` matches ``filter`` (compiles each time: for one-off checks)."""
    return compile_filter(filter, collation)(doc)


# Sorts, key ranges and projections live in their own modules, which import this one; the
# store's other modules import them from here, resolved on first use (PEP 562).
_REEXPORTS = {
    "compile_sort": "sorting", "parse_sort": "sorting", "sort_documents": "sorting",
    "key_ranges": "keyranges", "KeyRange": "keyranges",
    "project": "projection", "compile_projection": "projection", "Projection": "projection",
}


def __getattr__(name: str) -> Any:
    module = _REEXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __package__), name)
