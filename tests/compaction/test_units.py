"""Unit tests of the compaction building blocks: months, batch definitions, reporder values,
state rebuild, imported-data merge and validation, size guard, entity heads."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from types import SimpleNamespace

import bson
import pytest
from sf.compaction import (
    BatchInfo,
    DocumentTooLargeError,
    EntityHead,
    InvalidCompactionInputError,
    NotReimportedError,
    UnknownBatchError,
    check_document_size,
    compact_batch,
    compact_entity,
    compact_increment,
    live_state_of,
    merge_imported_values,
    rebuild_state,
    reporder_value,
    serie_periode,
)
from sf.compaction.model import month_key
from sf.engine.batches import make_batch
from sf.engine.errors import BadInputError, UsageError

SIRET = "01234567891011"


def recs(*hashes: str) -> dict:
    return {h: {"h": h} for h in hashes}


def imported(batch: dict, key: str = SIRET, scope: str = "etablissement") -> dict:
    return {"key": key, "scope": scope, "batch": batch}


# --- months and batch definitions -----------------------------------------------------------

def test_serie_periode_is_half_open_and_crosses_years():
    months = serie_periode(datetime(2014, 11, 1, tzinfo=UTC), datetime(2015, 2, 1, tzinfo=UTC))
    assert [month_key(m) for m in months] == ["2014-11-01", "2014-12-01", "2015-01-01"]
    assert all(m.tzinfo is not None and m.utcoffset().total_seconds() == 0 for m in months)
    assert serie_periode(datetime(2015, 1, 1), datetime(2015, 1, 1)) == ()


def test_serie_periode_2014_to_2019_10_has_69_months():
    """The tests/test.sh golden: date_debut 2014-01-01, date_fin 2019-10-01 gives 69 months."""
    assert len(serie_periode(datetime(2014, 1, 1, tzinfo=UTC), datetime(2019, 10, 1, tzinfo=UTC))) == 69


def test_serie_periode_rejects_a_date_debut_inside_a_month():
    with pytest.raises(ValueError, match="first day of a month"):
        serie_periode(datetime(2014, 1, 15, tzinfo=UTC), datetime(2015, 1, 1, tzinfo=UTC))


def test_batch_info_from_engine_batch():
    batch = make_batch("2402", complete_types=["effectif", "apconso"], stock_absent="delete",
                       check_files=False)
    info = BatchInfo.from_admin(batch)
    assert info.complete_types == frozenset({"effectif", "apconso"})
    assert info.stock_absent == "delete"
    assert month_key(info.serie_periode[0]) == "2014-01-01" and month_key(info.serie_periode[-1]) == "2024-01-01"


def test_batch_info_rejects_bad_definitions():
    with pytest.raises(ValueError, match="stock_absent"):
        BatchInfo(stock_absent="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not data types"):
        BatchInfo(complete_types=frozenset({"reporder"}))
    with pytest.raises(ValueError, match="increasing"):
        BatchInfo(serie_periode=(datetime(2015, 1, 1, tzinfo=UTC), datetime(2014, 1, 1, tzinfo=UTC)))
    bad = SimpleNamespace(key="2401", complete_types=[], stock_absent="keep",
                          param=SimpleNamespace(date_debut=datetime(2014, 1, 2, tzinfo=UTC),
                                                date_fin=datetime(2015, 1, 1, tzinfo=UTC)))
    with pytest.raises(ValueError, match="batch 2401"):
        BatchInfo.from_admin(bad)


# --- reporder values --------------------------------------------------------------------------

def test_reporder_value_is_the_documented_hash():
    periode = datetime(2014, 1, 1, tzinfo=UTC)
    digest = hashlib.sha256(f"{SIRET}|2014-01".encode()).digest()
    assert reporder_value(SIRET, periode) == (int.from_bytes(digest[:8], "big") >> 11) / 2**53
    # Naive UTC and aware UTC give the same value; another month or SIRET another one.
    assert reporder_value(SIRET, datetime(2014, 1, 1)) == reporder_value(SIRET, periode)
    assert reporder_value(SIRET, datetime(2014, 2, 1, tzinfo=UTC)) != reporder_value(SIRET, periode)
    assert reporder_value("01234567891012", periode) != reporder_value(SIRET, periode)


def test_reporder_values_spread_over_unit_interval():
    values = [reporder_value(f"{i:014d}", datetime(2014 + i % 5, 1 + i % 12, 1, tzinfo=UTC)) for i in range(4000)]
    assert all(0.0 <= v < 1.0 for v in values)
    # 10 bins of an (assumed) uniform sample of 4000: each within ±30% of 400.
    bins = [0] * 10
    for v in values:
        bins[int(v * 10)] += 1
    assert all(280 <= b <= 520 for b in bins), bins


# --- rebuild_state (the original's currentState / flatten, docs/compaction.md §3.5) ------------------------------------------

def test_rebuild_state_current_state_example():
    """currentState_tests.ts: [{apdemande {a, b}, apconso {c}}, {apdemande {d}, delete apdemande
    [a, b]}] gives {apdemande {d}, apconso {c}}."""
    value = {"key": SIRET, "batch": {
        "1901": {"apdemande": recs("a", "b"), "apconso": recs("c")},
        "1902": {"apdemande": recs("d"), "compact": {"delete": {"apdemande": ["a", "b"]}}}}}
    assert rebuild_state(value) == {"apdemande": recs("d"), "apconso": recs("c")}
    assert rebuild_state(value, until_batch="1901") == {"apdemande": recs("a", "b"), "apconso": recs("c")}
    assert live_state_of(value) == {"apconso": ["c"], "apdemande": ["d"]}


def test_rebuild_state_deletes_before_adding_within_a_batch():
    value = {"batch": {"1901": {"a": recs("x")}, "1902": {"a": recs("x"), "compact": {"delete": {"a": ["x"]}}}}}
    assert rebuild_state(value) == {"a": recs("x")}


def test_rebuild_state_rejects_malformed_entries():
    with pytest.raises(InvalidCompactionInputError, match="batch 1901.*'apconso'"):
        rebuild_state({"key": SIRET, "batch": {"1901": {"apconso": "oops"}}})
    with pytest.raises(InvalidCompactionInputError, match="compact.delete"):
        rebuild_state({"key": SIRET, "batch": {"1901": {"compact": {"delete": {"a": "h1"}}}}})
    with pytest.raises(InvalidCompactionInputError, match="periode"):
        live_state_of({"key": SIRET, "batch": {"1901": {"reporder": {"x": {"siret": SIRET}}}}})


# --- imported data ---------------------------------------------------------------------------

def test_merge_imported_values_merges_per_hash_and_keeps_delivered_batches():
    merged = merge_imported_values([
        imported({"2001": {"a": recs("h1")}, "2002": {}}),
        imported({"2001": {"a": {"h1": {"h": "later"}, "h2": {"h": "h2"}}, "b": None}}),
    ])
    assert merged == (SIRET, "etablissement", {"2001": {"a": {"h1": {"h": "later"}, "h2": {"h": "h2"}}}, "2002": {}})
    assert merge_imported_values([]) is None


@pytest.mark.parametrize("values, message", [
    ([imported({"2001": {}}), imported({"2001": {}}, key="01234567891012")], "cannot be merged"),
    ([imported({"2001": {}}, key="123")], "14-digit"),
    ([imported({"2001": {}}, key="000000001", scope="entreprise"), imported({"2001": {}}, key="000000001")],
     "cannot be merged"),
    ([imported({"2001": {"compact": {}}})], "produced by compaction"),
    ([imported({"2001": {"a": ["h1"]}})], "must map hashes"),
    ([imported({"2001": {"a": {"h1": "x"}}})], "record document"),
    ([imported({"2001": "x"})], "must be a document"),
    ([{"key": SIRET, "scope": "etablissement"}], "value.batch"),
])
def test_bad_imported_values_are_bad_input_naming_the_entity(values, message):
    with pytest.raises(InvalidCompactionInputError, match=message) as error:
        compact_entity(None, values, {"2001": BatchInfo()})
    assert isinstance(error.value, BadInputError) and error.value.exit_code == 3


def test_errors_carry_cli_exit_codes():
    assert issubclass(NotReimportedError, UsageError)
    assert NotReimportedError(SIRET, "2002", "2001").exit_code == 2
    assert DocumentTooLargeError(SIRET, 10, 5).exit_code == 1


def test_rawdata_and_imported_keys_must_agree():
    stored = compact_entity(None, [imported({"2001": {"a": recs("h1")}})], {"2001": BatchInfo()})
    with pytest.raises(InvalidCompactionInputError, match="does not belong"):
        compact_entity(stored, [imported({"2001": {}}, key="01234567891012")], {"2001": BatchInfo()})
    with pytest.raises(InvalidCompactionInputError, match="_id differs"):
        compact_entity({"_id": "x", "value": stored["value"]}, [], {"2001": BatchInfo()})
    with pytest.raises(ValueError, match="no RawData document and no imported value"):
        compact_entity(None, [], {"2001": BatchInfo()})


def test_run_arguments_are_checked():
    batches = {"2001": BatchInfo(), "2002": BatchInfo()}
    with pytest.raises(ValueError, match="before since-batch"):
        compact_entity(None, [imported({"2002": {}})], batches, since_batch="2002", run_batches=["2001", "2002"])
    with pytest.raises(ValueError, match="not part of the run"):
        compact_entity(None, [imported({"2002": {"a": recs("h")}})], batches, run_batches=["2001"])


def test_compact_entity_does_not_modify_its_inputs():
    import copy
    batches = {"2001": BatchInfo(), "2002": BatchInfo(complete_types=frozenset({"a"}),
                                                      serie_periode=(datetime(2014, 1, 1, tzinfo=UTC),))}
    stored = compact_entity(None, [imported({"2001": {"a": recs("h1", "h2")}})], batches)
    values = [imported({"2002": {"a": recs("h2", "h3")}})]
    before = copy.deepcopy((stored, values))
    compact_entity(stored, values, batches)
    assert (stored, values) == before


def test_entity_with_no_entry_left_gives_none():
    """An entity whose only batch is recomputed to nothing has no document any more."""
    batches = {"2001": BatchInfo()}
    stored = compact_entity(None, [imported({"2001": {"a": recs("h1")}}, "000000001", "entreprise")], batches)
    assert compact_entity(stored, [], batches, run_batches=["2001"]) is None
    assert compact_entity(None, [imported({"2001": {}}, "000000001", "entreprise")], batches) is None


# --- compact_batch ------------------------------------------------------------------------------

def test_compact_batch_does_not_modify_the_live_state_and_sorts_deletions():
    state = {"a": ["h1", "h2", "h3"], "reporder": ["2014-01-01"]}
    entry, new_state = compact_batch(state, "2002", {"a": recs("h2", "h4")}, BatchInfo(complete_types=frozenset("a")))
    assert state == {"a": ["h1", "h2", "h3"], "reporder": ["2014-01-01"]}
    assert entry == {"a": recs("h4"), "compact": {"delete": {"a": ["h1", "h3"]}}}
    assert new_state == {"a": ["h2", "h4"], "reporder": ["2014-01-01"]}
    assert compact_batch(new_state, "2003", {"a": recs("h2")}, BatchInfo()) == (None, new_state)
    assert compact_batch(new_state, "2003", None, BatchInfo(complete_types=frozenset("a"))) == (None, new_state)


def test_compact_batch_rejects_reserved_types():
    with pytest.raises(InvalidCompactionInputError, match="not a data type"):
        compact_batch({}, "2001", {"reporder": {}}, BatchInfo())


# --- size guard ---------------------------------------------------------------------------------

def test_check_document_size_measures_bson_and_names_the_key():
    doc = {"_id": SIRET, "value": {"blob": "x" * 1000}}
    assert check_document_size(doc, 2000) == len(bson.encode(doc))
    with pytest.raises(DocumentTooLargeError, match=SIRET) as error:
        check_document_size(doc, 500)
    assert error.value.key == SIRET and error.value.size == len(bson.encode(doc)) and error.value.limit == 500


def test_compact_entity_and_increment_enforce_the_size_limit():
    big = {f"h{i:05d}": {"payload": "x" * 100} for i in range(200)}
    values = [imported({"2001": {"a": big}})]
    with pytest.raises(DocumentTooLargeError, match=SIRET):
        compact_entity(None, values, {"2001": BatchInfo()}, max_document_bytes=10_000)
    with pytest.raises(DocumentTooLargeError, match=SIRET):
        compact_increment(None, values, {"2001": BatchInfo()}, max_document_bytes=10_000)
    doc = compact_entity(None, values, {"2001": BatchInfo()}, max_document_bytes=None)
    head = EntityHead.from_document(doc)
    small = [imported({"2002": {"a": recs("new")}})]
    batches = {"2001": BatchInfo(), "2002": BatchInfo()}
    assert compact_increment(head, small, batches, max_document_bytes=10_000).changed
    with pytest.raises(DocumentTooLargeError, match=SIRET):
        compact_increment(head, small, batches, stored_size=len(bson.encode(doc)), max_document_bytes=10_000)


# --- entity heads -------------------------------------------------------------------------------

def test_entity_head_from_document():
    doc = compact_entity(None, [imported({"2001": {"effectif": recs("e1")}})], {"2001": BatchInfo()})
    head = EntityHead.from_document(doc)
    assert head == EntityHead(key=SIRET, scope="etablissement", state={"effectif": ["e1"]}, state_batch="2001",
                              algo2=True)
    legacy = {"_id": SIRET, "value": {"key": SIRET, "scope": "etablissement", "batch": {}}}
    assert EntityHead.from_document(legacy) is None
    broken = {"_id": SIRET, "value": {**doc["value"], "state": {"a": "h1"}}}
    with pytest.raises(InvalidCompactionInputError, match="value.state"):
        EntityHead.from_document(broken)


def test_increment_refuses_batches_not_after_the_last_entry():
    batches = {"2001": BatchInfo(), "2002": BatchInfo()}
    doc = compact_entity(None, [imported({"2002": {"a": recs("h1")}})], batches)
    with pytest.raises(ValueError, match="use compact_entity"):
        compact_increment(EntityHead.from_document(doc), [imported({"2001": {"a": recs("h2")}})], batches)


def test_since_batch_must_be_defined():
    with pytest.raises(UnknownBatchError, match="--since-batch"):
        compact_entity(None, [imported({"2001": {}})], {"2001": BatchInfo()}, since_batch="1999")


def test_legacy_document_is_compacted_then_incremental():
    """A document of the original system (no state, reporder keyed by JavaScript date strings,
    index from its finalize) is compacted whole once; the next month is incremental."""
    jan, feb, mar = (datetime(2014, m, 1, tzinfo=UTC) for m in (1, 2, 3))
    legacy = {"_id": SIRET, "value": {"key": SIRET, "scope": "etablissement", "index": {"algo2": False}, "batch": {
        "1901": {"apconso": recs("a"), "reporder": {
            "Wed Jan 01 2014 00:00:00 GMT+0000 (UTC)": {"periode": jan, "siret": SIRET, "random_order": 0.5}}},
        "1902": {"apconso": recs("b"), "compact": {"delete": {"apconso": ["a"]}}}}}}
    batches = {"1901": BatchInfo(), "1902": BatchInfo(complete_types=frozenset({"apconso"})),
               "1903": BatchInfo(serie_periode=(jan, feb)), "1904": BatchInfo(serie_periode=(jan, feb, mar))}
    assert EntityHead.from_document(legacy) is None
    doc = compact_entity(legacy, [imported({"1903": {"effectif": recs("e")}})], batches)
    value = doc["value"]
    assert value["batch"]["1901"] == legacy["value"]["batch"]["1901"]
    assert list(value["batch"]["1903"]["reporder"]) == ["2014-02-01"]
    assert value["state"] == {"apconso": ["b"], "effectif": ["e"], "reporder": ["2014-01-01", "2014-02-01"]}
    assert value["index"] == {"algo2": True}
    increment = compact_increment(EntityHead.from_document(doc), [imported({"1904": {}})], batches)
    assert increment.set_fields == {
        "value.batch.1903.reporder.2014-03-01": {"periode": mar, "siret": SIRET,
                                                 "random_order": reporder_value(SIRET, mar)},
        "value.state": {**value["state"], "reporder": ["2014-01-01", "2014-02-01", "2014-03-01"]},
    }


def test_legacy_null_entry_becomes_empty_and_can_receive_reporder():
    jan = datetime(2014, 1, 1, tzinfo=UTC)
    legacy = {"_id": SIRET, "value": {"key": SIRET, "scope": "etablissement",
                                      "batch": {"1901": {"apconso": recs("a")}, "1902": None}}}
    batches = {"1901": BatchInfo(), "1902": BatchInfo(), "1903": BatchInfo(serie_periode=(jan,))}
    doc = compact_entity(legacy, [imported({"1903": {"apconso": recs("a")}})], batches)
    assert doc["value"]["batch"]["1902"] == {"reporder": {"2014-01-01": {
        "periode": jan, "siret": SIRET, "random_order": reporder_value(SIRET, jan)}}}
