"""Update operators, replacements and upsert seeds (``sf.store.update``).

The vectors are the examples of MongoDB's manual pages of each operator (``$set``, ``$unset``,
``$inc``, ``$mul``, ``$min``/``$max``, ``$rename``, ``$currentDate``, ``$setOnInsert``,
``$push`` with ``$each``/``$position``/``$slice``/``$sort``, ``$addToSet``, ``$pop``, ``$pull``,
``$pullAll``, ``$bit``, ``$``, ``$[]``, ``$[<identifier>]``, "Dollar-Prefixed Field Names",
"Update Operators: Behavior") with the result the page shows. Documents are compared as BSON
bytes, so field order and value types are checked too. Errors are checked by MongoDB code.
"""

from __future__ import annotations

import datetime
import math

import pytest
from bson.binary import Binary
from bson.code import Code
from bson.datetime_ms import DatetimeMS
from bson.dbref import DBRef
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp
from hypothesis import given, strategies as st

from sf.store import codec
from sf.store.errors import StoreError
from sf.store.update import apply_update, is_replacement, upsert_seed, validate_replacement

NOW = datetime.datetime(2024, 5, 6, 7, 8, 9, 123000)


def same(actual: dict, expected: dict) -> bool:
    """Same BSON bytes: same fields, in the same order, with the same value types."""
    return codec.encode(actual) == codec.encode(expected)


def error_code(doc: dict, update, **kwargs) -> int:
    with pytest.raises(StoreError) as err:
        apply_update(doc, update, **kwargs)
    return err.value.code


# --- vectors from the documentation ----------------------------------------------------------

PRODUCT = {"_id": 100, "quantity": 250, "instock": True, "reorder": False,
           "details": {"model": "14QQ", "make": "Clothes Corp"}, "tags": ["apparel", "clothing"],
           "ratings": [{"by": "Customer007", "rating": 4}]}

QUIZZES = {"_id": 5, "quizzes": [{"wk": 1, "score": 10}, {"wk": 2, "score": 8}, {"wk": 3, "score": 5},
                                 {"wk": 4, "score": 6}]}

STORES = {"_id": 1, "fruits": ["apples", "pears", "oranges", "grapes", "bananas"],
          "vegetables": ["carrots", "celery", "squash", "carrots"]}

SURVEY = {"_id": 1, "results": [
    {"item": "A", "score": 5, "answers": [{"q": 1, "a": 4}, {"q": 2, "a": 6}]},
    {"item": "B", "score": 8, "answers": [{"q": 1, "a": 8}, {"q": 2, "a": 9}]}]}

QUESTIONS = {"_id": 1, "grades": [{"type": "quiz", "questions": [10, 8, 5]},
                                  {"type": "quiz", "questions": [8, 9, 6]},
                                  {"type": "hw", "questions": [5, 4, 3]},
                                  {"type": "exam", "questions": [25, 10, 23, 0]}]}

