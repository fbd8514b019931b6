"""Dates for the aggregation expressions: BSON dates as milliseconds, time zones, formatting,
parsing and calendar arithmetic as MongoDB's date operators define them.

A BSON date is a count of milliseconds since the Unix epoch (UTC). The codec gives a naive
UTC ``datetime`` or, outside Python's years 1–9999, a :class:`bson.datetime_ms.DatetimeMS`;
both are turned into milliseconds here and results go back through :func:`from_millis`.
Time zones are Olson names (``Europe/Paris``), ``UTC``/``GMT``, or offsets ``+hh``,
``+hhmm``, ``+hh:mm`` (MongoDB's accepted forms); anything else is StoreError 40485.
Calendar computations (parts, ``$dateTrunc``, ``$dateAdd``, ``$dateDiff``) use the wall-clock
time of the zone, as MongoDB does.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bson.datetime_ms import DatetimeMS
from bson.objectid import ObjectId
from bson.timestamp import Timestamp

from .errors import BAD_VALUE, StoreError

EPOCH = dt.datetime(1970, 1, 1)
_UTC = dt.timezone.utc
_MIN_MS = -62135596800000  # 0001-01-01
_MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999
UNITS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond")
_FIXED_MS = {"millisecond": 1, "second": 1000, "minute": 60_000, "hour": 3_600_000}
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_ALIASES = {d[:3]: d for d in DAYS}
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")


def to_millis(value: Any) -> int | None:
    """Milliseconds since the epoch of a date-like BSON value (date, Timestamp, ObjectId),
    or None when ``value`` is not one."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_UTC).replace(tzinfo=None)
        delta = value - EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if type(value) is DatetimeMS:
        return int(value)
    if type(value) is Timestamp:
        return value.time * 1000
    if type(value) is ObjectId:
        return int(value.generation_time.timestamp()) * 1000
    return None


def is_date(value: Any) -> bool:
    return isinstance(value, dt.datetime) or type(value) is DatetimeMS


def from_millis(ms: int) -> dt.datetime | DatetimeMS:
    """The BSON date of ``ms`` as the codec represents it."""
    if _MIN_MS <= ms <= _MAX_MS:
        return EPOCH + dt.timedelta(milliseconds=ms)
    return DatetimeMS(ms)


@lru_cache(maxsize=256)
def parse_timezone(name: str | None) -> dt.tzinfo:
    """The tzinfo of a MongoDB ``timezone`` argument (None = UTC)."""
    if name is None or name in ("UTC", "GMT", "Z"):
        return _UTC
    if not isinstance(name, str):
        raise StoreError(40517, f"timezone must evaluate to a string, found {type(name).__name__}")
    m = re.fullmatch(r"([+-])(\d{2})(?::?(\d{2}))?", name)
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
        return dt.timezone(dt.timedelta(minutes=-minutes if m.group(1) == "-" else minutes))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise StoreError(40485, f"unrecognized time zone identifier: \"{name}\"") from None


def local(ms: int, tz: dt.tzinfo) -> dt.datetime:
    """The naive wall-clock datetime of ``ms`` in ``tz``."""
    if not _MIN_MS <= ms <= _MAX_MS:
        raise StoreError(BAD_VALUE, "date outside the years 1-9999 cannot be broken into parts "
                         "by the sf embedded store")
    if tz is _UTC:
        return EPOCH + dt.timedelta(milliseconds=ms)
    aware = dt.datetime(1970, 1, 1, tzinfo=_UTC) + dt.timedelta(milliseconds=ms)
    return aware.astimezone(tz).replace(tzinfo=None)


def utc_millis(wall: dt.datetime, tz: dt.tzinfo) -> int:
    """Milliseconds of the wall-clock datetime ``wall`` in ``tz``."""
    offset = wall.replace(tzinfo=tz).utcoffset() or dt.timedelta(0)
    return to_millis(wall - offset)


