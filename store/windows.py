"""The ``$setWindowFields`` stage: accumulators over windows of sorted partitions, ranks,
``$shift`` and ``$locf``.

Semantics follow the MongoDB 7.0 page
(https://www.mongodb.com/docs/manual/reference/operator/aggregation/setWindowFields/):
documents are grouped by ``partitionBy`` (one partition by default), each partition is
sorted by ``sortBy`` and the stage outputs the partitions one after the other in ascending
order of their key; each output field is set (as ``$addFields`` would) to the window
operator's value over the document's window. A ``documents`` window counts positions from
the current document, a ``range`` window (one ascending numeric or date ``sortBy`` field,
``unit`` for dates) takes the documents whose sort value lies within the bounds; the default
window is the whole partition. Empty windows give 0 for ``$sum``/``$count``, ``[]`` for
``$push``/``$addToSet`` and null otherwise. ``$derivative``, ``$integral``,
``$expMovingAvg``, ``$linearFill``, ``$covariancePop`` and ``$covarianceSamp`` are not
implemented (StoreError NotImplemented).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from . import dates, numbers
from .accumulators import compile_accumulator
from .aggregate import PipelineContext, Stage, _for_doc, _sort, get_path, set_path
from .errors import FAILED_TO_PARSE, StoreError, not_supported
from .expressions import MISSING, Scope, compare, compile_expression, nullish, split_path

_RANK_OPERATORS = ("$rank", "$denseRank", "$documentNumber")
_UNSUPPORTED = ("$derivative", "$integral", "$expMovingAvg", "$linearFill", "$covariancePop",
                "$covarianceSamp", "$median", "$percentile")


class _Output:
    """One output field: its path, its operator and its window."""

    def __init__(self, field: str, spec: Any, collation: Any, sort_by: Mapping | None) -> None:
        if not isinstance(spec, Mapping):
            raise StoreError(FAILED_TO_PARSE, f"The field '{field}' must be an object")
        self.parts = split_path(field)
        window = spec.get("window")
        operators = [k for k in spec if k != "window"]
        if len(operators) != 1:
            raise StoreError(FAILED_TO_PARSE, f"Expected exactly one window function for field "
                             f"'{field}', found {len(operators)}")
        self.name = operators[0]
        operand = spec[self.name]
        if self.name in _UNSUPPORTED:
            raise not_supported(f"the window function {self.name}")
        self.kind = "accumulator"
        if self.name in _RANK_OPERATORS or self.name in ("$shift", "$locf"):
            self.kind = self.name
            if window is not None and self.name != "$locf":
                raise StoreError(5371601, f"{self.name} does not accept a 'window' field")
            if self.name in _RANK_OPERATORS:
                if operand != {}:
                    raise StoreError(5371603, f"{self.name} must be specified with '{{}}' as "
                                     "the value")
                if not sort_by or (self.name != "$documentNumber" and len(sort_by) != 1):
                    raise StoreError(5371602, f"{self.name} must be specified with a top level "
                                     "sortBy expression with exactly one element")
            elif self.name == "$shift":
                self._parse_shift(operand, collation, sort_by)
            else:
                self.expr = compile_expression(operand, collation)
        else:
            self.accumulator = compile_accumulator(field, {self.name: operand}, collation)
        self.window = _Window(window, sort_by) if self.kind == "accumulator" else None

    def _parse_shift(self, operand: Any, collation: Any, sort_by: Mapping | None) -> None:
        if not sort_by:
            raise StoreError(5371602, "$shift requires a sortBy")
        if not isinstance(operand, Mapping) or "output" not in operand or "by" not in operand:
            raise StoreError(FAILED_TO_PARSE, "$shift requires 'output' and 'by'")
        by = operand["by"]
        if not numbers.is_integral(by):
            raise StoreError(FAILED_TO_PARSE, "'$shift:by' field must be an integer, but found "
                             f"{by!r}")
        self.by = numbers.as_int(by)
        self.expr = compile_expression(operand["output"], collation)
        self.default = operand.get("default")


class _Window:
    """A documents or range window: bounds "unbounded", "current" or numbers."""

    def __init__(self, spec: Any, sort_by: Mapping | None) -> None:
        self.kind = "documents"
        self.lower: Any = "unbounded"
        self.upper: Any = "unbounded"
        self.unit: str | None = None
        if spec is None:
            return
        if not isinstance(spec, Mapping) or not spec:
            raise StoreError(FAILED_TO_PARSE, "'window' field must be an object")
        if "documents" in spec and "range" in spec:
            raise StoreError(5371602, "Window bounds can specify either 'documents' or 'range', "
                             "not both")
        for key in spec:
            if key not in ("documents", "range", "unit"):
                raise StoreError(FAILED_TO_PARSE, f"'window' field that is not 'documents', "
                                 f"'range' or 'unit': {key}")
        self.kind = "range" if "range" in spec else "documents"
        bounds = spec.get(self.kind)
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise StoreError(FAILED_TO_PARSE, f"Window bounds must be a 2-element array: {bounds!r}")
        for bound in bounds:
            if bound not in ("unbounded", "current") and not numbers.is_number(bound):
                raise StoreError(FAILED_TO_PARSE, f"Unexpected bound for a window: {bound!r}")
            if self.kind == "documents" and numbers.is_number(bound) and \
                    not numbers.is_integral(bound):
                raise StoreError(FAILED_TO_PARSE, "Numeric document-based bounds must be an "
                                 "integer")
        self.lower, self.upper = bounds
        if "unit" in spec:
            if self.kind != "range":
                raise StoreError(FAILED_TO_PARSE, "'unit' is only valid with a 'range' window")
            if spec["unit"] not in dates.UNITS:
                raise StoreError(FAILED_TO_PARSE, f"Unknown time unit: {spec['unit']!r}")
            self.unit = spec["unit"]
        bounded = self.lower != "unbounded" or self.upper != "unbounded"
        if bounded and not sort_by:
            raise StoreError(5339901, "Document-based bounds require a sortBy")
        if self.kind == "range":
            if not sort_by or len(sort_by) != 1 or next(iter(sort_by.values())) != 1:
                raise StoreError(5339902, "Range-based bounds require sortBy a single field, "
                                 "ascending")
            self.sort_parts = split_path(next(iter(sort_by)))

    def indexes(self, rows: list[dict], i: int) -> range | list[int]:
        """The positions in the sorted partition ``rows`` of the window of row ``i``."""
        n = len(rows)
        if self.kind == "documents":
            lo = 0 if self.lower == "unbounded" else i + (0 if self.lower == "current"
                                                          else numbers.as_int(self.lower))
            hi = n - 1 if self.upper == "unbounded" else i + (0 if self.upper == "current"
                                                              else numbers.as_int(self.upper))
            return range(max(lo, 0), min(hi, n - 1) + 1)
        value = get_path(rows[i], self.sort_parts)
        if not self._in_domain(value):
            raise StoreError(5429413, "Invalid range: Expected the sortBy field to be a "
                             f"{'date' if self.unit else 'number'}, but it was {value!r}")
        lower = None if self.lower == "unbounded" else self._shifted(value, self.lower)
        upper = None if self.upper == "unbounded" else self._shifted(value, self.upper)
        out = []
        for j, row in enumerate(rows):
            v = get_path(row, self.sort_parts)
            if not self._in_domain(v):
                continue
            if lower is not None and compare(v, lower) < 0:
                continue
            if upper is not None and compare(v, upper) > 0:
                continue
            out.append(j)
        return out

    def _in_domain(self, value: Any) -> bool:
        return dates.is_date(value) if self.unit else numbers.is_number(value)

    def _shifted(self, value: Any, bound: Any) -> Any:
        if bound == "current":
            return value
        if self.unit is None:
            return _add_numbers(value, bound)
        if not numbers.is_integral(bound):
            raise StoreError(5429414, "With 'unit', range-based bounds must be an integer")
        return dates.from_millis(dates.add(dates.to_millis(value), self.unit,
                                           numbers.as_int(bound), dates.parse_timezone(None)))


def _add_numbers(a: Any, b: Any) -> Any:
    total = numbers.Summation()
    total.add(a)
    total.add(b)
    return total.result()


def build(spec: Any, collation: Any) -> Stage:
    """Parse a ``$setWindowFields`` specification into a stage."""
    if not isinstance(spec, Mapping):
        raise StoreError(FAILED_TO_PARSE, "$setWindowFields must be an object")
    for key in spec:
        if key not in ("partitionBy", "sortBy", "output"):
            raise StoreError(40415, f"BSON field '$setWindowFields.{key}' is an unknown field.")
    if "output" not in spec or not isinstance(spec["output"], Mapping):
        raise StoreError(40414, "BSON field '$setWindowFields.output' is missing but a required "
                         "field")
    sort_by = spec.get("sortBy")
    sort_stage = _sort(sort_by, collation) if sort_by is not None else None
    partition = compile_expression(spec.get("partitionBy"), collation)
    outputs = [_Output(field, out, collation, sort_by) for field, out in spec["output"].items()]

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        from .bsonorder import sort_key

        partitions: dict[bytes, list[dict]] = {}
        for d in docs:
            key = partition(_for_doc(scope, d))
            partitions.setdefault(sort_key(None if key is MISSING else key, collation),
                                  []).append(d)
        for key in sorted(partitions):
            rows = partitions[key]
            if sort_stage is not None:
                rows = list(sort_stage(rows, ctx, scope))
            results = [_column(o, rows, scope, sort_by) for o in outputs]
            for i, row in enumerate(rows):
                out = dict(row)
                for o, column in zip(outputs, results):
                    out = set_path(out, o.parts, column[i])
                yield out
    return run


def _column(output: _Output, rows: list[dict], scope: Scope, sort_by: Mapping | None
            ) -> list[Any]:
    """The values of one output field for the rows of a sorted partition."""
    n = len(rows)
    if output.kind == "$documentNumber":
        return list(range(1, n + 1))
    if output.kind in ("$rank", "$denseRank"):
        parts = split_path(next(iter(sort_by)))
        values = [get_path(r, parts) for r in rows]
        ranks: list[Any] = []
        dense = 0
        for i, v in enumerate(values):
            if i == 0 or compare(v, values[i - 1]) != 0:
                dense += 1
                rank = i + 1
            ranks.append(dense if output.kind == "$denseRank" else rank)
        return ranks
    if output.kind == "$shift":
        out = []
        for i in range(n):
            j = i + output.by
            if 0 <= j < n:
                v = output.expr(_for_doc(scope, rows[j]))
                out.append(None if v is MISSING else v)
            else:
                out.append(output.default)
        return out
    if output.kind == "$locf":
        out, last = [], None
        for row in rows:
            v = output.expr(_for_doc(scope, row))
            if not nullish(v):
                last = v
            out.append(last)
        return out
    window = output.window
    if window.kind == "documents" and window.lower == "unbounded":
        if window.upper == "unbounded":
            state = output.accumulator.new(None, scope)
            for row in rows:
                state.add(_for_doc(scope, row))
            result = state.result()
            return [_copy(result) for _ in range(n)]
        if window.upper == "current":
            # running totals: one state, read after each document
            state = output.accumulator.new(None, scope)
            out = []
            for row in rows:
                state.add(_for_doc(scope, row))
                out.append(_copy(state.result()))
            return out
    out = []
    for i in range(n):
        state = output.accumulator.new(None, scope)
        for j in window.indexes(rows, i):
            state.add(_for_doc(scope, rows[j]))
        out.append(state.result())
    return out


def _copy(value: Any) -> Any:
    return copy.copy(value) if isinstance(value, (list, dict)) else value