DOC_VECTORS = [
    # $set
    ("set top-level fields", PRODUCT,
     {"$set": {"quantity": 500, "details": {"model": "2600", "make": "Fashionaires"},
               "tags": ["coats", "outerwear", "clothing"]}}, {},
     {**PRODUCT, "quantity": 500, "details": {"model": "2600", "make": "Fashionaires"},
      "tags": ["coats", "outerwear", "clothing"]}),
    ("set embedded field", PRODUCT, {"$set": {"details.make": "Kustom Kidz"}}, {},
     {**PRODUCT, "details": {"model": "14QQ", "make": "Kustom Kidz"}}),
    ("set array elements", PRODUCT, {"$set": {"tags.1": "rain gear", "ratings.0.rating": 2}}, {},
     {**PRODUCT, "tags": ["apparel", "rain gear"], "ratings": [{"by": "Customer007", "rating": 2}]}),
    # $unset
    ("unset", {"_id": 1, "item": "chisel", "sku": "C001", "quantity": 4, "instock": True},
     {"$unset": {"quantity": "", "instock": ""}}, {}, {"_id": 1, "item": "chisel", "sku": "C001"}),
    # $inc
    ("inc", {"_id": 1, "sku": "abc123", "quantity": 10, "metrics": {"orders": 2, "ratings": 3.5}},
     {"$inc": {"quantity": -2, "metrics.orders": 1}}, {},
     {"_id": 1, "sku": "abc123", "quantity": 8, "metrics": {"orders": 3, "ratings": 3.5}}),
    # $mul
    ("mul decimal and int", {"_id": 1, "item": "Hats", "price": Decimal128("10.99"), "quantity": 25},
     {"$mul": {"price": Decimal128("1.25"), "quantity": 2}}, {},
     {"_id": 1, "item": "Hats", "price": Decimal128("13.7375"), "quantity": 50}),
    ("mul missing field", {"_id": 2, "item": "Unknown"}, {"$mul": {"price": Int64(100)}}, {},
     {"_id": 2, "item": "Unknown", "price": Int64(0)}),
    ("mul mixed types", {"_id": 3, "item": "Scarf", "price": Int64(10)}, {"$mul": {"price": 5}}, {},
     {"_id": 3, "item": "Scarf", "price": Int64(50)}),
    # $min / $max
    ("min lower", {"_id": 1, "highScore": 800, "lowScore": 200}, {"$min": {"lowScore": 150}}, {},
     {"_id": 1, "highScore": 800, "lowScore": 150}),
    ("max higher", {"_id": 1, "highScore": 800, "lowScore": 200}, {"$max": {"highScore": 950}}, {},
     {"_id": 1, "highScore": 950, "lowScore": 200}),
    ("min dates", {"_id": 1, "desc": "crafts", "dateEntered": datetime.datetime(2013, 10, 1, 5),
                   "dateExpired": datetime.datetime(2013, 10, 1, 16, 38, 16)},
     {"$min": {"dateEntered": datetime.datetime(2013, 9, 25)}}, {},
     {"_id": 1, "desc": "crafts", "dateEntered": datetime.datetime(2013, 9, 25),
      "dateExpired": datetime.datetime(2013, 10, 1, 16, 38, 16)}),
    # $rename
    ("rename field", {"_id": 1, "alias": ["The American Cincinnatus", "The American Fabius"],
                      "mobile": "555-555-5555", "nmae": {"first": "george", "last": "washington"}},
     {"$rename": {"nmae": "name"}}, {},
     {"_id": 1, "alias": ["The American Cincinnatus", "The American Fabius"], "mobile": "555-555-5555",
      "name": {"first": "george", "last": "washington"}}),
    ("rename embedded field", {"_id": 1, "name": {"first": "george", "last": "washington"}},
     {"$rename": {"name.first": "name.fname"}}, {},
     {"_id": 1, "name": {"last": "washington", "fname": "george"}}),
    # $currentDate (with $set; "cancellation.date" < "cancellation.reason" in update order)
    ("currentDate date", {"_id": 1, "status": "a", "lastModified": datetime.datetime(2013, 10, 2, 1, 11, 18, 965000)},
     {"$currentDate": {"lastModified": True}, "$set": {"cancellation.reason": "user request", "status": "D"}},
     {"now": NOW},
     {"_id": 1, "status": "D", "lastModified": NOW, "cancellation": {"reason": "user request"}}),
    # $push and its modifiers
    ("push value", {"_id": 1, "scores": [44, 78, 38, 80]}, {"$push": {"scores": 89}}, {},
     {"_id": 1, "scores": [44, 78, 38, 80, 89]}),
    ("push each", {"_id": 1, "scores": [44, 78, 38, 80]}, {"$push": {"scores": {"$each": [90, 92, 85]}}}, {},
     {"_id": 1, "scores": [44, 78, 38, 80, 90, 92, 85]}),
    ("push each sort slice", QUIZZES,
     {"$push": {"quizzes": {"$each": [{"wk": 5, "score": 8}, {"wk": 6, "score": 7}, {"wk": 7, "score": 6}],
                            "$sort": {"score": -1}, "$slice": 3}}}, {},
     {"_id": 5, "quizzes": [{"wk": 1, "score": 10}, {"wk": 2, "score": 8}, {"wk": 5, "score": 8}]}),
    ("position 0", {"_id": 1, "scores": [100]}, {"$push": {"scores": {"$each": [50, 60, 70], "$position": 0}}}, {},
     {"_id": 1, "scores": [50, 60, 70, 100]}),
    ("position 2", {"_id": 2, "scores": [50, 60, 70, 100]},
     {"$push": {"scores": {"$each": [20, 30], "$position": 2}}}, {},
     {"_id": 2, "scores": [50, 60, 20, 30, 70, 100]}),
    ("position negative", {"_id": 3, "scores": [50, 60, 20, 30, 70, 100]},
     {"$push": {"scores": {"$each": [90, 80], "$position": -2}}}, {},
     {"_id": 3, "scores": [50, 60, 20, 30, 90, 80, 70, 100]}),
    ("slice from the end", {"_id": 1, "scores": [40, 50, 60]},
     {"$push": {"scores": {"$each": [80, 78, 86], "$slice": -5}}}, {},
     {"_id": 1, "scores": [50, 60, 80, 78, 86]}),
    ("slice from the front", {"_id": 2, "scores": [89, 90]},
     {"$push": {"scores": {"$each": [100, 20], "$slice": 3}}}, {}, {"_id": 2, "scores": [89, 90, 100]}),
    ("slice only", {"_id": 3, "scores": [89, 70, 100, 20]}, {"$push": {"scores": {"$each": [], "$slice": -3}}}, {},
     {"_id": 3, "scores": [70, 100, 20]}),
    ("sort documents by a field", {"_id": 1, "quizzes": [{"id": 1, "score": 6}, {"id": 2, "score": 9}]},
     {"$push": {"quizzes": {"$each": [{"id": 3, "score": 8}, {"id": 4, "score": 7}, {"id": 5, "score": 6}],
                            "$sort": {"score": 1}}}}, {},
     {"_id": 1, "quizzes": [{"id": 1, "score": 6}, {"id": 5, "score": 6}, {"id": 4, "score": 7},
                            {"id": 3, "score": 8}, {"id": 2, "score": 9}]}),
    ("sort values", {"_id": 2, "tests": [89, 70, 89, 50]}, {"$push": {"tests": {"$each": [40, 60], "$sort": 1}}}, {},
     {"_id": 2, "tests": [40, 50, 60, 70, 89, 89]}),
    ("sort only", {"_id": 3, "tests": [89, 70, 100, 20]}, {"$push": {"tests": {"$each": [], "$sort": -1}}}, {},
     {"_id": 3, "tests": [100, 89, 70, 20]}),
    # $addToSet
    ("addToSet array value", {"_id": 1, "letters": ["a", "b"]}, {"$addToSet": {"letters": ["c", "d"]}}, {},
     {"_id": 1, "letters": ["a", "b", ["c", "d"]]}),
    ("addToSet new value", {"_id": 1, "item": "polarizing_filter", "tags": ["electronics", "camera"]},
     {"$addToSet": {"tags": "accessories"}}, {},
     {"_id": 1, "item": "polarizing_filter", "tags": ["electronics", "camera", "accessories"]}),
    ("addToSet each", {"_id": 2, "item": "cable", "tags": ["electronics", "supplies"]},
     {"$addToSet": {"tags": {"$each": ["camera", "electronics", "accessories"]}}}, {},
     {"_id": 2, "item": "cable", "tags": ["electronics", "supplies", "camera", "accessories"]}),
    # $pop
    ("pop first", {"_id": 1, "scores": [8, 9, 10]}, {"$pop": {"scores": -1}}, {}, {"_id": 1, "scores": [9, 10]}),
    ("pop last", {"_id": 10, "scores": [9, 10]}, {"$pop": {"scores": 1}}, {}, {"_id": 10, "scores": [9]}),
    # $pull
    ("pull values and condition", STORES,
     {"$pull": {"fruits": {"$in": ["apples", "oranges"]}, "vegetables": "carrots"}}, {},
     {"_id": 1, "fruits": ["pears", "grapes", "bananas"], "vegetables": ["celery", "squash"]}),
    ("pull condition", {"_id": 1, "votes": [3, 5, 6, 7, 7, 8]}, {"$pull": {"votes": {"$gte": 6}}}, {},
     {"_id": 1, "votes": [3, 5]}),
    ("pull documents", {"_id": 1, "results": [{"item": "A", "score": 5}, {"item": "B", "score": 8}]},
     {"$pull": {"results": {"score": 8, "item": "B"}}}, {}, {"_id": 1, "results": [{"item": "A", "score": 5}]}),
    ("pull nested elemMatch", SURVEY,
     {"$pull": {"results": {"answers": {"$elemMatch": {"q": 2, "a": {"$gte": 8}}}}}}, {},
     {"_id": 1, "results": [SURVEY["results"][0]]}),
    # $pullAll
    ("pullAll", {"_id": 1, "scores": [0, 2, 5, 5, 1, 0]}, {"$pullAll": {"scores": [0, 5]}}, {},
     {"_id": 1, "scores": [2, 1]}),
    # $bit
    ("bit and", {"_id": 1, "expdata": 13}, {"$bit": {"expdata": {"and": 10}}}, {}, {"_id": 1, "expdata": 8}),
    ("bit or", {"_id": 2, "expdata": Int64(3)}, {"$bit": {"expdata": {"or": 5}}}, {}, {"_id": 2, "expdata": Int64(7)}),
    ("bit xor", {"_id": 3, "expdata": 1}, {"$bit": {"expdata": {"xor": 5}}}, {}, {"_id": 3, "expdata": 4}),
    # positional $
    ("positional value", {"_id": 1, "grades": [85, 80, 80]}, {"$set": {"grades.$": 82}},
     {"query": {"_id": 1, "grades": 80}}, {"_id": 1, "grades": [85, 82, 80]}),
    ("positional embedded", {"_id": 4, "grades": [{"grade": 80, "mean": 75, "std": 8},
                                                  {"grade": 85, "mean": 90, "std": 5},
                                                  {"grade": 85, "mean": 85, "std": 8}]},
     {"$set": {"grades.$.std": 6}}, {"query": {"_id": 4, "grades.grade": 85}},
     {"_id": 4, "grades": [{"grade": 80, "mean": 75, "std": 8}, {"grade": 85, "mean": 90, "std": 6},
                           {"grade": 85, "mean": 85, "std": 8}]}),
    ("positional elemMatch", {"_id": 5, "grades": [{"grade": 80, "mean": 75, "std": 8},
                                                   {"grade": 85, "mean": 90, "std": 5},
                                                   {"grade": 90, "mean": 85, "std": 3}]},
     {"$set": {"grades.$.std": 6}},
     {"query": {"_id": 5, "grades": {"$elemMatch": {"grade": {"$lte": 90}, "mean": {"$gt": 80}}}}},
     {"_id": 5, "grades": [{"grade": 80, "mean": 75, "std": 8}, {"grade": 85, "mean": 90, "std": 6},
                           {"grade": 90, "mean": 85, "std": 3}]}),
    # $[]
    ("all elements", {"_id": 1, "grades": [85, 82, 80]}, {"$inc": {"grades.$[]": 10}}, {},
     {"_id": 1, "grades": [95, 92, 90]}),
    ("all embedded", {"_id": 1, "grades": [{"grade": 80, "mean": 75, "std": 8}, {"grade": 85, "mean": 90, "std": 6},
                                           {"grade": 85, "mean": 85, "std": 8}]},
     {"$inc": {"grades.$[].std": -2}}, {},
     {"_id": 1, "grades": [{"grade": 80, "mean": 75, "std": 6}, {"grade": 85, "mean": 90, "std": 4},
                           {"grade": 85, "mean": 85, "std": 6}]}),
    ("all nested with filter", QUESTIONS, {"$inc": {"grades.$[].questions.$[score]": 2}},
     {"array_filters": [{"score": {"$gte": 8}}]},
     {"_id": 1, "grades": [{"type": "quiz", "questions": [12, 10, 5]}, {"type": "quiz", "questions": [10, 11, 6]},
                           {"type": "hw", "questions": [5, 4, 3]}, {"type": "exam", "questions": [27, 12, 25, 0]}]}),
    # $[<identifier>]
    ("filtered elements", {"_id": 3, "grades": [95, 110, 100]}, {"$set": {"grades.$[element]": 100}},
     {"array_filters": [{"element": {"$gte": 100}}]}, {"_id": 3, "grades": [95, 100, 100]}),
    ("filtered embedded", {"_id": 1, "grades": [{"grade": 80, "mean": 75, "std": 6},
                                                {"grade": 85, "mean": 90, "std": 4},
                                                {"grade": 85, "mean": 85, "std": 6}]},
     {"$set": {"grades.$[elem].mean": 100}}, {"array_filters": [{"elem.grade": {"$gte": 85}}]},
     {"_id": 1, "grades": [{"grade": 80, "mean": 75, "std": 6}, {"grade": 85, "mean": 100, "std": 4},
                           {"grade": 85, "mean": 100, "std": 6}]}),
    ("filtered on two conditions", {"_id": 2, "grades": [{"grade": 90, "mean": 75, "std": 6},
                                                         {"grade": 87, "mean": 90, "std": 3},
                                                         {"grade": 85, "mean": 85, "std": 4}]},
     {"$inc": {"grades.$[elem].std": -1}}, {"array_filters": [{"elem.grade": {"$gte": 80}, "elem.std": {"$gt": 5}}]},
     {"_id": 2, "grades": [{"grade": 90, "mean": 75, "std": 5}, {"grade": 87, "mean": 90, "std": 3},
                           {"grade": 85, "mean": 85, "std": 4}]}),
    ("filtered nested arrays", QUESTIONS, {"$inc": {"grades.$[t].questions.$[score]": 2}},
     {"array_filters": [{"t.type": "quiz"}, {"score": {"$gte": 8}}]},
     {"_id": 1, "grades": [{"type": "quiz", "questions": [12, 10, 5]}, {"type": "quiz", "questions": [10, 11, 6]},
                           {"type": "hw", "questions": [5, 4, 3]}, {"type": "exam", "questions": [25, 10, 23, 0]}]}),
    # Update Operators: Behavior — numeric field names in numeric order, others lexicographically
    ("numeric field order", {"_id": 1, "a": {}}, {"$set": {"a.10": "ten", "a.2": "two"}}, {},
     {"_id": 1, "a": {"2": "two", "10": "ten"}}),
]


