"""Bulk upserts by ``_id`` (``sf import``'s writes): documents upserted by one ``update``
command are inserted together at the end of the command or before a statement reads or
writes the collection otherwise; the results must be those of one statement at a time."""

from __future__ import annotations

import pytest
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError


def test_upserts_then_updates_of_the_same_ids_in_one_command(store_db) -> None:
    coll = store_db["imp"]
    coll.create_index([("value.key", 1)])
    coll.insert_one({"_id": "old", "value": {"key": "k0"}})
    ops = [UpdateOne({"_id": "a"}, {"$set": {"value.key": "k1", "value.n": 1}}, upsert=True),
           UpdateOne({"_id": "b"}, {"$set": {"value.key": "k2"}}, upsert=True),
           UpdateOne({"_id": "a"}, {"$set": {"value.n": 2}}, upsert=True),    # the queued document
           UpdateOne({"_id": "old"}, {"$set": {"value.n": 0}}, upsert=True),
           UpdateOne({"value.key": "k2"}, {"$set": {"value.seen": True}}),    # reads the table
           UpdateOne({"_id": "c"}, {"$set": {"value.key": "k1"}}, upsert=True)]
    result = coll.bulk_write(ops, ordered=False)
    assert (result.matched_count, result.modified_count, result.upserted_count) == (3, 3, 3)
    assert result.upserted_ids == {0: "a", 1: "b", 5: "c"}
    assert list(coll.find({}, sort=[("_id", 1)])) == [
        {"_id": "a", "value": {"key": "k1", "n": 2}},
        {"_id": "b", "value": {"key": "k2", "seen": True}},
        {"_id": "c", "value": {"key": "k1"}},
        {"_id": "old", "value": {"key": "k0", "n": 0}}]
    assert [d["_id"] for d in coll.find({"value.key": "k1"}).hint("value.key_1")] == ["a", "c"]


@pytest.mark.parametrize("ordered", [True, False])
def test_an_unindexable_upsert_fails_alone(store_db, ordered) -> None:
    coll = store_db[f"par_{ordered}"]
    coll.create_index([("a", 1), ("b", 1)])
    ops = [UpdateOne({"_id": 1}, {"$set": {"a": 1}}, upsert=True),
           UpdateOne({"_id": 2}, {"$set": {"a": [1], "b": [2]}}, upsert=True),
           UpdateOne({"_id": 3}, {"$set": {"b": 3}}, upsert=True)]
    with pytest.raises(BulkWriteError) as info:
        coll.bulk_write(ops, ordered=ordered)
    assert [(e["index"], e["code"]) for e in info.value.details["writeErrors"]] == [(1, 171)]
    assert [d["_id"] for d in coll.find({"a": {"$exists": True}}).hint("a_1_b_1")] == [1]
    assert sorted(d["_id"] for d in coll.find()) == ([1] if ordered else [1, 3])


def test_a_unique_index_still_refuses_duplicates_within_a_command(store_db) -> None:
    coll = store_db["uniq"]
    coll.create_index([("k", 1)], unique=True)
    ops = [UpdateOne({"_id": 1}, {"$set": {"k": "x"}}, upsert=True),
           UpdateOne({"_id": 2}, {"$set": {"k": "x"}}, upsert=True),
           UpdateOne({"_id": 3}, {"$set": {"k": "y"}}, upsert=True)]
    with pytest.raises(BulkWriteError) as info:
        coll.bulk_write(ops, ordered=False)
    assert [(e["index"], e["code"]) for e in info.value.details["writeErrors"]] == [(1, 11000)]
    assert sorted(d["_id"] for d in coll.find()) == [1, 3]
