"""MongoDB's numeric types and arithmetic: int32, int64, double and Decimal128.

Pure helpers shared by the aggregation expressions and accumulators. MongoDB keeps the type
of a number through arithmetic and widens it only by its own rules (documented for ``$add``,
``$sum``, ``$multiply``): int32 op int32 stays int32 unless the result overflows, then it is
an int64; an int64 result that overflows becomes a double; any double makes a double; any
Decimal128 makes a Decimal128. Python values (see :mod:`store.codec`): ``int`` is int32,
:class:`bson.int64.Int64` is int64, ``float`` is double, :class:`bson.decimal128.Decimal128`
is decimal. ``bool`` is never a number.
"""

from __future__ import annotations

import decimal
import math
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128, create_decimal128_context
from bson.int64 import Int64

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Kinds, ordered by MongoDB's widening order.
INT32, INT64, DOUBLE, DECIMAL = 0, 1, 2, 3

DECIMAL_CONTEXT = create_decimal128_context()
_KINDS = {int: INT32, Int64: INT64, float: DOUBLE, Decimal128: DECIMAL}


def kind(value: Any) -> int | None:
    """The numeric kind of ``value`` (INT32…DECIMAL), or None when it is not a number."""
    return _KINDS.get(type(value))


def is_number(value: Any) -> bool:
    return type(value) in _KINDS


def make_int(value: int, at_least: int = INT32) -> Any:
    """An integer result of kind ``at_least`` or wider: int32 if it fits and allowed, else
    int64, else a double (MongoDB's overflow rule)."""
    if at_least == INT32 and INT32_MIN <= value <= INT32_MAX:
        return int(value)
    if at_least <= INT64 and INT64_MIN <= value <= INT64_MAX:
        return Int64(value)
    return float(value)


def to_decimal(value: Any) -> Decimal:
    """``value`` as a Python Decimal. Doubles convert through 15 significant digits, as
    MongoDB's ``Decimal128(double)`` does (0.1 becomes 0.100000000000000)."""
    k = kind(value)
    if k == DECIMAL:
        return value.to_decimal()
    if k == DOUBLE:
        if math.isnan(value):
            return Decimal("NaN")
        if math.isinf(value):
            return Decimal("Infinity") if value > 0 else Decimal("-Infinity")
        return DECIMAL_CONTEXT.create_decimal(format(value, ".14e"))
    return Decimal(int(value))


def make_decimal(value: Decimal) -> Decimal128:
    """A Decimal128 holding ``value`` rounded to 34 digits."""
    return Decimal128(DECIMAL_CONTEXT.plus(value) if value.is_finite() else value)


def to_float(value: Any) -> float:
    if type(value) is Decimal128:
        return float(value.to_decimal())
    return float(value)


def float_sum(values: list[float]) -> float:
    """A correctly rounded sum (MongoDB sums doubles with a double-double accumulator, whose
    results agree with an exact sum far better than naive addition)."""
    if not all(math.isfinite(v) for v in values):
        return sum(values, 0.0)
    return math.fsum(values)


class Summation:
    """An exact running sum of MongoDB numbers with MongoDB's result type (``$add``, ``$sum``,
    ``$avg``). Integers are added exactly, doubles by :func:`float_sum`, decimals in the
    Decimal128 context."""

    __slots__ = ("widest", "integers", "doubles", "decimals", "count", "accumulator")

    def __init__(self, accumulator: bool = False) -> None:
        # The $sum/$avg accumulators turn their non-decimal total into a decimal with 34
        # digits (MongoDB's DoubleDoubleSummation::getDecimal); expressions such as $add
        # convert each double with 15 digits (Value::coerceToDecimal).
        self.accumulator = accumulator
        self.widest = INT32
        self.integers = 0
        self.doubles: list[float] = []
        self.decimals = Decimal(0)
        self.count = 0

    def add(self, value: Any) -> None:
        """Add a number (the caller has checked :func:`is_number`)."""
        k = _KINDS[type(value)]
        if k > self.widest:
            self.widest = k
        self.count += 1
        if k <= INT64:
            self.integers += int(value)
        elif k == DOUBLE:
            self.doubles.append(value)
            if len(self.doubles) > 4096:  # keep memory flat for big groups
                self.doubles = [float_sum(self.doubles)]
        else:
            self.decimals = DECIMAL_CONTEXT.add(self.decimals, value.to_decimal())

    def as_double(self) -> float:
        high = float(self.integers)
        low = float(self.integers - int(high)) if math.isfinite(high) else 0.0
        return float_sum([*self.doubles, high, low])

    def as_decimal(self) -> Decimal:
        if self.accumulator:
            with decimal.localcontext() as exact:
                exact.prec = 1100  # enough for an exact sum of doubles and integers
                rest = sum((Decimal(d) for d in self.doubles), Decimal(self.integers))
            if not self.doubles and not self.integers:
                return self.decimals
            return DECIMAL_CONTEXT.add(self.decimals, DECIMAL_CONTEXT.plus(rest))
        total = DECIMAL_CONTEXT.add(self.decimals, Decimal(self.integers))
        for d in self.doubles:
            total = DECIMAL_CONTEXT.add(total, to_decimal(d))
        return total

    def result(self) -> Any:
        if self.widest == DECIMAL:
            return make_decimal(self.as_decimal())
        if self.widest == DOUBLE:
            return self.as_double()
        return make_int(self.integers, self.widest)


