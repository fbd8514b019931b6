"""The stages that read other collections through the PipelineContext: ``$lookup``
(``localField``/``foreignField``, ``let``/``pipeline``, and both), ``$graphLookup``,
``$unionWith`` and ``$documents`` (MongoDB 7.0,
https://www.mongodb.com/docs/manual/reference/operator/aggregation/lookup/).

A foreign collection is read once per run. ``localField``/``foreignField`` matching is the
query ``{foreignField: {$in: <local values>}}`` (a missing local field or an empty array is
null), served by a hash of the foreign values; a pipeline starting with ``$expr`` ``$eq`` on
a ``let`` variable looks its candidates up by value. The full match always decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bson.int64 import Int64

from . import numbers
from .aggregate import (PipelineContext, Stage, chain_stages, compile_pipeline, for_document,
                        set_path, stage)
from .errors import FAILED_TO_PARSE, StoreError, not_supported
from .expressions import (MISSING, Compiled, Scope, check_variable_name, compile_expression,
                          split_path, type_name)


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
                inner = for_document(scope, d)
                variables = dict(scope)
                for name, f in let_vars:
                    variables[name] = f(inner)
                if equality is not None and equality[1] in variables:
                    matched = foreign.expression_equal(equality[0], variables[equality[1]],
                                                       collation)
                matched = list(chain_stages(sub_pipeline, iter(matched), ctx, variables))
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
            value = start(for_document(scope, d))
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
        yield from chain_stages(stages, others, ctx, scope)
    return run


@stage("$documents")
def _documents(spec: Any, collation: Any) -> Stage:
    compiled = compile_expression(spec, collation)

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        value = compiled(for_document(scope, {}))
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise StoreError(5858203, "error during lookup: $documents value must be an array "
                             "of objects")
        return [dict(v) for v in value]
    return run
