"""The aggregation stages that reshape each document: ``$project``, ``$addFields``/``$set``,
``$unset``, ``$replaceRoot``/``$replaceWith`` (MongoDB 7.0,
https://www.mongodb.com/docs/manual/reference/operator/aggregation/project/).

A projection is parsed into a tree of fields (dotted paths and nested documents are the same
thing). Its kind is decided by its first field other than ``_id``: an inclusion projection
keeps the included fields in the document's order, then sets the computed fields in the
specification's order; an exclusion projection removes fields; mixing the two is MongoDB's
error 31253/31254 (an expression in an exclusion projection: 31252). Through arrays, an
inclusion keeps the documents (and nested arrays) and drops scalars, an exclusion keeps
scalars, and a computed sub-field turns a scalar into a document. A computed field that
evaluates to missing (``$$REMOVE``) is left out. ``$addFields`` keeps every field and sets
the computed ones in place (new ones at the end).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from . import numbers
from .aggregate import PipelineContext, Stage, check_field_name, for_document, stage
from .errors import StoreError
from .expressions import MISSING, Scope, compile_expression, split_path, truthy, type_name


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




def _parse_projection(spec: Mapping, collation: Any, *, add_fields: bool, root: _Node | None = None,
                      prefix: str = "") -> _Node:
    """Parse a $project (``add_fields`` False) or $addFields specification into a tree."""
    node = root or _Node()
    for key, value in spec.items():
        check_field_name(key)
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
            yield _include(tree, d, for_document(scope, d))
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
                _add_computed(tree, out, for_document(scope, d))
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
        check_field_name(f)
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
            value = compiled(for_document(scope, d))
            if not isinstance(value, Mapping):
                raise StoreError(40228, f"'{what}' must evaluate to an object, but resulting "
                                 f"value was: {'MISSING' if value is MISSING else repr(value)}. "
                                 f"Type of resulting value: '{type_name(value)}'. Input "
                                 f"document: {d!r}")
            yield dict(value)
    return run
