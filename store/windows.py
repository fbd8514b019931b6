"""The window and gap-filling stages: ``$setWindowFields`` (accumulators over windows of
sorted partitions, ranks, ``$shift``, ``$locf``, ``$linearFill``), ``$fill`` and ``$densify``.

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
``$expMovingAvg``, ``$covariancePop`` and ``$covarianceSamp`` are not implemented (StoreError
NotImplemented).

``$fill`` is MongoDB's rewrite into ``$setWindowFields`` (``method``) and ``$addFields`` with
``$ifNull`` (``value``). ``$densify`` adds, per partition of ``partitionByFields``, a document
holding only the partition fields and the densified field for every step of the range that
no document has (https://www.mongodb.com/docs/manual/reference/operator/aggregation/densify/).
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Iterable, Mapping
from typing import Any

from . import dates, numbers
from .accumulators import compile_accumulator
from .aggregate import PipelineContext, Stage, for_document, get_path, set_path, sort_stage
from .errors import FAILED_TO_PARSE, StoreError, not_supported
from .expressions import MISSING, Scope, compare, compile_expression, nullish, split_path

_RANK_OPERATORS = ("$rank", "$denseRank", "$documentNumber")
_UNSUPPORTED = ("$derivative", "$integral", "$expMovingAvg", "$covariancePop",
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
        if self.name in _RANK_OPERATORS or self.name in ("$shift", "$locf", "$linearFill"):
            self.kind = self.name
            if window is not None:
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
                if self.name == "$linearFill" and (not sort_by or len(sort_by) != 1):
                    raise StoreError(605001, "$linearFill requires a sortBy with exactly one "
                                     "field")
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
        self._cache: tuple[list[dict], list[int], list[tuple]] | None = None
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
            raise StoreError(FAILED_TO_PARSE,
                             f"Window bounds must be a 2-element array: {bounds!r}")
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
        sort_key = self._key
        if self._cache is None or self._cache[0] is not rows:
            # the rows are sorted ascending on the one sortBy field: bisect the sort keys of
            # the rows whose value is in the window's domain (numbers, or dates with a unit)
            domain = [j for j, row in enumerate(rows)
                      if self._in_domain(get_path(row, self.sort_parts))]
            keys = [sort_key(get_path(rows[j], self.sort_parts)) for j in domain]
            self._cache = (rows, domain, keys)
        _, domain, keys = self._cache
        value = get_path(rows[i], self.sort_parts)
        if not self._in_domain(value):
            raise StoreError(5429413, "Invalid range: Expected the sortBy field to be a "
                             f"{'date' if self.unit else 'number'}, but it was {value!r}")
        lo = 0 if self.lower == "unbounded" else \
            bisect.bisect_left(keys, sort_key(self._shifted(value, self.lower)))
        hi = len(keys) if self.upper == "unbounded" else \
            bisect.bisect_right(keys, sort_key(self._shifted(value, self.upper)))
        return domain[lo:hi]

    def _key(self, value: Any) -> tuple:
        """An exact ordering key of a number (Python compares int, float and Decimal
        exactly; NaN sorts first as in MongoDB) or of a date (its milliseconds)."""
        if self.unit:
            return (1, dates.to_millis(value))
        if numbers.kind(value) == numbers.DECIMAL:
            d = value.to_decimal()
            return (0, 0) if d.is_nan() else (1, d)
        if value != value:  # NaN
            return (0, 0)
        return (1, value)

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


def _check_spec(name: str, spec: Any, allowed: tuple[str, ...]) -> None:
    """StoreError unless the specification of stage ``name`` is a document of only
    ``allowed`` fields (FailedToParse when it is not a document, 40415 for an unknown field)."""
    if not isinstance(spec, Mapping):
        raise StoreError(FAILED_TO_PARSE, f"{name} must be an object")
    for key in spec:
        if key not in allowed:
            raise StoreError(40415, f"BSON field '{name}.{key}' is an unknown field.")


def build(spec: Any, collation: Any) -> Stage:
    """Parse a ``$setWindowFields`` specification into a stage."""
    _check_spec("$setWindowFields", spec, ("partitionBy", "sortBy", "output"))
    if "output" not in spec or not isinstance(spec["output"], Mapping):
        raise StoreError(40414, "BSON field '$setWindowFields.output' is missing but a required "
                         "field")
    sort_by = spec.get("sortBy")
    sorting = sort_stage(sort_by, collation) if sort_by is not None else None
    partition = compile_expression(spec.get("partitionBy"), collation)
    outputs = [_Output(field, out, collation, sort_by) for field, out in spec["output"].items()]

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        from .bsonorder import sort_key

        partitions: dict[bytes, list[dict]] = {}
        for d in docs:
            key = partition(for_document(scope, d))
            partitions.setdefault(sort_key(None if key is MISSING else key, collation),
                                  []).append(d)
        for key in sorted(partitions):
            rows = partitions[key]
            if sorting is not None:
                rows = list(sorting(rows, ctx, scope))
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
                v = output.expr(for_document(scope, rows[j]))
                out.append(None if v is MISSING else v)
            else:
                out.append(output.default)
        return out
    if output.kind == "$linearFill":
        return _linear_fill(output, rows, scope, sort_by)
    if output.kind == "$locf":
        out, last = [], None
        for row in rows:
            v = output.expr(for_document(scope, row))
            if not nullish(v):
                last = v
            out.append(last)
        return out
    window = output.window
    if window.kind == "documents" and window.lower == "unbounded":
        if window.upper == "unbounded":
            state = output.accumulator.new(None, scope)
            for row in rows:
                state.add(for_document(scope, row))
            result = state.result()
            return [_copy(result) for _ in range(n)]
        if window.upper == "current":
            # running totals: one state, read after each document
            state = output.accumulator.new(None, scope)
            out = []
            for row in rows:
                state.add(for_document(scope, row))
                out.append(_copy(state.result()))
            return out
    out = []
    for i in range(n):
        state = output.accumulator.new(None, scope)
        for j in window.indexes(rows, i):
            state.add(for_document(scope, rows[j]))
        out.append(state.result())
    return out


def _copy(value: Any) -> Any:
    return copy.copy(value) if isinstance(value, (list, dict)) else value


def _linear_fill(output: _Output, rows: list[dict], scope: Scope, sort_by: Mapping) -> list[Any]:
    """``$linearFill``: a null or missing value between two numbers is interpolated along
    the (numeric or date) sortBy value; before the first or after the last number it stays
    null."""
    parts = split_path(next(iter(sort_by)))
    xs = []
    for row in rows:
        x = get_path(row, parts)
        if dates.is_date(x):
            x = dates.to_millis(x)
        elif not numbers.is_number(x):
            raise StoreError(605001, "$linearFill requires the sortBy field to be a number or a "
                             f"date, found {x!r}")
        xs.append(numbers.to_float(x))
    if len(set(xs)) != len(xs):
        raise StoreError(6050106, "There can be no repeated values in the sort field")
    ys = []
    for row in rows:
        y = output.expr(for_document(scope, row))
        if not nullish(y) and not numbers.is_number(y):
            raise StoreError(605001, f"$linearFill only fills numbers, found {y!r}")
        ys.append(None if nullish(y) else y)
    out: list[Any] = list(ys)
    known = [i for i, y in enumerate(ys) if y is not None]
    for a, b in zip(known, known[1:]):
        slope = (numbers.to_float(ys[b]) - numbers.to_float(ys[a])) / (xs[b] - xs[a])
        for i in range(a + 1, b):
            out[i] = numbers.to_float(ys[a]) + slope * (xs[i] - xs[a])
    return out


def build_fill(spec: Any, collation: Any) -> Stage:
    """``$fill``: ``value`` outputs become ``$ifNull``, ``method`` outputs ``$locf`` or
    ``$linearFill`` of a ``$setWindowFields`` over the same partitions and sort."""
    _check_spec("$fill", spec, ("partitionBy", "partitionByFields", "sortBy", "output"))
    if "partitionBy" in spec and "partitionByFields" in spec:
        raise StoreError(6050204, "Maximum one of 'partitionBy' and 'partitionByFields' can be "
                         "specified in '$fill'")
    output = spec.get("output")
    if not isinstance(output, Mapping) or not output:
        raise StoreError(40414, "BSON field '$fill.output' is missing but a required field")
    partition = spec.get("partitionBy")
    if "partitionByFields" in spec:
        fields = spec["partitionByFields"]
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise StoreError(FAILED_TO_PARSE, "'partitionByFields' must be an array of strings")
        partition = {f"_{i}": "$" + f for i, f in enumerate(fields)}
    window_outputs: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for field, how in output.items():
        if not isinstance(how, Mapping) or len(how) != 1 or \
                next(iter(how)) not in ("value", "method"):
            raise StoreError(6050203, "Exactly one of 'value' and 'method' must be specified "
                             f"for the $fill output field '{field}'")
        if "value" in how:
            values[field] = {"$ifNull": ["$" + field, how["value"]]}
        elif how["method"] == "locf":
            window_outputs[field] = {"$locf": "$" + field}
        elif how["method"] == "linear":
            window_outputs[field] = {"$linearFill": "$" + field}
        else:
            raise StoreError(6050202, f"Method must be either 'linear' or 'locf', found "
                             f"{how['method']!r}")
    stages: list[Stage] = []
    if window_outputs:
        window_spec: dict[str, Any] = {"output": window_outputs}
        if partition is not None:
            window_spec["partitionBy"] = partition
        if "sortBy" in spec:
            window_spec["sortBy"] = spec["sortBy"]
        stages.append(build(window_spec, collation))
    elif "sortBy" in spec:
        stages.append(sort_stage(spec["sortBy"], collation))
    if values:
        from .aggregate import STAGES

        stages.append(STAGES["$addFields"](values, collation))

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        for s in stages:
            docs = s(docs, ctx, scope)
        return docs
    return run


def build_densify(spec: Any, collation: Any) -> Stage:
    """``$densify``: documents for the missing steps of ``field`` in each partition."""
    _check_spec("$densify", spec, ("field", "partitionByFields", "range"))
    field = spec.get("field")
    if not isinstance(field, str) or not field:
        raise StoreError(40414, "BSON field '$densify.field' is missing but a required field")
    if field.startswith("$"):
        raise StoreError(5733600, "Cannot densify field that begins with '$'")
    field_parts = split_path(field)
    partition_fields = spec.get("partitionByFields", [])
    if not isinstance(partition_fields, list) or \
            not all(isinstance(f, str) and f and not f.startswith("$") for f in partition_fields):
        raise StoreError(8993000, "$densify partitionByFields must be field names")
    partition_parts = [split_path(f) for f in partition_fields]
    rng = spec.get("range")
    if not isinstance(rng, Mapping) or "step" not in rng or "bounds" not in rng:
        raise StoreError(40414, "BSON field '$densify.range' needs 'step' and 'bounds'")
    step, unit, bounds = rng["step"], rng.get("unit"), rng["bounds"]
    if not numbers.is_number(step) or numbers.to_float(step) <= 0:
        raise StoreError(5733401, "the step parameter in a range statement must be a strictly "
                         "positive numeric value")
    if unit is not None:
        if unit not in dates.UNITS:
            raise StoreError(FAILED_TO_PARSE, f"unknown time unit value: {unit}")
        if not numbers.is_integral(step):
            raise StoreError(5733412, "The step parameter in a range satement must be a whole "
                             "number when densifying a date range")
    if bounds not in ("full", "partition") and not (isinstance(bounds, list)
                                                    and len(bounds) == 2):
        raise StoreError(5946800, "Bounds must be 'full', 'partition' or an array of two values")

    def value_at(start: Any, k: int) -> Any:
        if unit is None:
            return _add_numbers(start, numbers.multiply([k, step]))
        return dates.from_millis(dates.add(dates.to_millis(start), unit,
                                           k * numbers.as_int(step), dates.parse_timezone(None)))

    def check(value: Any) -> None:
        if unit is None and not numbers.is_number(value):
            raise StoreError(5733201, "Densify field type must be numeric when no unit is given")
        if unit is not None and not dates.is_date(value):
            raise StoreError(5733201, "Densify field type must be a date when a unit is given")

    if isinstance(bounds, list):
        for b in bounds:
            check(b)

    def run(docs: Iterable[dict], ctx: PipelineContext, scope: Scope) -> Iterable[dict]:
        from .bsonorder import sort_key

        passthrough: list[dict] = []
        partitions: dict[bytes, tuple[list, list[dict]]] = {}
        for d in docs:
            value = get_path(d, field_parts)
            if nullish(value):
                passthrough.append(d)
                continue
            check(value)
            key_values = [get_path(d, p) for p in partition_parts]
            key = sort_key(key_values, collation)
            partitions.setdefault(key, (key_values, []))[1].append(d)
        yield from passthrough
        everything = [get_path(d, field_parts) for _, rows in partitions.values() for d in rows]
        for key_values, rows in partitions.values():
            present = {sort_key(get_path(d, field_parts)) for d in rows}
            own = [get_path(d, field_parts) for d in rows]
            if bounds == "full":
                low, high = _min(everything), _max(everything)
            elif bounds == "partition":
                low, high = _min(own), _max(own)
            else:
                low, high = bounds
            # steps from the lower bound up to the upper bound, excluded (with "full" and
            # "partition" the upper bound is an existing value, never added)
            added = []
            k = 0
            while True:
                value = value_at(low, k)
                if compare(value, high) >= 0:
                    break
                if len(added) >= _MAX_DENSIFY:
                    raise StoreError(5897900, f"$densify would generate more than "
                                     f"{_MAX_DENSIFY} documents")
                if sort_key(value) not in present:
                    new: dict = {}
                    for parts, v in zip(partition_parts, key_values):
                        if v is not MISSING:
                            new = set_path(new, parts, v)
                    added.append(set_path(new, field_parts, value))
                k += 1
            merged = sorted(rows + added, key=lambda d: sort_key(get_path(d, field_parts)))
            yield from merged
    return run


_MAX_DENSIFY = 500_000  # MongoDB's internalQueryMaxAllowedDensifyDocs


def _min(values: list) -> Any:
    best = values[0]
    for v in values[1:]:
        if compare(v, best) < 0:
            best = v
    return best


def _max(values: list) -> Any:
    best = values[0]
    for v in values[1:]:
        if compare(v, best) > 0:
            best = v
    return best
