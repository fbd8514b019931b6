"""The compaction job against the test database: plan checks, ranges, crash restarts."""

from datetime import UTC, datetime

import pytest

from sf.compaction.job import clear_staged, compact_range, plan_compaction
from sf.compaction.errors import DocumentTooLargeError, UnknownBatchError
from sf.engine.batches import make_batch, save_batch
from sf.engine.errors import UsageError
from sf.engine.partitions import KeyRange, key_ranges, split_sorted_keys

SIRETS = [f"{i:09d}{j:05d}" for i in range(1, 7) for j in (1, 2)]


def _stage(db, batch, keys, effectif_value):
    db["ImportedData"].insert_many([
        {"_id": f"{batch}:{key}", "value": {"key": key, "scope": "etablissement", "batch": {batch: {
            "effectif": {f"h{effectif_value}{key[-1]}": {"periode": datetime(2023, 12, 1, tzinfo=UTC),
                                                          "effectif": effectif_value}},
            "debit": {f"d{batch}": {"numero_compte": "x", "part_ouvriere": 1.5}}}}}}
        for key in keys])


def _define(db, key, complete=("effectif",)):
    save_batch(db, make_batch(key, complete_types=list(complete), date_debut=datetime(2023, 10, 1).date(),
                              check_files=False))


def _run(mongo_uri, db, ranges=None, since=None, dry_run=False, max_bytes=12 * 2**20):
    plan = plan_compaction(db, since, max_bytes)
    ranges = ranges or key_ranges([(db["ImportedData"], "value.key")], 3)
    stats = [compact_range(mongo_uri, db.name, plan, dry_run, r) for r in ranges]
    if not dry_run:
        clear_staged(db, plan.staged_batches)
    return stats


def _rawdata(db):
    return {d["_id"]: d for d in db["RawData"].find()}


def test_month_by_month_equals_all_at_once_and_uses_the_incremental_path(mongo_uri, db):
    for batch in ("2401", "2402", "2403"):
        _define(db, batch)
    _stage(db, "2401", SIRETS, 5)
    first = _run(mongo_uri, db)
    assert sum(s["created"] for s in first) == len(SIRETS)
    _stage(db, "2402", SIRETS[:6], 6)
    _stage(db, "2403", SIRETS, 6)
    stats = _run(mongo_uri, db)
    assert sum(s["incremental"] for s in stats) == len(SIRETS) and sum(s["whole_document"] for s in stats) == 0
    month_by_month = _rawdata(db)
    assert db["ImportedData"].count_documents({}) == 0

    db["RawData"].delete_many({})
    for batch, keys, value in (("2401", SIRETS, 5), ("2402", SIRETS[:6], 6), ("2403", SIRETS, 6)):
        _stage(db, batch, keys, value)
    _run(mongo_uri, db)
    assert _rawdata(db) == month_by_month
    doc = month_by_month[SIRETS[-1]]
    assert set(doc["value"]["batch"]) == {"2401", "2403"}  # absent from 2402, back in 2403
    assert doc["value"]["index"]["algo2"] is True


def test_unknown_batch_is_refused_before_writing(mongo_uri, db):
    _define(db, "2401")
    _stage(db, "2401", SIRETS[:2], 5)
    _stage(db, "2413_x", SIRETS[:2], 5)
    with pytest.raises(UnknownBatchError, match="2413_x"):
        plan_compaction(db)
    assert db["RawData"].count_documents({}) == 0


def test_crash_after_one_range_then_rerun_gives_the_uninterrupted_result(mongo_uri, db):
    for batch in ("2401", "2402"):
        _define(db, batch)
    _stage(db, "2401", SIRETS, 5)
    _run(mongo_uri, db)
    _stage(db, "2402", SIRETS[:8], 7)
    ranges = split_sorted_keys(SIRETS, 3)
    # "crash": only the first range is written, ImportedData is not cleared
    plan = plan_compaction(db)
    compact_range(mongo_uri, db.name, plan, False, ranges[0])
    stats = _run(mongo_uri, db, ranges=ranges)
    assert sum(s["whole_document"] for s in stats) > 0  # the already-written range is recomputed whole
    after_crash = _rawdata(db)

    db["RawData"].delete_many({})
    _stage(db, "2401", SIRETS, 5)
    _run(mongo_uri, db)
    _stage(db, "2402", SIRETS[:8], 7)
    _run(mongo_uri, db)
    assert after_crash == _rawdata(db)


def test_compacting_again_changes_nothing(mongo_uri, db):
    _define(db, "2401")
    _stage(db, "2401", SIRETS, 5)
    _run(mongo_uri, db)
    before = _rawdata(db)
    _stage(db, "2401", SIRETS, 5)  # the same delivery imported again
    stats = _run(mongo_uri, db)
    assert sum(s["unchanged"] for s in stats) == len(SIRETS) and sum(s["changed"] for s in stats) == 0
    assert _rawdata(db) == before


def test_dry_run_writes_nothing(mongo_uri, db):
    _define(db, "2401")
    _stage(db, "2401", SIRETS, 5)
    stats = _run(mongo_uri, db, dry_run=True)
    assert sum(s["created"] for s in stats) == len(SIRETS)
    assert db["RawData"].count_documents({}) == 0 and db["ImportedData"].count_documents({}) == len(SIRETS)


def test_size_guard_fails_the_range_naming_the_key_and_writes_nothing_of_it(mongo_uri, db):
    _define(db, "2401")
    _stage(db, "2401", SIRETS, 5)
    plan = plan_compaction(db, None, 400)
    with pytest.raises(DocumentTooLargeError, match=SIRETS[0]):
        compact_range(mongo_uri, db.name, plan, False, KeyRange(None, None))
    assert db["RawData"].count_documents({}) == 0


def test_since_batch_requires_reimport_then_recomputes(mongo_uri, db):
    for batch in ("2401", "2402"):
        _define(db, batch)
    _stage(db, "2401", SIRETS, 5)
    _stage(db, "2402", SIRETS, 6)
    _run(mongo_uri, db)
    reference = _rawdata(db)
    with pytest.raises(UsageError, match="2402"):
        plan_compaction(db, "2402")
    _stage(db, "2402", SIRETS, 6)
    _run(mongo_uri, db, since="2402")
    assert _rawdata(db) == reference
