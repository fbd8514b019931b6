"""The grouping stages: ``$group``, ``$count``, ``$sortByCount``, ``$bucket`` and
``$bucketAuto`` (without ``granularity``), whose accumulators are in :mod:`store.accumulators`.

Group keys are equal when their values are equal in BSON order: 1, 1.0 and NumberLong(1) are
one group, whose ``_id`` is the first value met; a missing key is null, but inside a document
key a missing field is left out (``{}`` and ``{a: null}`` are two groups), as in MongoDB
(https://www.mongodb.com/docs/manual/reference/operator/aggregation/group/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bson.decimal128 import Decimal128
from bson.int64 import Int64

from . import numbers
from .accumulators import compile_accumulator
from .aggregate import PipelineContext, Stage, check_field_name, for_document, sort_stage, stage
from .errors import StoreError, not_supported
from .expressions import MISSING, Compiled, Scope, compile_expression
from .expressions import compare as compare_values


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
        check_field_name(field)
        if "." in field:
            raise StoreError(40235, f"The field name '{field}' cannot contain '.'")
        accumulators.append((field, compile_accumulator(field, acc, collation)))
    return _grouping(key_expr, accumulators, collation)


def _group_id_expression(expr: Any, collation: Any) -> Compiled:
    """The group key of a document. A document ``_id`` groups by the evaluated document,
    with MongoDB's quirk (DocumentSourceGroup::computeId, jstests groupMissing.js): with one
    field, a missing value is null (``{a: "$a"}`` puts {} and {a: null} in one group
    ``{a: null}``); with several, a missing field is left out (``{b: 1}`` and
    ``{a: null, b: 1}`` are two groups)."""
    if isinstance(expr, Mapping) and len(expr) == 1 and not next(iter(expr)).startswith("$"):
        name = next(iter(expr))
        compile_expression(expr, collation)  # the checks of an object expression
        field = compile_expression(expr[name], collation)

        def single_field(scope: Scope) -> Any:
            value = field(scope)
            return {name: None if value is MISSING else value}
        return single_field
    return compile_expression(expr, collation)


def _grouping(key_expr: Compiled, accumulators: list, collation: Any,
              finish: Callable[[list[dict]], Iterable[dict]] | None = None) -> Stage:
    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        groups: dict[Any, tuple[Any, list]] = {}
        for d in docs:
            inner = for_document(scope, d)
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
    sort = sort_stage({"count": -1}, collation)
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

    sort = sort_stage({"_id": 1}, collation)
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
            inner = for_document(scope, d)
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
