"""`sf purge`: removing batches ≥ K from RawData (pure function and job against the test database).

The original (docs/compaction.md §4.1) removed the entries ≥ K and kept the document, even empty, without
recomputing index.algo2. Here the document after a purge must be exactly the document the
remaining deliveries would have produced (state, state_batch, algo2, reporder recomputed; no
entry left → no document), so that re-importing and compacting the purged batches gives back
the RawData from before the purge.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sf.compaction import BatchInfo, compact_entity, live_state_of
from sf.compaction.errors import UnknownBatchError
from sf.compaction.job import clear_staged, compact_range, plan_compaction
from sf.compaction.purge import key_prefix_range, purge_entity, purge_range
from sf.engine.batches import make_batch, save_batch
from sf.engine.errors import UsageError
from sf.engine.partitions import KeyRange, split_sorted_keys

BATCHES = ("2401", "2402", "2402_1", "2403")
TYPES = ("effectif", "debit", "apconso")
SIRET = "01234567891011"


def _infos(complete: dict[str, frozenset[str]]) -> dict[str, BatchInfo]:
    return {b: BatchInfo(complete_types=complete.get(b, frozenset()),
                         serie_periode=(datetime(2023, 12, 1, tzinfo=UTC), datetime(2024, 1 + i, 1, tzinfo=UTC)))
            for i, b in enumerate(BATCHES)}


def _value(batch: str, types: dict[str, set[str]], key: str = SIRET) -> dict:
    scope = "etablissement" if len(key) == 14 else "entreprise"
    return {"key": key, "scope": scope, "batch": {batch: {
        t: {h: {"numero_compte": "1", "n": h} for h in sorted(hashes)} for t, hashes in types.items()}}}


deliveries_strategy = st.dictionaries(
    st.sampled_from(BATCHES),
    st.dictionaries(st.sampled_from(TYPES), st.sets(st.sampled_from(["a1", "b2", "c3", "d4"]), max_size=3), max_size=3),
    min_size=1)
complete_strategy = st.dictionaries(st.sampled_from(BATCHES), st.frozensets(st.sampled_from(TYPES), max_size=2))


@settings(max_examples=150, deadline=None)
@given(deliveries=deliveries_strategy, complete=complete_strategy, since=st.sampled_from(BATCHES),
       scope_key=st.sampled_from([SIRET, "012345678"]))
def test_purge_gives_the_document_of_the_earlier_deliveries_and_recompaction_restores_it(deliveries, complete,
                                                                                         since, scope_key):
    infos = _infos(complete)
    values = [_value(b, types, scope_key) for b, types in sorted(deliveries.items())]
    full = compact_entity(None, values, infos)
    assume(full is not None)  # an entreprise delivered with no record has no document
    purged, removed = purge_entity(full, since, infos)
    assert removed == sorted(b for b in full["value"]["batch"] if b >= since)

    earlier = [v for v in values if min(v["batch"]) < since]
    expected = compact_entity(None, earlier, infos) if earlier else None
    assert purged == expected  # state, state_batch, algo2 and reporder as if the later batches never came
    if purged is not None:
        assert purged["value"]["state"] == live_state_of(purged["value"])
        assert all(b < since for b in purged["value"]["batch"])

    later = [v for v in values if min(v["batch"]) >= since]
    restored = compact_entity(purged, later, infos) if later else purged
    assert restored == full  # re-import + compact after the purge gives back the RawData before it

    again, removed_again = purge_entity(purged, since, infos) if purged is not None else (None, [])
    assert again == purged and removed_again == []  # purging again changes nothing


def test_effectif_only_in_purged_batches_clears_algo2_and_an_emptied_entity_is_deleted():
    infos = _infos({})
    doc = compact_entity(None, [_value("2401", {"debit": {"a1"}}), _value("2402", {"effectif": {"e1"}})], infos)
    assert doc["value"]["index"]["algo2"] is True
    purged, _ = purge_entity(doc, "2402", infos)
    assert purged["value"]["index"]["algo2"] is False and purged["value"]["state_batch"] == "2401"
    assert set(purged["value"]["state"]) == {"debit", "reporder"}
    assert purge_entity(doc, "2401", infos) == (None, ["2401", "2402"])


def test_legacy_document_without_state_is_brought_to_our_shape():
    legacy = {"_id": "000000001", "value": {"key": "000000001", "scope": "entreprise", "batch": {
        "1812": {"bdf": {"h1": {"annee_bdf": 2018}}}, "1901": {"bdf": {"h2": {"annee_bdf": 2019}}}},
        "index": {"algo2": True}}}
    purged, removed = purge_entity(legacy, "1901")
    assert removed == ["1901"]
    assert purged["value"]["state"] == {"bdf": ["h1"]} and purged["value"]["state_batch"] == "1812"


def test_key_prefix_range_selects_a_company_or_one_establishment():
    company = key_prefix_range("012345678")
    assert company.contains("012345678") and company.contains("01234567899999")
    assert not company.contains("012345679") and not company.contains("01234567")
    assert key_prefix_range(SIRET).contains(SIRET) and not key_prefix_range(SIRET).contains("01234567891012")
    with pytest.raises(UsageError, match="SIREN"):
        key_prefix_range("1234")


# --- against the test database -----------------------------------------------------------------

SIRETS = [f"{i:09d}{j:05d}" for i in range(1, 6) for j in (1, 2)]


def _define(db, key):
    save_batch(db, make_batch(key, complete_types=["effectif"], date_debut=datetime(2023, 11, 1).date(),
                              check_files=False))


def _stage(db, batch, keys, n):
    db["ImportedData"].insert_many([{"_id": f"{batch}:{key}", "value": _value(batch, {
        "effectif": {f"e{n}"}, "debit": {f"d{batch}"}}, key)} for key in keys])


def _compact(mongo_uri, db):
    plan = plan_compaction(db)
    for key_range in split_sorted_keys(SIRETS, 2):
        compact_range(mongo_uri, db.name, plan, False, key_range)
    clear_staged(db, plan.staged_batches)


def _rawdata(db):
    return {d["_id"]: d for d in db["RawData"].find()}


def _infos_of(db):
    return plan_compaction(db).batches


def _fill(mongo_uri, db):
    for batch in ("2401", "2402", "2403"):
        _define(db, batch)
    _stage(db, "2401", SIRETS[:8], 1)
    _compact(mongo_uri, db)
    _stage(db, "2402", SIRETS, 2)      # SIRETS[8:] appear in 2402: purging ≥ 2402 deletes them
    _stage(db, "2403", SIRETS[:4], 3)
    _compact(mongo_uri, db)


def test_purge_then_reimport_and_compact_restores_rawdata(mongo_uri, db):
    _fill(mongo_uri, db)
    before = _rawdata(db)
    stats = purge_range(mongo_uri, db.name, "2402", _infos_of(db), False, KeyRange(None, None))
    assert stats["deleted"] == 2 and stats["rewritten"] == 8
    assert stats["entries_removed"] == {"2402": 10, "2403": 4}
    after = _rawdata(db)
    assert set(after) == set(SIRETS[:8])
    assert all(set(d["value"]["batch"]) == {"2401"} and d["value"]["state_batch"] == "2401" for d in after.values())

    _stage(db, "2402", SIRETS, 2)
    _stage(db, "2403", SIRETS[:4], 3)
    _compact(mongo_uri, db)
    assert _rawdata(db) == before


def test_purge_is_restartable_and_a_second_purge_is_a_no_op(mongo_uri, db):
    _fill(mongo_uri, db)
    infos = _infos_of(db)
    ranges = split_sorted_keys(SIRETS, 3)
    purge_range(mongo_uri, db.name, "2403", infos, False, ranges[0])  # killed after the first range
    for key_range in ranges:
        purge_range(mongo_uri, db.name, "2403", infos, False, key_range)
    interrupted = _rawdata(db)
    again = purge_range(mongo_uri, db.name, "2403", infos, False, KeyRange(None, None))
    assert again["documents_read"] == 0 and _rawdata(db) == interrupted

    db["RawData"].delete_many({})
    db["Admin"].delete_many({})
    _fill(mongo_uri, db)
    purge_range(mongo_uri, db.name, "2403", infos, False, KeyRange(None, None))
    assert _rawdata(db) == interrupted


def test_purge_of_one_company_and_dry_run(mongo_uri, db):
    _fill(mongo_uri, db)
    before = _rawdata(db)
    dry = purge_range(mongo_uri, db.name, "2402", _infos_of(db), True, KeyRange(None, None))
    assert dry["rewritten"] == 8 and _rawdata(db) == before
    purge_range(mongo_uri, db.name, "2402", _infos_of(db), False, key_prefix_range(SIRETS[0][:9]))
    after = _rawdata(db)
    assert {k for k in after if after[k] != before[k]} == set(SIRETS[:2])


def test_unknown_batch_is_refused_before_anything_is_removed(mongo_uri, db):
    from sf.compaction.purge import check_since_batch

    _fill(mongo_uri, db)
    with pytest.raises(UnknownBatchError, match="2499"):
        check_since_batch(db, "2499")
    assert set(check_since_batch(db, "2402")) == {"2401", "2402", "2403"}
