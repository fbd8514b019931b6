"""``Timestamp(0, 0)`` in written documents, as MongoDB 7.0 treats it (its jstest
``jstests/core/write/empty_ts/empty_ts.js``): inserts and replacement-style updates and
upserts fill top-level empty timestamps (not ``_id``) with the current time; operator and
pipeline updates, and their upserts, keep them as they are. Every filled timestamp is new.
"""

from __future__ import annotations

from bson.timestamp import Timestamp
from pymongo import ReturnDocument

EMPTY = Timestamp(0, 0)


def test_empty_timestamps_filled_or_kept_like_mongod(store_db) -> None:
    coll = store_db["empty_ts"]
    coll.insert_one({"_id": 101, "a": EMPTY})
    coll.insert_many([{"_id": i, "a": i} for i in (102, 103, 106, 107, 108, 109, 110, 111)])
    coll.replace_one({"_id": 102}, {"a": EMPTY})
    assert coll.find_one_and_replace({"_id": 103}, {"a": EMPTY}) == {"_id": 103, "a": 103}
    coll.replace_one({"_id": 104}, {"a": EMPTY}, upsert=True)
    assert coll.find_one_and_replace({"_id": 105}, {"a": EMPTY}, upsert=True) is None
    coll.update_one({"_id": 106}, {"$set": {"a": EMPTY}})
    coll.find_one_and_update({"_id": 107}, {"$set": {"a": EMPTY}})
    coll.update_one({"_id": 108}, [{"$addFields": {"a": EMPTY}}])
    coll.find_one_and_update({"_id": 109}, [{"$addFields": {"a": EMPTY}}])
    coll.update_one({"_id": 112}, {"$set": {"a": EMPTY}}, upsert=True)
    coll.find_one_and_update({"_id": 113}, {"$set": {"a": EMPTY}}, upsert=True)
    coll.update_one({"_id": 114}, [{"$addFields": {"a": EMPTY}}], upsert=True)
    coll.find_one_and_update({"_id": 115}, [{"$addFields": {"a": EMPTY}}], upsert=True)
    docs = {d["_id"]: d["a"] for d in coll.find({"_id": {"$nin": [110, 111]}})}
    filled = [docs[i] for i in range(101, 106)]
    assert all(type(ts) is Timestamp and ts != EMPTY for ts in filled), filled
    assert len(set(filled)) == len(filled)  # every filled timestamp is a new one
    assert all(docs[i] == EMPTY for i in (106, 107, 108, 109, 112, 113, 114, 115)), docs
    # _id keeps its empty timestamp, also through a replacement.
    coll.insert_one({"_id": EMPTY, "a": 9})
    coll.replace_one({"_id": EMPTY}, {"_id": EMPTY, "a": EMPTY})
    doc = coll.find_one({"_id": EMPTY})
    assert doc["_id"] == EMPTY and doc["a"] != EMPTY


def test_filled_timestamps_and_current_date_timestamps_never_repeat(store_db) -> None:
    """Inserts, replacements and ``$currentDate`` draw from one increasing sequence."""
    coll = store_db["ts_seq"]
    coll.insert_one({"_id": 1, "t": EMPTY})
    coll.replace_one({"_id": 1}, {"t": EMPTY})
    second = coll.find_one({"_id": 1})["t"]
    coll.insert_one({"_id": 2, "t": EMPTY})
    third = coll.find_one({"_id": 2})["t"]
    doc = coll.find_one_and_update({"_id": 2}, {"$currentDate": {"c": {"$type": "timestamp"}}},
                                   return_document=ReturnDocument.AFTER)
    seq = [second, third, doc["c"]]
    assert seq == sorted(seq, key=lambda ts: (ts.time, ts.inc)) and len(set(seq)) == 3, seq
