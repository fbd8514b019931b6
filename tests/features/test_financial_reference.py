"""BdF and Diane writers against frozen copies of their implementation before the chunk-wide speed-up.

The ``_reference_*`` functions are the implementation before the speed-up, kept
verbatim where the speed-up changed it (column pre-allocation, the Diane field loop); the
steps it left as they were (the sheets' dates, the window, one BdF sheet's writes, the BdF
ratios derived from a Diane sheet) are the module's own, since comparing a copy of them with themselves would test
nothing. The new functions must give the same columns (values, absent vs null, null masks,
float vs object dtypes; a column may exist all-absent on one side only, which gives the same
Features), and raise the same errors.
"""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sf.features.columns import Columns
from sf.features.errors import FeatureInputError
from sf.features.financial import (
    _BDF_PAST_FROM_DIANE,
    BDF_FIELDS,
    DIANE_FIELDS,
    DIANE_NO_PAST,
    DIANE_VALIDITY,
    YEAR_LAGS,
    _window,
    bdf,
    derive_bdf_from_diane,
    diane,
    sheets,
    write_bdf_sheet,
)
from sf.features.paydex import paydex



# --- frozen reference (features/financial.py before the chunk-wide speed-up) -------------------------------------

def _reference_bdf(records: dict[str, dict[str, Any]], axis: np.ndarray, cols: Columns, where: str) -> None:
    """The BdF writer without the columns' pre-allocation."""
    for r, first in sheets(records, "bdf", int(axis[0]), where):
        write_bdf_sheet(r, first, len(axis), cols)


def _reference_diane(records: dict[str, dict[str, Any]], axis: np.ndarray, cols: Columns, where: str) -> None:
    """Write Diane fields, their ``_past_k`` and the recomputed BdF ratios into ``cols``."""
    m0, n = int(axis[0]), len(axis)
    for r, first in sheets(records, "diane", m0, where):
        inside = _window(first, DIANE_VALIDITY, n)
        lagged = [(k, _window(first + 12 * k, DIANE_VALIDITY, n)) for k in YEAR_LAGS]
        # Only the schema's fields: an unknown key would be an undocumented Features column.
        for name in r:
            if name not in DIANE_FIELDS:
                continue
            value = r[name]
            if inside is not None and value is None:
                cols.delete(name, inside)
            elif inside is not None:
                cols.put(name, inside, value)
            if value is None or name in DIANE_NO_PAST:
                continue
            for k, later in lagged:
                if later is not None:
                    cols.put(f"{name}_past_{k}", later, value)
        if inside is None:
            continue
        derive_bdf_from_diane(r, inside, n, cols)


# --- comparison ---

def _same_value(x: Any, y: Any) -> bool:
    if x is None or y is None:
        return x is None and y is None
    if isinstance(x, float) and math.isnan(x):
        return isinstance(y, float) and math.isnan(y)
    return type(x) is type(y) and x == y


def assert_same_columns(new: Columns, ref: Columns) -> None:
    """Same dtypes, values (NaN = NaN) and null masks; a column missing on one side must be
    all-absent (and without nulls) on the other: both give the same Features rows."""
    assert new.n == ref.n
    for name in dict.fromkeys([*ref.values, *new.values]):
        got, expected = new.values.get(name), ref.values.get(name)
        if got is None or expected is None:
            only = expected if got is None else got
            assert (np.equal(only, None).all() if only.dtype == object else np.isnan(only).all()), name
            continue
        assert got.dtype == expected.dtype, name
        assert got.shape == expected.shape, name
        if expected.dtype == object:
            assert all(_same_value(a, b) for a, b in zip(got.tolist(), expected.tolist())), name
        else:
            assert np.array_equal(got, expected, equal_nan=True), name
    for name in dict.fromkeys([*ref.nulls, *new.nulls]):
        none = np.zeros(new.n, dtype=bool)
        assert np.array_equal(new.nulls.get(name, none), ref.nulls.get(name, none)), name


def run_both(new_fn, ref_fn, records, axis, cols: Columns | None) -> None:
    """Apply both writers to copies of ``cols`` (or build fresh columns); same columns or same error."""
    outcome = []
    for fn in (new_fn, ref_fn):
        target = copy.deepcopy(cols)
        try:
            out = fn(records, axis, "t") if target is None else fn(records, axis, target, "t")
            outcome.append(("ok", out if target is None else target))
        except (FeatureInputError, TypeError, ZeroDivisionError) as exc:
            outcome.append(("error", (type(exc), str(exc))))
    (kind_new, got), (kind_ref, expected) = outcome
    assert kind_new == kind_ref, (got, expected)
    if kind_ref == "error":
        assert got == expected
    else:
        assert_same_columns(got, expected)


