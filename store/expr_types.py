"""Type expression operators: ``$type $isNumber $convert $toString $toBool $toInt $toLong
$toDouble $toDecimal $toDate $toObjectId $bsonSize $binarySize $tsSecond $tsIncrement``.

Conversions follow MongoDB 7.0's conversion table
(https://www.mongodb.com/docs/manual/reference/operator/aggregation/convert/): an
unsupported conversion or an unparsable string is StoreError 241 (ConversionFailure), which
``onError`` replaces; null or missing input gives ``onNull`` (default null).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bson.binary import Binary
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.timestamp import Timestamp

from . import dates, numbers
from .errors import BAD_VALUE, FAILED_TO_PARSE, StoreError, not_supported
from .expressions import (CONVERSION_FAILURE, compile_expression, Compiled, expression_error,
                          nullish, Scope, simple, special, to_string, truthy, type_name,
                          unary)


def _conversion_error(message: str) -> StoreError:
    """StoreError 241 (ConversionFailure): the error ``onError`` replaces."""
    return expression_error(CONVERSION_FAILURE, message)


@simple("$type", 1)
def _type(values: list, collation: Any) -> str:
    return type_name(values[0])


@simple("$isNumber", 1)
def _is_number(values: list, collation: Any) -> bool:
    return numbers.is_number(values[0])


_TYPE_ALIASES = {1: "double", 2: "string", 7: "objectId", 8: "bool", 9: "date", 16: "int",
                 18: "long", 19: "decimal"}
_INT_RANGE = {"int": (numbers.INT32_MIN, numbers.INT32_MAX),
              "long": (numbers.INT64_MIN, numbers.INT64_MAX)}


def convert(value: Any, to: str) -> Any:
    """``$convert`` of a non-null value to the type named ``to``; StoreError 241
    (ConversionFailure) when MongoDB cannot convert it."""
    src = type_name(value)

    def fail(detail: str = "") -> StoreError:
        return _conversion_error(f"Unsupported conversion from {src} to {to} in "
                          f"$convert with no onError value{detail}")

    if to == "string":
        if src in ("bool", "int", "long", "double", "decimal", "string", "objectId", "date"):
            return to_string(value)
        raise fail()
    if to == "bool":
        if src in ("bool",):
            return value
        if numbers.is_number(value):
            return truthy(value)
        if src in ("minKey", "maxKey", "undefined"):
            raise fail()
        return True
    if to in ("int", "long"):
        low, high = _INT_RANGE[to]
        wrap = int if to == "int" else Int64
        if src == "bool":
            return wrap(1 if value else 0)
        if src in ("int", "long"):
            if not low <= value <= high:
                raise _conversion_error(f"Conversion would overflow target type in "
                                 f"$convert with no onError value: {value}")
            return wrap(int(value))
        if src in ("double", "decimal"):
            d = numbers.to_decimal(value) if src == "decimal" else value
            if (src == "double" and not math.isfinite(value)) or \
                    (src == "decimal" and not d.is_finite()):
                raise _conversion_error("Attempt to convert NaN or infinity value "
                                 f"to integer type in $convert with no onError value: {value}")
            truncated = int(d)
            if not low <= truncated <= high:
                raise _conversion_error(f"Conversion would overflow target type in "
                                 f"$convert with no onError value: {value}")
            return wrap(truncated)
        if src == "date" and to == "long":
            return Int64(dates.to_millis(value))
        if src == "string":
            if not re.fullmatch(r"[+-]?\d+", value):
                raise _conversion_error(f"Failed to parse number '{value}' in "
                                 "$convert with no onError value")
            number = int(value)
            if not low <= number <= high:
                raise _conversion_error(f"Failed to parse number '{value}' in "
                                 "$convert with no onError value: Overflow")
            return wrap(number)
        raise fail()
    if to == "double":
        if src == "bool":
            return 1.0 if value else 0.0
        if src in ("int", "long", "double"):
            return float(value)
        if src == "decimal":
            d = value.to_decimal()
            f = float(d)
            if d.is_finite() and math.isinf(f):
                raise _conversion_error("Conversion would overflow target type in "
                                 f"$convert with no onError value: {value}")
            return f
        if src == "date":
            return float(dates.to_millis(value))
        if src == "string":
            return _parse_double(value)
        raise fail()
    if to == "decimal":
        if src == "bool":
            return Decimal128("1" if value else "0")
        if src in ("int", "long"):
            return Decimal128(str(int(value)))
        if src == "double":
            return numbers.make_decimal(numbers.to_decimal(value))
        if src == "decimal":
            return value
        if src == "date":
            return Decimal128(str(dates.to_millis(value)))
        if src == "string":
            try:
                if not re.fullmatch(r"\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|"
                                    r"[Ii]nf(inity)?|NaN)\s*", value):
                    raise ValueError(value)
                return numbers.make_decimal(Decimal(value.strip()))
            except (ValueError, ArithmeticError):
                raise _conversion_error(f"Failed to parse number '{value}' in "
                                 "$convert with no onError value") from None
        raise fail()
    if to == "date":
        if src == "date":
            return value
        if src in ("long", "double", "decimal"):
            d = numbers.to_decimal(value)
            if not d.is_finite():
                raise _conversion_error("Conversion would overflow target type in "
                                 f"$convert with no onError value: {value}")
            return dates.from_millis(int(d))
        if src in ("timestamp", "objectId"):
            return dates.from_millis(dates.to_millis(value))
        if src == "string":
            return dates.from_millis(dates.parse_date(value, None, None))
        raise fail()
    if to == "objectId":
        if src == "objectId":
            return value
        if src == "string":
            if not re.fullmatch(r"[0-9a-fA-F]{24}", value):
                raise _conversion_error(f"Failed to parse objectId '{value}' in "
                                 "$convert with no onError value: Invalid string length for "
                                 "parsing to OID, expected 24 but found "
                                 f"{len(value)}")
            return ObjectId(value)
        raise fail()
    raise StoreError(BAD_VALUE, f"Unknown type name: {to}")


def _parse_double(text: str) -> float:
    if re.fullmatch(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)", text):
        return float(text)
    special_values = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf,
                      "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf,
                      "nan": math.nan, "+nan": math.nan, "-nan": math.nan}
    if text.lower() in special_values:
        return special_values[text.lower()]
    raise _conversion_error(f"Failed to parse number '{text}' in $convert with no "
                     "onError value")


def _target_type(to: Any) -> str:
    if type(to) is str:
        if to not in ("double", "string", "objectId", "bool", "date", "int", "long", "decimal"):
            if to in ("object", "array", "binData", "null", "regex", "javascript", "timestamp",
                      "minKey", "maxKey", "undefined", "symbol", "dbPointer",
                      "javascriptWithScope"):
                raise not_supported(f"$convert to {to}")
            raise StoreError(BAD_VALUE, f"Unknown type name: {to}")
        return to
    if numbers.is_integral(to):
        code = numbers.as_int(to)
        if code in _TYPE_ALIASES:
            return _TYPE_ALIASES[code]
        raise StoreError(BAD_VALUE, f"In $convert, numeric value for 'to' does not correspond to "
                         f"a supported BSON type: {to}")
    raise StoreError(BAD_VALUE, f"$convert's 'to' argument must be a string or number, but is "
                     f"{type_name(to)}")


@special("$convert")
def _convert(operand: Any, collation: Any) -> Compiled:
    if not isinstance(operand, Mapping):
        raise StoreError(FAILED_TO_PARSE, "$convert expects an object of named arguments but "
                         f"found: {type_name(operand)}")
    for key in operand:
        if key not in ("input", "to", "onError", "onNull"):
            raise StoreError(FAILED_TO_PARSE, f"$convert found an unknown argument: {key}")
    if "input" not in operand:
        raise StoreError(FAILED_TO_PARSE, "Missing 'input' parameter to $convert")
    if "to" not in operand:
        raise StoreError(FAILED_TO_PARSE, "Missing 'to' parameter to $convert")
    source = compile_expression(operand["input"], collation)
    to_fn = compile_expression(operand["to"], collation)
    on_error = compile_expression(operand["onError"], collation) if "onError" in operand else None
    on_null = compile_expression(operand["onNull"], collation) if "onNull" in operand else None

    def run(scope: Scope) -> Any:
        to = to_fn(scope)
        value = source(scope)
        if nullish(to):
            return None
        target = _target_type(to)
        if nullish(value):
            return None if on_null is None else on_null(scope)
        if on_error is None:
            return convert(value, target)
        try:
            return convert(value, target)
        except StoreError as exc:
            if exc.code != CONVERSION_FAILURE:
                raise
            return on_error(scope)
    return run


def _to_type(name: str, target: str) -> None:
    @unary(name)
    def run(v: Any) -> Any:
        return convert(v, target)


for _name, _target in (("$toString", "string"), ("$toBool", "bool"), ("$toInt", "int"),
                       ("$toLong", "long"), ("$toDouble", "double"), ("$toDecimal", "decimal"),
                       ("$toDate", "date"), ("$toObjectId", "objectId")):
    _to_type(_name, _target)


@unary("$bsonSize")
def _bson_size(v: Any) -> Any:
    if not isinstance(v, Mapping):
        raise StoreError(31393, f"$bsonSize requires a document input, found: {type_name(v)}")
    from .codec import encode

    return len(encode(dict(v)))


@unary("$binarySize")
def _binary_size(v: Any) -> Any:
    if type(v) is str:
        return len(v.encode())
    if isinstance(v, (bytes, Binary)):
        return len(v)
    raise StoreError(51276, f"$binarySize requires a string or BinData argument, found: "
                     f"{type_name(v)}")


def _timestamp_part(name: str, part: str) -> None:
    @unary(name)
    def run(v: Any) -> Any:
        if type(v) is not Timestamp:
            raise StoreError(5687301, f"Argument to {name} must be a timestamp, but is "
                             f"{type_name(v)}")
        return Int64(v.time if part == "time" else v.inc)


_timestamp_part("$tsSecond", "time")
_timestamp_part("$tsIncrement", "inc")
