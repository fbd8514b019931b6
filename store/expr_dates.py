"""Date expression operators: the single parts (``$year`` … ``$isoDayOfWeek``, with an
optional ``timezone``), ``$dateToString $dateFromString $dateFromParts $dateToParts
$dateTrunc $dateAdd $dateSubtract $dateDiff`` (MongoDB 7.0,
https://www.mongodb.com/docs/manual/reference/operator/aggregation/#date-expression-operators).
The calendar work is in :mod:`store.dates`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from bson.int64 import Int64

from . import dates, numbers
from .errors import BAD_VALUE, StoreError
from .expressions import (CONVERSION_FAILURE, MISSING, Compiled, Scope, arg_list, check_arity,
                          compile_expression, expression_error, named, nullish, special, type_name)


def _date_ms(name: str, value: Any) -> int:
    ms = dates.to_millis(value)
    if ms is None:
        raise StoreError(16006, f"can't convert from BSON type {type_name(value)} to Date")
    return ms


def _date_part(name: str, part: str) -> None:
    @special(name)
    def build(operand: Any, collation: Any) -> Compiled:
        if isinstance(operand, Mapping) and operand and "date" in operand \
                and not next(iter(operand)).startswith("$"):
            for key in operand:
                if key not in ("date", "timezone"):
                    raise StoreError(40535, f"unrecognized option to {name}: \"{key}\"")
            date_fn = compile_expression(operand["date"], collation)
            tz_fn = compile_expression(operand.get("timezone"), collation)
        else:
            args = arg_list(operand)
            check_arity(name, args, 1)
            date_fn = compile_expression(args[0], collation)
            tz_fn = None

        def run(scope: Scope) -> Any:
            value = date_fn(scope)
            if nullish(value):
                return None
            tz_value = None if tz_fn is None else tz_fn(scope)
            if tz_fn is not None and tz_value is None:
                return None
            tz = dates.parse_timezone(tz_value)
            return dates.parts(_date_ms(name, value), tz)[part]
        return run


for _part in ("year", "month", "dayOfMonth", "hour", "minute", "second", "millisecond",
              "dayOfYear", "dayOfWeek", "week", "isoWeekYear", "isoWeek", "isoDayOfWeek"):
    _date_part("$" + _part, _part)


def _timezone(value: Any) -> dt.tzinfo:
    return dates.parse_timezone(None if value is MISSING else value)


@named("$dateToString", ("date",), ("format", "timezone", "onNull"))
def _date_to_string(args: dict, collation: Any) -> Any:
    value = args["date"]
    if nullish(value):
        return None if args["onNull"] is MISSING else args["onNull"]
    fmt = args["format"]
    if fmt is None or args["timezone"] is None:
        return None
    if fmt is MISSING:
        # the default has a 'Z' only for UTC (MongoDB 7.0 docs, $dateToString "format")
        tz_value = args["timezone"]
        utc = tz_value is MISSING or tz_value in ("UTC", "GMT", "Etc/UTC", "+00:00", "+0000",
                                                   "+00")
        fmt = "%Y-%m-%dT%H:%M:%S.%LZ" if utc else "%Y-%m-%dT%H:%M:%S.%L"
    elif type(fmt) is not str:
        raise StoreError(18533, f"$dateToString requires that 'format' be a string, found: "
                         f"{type_name(fmt)}")
    return dates.format_date(_date_ms("$dateToString", value), fmt, _timezone(args["timezone"]))


@special("$dateFromString")
def _date_from_string(operand: Any, collation: Any) -> Compiled:
    keys = ("dateString", "format", "timezone", "onError", "onNull")
    if not isinstance(operand, Mapping):
        raise StoreError(40540, "$dateFromString only supports an object as an argument")
    for key in operand:
        if key not in keys:
            raise StoreError(40541, f"Unrecognized argument to $dateFromString: {key}")
    if "dateString" not in operand:
        raise StoreError(40542, "Missing 'dateString' parameter to $dateFromString")
    compiled = {k: compile_expression(v, collation) for k, v in operand.items()}

    def run(scope: Scope) -> Any:
        text = compiled["dateString"](scope)
        fmt = compiled["format"](scope) if "format" in compiled else MISSING
        tz_value = compiled["timezone"](scope) if "timezone" in compiled else MISSING
        if fmt is None or tz_value is None:
            return None
        if nullish(text):
            return compiled["onNull"](scope) if "onNull" in compiled else None
        try:
            if type(text) is not str:
                raise expression_error(CONVERSION_FAILURE, f"$dateFromString requires that "
                                 f"'dateString' be a string, found: {type_name(text)} with "
                                 f"value {text!r}", "ConversionFailure")
            if fmt is not MISSING and type(fmt) is not str:
                raise StoreError(40684, "$dateFromString requires that 'format' be a string")
            tz = None if tz_value is MISSING else dates.parse_timezone(tz_value)
            return dates.from_millis(dates.parse_date(text, None if fmt is MISSING else fmt,
                                                      tz))
        except StoreError as exc:
            if "onError" in compiled and exc.code == CONVERSION_FAILURE:
                return compiled["onError"](scope)
            raise
    return run


_PART_NAMES = ("year", "month", "day", "hour", "minute", "second", "millisecond")
_ISO_PART_NAMES = ("isoWeekYear", "isoWeek", "isoDayOfWeek", "hour", "minute", "second",
                   "millisecond")


@special("$dateFromParts")
def _date_from_parts(operand: Any, collation: Any) -> Compiled:
    if not isinstance(operand, Mapping):
        raise StoreError(40519, "$dateFromParts only supports an object as its argument")
    for key in operand:
        if key not in _PART_NAMES + _ISO_PART_NAMES + ("timezone",):
            raise StoreError(40518, f"Unrecognized argument to $dateFromParts: {key}")
    iso = "isoWeekYear" in operand
    if iso and any(k in operand for k in ("year", "month", "day")):
        raise StoreError(40489, "$dateFromParts does not allow mixing natural dates with ISO "
                         "dates")
    if not iso and "year" not in operand:
        raise StoreError(40516, "$dateFromParts requires either 'year' or 'isoWeekYear' to be "
                         "present")
    if not iso and any(k in operand for k in ("isoWeek", "isoDayOfWeek")):
        raise StoreError(40489, "$dateFromParts does not allow mixing natural dates with ISO "
                         "dates")
    names = _ISO_PART_NAMES if iso else _PART_NAMES
    compiled = {k: compile_expression(v, collation) for k, v in operand.items()}
    defaults = {"month": 1, "day": 1, "isoWeek": 1, "isoDayOfWeek": 1}

    def run(scope: Scope) -> Any:
        values = []
        for name in names:
            v = compiled[name](scope) if name in compiled else defaults.get(name, 0)
            if nullish(v):
                return None
            if not numbers.is_integral(v):
                raise StoreError(40515, f"'{name}' must evaluate to an integer, found "
                                 f"{type_name(v)} with value {v!r}")
            v = numbers.as_int(v)
            limit = (1, 9999) if name in ("year", "isoWeekYear") else (-32768, 32767)
            if not limit[0] <= v <= limit[1]:
                raise StoreError(31034 if name in ("year", "isoWeekYear") else 31034,
                                 f"'{name}' must evaluate to a value in the range "
                                 f"[{limit[0]}, {limit[1]}]; value {v} is not in range")
            values.append(v)
        tz_value = compiled["timezone"](scope) if "timezone" in compiled else MISSING
        if tz_value is None:
            return None
        tz = _timezone(tz_value)
        try:
            ms = (dates.from_iso_parts if iso else dates.from_parts)(*values, tz)
        except (ValueError, OverflowError) as exc:
            raise StoreError(BAD_VALUE, f"$dateFromParts: {exc}") from None
        return dates.from_millis(ms)
    return run


@named("$dateToParts", ("date",), ("timezone", "iso8601"))
def _date_to_parts(args: dict, collation: Any) -> Any:
    value = args["date"]
    if nullish(value) or args["timezone"] is None or args["iso8601"] is None:
        return None
    iso = args["iso8601"]
    if iso is not MISSING and type(iso) is not bool:
        raise StoreError(40521, "iso8601 must evaluate to a bool")
    p = dates.parts(_date_ms("$dateToParts", value), _timezone(args["timezone"]))
    if iso is True:
        keys = ("isoWeekYear", "isoWeek", "isoDayOfWeek")
    else:
        keys = ("year", "month", "dayOfMonth")
    out = {("day" if k == "dayOfMonth" else k): p[k] for k in keys}
    for k in ("hour", "minute", "second", "millisecond"):
        out[k] = p[k]
    return out


def _unit(name: str, value: Any) -> str:
    if type(value) is not str or value not in dates.UNITS:
        raise StoreError(5439014 if name == "$dateTrunc" else 5166401,
                         f"{name} parameter 'unit' value cannot be recognized as a time unit: "
                         f"{value!r}")
    return value


def _week_start(name: str, unit: str, value: Any) -> int:
    # startOfWeek only matters (and is only checked) for the week unit; Sunday by default
    if unit != "week" or value is MISSING:
        return dates.start_of_week("sunday")
    return dates.start_of_week(value)


@named("$dateTrunc", ("date", "unit"), ("binSize", "timezone", "startOfWeek"))
def _date_trunc(args: dict, collation: Any) -> Any:
    if any(args[k] is None for k in ("date", "unit", "binSize", "timezone")) or \
            args["date"] is MISSING:
        return None
    if args["unit"] == "week" and args["startOfWeek"] is None:
        return None
    ms = dates.to_millis(args["date"])
    if ms is None:
        raise StoreError(5439012, f"$dateTrunc requires 'date' to be a date, but got "
                         f"{type_name(args['date'])}")
    unit = _unit("$dateTrunc", args["unit"])
    bin_size = args["binSize"]
    if bin_size is MISSING:
        bin_size = 1
    elif not numbers.is_integral(bin_size) or numbers.as_int(bin_size) <= 0:
        raise StoreError(5439017, "$dateTrunc requires 'binSize' to be a 64-bit integer "
                         "greater than 0")
    week_start = _week_start("$dateTrunc", unit, args["startOfWeek"])
    return dates.from_millis(dates.truncate(ms, unit, numbers.as_int(bin_size),
                                            _timezone(args["timezone"]), week_start))


def _date_add(name: str, sign: int) -> None:
    @named(name, ("startDate", "unit", "amount"), ("timezone",))
    def run(args: dict, collation: Any) -> Any:
        if any(nullish(args[k]) for k in ("startDate", "unit", "amount")) or \
                args["timezone"] is None:
            return None
        ms = dates.to_millis(args["startDate"])
        if ms is None:
            raise StoreError(5166403, f"{name} requires startDate to be convertible to a date")
        unit = _unit(name, args["unit"])
        amount = args["amount"]
        if not numbers.is_integral(amount):
            raise StoreError(5166405, f"{name} expects integer amount of time units")
        return dates.from_millis(dates.add(ms, unit, sign * numbers.as_int(amount),
                                           _timezone(args["timezone"])))


_date_add("$dateAdd", 1)
_date_add("$dateSubtract", -1)


@named("$dateDiff", ("startDate", "endDate", "unit"), ("timezone", "startOfWeek"))
def _date_diff(args: dict, collation: Any) -> Any:
    if any(nullish(args[k]) for k in ("startDate", "endDate", "unit")) or \
            args["timezone"] is None or (args["unit"] == "week" and args["startOfWeek"] is None):
        return None
    start, end = dates.to_millis(args["startDate"]), dates.to_millis(args["endDate"])
    if start is None or end is None:
        raise StoreError(5166307, "$dateDiff requires startDate and endDate to be dates")
    unit = _unit("$dateDiff", args["unit"])
    week_start = _week_start("$dateDiff", unit, args["startOfWeek"])
    return Int64(dates.diff(start, end, unit, _timezone(args["timezone"]), week_start))
