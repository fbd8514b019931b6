"""The known differences between ``sf.store`` and a standalone MongoDB 7.0, one test each.

Each test shows what the store does: a clear error with its code for a feature it does not
implement (NotImplemented, 238, unless a standalone mongod refuses it too), or the documented
deviation. Each docstring is the one-line description the README lists.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import bson
import pytest
from bson.codec_options import CodecOptions
from bson.decimal128 import Decimal128
from bson.raw_bson import RawBSONDocument
from pymongo import CursorType
from pymongo.errors import OperationFailure

NOT_IMPLEMENTED = 238


def refused(call: Callable[[], Any], code: int = NOT_IMPLEMENTED) -> str:
    """Run ``call``, expect the server to refuse it with ``code``; return its message."""
    with pytest.raises(OperationFailure) as info:
        result = call()
        if hasattr(result, "__iter__") and not isinstance(result, (dict, str)):
            list(result)  # cursors run on iteration
    assert info.value.code == code, info.value.details
    if code == NOT_IMPLEMENTED:
        assert "not supported by the sf embedded store" in str(info.value)
    return str(info.value)


# --- features the store does not implement ---------------------------------------------------

def test_validators_not_implemented(store_db) -> None:
    """Schema validation (`validator`, `$jsonSchema`) is not implemented: NotImplemented (238)."""
    refused(lambda: store_db.create_collection("v", validator={"$jsonSchema": {"required": ["a"]}}))
    refused(lambda: store_db.create_collection("v", validator={"a": {"$exists": True}}))
    store_db["c"].insert_one({"a": 1})
    refused(lambda: store_db.command("collMod", "c", validator={"a": {"$exists": True}}))
    refused(lambda: store_db["c"].find({"$jsonSchema": {"required": ["a"]}}))


def test_explain_not_implemented(store_db) -> None:
    """`explain` (command, cursor option and aggregate option) is not implemented: NotImplemented (238)."""
    coll = store_db["c"]
    coll.insert_one({"a": 1})
    refused(lambda: coll.find({"a": 1}).explain())
    refused(lambda: store_db.command("aggregate", "c", pipeline=[], explain=True))


def test_capped_collections_and_tailable_cursors_not_implemented(store_db) -> None:
    """Capped collections and tailable cursors are not implemented: NotImplemented (238)."""
    refused(lambda: store_db.create_collection("cap", capped=True, size=4096))
    store_db["c"].insert_one({"a": 1})
    refused(lambda: store_db["c"].find(cursor_type=CursorType.TAILABLE))
    refused(lambda: store_db["c"].find(cursor_type=CursorType.TAILABLE_AWAIT))


@pytest.mark.parametrize("keys, options", [
    ([("a", 1)], {"expireAfterSeconds": 60}),  # TTL
    ([("a", "text")], {}),
    ([("a", "2d")], {}),
    ([("a", "2dsphere")], {}),
    ([("a", "hashed")], {}),
    ([("$**", 1)], {}),  # wildcard
    ([("a.$**", 1)], {}),
    ([("a", 1)], {"hidden": True}),
], ids=["ttl", "text", "2d", "2dsphere", "hashed", "wildcard", "wildcard-path", "hidden"])
def test_special_indexes_not_implemented(store_db, keys, options) -> None:
    """Only ascending/descending indexes (unique, sparse, partial): TTL, text, geo, hashed, wildcard and hidden indexes are NotImplemented (238)."""
    store_db["c"].insert_one({"a": 1})
    refused(lambda: store_db["c"].create_index(keys, **options))
    assert list(store_db["c"].index_information()) == ["_id_"]


def test_text_and_geo_queries_not_implemented(store_db) -> None:
    """Text search and geospatial queries (`$text`, `$near`, `$geoWithin`, `$geoNear`, `$meta`) are NotImplemented (238)."""
    coll = store_db["c"]
    coll.insert_one({"a": "x", "loc": [0, 0]})
    refused(lambda: coll.find({"$text": {"$search": "x"}}))
    refused(lambda: coll.find({"loc": {"$near": [0, 0]}}))
    refused(lambda: coll.find({"loc": {"$geoWithin": {"$center": [[0, 0], 1]}}}))
    refused(lambda: coll.aggregate([{"$geoNear": {"near": [0, 0], "distanceField": "d"}}]))
    refused(lambda: coll.find({}, {"score": {"$meta": "textScore"}}))


def test_collation_on_a_collection_or_an_index_not_implemented(store_db) -> None:
    """A default collation of a collection or an index is NotImplemented (238); collations of single operations work."""
    refused(lambda: store_db.create_collection("fr", collation={"locale": "fr"}))
    store_db["c"].insert_one({"a": "x"})
    refused(lambda: store_db["c"].create_index("a", collation={"locale": "fr", "strength": 2}))
    assert store_db["c"].count_documents({"a": "X"}, collation={"locale": "fr", "strength": 2}) == 1


def test_server_side_javascript_not_implemented(store_db) -> None:
    """Server-side JavaScript (`$where`, `$function`, `$accumulator`) is NotImplemented (238)."""
    coll = store_db["c"]
    coll.insert_one({"a": 1})
    refused(lambda: coll.find({"$where": "this.a == 1"}))
    refused(lambda: coll.aggregate([{"$project": {"f": {"$function": {
        "body": "function(a) { return a; }", "args": ["$a"], "lang": "js"}}}}]))
    refused(lambda: coll.aggregate([{"$group": {"_id": None, "f": {"$accumulator": {
        "init": "function() { return 0; }", "accumulate": "function(s, a) { return s + a; }",
        "accumulateArgs": ["$a"], "merge": "function(x, y) { return x + y; }", "lang": "js"}}}}]))


def test_transactions_refused_as_by_a_standalone(store_client, store_db) -> None:
    """Transactions are refused as a standalone mongod refuses them (no replica set): IllegalOperation (20)."""
    store_db["c"].insert_one({"a": 1})
    with store_client.start_session() as session:
        session.start_transaction()
        with pytest.raises(OperationFailure) as info:
            store_db["c"].insert_one({"a": 2}, session=session)
        assert info.value.code == 20 and "replica set" in str(info.value)
    assert store_db["c"].count_documents({}) == 1


def test_change_streams_refused_as_by_a_standalone(store_db) -> None:
    """Change streams are refused as a standalone mongod refuses them (no replica set): 40573."""
    store_db["c"].insert_one({"a": 1})
    assert "only supported on replica sets" in refused(lambda: store_db["c"].watch(), code=40573)


def test_other_databases_not_reachable_from_a_command(store_client, store_db) -> None:
    """`$lookup`/`$out`/`$merge` with another database and `renameCollection` across databases are NotImplemented (238)."""
    coll = store_db["c"]
    coll.insert_one({"a": 1})
    other = {"db": "elsewhere", "coll": "x"}
    refused(lambda: coll.aggregate([{"$lookup": {"from": other, "localField": "a", "foreignField": "a", "as": "j"}}]))
    refused(lambda: coll.aggregate([{"$out": other}]))
    refused(lambda: coll.aggregate([{"$merge": {"into": other}}]))
    refused(lambda: store_client.admin.command("renameCollection", f"{store_db.name}.c", to="elsewhere.c"))


def test_find_options_min_max_return_key_show_record_id_and_natural_sort_not_implemented(store_db) -> None:
    """`find` options `min`, `max`, `returnKey`, `showRecordId` and a `$natural` sort are NotImplemented (238)."""
    coll = store_db["c"]
    coll.insert_one({"_id": 1})
    refused(lambda: coll.find().min([("_id", 0)]).hint("_id_"))
    refused(lambda: coll.find().max([("_id", 5)]).hint("_id_"))
    refused(lambda: coll.find(return_key=True))
    refused(lambda: coll.find(show_record_id=True))
    refused(lambda: coll.find().sort("$natural", 1))


def test_bucket_auto_granularity_not_implemented(store_db) -> None:
    """`$bucketAuto` with a `granularity` is NotImplemented (238); without one it works."""
    coll = store_db["c"]
    coll.insert_many([{"v": v} for v in (1, 2, 3, 4)])
    refused(lambda: coll.aggregate([{"$bucketAuto": {"groupBy": "$v", "buckets": 2, "granularity": "R5"}}]))
    assert [b["count"] for b in coll.aggregate([{"$bucketAuto": {"groupBy": "$v", "buckets": 2}}])] == [2, 2]


@pytest.mark.parametrize("operator, operand", [
    ("$derivative", {"input": "$v", "unit": "second"}),
    ("$integral", {"input": "$v", "unit": "second"}),
    ("$expMovingAvg", {"input": "$v", "N": 2}),
    ("$covariancePop", ["$v", "$v"]),
    ("$covarianceSamp", ["$v", "$v"]),
    ("$median", {"input": "$v", "method": "approximate"}),
    ("$percentile", {"input": "$v", "p": [0.5], "method": "approximate"}),
])
def test_some_window_functions_not_implemented(store_db, operator, operand) -> None:
    """Window functions `$derivative`, `$integral`, `$expMovingAvg`, `$covariancePop/Samp`, `$median` and `$percentile` are NotImplemented (238)."""
    coll = store_db["c"]
    coll.insert_many([{"t": i, "v": i} for i in range(3)])
    refused(lambda: coll.aggregate([{"$setWindowFields": {"sortBy": {"t": 1}, "output": {"w": {operator: operand}}}}]))


def test_median_and_percentile_accumulators_not_implemented(store_db) -> None:
    """The `$median` and `$percentile` accumulators are NotImplemented (238)."""
    coll = store_db["c"]
    coll.insert_many([{"v": i} for i in range(3)])
    refused(lambda: coll.aggregate([{"$group": {"_id": None, "m": {"$median": {"input": "$v", "method": "approximate"}}}}]))
    refused(lambda: coll.aggregate([{"$group": {"_id": None, "p": {
        "$percentile": {"input": "$v", "p": [0.5], "method": "approximate"}}}}]))


def test_diagnostic_stages_not_implemented(store_client, store_db) -> None:
    """Diagnostic stages (`$collStats`, `$indexStats`, `$currentOp`, `$planCacheStats`) are NotImplemented (238)."""
    coll = store_db["c"]
    coll.insert_one({"a": 1})
    refused(lambda: coll.aggregate([{"$collStats": {"count": {}}}]))
    refused(lambda: coll.aggregate([{"$indexStats": {}}]))
    refused(lambda: coll.aggregate([{"$planCacheStats": {}}]))
    refused(lambda: store_client.admin.aggregate([{"$currentOp": {}}]))


def test_shifted_collation_not_implemented(store_db) -> None:
    """A collation with `alternate: "shifted"` (ignore punctuation and spaces) is NotImplemented (238)."""
    store_db["c"].insert_one({"a": "a-b"})
    refused(lambda: store_db["c"].find({"a": "ab"}, collation={"locale": "en", "alternate": "shifted"}))


# --- documented deviations -------------------------------------------------------------------

def test_find_without_sort_returns_id_order(store_db) -> None:
    """A `find` without a sort returns documents in `_id` order (MongoDB: natural, usually insertion, order)."""
    coll = store_db["c"]
    ids = [3, "b", 1, 2.5, "a"]
    coll.insert_many([{"_id": i} for i in ids])
    assert [d["_id"] for d in coll.find()] == [1, 2.5, 3, "a", "b"]
    assert [d["_id"] for d in coll.aggregate([])] == [1, 2.5, 3, "a", "b"]


def test_hint_only_checked_to_name_an_existing_index(store_db) -> None:
    """`hint` must name an existing index (else BadValue, 2) but does not choose the plan: hinting a sparse index still returns documents it does not hold."""
    coll = store_db["c"]
    coll.create_index("a", sparse=True)
    coll.insert_many([{"_id": 1, "a": 1}, {"_id": 2}])
    refused(lambda: coll.find().hint("nope"), code=2)
    # MongoDB answers [1] here: a hinted sparse index only holds documents with ``a``.
    assert [d["_id"] for d in coll.find().hint("a_1")] == [1, 2]


def test_non_simple_collations_order_punctuation_by_code_point(store_db) -> None:
    """Non-simple collations are approximated without ICU: case and accents follow the strength, but punctuation and symbols sort by code point (ICU puts them before digits and letters)."""
    coll = store_db["c"]
    coll.insert_many([{"s": s} for s in ["b", "~", "1", "B", "-b", "a", "é"]])
    en = {"locale": "en"}
    got = [d["s"] for d in coll.find({}, {"_id": 0}).sort("s", 1).collation(en)]
    # ICU (MongoDB) gives ["-b", "~", "1", "a", "b", "B", "é"]: "~" comes before the digits.
    assert got == ["-b", "1", "a", "b", "B", "é", "~"]
    assert sorted(d["s"] for d in coll.find({"s": "B"}).collation({"locale": "en", "strength": 2})) == ["B", "b"]


def test_regexes_run_on_python_re(store_db) -> None:
    """Regexes run on Python's `re` after a rewrite of PCRE syntax: PCRE-only constructs (recursion, `\\p{..}` properties, `\\K`, …) are refused as invalid (51091 in `$regex`, 51111 in `$regexMatch`)."""
    coll = store_db["c"]
    coll.insert_many([{"_id": 1, "s": "ab"}, {"_id": 2, "s": "aab"}])
    refused(lambda: coll.find({"s": {"$regex": "^(a(?1)?b)$"}}), code=51091)
    refused(lambda: coll.find({"s": {"$regex": "\\p{L}"}}), code=51091)
    refused(lambda: coll.find({"s": {"$regex": "a\\Kb"}}), code=51091)
    refused(lambda: coll.aggregate([{"$project": {"m": {"$regexMatch": {"input": "$s", "regex": "\\p{L}"}}}}]),
            code=51111)
    # The rewritten constructs work: named groups and back references, \Q…\E, POSIX classes.
    assert [d["_id"] for d in coll.find({"s": {"$regex": "^(?<x>[[:alpha:]])\\k<x>\\Qb\\E$"}})] == [2]