def offset_minutes(ms: int, tz: dt.tzinfo) -> int:
    aware = dt.datetime(1970, 1, 1, tzinfo=_UTC) + dt.timedelta(milliseconds=ms)
    return int(aware.astimezone(tz).utcoffset().total_seconds() // 60)


def week_of_year(d: dt.datetime) -> int:
    """Week number 0–53, weeks starting on Sunday (``$week``, ``%U``)."""
    return int(d.strftime("%U"))


def day_of_week(d: dt.datetime) -> int:
    """1 (Sunday) … 7 (Saturday) (``$dayOfWeek``, ``%w``)."""
    return d.isoweekday() % 7 + 1


def parts(ms: int, tz: dt.tzinfo) -> dict[str, int]:
    """Every date part MongoDB's single-part operators return."""
    d = local(ms, tz)
    iso = d.isocalendar()
    return {
        "year": d.year, "month": d.month, "dayOfMonth": d.day, "hour": d.hour,
        "minute": d.minute, "second": d.second, "millisecond": d.microsecond // 1000,
        "dayOfYear": d.timetuple().tm_yday, "dayOfWeek": day_of_week(d),
        "week": week_of_year(d), "isoWeekYear": iso[0], "isoWeek": iso[1],
        "isoDayOfWeek": iso[2],
    }


def format_date(ms: int, fmt: str, tz: dt.tzinfo) -> str:
    """``$dateToString``: ``fmt`` with MongoDB's ``%`` specifiers."""
    d = local(ms, tz)
    out: list[str] = []
    for literal, spec in _parse_format(fmt):
        if spec is None:
            out.append(literal)
        elif spec in ("z", "Z"):
            minutes = offset_minutes(ms, tz)
            if spec == "z":
                sign = "-" if minutes < 0 else "+"
                out.append(f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}")
            else:
                # minutes offset: MongoDB's documented output has no '+' ("270", "-300")
                out.append(f"{minutes}")
        else:
            out.append(_FORMATTERS[spec](d))
    return "".join(out)


_FORMATTERS: dict[str, Any] = {
    "Y": lambda d: f"{d.year:04d}",
    "m": lambda d: f"{d.month:02d}",
    "d": lambda d: f"{d.day:02d}",
    "H": lambda d: f"{d.hour:02d}",
    "M": lambda d: f"{d.minute:02d}",
    "S": lambda d: f"{d.second:02d}",
    "L": lambda d: f"{d.microsecond // 1000:03d}",
    "j": lambda d: f"{d.timetuple().tm_yday:03d}",
    "w": lambda d: str(day_of_week(d)),
    "u": lambda d: str(d.isoweekday()),
    "U": lambda d: f"{week_of_year(d):02d}",
    "V": lambda d: f"{d.isocalendar()[1]:02d}",
    "G": lambda d: f"{d.isocalendar()[0]:04d}",
    "b": lambda d: MONTH_NAMES[d.month - 1][:3],
    "B": lambda d: MONTH_NAMES[d.month - 1],
    "%": lambda d: "%",
}


@lru_cache(maxsize=128)
def _parse_format(fmt: str) -> tuple[tuple[str, str | None], ...]:
    """A format string as (literal, None) and ("", specifier) pieces; StoreError 18535 /
    18536 for a trailing '%' or an unknown specifier."""
    pieces: list[tuple[str, str | None]] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            pieces.append((ch, None))
            i += 1
            continue
        if i + 1 >= len(fmt):
            raise StoreError(18535, "Unmatched '%' at end of format string")
        spec = fmt[i + 1]
        if spec not in _FORMATTERS and spec not in ("z", "Z"):
            raise StoreError(18536, f"Invalid format character '%{spec}' in format string")
        pieces.append(("", spec))
        i += 2
    return tuple(pieces)


_PARSE_SPECS = {
    "Y": r"(?P<Y>\d{4})", "m": r"(?P<m>\d{1,2})", "d": r"(?P<d>\d{1,2})",
    "H": r"(?P<H>\d{1,2})", "M": r"(?P<M>\d{1,2})", "S": r"(?P<S>\d{1,2})",
    "L": r"(?P<L>\d{1,3})", "j": r"(?P<j>\d{1,3})", "G": r"(?P<G>\d{4})",
    "V": r"(?P<V>\d{1,2})", "u": r"(?P<u>\d)", "w": r"(?P<w>\d)", "U": r"(?P<U>\d{1,2})",
    "z": r"(?P<z>[+-]\d{2}:?\d{2}|Z)", "Z": r"(?P<Z>[+-]\d+)",
    "b": r"(?P<b>[A-Za-z]{3})", "B": r"(?P<B>[A-Za-z]+)",
}

# The forms ``$dateFromString`` reads without a format (ISO 8601 and its common variants).
_ISO_DATE = re.compile(
    r"\s*(?P<Y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<F>\d+))?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?|[A-Za-z_]+/[A-Za-z_/]+|UTC|GMT)?\s*")


def _format_regex(fmt: str) -> re.Pattern[str]:
    pattern: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            pattern.append(re.escape(ch))
            i += 1
            continue
        if i + 1 >= len(fmt):
            raise StoreError(18535, "Unmatched '%' at end of format string")
        spec = fmt[i + 1]
        i += 2
        if spec == "%":
            pattern.append("%")
        elif spec in _PARSE_SPECS:
            pattern.append(_PARSE_SPECS[spec])
        else:
            raise StoreError(18536, f"Invalid format character '%{spec}' in format string")
    return re.compile("".join(pattern))


def parse_date(text: str, fmt: str | None, tz: dt.tzinfo | None) -> int:
    """``$dateFromString``: the milliseconds of ``text`` read with ``fmt`` (MongoDB's
    specifiers) or, without one, as ISO 8601. ``tz`` applies when the string names no zone;
    a string with its own zone plus a ``timezone`` argument is an error, as in MongoDB.
    Raises StoreError 241 (ConversionFailure) when the string cannot be read."""
    m = (_format_regex(fmt) if fmt is not None else _ISO_DATE).fullmatch(text)
    if not m:
        raise StoreError(241, f"Error parsing date string '{text}'", "ConversionFailure")
    g = {k: v for k, v in m.groupdict().items() if v is not None}
    try:
        if "G" in g or "V" in g:
            base = dt.datetime.fromisocalendar(int(g.get("G", 1970)), int(g.get("V", 1)),
                                               int(g.get("u", 1)))
        elif "j" in g:
            base = dt.datetime(int(g.get("Y", 1970)), 1, 1) + dt.timedelta(days=int(g["j"]) - 1)
        else:
            month = int(g["m"]) if "m" in g else _month_from_name(g.get("b") or g.get("B"))
            base = dt.datetime(int(g.get("Y", 1970)), month, int(g.get("d", 1)))
        fraction = g.get("F") or g.get("L") or "0"
        micros = int((fraction + "000000")[:6]) if "F" in g else int(fraction) * 1000
        wall = base.replace(hour=int(g.get("H", 0)), minute=int(g.get("M", 0)),
                            second=int(g.get("S", 0)), microsecond=micros)
    except ValueError as exc:
        raise StoreError(241, f"Error parsing date string '{text}': {exc}",
                         "ConversionFailure") from None
    own_zone = g.get("tz") or g.get("z") or g.get("Z")
    if own_zone is not None:
        if tz is not None:
            raise StoreError(40554, "you cannot pass in a date/time string with GMT offset "
                             "together with a timezone argument")
        if "Z" in g and own_zone == g.get("Z"):
            zone: dt.tzinfo = dt.timezone(dt.timedelta(minutes=int(own_zone)))
        else:
            zone = parse_timezone(own_zone)
    else:
        zone = tz or _UTC
    return utc_millis(wall, zone)


def _month_from_name(name: str | None) -> int:
    if name is None:
        return 1
    for i, full in enumerate(MONTH_NAMES):
        if full.lower() == name.lower() or full[:3].lower() == name.lower():
            return i + 1
    raise ValueError(f"unknown month name {name}")


def start_of_week(name: Any) -> int:
    """The weekday index (0 = Monday) of a ``startOfWeek`` argument."""
    if not isinstance(name, str) or name.lower() not in DAYS + tuple(_DAY_ALIASES):
        raise StoreError(5439015, f"startOfWeek must be a valid day of the week, found {name!r}")
    day = name.lower()
    return DAYS.index(_DAY_ALIASES.get(day, day))


def _months(d: dt.datetime) -> int:
    return d.year * 12 + d.month - 1


def _from_months(months: int) -> dt.datetime:
    return dt.datetime(months // 12, months % 12 + 1, 1)


_REFERENCE = dt.datetime(2000, 1, 1)


def truncate(ms: int, unit: str, bin_size: int, tz: dt.tzinfo, week_start: int) -> int:
    """``$dateTrunc``: the start of the ``bin_size``-``unit`` bin holding ``ms``, bins
    aligned on 2000-01-01T00:00 in ``tz`` (for weeks, on the first ``week_start`` day of
    2000), as MongoDB documents."""
    d = local(ms, tz)
    if unit in ("year", "quarter", "month"):
        step = bin_size * {"year": 12, "quarter": 3, "month": 1}[unit]
        offset = _months(d) - _months(_REFERENCE)
        return utc_millis(_from_months(_months(_REFERENCE) + offset // step * step), tz)
    if unit in ("week", "day"):
        ref = _REFERENCE
        step = bin_size
        if unit == "week":
            ref = ref + dt.timedelta(days=(week_start - ref.weekday()) % 7)
            step = bin_size * 7
        days = (d.replace(hour=0, minute=0, second=0, microsecond=0) - ref).days
        return utc_millis(ref + dt.timedelta(days=days // step * step), tz)
    size = _FIXED_MS[unit] * bin_size
    wall_ms = to_millis(d)
    ref_ms = to_millis(_REFERENCE)
    return utc_millis(from_millis(ref_ms + (wall_ms - ref_ms) // size * size), tz)


def add(ms: int, unit: str, amount: int, tz: dt.tzinfo) -> int:
    """``$dateAdd``: calendar units move the wall clock (a month after 31 January is the
    last day of February), hours and smaller add a fixed duration."""
    if unit in _FIXED_MS:
        return ms + amount * _FIXED_MS[unit]
    d = local(ms, tz)
    if unit in ("year", "quarter", "month"):
        months = _months(d) + amount * {"year": 12, "quarter": 3, "month": 1}[unit]
        year, month = months // 12, months % 12 + 1
        if not 1 <= year <= 9999:
            raise StoreError(5166406, "$dateAdd overflowed")
        day = min(d.day, calendar.monthrange(year, month)[1])
        return utc_millis(d.replace(year=year, month=month, day=day), tz)
    days = amount * (7 if unit == "week" else 1)
    try:
        return utc_millis(d + dt.timedelta(days=days), tz)
    except OverflowError:
        raise StoreError(5166406, "$dateAdd overflowed") from None


def diff(start: int, end: int, unit: str, tz: dt.tzinfo, week_start: int) -> int:
    """``$dateDiff``: the number of ``unit`` boundaries crossed from ``start`` to ``end``."""
    a, b = local(start, tz), local(end, tz)
    if unit == "year":
        return b.year - a.year
    if unit == "quarter":
        return (b.year * 4 + (b.month - 1) // 3) - (a.year * 4 + (a.month - 1) // 3)
    if unit == "month":
        return _months(b) - _months(a)
    if unit in ("week", "day"):
        if unit == "day":
            return (b.date() - a.date()).days
        # Week starts crossed: index weeks from a reference day that starts a week.
        ref = dt.date(2000, 1, 3) + dt.timedelta(days=week_start)  # 2000-01-03 is a Monday
        return (b.date() - ref).days // 7 - (a.date() - ref).days // 7
    size = _FIXED_MS[unit]
    return (to_millis(b) // size) - (to_millis(a) // size)


def from_parts(year: int, month: int, day: int, hour: int, minute: int, second: int,
               millisecond: int, tz: dt.tzinfo) -> int:
    """``$dateFromParts``: parts out of range carry over (month 14 is February next year)."""
    months = year * 12 + (month - 1)
    base = dt.datetime(months // 12, months % 12 + 1, 1)
    wall = base + dt.timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second,
                               milliseconds=millisecond)
    return utc_millis(wall, tz)


def from_iso_parts(iso_year: int, iso_week: int, iso_day: int, hour: int, minute: int,
                   second: int, millisecond: int, tz: dt.tzinfo) -> int:
    base = dt.datetime.fromisocalendar(iso_year, 1, 1)
    wall = base + dt.timedelta(weeks=iso_week - 1, days=iso_day - 1, hours=hour,
                               minutes=minute, seconds=second, milliseconds=millisecond)
    return utc_millis(wall, tz)
