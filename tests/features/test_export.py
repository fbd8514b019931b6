"""Parquet export of a batch's Features: typed columns, filters, read back by pandas in one line."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pandas as pd
import pytest
from sf.engine.collections import FEATURES, RAW_DATA
from sf.engine.errors import UsageError
from sf.engine.partitions import KeyRange
from sf.features.catalogue import CATALOGUE
from sf.features.compute import NULL_FIELDS, compute_company_features
from sf.features.export import export_features
from sf.features.job import features_range, plan_features

from .golden import load_input


def _store_example(mongo_uri, db, mode="fixed") -> pd.DataFrame:
    """Example 1 as RawData, its Features computed by the job; returns the pure frame."""
    from sf.engine.batches import make_batch, save_batch
    from sf.features.state import company_state_from_rawdata

    params, values = load_input()
    save_batch(db, make_batch(params["batch"], date_debut=params["date_debut"].date(),
                              date_fin=params["date_fin"].date(),
                              date_fin_effectif=params["date_fin_effectif"].date(), check_files=False))
    db[RAW_DATA].insert_many([{"_id": v["key"], "value": copy.deepcopy(v)} for v in values])
    plan = plan_features(db, params["batch"], mode=mode)
    features_range(mongo_uri, db.name, plan, KeyRange(None, None))
    return compute_company_features(company_state_from_rawdata("111111111", values, params["batch"]),
                                    list(plan.periods), plan.params)


def test_export_reads_back_typed_with_one_row_per_establishment_and_month(tmp_path, mongo_uri, db):
    pure = _store_example(mongo_uri, db)
    out = tmp_path / "f.parquet"
    summary = export_features(db, "2001", out)
    table = pd.read_parquet(out)
    assert summary.rows == len(table) == len(pure) == db[FEATURES].count_documents({})
    assert list(table.columns) == [v.name for v in CATALOGUE] and NULL_FIELDS not in table.columns
    kinds = {"float": "float64", "bool": "boolean", "string": "string", "datetime": "datetime64[us, UTC]"}
    for var in CATALOGUE:
        assert str(table[var.name].dtype) == kinds[var.dtype], var.name
    assert not table.duplicated(["siret", "periode"]).any()
    assert table[["siret", "periode"]].equals(table[["siret", "periode"]].sort_values(["siret", "periode"]))
    # Same values as the pure computation (row order: siret, periode).
    expected = pure.sort_values(["siret", "periode"]).reset_index(drop=True)
    for var in CATALOGUE:
        got, want = table[var.name], expected[var.name]
        if var.dtype == "float":
            pd.testing.assert_series_equal(got, want.astype("float64"), check_names=False)
        elif var.dtype == "datetime":
            assert got.tolist() == pd.to_datetime(want, utc=True).dt.as_unit("us").tolist(), var.name
        else:
            assert [None if pd.isna(x) else x for x in got] == [None if pd.isna(x) else x for x in want], var.name


def test_filters_min_effectif_and_since(tmp_path, mongo_uri, db):
    _store_example(mongo_uri, db)
    full = pd.read_parquet(export_features(db, "2001", tmp_path / "all.parquet").path)
    threshold = float(full["effectif"].dropna().median())
    since = datetime(2019, 3, 1, tzinfo=UTC)
    export_features(db, "2001", tmp_path / "f.parquet", min_effectif=threshold, since=since)
    filtered = pd.read_parquet(tmp_path / "f.parquet")
    expected = full[(full["effectif"] >= threshold) & (full["periode"] >= since)].reset_index(drop=True)
    assert 0 < len(filtered) < len(full)
    pd.testing.assert_frame_equal(filtered, expected)
    empty = export_features(db, "2001", tmp_path / "none.parquet", min_effectif=1e9)
    table = pd.read_parquet(empty.path)
    assert empty.rows == 0 and len(table) == 0 and list(table.columns) == list(full.columns)


def test_unknown_batch_is_refused_and_leaves_no_file(tmp_path, db):
    with pytest.raises(UsageError, match="no Features document for batch 2402"):
        export_features(db, "2402", tmp_path / "f.parquet")
    assert not (tmp_path / "f.parquet").exists() and not (tmp_path / "f.parquet.part").exists()


def test_a_value_of_the_wrong_type_names_the_variable(tmp_path, db):
    db[FEATURES].insert_one({"_id": {"batch": "2001", "siret": "11111111100015",
                                     "periode": datetime(2019, 1, 1, tzinfo=UTC)},
                             "value": {"siret": "11111111100015", "effectif": "beaucoup"}})
    with pytest.raises(UsageError, match="'effectif'"):
        export_features(db, "2001", tmp_path / "f.parquet")
    assert not (tmp_path / "f.parquet").exists() and not (tmp_path / "f.parquet.part").exists()