@pytest.mark.parametrize("name, doc, update, kwargs, expected", DOC_VECTORS, ids=[v[0] for v in DOC_VECTORS])
def test_documentation_examples(name, doc, update, kwargs, expected) -> None:
    before = codec.encode(doc)
    result = apply_update(doc, update, **kwargs)
    assert same(result, expected), result
    assert codec.encode(doc) == before  # the input is never modified


def test_currentdate_timestamp_and_date_from_the_documentation() -> None:
    doc = {"_id": 1, "status": "a", "lastModified": datetime.datetime(2013, 10, 2, 1, 11, 18, 965000)}
    update = {"$currentDate": {"lastModified": True, "cancellation.date": {"$type": "timestamp"}},
              "$set": {"cancellation.reason": "user request", "status": "D"}}
    result = apply_update(doc, update, now=NOW)
    assert list(result) == ["_id", "status", "lastModified", "cancellation"]
    assert result["status"] == "D" and result["lastModified"] == NOW
    assert list(result["cancellation"]) == ["date", "reason"]
    stamp = result["cancellation"]["date"]
    assert type(stamp) is Timestamp
    assert stamp.time == int(NOW.replace(tzinfo=datetime.timezone.utc).timestamp())


def test_setoninsert_only_on_the_insert_of_an_upsert() -> None:
    # $setOnInsert page: upsert into an empty collection with {_id: 1}.
    update = {"$set": {"item": "apple"}, "$setOnInsert": {"defaultQty": 100}}
    inserted = apply_update(upsert_seed({"_id": 1}), update, is_upsert_insert=True)
    # The page prints {_id: 1, item: "apple", defaultQty: 100}; MongoDB 5.0+ applies the fields
    # of an update in lexicographic order, so the new fields come in that order.
    assert inserted == {"_id": 1, "item": "apple", "defaultQty": 100}
    assert list(inserted) == ["_id", "defaultQty", "item"]
    existing = {"_id": 1, "item": "pear"}
    assert same(apply_update(existing, update), {"_id": 1, "item": "apple"})