def widest(values: list[Any]) -> int:
    return max(_KINDS[type(v)] for v in values)


def multiply(values: list[Any]) -> Any:
    """The product of numbers with MongoDB's type rules."""
    w = widest(values) if values else INT32
    if w == DECIMAL:
        total = Decimal(1)
        for v in values:
            total = DECIMAL_CONTEXT.multiply(total, to_decimal(v))
        return make_decimal(total)
    if w == DOUBLE:
        product = 1.0
        for v in values:
            product *= float(v)
        return product
    product_int = 1
    for v in values:
        product_int *= int(v)
    return make_int(product_int, w)


def subtract(a: Any, b: Any) -> Any:
    w = max(_KINDS[type(a)], _KINDS[type(b)])
    if w == DECIMAL:
        return make_decimal(DECIMAL_CONTEXT.subtract(to_decimal(a), to_decimal(b)))
    if w == DOUBLE:
        return float(a) - float(b)
    return make_int(int(a) - int(b), w)


def divide(a: Any, b: Any) -> Any:
    """a / b: a double, or a Decimal128 when either is decimal. Division by zero is the
    caller's error to raise."""
    if DECIMAL in (_KINDS[type(a)], _KINDS[type(b)]):
        return make_decimal(DECIMAL_CONTEXT.divide(to_decimal(a), to_decimal(b)))
    return to_float(a) / to_float(b)


def modulo(a: Any, b: Any) -> Any:
    """a mod b with the sign of the dividend (C's fmod, as MongoDB), typed by the wider."""
    w = max(_KINDS[type(a)], _KINDS[type(b)])
    if w == DECIMAL:
        return make_decimal(DECIMAL_CONTEXT.remainder(to_decimal(a), to_decimal(b)))
    if w == DOUBLE:
        return math.fmod(float(a), float(b))
    x, y = int(a), int(b)
    r = abs(x) % abs(y)
    return make_int(-r if x < 0 else r, w)


def is_integral(value: Any) -> bool:
    """Whether a number holds an integer value (MongoDB accepts 2.0 where an int is needed)."""
    k = kind(value)
    if k is None:
        return False
    if k <= INT64:
        return True
    if k == DOUBLE:
        return math.isfinite(value) and value == int(value)
    d = value.to_decimal()
    return d.is_finite() and d == d.to_integral_value()


def as_int(value: Any) -> int:
    """The integer value of an integral number (check :func:`is_integral` first)."""
    if type(value) is Decimal128:
        return int(value.to_decimal())
    return int(value)


def round_number(value: Any, place: int, rounding: str) -> Any:
    """``$round`` (half to even) / ``$trunc`` of a number to ``place`` decimal places,
    keeping its type."""
    k = _KINDS[type(value)]
    if k == DOUBLE and not math.isfinite(value):
        return value
    if k <= INT64 and place >= 0:
        return value
    d = to_decimal(value)
    if not d.is_finite():
        return value
    quantum = Decimal(1).scaleb(-place)
    with decimal.localcontext(DECIMAL_CONTEXT) as ctx:
        ctx.rounding = rounding
        if place >= 0:
            r = d.quantize(quantum)
        else:
            r = (d / quantum).to_integral_value() * quantum
    if k == DECIMAL:
        return make_decimal(r)
    if k == DOUBLE:
        return float(r)
    return make_int(int(r), k)


def format_double(value: float) -> str:
    """A double as MongoDB writes it in ``$toString``/``$convert``: shortest round-trip
    digits, no trailing ``.0`` (1.0 → "1", 2.5 → "2.5", 1e20 → "1e+20")."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)
    if text.endswith(".0"):
        text = text[:-2]
    return text
