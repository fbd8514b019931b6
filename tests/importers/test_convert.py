"""Go-compatible converters (docs/importers.md §1.4); expected values are the original's documented
behaviour."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sf.importers.convert import (
    ConversionError,
    comma_float,
    effectif_float,
    effectif_int,
    go_quote,
    go_time_string,
    int_from_float,
    parse_bool,
    parse_date,
    parse_float,
    parse_int,
    urssaf_date,
    urssaf_period,
)


def d(y: int, m: int, day: int = 1) -> datetime:
    return datetime(y, m, day, tzinfo=UTC)


def test_parse_int() -> None:
    assert parse_int("") is None
    assert (parse_int("42"), parse_int("-7"), parse_int("+3"), parse_int("007")) == (42, -7, 3, 7)
    for bad in (" 1", "1 ", "1.0", "1_000", "٣", "+", "0x10"):
        with pytest.raises(ConversionError, match="invalid syntax"):
            parse_int(bad)
    with pytest.raises(ConversionError) as caught:
        parse_int("1 ")
    assert str(caught.value) == 'strconv.Atoi: parsing "1 ": invalid syntax'
    with pytest.raises(ConversionError, match="value out of range"):
        parse_int("9223372036854775808")


def test_parse_float() -> None:
    assert parse_float("") is None
    assert parse_float("1e3") == 1000.0 and parse_float("-68231") == -68231.0 and parse_float(".5") == 0.5
    assert parse_float("5.") == 5.0 and math.isinf(parse_float("-Inf")) and math.isnan(parse_float("NaN"))
    assert parse_float("0x1p-2") == 0.25
    for bad in (" 1", "1,5", "1_0", "+nan", "infin", "1e", "--1"):
        with pytest.raises(ConversionError, match=r'strconv.ParseFloat: parsing ".*": invalid syntax'):
            parse_float(bad)
    with pytest.raises(ConversionError, match="value out of range"):
        parse_float("1e400")


def test_comma_float_and_int_from_float() -> None:
    assert comma_float("5065,79") == 5065.79 and comma_float("74825.41") == 74825.41 and comma_float("") is None
    with pytest.raises(ConversionError, match='parsing "1.234.5"'):  # message quotes the converted text
        comma_float("1,234,5")
    assert int_from_float("12.9") == 12 and int_from_float("-12.9") == -12 and int_from_float("") is None


def test_parse_bool() -> None:
    assert all(parse_bool(s) for s in ("1", "t", "T", "TRUE", "true", "True"))
    assert not any(parse_bool(s) for s in ("0", "f", "F", "FALSE", "false", "False"))
    for bad in ("", "yes", "tRUE", "2"):
        with pytest.raises(ConversionError, match="strconv.ParseBool"):
            parse_bool(bad)


def test_parse_date_layouts() -> None:
    assert parse_date("2019-01-23", "2006-01-02") == d(2019, 1, 23)
    assert parse_date("23/01/2019", "02/01/2006") == d(2019, 1, 23)
    assert parse_date("26MAY2014", "02Jan2006") == d(2014, 5, 26)
    assert parse_date("24feb2014", "02Jan2006") == d(2014, 2, 24)
    for bad, layout in (("1/5/2019", "02/01/2006"), ("2019-1-05", "2006-01-02"), ("26MAI2014", "02Jan2006")):
        with pytest.raises(ConversionError, match=f'parsing time "{bad}"'):
            parse_date(bad, layout)
    with pytest.raises(ConversionError, match="day out of range"):
        parse_date("29/02/2019", "02/01/2006")
    with pytest.raises(ConversionError, match="month out of range"):
        parse_date("2019-13-01", "2006-01-02")
    with pytest.raises(ValueError, match="unsupported"):
        parse_date("2019", "2006")


def test_urssaf_date() -> None:
    assert urssaf_date("1180130") == d(2018, 1, 30)
    assert urssaf_date("990401") == d(1999, 4, 1) == urssaf_date("0990401")
    assert urssaf_date("20180130") == d(3918, 1, 30)  # quirk kept (docs/importers.md §1.4)
    assert urssaf_date("9990101") == d(2899, 1, 1)
    for bad in ("", "abc", "11801 30"):
        with pytest.raises(ConversionError) as caught:
            urssaf_date(bad)
        assert str(caught.value) == f"valeur non autorisée pour une conversion en date: {bad}"


@pytest.mark.parametrize("code,start,end", [
    ("1022", d(2010, 5), d(2010, 6)),      # cotisation golden
    ("1031", d(2010, 7), d(2010, 8)),
    ("0232", d(2002, 8), d(2002, 9)),
    ("201712", d(2017, 2), d(2017, 3)),    # debit golden
    ("201511", d(2015, 1), d(2015, 2)),
    ("199904", d(1999, 1), d(1999, 2)),    # Q0 M4 normalised like Go time.Date
    ("201750", d(2018, 1), d(2018, 4)),    # quarter 5
    ("201062", d(2010, 1), d(2011, 1)),    # whole year
    ("201820", d(2018, 4), d(2018, 7)),    # quarter 2
    ("5012", d(1950, 2), d(1950, 3)),      # "50" is not < "50": 19th century prefix
    ("4912", d(2049, 2), d(2049, 3)),
])
def test_urssaf_period(code: str, start: datetime, end: datetime) -> None:
    periode = urssaf_period(code)
    assert (periode.start, periode.end) == (start, end)
    assert periode.to_document() == {"start": start, "end": end}


def test_urssaf_period_errors() -> None:
    for bad in ("", "101", "20101", "2010111", "20a011", "+102"):
        with pytest.raises(ConversionError, match="valeur non autorisée"):
            urssaf_period(bad)


def test_effectif_cells() -> None:
    assert effectif_int("-5") == 5 and effectif_int("12,5") == 125 and effectif_int("1 234") == 1234
    assert effectif_float("12,5") == 125.0
    with pytest.raises(ConversionError, match='strconv.Atoi: parsing "": invalid syntax'):
        effectif_int("abc")
    with pytest.raises(ConversionError, match="ParseFloat"):
        effectif_float("-")


def test_go_formatting() -> None:
    assert go_quote('a"b\\c\n') == '"a\\"b\\\\c\\n"' and go_quote("é") == '"é"' and go_quote("\x01") == '"\\x01"'
    assert go_time_string(d(2018, 12, 1)) == "2018-12-01 00:00:00 +0000 UTC"


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_parse_int_accepts_every_int64(value: int) -> None:
    assert parse_int(str(value)) == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_parse_float_round_trips_repr(value: float) -> None:
    assert parse_float(repr(value)) == value


@given(st.integers(min_value=1900, max_value=2099), st.integers(min_value=1, max_value=6),
       st.integers(min_value=0, max_value=3))
def test_urssaf_period_is_one_month_or_one_quarter(year: int, quarter: int, month: int) -> None:
    periode = urssaf_period(f"{year}{quarter}{month}")
    months = (periode.end.year - periode.start.year) * 12 + periode.end.month - periode.start.month
    if f"{quarter}{month}" == "62":
        assert months == 12
    else:
        assert months == (3 if month == 0 else 1)
    assert periode.start.day == periode.end.day == 1
