"""The features job against the test database: golden company through the store, re-runs
replace, ranges, skipped companies, one-company debug, and the whole chain on `sf synth` data."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from sf.engine.batches import make_batch, save_batch
from sf.engine.collections import FEATURES, FEATURES_DEBUG, JOURNAL, RAW_DATA
from sf.engine.cluster import sum_stats
from sf.engine.errors import UsageError
from sf.engine.partitions import KeyRange, key_ranges
from sf.features.compute import compute_company_features, to_feature_documents
from sf.features.job import (
    batch_periods,
    company_key_range,
    compute_company_debug,
    features_range,
    group_by_company,
    plan_features,
)

from .golden import golden_naf, load_expected, load_input

SIREN = "111111111"


def _rawdata_docs(siren: str = SIREN) -> list[dict]:
    """Example 1's RawData documents, moved to company ``siren``."""
    _, values = load_input()
    docs = []
    for value in copy.deepcopy(values):
        key = siren + value["key"][9:]
        value["key"] = key
        docs.append({"_id": key, "value": value})
    return docs


def _define_example_batch(db) -> dict:
    params, _ = load_input()
    save_batch(db, make_batch(params["batch"], date_debut=params["date_debut"].date(),
                              date_fin=params["date_fin"].date(),
                              date_fin_effectif=params["date_fin_effectif"].date(), check_files=False))
    return params


def _features(db, collection=FEATURES, batch=None) -> dict:
    query = {} if batch is None else {"_id.batch": batch}
    return {(d["_id"]["batch"], d["_id"]["siret"], d["_id"]["periode"]): d for d in db[collection].find(query)}


def _run(mongo_uri, db, plan, parts=3) -> dict:
    ranges = key_ranges([(db[RAW_DATA], "_id")], parts)
    return sum_stats({r.name: features_range(mongo_uri, db.name, plan, r) for r in ranges})


def test_plan_periods_follow_the_batch_and_unknown_batches_are_refused(db):
    params = _define_example_batch(db)
    plan = plan_features(db, "2001", mode="parity")
    assert plan.periods[0] == params["date_debut"] and len(plan.periods) == 6  # 2019-01 .. 2019-06
    assert plan.params.date_fin_effectif == params["date_fin_effectif"]
    with pytest.raises(UsageError, match="2002 is not defined"):
        plan_features(db, "2002")
    mid_month = make_batch("2402", date_debut=date(2023, 1, 15), date_fin=date(2023, 4, 1), check_files=False)
    assert [p.month for p in batch_periods(mid_month)] == [2, 3]  # from date_debut included, date_fin excluded


