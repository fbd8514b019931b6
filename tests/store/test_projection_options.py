"""Projections of every command see the command's collation and ``let`` variables."""

from __future__ import annotations

from pymongo import ReturnDocument


def test_find_and_modify_projection_uses_the_collation(store_db) -> None:
    """An ``$elemMatch`` projection of findAndModify compares strings under the command's collation."""
    coll = store_db["c"]
    coll.insert_one({"_id": 1, "tags": ["x", "Apple", "apple"], "n": 0})
    doc = coll.find_one_and_update({"_id": 1}, {"$inc": {"n": 1}},
                                   projection={"tags": {"$elemMatch": {"$eq": "APPLE"}}, "_id": 0},
                                   collation={"locale": "en", "strength": 2}, return_document=ReturnDocument.AFTER)
    assert doc == {"tags": ["Apple"]}
    # Without a collation nothing matches and the field is left out (MongoDB's $elemMatch rule).
    doc = coll.find_one_and_update({"_id": 1}, {"$inc": {"n": 1}},
                                   projection={"tags": {"$elemMatch": {"$eq": "APPLE"}}, "_id": 0})
    assert doc == {}


def test_find_and_modify_projection_sees_let_variables(store_db) -> None:
    """An expression in the findAndModify projection reads the command's ``let`` variables."""
    coll = store_db["c"]
    coll.insert_one({"_id": 1, "n": 2})
    doc = coll.find_one_and_update({"_id": 1}, {"$inc": {"n": 1}}, let={"k": 10},
                                   projection={"_id": 0, "scaled": {"$multiply": ["$n", "$$k"]}},
                                   return_document=ReturnDocument.AFTER)
    assert doc == {"scaled": 30}


def test_find_projection_sees_collation_and_let(store_db) -> None:
    """The same for ``find``."""
    coll = store_db["c"]
    coll.insert_one({"_id": 1, "tags": ["x", "Apple"], "n": 2})
    assert coll.find_one({}, {"tags": {"$elemMatch": {"$eq": "apple"}}, "_id": 0},
                         collation={"locale": "en", "strength": 2}) == {"tags": ["Apple"]}
    assert list(coll.find({}, {"_id": 0, "v": "$$k"}, let={"k": "yes"})) == [{"v": "yes"}]


def test_an_invalid_find_and_modify_projection_changes_nothing(store_db) -> None:
    """The projection is parsed before the write: an invalid one fails and the document stays."""
    from pymongo.errors import OperationFailure
    import pytest

    coll = store_db["c"]
    coll.insert_one({"_id": 1, "n": 0})
    with pytest.raises(OperationFailure):
        coll.find_one_and_update({"_id": 1}, {"$inc": {"n": 1}}, projection={"a": 1, "b": 0})
    assert coll.find_one({"_id": 1})["n"] == 0


def test_bson_size_of_root_beside_an_inclusion(store_db) -> None:
    """``{$bsonSize: "$$ROOT"}`` beside included fields (answered from the stored length) is
    the size of the whole document, placed after the included fields; the same projection
    computed in an aggregation agrees."""
    import bson

    coll = store_db["sizes"]
    docs = [{"_id": 1, "a": {"b": 1, "c": "x" * 50}, "d": [1, 2], "e": 1.5},
            {"_id": "k", "e": None, "size": "stored"}, {"_id": 3.0, "a": [{"b": True}, {"c": 2}]}]
    coll.insert_many(docs)
    projection = {"size": {"$bsonSize": "$$ROOT"}, "a.b": 1, "e": 1, "other": {"$bsonSize": "$$CURRENT"}}
    found = list(coll.find({}, projection).sort("e", 1))
    by_id = {doc["_id"]: doc for doc in docs}
    for doc in found:
        size = len(bson.encode(by_id[doc["_id"]]))
        assert doc["size"] == doc["other"] == size
        assert list(doc)[-2:] == ["size", "other"]
    assert found == list(coll.aggregate([{"$project": projection}, {"$sort": {"e": 1}}]))
    assert [d["size"] for d in coll.find({"a.b": True}, {"_id": 0, "size": {"$bsonSize": "$$ROOT"}})] == \
        [len(bson.encode(docs[2]))]
