"""Chunk-wide registry columns (``sirene_rows``, ``sirene_ul_rows``) against the frozen
per-entity implementation they replace.

``_reference_*`` below are verbatim copies of ``features/sirene.py`` before the rewrite (one
``Columns`` per entity). Two contracts are checked:

* one row (``sirene``/``sirene_ul``, thin wrappers): exactly the reference — same variables in
  the same order, same dtypes, same values, same null masks;
* many rows: row ``e`` holds the reference of entity ``e``; a column shared by the rows is an
  object one as soon as one row's reference is (numbers then as Python floats, NaN as None:
  what ``merge_columns`` gives when a float row meets an object column), float otherwise; a
  row without records has nothing (absent, no null).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sf.features.columns import Columns
from sf.features.errors import FeatureInputError
from sf.features.months import optional_date
from sf.features.sirene import (
    REGIONS,
    REGIONS_FIXED,
    naf_section,
    raison_sociale,
    sirene,
    sirene_rows,
    sirene_ul,
    sirene_ul_rows,
)
from sf.features.state import NafTable


# --- frozen reference: features/sirene.py before the chunk-wide rewrite -------------------------

_APE = re.compile(r"^[0-9]{4}[A-Z]$")
_MIN_CREATION = datetime(1901, 1, 1, tzinfo=UTC)


def _reference_last(records: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    last = None
    for record in records.values():
        if record is not None:
            last = record
    return last


def _reference_year(value: datetime | None) -> int | None:
    return value.year if value is not None else None


def _reference_sirene(records: dict[str, dict[str, Any]], siret: str, axis_years: np.ndarray, mode: str,
                      naf: NafTable | None, where: str) -> Columns:
    cols, record = Columns(len(axis_years)), _reference_last(records)
    if record is None:
        return cols
    every = slice(None)
    cols.put("siren", every, siret[:9])
    for field in ("latitude", "longitude", "code_commune", "departement"):
        cols.put(field, every, record.get(field) or None)
    departement = record.get("departement")
    if departement:
        cols.put("region", every, (REGIONS if mode == "parity" else REGIONS_FIXED).get(departement, ""))
    ape = record.get("ape")
    if isinstance(ape, str) and _APE.match(ape):
        cols.put("code_ape", every, ape)
        _reference_naf_fields(cols, ape, naf)
    cols.put("raison_sociale", every, record.get("raison_sociale") or None)
    creation = optional_date(record, "date_creation", f"{where} sirene")
    cols.put("date_creation_etablissement", every, _reference_year(creation))
    if creation is not None:
        if creation >= _MIN_CREATION:
            cols.num("age")[:] = axis_years - creation.year
        else:
            cols.put("age", every, None)
    return cols


def _reference_naf_fields(cols: Columns, ape: str, naf: NafTable | None) -> None:
    every = slice(None)
    if naf is not None:
        section = naf.n5to1.get(ape)
        if section is not None:
            cols.put("code_naf", every, section)
            if naf.n1.get(section) is not None:
                cols.put("libelle_naf", every, naf.n1[section])
    else:
        found = naf_section(ape)
        if found is not None:
            cols.put("code_naf", every, found[0])
            cols.put("libelle_naf", every, found[1])
    for level in (2, 3, 4):
        cols.put(f"code_ape_niveau{level}", every, ape[:level])
    if naf is not None:
        for level, table in ((2, naf.n2), (3, naf.n3), (4, naf.n4), (5, naf.n5)):
            label = table.get(ape[:level])
            if label is not None:
                cols.put(f"libelle_ape{level}", every, label)


def _reference_sirene_ul(records: dict[str, dict[str, Any]], axis_years: np.ndarray, where: str) -> Columns:
    cols, record = Columns(len(axis_years)), _reference_last(records)
    if record is None:
        return cols
    every = slice(None)
    cols.put("raison_sociale", every, raison_sociale(record))
    cols.put("statut_juridique", every, record.get("statut_juridique") or None)
    creation = optional_date(record, "date_creation", f"{where} sirene_ul")
    cols.put("date_creation_entreprise", every, _reference_year(creation))
    if creation is not None and creation >= _MIN_CREATION:
        cols.num("age_entreprise")[:] = axis_years - creation.year
    return cols


# --- comparison ----------------------------------------------------------------------------------

def _same_value(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _assert_same_array(name: str, got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    if want.dtype == object:
        bad = [i for i, (a, b) in enumerate(zip(got.ravel(), want.ravel())) if not _same_value(a, b)]
        assert not bad, f"{name}: differs at flat positions {bad[:5]}: {got.ravel()[bad[0]]!r} != {want.ravel()[bad[0]]!r}"
    else:
        np.testing.assert_array_equal(got, want, err_msg=name)


def assert_exactly(got: Columns, want: Columns, ordered: bool = True) -> None:
    """Same variables (in the same order unless ``ordered`` is False), dtypes, values and null masks."""
    names = list if ordered else set
    assert (got.n, got.rows) == (want.n, want.rows)
    assert names(got.values) == names(want.values)
    for name, arr in want.values.items():
        _assert_same_array(name, got.values[name], arr)
    assert names(got.nulls) == names(want.nulls)
    for name, mask in want.nulls.items():
        _assert_same_array(f"nulls[{name}]", got.nulls[name], mask)


def stacked(refs: list[Columns], n: int) -> Columns:
    """The multi-row :class:`Columns` expected from per-entity references (see module docstring)."""
    out = Columns(n, rows=len(refs))
    names = {name: None for ref in refs for name in ref.values}
    for name in names:
        parts = [ref.values.get(name) for ref in refs]
        if any(p is not None and p.dtype == object for p in parts):
            column = np.full((len(refs), n), None, dtype=object)
            for e, part in enumerate(parts):
                if part is not None:
                    column[e] = [None if isinstance(v, float) and np.isnan(v) else v for v in part.tolist()]
        else:
            column = np.full((len(refs), n), np.nan)
            for e, part in enumerate(parts):
                if part is not None:
                    column[e] = part
        out.values[name] = column
    for name in {name: None for ref in refs for name in ref.nulls}:
        mask = np.zeros((len(refs), n), dtype=bool)
        for e, ref in enumerate(refs):
            if name in ref.nulls:
                mask[e] = ref.nulls[name]
        out.nulls[name] = mask
    return out


def assert_rows(got: Columns, refs: list[Columns]) -> None:
    """``got`` (multi-row) holds ``refs`` row by row; variable order is not compared."""
    assert_exactly(got, stacked(refs, got.n), ordered=False)


# --- strategies ----------------------------------------------------------------------------------

_VALID_APES = ["4520A", "0111Z", "1012Z", "3511Z", "4711D", "5610A", "6201Z", "8559A", "9900Z", "9999Z",
               "0000Z", "1234B", "9700Z"]
_timezones = st.sampled_from([None, UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5)),
                              timezone(timedelta(hours=14))])
# Around 1901-01-01 and the year boundaries, where an offset changes the UTC year.
_dates = st.one_of(
    st.datetimes(min_value=datetime(1850, 1, 1), max_value=datetime(2035, 12, 31), timezones=_timezones),
    st.builds(lambda y, h, tz: datetime(y, 12, 31, h, 30, tzinfo=tz) if h < 24 else datetime(y + 1, 1, 1, 0, 30, tzinfo=tz),
              st.sampled_from([1899, 1900, 1901, 2015]), st.integers(0, 24), _timezones),
)
_numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=False, width=64), st.integers(-10**6, 10**6),
                     st.just(0), st.just(0.0), st.booleans())
_scalar = st.one_of(st.none(), st.text(max_size=6), _numbers)
_departements = st.one_of(st.sampled_from(sorted(REGIONS_FIXED) + ["2A", "2B", "971", "99", "00", ""]), _scalar)
_apes = st.one_of(st.sampled_from(_VALID_APES), st.from_regex(r"\A[0-9]{4}[A-Z]\Z"), _scalar)


def _record(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional=fields)


_sirene_record = _record({
    "latitude": _scalar, "longitude": _scalar, "code_commune": _scalar, "departement": _departements,
    "ape": _apes, "raison_sociale": _scalar, "date_creation": st.one_of(st.none(), _dates),
    "siege": st.booleans(),
})
_sirene_ul_record = _record({
    "raison_sociale": _scalar, "nom_unite_legale": _scalar, "nom_usage_unite_legale": _scalar,
    "prenom1_unite_legale": _scalar, "prenom2_unite_legale": _scalar, "statut_juridique": _scalar,
    "date_creation": st.one_of(st.none(), _dates),
})


def _records(record: st.SearchStrategy) -> st.SearchStrategy:
    """A state's records of one type: hash → record (None entries as deleted ones)."""
    return st.dictionaries(st.text("0123456789abcdef", min_size=4, max_size=4),
                           st.one_of(record, record, st.none()), max_size=3)


