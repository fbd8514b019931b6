"""The compaction test vectors of docs/compaction.md §3.7 (T1–T16, finalize cases).

Each test quotes what the original did (opensignauxfaibles@990c4d74, `js/compact/*`); where we
deliberately differ (T9's since-batch precondition, T10, T11d, T11e, T12, T15, T16) the
docstring says what we do and why. Records are `{"h": <hash>}`; hashes are short strings as in
the docs. `compact.delete` lists are compared as sets (docs/compaction.md §3.9).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from sf.compaction import (
    BatchInfo,
    NotReimportedError,
    UnknownBatchError,
    compact_entity,
    finalize,
    live_state_of,
    rebuild_state,
    reporder_value,
    serie_periode,
)

SIRET = "01234567891011"
SIREN = "000000001"


def recs(*hashes: str) -> dict[str, dict[str, str]]:
    return {h: {"h": h} for h in hashes}


def imported(batch: dict[str, Any], key: str = SIRET, scope: str = "etablissement") -> dict[str, Any]:
    return {"key": key, "scope": scope, "batch": batch}


def rawdata(batch: dict[str, Any], key: str = SIRET, scope: str = "etablissement") -> dict[str, Any]:
    return {"_id": key, "value": {"key": key, "scope": scope, "batch": batch}}


def admin(keys: list[str], complete: dict[str, list[str]] | None = None, **policies: str) -> dict[str, BatchInfo]:
    complete = complete or {}
    return {k: BatchInfo(complete_types=frozenset(complete.get(k, [])),
                         stock_absent=policies.get(f"b{k}", "keep")) for k in keys}


def comparable(batch: dict[str, Any]) -> dict[str, Any]:
    """Batch entries with compact.delete lists as sets."""
    out: dict[str, Any] = {}
    for key, entry in batch.items():
        entry = dict(entry)
        if "compact" in entry:
            entry["compact"] = {"delete": {t: set(h) for t, h in entry["compact"]["delete"].items()}}
        out[key] = entry
    return out


def delete(**types: list[str]) -> dict[str, Any]:
    return {"compact": {"delete": {t: set(h) for t, h in types.items()}}}


def check_state_invariant(doc: dict[str, Any]) -> None:
    """The stored live state is the one rebuilt from the entries; state_batch is the last entry."""
    value = doc["value"]
    assert value["state"] == live_state_of(value)
    assert value["state_batch"] == max(value["batch"])


# --- From the official tests (js/compact/*_tests.ts) -------------------------------------------


def test_T1_complete_type_deletion():
    """Original (reduce Exemple1): 1901 {a,b} then stock 1902 {a,c} gives
    1902: {apconso:{c}, compact.delete.apconso: [b]}."""
    batches = admin(["1901", "1902"], {"1902": ["apconso"]})
    doc = compact_entity(rawdata({"1901": {"apconso": recs("a", "b")}}),
                         [imported({"1902": {"apconso": recs("a", "c")}})], batches, since_batch="1902")
    assert comparable(doc["value"]["batch"]) == {
        "1901": {"apconso": recs("a", "b")},
        "1902": {"apconso": recs("c"), **delete(apconso=["b"])},
    }
    check_state_invariant(doc)


def test_T2_order_independence():
    """Original (Exemple2): T1 with the values swapped gives the same result. Here both batches
    come from ImportedData in one run; the order of the values does not matter."""
    batches = admin(["1901", "1902"], {"1902": ["apconso"]})
    first = imported({"1901": {"apconso": recs("a", "b")}})
    second = imported({"1902": {"apconso": recs("a", "c")}})
    one = compact_entity(None, [first, second], batches)
    other = compact_entity(None, [second, first], batches)
    assert one == other
    assert comparable(one["value"]["batch"]) == {
        "1901": {"apconso": recs("a", "b")},
        "1902": {"apconso": recs("c"), **delete(apconso=["b"])},
    }


def test_T3_insert_batch_between_existing_ones():
    """Original (Exemple3): RawData 1812 {deleteme}, 1902 {a,c} - deleteme; inserting stock 1901
    {a,b} with --since-batch 1901 gives 1901: {a,b} - deleteme, 1902: {c} - b.
    We recompute 1902 from its delivery, so the run must re-import it (the stock {a,c}); the
    result is the original's."""
    batches = admin(["1812", "1901", "1902"], {"1901": ["apconso"], "1902": ["apconso"]})
    stored = rawdata({"1812": {"apconso": recs("deleteme")},
                      "1902": {"apconso": recs("a", "c"), "compact": {"delete": {"apconso": ["deleteme"]}}}})
    doc = compact_entity(stored, [imported({"1901": {"apconso": recs("a", "b")}}),
                                  imported({"1902": {"apconso": recs("a", "c")}})], batches, since_batch="1901")
    assert comparable(doc["value"]["batch"]) == {
        "1812": {"apconso": recs("deleteme")},
        "1901": {"apconso": recs("a", "b"), **delete(apconso=["deleteme"])},
        "1902": {"apconso": recs("c"), **delete(apconso=["b"])},
    }
    check_state_invariant(doc)