def test_upsert_with_all_positional_needs_the_array_in_the_query() -> None:
    # $[] page: "upsert: true" inserts {myArray: [10, 10]} when the query holds the array.
    seed = upsert_seed({"myArray": [5, 8]})
    result = apply_update(seed, {"$set": {"myArray.$[]": 10}}, is_upsert_insert=True)
    assert type(result["_id"]) is ObjectId and list(result) == ["_id", "myArray"]
    assert result["myArray"] == [10, 10]
    # … and fails when it does not.
    assert error_code(upsert_seed({}), {"$set": {"myArray.$[]": 10}}, is_upsert_insert=True) == 2


def test_upsert_accepts_dollar_prefixed_fields_but_an_update_does_not() -> None:
    # "Dollar-Prefixed Field Names" page: the upsert inserts; the same update of an existing
    # document fails because $hotel is dollar prefixed.
    update = {"$set": {"phone": 25.17, "$hotel": 320.10}}
    inserted = apply_update(upsert_seed({"date": "2021-07-07"}), update, is_upsert_insert=True)
    assert inserted["$hotel"] == 320.10 and inserted["date"] == "2021-07-07"
    assert error_code({"_id": 1, "date": "2021-07-07"}, update) == 52
    # Nested dollar-prefixed fields are allowed (MongoDB 5.0+ only checks the top level).
    assert apply_update({"_id": 1}, {"$set": {"address.$street": "Elm Road"}}) == \
        {"_id": 1, "address": {"$street": "Elm Road"}}