@st.composite
def _naf_tables(draw: st.DrawFn) -> NafTable | None:
    if draw(st.booleans()):
        return None
    apes = draw(st.lists(st.sampled_from(_VALID_APES), max_size=8, unique=True))
    labels = st.one_of(st.text(min_size=1, max_size=5), st.none())
    n5to1 = {ape: draw(st.sampled_from("ACGMNZ")) for ape in apes}
    n1 = {letter: draw(labels) for letter in draw(st.lists(st.sampled_from("ACGMN"), unique=True))}
    tables = [{ape[:level]: draw(labels) for ape in draw(st.lists(st.sampled_from(_VALID_APES), unique=True))}
              for level in (2, 3, 4, 5)]
    return NafTable(n5to1, n1, *tables)


@st.composite
def _axis_years(draw: st.DrawFn) -> np.ndarray:
    start = draw(st.integers(1890 * 12, 2030 * 12))
    axis = np.arange(start, start + draw(st.integers(1, 30)))
    return axis // 12


_sirets = st.text("0123456789", min_size=14, max_size=14)


# --- tests ---------------------------------------------------------------------------------------

@given(_records(_sirene_record), _sirets, _axis_years(), st.sampled_from(["fixed", "parity"]), _naf_tables())
def test_sirene_is_exactly_the_reference(records, siret, axis_years, mode, naf) -> None:
    where = f"etablissement {siret}"
    assert_exactly(sirene(records, siret, axis_years, mode, naf, where),
                   _reference_sirene(records, siret, axis_years, mode, naf, where))