def test_T4_readded_after_removal_batch_disappears():
    """Original (Exemple4/5): RawData 1812 {deleteme}, 1901 - deleteme; re-importing stock 1901
    {deleteme} makes batch 1901 disappear: {"1812": {apconso: {deleteme}}}."""
    batches = admin(["1812", "1901"], {"1901": ["apconso"]})
    stored = rawdata({"1812": {"apconso": recs("deleteme")},
                      "1901": {"compact": {"delete": {"apconso": ["deleteme"]}}}})
    doc = compact_entity(stored, [imported({"1901": {"apconso": recs("deleteme")}})], batches, since_batch="1901")
    assert doc["value"]["batch"] == {"1812": {"apconso": recs("deleteme")}}
    check_state_invariant(doc)


def test_T5_single_batch_plain_union():
    """Original (Exemple6): two values of batch 1901 with different types give their union."""
    doc = compact_entity(None, [imported({"1901": {"apconso": recs("uneconso")}}),
                                imported({"1901": {"apdemande": recs("unedemande")}})], admin(["1901"]))
    assert doc["value"]["batch"] == {"1901": {"apconso": recs("uneconso"), "apdemande": recs("unedemande")}}


def test_T6_two_imported_docs_same_batch_keep_both_hashes():
    """Original regression #215/#217: cotisation {hash1} + cotisation {hash2} in two ImportedData
    documents of the same batch keeps both hashes (before the fix only the last survived)."""
    doc = compact_entity(None, [imported({"1901": {"cotisation": recs("hash1")}}),
                                imported({"1901": {"cotisation": recs("hash2")}})], admin(["1901"]))
    assert sorted(doc["value"]["batch"]["1901"]["cotisation"]) == ["hash1", "hash2"]


def test_T7_undefined_type_entry_does_not_crash():
    """Original (#251): merging {"2009": {cotisation: undefined}} into RawData {"2007": {}} with
    --since-batch 2008 must not throw. A null type holds no record; the entity is still delivered
    in 2009, which brings nothing, so no 2009 entry; the empty 2007 entry is kept as stored."""
    batches = admin(["2007", "2008", "2009"])
    doc = compact_entity(rawdata({"2007": {}}), [imported({"2009": {"cotisation": None}})], batches,
                         since_batch="2008")
    assert doc["value"]["batch"] == {"2007": {}}
    assert doc["value"]["state"] == {}


def test_T8_three_batches_two_freshly_imported():
    """Original (#248 regression): RawData 1910_6 {a} + imported 2011_0_urssaf {b} and
    2011_1_sirene {c}, no complete types, keeps all three batches unchanged (it used to crash)."""
    batches = admin(["1910_6", "2011_0_urssaf", "2011_1_sirene"])
    doc = compact_entity(rawdata({"1910_6": {"apconso": recs("a")}}),
                         [imported({"2011_0_urssaf": {"apconso": recs("b")}, "2011_1_sirene": {"apconso": recs("c")}})],
                         batches, since_batch="2011_0_urssaf")
    assert doc["value"]["batch"] == {"1910_6": {"apconso": recs("a")}, "2011_0_urssaf": {"apconso": recs("b")},
                                     "2011_1_sirene": {"apconso": recs("c")}}


# --- Finalize cases (finalize_tests.ts; serie_periode = [2014-01-01, 2015-01-01]) ----------------

JAN14 = datetime(2014, 1, 1, tzinfo=UTC)
JAN15 = datetime(2015, 1, 1, tzinfo=UTC)
SERIE = [JAN14, JAN15]


def reporder(*months: datetime, key: str | None = None) -> dict[str, Any]:
    return {(key or m.strftime("%Y-%m-%d")): {"periode": m, "siret": SIRET, "random_order": reporder_value(SIRET, m)}
            for m in months}


def etab(batch: dict[str, Any]) -> dict[str, Any]:
    return {"key": SIRET, "scope": "etablissement", "batch": batch}


