"""Aggregation pipelines: MongoDB 7.0's stages over an iterable of documents.

``run_pipeline(docs, pipeline, ctx, collation=None, variables=None)`` parses every stage
first (an invalid or unsupported stage raises :class:`StoreError` before any document is
read, as MongoDB rejects a pipeline it cannot parse) and returns an iterator of the output
documents. Stages never modify the documents they receive.

``variables`` are the command's ``let``: expressions without field paths, evaluated once.
``ctx`` (:class:`PipelineContext`) is how the stages that read or write other collections
(``$lookup``, ``$graphLookup``, ``$unionWith``, ``$out``, ``$merge``) reach the database.

Stages (https://www.mongodb.com/docs/manual/reference/operator/aggregation-pipeline/): here
``$match $sort $limit $skip $sample $unwind $facet $redact $out $merge``; in
:mod:`.agg_reshape` ``$project $addFields $set $unset $replaceRoot $replaceWith``; in
:mod:`.agg_group` ``$group $count $sortByCount $bucket $bucketAuto`` (without
``granularity``); in :mod:`.agg_lookup` ``$lookup $graphLookup $unionWith $documents``; in
:mod:`.windows` ``$setWindowFields $fill $densify``. Known stages the store does not
implement (``$geoNear``, ``$search``, ``$collStats``, …) raise StoreError NotImplemented;
unknown names raise 40324 as in MongoDB.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from bson.int64 import Int64
from bson.objectid import ObjectId

from . import numbers
from .errors import BAD_VALUE, DUPLICATE_KEY, FAILED_TO_PARSE, TYPE_MISMATCH, StoreError, \
    not_supported
from .expressions import (MISSING, Scope, check_variable_name, compile_expression, set_now,
                          split_path, type_name)


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
    return iter(chain_stages(stages, docs, ctx, scope))


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
        builder = STAGES.get(name)
        if name == "$changeStream":  # what a standalone mongod answers (change streams need a replica set)
            raise StoreError(40573, "The $changeStream stage is only supported on replica sets")
        if builder is None:
            if name in UNSUPPORTED_STAGES:
                raise not_supported(f"the aggregation stage {name}")
            raise StoreError(40324, f"Unrecognized pipeline stage name: '{name}'")
        stages.append(builder(spec[name], collation))
    return stages


def chain_stages(stages: list[Stage], docs: Iterable[dict], ctx: PipelineContext, scope: Scope
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


def for_document(scope: Scope, doc: Any) -> Scope:
    inner = dict(scope)
    inner["ROOT"] = inner["CURRENT"] = doc
    return inner


STAGES: dict[str, Callable[[Any, Any], Stage]] = {}


def stage(name: str) -> Callable:
    def register(build: Callable[[Any, Any], Stage]) -> Callable:
        STAGES[name] = build
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


def check_field_name(name: Any) -> None:
    if not isinstance(name, str) or name == "":
        raise StoreError(40352, "FieldPath cannot be constructed with empty string")
    if name.startswith("$"):
        raise StoreError(16410, f"FieldPath field names may not start with '$'. Consider using "
                         f"$getField or $setField. (field '{name}')")


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


# --- $sort, $limit, $skip, $sample ----------------------------------------------------

@stage("$sort")
def sort_stage(spec: Any, collation: Any) -> Stage:
    if not isinstance(spec, Mapping):
        raise StoreError(15973, "the $sort key specification must be an object")
    if not spec:
        raise StoreError(15976, "$sort stage must have at least one sort key")
    for field, direction in spec.items():
        check_field_name(field)
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
        check_field_name(name)
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
        return [{name: list(chain_stages(stages, iter(materialized), ctx, scope))
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
            inner = for_document(scope, d)
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
        new_scope = for_document(scope, new)
        for name, expr in when_matched.let.items():
            scope[name] = compile_expression(expr, when_matched.collation)(new_scope)
        results = list(chain_stages(when_matched.compiled, [existing], _NoCollections(), scope))
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


# The stage families in their own modules register themselves (they import this module).
from . import agg_group, agg_lookup, agg_reshape  # noqa: E402,F401

__all__ = ["PipelineContext", "Stage", "STAGES", "run_pipeline", "compile_pipeline", "stage",
           "chain_stages", "for_document", "check_field_name", "sort_stage", "merge_matched",
           "WhenMatchedPipeline", "get_path", "set_path"]