# --- upsert seeds ----------------------------------------------------------------------------

@pytest.mark.parametrize("query, expected", [
    ({"_id": 1, "a.b": 2, "$and": [{"c": 3}]}, {"_id": 1, "a": {"b": 2}, "c": 3}),
    ({"name": "Andy"}, {"name": "Andy"}),
    ({"b": 1, "a": {"$eq": 2}, "c": {"$gt": 1}, "d": Regex("^x"), "e": {"$in": [5]}, "f": {"$in": [1, 2]}},
     {"a": 2, "b": 1, "e": 5}),
    ({"$or": [{"a": 1}]}, {"a": 1}),
    ({"$or": [{"a": 1}, {"b": 2}]}, {}),
    ({"x": {"y": 1}, "z": None}, {"x": {"y": 1}, "z": None}),
])
def test_upsert_seed_takes_the_equalities_of_the_filter(query, expected) -> None:
    assert same(upsert_seed(query), expected)


def test_upsert_seed_errors() -> None:
    with pytest.raises(StoreError) as err:
        upsert_seed({"a": 1, "a.b": 2})
    assert err.value.code == 54
    with pytest.raises(StoreError) as err:
        upsert_seed({"a": 1, "$and": [{"a": 2}]})
    assert err.value.code == 54
    with pytest.raises(StoreError) as err:  # replacement-style upserts need the whole _id
        upsert_seed({"_id.authorID": 1}, replacement=True)
    assert err.value.code == 111
    assert upsert_seed({"_id": 7, "name": "x"}, replacement=True) == {"_id": 7}


def test_upsert_keeps_the_filter_id_and_generates_one_first() -> None:
    inserted = apply_update(upsert_seed({"name": "Andy"}), {"$inc": {"score": 1}}, is_upsert_insert=True)
    assert list(inserted) == ["_id", "name", "score"] and type(inserted["_id"]) is ObjectId
    assert inserted["score"] == 1
    # $setOnInsert may set an _id the filter does not fix, and it goes first …
    inserted = apply_update(upsert_seed({"a": 1}), {"$setOnInsert": {"_id": 5}}, is_upsert_insert=True)
    assert list(inserted.items()) == [("_id", 5), ("a", 1)]
    # … but may not change the filter's (SERVER-18076).
    assert error_code(upsert_seed({"_id": 0}), {"$setOnInsert": {"_id": 1}, "$set": {"x": 1}},
                      is_upsert_insert=True) == 66
    # The positional operator has no match on an insert.
    assert error_code(upsert_seed({"a": 1}), {"$set": {"a.$": 1}}, is_upsert_insert=True) == 2


# --- replacements ----------------------------------------------------------------------------

def test_replacement_keeps_id_and_refuses_to_change_it() -> None:
    assert is_replacement({"a": 1}) and is_replacement({}) and not is_replacement({"$set": {}})
    doc = {"_id": 1, "a": 1, "b": 2}
    assert list(apply_update(doc, {"c": 3}).items()) == [("_id", 1), ("c", 3)]
    assert apply_update(doc, {"_id": 1, "a": 1, "b": 2}) is doc
    assert error_code(doc, {"_id": 2, "c": 3}) == 66
    assert error_code(doc, {"c": 3, "$d": 1}) == 52
    with pytest.raises(StoreError) as err:
        validate_replacement({"_id": [1]})
    assert err.value.code == 53
    validate_replacement({"_id": 1, "ref": {"$ref": "c", "$id": 1}})


# --- types are kept; MongoDB's own promotions ------------------------------------------------

def test_set_true_stays_a_boolean_and_numbers_keep_their_types() -> None:
    result = apply_update({"_id": 1, "n": 1}, {"$set": {"flag": True, "n": Int64(1), "d": 1.0}})
    assert type(result["flag"]) is bool and type(result["n"]) is Int64 and type(result["d"]) is float


@pytest.mark.parametrize("start, inc, expected", [
    (2**31 - 1, 1, Int64(2**31)),            # int32 overflow → int64
    (-(2**31), -1, Int64(-(2**31) - 1)),
    (5, 1, 6),                               # int32 stays int32
    (Int64(5), 1, Int64(6)),                 # any int64 → int64
    (5, Int64(1), Int64(6)),
    (5, 1.5, 6.5),                           # any double → double
    (Int64(2**53), 1.0, float(2**53)),
    (5, Decimal128("1.5"), Decimal128("6.5")),   # any Decimal128 → Decimal128
    (0.1, Decimal128("1"), Decimal128("1.100000000000000")),  # a double widens with 15 digits
])
def test_inc_type_promotion(start, inc, expected) -> None:
    result = apply_update({"_id": 1, "v": start}, {"$inc": {"v": inc}})
    assert type(result["v"]) is type(expected) and str(result["v"]) == str(expected)


def test_mul_type_promotion_and_zero_of_missing_fields() -> None:
    assert apply_update({"_id": 1, "v": 2**20}, {"$mul": {"v": 2**20}})["v"] == Int64(2**40)
    assert type(apply_update({"_id": 1, "v": 2**20}, {"$mul": {"v": 2**20}})["v"]) is Int64
    created = apply_update({"_id": 1}, {"$mul": {"v": -2.0}})["v"]
    assert type(created) is float and created == 0 and math.copysign(1, created) == -1
    assert type(apply_update({"_id": 1}, {"$mul": {"v": 3}})["v"]) is int