@given(st.lists(st.tuples(st.one_of(st.none(), _records(_sirene_record)), _sirets), max_size=8), _axis_years(),
       st.sampled_from(["fixed", "parity"]), _naf_tables())
def test_sirene_rows_hold_the_reference_of_each_row(rows, axis_years, mode, naf) -> None:
    records = [r for r, _ in rows]
    sirets = [s for _, s in rows]
    wheres = [f"etablissement {s}" for s in sirets]
    got = sirene_rows(records, sirets, axis_years, mode, naf, wheres)
    assert_rows(got, [_reference_sirene(r or {}, s, axis_years, mode, naf, w)
                      for r, s, w in zip(records, sirets, wheres)])


@given(_records(_sirene_ul_record), _axis_years())
def test_sirene_ul_is_exactly_the_reference(records, axis_years) -> None:
    assert_exactly(sirene_ul(records, axis_years, "entreprise 123456789"),
                   _reference_sirene_ul(records, axis_years, "entreprise 123456789"))


@given(st.lists(st.one_of(st.none(), _records(_sirene_ul_record)), max_size=8), _axis_years())
def test_sirene_ul_rows_hold_the_reference_of_each_row(records, axis_years) -> None:
    wheres = [f"entreprise {e:09d}" for e in range(len(records))]
    got = sirene_ul_rows(records, axis_years, wheres)
    assert_rows(got, [_reference_sirene_ul(r or {}, axis_years, w) for r, w in zip(records, wheres)])


AXIS_YEARS = np.arange(2022 * 12, 2022 * 12 + 14) // 12