def test_finalize_F_a_reporder_added_to_last_batch():
    """Original: etablissement without effectif: reporder for both months is added to the last
    batch "1902"; algo2 false."""
    out = finalize(etab({"1901": {"apconso": recs("a")}, "1902": {"apconso": recs("b")}}), SERIE)
    assert out["index"] == {"algo2": False}
    assert out["batch"]["1901"] == {"apconso": recs("a")}
    assert out["batch"]["1902"] == {"apconso": recs("b"), "reporder": reporder(JAN14, JAN15)}


def test_finalize_F_b_months_present_nothing_added():
    """Original: reporder for both months already in "1901": nothing added; effectif present in
    1901 so algo2 true. One entry carries a legacy JavaScript date-string key: months are
    compared by periode, so it counts."""
    legacy = reporder(JAN14, key="Wed Jan 01 2014 00:00:00 GMT+0000 (UTC)")
    value = etab({"1901": {"effectif": recs("e"), "reporder": {**legacy, **reporder(JAN15)}}, "1902": {}})
    out = finalize(value, SERIE)
    assert out["index"] == {"algo2": True}
    assert out["batch"] == value["batch"]


def test_finalize_F_c_missing_month_added_to_last_batch():
    """Original: only 2014-01 present in "1901", so 2015-01 is added to "1902"."""
    out = finalize(etab({"1901": {"reporder": reporder(JAN14)}, "1902": {}}), SERIE)
    assert out["batch"] == {"1901": {"reporder": reporder(JAN14)}, "1902": {"reporder": reporder(JAN15)}}


def test_finalize_F_d_last_in_string_order():
    """Original: batches "1901_1repeatable" (reporder 2015-01), "1901_2other", "1902": 2014-01 is
    added to "1902", the last in string order."""
    out = finalize(etab({"1901_1repeatable": {"reporder": reporder(JAN15)}, "1901_2other": {}, "1902": {}}), SERIE)
    assert out["batch"]["1902"] == {"reporder": reporder(JAN14)}
    assert out["batch"]["1901_1repeatable"] == {"reporder": reporder(JAN15)}
    assert out["batch"]["1901_2other"] == {}


def test_finalize_F_e_later_duplicate_period_deleted():
    """Original: a duplicate period in a later batch is deleted: "1902" loses its 2014-01 entry
    and keeps 2015-01."""
    out = finalize(etab({"1901": {"reporder": reporder(JAN14)}, "1902": {"reporder": reporder(JAN14, JAN15)}}), SERIE)
    assert out["batch"] == {"1901": {"reporder": reporder(JAN14)}, "1902": {"reporder": reporder(JAN15)}}


def test_finalize_F_f_entreprise():
    """Original: entreprise: algo2 true and no reporder."""
    value = {"key": SIREN, "scope": "entreprise", "batch": {"1901": {"apconso": recs("a")}}}
    out = finalize(value, SERIE)
    assert out["index"] == {"algo2": True}
    assert out["batch"] == value["batch"]


def test_finalize_is_deterministic_and_does_not_modify_its_input():
    """Ours: random_order is a hash of (siret, month), so finalizing twice gives equal values."""
    value = etab({"1901": {}})
    before = copy.deepcopy(value)
    assert finalize(value, SERIE) == finalize(value, SERIE)
    assert value == before


def test_new_entity_e2e_test_sh():
    """Original e2e (tests/test.sh, test.golden.txt): Admin 1910 with date_debut 2014-01-01,
    date_fin 2019-10-01; ImportedData {key: 01234567891011, batch: {"1910": {}}, index:
    {algo2: true}}. RawData gets batch.1910.reporder with 69 entries (2014-01 … 2019-09), each
    {periode, siret, random_order}, and index.algo2 false (the incoming true is overwritten).
    Ours: the same, keyed by ISO month instead of the server's Date.toString()."""
    info = BatchInfo(serie_periode=serie_periode(JAN14, datetime(2019, 10, 1, tzinfo=UTC)))
    value = {"key": SIRET, "scope": "etablissement", "batch": {"1910": {}}, "index": {"algo2": True}}
    doc = compact_entity(None, [value], {"1910": info})
    assert list(doc["value"]["batch"]) == ["1910"]
    entries = doc["value"]["batch"]["1910"]["reporder"]
    assert len(entries) == 69
    assert [*entries][::68] == ["2014-01-01", "2019-09-01"]
    assert entries["2014-01-01"] == {"periode": JAN14, "siret": SIRET, "random_order": reporder_value(SIRET, JAN14)}
    assert doc["value"]["index"] == {"algo2": False}
    check_state_invariant(doc)