def test_decimal_sum_of_mixed_doubles_may_differ_in_trailing_zeros(store_db) -> None:
    """`$sum` of Decimal128 and doubles gives the right value, but its Decimal128 exponent (trailing zeros) may differ from MongoDB's, which converts the double part of the total with 34 digits."""
    coll = store_db["c"]
    coll.insert_many([{"v": Decimal128("1.10")}, {"v": 1.0}, {"v": 2.0}])
    (row,) = coll.aggregate([{"$group": {"_id": None, "s": {"$sum": "$v"}}}])
    assert isinstance(row["s"], Decimal128) and row["s"].to_decimal() == Decimal128("4.1").to_decimal()
    assert str(row["s"]) == "4.10"


def _raw_with_undefined(doc_id: int) -> RawBSONDocument:
    """``{_id: doc_id, u: undefined, n: 1}`` as raw BSON (PyMongo cannot encode undefined)."""
    body = (b"\x10_id\x00" + struct.pack("<i", doc_id) + b"\x06u\x00" + b"\x10n\x00" + struct.pack("<i", 1))
    return RawBSONDocument(struct.pack("<i", len(body) + 5) + body + b"\x00")


def test_undefined_read_back_as_null_once_its_document_is_rewritten(store_db) -> None:
    """BSON `undefined` is kept as stored, but becomes null once an update rewrites its whole document (the codec decodes it to None)."""
    coll = store_db["c"]
    raw = store_db.get_collection("c", codec_options=CodecOptions(document_class=RawBSONDocument))
    coll.insert_one(_raw_with_undefined(7))
    assert raw.find_one({"_id": 7}).raw[13] == 0x06  # the type byte of "u": undefined
    coll.update_one({"_id": 7}, {"$inc": {"n": 1}})  # updates only "n": the bytes of "u" stay
    assert raw.find_one({"_id": 7}).raw[13] == 0x06
    coll.update_one({"_id": 7}, [{"$set": {"n": 5}}])  # a pipeline rewrites the document
    assert raw.find_one({"_id": 7}).raw[13] == 0x0A  # null (mongod keeps undefined)
    assert bson.decode(raw.find_one({"_id": 7}).raw) == {"_id": 7, "u": None, "n": 5}


