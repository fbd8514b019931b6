"""Reading a batch's Features into the typed table the model functions take (sf.model.table)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sf.engine.collections import FEATURES
from sf.features.catalogue import VARIABLES
from sf.features.compute import to_feature_documents
from sf.model.scoring import NON_FEATURE_COLUMNS
from sf.model.table import (
    EXCLUDED_FROM_MODEL,
    feature_month,
    feature_months,
    in_scope,
    load_feature_table,
    model_variables,
)

MONTHS = pd.date_range("2023-01-01", periods=3, freq="MS", tz="UTC")


def _frame() -> pd.DataFrame:
    """Two establishments of one company and one of another, three months; some values absent."""
    rows = []
    for siret in ("01234567800011", "01234567800029", "98765432100015"):
        for i, month in enumerate(MONTHS):
            rows.append({"siret": siret, "siren": siret[:9], "periode": month,
                         "effectif": 10.0 + i if siret != "98765432100015" else np.nan,
                         "montant_part_patronale": 100.0 * i,
                         "tag_debit": bool(i % 2), "raison_sociale": f"SOCIETE {siret[:3]}",
                         "date_ccsf": datetime(2022, 5, 1, tzinfo=UTC) if i == 2 else None,
                         "outcome": i == 0})
    return pd.DataFrame(rows)


@pytest.fixture
def stored(db) -> pd.DataFrame:
    frame = _frame()
    db[FEATURES].insert_many(to_feature_documents(frame, "2304"))
    # Another batch's Features must never leak into the table of 2304.
    db[FEATURES].insert_many(to_feature_documents(frame.assign(effectif=999.0), "2305"))
    return frame


def test_round_trip_gives_catalogue_dtypes_and_missing_values(db, stored) -> None:
    table = load_feature_table(db, "2304", columns=["effectif", "montant_part_patronale", "tag_debit",
                                                     "raison_sociale", "date_ccsf", "outcome", "ratio_apart"])
    assert len(table) == 9
    assert list(table.columns[:3]) == ["siret", "siren", "periode"]
    assert str(table["periode"].dtype) == "datetime64[ns, UTC]"
    assert table["effectif"].dtype == np.float64 and table["ratio_apart"].dtype == np.float64
    assert str(table["tag_debit"].dtype) == "boolean" and str(table["outcome"].dtype) == "boolean"
    assert table["raison_sociale"].dtype == object and str(table["date_ccsf"].dtype) == "datetime64[ns, UTC]"
    # Sorted by siret then month; values as written; absent values missing.
    expected = stored.sort_values(["siret", "periode"], ignore_index=True)
    assert table["siret"].tolist() == expected["siret"].tolist()
    assert table["periode"].tolist() == expected["periode"].tolist()
    np.testing.assert_array_equal(table["effectif"].to_numpy(), expected["effectif"].to_numpy())
    assert table["tag_debit"].tolist() == expected["tag_debit"].tolist()
    assert table["ratio_apart"].isna().all()  # a catalogue variable no document holds: a missing column
    assert table["date_ccsf"].notna().sum() == 3
    assert set(table["siren"]) == {"012345678", "987654321"}


def test_all_catalogue_variables_by_default(db, stored) -> None:
    table = load_feature_table(db, "2304")
    assert set(table.columns) == set(VARIABLES)


def test_month_and_establishment_filters(db, stored) -> None:
    last = load_feature_table(db, "2304", columns=["effectif"], periode=MONTHS[-1].to_pydatetime())
    assert len(last) == 3 and (last["periode"] == MONTHS[-1]).all()
    window = load_feature_table(db, "2304", columns=["effectif"], since=MONTHS[1].to_pydatetime(),
                                before=MONTHS[2].to_pydatetime())
    assert window["periode"].unique().tolist() == [MONTHS[1]]
    one = load_feature_table(db, "2304", columns=["effectif"], sirets=["98765432100015"], chunk=2)
    assert one["siret"].unique().tolist() == ["98765432100015"] and len(one) == 3
    assert feature_month(db, "2304") == MONTHS[-1] and feature_month(db, "2304", last=False) == MONTHS[0]
    assert feature_months(db, "2304") == list(MONTHS)


def test_no_features_gives_an_empty_table_with_the_columns(db) -> None:
    table = load_feature_table(db, "2304", columns=["effectif", "raison_sociale"])
    assert table.empty and list(table.columns) == ["siret", "siren", "periode", "effectif", "raison_sociale"]
    assert feature_month(db, "2304") is None and feature_months(db, "2304") == []


def test_unknown_variable_and_bad_values_are_named(db, stored) -> None:
    with pytest.raises(ValueError, match="mystere"):
        load_feature_table(db, "2304", columns=["effectif", "mystere"])
    db[FEATURES].insert_one({"_id": {"batch": "2399", "siret": "11111111100019", "periode": MONTHS[0].to_pydatetime()},
                             "value": {"siret": "11111111100019", "siren": "111111111", "effectif": "douze"}})
    with pytest.raises(ValueError, match=r"'effectif'.*'douze'.*11111111100019.*2023-01"):
        load_feature_table(db, "2399", columns=["effectif"])


def test_model_variables_exclude_dates_identifiers_labels_and_fine_places() -> None:
    variables = model_variables()
    assert "ratio_dette" in variables and "effectif" in variables and "code_naf" in variables
    for name in variables:
        assert VARIABLES[name].role == "feature" and VARIABLES[name].dtype != "datetime"
        assert name not in NON_FEATURE_COLUMNS and name not in EXCLUDED_FROM_MODEL
    for name in ("date_ccsf", "etat_proc_collective", "tag_failure", "raison_sociale", "region", "code_commune",
                 "outcome", "random_order", "siret"):
        assert name not in variables


def test_rows_in_or_after_proceedings_are_out_of_scope() -> None:
    table = pd.DataFrame({"time_til_outcome": [np.nan, 5.0, 0.0, -3.0, 19.0]})
    assert in_scope(table).tolist() == [True, True, False, False, True]
    assert in_scope(pd.DataFrame({"x": [1, 2]})).all()
