"""Arithmetic expression operators: ``$add $subtract $multiply $divide $mod $abs $ceil
$floor $sqrt $exp $ln $log $log10 $pow $round $trunc``, the trigonometric and bitwise
operators, and ``$sum $avg $min $max $stdDevPop $stdDevSamp $rand`` as expressions.

Numbers keep their BSON type and widen by MongoDB's rules (:mod:`store.numbers`); a null or
missing argument gives null; a non-numeric one is a StoreError with MongoDB's code
(https://www.mongodb.com/docs/manual/reference/operator/aggregation/, "Arithmetic Expression
Operators").
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

from bson.decimal128 import Decimal128
from bson.int64 import Int64

from . import dates, numbers
from .errors import BAD_VALUE, StoreError
from .expressions import (MISSING, Compiled, compare, nullish, simple, special, type_name,
                          unary)


def _numeric_args(name: str, values: list, code: int) -> list | None:
    """The numbers of ``values``; None if any is null/missing; StoreError for another type."""
    for v in values:
        if nullish(v):
            return None
    for v in values:
        if not numbers.is_number(v):
            raise StoreError(code, f"{name} only supports numeric types, not {type_name(v)}")
    return values


def _numeric(name: str, code: int, nargs: int | None = None) -> Callable:
    """Register an operator on numbers: ``fn(nums)``, with null when an argument is null or
    missing and StoreError ``code`` for an argument of another type (see _numeric_args)."""

    def register(fn: Callable[[list], Any]) -> Callable:
        @simple(name, nargs)
        def run(values: list, collation: Any) -> Any:
            nums = _numeric_args(name, values, code)
            return None if nums is None else fn(nums)
        return fn
    return register


@simple("$add")
def _add(values: list, collation: Any) -> Any:
    total = numbers.Summation()
    date_ms = None
    for v in values:
        if nullish(v):
            return None
        if numbers.is_number(v):
            total.add(v)
        elif dates.is_date(v):
            if date_ms is not None:
                raise StoreError(16612, "only one date allowed in an $add expression")
            date_ms = dates.to_millis(v)
        else:
            raise StoreError(16554, f"$add only supports numeric or date types, not "
                             f"{type_name(v)}")
    if date_ms is None:
        return total.result()
    if total.widest == numbers.DECIMAL:
        delta = int(total.as_decimal().to_integral_value(ROUND_HALF_EVEN))
    elif total.widest == numbers.DOUBLE:
        d = total.as_double()
        if not math.isfinite(d):
            raise StoreError(BAD_VALUE, "date overflow in $add")
        delta = int(round(d))
    else:
        delta = total.integers
    return dates.from_millis(date_ms + delta)


@simple("$subtract", 2)
def _subtract(values: list, collation: Any) -> Any:
    a, b = values
    if nullish(a) or nullish(b):
        return None
    if numbers.is_number(a) and numbers.is_number(b):
        return numbers.subtract(a, b)
    if dates.is_date(a):
        if dates.is_date(b):
            return Int64(dates.to_millis(a) - dates.to_millis(b))
        if numbers.is_number(b):
            amount = b
            if numbers.kind(b) == numbers.DOUBLE:
                amount = int(round(b))
            elif numbers.kind(b) == numbers.DECIMAL:
                amount = int(b.to_decimal().to_integral_value(ROUND_HALF_EVEN))
            return dates.from_millis(dates.to_millis(a) - int(amount))
    raise StoreError(16556, f"can't $subtract {type_name(b)} from {type_name(a)}")


@_numeric("$multiply", 16555)
def _multiply(nums: list) -> Any:
    return numbers.multiply(nums)


@_numeric("$divide", 16609, 2)
def _divide(nums: list) -> Any:
    if _is_zero(nums[1]):
        raise StoreError(BAD_VALUE, "can't $divide by zero")
    return numbers.divide(*nums)


def _is_zero(value: Any) -> bool:
    if type(value) is Decimal128:
        return value.to_decimal().is_zero()
    return value == 0


@_numeric("$mod", 16611, 2)
def _mod(nums: list) -> Any:
    if _is_zero(nums[1]):
        raise StoreError(16610, "can't $mod by zero")
    return numbers.modulo(*nums)


def _unary_number(name: str, fn: Callable[[Any], Any], code: int = 28765) -> None:
    @unary(name)
    def run(v: Any) -> Any:
        if not numbers.is_number(v):
            raise StoreError(code, f"{name} only supports numeric types, not {type_name(v)}")
        return fn(v)


def _abs(v: Any) -> Any:
    k = numbers.kind(v)
    if k == numbers.DECIMAL:
        return numbers.make_decimal(abs(v.to_decimal()))
    if k == numbers.DOUBLE:
        return abs(v)
    if k == numbers.INT64 and v == numbers.INT64_MIN:
        raise StoreError(28680, "can't take $abs of long long min")
    return numbers.make_int(abs(int(v)), k)


def _rounding(mode: str) -> Callable[[Any], Any]:
    def run(v: Any) -> Any:
        k = numbers.kind(v)
        if k <= numbers.INT64:
            return v
        if k == numbers.DOUBLE:
            if not math.isfinite(v):
                return v
            return float(math.ceil(v) if mode == ROUND_CEILING else math.floor(v))
        return numbers.make_decimal(v.to_decimal().to_integral_value(mode))
    return run


def _float_fn(name: str, fn: Callable[[float], float], dec: Callable[[Decimal], Decimal],
              domain: Callable[[float], bool] | None = None, code: int = 0,
              message: str = "") -> Callable[[Any], Any]:
    def run(v: Any) -> Any:
        k = numbers.kind(v)
        x = numbers.to_float(v)
        if domain is not None and not math.isnan(x) and not domain(x):
            raise StoreError(code, message)
        if k == numbers.DECIMAL:
            return numbers.make_decimal(dec(v.to_decimal()))
        return fn(x)
    return run


_unary_number("$abs", _abs, 28765)
_unary_number("$ceil", _rounding(ROUND_CEILING), 28765)
_unary_number("$floor", _rounding(ROUND_FLOOR), 28765)
_unary_number("$sqrt", _float_fn("$sqrt", math.sqrt, lambda d: numbers.DECIMAL_CONTEXT.sqrt(d),
                                 lambda x: x >= 0, 28714, "$sqrt's argument must be greater "
                                 "than or equal to 0"), 28765)
_unary_number("$exp", _float_fn("$exp", lambda x: math.exp(x) if x < 710 else math.inf,
                                lambda d: numbers.DECIMAL_CONTEXT.exp(d)), 28765)
_unary_number("$ln", _float_fn("$ln", math.log, lambda d: numbers.DECIMAL_CONTEXT.ln(d),
                               lambda x: x > 0, 28766, "$ln's argument must be a positive "
                               "number"), 28765)
_unary_number("$log10", _float_fn("$log10", math.log10,
                                  lambda d: numbers.DECIMAL_CONTEXT.log10(d),
                                  lambda x: x > 0, 28761, "$log10's argument must be a "
                                  "positive number"), 28765)


def _trig(name: str, fn: Callable[[float], float],
          domain: tuple[float, float, bool, bool] | None = None) -> None:
    """A trigonometric operator: a double result (a Decimal128 for a decimal input, computed
    in double precision); null/missing gives null; NaN gives NaN; out of domain is an
    error. ``domain`` is (low, high, low_inclusive, high_inclusive)."""

    @unary(name)
    def run(v: Any) -> Any:
        if not numbers.is_number(v):
            raise StoreError(28765, f"{name} only supports numeric types, not {type_name(v)}")
        x = numbers.to_float(v)
        if not math.isnan(x) and domain is not None:
            low, high, low_in, high_in = domain
            if x < low or x > high or (x == low and not low_in) or (x == high and not high_in):
                bounds = f"{'[' if low_in else '('}{low:g},{high:g}{']' if high_in else ')'}"
                raise StoreError(50989, f"cannot apply {name} to {x:g}, value must be in "
                                 f"{bounds}")
        result = fn(x) if not math.isnan(x) else math.nan
        if numbers.kind(v) == numbers.DECIMAL:
            return numbers.make_decimal(numbers.to_decimal(result))
        return result


_INF = math.inf
_trig("$sin", math.sin, (-_INF, _INF, False, False))
_trig("$cos", math.cos, (-_INF, _INF, False, False))
_trig("$tan", math.tan, (-_INF, _INF, False, False))
_trig("$asin", math.asin, (-1.0, 1.0, True, True))
_trig("$acos", math.acos, (-1.0, 1.0, True, True))
_trig("$atan", math.atan)
_trig("$sinh", math.sinh)
_trig("$cosh", math.cosh)
_trig("$tanh", math.tanh)
_trig("$asinh", math.asinh)
_trig("$acosh", math.acosh, (1.0, _INF, True, True))
_trig("$atanh", math.atanh, (-1.0, 1.0, True, True))
_trig("$degreesToRadians", math.radians)
_trig("$radiansToDegrees", math.degrees)


@_numeric("$atan2", 51044, 2)
def _atan2(nums: list) -> Any:
    result = math.atan2(numbers.to_float(nums[0]), numbers.to_float(nums[1]))
    if numbers.DECIMAL in (numbers.kind(nums[0]), numbers.kind(nums[1])):
        return numbers.make_decimal(numbers.to_decimal(result))
    return result


def _bitwise(name: str, combine: Callable[[int, int], int]) -> None:
    @simple(name)
    def run(values: list, collation: Any) -> Any:
        if any(nullish(v) for v in values):
            return None
        result = -1 if name == "$bitAnd" else 0
        widest = numbers.INT32
        for v in values:
            k = numbers.kind(v)
            if k not in (numbers.INT32, numbers.INT64):
                raise StoreError(28663, f"{name} only supports int and long operands, not "
                                 f"{type_name(v)}")
            widest = max(widest, k)
            result = combine(result, int(v))
        return numbers.make_int(result, widest)


_bitwise("$bitAnd", lambda a, b: a & b)
_bitwise("$bitOr", lambda a, b: a | b)
_bitwise("$bitXor", lambda a, b: a ^ b)


@unary("$bitNot")
def _bit_not(v: Any) -> Any:
    k = numbers.kind(v)
    if k not in (numbers.INT32, numbers.INT64):
        raise StoreError(28663, f"$bitNot only supports int and long operands, not "
                         f"{type_name(v)}")
    return numbers.make_int(~int(v), k)


@_numeric("$log", 28756, 2)
def _log(nums: list) -> Any:
    n, base = nums
    fn_, fb = numbers.to_float(n), numbers.to_float(base)
    if not math.isnan(fn_) and fn_ <= 0:
        raise StoreError(28758, "$log's argument must be a positive number")
    if not math.isnan(fb) and (fb <= 0 or fb == 1):
        raise StoreError(28759, "$log's base must be a positive number not equal to 1")
    if numbers.DECIMAL in (numbers.kind(n), numbers.kind(base)):
        ctx = numbers.DECIMAL_CONTEXT
        return numbers.make_decimal(ctx.divide(ctx.ln(numbers.to_decimal(n)),
                                               ctx.ln(numbers.to_decimal(base))))
    return math.log(fn_) / math.log(fb)


@_numeric("$pow", 28762, 2)
def _pow(nums: list) -> Any:
    base, exp = nums
    kb, ke = numbers.kind(base), numbers.kind(exp)
    w = max(kb, ke)
    if w == numbers.DECIMAL:
        return numbers.make_decimal(numbers.DECIMAL_CONTEXT.power(numbers.to_decimal(base),
                                                                  numbers.to_decimal(exp)))
    if w == numbers.DOUBLE:
        try:
            return math.pow(float(base), float(exp))
        except (OverflowError, ValueError):
            return float(base) ** float(exp) if float(base) >= 0 else math.nan
    b, e = int(base), int(exp)
    if b == 0 and e < 0:
        raise StoreError(28764, "$pow cannot take a base of 0 and a negative exponent")
    if e < 0:
        if b in (1, -1):
            return numbers.make_int(b ** e if b == 1 else (1 if e % 2 == 0 else -1), w)
        return math.pow(b, e)
    result = b ** e if abs(b) > 1 else (b ** (e % 2 if b == -1 else 1) if e else 1)
    if numbers.INT64_MIN <= result <= numbers.INT64_MAX:
        return numbers.make_int(result, w)
    return math.pow(b, e)


def _round_op(name: str, mode: str) -> None:
    @simple(name, (1, 2))
    def run(values: list, collation: Any) -> Any:
        v = values[0]
        place = values[1] if len(values) > 1 else 0
        if nullish(v) or nullish(place):
            return None
        if not numbers.is_number(v):
            raise StoreError(51081, f"{name} only supports numeric types, not {type_name(v)}")
        if not numbers.is_integral(place) or not -20 <= numbers.as_int(place) <= 100:
            raise StoreError(51083, f"cannot apply {name} with precision value {place!r}, "
                             "value must be in [-20, 100]")
        return numbers.round_number(v, numbers.as_int(place), mode)


_round_op("$round", ROUND_HALF_EVEN)
_round_op("$trunc", ROUND_DOWN)


def _array_or_args(name: str, values: list) -> list:
    """``$sum``/``$avg``/``$min``/``$max`` as expressions: one array argument means its
    elements, several arguments mean the arguments."""
    if len(values) == 1 and isinstance(values[0], list):
        return values[0]
    return values


def _summation(name: str, values: list) -> numbers.Summation:
    """The sum of the numbers among ``_array_or_args(name, values)``; others are ignored."""
    total = numbers.Summation()
    for v in _array_or_args(name, values):
        if numbers.is_number(v):
            total.add(v)
    return total


@simple("$sum")
def _sum_expr(values: list, collation: Any) -> Any:
    return _summation("$sum", values).result()


@simple("$avg")
def _avg_expr(values: list, collation: Any) -> Any:
    return average(_summation("$avg", values))


def average(total: numbers.Summation) -> Any:
    """The mean of a summation: null when empty, a double (a Decimal128 for decimals)."""
    if total.count == 0:
        return None
    if total.widest == numbers.DECIMAL:
        return numbers.make_decimal(numbers.DECIMAL_CONTEXT.divide(total.as_decimal(),
                                                                   Decimal(total.count)))
    if total.widest == numbers.DOUBLE:
        return total.as_double() / total.count
    return total.integers / total.count


def _extreme(values: list, collation: Any, sign: int) -> Any:
    best = MISSING
    for v in values:
        if nullish(v):
            continue
        if best is MISSING or compare(v, best, collation) * sign > 0:
            best = v
    return None if best is MISSING else best


@simple("$max")
def _max_expr(values: list, collation: Any) -> Any:
    return _extreme(_array_or_args("$max", values), collation, 1)


@simple("$min")
def _min_expr(values: list, collation: Any) -> Any:
    return _extreme(_array_or_args("$min", values), collation, -1)


def std_dev(values: list[Any], sample: bool) -> Any:
    nums = [numbers.to_float(v) for v in values if numbers.is_number(v)]
    n = len(nums)
    if n == 0 or (sample and n == 1):
        return None
    mean = math.fsum(nums) / n
    variance = math.fsum((x - mean) ** 2 for x in nums) / (n - 1 if sample else n)
    return math.sqrt(variance)


@simple("$stdDevPop")
def _std_pop(values: list, collation: Any) -> Any:
    return std_dev(_array_or_args("$stdDevPop", values), False)


@simple("$stdDevSamp")
def _std_samp(values: list, collation: Any) -> Any:
    return std_dev(_array_or_args("$stdDevSamp", values), True)


@special("$rand")
def _rand(operand: Any, collation: Any) -> Compiled:
    if operand not in ({}, []):
        raise StoreError(3040501, "$rand does not currently accept arguments")
    return lambda scope: random.random()