def test_range_windows_cost_documents_times_window(store_db) -> None:
    """`$setWindowFields` range windows give MongoDB's results but recompute each window (cost: documents × window size; MongoDB slides them)."""
    coll = store_db["c"]
    times = [0, 1, 1, 3, 4, 4, 4, 9]
    coll.insert_many([{"_id": i, "t": t, "v": i + 1} for i, t in enumerate(times)])
    rows = list(coll.aggregate([{"$setWindowFields": {"sortBy": {"t": 1}, "output": {
        "s": {"$sum": "$v", "window": {"range": [-1, 0]}}}}}, {"$sort": {"_id": 1}}]))
    expected = [sum(j + 1 for j, u in enumerate(times) if t - 1 <= u <= t) for t in times]
    assert [r["s"] for r in rows] == expected


def test_max_time_ms_not_enforced(store_db) -> None:
    """`maxTimeMS` is accepted but not enforced: an operation is never interrupted (MaxTimeMSExpired never happens)."""
    coll = store_db["c"]
    coll.insert_many([{"v": i} for i in range(2000)])
    assert len(list(coll.find({"v": {"$gte": 0}}).sort("v", -1).max_time_ms(1))) == 2000


def test_index_sizes_reported_as_zero(store_db) -> None:
    """`dbStats`/`collStats` report data sizes but index sizes of 0."""
    coll = store_db["c"]
    coll.create_index("a")
    coll.insert_many([{"a": i} for i in range(100)])
    stats = store_db.command("dbStats")
    assert stats["indexes"] == 2 and stats["indexSize"] == 0 and stats["dataSize"] > 0
    assert store_db.command("collStats", "c")["totalIndexSize"] == 0