def test_int64_overflow_is_an_error() -> None:
    assert error_code({"_id": 1, "v": Int64(2**63 - 1)}, {"$inc": {"v": 1}}) == 2
    assert error_code({"_id": 1, "v": Int64(2**62)}, {"$mul": {"v": 4}}) == 2


def test_unset_of_an_array_element_leaves_null_and_set_pads_with_nulls() -> None:
    assert same(apply_update({"_id": 1, "a": [1, 2, 3]}, {"$unset": {"a.1": 1}}), {"_id": 1, "a": [1, None, 3]})
    assert same(apply_update({"_id": 1, "a": [1]}, {"$set": {"a.3": 4}}), {"_id": 1, "a": [1, None, None, 4]})
    assert same(apply_update({"_id": 1, "a": []}, {"$set": {"a.1.b": 1}}), {"_id": 1, "a": [None, {"b": 1}]})


def test_new_fields_are_appended_in_update_order_and_existing_ones_keep_their_place() -> None:
    result = apply_update({"_id": 1, "z": 1, "m": 1}, {"$set": {"b": 1, "m": 2, "a": 1}, "$inc": {"c.y": 1, "c.x": 1}})
    assert list(result) == ["_id", "z", "m", "a", "b", "c"] and list(result["c"]) == ["x", "y"]
    assert result["m"] == 2


# --- no-ops return the input itself ----------------------------------------------------------

@pytest.mark.parametrize("doc, update", [
    ({"_id": 1, "a": 1}, {"$set": {"a": 1}}),
    ({"_id": 1, "a": 1}, {"$set": {}}),
    ({"_id": 1}, {"$unset": {"a": 1, "b.c": 1}}),
    ({"_id": 1, "a": 5}, {"$unset": {"a.b": 1}}),               # non-viable path: no-op, no error
    ({"_id": 1}, {"$setOnInsert": {"a": 1}}),
    ({"_id": 1, "a": 5}, {"$inc": {"a": 0}}),
    ({"_id": 1, "a": 5}, {"$max": {"a": 3}}),
    ({"_id": 1, "b": "a"}, {"$min": {"b": "z"}}),
    ({"_id": 1, "a": [1, 2]}, {"$pull": {"a": 3}, "$pullAll": {}}),
    ({"_id": 1, "a": [1, 2]}, {"$addToSet": {"a": 2.0}}),       # 2.0 equals 2
    ({"_id": 1, "a": []}, {"$pop": {"a": 1}}),
    ({"_id": 1}, {"$rename": {"a": "b"}}),
    ({"_id": 1, "a": [1]}, {"$set": {"a.$[x]": 1}}),
])
def test_noop_updates_return_the_same_object(doc, update) -> None:
    kwargs = {"array_filters": [{"x": 1}]} if "a.$[x]" in update.get("$set", {}) else {}
    assert apply_update(doc, update, **kwargs) is doc


def test_set_of_an_equal_value_of_another_type_is_a_change() -> None:
    doc = {"_id": 1, "a": 1}
    result = apply_update(doc, {"$set": {"a": 1.0}})
    assert result is not doc and type(result["a"]) is float


# --- errors ----------------------------------------------------------------------------------

