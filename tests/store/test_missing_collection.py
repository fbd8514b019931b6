"""Commands on a collection that does not exist still check their request.

MongoDB parses the filter, projection, sort, update and pipeline of a command before it
looks at the data, so an invalid request fails the same way whether the collection exists
or not (the unified test ``expectedError-errorResponse.json`` runs ``find`` with
``$unsupportedQueryOperator`` on a collection that was never created and expects an error).
A valid request on a missing collection answers as if nothing matched and creates nothing.

Each case runs the invalid request twice: on a collection holding a document, and on a
missing one; both must fail with the same code, and that code must be MongoDB's (checked
against the code MongoDB documents for the first cases: BadValue 2 for an unknown query
operator, FailedToParse 9 for an unknown update modifier).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

BAD_FILTER = {"$unsupportedQueryOperator": 1}
BAD_UPDATE = {"$foo": {"a": 1}}
BAD_VALUE, FAILED_TO_PARSE = 2, 9


def _code(call: Callable[[Collection], Any], coll: Collection) -> int | None:
    """The error code ``call(coll)`` fails with (None when it succeeds)."""
    try:
        call(coll)
    except OperationFailure as exc:
        return exc.code
    return None


# (name, invalid request, MongoDB's code or None when only "same as existing" is checked)
INVALID: list[tuple[str, Callable[[Collection], Any], int | None]] = [
    ("find filter", lambda c: list(c.find(BAD_FILTER)), BAD_VALUE),
    ("find projection", lambda c: list(c.find({}, {"a": 1, "b": 0})), None),
    ("find sort", lambda c: list(c.find({}).sort("a", 5)), None),
    ("find_one filter", lambda c: c.find_one(BAD_FILTER), BAD_VALUE),
    ("count command", lambda c: c.database.command("count", c.name, query=BAD_FILTER), BAD_VALUE),
    ("count_documents", lambda c: c.count_documents(BAD_FILTER), BAD_VALUE),
    ("distinct", lambda c: c.distinct("a", BAD_FILTER), BAD_VALUE),
    ("aggregate $match", lambda c: list(c.aggregate([{"$match": BAD_FILTER}])), BAD_VALUE),
    ("aggregate unknown stage", lambda c: list(c.aggregate([{"$nope": {}}])), None),
    ("update_one filter", lambda c: c.update_one(BAD_FILTER, {"$set": {"a": 2}}), BAD_VALUE),
    ("update_many filter", lambda c: c.update_many(BAD_FILTER, {"$set": {"a": 2}}), BAD_VALUE),
    ("update_one operator", lambda c: c.update_one({"a": 1}, BAD_UPDATE), FAILED_TO_PARSE),
    ("update_many operator", lambda c: c.update_many({"a": 1}, BAD_UPDATE), FAILED_TO_PARSE),
    ("update_one unused array filter",
     lambda c: c.update_one({"a": 1}, {"$set": {"a": 2}}, array_filters=[{"x": 1}]), FAILED_TO_PARSE),
    ("update_one pipeline stage", lambda c: c.update_one({"a": 1}, [{"$match": {}}]), None),
    ("replace_one with operator field", lambda c: c.replace_one({"a": 1}, {"b": 1, "$c": 1}), None),
    ("delete_one filter", lambda c: c.delete_one(BAD_FILTER), BAD_VALUE),
    ("delete_many filter", lambda c: c.delete_many(BAD_FILTER), BAD_VALUE),
    ("find_one_and_update filter", lambda c: c.find_one_and_update(BAD_FILTER, {"$set": {"a": 2}}), BAD_VALUE),
    ("find_one_and_update operator", lambda c: c.find_one_and_update({"a": 1}, BAD_UPDATE), FAILED_TO_PARSE),
    ("find_one_and_update sort",
     lambda c: c.find_one_and_update({"a": 1}, {"$set": {"a": 2}}, sort=[("a", 5)]), None),
    ("find_one_and_update projection",
     lambda c: c.find_one_and_update({"a": 1}, {"$set": {"a": 2}}, projection={"a": 1, "b": 0}), None),
    ("find_one_and_delete filter", lambda c: c.find_one_and_delete(BAD_FILTER), BAD_VALUE),
    ("find_one_and_replace filter", lambda c: c.find_one_and_replace(BAD_FILTER, {"a": 2}), BAD_VALUE),
]


@pytest.mark.parametrize("call, expected", [(call, code) for _, call, code in INVALID],
                         ids=[name for name, _, _ in INVALID])
def test_invalid_request_fails_alike_on_a_missing_collection(store_db, call, expected):
    existing = store_db["existing"]
    existing.insert_one({"_id": 1, "a": 1})
    missing = store_db["missing"]
    on_existing = _code(call, existing)
    assert on_existing is not None, "the request must be invalid on an existing collection"
    if expected is not None:
        assert on_existing == expected
    assert _code(call, missing) == on_existing
    assert "missing" not in store_db.list_collection_names()


# (name, valid request, its answer on a missing collection)
VALID: list[tuple[str, Callable[[Collection], Any], Any]] = [
    ("find", lambda c: list(c.find({"a": {"$gt": 1}}, {"a": 1}).sort("a", -1)), []),
    ("find_one", lambda c: c.find_one({"a": 1}), None),
    ("count command", lambda c: c.database.command("count", c.name, query={"a": 1})["n"], 0),
    ("count_documents", lambda c: c.count_documents({"a": 1}), 0),
    ("distinct", lambda c: c.distinct("a", {"a": {"$exists": True}}), []),
    ("aggregate", lambda c: list(c.aggregate([{"$match": {"a": 1}}, {"$group": {"_id": "$a"}}])), []),
    ("update_one", lambda c: (lambda r: (r.matched_count, r.modified_count))(
        c.update_one({"a": 1}, {"$set": {"a": 2}})), (0, 0)),
    ("update_many", lambda c: (lambda r: (r.matched_count, r.modified_count))(
        c.update_many({"a": 1}, {"$inc": {"n": 1}})), (0, 0)),
    ("update_one pipeline", lambda c: c.update_one({"a": 1}, [{"$set": {"b": "$a"}}]).matched_count, 0),
    ("delete_many", lambda c: c.delete_many({"a": 1}).deleted_count, 0),
    ("find_one_and_update", lambda c: c.find_one_and_update({"a": 1}, {"$set": {"a": 2}}, sort=[("a", 1)],
                                                            projection={"a": 1}), None),
    ("find_one_and_delete", lambda c: c.find_one_and_delete({"a": 1}), None),
]


@pytest.mark.parametrize("call, answer", [(call, answer) for _, call, answer in VALID],
                         ids=[name for name, _, _ in VALID])
def test_valid_request_on_a_missing_collection_answers_empty(store_db, call, answer):
    store_db["other"].insert_one({"a": 1})  # the database exists, the collection does not
    assert call(store_db["missing"]) == answer
    assert "missing" not in store_db.list_collection_names()


@pytest.mark.parametrize("call", [
    lambda c: c.update_one({"a": 999}, BAD_UPDATE),
    lambda c: c.update_many({"a": 999}, BAD_UPDATE),
    lambda c: c.find_one_and_update({"a": 999}, BAD_UPDATE),
], ids=["update_one", "update_many", "find_one_and_update"])
def test_invalid_update_fails_when_nothing_matches(store_db, call):
    """The update is parsed before any document is read: no match does not hide its error."""
    coll = store_db["existing"]
    coll.insert_one({"_id": 1, "a": 1})
    assert _code(call, coll) == FAILED_TO_PARSE
    assert list(coll.find()) == [{"_id": 1, "a": 1}]
