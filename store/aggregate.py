"""Aggregation pipelines: MongoDB 7.0's stages over an iterable of documents.

``run_pipeline(docs, pipeline, ctx, collation=None, variables=None)`` parses every stage
first (an invalid or unsupported stage raises :class:`StoreError` before any document is
read, as MongoDB rejects a pipeline it cannot parse) and returns an iterator of the output
documents. Stages never modify the documents they receive.

``variables`` are the command's ``let``: expressions without field paths, evaluated once.
``ctx`` (:class:`PipelineContext`) is how the stages that read or write other collections
(``$lookup``, ``$graphLookup``, ``$unionWith``, ``$out``, ``$merge``) reach the database.

Stages (https://www.mongodb.com/docs/manual/reference/operator/aggregation-pipeline/):
``$match $project $addFields $set $unset $group $sort $limit $skip $unwind $lookup
$graphLookup $count $facet $replaceRoot $replaceWith $sortByCount $bucket $sample
$unionWith $documents $out $merge $redact $bucketAuto`` (without ``granularity``) and, in
:mod:`store.windows`, ``$setWindowFields $fill $densify``. Known stages the store does not
implement (``$geoNear``, ``$search``, ``$collStats``, …) raise
StoreError NotImplemented; unknown names raise 40324 as in MongoDB.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId

from . import numbers
from .accumulators import compile_accumulator
from .errors import BAD_VALUE, DUPLICATE_KEY, FAILED_TO_PARSE, TYPE_MISMATCH, StoreError, \
    not_supported
from .expressions import (MISSING, Compiled, Scope, check_variable_name, compile_expression,
                          set_now, split_path, truthy, type_name)
from .expressions import compare as compare_values


class PipelineContext(Protocol):
    """What the storage layer gives the pipeline: the other collections of the database."""

    def scan(self, collection: str) -> Iterable[dict]:
        """The documents of ``collection`` (none when it does not exist)."""

    def write_out(self, collection: str, docs: list[dict]) -> None:
        """``$out``: replace the contents of ``collection`` with ``docs`` (keep its indexes)."""

    def merge_into(self, collection: str, docs: list[dict], on: list[str], when_matched: Any,
                   when_not_matched: str) -> None:
        """``$merge``: for each doc, find the target document with equal ``on`` fields and
        apply ``when_matched`` (use :func:`merge_matched`) or ``when_not_matched``."""


Stage = Callable[[Iterable[dict], PipelineContext, Scope], Iterable[dict]]

UNSUPPORTED_STAGES = {
    "$geoNear", "$search",
    "$searchMeta", "$vectorSearch", "$collStats", "$indexStats", "$currentOp",
    "$listSessions", "$listLocalSessions", "$planCacheStats", "$changeStream",
    "$changeStreamSplitLargeEvent", "$listSearchIndexes", "$shardedDataDistribution",
    "$listSampledQueries", "$queryStats",
}
_WRITE_STAGES = ("$out", "$merge")


# --- entry points ----------------------------------------------------------------------

def run_pipeline(docs: Iterable[dict], pipeline: list, ctx: PipelineContext, *,
                 collation: Any = None, variables: Mapping | None = None) -> Iterator[dict]:
    """Run ``pipeline`` over ``docs``; raises StoreError at once for an invalid pipeline, and
    for an error met in the data (a ``$divide`` by zero, …) when the stage meets it: while
    iterating, or already in this call for the stages that need all their input first
    (``$group``, ``$sort``, ``$count``, ``$out``…)."""
    scope = _command_scope(variables, collation)
    stages = compile_pipeline(pipeline, collation)
    return iter(_chain(stages, docs, ctx, scope))


def compile_pipeline(pipeline: Any, collation: Any = None, *, nested: str | None = None
                     ) -> list[Stage]:
    """Parse the stages of ``pipeline``. ``nested`` names the enclosing stage ($lookup,
    $facet, $unionWith) where write stages are refused."""
    if not isinstance(pipeline, list):
        raise StoreError(TYPE_MISMATCH, "A pipeline must be an array of stage objects")
    stages = []
    for position, spec in enumerate(pipeline):
        if not isinstance(spec, Mapping) or len(spec) != 1:
            raise StoreError(40323, "A pipeline stage specification object must contain "
                             "exactly one field.")
        name = next(iter(spec))
        if name in _WRITE_STAGES:
            if nested:
                raise StoreError(51047 if nested == "$lookup" else 40600,
                                 f"{name} is not allowed to be used within a {nested} stage")
            if position != len(pipeline) - 1:
                raise StoreError(40601, f"{name} can only be the final stage in the pipeline")
        if name == "$documents" and position != 0:
            raise StoreError(40602, "$documents is only valid as the first stage in a pipeline")
        if name == "$facet" and nested == "$facet":
            raise StoreError(40600, "$facet is not allowed to be used within a $facet stage")
        builder = _STAGES.get(name)
        if builder is None:
            if name in UNSUPPORTED_STAGES:
                raise not_supported(f"the aggregation stage {name}")
            raise StoreError(40324, f"Unrecognized pipeline stage name: '{name}'")
        stages.append(builder(spec[name], collation))
    return stages


def _chain(stages: list[Stage], docs: Iterable[dict], ctx: PipelineContext, scope: Scope
           ) -> Iterable[dict]:
    for stage in stages:
        docs = stage(docs, ctx, scope)
    return docs


def _command_scope(variables: Mapping | None, collation: Any) -> Scope:
    """The variables of a command: ``let`` expressions evaluated once, and one ``$$NOW``."""
    scope: Scope = {"ROOT": {}, "CURRENT": {}}
    set_now(scope)
    for name, expr in (variables or {}).items():
        check_variable_name(name)
        scope[name] = compile_expression(expr, collation)(scope)
    return scope


def _for_doc(scope: Scope, doc: Any) -> Scope:
    inner = dict(scope)
    inner["ROOT"] = inner["CURRENT"] = doc
    return inner


_STAGES: dict[str, Callable[[Any, Any], Stage]] = {}


def stage(name: str) -> Callable:
    def register(build: Callable[[Any, Any], Stage]) -> Callable:
        _STAGES[name] = build
        return build
    return register


# --- document paths (copy on write) ----------------------------------------------------

def get_path(doc: Any, parts: list[str]) -> Any:
    """The value at a dotted path of documents only (no array traversal), or MISSING."""
    value = doc
    for p in parts:
        if not isinstance(value, Mapping):
            return MISSING
        value = value.get(p, MISSING)
        if value is MISSING:
            return MISSING
    return value


def set_path(doc: dict, parts: list[str], value: Any) -> dict:
    """A copy of ``doc`` with ``value`` at the dotted path (intermediate non-documents are
    replaced by documents); MISSING removes the field."""
    out = dict(doc)
    head = parts[0]
    if len(parts) == 1:
        if value is MISSING:
            out.pop(head, None)
        else:
            out[head] = value
        return out
    child = out.get(head)
    if not isinstance(child, Mapping):
        if value is MISSING:
            return out
        child = {}
    out[head] = set_path(dict(child), parts[1:], value)
    return out


# --- $match ----------------------------------------------------------------------------

@stage("$match")
def _match(spec: Any, collation: Any) -> Stage:
    if not isinstance(spec, Mapping):
        raise StoreError(15959, "the match filter must be an expression in an object")
    from .query import compile_filter

    if _uses_variables(spec):
        # $expr may read $$variables (a $lookup's let): compile per scope.
        def run_with_variables(docs: Iterable[dict], ctx: PipelineContext, scope: Scope
                               ) -> Iterable[dict]:
            predicate = compile_filter(spec, collation, _user_variables(scope))
            return (d for d in docs if predicate(d))
        compile_filter(spec, collation, {})  # reject an invalid filter at parse time
        return run_with_variables
    predicate = compile_filter(spec, collation)

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        return (d for d in docs if predicate(d))
    return run


def _uses_variables(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith("$$")
    if isinstance(value, Mapping):
        return any(_uses_variables(v) for v in value.values())
    if isinstance(value, list):
        return any(_uses_variables(v) for v in value)
    return False


def _user_variables(scope: Scope) -> dict:
    return {k: v for k, v in scope.items() if k not in ("ROOT", "CURRENT")}


# --- projections: $project, $addFields/$set, $unset -----------------------------------

_INCLUDE = "include"
_EXCLUDE = "exclude"


class _Node:
    """One level of a projection: field name → _INCLUDE, _EXCLUDE, a compiled expression, or
    a nested _Node, in the order of the specification."""

    def __init__(self) -> None:
        self.entries: dict[str, Any] = {}
        self.computed = False   # an expression somewhere below
        self.included = False   # an inclusion somewhere below
        self.excluded = False   # an exclusion somewhere below

    def add(self, parts: list[str], value: Any, full: str) -> None:
        node = self
        for i, p in enumerate(parts[:-1]):
            existing = node.entries.get(p)
            if existing is None:
                existing = node.entries[p] = _Node()
            elif not isinstance(existing, _Node):
                raise StoreError(31249, f"Path collision at {full} remaining portion "
                                 f"{'.'.join(parts[i + 1:])}")
            node = existing
        last = parts[-1]
        if last in node.entries:
            raise StoreError(31250, f"Path collision at {full}")
        node.entries[last] = value

    def finish(self) -> _Node:
        for value in self.entries.values():
            if isinstance(value, _Node):
                value.finish()
                self.computed |= value.computed
                self.included |= value.included
                self.excluded |= value.excluded
            elif value is _INCLUDE:
                self.included = True
            elif value is _EXCLUDE:
                self.excluded = True
            else:
                self.computed = True
        return self


def _check_field_name(name: Any) -> None:
    if not isinstance(name, str) or name == "":
        raise StoreError(40352, "FieldPath cannot be constructed with empty string")
    if name.startswith("$"):
        raise StoreError(16410, f"FieldPath field names may not start with '$'. Consider using "
                         f"$getField or $setField. (field '{name}')")


def _parse_projection(spec: Mapping, collation: Any, *, add_fields: bool, root: _Node | None = None,
                      prefix: str = "") -> _Node:
    """Parse a $project (``add_fields`` False) or $addFields specification into a tree."""
    node = root or _Node()
    for key, value in spec.items():
        _check_field_name(key)
        full = prefix + key
        parts = split_path(key)
        if isinstance(value, Mapping) and value and not next(iter(value)).startswith("$"):
            sub = _parse_projection(value, collation, add_fields=add_fields, prefix=full + ".")
            node.add(parts, sub, full)
        elif isinstance(value, Mapping) and not value and not add_fields:
            raise StoreError(51282, f"An empty sub-projection is not a valid value. Found empty "
                             f"object at path {full}")
        elif not add_fields and (type(value) is bool or numbers.is_number(value)):
            node.add(parts, _INCLUDE if truthy(value) else _EXCLUDE, full)
        else:
            node.add(parts, compile_expression(value, collation), full)
    return node


@stage("$project")
def _project(spec: Any, collation: Any) -> Stage:
    if not isinstance(spec, Mapping):
        raise StoreError(15969, "$project specification must be an object")
    if not spec:
        raise StoreError(51272, "Invalid $project :: caused by :: projection specification must "
                         "have at least one field")
    tree = _parse_projection(spec, collation, add_fields=False)
    id_entry = tree.entries.get("_id")
    # The first field other than a plain `_id: 0/1` decides the kind of projection; the first
    # field of the other kind is the error MongoDB reports.
    leaves = [(path, value) for path, value in _leaves(tree)
              if not (path == "_id" and value in (_INCLUDE, _EXCLUDE))]
    exclusion = leaves[0][1] is _EXCLUDE if leaves else id_entry is _EXCLUDE
    for path, value in leaves:
        if exclusion and value is _INCLUDE:
            raise StoreError(31253, f"Invalid $project :: caused by :: Cannot do inclusion on "
                             f"field {path} in exclusion projection")
        if exclusion and value is not _EXCLUDE:
            raise StoreError(31252, "Invalid $project :: caused by :: Cannot use expression "
                             "other than $meta in exclusion projection")
        if not exclusion and value is _EXCLUDE:
            raise StoreError(31254, f"Invalid $project :: caused by :: Cannot do exclusion on "
                             f"field {path} in inclusion projection")
    if exclusion:
        if id_entry is _INCLUDE:
            del tree.entries["_id"]
        tree.finish()

        def run_exclusion(docs: Iterable[dict], ctx: PipelineContext, scope: Scope
                          ) -> Iterable[dict]:
            return (_exclude(tree, d) for d in docs)
        return run_exclusion
    if id_entry is None:
        tree.entries = {"_id": _INCLUDE, **tree.entries}
    elif id_entry is _EXCLUDE:
        del tree.entries["_id"]
    tree.finish()

    def run_inclusion(docs: Iterable[dict], ctx: PipelineContext, scope: Scope
                      ) -> Iterable[dict]:
        for d in docs:
            yield _include(tree, d, _for_doc(scope, d))
    return run_inclusion


def _leaves(node: _Node, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """The (dotted path, entry) leaves of a projection tree in specification order."""
    for key, value in node.entries.items():
        if isinstance(value, _Node):
            yield from _leaves(value, prefix + key + ".")
        else:
            yield prefix + key, value


def _include(node: _Node, doc: Mapping, scope: Scope) -> dict:
    out = _include_fields(node, doc)
    _add_computed(node, out, scope)
    return out


def _include_fields(node: _Node, doc: Mapping) -> dict:
    """The inclusion part of a projection: the included fields of ``doc``, in its order."""
    out = {}
    for key, value in doc.items():
        entry = node.entries.get(key)
        if entry is _INCLUDE:
            out[key] = value
        elif isinstance(entry, _Node):
            projected = _include_value(entry, value)
            if projected is not MISSING:
                out[key] = projected
    return out


def _include_value(node: _Node, value: Any) -> Any:
    if isinstance(value, Mapping):
        return _include_fields(node, value)
    if isinstance(value, list):
        # through arrays: documents are projected, nested arrays recursed, scalars dropped
        out = []
        for element in value:
            projected = _include_value(node, element)
            if projected is not MISSING:
                out.append(projected)
        return out
    return MISSING


def _add_computed(node: _Node, out: dict, scope: Scope) -> None:
    """Set the computed fields of ``node`` in ``out``, in specification order (an existing
    field keeps its place; MISSING — e.g. ``$$REMOVE`` — removes the field)."""
    for key, entry in node.entries.items():
        if isinstance(entry, _Node):
            if entry.computed:
                out[key] = _computed_value(entry, out.get(key, MISSING), scope)
        elif entry is not _INCLUDE and entry is not _EXCLUDE:
            value = entry(scope)
            if value is MISSING:
                out.pop(key, None)
            else:
                out[key] = value


def _computed_value(node: _Node, value: Any, scope: Scope) -> Any:
    if isinstance(value, Mapping):
        out = dict(value)
        _add_computed(node, out, scope)
        return out
    if isinstance(value, list):
        return [_computed_value(node, element, scope) for element in value]
    # a scalar or missing value is replaced by a document of the computed fields
    out = {}
    _add_computed(node, out, scope)
    return out


def _exclude(node: _Node, doc: Mapping) -> dict:
    out = {}
    for key, value in doc.items():
        entry = node.entries.get(key)
        if entry is None:
            out[key] = value
        elif isinstance(entry, _Node):
            out[key] = _exclude_value(entry, value)
    return out


def _exclude_value(node: _Node, value: Any) -> Any:
    if isinstance(value, Mapping):
        return _exclude(node, value)
    if isinstance(value, list):
        return [_exclude_value(node, element) for element in value]
    return value


def _add_fields(name: str) -> Callable[[Any, Any], Stage]:
    def build(spec: Any, collation: Any) -> Stage:
        if not isinstance(spec, Mapping):
            raise StoreError(40272, f"{name} specification stage must be an object, got "
                             f"{type_name(spec)}")
        tree = _parse_projection(spec, collation, add_fields=True).finish()

        def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
            for d in docs:
                out = dict(d)
                _add_computed(tree, out, _for_doc(scope, d))
                yield out
        return run
    return build


stage("$addFields")(_add_fields("$addFields"))
stage("$set")(_add_fields("$set"))


@stage("$unset")
def _unset(spec: Any, collation: Any) -> Stage:
    fields = [spec] if isinstance(spec, str) else spec
    if not isinstance(fields, list) or not fields or \
            not all(isinstance(f, str) for f in fields):
        raise StoreError(31002, "$unset specification must be a string or an array containing "
                         "only string values")
    tree = _Node()
    for f in fields:
        if f == "":
            raise StoreError(40352, "FieldPath cannot be constructed with empty string")
        _check_field_name(f)
        tree.add(split_path(f), _EXCLUDE, f)
    tree.finish()

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        return (_exclude(tree, d) for d in docs)
    return run


@stage("$replaceRoot")
def _replace_root(spec: Any, collation: Any) -> Stage:
    if not isinstance(spec, Mapping) or set(spec) != {"newRoot"}:
        if isinstance(spec, Mapping) and "newRoot" in spec:
            extra = next(k for k in spec if k != "newRoot")
            raise StoreError(40415, f"BSON field '$replaceRoot.{extra}' is an unknown field.")
        raise StoreError(40231, "no newRoot specified for the $replaceRoot stage")
    return _new_root(spec["newRoot"], collation, "newRoot")


@stage("$replaceWith")
def _replace_with(spec: Any, collation: Any) -> Stage:
    return _new_root(spec, collation, "replacement document")


def _new_root(expr: Any, collation: Any, what: str) -> Stage:
    compiled = compile_expression(expr, collation)

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        for d in docs:
            value = compiled(_for_doc(scope, d))
            if not isinstance(value, Mapping):
                raise StoreError(40228, f"'{what}' must evaluate to an object, but resulting "
                                 f"value was: {'MISSING' if value is MISSING else repr(value)}. "
                                 f"Type of resulting value: '{type_name(value)}'. Input "
                                 f"document: {d!r}")
            yield dict(value)
    return run


# --- $group and friends ----------------------------------------------------------------

def _group_key(value: Any, collation: Any) -> Any:
    """A hashable key equal for BSON-equal values: Python's own equality for strings and
    numbers (1, 1.0, NumberLong(1) and NumberDecimal("1") are equal and hash alike, as MongoDB
    groups them), the order-preserving key bytes for anything else or under a collation."""
    if collation is None:
        t = type(value)
        if t is str:
            return ("s", value)
        if t in (int, Int64):
            return ("n", int(value))
        if t is float:
            return ("nan",) if value != value else ("n", value)
        if value is None:
            return ("null",)
        if t is Decimal128:
            d = value.to_decimal()
            return ("nan",) if d.is_nan() else ("n", d)
        if t is bool:
            return ("b", value)
    from .bsonorder import sort_key

    return ("x", sort_key(value, collation))


@stage("$group")
def _group(spec: Any, collation: Any) -> Stage:
    if not isinstance(spec, Mapping):
        raise StoreError(15947, "a group's fields must be specified in an object")
    if "_id" not in spec:
        raise StoreError(15955, "a group specification must include an _id")
    key_expr = _group_id_expression(spec["_id"], collation)
    accumulators = []
    for field, acc in spec.items():
        if field == "_id":
            continue
        _check_field_name(field)
        if "." in field:
            raise StoreError(40235, f"The field name '{field}' cannot contain '.'")
        accumulators.append((field, compile_accumulator(field, acc, collation)))
    return _grouping(key_expr, accumulators, collation)


def _group_id_expression(expr: Any, collation: Any) -> Compiled:
    # A document _id whose fields are all expressions groups by the evaluated document;
    # a field that evaluates to missing is left out of it (so {} and {a: null} differ).
    return compile_expression(expr, collation)


def _grouping(key_expr: Compiled, accumulators: list, collation: Any,
              finish: Callable[[list[dict]], Iterable[dict]] | None = None) -> Stage:
    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        groups: dict[Any, tuple[Any, list]] = {}
        for d in docs:
            inner = _for_doc(scope, d)
            key = key_expr(inner)
            if key is MISSING:
                key = None
            k = _group_key(key, collation)
            group = groups.get(k)
            if group is None:
                group = groups[k] = (key, [acc.new(key, inner) for _, acc in accumulators])
            for state in group[1]:
                state.add(inner)
        out = []
        for key, states in groups.values():
            doc = {"_id": key}
            for (field, _), state in zip(accumulators, states):
                value = state.result()
                doc[field] = None if value is MISSING else value
            out.append(doc)
        return finish(out) if finish else out
    return run


@stage("$count")
def _count(spec: Any, collation: Any) -> Stage:
    if not isinstance(spec, str) or spec == "":
        raise StoreError(40156, "the count field must be a non-empty string")
    if spec.startswith("$"):
        raise StoreError(40158, "the count field cannot be a $-prefixed path")
    if "." in spec:
        raise StoreError(40160, "the count field cannot contain '.'")

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        n = sum(1 for _ in docs)
        return [{spec: numbers.make_int(n)}] if n else []
    return run


@stage("$sortByCount")
def _sort_by_count(spec: Any, collation: Any) -> Stage:
    if isinstance(spec, str):
        if not spec.startswith("$"):
            raise StoreError(40148, "the sortByCount field must be defined as a $-prefixed path "
                             "or an expression")
    elif not (isinstance(spec, Mapping) and len(spec) == 1 and next(iter(spec)).startswith("$")):
        raise StoreError(40147, "the sortByCount field must be specified as a $-prefixed path or "
                         "an expression object")
    key_expr = compile_expression(spec, collation)
    count = compile_accumulator("count", {"$sum": 1}, collation)
    sort = _sort({"count": -1}, collation)
    grouping = _grouping(key_expr, [("count", count)], collation)

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        return sort(grouping(docs, ctx, scope), ctx, scope)
    return run


@stage("$bucket")
def _bucket(spec: Any, collation: Any) -> Stage:
    if not isinstance(spec, Mapping):
        raise StoreError(40201, "Argument to $bucket stage must be an object")
    for key in spec:
        if key not in ("groupBy", "boundaries", "default", "output"):
            raise StoreError(40197, f"Unrecognized option to $bucket: {key}")
    if "groupBy" not in spec or "boundaries" not in spec:
        raise StoreError(40198, "$bucket requires 'groupBy' and 'boundaries' to be specified")
    group_by = spec["groupBy"]
    if not (isinstance(group_by, str) and group_by.startswith("$")) and \
            not (isinstance(group_by, Mapping) and len(group_by) == 1
                 and next(iter(group_by)).startswith("$")):
        raise StoreError(40202, "The $bucket 'groupBy' field must be defined as a $-prefixed "
                         "path or an expression")
    boundaries = spec["boundaries"]
    if not isinstance(boundaries, list) or len(boundaries) < 2:
        raise StoreError(40192, "The $bucket 'boundaries' field must be an array of values, at "
                         "least 2 values are required")
    from .bsonorder import compare, type_rank

    for a, b in zip(boundaries, boundaries[1:]):
        if type_rank(a) != type_rank(b):
            raise StoreError(40193, "All values in the the 'boundaries' option to $bucket must "
                             "have the same type")
        if compare(a, b, collation) >= 0:
            raise StoreError(40194, "The 'boundaries' option to $bucket must be sorted in "
                             "ascending order")
    has_default = "default" in spec
    default = spec.get("default")
    if has_default and type_rank(default) == type_rank(boundaries[0]) and \
            compare(default, boundaries[0], collation) >= 0 and \
            compare(default, boundaries[-1], collation) < 0:
        raise StoreError(40199, "The $bucket 'default' field must be less than the lowest "
                         "boundary or greater than or equal to the highest boundary.")
    output = spec.get("output", {"count": {"$sum": 1}})
    if not isinstance(output, Mapping):
        raise StoreError(40196, "The $bucket 'output' field must be an object")
    accumulators = [(f, compile_accumulator(f, a, collation)) for f, a in output.items()]
    value_expr = compile_expression(group_by, collation)

    def bucket_of(scope: Scope) -> Any:
        value = value_expr(scope)
        if value is not MISSING:
            for low, high in zip(boundaries, boundaries[1:]):
                if compare(low, value, collation) <= 0 < compare(high, value, collation):
                    return low
        if not has_default:
            raise StoreError(40066, "$switch could not find a matching branch for an input, and "
                             "no default was specified.")
        return default

    sort = _sort({"_id": 1}, collation)
    grouping = _grouping(bucket_of, accumulators, collation)

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        return sort(grouping(docs, ctx, scope), ctx, scope)
    return run


@stage("$bucketAuto")
def _bucket_auto(spec: Any, collation: Any) -> Stage:
    if not isinstance(spec, Mapping):
        raise StoreError(40240, "The argument to $bucketAuto must be an object")
    for key in spec:
        if key not in ("groupBy", "buckets", "output", "granularity"):
            raise StoreError(40245, f"Unrecognized option to $bucketAuto: {key}")
    if "groupBy" not in spec or "buckets" not in spec:
        raise StoreError(40246, "$bucketAuto requires 'groupBy' and 'buckets' to be specified")
    group_by = spec["groupBy"]
    if not (isinstance(group_by, str) and group_by.startswith("$")) and \
            not (isinstance(group_by, Mapping) and group_by
                 and next(iter(group_by)).startswith("$")):
        raise StoreError(40239, "The $bucketAuto 'groupBy' field must be defined as a "
                         "$-prefixed path or an expression object")
    buckets = spec["buckets"]
    if not numbers.is_number(buckets):
        raise StoreError(40241, "The $bucketAuto 'buckets' field must be a numeric value")
    if not numbers.is_integral(buckets):
        raise StoreError(40242, "The $bucketAuto 'buckets' field must be representable as a "
                         "32-bit integer")
    n_buckets = numbers.as_int(buckets)
    if n_buckets <= 0:
        raise StoreError(40243, "The $bucketAuto 'buckets' field must be greater than 0, but "
                         f"found: {n_buckets}")
    if "granularity" in spec:
        raise not_supported("$bucketAuto with a granularity")
    output = spec.get("output", {"count": {"$sum": 1}})
    if not isinstance(output, Mapping):
        raise StoreError(40244, "The $bucketAuto 'output' field must be an object")
    accumulators = [(f, compile_accumulator(f, a, collation)) for f, a in output.items()]
    value_expr = compile_expression(group_by, collation)

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        # MongoDB's DocumentSourceBucketAuto::populateBuckets: sort by the groupBy value, fill
        # each bucket with about n/buckets documents, never split equal values, the last
        # bucket takes the rest; a bucket's max is the next one's min (the last one's own).
        from .bsonorder import sort_key

        entries = []
        for d in docs:
            inner = _for_doc(scope, d)
            value = value_expr(inner)
            entries.append((None if value is MISSING else value, inner))
        entries.sort(key=lambda e: sort_key(e[0], collation))
        if not entries:
            return []
        size = max(1, int(len(entries) / n_buckets + 0.5))
        groups: list[list] = []
        i = 0
        while i < len(entries) and len(groups) < n_buckets:
            if len(groups) == n_buckets - 1:
                groups.append(entries[i:])
                break
            j = min(i + size, len(entries))
            while j < len(entries) and compare_values(entries[j - 1][0], entries[j][0],
                                                      collation) == 0:
                j += 1
            groups.append(entries[i:j])
            i = j
        out = []
        for k, group in enumerate(groups):
            high = groups[k + 1][0][0] if k + 1 < len(groups) else group[-1][0]
            doc: dict = {"_id": {"min": group[0][0], "max": high}}
            for field, acc in accumulators:
                state = acc.new(None, scope)
                for _, inner in group:
                    state.add(inner)
                value = state.result()
                doc[field] = None if value is MISSING else value
            out.append(doc)
        return out
    return run


# --- $sort, $limit, $skip, $sample ----------------------------------------------------

@stage("$sort")
def _sort(spec: Any, collation: Any) -> Stage:
    if not isinstance(spec, Mapping):
        raise StoreError(15973, "the $sort key specification must be an object")
    if not spec:
        raise StoreError(15976, "$sort stage must have at least one sort key")
    for field, direction in spec.items():
        _check_field_name(field)
        if isinstance(direction, Mapping):
            raise not_supported("$sort by $meta")
        if type(direction) is bool or not numbers.is_number(direction) or \
                direction not in (1, -1):
            raise StoreError(15975, "$sort key ordering must be 1 (for ascending) or -1 (for "
                             "descending)")
    from .query import sort_documents

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        return sort_documents(list(docs), spec, collation)
    return run


def _count_argument(stage_name: str, value: Any) -> int:
    if not numbers.is_number(value):
        raise StoreError(15957 if stage_name == "$limit" else 15972,
                         f"the {stage_name[1:]} must be specified as a number")
    if not numbers.is_integral(value):
        raise StoreError(15957 if stage_name == "$limit" else 15972,
                         f"invalid argument to {stage_name} stage: Cannot represent as a 64-bit "
                         f"integer: {stage_name}: {value!r}")
    return numbers.as_int(value)


@stage("$limit")
def _limit(spec: Any, collation: Any) -> Stage:
    n = _count_argument("$limit", spec)
    if n <= 0:
        raise StoreError(15958, "the limit must be positive")

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        return itertools.islice(docs, n)
    return run


@stage("$skip")
def _skip(spec: Any, collation: Any) -> Stage:
    n = _count_argument("$skip", spec)
    if n < 0:
        raise StoreError(15956, f"invalid argument to $skip stage: Expected a non-negative "
                         f"number in: $skip: {n}")

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        return itertools.islice(docs, n, None)
    return run


@stage("$sample")
def _sample(spec: Any, collation: Any) -> Stage:
    if not isinstance(spec, Mapping) or "size" not in spec:
        raise StoreError(28749, "$sample stage must specify a size")
    for key in spec:
        if key != "size":
            raise StoreError(28748, f"unrecognized option to $sample: {key}")
    size = spec["size"]
    if not numbers.is_number(size):
        raise StoreError(28746, "size argument to $sample must be a number")
    if numbers.to_float(size) < 0:
        raise StoreError(28747, "size argument to $sample must not be negative")
    n = int(numbers.to_float(size))

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        pool = list(docs)
        return random.sample(pool, min(n, len(pool)))
    return run


# --- $unwind ---------------------------------------------------------------------------

@stage("$unwind")
def _unwind(spec: Any, collation: Any) -> Stage:
    index_field = None
    preserve = False
    if isinstance(spec, str):
        path = spec
    elif isinstance(spec, Mapping):
        for key in spec:
            if key not in ("path", "includeArrayIndex", "preserveNullAndEmptyArrays"):
                raise StoreError(28811, f"unrecognized option to $unwind stage: {key}")
        path = spec.get("path")
        if path is None:
            raise StoreError(28812, "no path specified to $unwind stage")
        preserve = spec.get("preserveNullAndEmptyArrays", False)
        if type(preserve) is not bool:
            raise StoreError(28809, "expected a boolean for the preserveNullAndEmptyArrays "
                             "option to $unwind stage")
        index_field = spec.get("includeArrayIndex")
        if index_field is not None:
            if not isinstance(index_field, str) or index_field == "":
                raise StoreError(28810, "expected a non-empty string for the includeArrayIndex "
                                 "option to $unwind stage")
            if index_field.startswith("$"):
                raise StoreError(28822, "includeArrayIndex option to $unwind stage should not be "
                                 f"prefixed with a '$': {index_field}")
    else:
        raise StoreError(15981, "expected either a string or an object as specification for "
                         "$unwind stage")
    if not isinstance(path, str):
        raise StoreError(28808, "expected a string as the path for $unwind stage")
    if not path.startswith("$"):
        raise StoreError(28818, f"path option to $unwind stage should be prefixed with a '$': "
                         f"{path}")
    parts = split_path(path[1:])
    index_parts = split_path(index_field) if index_field else None

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        for d in docs:
            value = get_path(d, parts)
            if isinstance(value, list):
                if not value:
                    if preserve:
                        out = set_path(d, parts, MISSING)
                        yield set_path(out, index_parts, None) if index_parts else out
                    continue
                for i, element in enumerate(value):
                    out = set_path(d, parts, element)
                    yield set_path(out, index_parts, Int64(i)) if index_parts else out
            elif value is None or value is MISSING:
                if preserve:
                    yield set_path(d, index_parts, None) if index_parts else d
            else:
                yield set_path(d, index_parts, None) if index_parts else d
    return run


# --- $lookup, $graphLookup, $unionWith, $documents --------------------------------------

def _collection_argument(stage_name: str, value: Any) -> str:
    if isinstance(value, Mapping):
        raise not_supported(f"{stage_name} from another database")
    if not isinstance(value, str) or value == "":
        raise StoreError(FAILED_TO_PARSE, f"{stage_name} 'from' must be a collection name "
                         "string")
    return value


class _ForeignDocuments:
    """The documents of a foreign collection, read once per run, with an equality index on
    one field built on demand."""

    def __init__(self, docs: list[dict]) -> None:
        self.docs = docs
        self.index: dict[str, dict[Any, list[int]]] = {}

    def matching(self, field: str, values: list[Any], collation: Any) -> list[dict]:
        """The documents whose ``field`` matches one of ``values`` by query equality
        (``{field: {$in: values}}``), in collection order."""
        from .bsonorder import encode_key
        from .query import compile_filter, get_path_values

        predicate = compile_filter({field: {"$in": values}}, collation)
        simple = collation is None and all(
            v is not None and not isinstance(v, list) and type_name(v) != "regex"
            for v in values)
        if not simple:
            return [d for d in self.docs if predicate(d)]
        index = self.index.get(field)
        if index is None:
            index = self.index[field] = {}
            for i, d in enumerate(self.docs):
                for v in get_path_values(d, field):
                    index.setdefault(encode_key(v), []).append(i)
        positions: set[int] = set()
        for v in values:
            positions.update(index.get(encode_key(v), ()))
        return [self.docs[i] for i in sorted(positions) if predicate(self.docs[i])]

    def expression_equal(self, parts: list[str], value: Any, collation: Any) -> list[dict]:
        """The documents whose aggregation field path ``parts`` is equal (``$eq``, BSON
        order; missing equals only missing) to ``value``, in collection order."""
        from .bsonorder import sort_key
        from .expressions import path_value

        def key(v: Any) -> tuple:
            return ("missing",) if v is MISSING else ("value", sort_key(v, collation))

        name = "$expr:" + ".".join(parts)
        index = self.index.get(name)
        if index is None:
            index = self.index[name] = {}
            for i, d in enumerate(self.docs):
                index.setdefault(key(path_value(d, parts)), []).append(i)
        return [self.docs[i] for i in index.get(key(value), ())]


def _expr_equality(pipeline: Any) -> tuple[list[str], str] | None:
    """(field path, variable) when the pipeline starts with a $match whose $expr requires
    ``{$eq: ["$field", "$$variable"]}`` (alone or in a top-level $and), else None."""
    if not pipeline or not isinstance(pipeline[0], Mapping) or set(pipeline[0]) != {"$match"}:
        return None
    match = pipeline[0]["$match"]
    expr = match.get("$expr") if isinstance(match, Mapping) else None
    terms = expr["$and"] if isinstance(expr, Mapping) and set(expr) == {"$and"} \
        and isinstance(expr["$and"], list) else [expr]
    for term in terms:
        if not (isinstance(term, Mapping) and set(term) == {"$eq"}
                and isinstance(term["$eq"], list) and len(term["$eq"]) == 2):
            continue
        a, b = term["$eq"]
        if isinstance(a, str) and a.startswith("$$"):
            a, b = b, a
        if isinstance(a, str) and a.startswith("$") and not a.startswith("$$") and \
                isinstance(b, str) and b.startswith("$$") and "." not in b and \
                b[2:] not in ("ROOT", "CURRENT", "REMOVE", "NOW"):
            return split_path(a[1:]), b[2:]
    return None


def _local_values(doc: dict, field: str) -> list[Any]:
    """The values $lookup matches for ``localField``: every value the path reaches (arrays
    expanded), or null when it reaches none."""
    from .query import get_path_values

    values = get_path_values(doc, field)
    return values if values else [None]


@stage("$lookup")
def _lookup(spec: Any, collation: Any) -> Stage:
    if not isinstance(spec, Mapping):
        raise StoreError(FAILED_TO_PARSE, "the $lookup specification must be an Object")
    for key in spec:
        if key not in ("from", "as", "localField", "foreignField", "let", "pipeline"):
            raise StoreError(FAILED_TO_PARSE, f"unknown argument to $lookup: {key}")
    if "as" not in spec or not isinstance(spec["as"], str):
        raise StoreError(FAILED_TO_PARSE, "must specify 'as' field for a $lookup")
    as_parts = split_path(spec["as"])
    has_local, has_foreign = "localField" in spec, "foreignField" in spec
    if has_local != has_foreign:
        raise StoreError(FAILED_TO_PARSE, "$lookup requires both or neither of 'localField' and "
                         "'foreignField' to be specified")
    pipeline_spec = spec.get("pipeline")
    if not has_local and pipeline_spec is None:
        raise StoreError(FAILED_TO_PARSE, "$lookup requires either 'pipeline' or both "
                         "'localField' and 'foreignField' to be specified")
    if "let" in spec and pipeline_spec is None:
        raise StoreError(FAILED_TO_PARSE, "$lookup with 'let' must also specify 'pipeline'")
    starts_with_documents = isinstance(pipeline_spec, list) and pipeline_spec and \
        isinstance(pipeline_spec[0], Mapping) and "$documents" in pipeline_spec[0]
    if "from" in spec:
        source = _collection_argument("$lookup", spec["from"])
    elif starts_with_documents:
        source = None
    else:
        raise StoreError(FAILED_TO_PARSE, "must specify 'from' field for a $lookup")
    local_field = foreign_field = None
    if has_local:
        for key in ("localField", "foreignField"):
            if not isinstance(spec[key], str):
                raise StoreError(FAILED_TO_PARSE, f"$lookup argument '{key}' must be a string")
            split_path(spec[key])
        local_field, foreign_field = spec["localField"], spec["foreignField"]
    sub_pipeline = None
    let_vars: list[tuple[str, Compiled]] = []
    if pipeline_spec is not None:
        sub_pipeline = compile_pipeline(pipeline_spec, collation, nested="$lookup")
        lets = spec.get("let", {})
        if not isinstance(lets, Mapping):
            raise StoreError(FAILED_TO_PARSE, "$lookup argument 'let' must be an object")
        for name, expr in lets.items():
            check_variable_name(name)
            let_vars.append((name, compile_expression(expr, collation)))

    # {$match: {$expr: {$eq: ["$field", "$$var"]}}} first in the pipeline: look the foreign
    # documents up by that field's value instead of running the pipeline on all of them (the
    # $match still runs on the candidates).
    equality = _expr_equality(pipeline_spec) if local_field is None else None

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        foreign = _ForeignDocuments(list(ctx.scan(source)) if source is not None else [])
        for d in docs:
            if local_field is not None:
                matched = foreign.matching(foreign_field, _local_values(d, local_field),
                                           collation)
            else:
                matched = foreign.docs
            if sub_pipeline is not None:
                inner = _for_doc(scope, d)
                variables = dict(scope)
                for name, f in let_vars:
                    variables[name] = f(inner)
                if equality is not None and equality[1] in variables:
                    matched = foreign.expression_equal(equality[0], variables[equality[1]],
                                                       collation)
                matched = list(_chain(sub_pipeline, iter(matched), ctx, variables))
            else:
                matched = list(matched)
            yield set_path(d, as_parts, matched)
    return run


@stage("$graphLookup")
def _graph_lookup(spec: Any, collation: Any) -> Stage:
    if not isinstance(spec, Mapping):
        raise StoreError(FAILED_TO_PARSE, "the $graphLookup specification must be an Object")
    allowed = ("from", "startWith", "connectFromField", "connectToField", "as", "maxDepth",
               "depthField", "restrictSearchWithMatch")
    for key in spec:
        if key not in allowed:
            raise StoreError(40104, f"Unknown argument to $graphLookup: {key}")
    for key in allowed[:5]:
        if key not in spec:
            raise StoreError(40105, f"$graphLookup requires '{key}' to be specified")
    source = _collection_argument("$graphLookup", spec["from"])
    for key in ("connectFromField", "connectToField", "as"):
        if not isinstance(spec[key], str):
            raise StoreError(40103, f"expected a string as argument for {key}, but found "
                             f"{type_name(spec[key])}")
        split_path(spec[key])
    start = compile_expression(spec["startWith"], collation)
    max_depth = spec.get("maxDepth")
    if max_depth is not None:
        if not numbers.is_integral(max_depth) or numbers.as_int(max_depth) < 0:
            raise StoreError(40101, "maxDepth requires a nonnegative argument")
        max_depth = numbers.as_int(max_depth)
    depth_field = spec.get("depthField")
    restrict = spec.get("restrictSearchWithMatch")
    from .query import compile_filter, get_path_values

    restrict_filter = compile_filter(restrict, collation) if restrict is not None else None
    as_parts = split_path(spec["as"])
    from_field, to_field = spec["connectFromField"], spec["connectToField"]

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        from .bsonorder import encode_key

        pool = [d for d in ctx.scan(source)
                if restrict_filter is None or restrict_filter(d)]
        foreign = _ForeignDocuments(pool)
        for d in docs:
            value = start(_for_doc(scope, d))
            frontier = value if isinstance(value, list) else [value]
            if value is MISSING:
                frontier = [None]
            seen_ids: set[bytes] = set()
            seen_values: set[bytes] = set()
            found: list[dict] = []
            depth = 0
            while frontier and (max_depth is None or depth <= max_depth):
                query_values = []
                for v in frontier:
                    k = encode_key(v)
                    if k not in seen_values:
                        seen_values.add(k)
                        query_values.append(v)
                if not query_values:
                    break
                next_frontier: list[Any] = []
                for match in foreign.matching(to_field, query_values, collation):
                    key = encode_key(match.get("_id"))
                    if key in seen_ids:
                        continue
                    seen_ids.add(key)
                    found.append(set_path(match, split_path(depth_field), Int64(depth))
                                 if depth_field else match)
                    next_frontier.extend(get_path_values(match, from_field))
                frontier = next_frontier
                depth += 1
            yield set_path(d, as_parts, found)
    return run


@stage("$unionWith")
def _union_with(spec: Any, collation: Any) -> Stage:
    if isinstance(spec, str):
        coll, pipeline = spec, []
    elif isinstance(spec, Mapping):
        for key in spec:
            if key not in ("coll", "pipeline"):
                raise StoreError(40415, f"BSON field '$unionWith.{key}' is an unknown field.")
        pipeline = spec.get("pipeline", [])
        coll = spec.get("coll")
        if coll is None and not (pipeline and isinstance(pipeline[0], Mapping)
                                 and "$documents" in pipeline[0]):
            raise StoreError(40414, "BSON field '$unionWith.coll' is missing but a required "
                             "field")
    else:
        raise StoreError(FAILED_TO_PARSE, "the $unionWith stage specification must be an "
                         "object or string")
    source = _collection_argument("$unionWith", coll) if coll is not None else None
    stages = compile_pipeline(pipeline, collation, nested="$unionWith")

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        yield from docs
        others = ctx.scan(source) if source is not None else iter(())
        yield from _chain(stages, others, ctx, scope)
    return run


@stage("$documents")
def _documents(spec: Any, collation: Any) -> Stage:
    compiled = compile_expression(spec, collation)

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        value = compiled(_for_doc(scope, {}))
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise StoreError(5858203, "error during lookup: $documents value must be an array "
                             "of objects")
        return [dict(v) for v in value]
    return run


# --- $setWindowFields, $fill, $densify (store.windows) ------------------------------

@stage("$setWindowFields")
def _set_window_fields(spec: Any, collation: Any) -> Stage:
    from . import windows  # imports this module: loaded on first use

    return windows.build(spec, collation)


@stage("$fill")
def _fill(spec: Any, collation: Any) -> Stage:
    from . import windows

    return windows.build_fill(spec, collation)


@stage("$densify")
def _densify(spec: Any, collation: Any) -> Stage:
    from . import windows

    return windows.build_densify(spec, collation)


# --- $facet ----------------------------------------------------------------------------

@stage("$facet")
def _facet(spec: Any, collation: Any) -> Stage:
    if not isinstance(spec, Mapping):
        raise StoreError(15947, "the $facet specification must be a non-empty object")
    if not spec:
        raise StoreError(40169, "the $facet specification must be a non-empty object")
    facets = []
    for name, pipeline in spec.items():
        _check_field_name(name)
        if "." in name:
            raise StoreError(40353, f"FieldPath field names may not contain '.'. ({name})")
        if not isinstance(pipeline, list):
            raise StoreError(40170, f"arguments to $facet must be arrays, {name} is type "
                             f"{type_name(pipeline)}")
        if not pipeline:
            raise StoreError(40171, "sub-pipeline in $facet stage cannot be empty")
        for s in pipeline:
            if isinstance(s, Mapping) and len(s) == 1:
                inner = next(iter(s))
                if inner in ("$out", "$merge", "$facet", "$collStats", "$indexStats",
                             "$geoNear", "$documents", "$changeStream", "$search"):
                    raise StoreError(40600, f"{inner} is not allowed to be used within a $facet "
                                     "stage")
        facets.append((name, compile_pipeline(pipeline, collation, nested="$facet")))

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        materialized = list(docs)
        return [{name: list(_chain(stages, iter(materialized), ctx, scope))
                 for name, stages in facets}]
    return run


# --- $redact ---------------------------------------------------------------------------

@stage("$redact")
def _redact(spec: Any, collation: Any) -> Stage:
    compiled = compile_expression(spec, collation)

    def redact(doc: Mapping, scope: Scope) -> dict | None:
        inner = dict(scope)
        inner["CURRENT"] = doc
        decision = compiled(inner)
        if decision == "keep" and type(decision) is str:
            return dict(doc)
        if decision == "prune" and type(decision) is str:
            return None
        if decision != "descend" or type(decision) is not str:
            raise StoreError(17053, "$redact's expression should not return anything aside "
                             "from the variables $$KEEP, $$DESCEND, and $$PRUNE, but returned "
                             f"{decision!r}")
        out = {}
        for key, value in doc.items():
            if isinstance(value, Mapping):
                kept = redact(value, scope)
                if kept is not None:
                    out[key] = kept
            elif isinstance(value, list):
                out[key] = _redact_array(value, scope)
            else:
                out[key] = value
        return out

    def _redact_array(values: list, scope: Scope) -> list:
        out = []
        for value in values:
            if isinstance(value, Mapping):
                kept = redact(value, scope)
                if kept is not None:
                    out.append(kept)
            elif isinstance(value, list):
                out.append(_redact_array(value, scope))
            else:
                out.append(value)
        return out

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        for d in docs:
            inner = _for_doc(scope, d)
            inner.update(DESCEND="descend", PRUNE="prune", KEEP="keep")
            result = redact(d, inner)
            if result is not None:
                yield result
    return run


# --- $out and $merge -------------------------------------------------------------------

def _target_collection(stage_name: str, value: Any) -> str:
    if isinstance(value, Mapping):
        for key in value:
            if key not in ("db", "coll"):
                raise StoreError(FAILED_TO_PARSE, f"unknown field in {stage_name}: {key}")
        if "db" in value:
            raise not_supported(f"{stage_name} to another database")
        value = value.get("coll")
    if not isinstance(value, str) or value == "":
        raise StoreError(FAILED_TO_PARSE, f"{stage_name} target collection must be a non-empty "
                         "string")
    return value


@stage("$out")
def _out(spec: Any, collation: Any) -> Stage:
    target = _target_collection("$out", spec)

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        out = [d if "_id" in d else {"_id": ObjectId(), **d} for d in docs]
        ctx.write_out(target, out)
        return []
    return run


class WhenMatchedPipeline(list):
    """A ``$merge`` ``whenMatched`` pipeline with the ``let`` variables of the stage
    (evaluated per merged document, default ``{new: "$$ROOT"}``)."""

    def __init__(self, stages: list, let: Mapping | None, collation: Any) -> None:
        super().__init__(stages)
        self.let = dict(let) if let is not None else {"new": "$$ROOT"}
        self.collation = collation
        self.compiled = compile_pipeline(list(stages), collation, nested="$merge")


_WHEN_MATCHED = ("replace", "keepExisting", "merge", "fail")
_WHEN_NOT_MATCHED = ("insert", "discard", "fail")


@stage("$merge")
def _merge(spec: Any, collation: Any) -> Stage:
    if isinstance(spec, (str, Mapping)) and not (isinstance(spec, Mapping) and "into" in spec):
        if isinstance(spec, Mapping) and set(spec) - {"db", "coll"}:
            raise StoreError(40414, "BSON field '$merge.into' is missing but a required field")
        spec = {"into": spec}
    if not isinstance(spec, Mapping):
        raise StoreError(51182, "$merge only supports a string or object argument")
    for key in spec:
        if key not in ("into", "on", "let", "whenMatched", "whenNotMatched"):
            raise StoreError(40415, f"BSON field '$merge.{key}' is an unknown field.")
    target = _target_collection("$merge", spec["into"])
    on = spec.get("on", "_id")
    on_fields = [on] if isinstance(on, str) else on
    if not isinstance(on_fields, list) or not on_fields or \
            not all(isinstance(f, str) for f in on_fields):
        raise StoreError(51186, "$merge 'on' field must be either a string or an array of "
                         "strings")
    for f in on_fields:
        split_path(f)
    when_matched = spec.get("whenMatched", "merge")
    if isinstance(when_matched, list):
        when_matched = WhenMatchedPipeline(when_matched, spec.get("let"), collation)
    elif when_matched not in _WHEN_MATCHED:
        raise StoreError(BAD_VALUE, f"Enumeration value '{when_matched}' for field "
                         "'$merge.whenMatched' is not a valid value.")
    elif "let" in spec:
        raise StoreError(51199, "Cannot use 'let' variables with 'whenMatched: "
                         f"{when_matched}' mode")
    when_not_matched = spec.get("whenNotMatched", "insert")
    if when_not_matched not in _WHEN_NOT_MATCHED:
        raise StoreError(BAD_VALUE, f"Enumeration value '{when_not_matched}' for field "
                         "'$merge.whenNotMatched' is not a valid value.")

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        ctx.merge_into(target, list(docs), on_fields, when_matched, when_not_matched)
        return []
    return run


def merge_matched(existing: dict, new: dict, when_matched: Any) -> dict:
    """The document ``$merge`` writes when ``new`` matches ``existing`` (for the storage
    layer): ``replace`` → new, ``keepExisting`` → existing, ``merge`` → existing with new's
    fields set, a pipeline → its output on existing with ``$$new``; ``fail`` raises
    DuplicateKey (11000) as MongoDB does."""
    if isinstance(when_matched, WhenMatchedPipeline):
        scope = _command_scope(None, when_matched.collation)
        new_scope = _for_doc(scope, new)
        for name, expr in when_matched.let.items():
            scope[name] = compile_expression(expr, when_matched.collation)(new_scope)
        results = list(_chain(when_matched.compiled, [existing], _NoCollections(), scope))
        if len(results) != 1:
            raise StoreError(BAD_VALUE, "$merge whenMatched pipeline must produce one document")
        return results[0]
    if when_matched == "replace":
        return dict(new)
    if when_matched == "keepExisting":
        return dict(existing)
    if when_matched == "merge":
        out = dict(existing)
        out.update(new)
        return out
    if when_matched == "fail":
        raise StoreError(DUPLICATE_KEY, "$merge with whenMatched: fail found an existing "
                         "document with the same values for the 'on' fields")
    raise StoreError(BAD_VALUE, f"invalid whenMatched mode {when_matched!r}")


class _NoCollections:
    def scan(self, collection: str) -> Iterable[dict]:
        raise StoreError(BAD_VALUE, "a $merge whenMatched pipeline cannot read collections")

    def write_out(self, collection: str, docs: list[dict]) -> None:
        raise StoreError(BAD_VALUE, "a $merge whenMatched pipeline cannot write")

    def merge_into(self, *args: Any) -> None:
        raise StoreError(BAD_VALUE, "a $merge whenMatched pipeline cannot write")


__all__ = ["PipelineContext", "run_pipeline", "compile_pipeline", "merge_matched",
           "WhenMatchedPipeline", "get_path", "set_path"]