ERRORS = [
    ("conflicting operators", {"_id": 1}, {"$set": {"a": 1}, "$inc": {"a.b": 1}}, {}, 40),
    ("conflicting paths", {"_id": 1}, {"$set": {"a.b": 1, "a": 2}}, {}, 40),
    ("rename conflicts with set", {"_id": 1, "a": 1}, {"$rename": {"a": "b"}, "$set": {"a": 2}}, {}, 40),
    ("set _id", {"_id": 1}, {"$set": {"_id": 2}}, {}, 66),
    ("unset _id", {"_id": 1}, {"$unset": {"_id": 1}}, {}, 66),
    ("set inside _id", {"_id": {"a": 0}}, {"$set": {"_id.a": 1}}, {}, 66),
    ("create inside _id", {"_id": {"a": 0}}, {"$set": {"_id.b": 1}}, {}, 66),
    ("rename _id", {"_id": 1}, {"$rename": {"_id": "x"}}, {}, 66),
    ("path through a scalar", {"_id": 1, "a": 1}, {"$set": {"a.b": 2}}, {}, 28),
    ("name inside an array", {"_id": 1, "a": [{"b": 1}]}, {"$inc": {"a.b": 1}}, {}, 28),
    ("unknown modifier", {"_id": 1}, {"$foo": {"a": 1}}, {}, 9),
    ("modifier not a document", {"_id": 1}, {"$set": 1}, {}, 9),
    ("field among modifiers", {"_id": 1}, {"$set": {"a": 1}, "b": 2}, {}, 9),
    ("inc non-numeric argument", {"_id": 1}, {"$inc": {"a": "x"}}, {}, 14),
    ("inc a string", {"_id": 1, "a": "s"}, {"$inc": {"a": 1}}, {}, 14),
    ("inc a null", {"_id": 1, "a": None}, {"$inc": {"a": 1}}, {}, 14),
    ("inc a boolean argument", {"_id": 1}, {"$inc": {"a": True}}, {}, 14),
    ("empty path", {"_id": 1}, {"$set": {"": 1}}, {}, 56),
    ("empty path part", {"_id": 1}, {"$set": {"a..b": 1}}, {}, 56),
    ("dollar-prefixed top-level field", {"_id": 1}, {"$set": {"$a": 1}}, {}, 52),
    ("backfill limit", {"_id": 1, "a": []}, {"$set": {"a.2000000": 1}}, {}, 34),
    ("push to a non-array", {"_id": 1, "a": 1}, {"$push": {"a": 2}}, {}, 2),
    ("push each not an array", {"_id": 1}, {"$push": {"a": {"$each": 1}}}, {}, 2),
    ("push slice not integral", {"_id": 1}, {"$push": {"a": {"$each": [], "$slice": 1.5}}}, {}, 2),
    ("push sort not 1/-1", {"_id": 1}, {"$push": {"a": {"$each": [], "$sort": 2}}}, {}, 2),
    ("push sort empty", {"_id": 1}, {"$push": {"a": {"$each": [], "$sort": {}}}}, {}, 2),
    ("push position not integral", {"_id": 1}, {"$push": {"a": {"$each": [], "$position": "x"}}}, {}, 2),
    ("push unknown clause", {"_id": 1}, {"$push": {"a": {"$each": [], "$foo": 1}}}, {}, 2),
    ("addToSet to a non-array", {"_id": 1, "a": 1}, {"$addToSet": {"a": 2}}, {}, 2),
    ("addToSet each not an array", {"_id": 1}, {"$addToSet": {"a": {"$each": 1}}}, {}, 14),
    ("pop 2", {"_id": 1, "a": [1]}, {"$pop": {"a": 2}}, {}, 9),
    ("pop a non-array", {"_id": 1, "a": 1}, {"$pop": {"a": 1}}, {}, 14),
    ("pull from a non-array", {"_id": 1, "a": 1}, {"$pull": {"a": 1}}, {}, 2),
    ("pullAll not an array", {"_id": 1, "a": [1]}, {"$pullAll": {"a": 1}}, {}, 2),
    ("bit not a document", {"_id": 1, "a": 1}, {"$bit": {"a": 5}}, {}, 2),
    ("bit unknown operation", {"_id": 1, "a": 1}, {"$bit": {"a": {"not": 1}}}, {}, 2),
    ("bit double operand", {"_id": 1, "a": 1}, {"$bit": {"a": {"and": 1.0}}}, {}, 2),
    ("bit of a double", {"_id": 1, "a": 1.0}, {"$bit": {"a": {"and": 1}}}, {}, 2),
    ("currentDate number", {"_id": 1}, {"$currentDate": {"a": 1}}, {}, 2),
    ("currentDate bad type", {"_id": 1}, {"$currentDate": {"a": {"$type": "x"}}}, {}, 2),
    ("rename to a non-string", {"_id": 1, "a": 1}, {"$rename": {"a": 1}}, {}, 2),
    ("rename to itself", {"_id": 1, "a": 1}, {"$rename": {"a": "a"}}, {}, 2),
    ("rename on the same path", {"_id": 1, "a": 1}, {"$rename": {"a": "a.b"}}, {}, 2),
    ("rename dynamic source", {"_id": 1, "a": [1]}, {"$rename": {"a.$": "b"}}, {}, 2),
    ("rename from inside an array", {"_id": 1, "a": [{"b": 1}]}, {"$rename": {"a.0.b": "c"}}, {}, 2),
    ("rename into an array", {"_id": 1, "a": 1, "b": [{}]}, {"$rename": {"a": "b.0.c"}}, {}, 2),
    ("rename through a scalar", {"_id": 1, "a": 1}, {"$rename": {"a.b": "c"}}, {}, 28),
    ("positional without a match", {"_id": 1, "a": [1]}, {"$set": {"a.$": 2}}, {"query": {"_id": 1}}, 2),
    ("positional first", {"_id": 1}, {"$set": {"$.a": 2}}, {}, 2),
    ("two positionals", {"_id": 1}, {"$set": {"a.$.b.$": 2}}, {}, 2),
    ("identifier without a filter", {"_id": 1, "a": [1]}, {"$set": {"a.$[x]": 2}}, {}, 2),
    ("unused array filter", {"_id": 1, "a": [1]}, {"$set": {"a.0": 2}}, {"array_filters": [{"x": 1}]}, 9),
    ("array filter with two names", {"_id": 1, "a": [1]}, {"$set": {"a.$[x]": 2}},
     {"array_filters": [{"x": 1, "y": 1}]}, 9),
    ("array filter name not lowercase", {"_id": 1, "a": [1]}, {"$set": {"a.$[X]": 2}},
     {"array_filters": [{"X": 1}]}, 2),
    ("duplicate array filters", {"_id": 1, "a": [1]}, {"$set": {"a.$[x]": 2}},
     {"array_filters": [{"x": 1}, {"x": 2}]}, 9),
    ("array update of a non-array", {"_id": 1, "a": 1}, {"$set": {"a.$[]": 2}}, {}, 2),
    ("array update of a missing field", {"_id": 1}, {"$set": {"a.$[]": 2}}, {}, 2),
    ("two filters on one element", {"_id": 1, "a": [1]}, {"$set": {"a.$[x]": 1, "a.$[y]": 2}},
     {"array_filters": [{"x": 1}, {"y": 1}]}, 40),
    ("positional meets the same index", {"_id": 1, "a": [1, 2]}, {"$set": {"a.$": 5, "a.1": 6}},
     {"query": {"a": 2}}, 40),
    ("pipeline stage not allowed", {"_id": 1}, [{"$match": {}}], {}, 72),
]


