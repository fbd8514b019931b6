"""Trend and change variables (sf.model.trends): values, gaps, and no future value in a past month."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sf.engine.collections import FEATURES
from sf.features.compute import to_feature_documents
from sf.model.errors import ModelInputError, ModelOptionError
from sf.model.table import load_model_table
from sf.model.trends import DERIVED, NAIVE_SCORE, add_derived, source_columns, urssaf_debt_baseline

MONTHS = pd.date_range("2021-01-01", periods=20, freq="MS", tz="UTC")
SOURCES = ["effectif", "montant_part_ouvriere", "montant_part_patronale", "ratio_dette", "delai_montant_echeancier",
           "apart_heures_consommees"]


def _panel(seed: int = 0) -> pd.DataFrame:
    """Three establishments × 20 months of random sources, some absent."""
    rng = np.random.default_rng(seed)
    rows = []
    for siret in ("11111111100011", "11111111100029", "22222222200013"):
        for month in MONTHS:
            row = {"siret": siret, "siren": siret[:9], "periode": month}
            for column in SOURCES:
                row[column] = float(rng.integers(0, 50)) if rng.random() < 0.8 else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def test_every_derived_variable_is_computed_from_its_sources() -> None:
    assert set(source_columns(DERIVED)) == set(SOURCES)
    table = add_derived(_panel(), list(DERIVED))
    assert set(DERIVED) <= set(table.columns)
    with pytest.raises(ModelOptionError, match="mystere"):
        add_derived(_panel(), ["mystere"])
    with pytest.raises(ModelInputError, match="ratio_dette"):
        add_derived(_panel().drop(columns=["ratio_dette"]), ["ratio_dette_var_3"])


def test_changes_and_slopes_by_hand() -> None:
    table = _panel().head(20).copy()  # one establishment
    table["effectif"] = np.exp(0.1 * np.arange(20)) - 1  # log1p(effectif) = 0.1 × month
    table["ratio_dette"] = np.nan
    table.loc[5, "ratio_dette"] = 2.0
    out = add_derived(table, ["effectif_var_3", "effectif_pente_6", "ratio_dette_var_3", "effectif_var_12"])
    assert out["effectif_var_3"].iloc[:3].isna().all()
    np.testing.assert_allclose(out["effectif_var_3"].iloc[3:], 0.3)
    np.testing.assert_allclose(out["effectif_pente_6"].iloc[5:], 0.1)
    np.testing.assert_allclose(out["effectif_var_12"].iloc[12:], 1.2)
    # An absent ratio reads 0: rises by 2 at month 5, falls back 3 months later.
    assert out["ratio_dette_var_3"].iloc[5] == 2.0 and out["ratio_dette_var_3"].iloc[8] == -2.0
    assert out["ratio_dette_var_3"].iloc[3:].drop(index=[5, 8]).eq(0).all()


def test_a_missing_month_is_a_gap_not_the_previous_row() -> None:
    table = _panel().head(20).copy()
    table["effectif"] = np.arange(20, dtype=float)
    gapped = table.drop(index=[7])  # month 7 absent: the change at month 10 has no month 7
    out = add_derived(gapped, ["effectif_var_3"]).set_index("periode")["effectif_var_3"]
    assert np.isnan(out[MONTHS[10]])
    assert out[MONTHS[11]] == pytest.approx(np.log1p(11) - np.log1p(8))


def test_no_future_value_reaches_an_earlier_months_trend() -> None:
    """Changing every source value after month p (or deleting those months) leaves every derived
    variable at months <= p unchanged: a trend reads only its SIRET's months up to p."""
    base = _panel(1)
    cut = MONTHS[11]
    before = add_derived(base, list(DERIVED))
    rng = np.random.default_rng(9)
    future = base.copy()
    later = future["periode"] > cut
    for column in SOURCES:
        future.loc[later, column] = rng.normal(1000, 500, int(later.sum()))
    changed = add_derived(future, list(DERIVED))
    truncated = add_derived(base[~later].reset_index(drop=True), list(DERIVED))
    past = before.loc[~later.to_numpy(), list(DERIVED)].reset_index(drop=True)
    pd.testing.assert_frame_equal(changed.loc[~later.to_numpy(), list(DERIVED)].reset_index(drop=True), past)
    pd.testing.assert_frame_equal(truncated[list(DERIVED)], past)
    # ... and the other establishments' values never enter a SIRET's trend.
    other = base.copy()
    other.loc[other["siret"] != "11111111100011", SOURCES] = 7.0
    mine = other["siret"] == "11111111100011"
    pd.testing.assert_frame_equal(add_derived(other, list(DERIVED)).loc[mine, list(DERIVED)],
                                  before.loc[mine, list(DERIVED)])


def test_naive_score_is_the_baseline() -> None:
    table = _panel()
    out = add_derived(table, [NAIVE_SCORE])
    np.testing.assert_array_equal(out[NAIVE_SCORE].to_numpy(), urssaf_debt_baseline(table).to_numpy())


def test_load_model_table_reads_the_lookback_for_a_single_month(db) -> None:
    """Scoring reads one month: its trends must equal those computed on the whole history."""
    frame = _panel(2)
    db[FEATURES].insert_many(to_feature_documents(frame, "2209"))
    names = ["effectif", "effectif_var_12", "dette_pente_12", "apart_var_3", NAIVE_SCORE]
    last = load_model_table(db, "2209", columns=names, periode=MONTHS[-1].to_pydatetime())
    assert list(last.columns) == ["siret", "siren", "periode", *names]
    assert (last["periode"] == MONTHS[-1]).all() and len(last) == 3
    full = add_derived(frame, names[1:]).sort_values(["siret", "periode"])
    expected = full[full["periode"] == MONTHS[-1]].reset_index(drop=True)
    for name in names[1:]:
        np.testing.assert_allclose(last[name].to_numpy(), expected[name].to_numpy())
    window = load_model_table(db, "2209", columns=names, since=MONTHS[15].to_pydatetime(),
                              before=MONTHS[18].to_pydatetime())
    assert sorted(window["periode"].unique()) == list(MONTHS[15:18])
