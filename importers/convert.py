"""Go-compatible converters of the original parsers (docs/importers.md §1.4).

Every converter takes the raw CSV cell (a ``str``) and returns a Python value, or raises
:class:`ConversionError` (a ``ValueError``) whose message is the original's Go message, so
rejection reasons in reports read like the original's. Where the original did so, an empty
cell converts to ``None`` (kept distinct from 0).

Python's ``int()``/``float()`` accept spaces, underscores, non-ASCII digits and ``nan``
spellings Go refuses; these converters do not.

Dates are timezone-aware UTC ``datetime`` objects at midnight.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

__all__ = [
    "UTC",
    "ConversionError",
    "Periode",
    "add_months",
    "comma_float",
    "effectif_float",
    "effectif_int",
    "go_quote",
    "go_time_string",
    "int_from_float",
    "parse_bool",
    "parse_date",
    "parse_float",
    "parse_int",
    "urssaf_date",
    "urssaf_period",
]



class ConversionError(ValueError):
    """A cell that cannot be converted; the message is the original's (Go) message."""


class Periode(BaseModel):
    """A half-open time interval ``[start, end)``, stored as ``{"start": ..., "end": ...}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: datetime
    end: datetime

    def to_document(self) -> dict:
        """The stored sub-document ``{"start": datetime, "end": datetime}``."""
        return {"start": self.start, "end": self.end}


# -- Go string quoting (strconv.Quote), used inside messages -------------------------------

_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
            "\\": "\\\\", '"': '\\"'}


def go_quote(s: str) -> str:
    """``strconv.Quote(s)``: double-quoted, with Go escapes for quotes, backslashes and
    non-printable characters (printable non-ASCII characters are kept)."""
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            code = ord(ch)
            if code < 0x80:
                out.append(f"\\x{code:02x}")
            elif code <= 0xFFFF:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _syntax(fn: str, s: str) -> ConversionError:
    return ConversionError(f"strconv.{fn}: parsing {go_quote(s)}: invalid syntax")


def _range(fn: str, s: str) -> ConversionError:
    return ConversionError(f"strconv.{fn}: parsing {go_quote(s)}: value out of range")


# -- integers and floats --------------------------------------------------------------------

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _atoi(s: str) -> int:
    """``strconv.Atoi`` on a non-empty string (64-bit int)."""
    digits = s[1:] if s[0] in "+-" else s
    if not (digits.isascii() and digits.isdigit()):
        raise _syntax("Atoi", s)
    value = int(s)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise _range("Atoi", s)
    return value


def parse_int(s: str) -> int | None:
    """Go ``ParsePInt``: ``""`` → None; optional sign then ASCII digits → int.

    Raises ConversionError ``strconv.Atoi: parsing "s": invalid syntax`` otherwise (spaces,
    decimals, underscores…). Note: the original still produced 0 alongside the error; callers
    that ignore the error (delai ``Duree_delai``) use ``0`` explicitly.
    """
    if s == "":
        return None
    return _atoi(s)


_GO_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_GO_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9_]+")
_GO_SPECIAL = re.compile(r"[+-]?(?:[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)|[nN][aA][nN]")


def _go_float(s: str) -> float:
    """``strconv.ParseFloat(s, 64)`` on a non-empty string."""
    # Fast path: Python's float() accepts a superset of Go's decimal syntax; reject the
    # extras (non-ASCII digits, surrounding whitespace, underscores, signed NaN) after.
    try:
        value = float(s)
    except ValueError:
        value = None
    if value is not None and s.isascii() and s[0] > " " and s[-1] > " " and "_" not in s:
        if value - value == 0.0:  # finite
            return value
        if _GO_SPECIAL.fullmatch(s):
            return value
        if not math.isnan(value) and _GO_DECIMAL.fullmatch(s):  # a finite literal too large: Go says so
            raise _range("ParseFloat", s)
        raise _syntax("ParseFloat", s)
    if _GO_HEX.fullmatch(s):
        try:
            return float.fromhex(s.replace("_", ""))
        except OverflowError as exc:
            raise _range("ParseFloat", s) from exc
    raise _syntax("ParseFloat", s)


def parse_float(s: str) -> float | None:
    """Go ``ParsePFloat``: ``""`` → None; Go float syntax (``1e3``, ``inf``, ``NaN``, hex
    floats) → float. Raises ConversionError ``strconv.ParseFloat: parsing "s": invalid
    syntax`` (spaces, ``,`` decimal, ``_``…) or ``value out of range``."""
    if s == "":
        return None
    return _go_float(s)


def comma_float(s: str) -> float | None:
    """``GetCommaFloat64``: every ``,`` becomes ``.``, then :func:`parse_float` (message
    quotes the converted text, as the original did)."""
    if s == "":
        return None
    return _go_float(s.replace(",", "."))


def int_from_float(s: str) -> int | None:
    """``ParsePIntFromFloat``: :func:`parse_float` then truncation toward zero.

    Raises ConversionError for NaN/inf, which have no integer value (Go returned an
    implementation-defined integer).
    """
    value = parse_float(s)
    if value is None:
        return None
    if math.isnan(value) or math.isinf(value):
        raise ConversionError(f"valeur non entière: {go_quote(s)}")
    return int(value)


_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(s: str) -> bool:
    """``strconv.ParseBool``: ``1 t T TRUE true True`` / ``0 f F FALSE false False``; else
    ConversionError ``strconv.ParseBool: parsing "s": invalid syntax`` (empty included)."""
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise _syntax("ParseBool", s)


# -- dates ----------------------------------------------------------------------------------

_MONTHS = {name: number for number, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}

# layout → (regex, groups order). Go requires exactly two digits for 02/01 and four for 2006.
_LAYOUTS: dict[str, re.Pattern[str]] = {
    "2006-01-02": re.compile(r"(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})"),
    "02/01/2006": re.compile(r"(?P<d>[0-9]{2})/(?P<m>[0-9]{2})/(?P<y>[0-9]{4})"),
    "02Jan2006": re.compile(r"(?P<d>[0-9]{2})(?P<mon>[A-Za-z]{3})(?P<y>[0-9]{4})"),
    "20060102": re.compile(r"(?P<y>[0-9]{4})(?P<m>[0-9]{2})(?P<d>[0-9]{2})"),
    "2006-01-02 15:04:05": re.compile(r"(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2}) 00:00:00"),
}


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (datetime(year, month + 1, 1) - datetime(year, month, 1)).days


@lru_cache(maxsize=65536)
def parse_date(s: str, layout: str) -> datetime:
    """Parse ``s`` with a Go time layout; supported: ``2006-01-02``, ``02/01/2006``,
    ``02Jan2006`` (month abbreviation case-insensitive), ``20060102`` and
    ``2006-01-02 15:04:05`` (midnight only).

    Output: UTC midnight datetime. Raises ConversionError ``parsing time "s" as "layout":
    cannot parse`` (wrong shape, e.g. ``1/5/2019``) or ``...: month out of range`` /
    ``...: day out of range`` (calendar-invalid).
    """
    pattern = _LAYOUTS.get(layout)
    if pattern is None:
        raise ValueError(f"unsupported date layout {layout!r}")
    match = pattern.fullmatch(s)
    if match is None:
        raise ConversionError(f"parsing time {go_quote(s)} as {go_quote(layout)}: cannot parse {go_quote(s)} "
                              f"as {go_quote(layout)}")
    groups = match.groupdict()
    year = int(groups["y"])
    if "mon" in groups and groups["mon"] is not None:
        month = _MONTHS.get(groups["mon"].lower())
        if month is None:
            raise ConversionError(f"parsing time {go_quote(s)} as {go_quote(layout)}: cannot parse "
                                  f"{go_quote(groups['mon'] + groups['y'])} as \"Jan\"")
    else:
        month = int(groups["m"])
    day = int(groups["d"])
    if not 1 <= month <= 12:
        raise ConversionError(f"parsing time {go_quote(s)}: month out of range")
    if year < 1:
        raise ConversionError(f"parsing time {go_quote(s)}: year out of range")
    if not 1 <= day <= _days_in_month(year, month):
        raise ConversionError(f"parsing time {go_quote(s)}: day out of range")
    return datetime(year, month, day, tzinfo=UTC)


@lru_cache(maxsize=65536)
def urssaf_date(s: str) -> datetime:
    """``UrssafToDate``: ``Atoi(s) + 19000000`` as 8-digit ``YYYYMMDD`` (``1180130`` →
    2018-01-30, ``990401`` → 1999-04-01).

    Raises ConversionError ``valeur non autorisée pour une conversion en date: s`` for a
    non-integer (empty included) and the date error for an impossible calendar date.
    Quirk kept: an 8-digit ``YYYYMMDD`` value silently becomes year 39xx.
    """
    try:
        number = _atoi(s) if s else None
    except ConversionError:
        number = None
    if number is None:
        raise ConversionError(f"valeur non autorisée pour une conversion en date: {s}")
    text = f"{number + 19000000:08d}"
    return parse_date(text, "20060102")


def add_months(year: int, month: int, delta: int) -> datetime:
    """First day of ``month + delta`` of ``year`` with Go ``time.Date`` normalisation
    (months out of 1..12 roll over into neighbouring years)."""
    total = year * 12 + (month - 1) + delta
    y, m = divmod(total, 12)
    return datetime(y, m + 1, 1, tzinfo=UTC)


@lru_cache(maxsize=65536)
def urssaf_period(s: str) -> Periode:
    """``UrssafToPeriod``: ``YYQM`` (century 20 if ``YY < "50"`` else 19) or ``YYYYQM``.

    ``QM == "62"`` → the whole year; ``M == 0`` → quarter Q; ``M >= 1`` → month
    ``3(Q-1)+M``. Months are normalised like Go ``time.Date`` (``199904`` → 1999-01,
    ``201750`` → 2018-01..2018-04), never rejected.
    Raises ConversionError ``valeur non autorisée`` for a length other than 4/6 or a
    non-numeric value.
    """
    text = s
    if len(text) == 4:
        text = ("20" if text[:2] < "50" else "19") + text
    if len(text) != 6 or not (text.isascii() and text.isdigit()):
        raise ConversionError("valeur non autorisée")
    year = int(text[:4])
    quarter = int(text[4])
    month = int(text[5])
    if text[4:] == "62":
        start = datetime(year, 1, 1, tzinfo=UTC)
        return Periode.model_construct(start=start, end=add_months(year, 1, 12))
    if month == 0:
        first = 3 * quarter - 2
        return Periode.model_construct(start=add_months(year, first, 0), end=add_months(year, first, 3))
    first = 3 * (quarter - 1) + month
    return Periode.model_construct(start=add_months(year, first, 0), end=add_months(year, first, 1))


# -- headcounts ------------------------------------------------------------------------------

_NON_DIGITS = re.compile(r"[^0-9]")


def effectif_int(s: str) -> int:
    """Headcount cell of effectif: every non-digit removed, then Atoi (``-5`` → 5, ``12,5``
    → 125, ``1 234`` → 1234). A cell left empty raises the Atoi ConversionError."""
    digits = s if (s.isascii() and s.isdigit()) else _NON_DIGITS.sub("", s)
    if digits == "":
        raise _syntax("Atoi", digits)
    return _atoi(digits)


def effectif_float(s: str) -> float:
    """Headcount cell of effectif_ent: every non-digit removed, then ParseFloat. A cell left
    empty raises the ParseFloat ConversionError."""
    digits = s if (s.isascii() and s.isdigit()) else _NON_DIGITS.sub("", s)
    if digits == "":
        raise _syntax("ParseFloat", digits)
    return _go_float(digits)


# -- Go time formatting ------------------------------------------------------------------------

def go_time_string(moment: datetime) -> str:
    """Go ``time.Time.String()`` of a UTC time, e.g. ``2018-12-01 00:00:00 +0000 UTC``."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return moment.strftime("%Y-%m-%d %H:%M:%S") + " +0000 UTC"