# --- Derived vectors (executing the compiled original functions, docs/compaction.md §3.7) --------------------


def test_T9_data_for_a_batch_older_than_since_batch_is_merged_as_is():
    """Original: RawData {2001: bdf {h1}, 2002: bdf {h2}} + ImportedData {2001: bdf {h9}} with
    --since-batch 2002 gives {2001: {h1, h9}, 2002: {h2}}: the old batch is merged naively, with
    no deduplication against earlier batches.
    Ours: the same merge (below with since-batch 2003, after every stored batch). With the
    literal since-batch 2002 we refuse: stored batch 2002 ≥ since-batch would have to be
    recomputed and is not re-imported (see T15 for why a stored diff cannot stand in for it)."""
    batches = admin(["2001", "2002", "2003"])
    stored = rawdata({"2001": {"bdf": recs("h1")}, "2002": {"bdf": recs("h2")}})
    doc = compact_entity(stored, [imported({"2001": {"bdf": recs("h9")}})], batches, since_batch="2003")
    assert doc["value"]["batch"] == {"2001": {"bdf": recs("h1", "h9")}, "2002": {"bdf": recs("h2")}}
    check_state_invariant(doc)
    with pytest.raises(NotReimportedError, match="2002"):
        compact_entity(stored, [imported({"2001": {"bdf": recs("h9")}})], batches, since_batch="2002")


def test_T10_batch_unknown_to_admin_is_an_error():
    """Original: RawData {2001: bdf {h1}} + ImportedData {2099: bdf {h3}}, Admin [2001, 2002],
    --since-batch 2002 gives {2001: bdf {h1}}: the 2099 data is silently dropped.
    Ours: UnknownBatchError naming the batch and the entity; nothing is produced and the inputs
    are untouched, so the shell writes nothing."""
    stored = rawdata({"2001": {"bdf": recs("h1")}})
    values = [imported({"2099": {"bdf": recs("h3")}})]
    before = copy.deepcopy((stored, values))
    with pytest.raises(UnknownBatchError) as error:
        compact_entity(stored, values, admin(["2001", "2002"]), since_batch="2002")
    assert error.value.batch_key == "2099" and error.value.entity_key == SIRET
    assert "2099" in str(error.value) and SIRET in str(error.value)
    assert (stored, values) == before
    with pytest.raises(UnknownBatchError, match="2099"):
        compact_entity(stored, [], admin(["2001", "2002"]), run_batches=["2099"])


def test_T11_batch_that_brings_nothing_new_leaves_no_entry():
    """Original: flux {2002: bdf {h1}} over {2001: bdf {h1}} gives no 2002 entry; the same for a
    stock re-delivered identically."""
    stored = rawdata({"2001": {"bdf": recs("h1")}})
    for complete in ({}, {"2002": ["bdf"]}):
        doc = compact_entity(stored, [imported({"2002": {"bdf": recs("h1")}})], admin(["2001", "2002"], complete))
        assert doc["value"]["batch"] == {"2001": {"bdf": recs("h1")}}


def test_T11b_complete_type_absent_from_present_entity_is_deleted():
    """Original: RawData {2001: bdf {h1, h2}, paydex {p1}} + {2002: paydex {p2}} with bdf
    complete in 2002 gives 2002: {paydex {p2}, compact.delete.bdf [h1, h2]}."""
    stored = rawdata({"2001": {"bdf": recs("h1", "h2"), "paydex": recs("p1")}}, SIREN, "entreprise")
    doc = compact_entity(stored, [imported({"2002": {"paydex": recs("p2")}}, SIREN, "entreprise")],
                         admin(["2001", "2002"], {"2002": ["bdf"]}))
    assert comparable(doc["value"]["batch"])["2002"] == {"paydex": recs("p2"), **delete(bdf=["h1", "h2"])}
    assert doc["value"]["state"] == {"paydex": ["p1", "p2"]}


def test_T11c_complete_type_with_empty_memory_records_no_deletion():
    """Original: {2001: paydex {p1}} + {2002: bdf {h1}} (bdf complete) gives 2002: {bdf {h1}}."""
    stored = rawdata({"2001": {"paydex": recs("p1")}}, SIREN, "entreprise")
    doc = compact_entity(stored, [imported({"2002": {"bdf": recs("h1")}}, SIREN, "entreprise")],
                         admin(["2001", "2002"], {"2002": ["bdf"]}))
    assert doc["value"]["batch"]["2002"] == {"bdf": recs("h1")}