@pytest.mark.parametrize("name, doc, update, kwargs, code", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_carry_mongodb_codes(name, doc, update, kwargs, code) -> None:
    assert error_code(doc, update, **kwargs) == code


def test_errors_name_the_path_and_the_conflict() -> None:
    with pytest.raises(StoreError) as err:
        apply_update({"_id": 1}, {"$set": {"a": 1}, "$inc": {"a.b": 1}})
    assert err.value.message == "Updating the path 'a.b' would create a conflict at 'a'"
    assert err.value.code_name == "ConflictingUpdateOperators"
    with pytest.raises(StoreError) as err:
        apply_update({"_id": 1}, {"$set": {"_id": 2}})
    assert err.value.code_name == "ImmutableField" and "'_id'" in err.value.message


# --- pipelines -------------------------------------------------------------------------------

def test_pipeline_update_runs_the_aggregation_stages() -> None:
    aggregate = pytest.importorskip("sf.store.aggregate")
    if not hasattr(aggregate, "run_pipeline"):
        pytest.skip("store.aggregate.run_pipeline is not there yet")
    doc = {"_id": 1, "a": 1, "b": 2}
    result = apply_update(doc, [{"$set": {"c": {"$add": ["$a", "$b"]}}}, {"$unset": "b"}])
    assert same(result, {"_id": 1, "a": 1, "c": 3})
    assert apply_update(doc, [{"$set": {"a": 1}}]) is doc
    assert error_code(doc, [{"$set": {"_id": 5}}]) == 66


# --- property: $set keeps every BSON value exactly -------------------------------------------

int32s = st.integers(-2**31, 2**31 - 1)
scalars = st.one_of(
    int32s, st.integers(-2**63, 2**63 - 1).map(Int64),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([-0.0, float("nan"), float("-inf")]),
    st.builds(lambda c, e: Decimal128(f"{c}E{e}"), st.integers(-(10**34 - 1), 10**34 - 1), st.integers(-6176, 6111)),
    st.sampled_from([Decimal128("NaN"), Decimal128("-Infinity"), Decimal128("-0")]),
    st.text(max_size=8), st.binary(max_size=8),
    st.builds(Binary, st.binary(max_size=8), st.sampled_from([0, 3, 4, 5, 128])),
    st.builds(ObjectId, st.binary(min_size=12, max_size=12)), st.booleans(), st.none(),
    st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)),
    st.builds(DatetimeMS, st.integers(-2**62, 2**62)),
    st.builds(Regex, st.text(alphabet="ab.*\\d", max_size=5), st.sampled_from(["", "i", "imsx"])),
    st.builds(Timestamp, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    st.just(MinKey()), st.just(MaxKey()),
    st.builds(Code, st.text(max_size=5)), st.builds(Code, st.text(max_size=5), st.just({"x": 1})),
    st.builds(DBRef, st.sampled_from(["c", "coll"]), int32s),
)
bson_values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4),
    st.dictionaries(st.text(alphabet="abc_", min_size=1, max_size=3), children, max_size=4)), max_leaves=12)


@given(bson_values, bson_values)
def test_set_keeps_any_bson_value_and_its_type(value, previous) -> None:
    # As the server sees it: the update and the document come decoded from BSON.
    update = codec.decode(codec.encode({"$set": {"v": value, "n.v": value}}))
    doc = codec.decode(codec.encode({"_id": 1, "v": previous}))
    result = apply_update(doc, update)
    assert codec.encode(result) == codec.encode({"_id": 1, "v": update["$set"]["v"], "n": {"v": update["$set"]["v"]}})
    assert codec.encode(codec.decode(codec.encode(result))) == codec.encode(result)


paths = st.lists(st.sampled_from(["a", "b", "0", "1", "$[]", "$[x]"]), min_size=1, max_size=3).map(".".join)
small_values = st.one_of(int32s, st.floats(allow_nan=False, width=32), st.text(max_size=2), st.none(),
                         st.lists(int32s, max_size=3), st.dictionaries(st.sampled_from(["a", "b"]), int32s, max_size=2))
operations = st.one_of(
    st.builds(lambda p, v: {"$set": {p: v}}, paths, small_values),
    st.builds(lambda p: {"$unset": {p: ""}}, paths),
    st.builds(lambda p, v: {"$inc": {p: v}}, paths, int32s),
    st.builds(lambda p, v: {"$push": {p: {"$each": v, "$sort": 1, "$slice": -3}}}, paths, st.lists(int32s, max_size=3)),
    st.builds(lambda p, v: {"$addToSet": {p: v}}, paths, small_values),
    st.builds(lambda p, v: {"$pull": {p: v}}, paths, small_values),
    st.builds(lambda p: {"$pop": {p: -1}}, paths),
    st.builds(lambda p, q: {"$rename": {p: q}}, st.sampled_from(["a", "b.a", "a.b"]), st.sampled_from(["c", "b.c", "d.e"])),
)
documents = st.dictionaries(st.sampled_from(["a", "b", "c"]), bson_values, max_size=3).map(lambda d: {"_id": 1, **d})


@given(documents, operations)
def test_an_update_never_modifies_its_input(doc, update) -> None:
    doc = codec.decode(codec.encode(doc))
    before = codec.encode(doc)
    filters = [{"x": {"$exists": True}}] if "$[x]" in str(update) else None
    try:
        result = apply_update(doc, update, array_filters=filters)
    except StoreError as error:
        assert error.code in {2, 9, 14, 28, 40, 66}  # invalid for this document, never a crash
        result = doc
    assert codec.encode(doc) == before
    if result is not doc and codec.encode(result) == before:
        # MongoDB also reports these as changes: $unset of a null element, $push with $sort,
        # $rename onto an equal value, $inc of NaN (NaN is never identical to itself).
        assert {"$unset", "$push", "$rename", "$inc"} & set(update)
    codec.encode(result)
