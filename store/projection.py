"""``find`` projections with MongoDB 7.0's semantics (re-exported by :mod:`.query`).

A projection is either an *inclusion* (``{a: 1, "b.c": 1}``: only those fields, plus
``_id`` unless ``_id: 0``) or an *exclusion* (``{a: 0}``: every field but those); mixing
them raises StoreError 31254/31253. Dotted paths come back nested (``{"a.b": 1}`` gives
``{a: {b: ...}}``) and reach through arrays (``a: [{b: 1, c: 2}, 5]`` gives
``a: [{b: 1}]``: scalars and nested arrays of the array are dropped by an inclusion, kept
whole by an exclusion — find does not recurse into nested arrays, unlike ``$project``).
Path components are field names, never array indexes.

Operators: ``$slice`` (``n`` or ``[skip, limit]``; by itself an exclusion), ``$elemMatch``
(the first matching element, top-level fields only), the positional ``field.$`` (the first
element the query matched, so it needs the filter), aggregation expressions and literals
(``{a: "$b"}``, ``{a: {$add: [...]}}``, ``{a: "text"}``) through :mod:`.expressions`;
``$meta`` raises NotImplemented. In an inclusion, fields computed by ``$slice``,
``$elemMatch`` and expressions come after the included fields, in projection order (they are
expressions in MongoDB's projection executor); the positional result stays in place.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from bson.decimal128 import Decimal128

from . import bsonorder
from .bsonorder import Collation
from .errors import BAD_VALUE, StoreError, not_supported

Document = dict[str, Any]

# Node kinds of a parsed projection tree.
_INCLUDE = "include"
_EXCLUDE = "exclude"


class _Slice:
    __slots__ = ("skip", "limit")

    def __init__(self, skip: int | None, limit: int) -> None:
        self.skip = skip    # None: the single-number form
        self.limit = limit

    def apply(self, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        if self.skip is None:
            n = self.limit
            return value[:n] if n >= 0 else value[max(len(value) + n, 0):]
        start = self.skip if self.skip >= 0 else max(len(value) + self.skip, 0)
        return value[start:start + self.limit]


class _ElemMatch:
    __slots__ = ("predicate",)

    def __init__(self, predicate: Callable[[Any], bool]) -> None:
        self.predicate = predicate


class _Computed:
    __slots__ = ("evaluate",)

    def __init__(self, evaluate: Callable[[dict], Any]) -> None:
        self.evaluate = evaluate  # compiled expression: scope -> value (or expressions.MISSING)


class _Positional:
    __slots__ = ()


def _number_of(value: Any) -> int | None:
    if not bsonorder.is_number(value):
        return None
    if type(value) is Decimal128:
        dec = value.to_decimal()
        return int(dec) if dec.is_finite() else None
    if isinstance(value, float) and value != value:
        return None
    try:
        return int(value)
    except OverflowError:
        return None


class _Parser:
    """Builds the projection tree (nested dicts of field name → node) as MongoDB's
    projection_parser.cpp does, with its error codes."""

    def __init__(self, collation: Collation | None) -> None:
        self.collation = collation
        self.root: dict[str, Any] = {}
        self.inclusion: bool | None = None  # set by the first inclusion, exclusion or expression
        self.has_slice = False
        self.has_elem_match = False
        self.has_positional = False
        self.id_included = False            # top-level {_id: 1}
        self.id_excluded = False            # top-level {_id: 0}

    def set_type(self, inclusion: bool, path: str) -> None:
        if self.inclusion is not None and self.inclusion != inclusion:
            if inclusion:
                raise StoreError(31253, f"Cannot do inclusion on field {path} in exclusion projection")
            raise StoreError(31254, f"Cannot do exclusion on field {path} in inclusion projection")
        self.inclusion = inclusion

    def add(self, path: str, node: Any) -> None:
        parts = path.split(".")
        for part in parts:
            if not part:
                raise StoreError(15998, "FieldPath field names may not be empty strings.")
            if part.startswith("$"):
                raise StoreError(16410, "FieldPath field names may not start with '$'. "
                                        "Consider using $getField or $setField.")
        tree = self.root
        for i, part in enumerate(parts[:-1]):
            child = tree.get(part)
            if child is None:
                child = tree[part] = {}
            elif not isinstance(child, dict):
                raise StoreError(31249, f"Path collision at {path} remaining portion {'.'.join(parts[i + 1:])}")
            tree = child
        last = parts[-1]
        if last in tree:
            raise StoreError(31250, f"Path collision at {path}")
        tree[last] = node

    def field(self, path: str, value: Any, top: bool = True) -> None:
        if ".$." in path:
            raise StoreError(31394, "As of 4.4, it's illegal to specify positional operator in the middle of a path."
                                    "Positional projection may only be used at the end, for example: a.b.$. If the "
                                    "query previously used a form like a.b.$.d, remove the parts following the '$' "
                                    "and the results will be equivalent.")
        positional = path.endswith(".$") or path == "$"
        if isinstance(value, Mapping):
            if positional:
                raise StoreError(31271, "positional projection cannot be used with an expression or sub object")
            if not value:
                raise StoreError(51270, f"Invalid empty sub-projection: {path}")
            first = next(iter(value))
            if len(value) == 1 and first.startswith("$"):
                self.operator(path, first, value[first], top)
                return
            for name, sub in value.items():
                self.field(f"{path}.{name}", sub, top=False)
            return
        if type(value) is bool or bsonorder.is_number(value):
            is_id = top and path == "_id"
            if (bool(value) if type(value) is bool else _truthy_number(value)):
                if positional:
                    self.positional(path)
                else:
                    self.add(path, _INCLUDE)
                    self.id_included |= is_id
                if not is_id:
                    self.set_type(True, path)
            else:
                if positional:
                    raise StoreError(31395, "positional projection cannot be used with exclusion")
                self.add(path, _EXCLUDE)
                if is_id:
                    self.id_excluded = True
                else:
                    self.set_type(False, path)
            return
        if positional:
            raise StoreError(31308, "positional projection cannot be used with a literal")
        # Any other value is a literal or an expression operand ({a: "$b"}, {a: "text"}).
        computed = _Computed(self.compile(value, path))
        if self.inclusion is False:
            raise StoreError(31310, f"Cannot use an expression {value!r} in an exclusion projection")
        self.add(path, computed)
        self.inclusion = True

    def operator(self, path: str, name: str, arg: Any, top: bool) -> None:
        if name == "$slice":
            try:
                self.add(path, self.slice(arg))
                self.has_slice = True
                return
            except StoreError as find_error:
                if find_error.code in (31249, 31250, 16410, 15998):
                    raise
                try:  # the aggregation $slice expression ({$slice: ["$a", 1]})
                    self.expression(path, {name: arg})
                except StoreError:
                    raise find_error from None
                return
        if name == "$elemMatch":
            if not isinstance(arg, Mapping):
                raise StoreError(31274, "elemMatch: Invalid argument, object required, but got "
                                        f"{type(arg).__name__}")
            if self.has_positional:
                raise StoreError(31255, "Cannot specify positional operator and $elemMatch.")
            if "." in path or not top:
                raise StoreError(31275, "Cannot use $elemMatch projection on a nested field.")
            from .query import compile_filter  # query imports this module

            matcher = compile_filter({path: {"$elemMatch": arg}}, self.collation)
            self.add(path, _ElemMatch(lambda element, m=matcher, p=path: m({p: [element]})))
            self.has_elem_match = True
            return
        if name == "$meta":
            raise not_supported("$meta projections")
        self.expression(path, {name: arg})

    def expression(self, path: str, spec: Mapping[str, Any]) -> None:
        if self.inclusion is False:
            raise StoreError(31252, "Cannot use expression other than $meta in exclusion projection")
        self.add(path, _Computed(self.compile(spec, path)))
        self.inclusion = True

    def compile(self, expression: Any, path: str) -> Callable[[dict], Any]:
        from .expressions import compile_expression  # the aggregation helper's module

        try:
            return compile_expression(expression, self.collation)
        except StoreError as exc:
            if exc.code == 168 and isinstance(expression, Mapping):  # not an expression name
                raise StoreError(31325, f"Unknown expression {next(iter(expression))}") from None
            raise

    def slice(self, arg: Any) -> _Slice:
        """A find ``$slice``: a number, or ``[skip, limit]`` (MongoDB's codes for bad arguments)."""
        n = _number_of(arg)
        if n is not None:
            return _Slice(None, n)
        if isinstance(arg, list):
            if len(arg) != 2:
                raise StoreError(31272, "$slice array argument should be of form [skip, limit]")
            skip, limit = _number_of(arg[0]), _number_of(arg[1])
            if skip is None:
                raise StoreError(31257, f"$slice expects the skip argument to be a number, got {arg[0]!r}")
            if limit is None:
                raise StoreError(31258, f"$slice expects the limit argument to be a number, got {arg[1]!r}")
            if limit <= 0:
                raise StoreError(31259, f"$slice limit must be positive, got {limit}")
            return _Slice(skip, limit)
        raise StoreError(31273, "$slice only supports numbers and [skip, limit] arrays")

    def positional(self, path: str) -> None:
        if self.has_positional:
            raise StoreError(31276, "Cannot specify more than one positional projection per query.")
        if self.has_elem_match:
            raise StoreError(31256, "Cannot specify positional operator and $elemMatch.")
        if path in (".$", "$"):
            raise StoreError(5392900, f"Projection on field {path} is invalid")
        self.add(path[:-2], _Positional())
        self.has_positional = True

    def projection_type(self) -> bool:
        """Inclusion (True) or exclusion, with MongoDB's rules for $slice/$elemMatch/_id alone."""
        if self.inclusion is not None:
            return self.inclusion
        if self.has_slice:
            return self.id_included
        if self.has_elem_match:
            return True
        return self.id_included


def _truthy_number(value: Any) -> bool:
    if type(value) is Decimal128:
        return not value.to_decimal().is_zero()
    return value != 0


class Projection:
    """A parsed projection; call it on a document (and the filter it matched, for ``.$``)."""

    def __init__(self, spec: Mapping[str, Any], collation: Collation | None = None,
                 variables: Mapping[str, Any] | None = None) -> None:
        if not isinstance(spec, Mapping):
            raise StoreError(BAD_VALUE, "projection must be an object")
        parser = _Parser(collation)
        for path, value in spec.items():
            parser.field(path, value)
        self.inclusion = parser.projection_type()
        tree = parser.root
        id_specified = any(path == "_id" or path.startswith("_id.") for path in spec)
        if not id_specified and self.inclusion:
            tree["_id"] = _INCLUDE
        if not self.inclusion and parser.id_included:
            del tree["_id"]  # {_id: 1} in an exclusion only keeps _id, as it would be anyway
        self.tree = tree
        self.variables = dict(variables or {})
        self.collation = collation
        self.has_positional = parser.has_positional
        self.has_late = _has_late(tree)

    def __call__(self, doc: Document, matched_filter: Mapping[str, Any] | None = None) -> Document:
        positional = self._positional_index(doc, matched_filter) if self.has_positional else None
        if self.inclusion:
            out = _include(self.tree, doc, positional, ())
            if self.has_late:
                self._add_computed(self.tree, out, doc, doc)
            return out
        return _exclude(self.tree, doc)

    # Computed fields -----------------------------------------------------------------

    def _add_computed(self, tree: Mapping[str, Any], out: dict, source: Any, root: Document) -> None:
        """Add to ``out`` (the projection of ``source``) the fields computed by expressions,
        ``$slice`` and ``$elemMatch``, after the included ones and in projection order."""
        for name, node in tree.items():
            original = source.get(name, _ABSENT) if isinstance(source, dict) else _ABSENT
            if isinstance(node, _Computed):
                value = self._evaluate(node, root)
                if value is not _REMOVE:
                    out[name] = value
            elif isinstance(node, _ElemMatch):
                if isinstance(original, list):
                    for element in original:
                        if node.predicate(element):
                            out[name] = [element]
                            break
            elif isinstance(node, _Slice):
                if original is not _ABSENT:
                    out[name] = node.apply(original)
            elif isinstance(node, dict) and _has_late(node):
                if name not in out and not _has_expression(node):
                    continue  # only $slice below a path that is not there
                out[name] = self._computed_into(node, out.get(name, _ABSENT), original, root)

    def _computed_into(self, tree: Mapping[str, Any], value: Any, source: Any, root: Document) -> Any:
        # Each document of an array gets the computed fields too (the inclusion kept exactly the
        # documents of the source array, in order); a missing or scalar value becomes a new
        # document of the computed fields.
        if isinstance(value, list):
            sources = [s for s in source if isinstance(s, dict)] if isinstance(source, list) else []
            if len(sources) != len(value):
                sources = [_ABSENT] * len(value)
            return [self._computed_into(tree, v, s, root) if isinstance(v, dict) else v
                    for v, s in zip(value, sources)]
        target = value if isinstance(value, dict) else {}
        self._add_computed(tree, target, source, root)
        return target

    def _evaluate(self, node: _Computed, root: Document) -> Any:
        from .expressions import MISSING, make_scope

        value = node.evaluate(make_scope(root, self.variables))
        return _REMOVE if value is MISSING else value  # $$REMOVE and missing paths add no field

    # Positional ----------------------------------------------------------------------

    def _positional_index(self, doc: Document, matched_filter: Mapping[str, Any] | None) -> tuple[tuple[str, ...], int]:
        """The array the positional projection applies to (the first array on its path) and
        the index of its first element that satisfies the filter's conditions on that array."""
        path = _positional_path(self.tree)
        parts = path.split(".")
        if matched_filter is None:
            raise StoreError(51050, "Projections with a positional operator require a matcher")
        value: Any = doc
        array_parts: tuple[str, ...] | None = None
        for i, part in enumerate(parts):
            if not isinstance(value, dict) or part not in value:
                break
            value = value[part]
            if isinstance(value, list):
                array_parts = tuple(parts[:i + 1])
                break
        if array_parts is None or matched_filter is None:
            raise _positional_error()
        from .query import compile_filter

        prefix = ".".join(array_parts)
        conditions = _conditions_on(matched_filter, prefix, doc, self.collation)
        if not conditions:
            raise _positional_error()
        predicate = compile_filter({"$and": conditions}, self.collation, self.variables)
        for index, element in enumerate(value):
            probe: dict[str, Any] = {}
            cursor = probe
            for part in array_parts[:-1]:
                cursor[part] = {}
                cursor = cursor[part]
            cursor[array_parts[-1]] = [element]
            if predicate(probe):
                return array_parts, index
        raise _positional_error()


_ABSENT: Any = object()
_REMOVE: Any = object()


def _has_late(tree: Mapping[str, Any]) -> bool:
    """Whether the tree has fields computed after the inclusion ($slice, $elemMatch, expressions)."""
    return any(isinstance(n, (_Computed, _ElemMatch, _Slice)) or (isinstance(n, dict) and _has_late(n))
               for n in tree.values())


def _has_expression(tree: Mapping[str, Any]) -> bool:
    return any(isinstance(n, _Computed) or (isinstance(n, dict) and _has_expression(n)) for n in tree.values())


def _positional_path(tree: Mapping[str, Any], prefix: str = "") -> str:
    for name, node in tree.items():
        if isinstance(node, _Positional):
            return prefix + name
        if isinstance(node, dict):
            found = _positional_path(node, prefix + name + ".")
            if found:
                return found
    return ""


def _conditions_on(filter: Mapping[str, Any], prefix: str, doc: Document, collation: Collation | None) -> list[dict]:
    """The positive conditions of ``filter`` on ``prefix`` or below that decided the match:
    top-level ones, those of ``$and``, and those of the first ``$or`` branch ``doc`` matches.

    Negations ($ne, $nin, $not, $exists: false, $nor) are left out: in MongoDB they never
    record which array element matched.
    """
    from .query import compile_filter

    out = []
    for name, value in filter.items():
        if name == "$and" and isinstance(value, list):
            for sub in value:
                if isinstance(sub, Mapping):
                    out += _conditions_on(sub, prefix, doc, collation)
        elif name == "$or" and isinstance(value, list):
            for sub in value:
                if isinstance(sub, Mapping) and compile_filter(sub, collation)(doc):
                    out += _conditions_on(sub, prefix, doc, collation)
                    break
        elif name == prefix or name.startswith(prefix + "."):
            if isinstance(value, Mapping) and value and next(iter(value)).startswith("$"):
                value = {op: arg for op, arg in value.items()
                         if op not in ("$ne", "$nin", "$not") and not (op == "$exists" and not arg)}
                if not value or set(value) == {"$options"}:
                    continue
            out.append({name: value})
    return out


def _positional_error() -> StoreError:
    return StoreError(51246, "Executor error during find command :: caused by :: positional operator "
                             "'.$' couldn't find a matching element in the array")


def _include(tree: Mapping[str, Any], doc: Mapping[str, Any],
             positional: tuple[tuple[str, ...], int] | None, path: tuple[str, ...]) -> dict:
    out: dict[str, Any] = {}
    for name, value in doc.items():
        node = tree.get(name)
        if node is None or isinstance(node, (_Computed, _ElemMatch, _Slice)):
            continue  # computed after the included fields
        here = path + (name,)
        if positional is not None and positional[0] == here and isinstance(value, list):
            # The array of the positional projection: keep only the element the query matched.
            value = [value[positional[1]]]
            positional = None
        if node is _INCLUDE or isinstance(node, _Positional):
            out[name] = value
        elif isinstance(node, dict):
            projected = _include_value(node, value, positional, here)
            if projected is not _ABSENT:
                out[name] = projected
    return out


def _include_value(tree: Mapping[str, Any], value: Any, positional, path: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return _include(tree, value, positional, path)
    if isinstance(value, list):
        # find does not recurse into nested arrays: like scalars, an inclusion drops them.
        return [_include(tree, v, positional, path) for v in value if isinstance(v, dict)]
    return _ABSENT  # a scalar under a dotted inclusion is dropped


def _exclude(tree: Mapping[str, Any], doc: Mapping[str, Any]) -> dict:
    out: dict[str, Any] = {}
    for name, value in doc.items():
        node = tree.get(name)
        if node is None:
            out[name] = value
        elif node is _EXCLUDE:
            continue
        elif isinstance(node, _Slice):
            out[name] = node.apply(value)
        elif isinstance(node, _ElemMatch):
            # In place: the first matching element, or no field at all.
            found = next((e for e in value if node.predicate(e)), _ABSENT) if isinstance(value, list) else _ABSENT
            if found is not _ABSENT:
                out[name] = [found]
        elif isinstance(node, dict):
            out[name] = _exclude_value(node, value)
        else:  # pragma: no cover - the parser allows nothing else in an exclusion
            raise AssertionError(node)
    return out


def _exclude_value(tree: Mapping[str, Any], value: Any) -> Any:
    if isinstance(value, dict):
        return _exclude(tree, value)
    if isinstance(value, list):
        # find does not recurse into nested arrays: an exclusion keeps them whole.
        return [_exclude(tree, v) if isinstance(v, dict) else v for v in value]
    return value


def compile_projection(projection: Mapping[str, Any] | None, *, collation: Collation | Mapping | None = None,
                       variables: Mapping[str, Any] | None = None) -> Projection | None:
    """Parse a ``find`` projection once (None for no projection); raises StoreError if invalid."""
    if not projection:
        return None
    if collation is not None and not isinstance(collation, Collation):
        collation = Collation.from_spec(collation)
    return Projection(projection, collation, variables)


def project(doc: Document, projection: Mapping[str, Any] | None, *,
            matched_filter: Mapping[str, Any] | None = None, collation: Collation | Mapping | None = None,
            variables: Mapping[str, Any] | None = None) -> Document:
    """``doc`` as ``find`` returns it with ``projection`` (the input is not modified).

    ``matched_filter`` is the query filter (needed by positional ``field.$`` projections).
    """
    if not projection:
        return doc
    # Callers often project many documents with the same projection object: reuse its parse
    # while it is the same object with the same content.
    key = (id(projection), id(collation), id(variables))
    cached = _PARSED.get(key)
    if cached is None or cached[0] is not projection or cached[1] != projection \
            or cached[2] is not collation or cached[3] is not variables:
        if len(_PARSED) >= 256:
            _PARSED.clear()
        compiled = compile_projection(projection, collation=collation, variables=variables)
        cached = _PARSED[key] = (projection, copy.deepcopy(projection), collation, variables, compiled)
    return cached[4](doc, matched_filter)


_PARSED: dict[tuple[int, int, int], tuple[Any, Any, Any, Any, Projection]] = {}