def test_T11d_entity_absent_from_stock_delivery_keep_policy():
    """Original: an entity absent from ImportedData is untouched even if the batch declares
    complete types. Ours, policy "keep" (the default): the same — visiting it changes nothing."""
    stored = compact_entity(None, [imported({"2001": {"bdf": recs("h1"), "paydex": recs("p1")}})], admin(["2001"]))
    doc = compact_entity(stored, [], admin(["2001", "2002"], {"2002": ["bdf"]}), run_batches=["2002"])
    assert doc == stored


def test_T11d_entity_absent_from_stock_delivery_delete_policy():
    """Original: as above (stock deletions never reach absent entities, docs/compaction.md §5.2 e).
    Ours, policy "delete", chosen per batch: absence from a stock is information, so every live
    record of each complete type is deleted; flux types are untouched."""
    stored = compact_entity(None, [imported({"2001": {"bdf": recs("h1", "h2"), "paydex": recs("p1")}})],
                            admin(["2001"]))
    batches = admin(["2001", "2002"], {"2002": ["bdf"]}, b2002="delete")
    doc = compact_entity(stored, [], batches, run_batches=["2002"])
    assert comparable(doc["value"]["batch"])["2002"] == delete(bdf=["h1", "h2"])
    assert doc["value"]["state"]["paydex"] == ["p1"] and "bdf" not in doc["value"]["state"]
    check_state_invariant(doc)


def test_T11d_delete_policy_touches_the_entity_so_it_gets_the_batch_months():
    """Ours: an etablissement changed by a "delete" stock it is absent from is touched by that
    batch like a delivered one, so the batch's new reporder months go to its deletion entry."""
    jan, feb = datetime(2014, 1, 1, tzinfo=UTC), datetime(2014, 2, 1, tzinfo=UTC)
    batches = {"2001": BatchInfo(serie_periode=(jan,)),
               "2002": BatchInfo(complete_types=frozenset({"bdf"}), stock_absent="delete", serie_periode=(jan, feb))}
    stored = compact_entity(None, [imported({"2001": {"bdf": recs("h1")}})], batches)
    doc = compact_entity(stored, [], batches, run_batches=["2002"])
    assert comparable(doc["value"]["batch"])["2002"] == {**delete(bdf=["h1"]), "reporder": reporder(feb)}
    check_state_invariant(doc)


def test_T11e_reimporting_a_compacted_batch_replaces_it():
    """Original: re-importing batch 2001 (bdf complete) over RawData {2001: bdf {hOLD}} is
    additive: {hNEW, hOLD}; a corrected stock needed `purge --since-batch` first.
    Ours: a batch ≥ since-batch is recomputed from this run's delivery, so the re-import replaces
    it: {hNEW}. (Imported data for a batch < since-batch is still merged additively, T9.)"""
    stored = compact_entity(None, [imported({"2001": {"bdf": recs("hOLD")}})], admin(["2001"], {"2001": ["bdf"]}))
    doc = compact_entity(stored, [imported({"2001": {"bdf": recs("hNEW")}})], admin(["2001"], {"2001": ["bdf"]}))
    assert doc["value"]["batch"] == {"2001": {"bdf": recs("hNEW")}}


def test_T12_no_stale_delete_for_non_stock_type():
    """Original: T4's data with completeTypes {"1901": []} gives 1901: {compact.delete.apconso:
    [deleteme]} while memory keeps deleteme: compaction memory and flatten() disagree.
    Ours: stored batch 1901 is recomputed from its delivery, a flux never deletes, so 1901
    brings nothing and disappears; the state rebuilt from RawData keeps deleteme."""
    batches = admin(["1812", "1901"])
    stored = rawdata({"1812": {"apconso": recs("deleteme")},
                      "1901": {"compact": {"delete": {"apconso": ["deleteme"]}}}})
    doc = compact_entity(stored, [imported({"1901": {"apconso": recs("deleteme")}})], batches, since_batch="1901")
    assert doc["value"]["batch"] == {"1812": {"apconso": recs("deleteme")}}
    assert rebuild_state(doc["value"]) == {"apconso": recs("deleteme")}
    check_state_invariant(doc)


