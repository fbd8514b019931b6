"""Month arithmetic on integer month indices, the time axis of every feature array.

A month is represented by ``year * 12 + (month - 1)`` (an ``int``), so that "k calendar months
earlier" is plain subtraction and a contiguous series of months is ``np.arange``. Dates are
aware UTC ``datetime`` objects; a naive ``datetime`` is taken to be UTC already.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from bson.tz_util import utc as bson_utc

from .errors import FeatureInputError


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (naive is taken to be UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in_utc(value: datetime) -> bool:
    """Whether ``value``'s fields are already UTC: naive, or one of the two UTC zones pymongo
    and the standard library use, by identity (cheaper than ``utcoffset()``, which is a Python
    call for ``bson.tz_util.utc``, and safe from time zones with an odd ``__eq__``)."""
    zone = value.tzinfo
    return zone is None or zone is UTC or zone is bson_utc


def month_index(value: datetime) -> int:
    """Month index of the month containing ``value`` (UTC)."""
    if not _in_utc(value):
        value = value.astimezone(UTC)
    return value.year * 12 + value.month - 1


def month_start(index: int) -> datetime:
    """First day (00:00 UTC) of the month with index ``index``."""
    year, month0 = divmod(int(index), 12)
    return datetime(year, month0 + 1, 1, tzinfo=UTC)


def day_20_month(value: datetime) -> int:
    """``m*(d)`` of the debit chain: d's month if its day is <= 20, else the next month.

    URSSAF files arrive around the 20th, so a debt processed later in the month is only known
    the next month (docs/features.md §2.3, ``lastAccountedDay = 20``).
    """
    utc = as_utc(value)
    return month_index(utc) + (1 if utc.day > 20 else 0)


def serie_months(periods: list[datetime]) -> np.ndarray:
    """Month indices of ``periods``; they must be contiguous, ascending month starts.

    Raises :class:`FeatureInputError` if a period is not a month start or the list has a gap.
    """
    if not periods:
        return np.zeros(0, dtype=np.int64)
    indices = np.array([month_index(p) for p in periods], dtype=np.int64)
    for p in periods:
        u = as_utc(p)
        if not _is_month_start(u):
            raise FeatureInputError("periods", f"{u.isoformat()} is not the first day of a month at 00:00 UTC")
    if np.any(np.diff(indices) != 1):
        raise FeatureInputError("periods", "periods must be consecutive months in ascending order")
    return indices


def _date_field(record: dict, field: str, where: str) -> datetime:
    """``record[field]`` as it is; raises :class:`FeatureInputError` naming ``where`` if it is not a date."""
    value = record.get(field)
    if not isinstance(value, datetime):
        raise FeatureInputError(where, f"field {field!r} must be a date, got {value!r}")
    return value


def record_month(record: dict, field: str, where: str) -> int:
    """Month index of the date ``record[field]``; raises :class:`FeatureInputError` if it is not a date."""
    return month_index(_date_field(record, field, where))


def record_date(record: dict, field: str, where: str) -> datetime:
    """``record[field]`` as an aware UTC datetime; raises :class:`FeatureInputError` otherwise."""
    return as_utc(_date_field(record, field, where))


def optional_date(record: dict, field: str, where: str) -> datetime | None:
    """``record[field]`` as a UTC datetime, or None when absent/null; other types raise."""
    return None if record.get(field) is None else record_date(record, field, where)


def period_months(record: dict, where: str) -> tuple[int, int]:
    """``[m(start), first month start >= end)`` of a ``periode {start, end}`` sub-document.

    As the original's ``generatePeriodSerie(start, end)``: the month starts from ``start`` while
    they are before ``end``. Raises :class:`FeatureInputError` if the sub-document is malformed.
    """
    periode = record.get("periode")
    if not isinstance(periode, dict):
        raise FeatureInputError(where, f"field 'periode' must be a {{start, end}} document, got {periode!r}")
    start, end = periode.get("start"), periode.get("end")
    if (isinstance(start, datetime) and isinstance(end, datetime) and _in_utc(start) and _in_utc(end)
            and _is_month_start(start)):
        # The usual case, without date arithmetic: periods start on a month start.
        first, last = start.year * 12 + start.month - 1, end.year * 12 + end.month - 1
        return first, max(first, last if _is_month_start(end) else last + 1)
    return _period_months(periode, where)


def _is_month_start(value: datetime) -> bool:
    return value.day == 1 and not (value.hour or value.minute or value.second or value.microsecond)


def _period_months(periode: dict, where: str) -> tuple[int, int]:
    start = record_date(periode, "start", where + " periode")
    end = record_date(periode, "end", where + " periode")
    first = month_index(start)
    # generatePeriodSerie starts at `start` itself: if start is mid-month, the steps are
    # start, start+1 month, ...; counting those < end is the same as counting month indices
    # m with month_start(m) + (start - month_start(first)) < end.
    offset = start - month_start(first)
    last = month_index(end)
    stop = last + 1 if month_start(last) + offset < end else last
    return first, max(first, stop)