def test_rows_mixing_numbers_and_strings_make_an_object_column() -> None:
    """Row 0 alone would give a float ``latitude``; next to row 1's string it is an object column
    with a Python float, and row 2 (NaN latitude: absent) stays absent, not null."""
    records = [{"h": {"latitude": 48.5, "date_creation": datetime(2010, 5, 1, tzinfo=UTC)}},
               {"h": {"latitude": "48,5"}}, {"h": {"latitude": float("nan")}}, None]
    got = sirene_rows(records, ["12345678900011"] * 4, AXIS_YEARS, "fixed", None, ["a", "b", "c", "d"])
    latitude = got.values["latitude"]
    assert latitude.dtype == object
    assert [latitude[0, 0], latitude[1, 0], latitude[2, 0], latitude[3, 0]] == [48.5, "48,5", None, None]
    assert type(latitude[0, 5]) is float
    assert "latitude" not in got.nulls
    # raison_sociale is null (not absent) on the 3 rows with a record, absent on the row without.
    assert got.nulls["raison_sociale"][:, 0].tolist() == [True, True, True, False]
    assert got.values["age"][0].tolist() == [12.0] * 12 + [13.0] * 2
    assert np.isnan(got.values["age"][1:]).all()
    assert_rows(got, [_reference_sirene(r or {}, "12345678900011", AXIS_YEARS, "fixed", None, w)
                      for r, w in zip(records, "abcd")])


def test_rows_without_records_get_nothing() -> None:
    got = sirene_rows([None, {}, {"h": None}], ["12345678900011"] * 3, AXIS_YEARS, "parity", None, ["a", "b", "c"])
    assert (got.rows, got.values, got.nulls) == (3, {}, {})
    assert sirene_ul_rows([], AXIS_YEARS, []).values == {}
    empty = sirene({}, "12345678900011", AXIS_YEARS, "fixed", None, "x")
    assert (empty.rows, empty.shape, empty.values, empty.nulls) == (None, (len(AXIS_YEARS),), {}, {})


def test_a_creation_before_1901_in_utc_gives_a_null_age() -> None:
    """1901-01-01 00:30 at UTC+1 is 1900 in UTC: null age (établissement), absent age (entreprise)."""
    early = datetime(1901, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    records = [{"h": {"date_creation": early}}, {"h": {"date_creation": datetime(1901, 1, 1)}}]
    got = sirene_rows(records, ["12345678900011"] * 2, AXIS_YEARS, "fixed", None, ["a", "b"])
    assert got.values["date_creation_etablissement"][:, 0].tolist() == [1900.0, 1901.0]
    assert got.nulls["age"][:, 0].tolist() == [True, False]
    assert np.isnan(got.values["age"][0]).all() and got.values["age"][1, 0] == 2022 - 1901
    ul = sirene_ul_rows(records, AXIS_YEARS, ["a", "b"])
    assert np.isnan(ul.values["age_entreprise"][0]).all() and "age_entreprise" not in ul.nulls


@pytest.mark.parametrize("function", ["sirene", "sirene_ul"])
def test_a_creation_that_is_not_a_date_names_the_entity(function: str) -> None:
    records = [{"h": {"date_creation": datetime(2001, 1, 1, tzinfo=UTC)}}, {"h": {"date_creation": "2001-01-01"}}]
    with pytest.raises(FeatureInputError) as got:
        if function == "sirene":
            sirene_rows(records, ["12345678900011", "12345678900029"], AXIS_YEARS, "fixed", None,
                        ["etablissement 12345678900011", "etablissement 12345678900029"])
        else:
            sirene_ul_rows(records, AXIS_YEARS, ["entreprise 123456781", "entreprise 123456782"])
    with pytest.raises(FeatureInputError) as want:
        if function == "sirene":
            _reference_sirene(records[1], "12345678900029", AXIS_YEARS, "fixed", None, "etablissement 12345678900029")
        else:
            _reference_sirene_ul(records[1], AXIS_YEARS, "entreprise 123456782")
    assert str(got.value) == str(want.value)
    assert ("12345678900029" if function == "sirene" else "123456782") in str(got.value)


def test_month_independent_columns_are_read_only_views() -> None:
    """One value per row broadcast over the months: writing needs a copy (documented contract)."""
    records = [{"h": {"departement": "75", "raison_sociale": None, "date_creation": datetime(2000, 1, 1)}}]
    got = sirene_rows(records, ["12345678900011"], AXIS_YEARS, "fixed", None, ["a"])
    assert got.values["region"].tolist() == [["Île-de-France"] * len(AXIS_YEARS)]
    with pytest.raises(ValueError, match="read-only"):
        got.values["region"][0, 0] = "x"
    got.values["age"][0, 0] = 0.0  # depends on the month: an ordinary array
    got.nulls["raison_sociale"][0, 0] = False  # masks are ordinary arrays