def _headcount_file(folder: Path, months: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "Sigfaible_effectif_siret.csv"
    path.write_text(";".join(["compte", "siret", *months]) + "\n" + ";".join(["1", "01234567890123", *"1" * len(months)])
                    + "\n")
    return path


def test_fixed_mode_starts_with_the_first_month_the_deliveries_describe(db, tmp_path: Path):
    # An old batch defined with the 2014 default, whose delivery starts in 2021-09 (eff202133).
    first = _headcount_file(tmp_path / "2110", ["eff202133", "eff202141"])
    save_batch(db, make_batch("2110", files={"effectif": [str(first)]}))
    later = _headcount_file(tmp_path / "2111", ["eff202141", "eff202142"])
    save_batch(db, make_batch("2111", files={"effectif": [str(later)]}))
    save_batch(db, make_batch("2108", date_debut=date(2021, 1, 1), check_files=False))  # no headcount file
    plan = plan_features(db, "2111")
    assert plan.periods[0] == datetime(2021, 9, 1, tzinfo=UTC) and plan.periods[-1] == datetime(2021, 10, 1, tzinfo=UTC)
    assert plan.clipped is not None and "2014-01-01 clipped to 2021-09-01" in plan.clipped
    assert "batch 2110: Sigfaible_effectif_siret.csv, column eff202133" in plan.clipped
    # A batch's own or earlier deliveries only: 2110 alone gives the same start; parity keeps the series.
    assert plan_features(db, "2110").periods[0] == datetime(2021, 9, 1, tzinfo=UTC)
    assert len(plan_features(db, "2111", mode="parity").periods) == 12 * 7 + 10
    assert plan_features(db, "2111", mode="parity").clipped is None
    # Files gone since the import: nothing to clip with, the batch's series is kept.
    first.unlink()
    later.unlink()
    unclipped = plan_features(db, "2111")
    assert unclipped.clipped is None and unclipped.periods[0] == datetime(2014, 1, 1, tzinfo=UTC)


def test_parity_run_writes_the_golden_documents_through_the_store(mongo_uri, db):
    params = _define_example_batch(db)
    db[RAW_DATA].insert_many(_rawdata_docs())
    expected = load_expected("example1")
    plan = plan_features(db, "2001", mode="parity", naf=golden_naf(expected))
    stats = _run(mongo_uri, db, plan)
    assert stats["companies"] == 1 and stats["companies_failed"] == 0
    stored = _features(db)
    assert stats["rows"] == stats["documents_written"] == len(stored) == len(expected)
    for doc in expected:
        key = (params["batch"], doc["_id"]["siret"], doc["_id"]["periode"])
        got = stored[key]["value"]
        assert set(got) == set(doc["value"]), key
        for field, value in doc["value"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):  # JSON numbers
                assert not isinstance(got[field], bool) and got[field] == pytest.approx(value, rel=1e-9), (key, field)
            else:
                assert got[field] == value and type(got[field]) is type(value), (key, field)


def test_rerun_replaces_and_other_batches_are_left_alone(mongo_uri, db):
    _define_example_batch(db)
    db[RAW_DATA].insert_many(_rawdata_docs("111111111") + _rawdata_docs("222222222") + _rawdata_docs("333333333"))
    other = {"_id": {"batch": "1912", "siret": "22222222200010", "periode": datetime(2019, 1, 1, tzinfo=UTC)},
             "value": {"siret": "22222222200010"}}
    db[FEATURES].insert_one(other)
    plan = plan_features(db, "2001")
    first = _run(mongo_uri, db, plan, parts=3)
    before = _features(db, batch="2001")
    assert first["companies"] == 3 and first["documents_written"] == len(before)
    assert {k[1][:9] for k in before} == {"111111111", "222222222", "333333333"}
    # The company changes (its first establishment's headcounts vanish), then the run is repeated.
    changed = db[RAW_DATA].find_one({"_id": {"$gte": "222222222", "$lt": "222222222:"}, "value.scope": "etablissement"})
    for entry in changed["value"]["batch"].values():
        entry.pop("effectif", None)
    db[RAW_DATA].replace_one({"_id": changed["_id"]}, changed)
    second = _run(mongo_uri, db, plan, parts=2)
    after = _features(db, batch="2001")
    assert set(after) == set(before) and second["documents_deleted"] == len(before)
    assert db[FEATURES].count_documents({"_id.batch": "2001"}) == len(before)
    changed_rows = [k for k in after if k[1] == changed["_id"]]
    assert changed_rows and all("effectif" not in after[k]["value"] for k in changed_rows)
    assert all(after[k] == before[k] for k in after if k[1][:9] != "222222222")
    assert db[FEATURES].find_one({"_id.batch": "1912"}) == other


def test_chunks_and_ranges_do_not_change_the_result(mongo_uri, db):
    _define_example_batch(db)
    db[RAW_DATA].insert_many([d for s in ("100000001", "100000002", "100000003", "100000004")
                              for d in _rawdata_docs(s)])
    plan = plan_features(db, "2001", chunk_companies=1)
    _run(mongo_uri, db, plan, parts=4)
    small = _features(db)
    db[FEATURES].delete_many({})
    _run(mongo_uri, db, plan_features(db, "2001", chunk_companies=1000), parts=1)
    assert _features(db) == small
    state_docs = [d["value"] for d in _rawdata_docs("100000003")]
    from sf.features.state import company_state_from_rawdata
    pure = to_feature_documents(compute_company_features(company_state_from_rawdata("100000003", state_docs, "2001"),
                                                         list(plan.periods), plan.params), "2001")
    assert {(d["_id"]["siret"], d["_id"]["periode"]): d["value"] for d in pure} == \
        {(k[1], k[2]): v["value"] for k, v in small.items() if k[1].startswith("100000003")}


def test_a_company_with_unusable_records_is_skipped_and_named(mongo_uri, db):
    _define_example_batch(db)
    bad = _rawdata_docs("999999999")
    entry = next(iter(bad[0]["value"]["batch"].values()))
    next(iter(entry["effectif"].values()))["periode"] = "not a date"
    db[RAW_DATA].insert_many(_rawdata_docs() + bad)
    stats = _run(mongo_uri, db, plan_features(db, "2001"), parts=1)
    assert stats["companies"] == 2 and stats["companies_failed"] == 1
    assert list(stats["failed"]) == ["999999999"] and "periode" in stats["failed"]["999999999"]
    assert {k[1][:9] for k in _features(db)} == {SIREN}


def test_group_by_company_keeps_siren_and_sirets_together():
    docs = [{"_id": k, "value": {"key": k}} for k in
            ("111111111", "11111111100011", "11111111100029", "11111111200010", "222222222")]
    assert [(s, [v["key"] for v in vs]) for s, vs in group_by_company(docs)] == [
        ("111111111", ["111111111", "11111111100011", "11111111100029"]),
        ("111111112", ["11111111200010"]), ("222222222", ["222222222"])]


def test_debug_recomputes_one_company_into_features_debug(db):
    _define_example_batch(db)
    db[RAW_DATA].insert_many(_rawdata_docs() + _rawdata_docs("222222222"))
    plan = plan_features(db, "2001", collection=FEATURES_DEBUG)
    siret = _rawdata_docs()[1]["_id"]
    frame, written = compute_company_debug(db, plan, siret)
    assert written == len(frame) == db[FEATURES_DEBUG].count_documents({}) > 0
    assert set(frame["siret"].str[:9]) == {SIREN}
    _, written_again = compute_company_debug(db, plan, SIREN)  # replaces, no duplicates
    assert written_again == written == db[FEATURES_DEBUG].count_documents({})
    assert db[FEATURES].count_documents({}) == 0
    with pytest.raises(UsageError, match="no RawData"):
        compute_company_debug(db, plan, "333333333")
    with pytest.raises(UsageError, match="9-digit SIREN or a 14-digit SIRET"):
        company_key_range("12345")
    assert company_key_range(siret) == KeyRange(SIREN, SIREN + ":")


# --- the whole chain on sf synth data ------------------------------------------------------------

def _synth_chain(tmp_path: Path, mongo_uri: str, db, establishments: int = 60) -> tuple[pd.DataFrame, list[str]]:
    """synth → batch add (per month) → import → compact; returns (truth, batch keys)."""
    from sf.compaction.job import clear_staged, compact_range, plan_compaction
    from sf.importers.delivery import scan_delivery
    from sf.importers.driver import run_batch
    from sf.synth.deliveries import generate

    out = tmp_path / "deliveries"
    summary = generate(out, establishments=establishments, months=24, seed=3, end_batch="2312", broken_rate=0.0,
                       progress=None)
    truth = pd.read_parquet(out / "truth.parquet")
    first_month = truth["periode"].min().date()
    for key in summary.batches:
        scan = scan_delivery(out / key, path_prefix=f"{(out / key).resolve()}/")
        batch = make_batch(key, files=scan.files, complete_types=scan.complete_types, date_debut=first_month)
        save_batch(db, batch)
        result = run_batch(batch, db=db)
        assert not result.fatal_reports, [r.display_path for r in result.fatal_reports]
    plan = plan_compaction(db)
    for key_range in key_ranges([(db["ImportedData"], "value.key")], 2):
        compact_range(mongo_uri, db.name, plan, False, key_range)
    clear_staged(db, plan.staged_batches)
    return truth, summary.batches


def test_end_to_end_on_synthetic_deliveries(tmp_path, mongo_uri, db):
    from sf.engine.connection import Store
    from sf.engine.journal import journal_run
    from sf.engine.settings import load_settings
    from sf.features.job import run_features

    truth, batches = _synth_chain(tmp_path, mongo_uri, db)
    last = batches[-1]
    plan = plan_features(db, last)
    store = Store(client=db.client, db=db, uri=mongo_uri,
                  settings=load_settings().with_overrides(mongodb_uri=mongo_uri, db_name=db.name))
    with journal_run(db, "features", {"until_batch": last}, batch=last) as run:
        summary = run_features(store, run, plan, workers=2, partitions=3, silent=True)
        run.counts = summary.as_dict()
    journal = db[JOURNAL].find_one({"command": "features"})
    assert journal["state"] == "finished" and len(journal["checkpoints"]) == summary.partitions == 3

    features = pd.DataFrame([d["value"] for d in db[FEATURES].find({"_id.batch": last})])
    features["periode"] = pd.to_datetime(features["periode"], utc=True)
    # Every establishment in scope (compacted into RawData) has a row for every month of the batch.
    sirets = {d["_id"] for d in db[RAW_DATA].find({"value.scope": "etablissement"}, {"_id": 1})}
    assert set(features["siret"]) == sirets and len(sirets) > 20
    assert len(features) == len(sirets) * len(plan.periods) == summary.totals["rows"]
    assert not features.duplicated(["siret", "periode"]).any()
    assert summary.totals["companies_failed"] == 0

    # The target is true exactly where the generator placed an opening judgment within 18 months.
    # The engine's label is the company's entry into proceedings (fixed mode, docs/features.md §3.3);
    # the truth gives each receiving establishment's judgment date.
    merged = truth.merge(features[["siret", "periode", "outcome"]], on=["siret", "periode"], how="inner")
    in_scope = truth[truth["siret"].isin(sirets)]
    assert len(merged) == len(in_scope)  # every truth row in scope has its Features row
    judgment = merged["siren"].map(truth.groupby("siren")["procol_date"].min())
    months_ahead = (judgment.dt.year - merged["periode"].dt.year) * 12 + judgment.dt.month - merged["periode"].dt.month
    visible = judgment < features["periode"].max() + pd.DateOffset(months=1)  # delivered by the last batch
    expected = (judgment.notna() & visible & (months_ahead >= 1) & (months_ahead <= 18)).tolist()
    assert merged["outcome"].astype(bool).tolist() == expected
    receiving = merged["procol_date"].notna() & visible
    assert (merged.loc[receiving, "outcome"].astype(bool) == merged.loc[receiving, "outcome_18"]).all()
    assert sum(expected) > 10 and len(expected) - sum(expected) > 100