# --- random inputs -----------------------------------------------------------------------------

AXIS_START = 2019 * 12
_numbers = st.one_of(st.integers(-5, 5), st.floats(-1e3, 1e3, allow_nan=False), st.booleans(),
                     st.just(0.0), st.just(float("nan")))
_values = st.one_of(st.none(), _numbers, _numbers, _numbers, st.sampled_from(["x", "", "12"]))
_dates = st.builds(lambda m, day, h: datetime(m // 12, m % 12 + 1, day, h, tzinfo=UTC),
                   st.integers(AXIS_START - 44, AXIS_START + 30), st.integers(1, 28), st.sampled_from([0, 23]))
_date_or_bad = st.one_of(_dates, _dates, _dates, _dates, st.sampled_from([None, "2020-01-01", 0]))

# Formula inputs, a few plain fields, the no-past ones, identity fields the original omits, a stranger.
_DIANE_KEYS = ("couverture_ca_fdr", "dette_fiscale_et_sociale", "valeur_ajoutee", "interets",
               "excedent_brut_d_exploitation", "produits_financiers", "produit_exceptionnel",
               "charge_exceptionnelle", "charges_financieres", "ca", "effectif_consolide", "exercice_diane",
               "nom_entreprise", "procedure_collective", "not_a_diane_field")


def _sheet(date_key: str, keys: tuple[str, ...]):
    return st.fixed_dictionaries({date_key: _date_or_bad},
                                 optional={k: _values for k in keys})


diane_sheets = st.dictionaries(st.text("abcdef", min_size=1, max_size=3), _sheet("arrete_bilan_diane", _DIANE_KEYS),
                               max_size=5)
bdf_sheets = st.dictionaries(st.text("abcdef", min_size=1, max_size=3),
                             _sheet("arrete_bilan_bdf", BDF_FIELDS[1:]), max_size=4)

# Columns that may already be there when Diane runs: the BdF ratios and their pasts (written
# by bdf), a Diane field and its past (another source of the same name), as floats, objects
# or explicit nulls.
_PRESET_NAMES = (list(_BDF_PAST_FROM_DIANE) + [f"{r}_past_{k}" for r in _BDF_PAST_FROM_DIANE for k in YEAR_LAGS]
                 + ["ca", "ca_past_1", "exercice_diane"])


@st.composite
def preset_columns(draw, n: int) -> Columns:
    cols = Columns(n)
    cols.num("exercice_bdf")[:] = 0.0
    for name in draw(st.lists(st.sampled_from(_PRESET_NAMES), max_size=8, unique=True)):
        kind = draw(st.sampled_from(["num", "obj", "null"]))
        cells = draw(st.lists(st.one_of(st.none(), st.floats(-10, 10), st.just("s")), min_size=n, max_size=n))
        if kind == "num":
            cols.values[name] = np.array([np.nan if not isinstance(v, float) else v for v in cells])
        elif kind == "obj":
            cols.values[name] = np.array(cells, dtype=object)
        if draw(st.booleans()):
            mask = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
            cols.nulls[name] = mask
            if name in cols.values:
                cols.values[name][mask] = None if cols.values[name].dtype == object else np.nan
    return cols


@st.composite
def axis_and_columns(draw) -> tuple[np.ndarray, Columns]:
    n = draw(st.integers(1, 60))
    start = AXIS_START + draw(st.integers(-12, 12))
    return np.arange(start, start + n), draw(preset_columns(n))


@settings(max_examples=300)
@given(axis_and_columns(), diane_sheets, bdf_sheets)
def test_diane_matches_reference(setup, sheets, bdf_first) -> None:
    axis, cols = setup
    try:  # the BdF sheets as they come before Diane in entreprise_rows
        _reference_bdf(bdf_first, axis, cols, "t")
    except (FeatureInputError, TypeError):
        pass
    run_both(diane, _reference_diane, sheets, axis, cols)


_ratio_inputs = st.one_of(st.none(), st.floats(-100, 100, allow_nan=False), st.integers(-3, 3))
_ratio_sheets = st.dictionaries(
    st.text("abcdef", min_size=1, max_size=3),
    st.fixed_dictionaries({"arrete_bilan_diane": _dates},
                          optional={k: _ratio_inputs for k in _DIANE_KEYS[:10] + ("exercice_diane",)}),
    max_size=6)


@settings(max_examples=300)
@given(st.integers(1, 60), st.integers(-12, 12), _ratio_sheets)
def test_diane_without_bdf_matches_reference(n, shift, sheets) -> None:
    """No BdF column before Diane (the usual case, where the ratios are computed for all
    sheets at once): numbers and None only, overlapping sheets, windows cut by the axis."""
    axis = np.arange(AXIS_START + shift, AXIS_START + shift + n)
    cols = Columns(n)
    cols.num("exercice_bdf")[:] = 0.0
    run_both(diane, _reference_diane, sheets, axis, cols)


@given(axis_and_columns(), bdf_sheets)
def test_bdf_matches_reference(setup, sheets) -> None:
    axis, cols = setup
    run_both(bdf, _reference_bdf, sheets, axis, cols)


def test_diane_repeated_sheets_overlap_delete_and_recompute() -> None:
    """Hand-made case: overlapping yearly sheets, a None that deletes, a ratio recomputed only
    where BdF left a hole, and a null BdF ratio carried to its _past_k as null."""
    axis = np.arange(AXIS_START, AXIS_START + 48)
    cols = Columns(48)
    cols.num("exercice_bdf")[:] = 0.0
    _reference_bdf({"b": {"arrete_bilan_bdf": datetime(2018, 12, 31, tzinfo=UTC), "annee_bdf": 2018,
                          "dette_fiscale": None, "taux_marge": 3.0}}, axis, cols, "t")
    sheets = {f"s{y}": {"arrete_bilan_diane": datetime(y, 12, 31, tzinfo=UTC), "exercice_diane": y,
                        "ca": None if y == 2019 else float(y), "dette_fiscale_et_sociale": 10.0,
                        "valeur_ajoutee": 4.0 + y % 3, "nom_entreprise": "X"} for y in (2017, 2018, 2019, 2020)}
    run_both(diane, _reference_diane, sheets, axis, cols)
    new = copy.deepcopy(cols)
    diane(sheets, axis, new, "t")
    assert "ca" in new.values and "dette_fiscale_past_1" in new.nulls  # the case does exercise both paths


def test_paydex_later_record_of_the_same_month_overwrites() -> None:
    """A number then None on the same month (and its lags) gives a null; a string makes an
    object column; records outside the axis write nothing."""
    axis = np.arange(AXIS_START, AXIS_START + 20)
    records = {"a": {"date_valeur": datetime(2019, 2, 3, tzinfo=UTC), "nb_jours": 5},
               "b": {"date_valeur": datetime(2019, 2, 20, tzinfo=UTC), "nb_jours": None},
               "c": {"date_valeur": datetime(2019, 5, 1, tzinfo=UTC), "nb_jours": 7.5},
               "d": {"date_valeur": datetime(2019, 8, 1, tzinfo=UTC), "nb_jours": "12"},
               "e": {"date_valeur": datetime(2017, 1, 1, tzinfo=UTC), "nb_jours": 1}}
    cols = paydex(records, axis, "t")
    assert cols.nulls["paydex_nb_jours"][1] and cols.values["paydex_nb_jours"][1] is None  # object: "12"
    assert cols.values["paydex_nb_jours_past_3"][10] == "12" and cols.values["paydex_nb_jours_past_3"][7] == 7.5


def _dec(year: int) -> datetime:
    return datetime(year, 12, 31, tzinfo=UTC)


def test_diane_replayed_field_deleted_and_null_ratio_carried() -> None:
    """The paths random inputs reach rarely: a field written through Columns (a string in one
    sheet) deleted by a later None; a BdF ratio with explicit nulls inside the sheet's months
    (carried to _past_k as nulls); a _past_k column with a null mask cleared by known values."""
    axis = np.arange(AXIS_START, AXIS_START + 48)
    cols = Columns(48)
    cols.num("exercice_bdf")[:] = 0.0
    ratio = cols.num("dette_fiscale")
    ratio[:] = 2.0
    ratio[10:14] = np.nan
    cols.null_mask("dette_fiscale")[10:14] = True
    cols.num("taux_marge")[:] = 1.5
    cols.null_mask("taux_marge_past_1")[:] = True
    sheets = {"a": {"arrete_bilan_diane": _dec(2018), "ca": "x", "valeur_ajoutee": 3.0},
              "b": {"arrete_bilan_diane": _dec(2019), "ca": None, "valeur_ajoutee": 3.0},
              "c": {"arrete_bilan_diane": _dec(2020), "ca": 5, "dette_fiscale_et_sociale": 1.0, "valeur_ajoutee": 3}}
    run_both(diane, _reference_diane, sheets, axis, cols)
    new = copy.deepcopy(cols)
    diane(sheets, axis, new, "t")
    assert new.values["ca"].dtype == object and new.values["ca"][8 + 12] is None  # deleted by sheet b
    assert new.nulls["dette_fiscale_past_1"][22:26].all()
    assert not new.nulls["taux_marge_past_1"][20]