def test_T13_algo2_is_sticky():
    """Original: effectif e1 in 2001, deleted by the 2002 effectif stock, still gives algo2 true."""
    batches = admin(["2001", "2002"], {"2002": ["effectif"]})
    doc = compact_entity(None, [imported({"2001": {"effectif": recs("e1")}}),
                                imported({"2002": {"apconso": recs("a")}})], batches)
    assert comparable(doc["value"]["batch"])["2002"] == {"apconso": recs("a"), **delete(effectif=["e1"])}
    assert "effectif" not in doc["value"]["state"]
    assert doc["value"]["index"] == {"algo2": True}


def test_T14_reporder_across_compactions():
    """Original: the first compaction of a new etablissement adds all months to its batch; a later
    batch whose serie_periode adds one month keeps the old values and receives only the new month.
    Ours: the same placement (each batch with its own serie_periode), values from the hash."""
    batches = {"2001": BatchInfo(serie_periode=(JAN14, datetime(2014, 2, 1, tzinfo=UTC))),
               "2002": BatchInfo(serie_periode=(JAN14, datetime(2014, 2, 1, tzinfo=UTC),
                                                datetime(2014, 3, 1, tzinfo=UTC)))}
    first = compact_entity(None, [imported({"2001": {"apconso": recs("a")}})], batches)
    assert list(first["value"]["batch"]["2001"]["reporder"]) == ["2014-01-01", "2014-02-01"]
    second = compact_entity(first, [imported({"2002": {"apconso": recs("b")}})], batches)
    assert second["value"]["batch"]["2001"] == first["value"]["batch"]["2001"]
    assert list(second["value"]["batch"]["2002"]["reporder"]) == ["2014-03-01"]
    assert second["value"]["state"]["reporder"] == ["2014-01-01", "2014-02-01", "2014-03-01"]
    check_state_invariant(second)


def test_T15_recompacting_stock_batches_is_not_lossy():
    """Original (bug): 1812 {deleteme, a}; stock 1902 {a, c} compacted gives 1902: {c} -
    deleteme; inserting stock 1901 {a, b} with --since-batch 1901 then re-diffs the stored 1902
    diff and gives 1902: {c} - [a, b]: `a` is wrongly deleted although the 1902 stock held it.
    Ours: recomputing needs the 1902 delivery, re-imported; `a` stays. Without the re-import
    we refuse instead of guessing."""
    batches = admin(["1812", "1901", "1902"], {"1901": ["apconso"], "1902": ["apconso"]})
    stored = compact_entity(None, [imported({"1812": {"apconso": recs("deleteme", "a")}})], batches)
    stored = compact_entity(stored, [imported({"1902": {"apconso": recs("a", "c")}})], batches)
    assert comparable(stored["value"]["batch"])["1902"] == {"apconso": recs("c"), **delete(apconso=["deleteme"])}
    doc = compact_entity(stored, [imported({"1901": {"apconso": recs("a", "b")}}),
                                  imported({"1902": {"apconso": recs("a", "c")}})], batches, since_batch="1901")
    assert comparable(doc["value"]["batch"]) == {
        "1812": {"apconso": recs("deleteme", "a")},
        "1901": {"apconso": recs("b"), **delete(apconso=["deleteme"])},
        "1902": {"apconso": recs("c"), **delete(apconso=["b"])},
    }
    assert doc["value"]["state"] == {"apconso": ["a", "c"]}
    with pytest.raises(NotReimportedError, match="1902"):
        compact_entity(stored, [imported({"1901": {"apconso": recs("a", "b")}})], batches, since_batch="1901")


def test_T16_several_new_batches_with_a_later_stock():
    """Original (bug): RawData {2001: {x, w}}, ImportedData 2002 {x, y} (flux) + 2003 {x, z}
    (stock), --since-batch 2002, gives 2003: {z} - [y, x, w]; compacting 2002 then 2003
    separately gives - [w, y], which is correct.
    Ours: one run or two give the same, correct, result."""
    batches = admin(["2001", "2002", "2003"], {"2003": ["apconso"]})
    stored = compact_entity(None, [imported({"2001": {"apconso": recs("x", "w")}})], batches)
    v2002 = imported({"2002": {"apconso": recs("x", "y")}})
    v2003 = imported({"2003": {"apconso": recs("x", "z")}})
    together = compact_entity(stored, [v2002, v2003], batches, since_batch="2002")
    separately = compact_entity(compact_entity(stored, [v2002], batches), [v2003], batches)
    assert together == separately
    assert comparable(together["value"]["batch"])["2003"] == {"apconso": recs("z"), **delete(apconso=["w", "y"])}
    assert together["value"]["state"] == {"apconso": ["x", "z"]}
