"""The accumulators of ``$group`` (and ``$bucket``): one state per group, fed the documents
of the group in order.

``compile_accumulator(field, spec, collation)`` parses ``{<$op>: <operand>}`` and returns an
:class:`Accumulator` whose ``new(group_id, scope)`` gives a fresh state with ``add(scope)``
and ``result()``. Semantics are MongoDB 7.0's
(https://www.mongodb.com/docs/manual/reference/operator/aggregation-pipeline/#accumulators):
``$sum``/``$avg``/``$stdDev*`` ignore non-numbers (``$avg`` of none is null, ``$sum`` of none
is 0); ``$min``/``$max`` ignore null and missing; ``$first``/``$last`` take null for a missing
value; ``$push``/``$addToSet`` skip missing values; ``$addToSet`` deduplicates by BSON
equality; ``$mergeObjects`` ignores null and missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cmp_to_key
from typing import Any

from . import numbers
from .errors import FAILED_TO_PARSE, StoreError, not_supported
from .expr_arithmetic import average, std_dev
from .expr_arrays import merge_object_into
from .expressions import MISSING, Compiled, Scope, compare, compile_expression, nullish


class Accumulator:
    """A parsed accumulator: ``new(group_id, scope)`` makes the state of one group."""

    def __init__(self, factory: Callable[[Any, Scope], Any]) -> None:
        self.new = factory


def compile_accumulator(field: str, spec: Any, collation: Any = None) -> Accumulator:
    """Parse the accumulator of output ``field``; StoreError 40234/40238/15952 when the spec
    is not one known accumulator."""
    if not isinstance(spec, Mapping):
        raise StoreError(40234, f"The field '{field}' must be an accumulator object")
    if len(spec) != 1:
        raise StoreError(40238, f"The field '{field}' must specify one accumulator")
    name = next(iter(spec))
    operand = spec[name]
    if name in ("$accumulator", "$median", "$percentile"):
        raise not_supported(f"the accumulator {name}")
    builder = _BUILDERS.get(name)
    if builder is None:
        raise StoreError(15952, f"unknown group operator '{name}'")
    if isinstance(operand, list) and name not in _N_OPS and name not in ("$top", "$bottom"):
        raise StoreError(40237, f"The {name} accumulator is a unary operator")
    return builder(operand, collation)


class _Sum:
    __slots__ = ("expr", "total")

    def __init__(self, expr: Compiled) -> None:
        self.expr = expr
        self.total = numbers.Summation(accumulator=True)

    def add(self, scope: Scope) -> None:
        v = self.expr(scope)
        if numbers.is_number(v):
            self.total.add(v)

    def result(self) -> Any:
        return self.total.result()


class _Avg(_Sum):
    def result(self) -> Any:
        return average(self.total)


class _Extreme:
    __slots__ = ("expr", "sign", "collation", "best")

    def __init__(self, expr: Compiled, sign: int, collation: Any) -> None:
        self.expr, self.sign, self.collation, self.best = expr, sign, collation, MISSING

    def add(self, scope: Scope) -> None:
        v = self.expr(scope)
        if nullish(v):
            return
        if self.best is MISSING or compare(v, self.best, self.collation) * self.sign > 0:
            self.best = v

    def result(self) -> Any:
        return None if self.best is MISSING else self.best


class _First:
    __slots__ = ("expr", "value", "seen")

    def __init__(self, expr: Compiled) -> None:
        self.expr, self.value, self.seen = expr, None, False

    def add(self, scope: Scope) -> None:
        if not self.seen:
            self.seen = True
            v = self.expr(scope)
            self.value = None if v is MISSING else v

    def result(self) -> Any:
        return self.value


class _Last(_First):
    def add(self, scope: Scope) -> None:
        v = self.expr(scope)
        self.value = None if v is MISSING else v


class _Push:
    __slots__ = ("expr", "values")

    def __init__(self, expr: Compiled) -> None:
        self.expr, self.values = expr, []

    def add(self, scope: Scope) -> None:
        v = self.expr(scope)
        if v is not MISSING:
            self.values.append(v)

    def result(self) -> Any:
        return self.values


class _AddToSet:
    __slots__ = ("expr", "collation", "keys", "values")

    def __init__(self, expr: Compiled, collation: Any) -> None:
        self.expr, self.collation, self.keys, self.values = expr, collation, set(), []

    def add(self, scope: Scope) -> None:
        v = self.expr(scope)
        if v is MISSING:
            return
        from .bsonorder import sort_key

        key = sort_key(v, self.collation)
        if key not in self.keys:
            self.keys.add(key)
            self.values.append(v)

    def result(self) -> Any:
        return self.values


class _MergeObjects:
    __slots__ = ("expr", "value")

    def __init__(self, expr: Compiled) -> None:
        self.expr, self.value = expr, {}

    def add(self, scope: Scope) -> None:
        merge_object_into(self.value, self.expr(scope))

    def result(self) -> Any:
        return self.value


class _StdDev:
    __slots__ = ("expr", "sample", "values")

    def __init__(self, expr: Compiled, sample: bool) -> None:
        self.expr, self.sample, self.values = expr, sample, []

    def add(self, scope: Scope) -> None:
        v = self.expr(scope)
        if numbers.is_number(v):
            self.values.append(v)

    def result(self) -> Any:
        return std_dev(self.values, self.sample)


def _unary(cls: Callable[..., Any], *extra: Any) -> Callable[[Any, Any], Accumulator]:
    def build(operand: Any, collation: Any) -> Accumulator:
        expr = compile_expression(operand, collation)
        args = tuple(collation if e == "collation" else e for e in extra)
        return Accumulator(lambda group_id, scope: cls(expr, *args))
    return build


def _count(operand: Any, collation: Any) -> Accumulator:
    if operand != {} or not isinstance(operand, Mapping):
        raise StoreError(FAILED_TO_PARSE, "$count takes no arguments, i.e. $count:{}")
    one = compile_expression(1)
    return Accumulator(lambda group_id, scope: _Sum(one))


# --- the n-ary accumulators ($firstN … $bottomN, $top, $bottom) -------------------------

_N_OPS = ("$firstN", "$lastN", "$maxN", "$minN", "$topN", "$bottomN")


def _evaluate_n(name: str, n_expr: Compiled, group_id: Any, scope: Scope) -> int:
    # n may depend on the group key: it is evaluated against {_id: <group key>}.
    inner = dict(scope)
    inner["ROOT"] = inner["CURRENT"] = {"_id": group_id}
    n = n_expr(inner)
    if not numbers.is_integral(n):
        raise StoreError(5787902, f"Value for 'n' must be of integral type, but found {n!r}")
    n = numbers.as_int(n)
    if n <= 0:
        raise StoreError(5787908, f"'n' must be greater than 0, found {n}")
    return n


def _named_operand(name: str, operand: Any, required: tuple[str, ...]) -> Mapping:
    if not isinstance(operand, Mapping):
        raise StoreError(5787801, f"specification must be an object; found {operand!r}")
    for key in operand:
        if key not in required:
            raise StoreError(5787901, f"Unknown argument for {name}: {key}")
    for key in required:
        if key not in operand:
            raise StoreError(5787906 if key == "n" else 5788003,
                             f"{name} requires '{key}' to be specified")
    return operand


class _Sequence:
    """$firstN / $lastN / $maxN / $minN."""

    __slots__ = ("name", "expr", "n", "collation", "values")

    def __init__(self, name: str, expr: Compiled, n: int, collation: Any) -> None:
        self.name, self.expr, self.n, self.collation, self.values = name, expr, n, collation, []

    def add(self, scope: Scope) -> None:
        v = self.expr(scope)
        if self.name in ("$maxN", "$minN"):
            if nullish(v):
                return
        elif v is MISSING:
            v = None
        if self.name == "$firstN" and len(self.values) >= self.n:
            return
        self.values.append(v)
        if self.name == "$lastN" and len(self.values) > self.n:
            del self.values[0]

    def result(self) -> Any:
        if self.name in ("$firstN", "$lastN"):
            return self.values
        sign = -1 if self.name == "$maxN" else 1
        ordered = sorted(self.values,
                         key=cmp_to_key(lambda a, b: sign * compare(a, b, self.collation)))
        return ordered[: self.n]


def _sequence(name: str) -> Callable[[Any, Any], Accumulator]:
    def build(operand: Any, collation: Any) -> Accumulator:
        spec = _named_operand(name, operand, ("input", "n"))
        expr = compile_expression(spec["input"], collation)
        n_expr = compile_expression(spec["n"], collation)
        return Accumulator(lambda group_id, scope: _Sequence(
            name, expr, _evaluate_n(name, n_expr, group_id, scope), collation))
    return build


class _Ranked:
    """$top / $bottom / $topN / $bottomN: the outputs of the first (last) documents in
    ``sortBy`` order; ties keep the input order."""

    __slots__ = ("sort_by", "output", "n", "single", "bottom", "collation", "docs", "outputs")

    def __init__(self, sort_by: Mapping, output: Compiled, n: int, single: bool, bottom: bool,
                 collation: Any) -> None:
        self.sort_by, self.output, self.n = sort_by, output, n
        self.single, self.bottom, self.collation = single, bottom, collation
        self.docs: list[dict] = []
        self.outputs: list[Any] = []

    def add(self, scope: Scope) -> None:
        v = self.output(scope)
        self.docs.append({"d": scope["CURRENT"], "i": len(self.docs)})
        self.outputs.append(None if v is MISSING else v)

    def result(self) -> Any:
        from .query import sort_documents

        spec = {f"d.{field}": direction for field, direction in self.sort_by.items()}
        ordered = [w["i"] for w in sort_documents(self.docs, spec, self.collation)]
        if self.bottom:
            # the last n in sort order, still listed in sort order
            chosen = ordered[-self.n:]
            if self.single:
                return self.outputs[chosen[-1]] if chosen else None
        else:
            chosen = ordered[: self.n]
            if self.single:
                return self.outputs[chosen[0]] if chosen else None
        return [self.outputs[i] for i in chosen]


def _ranked(name: str) -> Callable[[Any, Any], Accumulator]:
    single = name in ("$top", "$bottom")
    bottom = name.startswith("$bottom")

    def build(operand: Any, collation: Any) -> Accumulator:
        required = ("sortBy", "output") if single else ("sortBy", "output", "n")
        spec = _named_operand(name, operand, required)
        sort_by = spec["sortBy"]
        if not isinstance(sort_by, Mapping) or not sort_by:
            raise StoreError(5788604, f"{name} requires 'sortBy' to be a non-empty object")
        for direction in sort_by.values():
            if isinstance(direction, Mapping):
                raise not_supported(f"$meta sort in {name}")
            if direction not in (1, -1) or type(direction) is bool:
                raise StoreError(15975, "$sort key ordering must be 1 (for ascending) or -1 "
                                 "(for descending)")
        output = compile_expression(spec["output"], collation)
        n_expr = None if single else compile_expression(spec["n"], collation)
        return Accumulator(lambda group_id, scope: _Ranked(
            sort_by, output, 1 if n_expr is None else _evaluate_n(name, n_expr, group_id, scope),
            single, bottom, collation))
    return build


_BUILDERS: dict[str, Callable[[Any, Any], Accumulator]] = {
    "$sum": _unary(_Sum),
    "$avg": _unary(_Avg),
    "$min": _unary(_Extreme, -1, "collation"),
    "$max": _unary(_Extreme, 1, "collation"),
    "$first": _unary(_First),
    "$last": _unary(_Last),
    "$push": _unary(_Push),
    "$addToSet": _unary(_AddToSet, "collation"),
    "$mergeObjects": _unary(_MergeObjects),
    "$stdDevPop": _unary(_StdDev, False),
    "$stdDevSamp": _unary(_StdDev, True),
    "$count": _count,
    **{name: _sequence(name) for name in ("$firstN", "$lastN", "$maxN", "$minN")},
    **{name: _ranked(name) for name in ("$top", "$bottom", "$topN", "$bottomN")},
}

__all__ = ["Accumulator", "compile_accumulator"]
