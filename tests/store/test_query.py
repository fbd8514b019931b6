"""Query filters, paths, projections, sorts and key ranges against MongoDB's documented results.

Each vector cites the MongoDB manual page its collection and expected result come from
("docs: <page>"); the others pin MongoDB rules the manual states in prose.
"""

from __future__ import annotations

import datetime
import math

import pytest
from bson.binary import Binary
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.regex import Regex
from bson.timestamp import Timestamp
from hypothesis import given, strategies as st

from sf.store.errors import StoreError
from sf.store.query import compile_filter, get_path_values


def ids(filter, docs, collation=None):
    predicate = compile_filter(filter, collation)
    return [d["_id"] for d in docs if predicate(d)]


# docs: "Query an Array"
ARRAYS = [
    {"_id": "journal", "qty": 25, "tags": ["blank", "red"], "dim_cm": [14, 21]},
    {"_id": "notebook", "qty": 50, "tags": ["red", "blank"], "dim_cm": [14, 21]},
    {"_id": "paper", "qty": 100, "tags": ["red", "blank", "plain"], "dim_cm": [14, 21]},
    {"_id": "planner", "qty": 75, "tags": ["blank", "red"], "dim_cm": [22.85, 30]},
    {"_id": "postcard", "qty": 45, "tags": ["blue"], "dim_cm": [10, 15.25]},
]


@pytest.mark.parametrize("filter, expected", [
    ({"tags": ["red", "blank"]}, ["notebook"]),
    ({"tags": {"$all": ["red", "blank"]}}, ["journal", "notebook", "paper", "planner"]),
    ({"tags": "red"}, ["journal", "notebook", "paper", "planner"]),
    ({"dim_cm": {"$gt": 25}}, ["planner"]),
    ({"dim_cm": {"$gt": 15, "$lt": 20}}, ["journal", "notebook", "paper", "postcard"]),
    ({"dim_cm": {"$elemMatch": {"$gt": 22, "$lt": 30}}}, ["planner"]),
    ({"dim_cm.1": {"$gt": 25}}, ["planner"]),
    ({"tags": {"$size": 3}}, ["paper"]),
    # $ne and $nin hold only if no element matches.
    ({"tags": {"$ne": "red"}}, ["postcard"]),
    ({"tags": {"$nin": ["blue", "plain"]}}, ["journal", "notebook", "planner"]),
])
def test_query_an_array(filter, expected) -> None:
    assert ids(filter, ARRAYS) == expected


# docs: "Query an Array of Embedded Documents"
INSTOCK = [
    {"_id": "journal", "instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "C", "qty": 15}]},
    {"_id": "notebook", "instock": [{"warehouse": "C", "qty": 5}]},
    {"_id": "paper", "instock": [{"warehouse": "A", "qty": 60}, {"warehouse": "B", "qty": 15}]},
    {"_id": "planner", "instock": [{"warehouse": "A", "qty": 40}, {"warehouse": "B", "qty": 5}]},
    {"_id": "postcard", "instock": [{"warehouse": "B", "qty": 15}, {"warehouse": "C", "qty": 35}]},
]


@pytest.mark.parametrize("filter, expected", [
    ({"instock": {"warehouse": "A", "qty": 5}}, ["journal"]),
    ({"instock": {"qty": 5, "warehouse": "A"}}, []),  # field order matters in document equality
    ({"instock.0.qty": {"$lte": 20}}, ["journal", "notebook", "postcard"]),
    ({"instock.qty": {"$lte": 20}}, ["journal", "notebook", "paper", "planner", "postcard"]),
    ({"instock": {"$elemMatch": {"qty": 5, "warehouse": "A"}}}, ["journal"]),
    ({"instock": {"$elemMatch": {"qty": {"$gt": 10, "$lte": 20}}}}, ["journal", "paper", "postcard"]),
    ({"instock.qty": {"$gt": 10, "$lte": 20}}, ["journal", "paper", "planner", "postcard"]),
    ({"instock.qty": 5, "instock.warehouse": "A"}, ["journal", "planner"]),
])
def test_query_an_array_of_embedded_documents(filter, expected) -> None:
    assert ids(filter, INSTOCK) == expected


# docs: "Query for Null or Missing Fields"
NULLS = [{"_id": 1, "item": None}, {"_id": 2}]


@pytest.mark.parametrize("filter, expected", [
    ({"item": None}, [1, 2]),
    ({"item": {"$ne": None}}, []),
    ({"item": {"$type": 10}}, [1]),
    ({"item": {"$type": "null"}}, [1]),
    ({"item": {"$exists": False}}, [2]),
    ({"item": {"$in": [None]}}, [1, 2]),
    ({"item": {"$gte": None}}, [1, 2]),
    ({"item": {"$gt": None}}, []),
    ({"item": {"$lt": MaxKey()}}, [1, 2]),
    ({"item": {"$gt": MinKey()}}, [1, 2]),
])
def test_null_or_missing(filter, expected) -> None:
    assert ids(filter, NULLS) == expected


def test_null_through_arrays() -> None:
    # jstests/core/null2.js: a document of the array lacking the field counts as null;
    # scalars and an empty array do not.
    docs = [{"_id": 1, "a": [{"b": 5}]}, {"_id": 2, "a": [{}]}, {"_id": 3, "a": []},
            {"_id": 4, "a": [{}, {"b": 5}]}, {"_id": 5, "a": [5, {"b": 5}]}, {"_id": 6, "a": 5}]
    assert ids({"a.b": None}, docs) == [2, 4, 6]
    assert ids({"a.b": {"$in": [None]}}, docs) == [2, 4, 6]
    assert ids({"a": None}, [{"_id": 1, "a": [1, None]}, {"_id": 2, "a": [1, 2]}, {"_id": 3, "a": []}]) == [1]


# docs: "$type"
ADDRESSES = [
    {"_id": 1, "zipCode": "90698345"},
    {"_id": 2, "zipCode": 43339374.0},
    {"_id": 3, "zipCode": Int64(3921412)},
    {"_id": 4, "zipCode": 88602117},
    {"_id": 5, "zipCode": ["834847278", "1893289032"]},
]


@pytest.mark.parametrize("spec, expected", [
    (2, [1, 5]), ("string", [1, 5]), (1, [2]), ("double", [2]), ("long", [3]), (18, [3]),
    ("int", [4]), ("number", [2, 3, 4]), (["string", "long"], [1, 3, 5]), ("array", [5]),
    (4.0, [5]), ("bool", []), (Int64(16), [4]),
])
def test_type(spec, expected) -> None:
    assert ids({"zipCode": {"$type": spec}}, ADDRESSES) == expected


@pytest.mark.parametrize("spec", ["bogus", 99, 2.5, None, [1, "nope"]])
def test_type_errors(spec) -> None:
    with pytest.raises(StoreError) as err:
        compile_filter({"a": {"$type": spec}})
    assert err.value.code == 2


# docs: "$regex"
PRODUCTS = [
    {"_id": 100, "sku": "abc123", "description": "Single line description."},
    {"_id": 101, "sku": "abc789", "description": "First line\nSecond line"},
    {"_id": 102, "sku": "xyz456", "description": "Many spaces before     line"},
    {"_id": 103, "sku": "xyz789", "description": "Multiple\nline description"},
    {"_id": 104, "sku": "Abc789", "description": "SKU is in uppercase"},
]


@pytest.mark.parametrize("filter, expected", [
    ({"sku": {"$regex": "789$"}}, [101, 103, 104]),
    ({"sku": Regex("789$")}, [101, 103, 104]),
    ({"sku": {"$regex": Regex("^ABC", "i")}}, [100, 101, 104]),
    ({"sku": {"$regex": "^ABC", "$options": "i"}}, [100, 101, 104]),
    ({"description": {"$regex": "^S", "$options": "m"}}, [100, 101, 104]),
    ({"description": {"$regex": "^S"}}, [100, 104]),
    ({"description": {"$regex": "m.*line", "$options": "si"}}, [102, 103]),
    ({"description": {"$regex": "m.*line", "$options": "i"}}, [102]),
    ({"sku": {"$regex": "abc #category code\n123 #item number", "$options": "x"}}, [100]),
    ({"sku": {"$in": [Regex("^abc"), Regex("^xyz")]}}, [100, 101, 102, 103]),
    ({"sku": {"$in": [Regex("^x"), "Abc789"]}}, [102, 103, 104]),
    ({"sku": {"$nin": [Regex("^abc"), Regex("^xyz")]}}, [104]),
    ({"sku": {"$not": Regex("^abc")}}, [102, 103, 104]),
    ({"sku": {"$not": {"$regex": "^abc"}}}, [102, 103, 104]),
])
def test_regex(filter, expected) -> None:
    assert ids(filter, PRODUCTS) == expected


def test_regex_equality_matches_a_stored_regex() -> None:
    docs = [{"_id": 1, "r": Regex("^a", "i")}, {"_id": 2, "r": "Abc"}, {"_id": 3, "r": "xyz"}]
    assert ids({"r": Regex("^a", "i")}, docs) == [1, 2]  # the same regex, or a matching string
    assert ids({"r": {"$eq": Regex("^a", "i")}}, docs) == [1]  # $eq compares the regex as a value
    assert ids({"r": Regex("^a")}, docs) == []


@pytest.mark.parametrize("spec, code", [
    ({"$regex": "("}, 51091), ({"$regex": "a", "$options": "z"}, 51108), ({"$options": "i"}, 2),
    ({"$regex": 5}, 2), ({"$regex": Regex("a", "i"), "$options": "m"}, 51075),
])
def test_regex_errors(spec, code) -> None:
    with pytest.raises(StoreError) as err:
        compile_filter({"a": spec})
    assert err.value.code == code


# docs: "$mod"
def test_mod() -> None:
    docs = [{"_id": 1, "qty": 0}, {"_id": 2, "qty": 5}, {"_id": 3, "qty": 12}, {"_id": 4, "qty": "12"}]
    assert ids({"qty": {"$mod": [4, 0]}}, docs) == [1, 3]
    # Floating point arguments are truncated toward zero.
    assert ids({"qty": {"$mod": [4.5, 0]}}, docs) == [1, 3]
    assert ids({"qty": {"$mod": [4.99, 0]}}, docs) == [1, 3]
    # The remainder has the dividend's sign (C++ %): -5 mod 4 is -1.
    neg = [{"_id": 1, "qty": -5}, {"_id": 2, "qty": -5.5}, {"_id": 3, "qty": math.nan}]
    assert ids({"qty": {"$mod": [4, -1]}}, neg) == [1, 2]
    assert ids({"qty": {"$mod": [-4, -1]}}, neg) == [1, 2]


@pytest.mark.parametrize("arg", [4, [], [4], [4, 0, 1], ["a", 0], [0, 1], [math.nan, 0]])
def test_mod_errors(arg) -> None:
    with pytest.raises(StoreError) as err:
        compile_filter({"qty": {"$mod": arg}})
    assert err.value.code == 2


# docs: "$bitsAllSet" / "$bitsAnySet" / "$bitsAllClear" / "$bitsAnyClear"
BITS = [
    {"_id": 1, "a": 54},
    {"_id": 2, "a": 20},
    {"_id": 3, "a": 20.0},
    {"_id": 4, "a": Binary(b"\x66", 0)},
]


@pytest.mark.parametrize("filter, expected", [
    ({"a": {"$bitsAllSet": [1, 5]}}, [1, 4]),
    ({"a": {"$bitsAllSet": 50}}, [1]),
    ({"a": {"$bitsAllSet": Binary(b"\x30", 0)}}, [1]),
    ({"a": {"$bitsAnySet": [1, 5]}}, [1, 4]),
    ({"a": {"$bitsAnySet": 35}}, [1, 4]),
    ({"a": {"$bitsAllClear": [1, 5]}}, [2, 3]),
    ({"a": {"$bitsAllClear": 35}}, [2, 3]),
    ({"a": {"$bitsAnyClear": [1, 5]}}, [2, 3]),
    ({"a": {"$bitsAnyClear": 35}}, [1, 2, 3, 4]),
])
def test_bits(filter, expected) -> None:
    assert ids(filter, BITS) == expected


def test_bits_sign_extension_and_non_integers() -> None:
    docs = [{"_id": 1, "a": -5}, {"_id": 2, "a": 5.5}, {"_id": 3, "a": "5"}, {"_id": 4, "a": 2.0**70}]
    # docs: "Numbers are sign extended": bit 200 is set for a negative number.
    assert ids({"a": {"$bitsAllSet": [200]}}, docs) == [1]
    assert ids({"a": {"$bitsAnyClear": [1]}}, docs) == []  # -5 = ...11111011: bit 1 set
    with pytest.raises(StoreError):
        compile_filter({"a": {"$bitsAllSet": -1}})
    with pytest.raises(StoreError):
        compile_filter({"a": {"$bitsAllSet": [1.5]}})


# docs: "$all"
ALL = [
    {"_id": "xyz", "tags": ["school", "book", "bag", "headphone", "appliance"],
     "qty": [{"size": "S", "num": 10, "color": "blue"}, {"size": "M", "num": 45, "color": "blue"},
             {"size": "L", "num": 100, "color": "green"}]},
    {"_id": "abc", "tags": ["appliance", "school", "book"],
     "qty": [{"size": "6", "num": 100, "color": "green"}, {"size": "6", "num": 50, "color": "blue"},
             {"size": "8", "num": 100, "color": "brown"}]},
    {"_id": "efg", "tags": ["school", "book"],
     "qty": [{"size": "S", "num": 10, "color": "blue"}, {"size": "M", "num": 100, "color": "blue"},
             {"size": "L", "num": 100, "color": "green"}]},
    {"_id": "ijk", "tags": ["electronics", "school"], "qty": [{"size": "M", "num": 100, "color": "green"}]},
]


@pytest.mark.parametrize("filter, expected", [
    ({"tags": {"$all": ["appliance", "school", "book"]}}, ["xyz", "abc"]),
    ({"qty": {"$all": [{"$elemMatch": {"size": "M", "num": {"$gt": 50}}},
                       {"$elemMatch": {"num": 100, "color": "green"}}]}}, ["efg", "ijk"]),
    ({"qty.num": {"$all": [50]}}, ["abc"]),
    ({"qty.num": {"$all": []}}, []),
    ({"tags": {"$all": [Regex("^sch"), "book"]}}, ["xyz", "abc", "efg"]),
])
def test_all(filter, expected) -> None:
    assert ids(filter, ALL) == expected


def test_all_of_a_nested_array_is_equality() -> None:
    docs = [{"_id": 1, "a": [[1, 2], 3]}, {"_id": 2, "a": [1, 2]}]
    assert ids({"a": {"$all": [[1, 2]]}}, docs) == [1, 2]


# docs: "$elemMatch (query)"
def test_elem_match() -> None:
    scores = [{"_id": 1, "results": [82, 85, 88]}, {"_id": 2, "results": [75, 88, 89]}]
    assert ids({"results": {"$elemMatch": {"$gte": 80, "$lt": 85}}}, scores) == [1]
    survey = [
        {"_id": 1, "results": [{"product": "abc", "score": 10}, {"product": "xyz", "score": 5}]},
        {"_id": 2, "results": [{"product": "abc", "score": 8}, {"product": "xyz", "score": 7}]},
        {"_id": 3, "results": [{"product": "abc", "score": 7}, {"product": "xyz", "score": 8}]},
        {"_id": 4, "results": [{"product": "abc", "score": 7}, {"product": "def", "score": 8}]},
    ]
    assert ids({"results": {"$elemMatch": {"product": "xyz", "score": {"$gte": 8}}}}, survey) == [3]
    assert ids({"results": {"$elemMatch": {"product": {"$ne": "xyz"}}}}, survey) == [1, 2, 3, 4]
    assert ids({"results.product": {"$ne": "xyz"}}, survey) == [4]
    assert ids({"results": {"$elemMatch": {"$and": [{"product": "abc"}, {"score": 10}]}}}, survey) == [1]
    # Only arrays match, and an empty $elemMatch matches arrays holding a document.
    other = [{"_id": 1, "a": {"b": 1}}, {"_id": 2, "a": [1]}, {"_id": 3, "a": [{}]}]
    assert ids({"a": {"$elemMatch": {}}}, other) == [3]
    assert ids({"a": {"$elemMatch": {"$gt": 0}}}, other) == [2]
    with pytest.raises(StoreError):
        compile_filter({"a": {"$elemMatch": {"$expr": {"$eq": [1, 1]}}}})


def test_not() -> None:
    # docs: "$not": price not greater than 1.99, or missing.
    docs = [{"_id": 1, "price": 1.99}, {"_id": 2, "price": 2.5}, {"_id": 3}, {"_id": 4, "price": [1, 3]}]
    assert ids({"price": {"$not": {"$gt": 1.99}}}, docs) == [1, 3]
    with pytest.raises(StoreError):
        compile_filter({"price": {"$not": {}}})
    with pytest.raises(StoreError):
        compile_filter({"price": {"$not": 5}})


def test_logical_operators() -> None:
    docs = [{"_id": 1, "a": 1, "b": 2}, {"_id": 2, "a": 1}, {"_id": 3, "b": 2}, {"_id": 4}]
    assert ids({"$and": [{"a": 1}, {"b": 2}]}, docs) == [1]
    assert ids({"$or": [{"a": 1}, {"b": 2}]}, docs) == [1, 2, 3]
    assert ids({"$nor": [{"a": 1}, {"b": 2}]}, docs) == [4]
    assert ids({"$comment": "why", "a": 1}, docs) == [1, 2]
    assert ids({}, docs) == [1, 2, 3, 4]
    for bad in ({"$and": []}, {"$or": {}}, {"$nor": [1]}):
        with pytest.raises(StoreError) as err:
            compile_filter(bad)
        assert err.value.code == 2


# --- the classic traps --------------------------------------------------------------

@pytest.mark.parametrize("filter, docs, expected", [
    # A boolean is never a number.
    ({"a": 1}, [{"_id": 1, "a": True}, {"_id": 2, "a": 1.0}], [2]),
    ({"a": True}, [{"_id": 1, "a": True}, {"_id": 2, "a": 1}], [1]),
    ({"a": {"$gt": 0}}, [{"_id": 1, "a": True}, {"_id": 2, "a": Int64(1)}], [2]),
    ({"a": {"$in": [1]}}, [{"_id": 1, "a": True}, {"_id": 2, "a": Decimal128("1.0")}], [2]),
    # Dates and timestamps are different types.
    ({"a": {"$gt": datetime.datetime(2000, 1, 1)}},
     [{"_id": 1, "a": Timestamp(2**31, 1)}, {"_id": 2, "a": datetime.datetime(2001, 1, 1)}], [2]),
    ({"a": {"$lt": Timestamp(5, 0)}}, [{"_id": 1, "a": datetime.datetime(1970, 1, 1)}, {"_id": 2, "a": Timestamp(1, 1)}], [2]),
    # int64 beyond 2**53 compares exactly with doubles.
    ({"a": Int64(2**53 + 1)}, [{"_id": 1, "a": float(2**53)}, {"_id": 2, "a": Int64(2**53 + 1)}], [2]),
    ({"a": {"$gt": float(2**53)}}, [{"_id": 1, "a": Int64(2**53)}, {"_id": 2, "a": Int64(2**53 + 1)}], [2]),
    # Decimal128 against doubles: by exact value.
    ({"a": Decimal128("0.1")}, [{"_id": 1, "a": 0.1}, {"_id": 2, "a": Decimal128("0.10")}], [2]),
    ({"a": 1}, [{"_id": 1, "a": Decimal128("1.000")}, {"_id": 2, "a": "1"}], [1]),
    # NaN equals NaN only; no ordering comparison holds with NaN.
    ({"a": math.nan}, [{"_id": 1, "a": math.nan}, {"_id": 2, "a": 1}, {"_id": 3, "a": Decimal128("NaN")}], [1, 3]),
    ({"a": {"$gt": math.nan}}, [{"_id": 1, "a": math.nan}, {"_id": 2, "a": 1}], []),
    ({"a": {"$gte": math.nan}}, [{"_id": 1, "a": math.nan}, {"_id": 2, "a": 1}], [1]),
    ({"a": {"$lt": 5}}, [{"_id": 1, "a": math.nan}, {"_id": 2, "a": -math.inf}], [2]),
    ({"a": {"$lte": math.inf}}, [{"_id": 1, "a": math.nan}, {"_id": 2, "a": math.inf}], [2]),
    # Type bracketing: a string is neither above nor below a number.
    ({"a": {"$gt": 5}}, [{"_id": 1, "a": "9"}, {"_id": 2, "a": 9}, {"_id": 3, "a": [1, 9]}], [2, 3]),
    ({"a": {"$lt": "m"}}, [{"_id": 1, "a": 1}, {"_id": 2, "a": "a"}, {"_id": 3, "a": None}], [2]),
    # Exact array equality or element equality.
    ({"a": [1, 2]}, [{"_id": 1, "a": [1, 2]}, {"_id": 2, "a": [2, 1]}, {"_id": 3, "a": [[1, 2], 3]},
                     {"_id": 4, "a": [1, 2, 3]}], [1, 3]),
    ({"a": []}, [{"_id": 1, "a": []}, {"_id": 2, "a": [[]]}, {"_id": 3}], [1, 2]),
    ({"a": {"$gt": [1]}}, [{"_id": 1, "a": [2]}, {"_id": 2, "a": [0]}, {"_id": 3, "a": 5}], [1]),
    # Embedded documents compare whole and in field order.
    ({"a": {"b": 1}}, [{"_id": 1, "a": {"b": 1}}, {"_id": 2, "a": {"b": 1, "c": 1}}, {"_id": 3, "a": [{"b": 1.0}]}], [1, 3]),
    # Numeric path components: an index, or a field named like one.
    ({"a.0.b": 1}, [{"_id": 1, "a": [{"b": 1}]}, {"_id": 2, "a": [{"0": {"b": 1}}]}, {"_id": 3, "a": [[{"b": 1}]]},
                    {"_id": 4, "a": {"0": {"b": 1}}}, {"_id": 5, "a": [{"b": 2}, {"b": 1}]}], [1, 2, 3, 4]),
    ({"a.1": 2}, [{"_id": 1, "a": [1, 2]}, {"_id": 2, "a": [2, 1]}], [1]),
    ({"a.0": 1}, [{"_id": 1, "a": [[1, 2]]}, {"_id": 2, "a": [1]}], [2]),
    ({"a.0": [1, 2]}, [{"_id": 1, "a": [[1, 2]]}], [1]),
    ({"a.b": 1}, [{"_id": 1, "a": [[{"b": 1}]]}, {"_id": 2, "a": [{"b": [1]}]}], [2]),
    # $exists through arrays.
    ({"a.b": {"$exists": True}}, [{"_id": 1, "a": [{"b": 1}]}, {"_id": 2, "a": [1]}, {"_id": 3, "a": [{"c": 1}]},
                                  {"_id": 4, "a": [{"b": None}]}], [1, 4]),
    ({"a.b": {"$exists": False}}, [{"_id": 1, "a": [{"b": 1}]}, {"_id": 2, "a": [1]}, {"_id": 3, "a": []}], [2, 3]),
    ({"a.0": {"$exists": True}}, [{"_id": 1, "a": [5]}, {"_id": 2, "a": []}], [1]),
    ({"a": {"$exists": True}}, [{"_id": 1, "a": None}, {"_id": 2, "a": []}, {"_id": 3}], [1, 2]),
    # $size counts arrays only, and only the array the path ends on.
    ({"a": {"$size": 1}}, [{"_id": 1, "a": "x"}, {"_id": 2, "a": [[1, 2]]}, {"_id": 3, "a": {"0": 1}}], [2]),
    ({"a.b": {"$size": 2}}, [{"_id": 1, "a": [{"b": [1, 2]}]}, {"_id": 2, "a": [{"b": 1}, {"b": 2}]}], [1]),
    ({"a": {"$size": 0}}, [{"_id": 1, "a": []}, {"_id": 2}], [1]),
    # $ne / $nin on arrays and missing fields.
    ({"a": {"$ne": 1}}, [{"_id": 1, "a": [1, 2]}, {"_id": 2, "a": [2]}, {"_id": 3}], [2, 3]),
    ({"a": {"$nin": [1, None]}}, [{"_id": 1, "a": [2]}, {"_id": 2}, {"_id": 3, "a": [None]}], [1]),
    ({"a": {"$ne": [1, 2]}}, [{"_id": 1, "a": [1, 2]}, {"_id": 2, "a": [[1, 2]]}, {"_id": 3, "a": [1]}], [3]),
])
def test_traps(filter, docs, expected) -> None:
    assert ids(filter, docs) == expected


@pytest.mark.parametrize("filter, code", [
    ({"a": {"$foo": 1}}, 2), ({"$foo": 1}, 2), ({"a": {"$gt": 1, "b": 1}}, 2), ({"a": {"$in": 5}}, 2),
    ({"a": {"$in": [{"$gt": 1}]}}, 2), ({"a": {"$size": -1}}, 2), ({"a": {"$size": 1.5}}, 2),
    ({"a": {"$size": "1"}}, 2), ({"a": {"$all": 1}}, 2), ({"a": {"$elemMatch": 1}}, 2),
    ({"$where": "true"}, 238), ({"$text": {"$search": "x"}}, 238), ({"$jsonSchema": {}}, 238),
    ({"a": {"$near": [0, 0]}}, 238), ({"a": {"$type": []}}, 9),
])
def test_invalid_or_unsupported_filters(filter, code) -> None:
    with pytest.raises(StoreError) as err:
        compile_filter(filter)
    assert err.value.code == code


def test_operator_document_is_recognised_by_its_first_field() -> None:
    # {a: {b: 1, $gt: 1}} is an equality with an embedded document (MongoDB looks at the first field).
    docs = [{"_id": 1, "a": {"b": 1, "$gt": 1}}, {"_id": 2, "a": 5}]
    assert ids({"a": {"b": 1, "$gt": 1}}, docs) == [1]


def test_collation_applies_to_comparisons_not_to_regexes() -> None:
    docs = [{"_id": 1, "x": "ping"}, {"_id": 2, "x": "pINg"}, {"_id": 3, "x": "pong"}]
    ci = {"locale": "en_US", "strength": 2}
    assert ids({"x": "PING"}, docs, ci) == [1, 2]
    assert ids({"x": "PING"}, docs) == []
    assert ids({"x": {"$in": ["PING"]}}, docs, ci) == [1, 2]
    assert ids({"x": {"$ne": "PING"}}, docs, ci) == [3]
    assert ids({"x": {"$gt": "PIZ"}}, docs, ci) == [3]
    assert ids({"x": Regex("^P")}, docs, ci) == []


def test_get_path_values() -> None:
    doc = {"a": [{"b": [1, 2]}, {"b": 3}, {"c": 4}, 5], "d": {"e": [[1], 2]}, "f": None}
    assert get_path_values(doc, "a.b") == [1, 2, 3]
    assert get_path_values(doc, "a.b", keep_missing=True) == [1, 2, 3, None]
    assert get_path_values(doc, "d.e") == [[1], 2]
    assert get_path_values(doc, "a.0.b") == [1, 2]
    assert get_path_values(doc, "f") == [None]
    assert get_path_values(doc, "zz") == []
    assert get_path_values(doc, "zz", keep_missing=True) == [None]


# --- projections ----------------------------------------------------------------------

from sf.store.query import compile_projection, key_ranges, project, sort_documents  # noqa: E402
from sf.store.bsonorder import encode_key  # noqa: E402

# docs: "Project Fields to Return from Query"
INVENTORY = [
    {"_id": 1, "item": "journal", "status": "A", "size": {"h": 14, "w": 21, "uom": "cm"},
     "instock": [{"warehouse": "A", "qty": 5}]},
    {"_id": 5, "item": "postcard", "status": "A", "size": {"h": 10, "w": 15.25, "uom": "cm"},
     "instock": [{"warehouse": "B", "qty": 15}, {"warehouse": "C", "qty": 35}]},
]


@pytest.mark.parametrize("projection, expected", [
    ({"item": 1, "status": 1}, [{"_id": 1, "item": "journal", "status": "A"}, {"_id": 5, "item": "postcard", "status": "A"}]),
    ({"item": 1, "status": 1, "_id": 0}, [{"item": "journal", "status": "A"}, {"item": "postcard", "status": "A"}]),
    ({"status": 0, "instock": 0}, [{"_id": 1, "item": "journal", "size": {"h": 14, "w": 21, "uom": "cm"}},
                                   {"_id": 5, "item": "postcard", "size": {"h": 10, "w": 15.25, "uom": "cm"}}]),
    ({"item": 1, "status": 1, "size.uom": 1}, [{"_id": 1, "item": "journal", "status": "A", "size": {"uom": "cm"}},
                                              {"_id": 5, "item": "postcard", "status": "A", "size": {"uom": "cm"}}]),
    ({"item": True, "size": {"uom": True}}, [{"_id": 1, "item": "journal", "size": {"uom": "cm"}},
                                             {"_id": 5, "item": "postcard", "size": {"uom": "cm"}}]),
    ({"size.uom": 0, "_id": 0, "instock": 0, "status": 0}, [{"item": "journal", "size": {"h": 14, "w": 21}},
                                                            {"item": "postcard", "size": {"h": 10, "w": 15.25}}]),
    ({"item": 1, "status": 1, "instock.qty": 1}, [{"_id": 1, "item": "journal", "status": "A", "instock": [{"qty": 5}]},
                                                 {"_id": 5, "item": "postcard", "status": "A", "instock": [{"qty": 15}, {"qty": 35}]}]),
    ({"item": 1, "status": 1, "instock": {"$slice": -1}},
     [{"_id": 1, "item": "journal", "status": "A", "instock": [{"warehouse": "A", "qty": 5}]},
      {"_id": 5, "item": "postcard", "status": "A", "instock": [{"warehouse": "C", "qty": 35}]}]),
])
def test_projection_of_the_documentation(projection, expected) -> None:
    assert [project(d, projection) for d in INVENTORY] == expected


def test_projection_keeps_document_order_and_types() -> None:
    doc = {"_id": 1, "b": Int64(2), "a": True, "c": 3}
    assert list(project(doc, {"a": 1, "b": 1})) == ["_id", "b", "a"]
    assert type(project(doc, {"b": 1})["b"]) is Int64
    assert project(doc, {"a": 1})["a"] is True
    assert project(doc, {"_id": 1}) == {"_id": 1}
    assert project(doc, {"_id": 0}) == {"b": 2, "a": True, "c": 3}
    assert project(doc, None) == doc
    assert doc == {"_id": 1, "b": Int64(2), "a": True, "c": 3}  # input untouched


def test_projection_through_arrays() -> None:
    doc = {"_id": 1, "a": [{"b": 1, "c": 2}, 5, {"c": 3}, [{"b": 7}]], "s": 5, "d": {"c": 1}}
    # Inclusion drops scalars and nested arrays, keeps (possibly empty) documents.
    assert project(doc, {"a.b": 1, "_id": 0}) == {"a": [{"b": 1}, {}]}
    # Exclusion keeps scalars and nested arrays whole.
    assert project(doc, {"a.b": 0, "_id": 0, "s": 0, "d": 0}) == {"a": [{"c": 2}, 5, {"c": 3}, [{"b": 7}]]}
    # A dotted inclusion under a scalar drops the field; under a document without it gives {}.
    assert project(doc, {"s.x": 1, "d.x": 1, "_id": 0}) == {"d": {}}
    # Components are field names, never indexes.
    assert project(doc, {"a.0": 1, "_id": 0}) == {"a": [{}, {}]}


# docs: "$slice (projection)"
POSTS = [
    {"_id": 1, "title": "Bagels are not croissants.",
     "comments": [{"comment": "0. true"}, {"comment": "1. croissants aren't bagels."}]},
    {"_id": 2, "title": "Coffee please.",
     "comments": [{"comment": "0. fooey"}, {"comment": "1. tea please"}, {"comment": "2. iced coffee"},
                  {"comment": "3. cappuccino"}, {"comment": "4. whatever"}]},
]


@pytest.mark.parametrize("arg, expected", [
    (3, [["0. true", "1. croissants aren't bagels."], ["0. fooey", "1. tea please", "2. iced coffee"]]),
    (-3, [["0. true", "1. croissants aren't bagels."], ["2. iced coffee", "3. cappuccino", "4. whatever"]]),
    ([1, 3], [["1. croissants aren't bagels."], ["1. tea please", "2. iced coffee", "3. cappuccino"]]),
    ([-1, 3], [["1. croissants aren't bagels."], ["4. whatever"]]),
    (0, [[], []]),
])
def test_slice(arg, expected) -> None:
    results = [project(d, {"comments": {"$slice": arg}}) for d in POSTS]
    assert [[c["comment"] for c in r["comments"]] for r in results] == expected
    assert all(r["title"] == d["title"] for r, d in zip(results, POSTS))  # $slice alone is an exclusion


def test_slice_of_embedded_array_in_inclusion_and_exclusion() -> None:
    # docs: "$slice of Embedded Array"
    doc = {"_id": 1, "item": "socks", "qty": 100, "details": {"colors": ["blue", "red"], "sizes": ["S", "M", "L"]}}
    assert project(doc, {"qty": 1, "details.colors": {"$slice": 1}}) == \
        {"_id": 1, "qty": 100, "details": {"colors": ["blue"]}}
    assert project(doc, {"_id": 0, "details.colors": {"$slice": 1}}) == \
        {"item": "socks", "qty": 100, "details": {"colors": ["blue"], "sizes": ["S", "M", "L"]}}
    assert project({"_id": 1, "a": 5}, {"a": {"$slice": 1}}) == {"_id": 1, "a": 5}
    # With _id: 1, a find $slice makes an inclusion (projection_parser.cpp computeProjectionType).
    assert project({"_id": 1, "a": [1, 2], "b": 3}, {"_id": 1, "a": {"$slice": 1}}) == {"_id": 1, "a": [1]}
    assert project({"_id": 1, "a": [1, 2], "b": 3}, {"_id": 0, "a": {"$slice": 1}}) == {"a": [1], "b": 3}
    # A $slice that is not find's syntax is the aggregation expression.
    assert project({"_id": 1, "a": [1, 2, 3]}, {"x": {"$slice": ["$a", 2]}}) == {"_id": 1, "x": [1, 2]}


# docs: "$elemMatch (projection)"
SCHOOLS = [
    {"_id": 1, "zipcode": "63109", "students": [{"name": "john", "school": 102, "age": 10},
                                                {"name": "jess", "school": 102, "age": 11},
                                                {"name": "jeff", "school": 108, "age": 15}]},
    {"_id": 3, "zipcode": "63109", "students": [{"name": "ajax", "school": 100, "age": 7},
                                                {"name": "achilles", "school": 100, "age": 8}],
     "athletics": ["baseball", "basketball", "soccer"]},
    {"_id": 4, "zipcode": "63109", "students": [{"name": "barney", "school": 102, "age": 7},
                                                {"name": "ruth", "school": 102, "age": 16}]},
]


def test_elem_match_projection() -> None:
    assert [project(d, {"students": {"$elemMatch": {"school": 102}}}) for d in SCHOOLS] == [
        {"_id": 1, "students": [{"name": "john", "school": 102, "age": 10}]},
        {"_id": 3},
        {"_id": 4, "students": [{"name": "barney", "school": 102, "age": 7}]},
    ]
    assert [project(d, {"students": {"$elemMatch": {"school": 102, "age": {"$gt": 10}}}}) for d in SCHOOLS] == [
        {"_id": 1, "students": [{"name": "jess", "school": 102, "age": 11}]},
        {"_id": 3},
        {"_id": 4, "students": [{"name": "ruth", "school": 102, "age": 16}]},
    ]
    # The $elemMatch field comes after the other included fields.
    assert list(project(SCHOOLS[0], {"students": {"$elemMatch": {"school": 102}}, "zipcode": 1})) == \
        ["_id", "zipcode", "students"]
    with pytest.raises(StoreError) as err:
        compile_projection({"a.b": {"$elemMatch": {"x": 1}}})
    assert err.value.code == 31275


# docs: "$ (projection)"
def test_positional_projection() -> None:
    students = [
        {"_id": 1, "semester": 1, "grades": [70, 87, 90]},
        {"_id": 2, "semester": 1, "grades": [90, 88, 92]},
        {"_id": 3, "semester": 1, "grades": [85, 100, 90]},
    ]
    query = {"semester": 1, "grades": {"$gte": 85}}
    assert [project(d, {"grades.$": 1}, matched_filter=query) for d in students] == [
        {"_id": 1, "grades": [87]}, {"_id": 2, "grades": [90]}, {"_id": 3, "grades": [85]}]
    graded = [
        {"_id": 7, "semester": 3, "grades": [{"grade": 80, "mean": 75, "std": 8}, {"grade": 85, "mean": 90, "std": 5},
                                             {"grade": 90, "mean": 85, "std": 3}]},
        {"_id": 8, "semester": 3, "grades": [{"grade": 92, "mean": 88, "std": 8}, {"grade": 78, "mean": 90, "std": 5},
                                             {"grade": 88, "mean": 85, "std": 3}]},
    ]
    assert [project(d, {"grades.$": 1}, matched_filter={"grades.mean": {"$gt": 70}}) for d in graded] == [
        {"_id": 7, "grades": [{"grade": 80, "mean": 75, "std": 8}]},
        {"_id": 8, "grades": [{"grade": 92, "mean": 88, "std": 8}]}]
    elem = {"grades": {"$elemMatch": {"mean": {"$gt": 70}, "grade": {"$gt": 90}}}}
    assert project(graded[1], {"grades.$": 1}, matched_filter=elem) == {"_id": 8, "grades": [graded[1]["grades"][0]]}
    # The branch of $or that matched decides.
    either = {"$or": [{"semester": 9}, {"grades": {"$gt": 88}}]}
    assert project(students[1], {"grades.$": 1}, matched_filter=either) == {"_id": 2, "grades": [90]}
    with pytest.raises(StoreError) as err:
        project(students[0], {"grades.$": 1}, matched_filter={"semester": 1})
    assert err.value.code == 51246  # the query has no condition on grades
    with pytest.raises(StoreError) as err:
        project(students[0], {"grades.$": 1})
    assert err.value.code == 51050
    with pytest.raises(StoreError) as err:
        project(students[0], {"grades.$": 1}, matched_filter={"grades": {"$not": {"$gt": 100}}})
    assert err.value.code == 51246


@pytest.mark.parametrize("projection, code", [
    ({"a": 1, "b": 0}, 31254), ({"a": 0, "b": 1}, 31253), ({"a": 1, "a.b": 1}, 31249),
    ({"a.b": 1, "a": 1}, 31250), ({"a": {}}, 51270), ({"$a": 1}, 16410), ({"a": {"$meta": "textScore"}}, 238),
    ({"a": 0, "b": {"$add": [1, 2]}}, 31252), ({"a": 0, "b": "x"}, 31310), ({"b": "x", "a": 0}, 31254),
    ({"a": {"$slice": [1, 2, 3, 4]}}, 31272), ({"a": {"$slice": "x"}}, 31273),
    ({"a.$": 1, "b.$": 1}, 31276), ({"a.$": 0}, 31395), ({"a.$": "x"}, 31308), ({"a.$": {"b": 1}}, 31271),
    ({"a.$.b": 1}, 31394), ({"a": {"$foo": 1}}, 31325), ({"a": {"$elemMatch": 1}}, 31274),
    ({"a.$": 1, "b": {"$elemMatch": {}}}, 31255), ({"b": {"$elemMatch": {}}, "a.$": 1}, 31256),
])
def test_projection_errors(projection, code) -> None:
    with pytest.raises(StoreError) as err:
        compile_projection(projection)
    assert err.value.code == code


# --- sorts ----------------------------------------------------------------------------

def test_sort_of_the_documentation() -> None:
    # docs: "cursor.sort()": sort consistency with a duplicate borough, ties broken by _id.
    restaurants = [
        {"_id": 1, "name": "Central Park Cafe", "borough": "Manhattan"},
        {"_id": 2, "name": "Rock A Feller Bar and Grill", "borough": "Queens"},
        {"_id": 3, "name": "Empire State Pub", "borough": "Brooklyn"},
        {"_id": 4, "name": "Stan's Pizzaria", "borough": "Manhattan"},
        {"_id": 5, "name": "Jane's Deli", "borough": "Brooklyn"},
    ]
    assert [d["_id"] for d in sort_documents(restaurants, {"borough": 1, "_id": 1})] == [3, 5, 1, 4, 2]
    assert [d["_id"] for d in sort_documents(restaurants, {"borough": -1, "_id": -1})] == [2, 4, 1, 5, 3]
    # Stable: equal keys keep their input order.
    assert [d["_id"] for d in sort_documents(restaurants, {"borough": 1})] == [3, 5, 1, 4, 2]


def test_sort_of_arrays_missing_and_mixed_types() -> None:
    # docs: "Comparison/Sort Order": ascending uses an array's smallest element, descending its
    # largest; an empty array sorts below null and missing; types in BSON order.
    docs = [{"_id": "one", "v": [1]}, {"_id": "two", "v": 2}, {"_id": "wide", "v": [0, 10]},
            {"_id": "empty", "v": []}, {"_id": "missing"}, {"_id": "null", "v": None},
            {"_id": "text", "v": "a"}, {"_id": "bool", "v": False}]
    assert [d["_id"] for d in sort_documents(docs, {"v": 1})] == \
        ["empty", "missing", "null", "wide", "one", "two", "text", "bool"]
    assert [d["_id"] for d in sort_documents(docs, {"v": -1})] == \
        ["bool", "text", "wide", "two", "one", "missing", "null", "empty"]
    nested = [{"_id": 1, "a": [{"b": 5}, {"b": 1}]}, {"_id": 2, "a": {"b": 3}}]
    assert [d["_id"] for d in sort_documents(nested, {"a.b": 1})] == [1, 2]
    assert [d["_id"] for d in sort_documents(nested, {"a.b": -1})] == [1, 2]


def test_sort_with_collation_and_errors() -> None:
    docs = [{"_id": 1, "s": "b"}, {"_id": 2, "s": "B"}, {"_id": 3, "s": "a"}]
    assert [d["_id"] for d in sort_documents(docs, {"s": 1})] == [2, 3, 1]
    assert [d["_id"] for d in sort_documents(docs, {"s": 1}, {"locale": "en", "strength": 2})] == [3, 1, 2]
    for bad in ({"s": 2}, {"s": "asc"}, {"s": 0}):
        with pytest.raises(StoreError) as err:
            sort_documents(docs, bad)
        assert err.value.code == 15975


# --- key ranges -----------------------------------------------------------------------

def in_ranges(key: bytes, ranges) -> bool:
    return any((low < key or (low == key and low_in)) and (key < high or (key == high and high_in))
               for low, high, low_in, high_in in ranges)


def test_key_ranges_vectors() -> None:
    assert key_ranges({"_id": 5}, "_id") == [(encode_key(5), encode_key(5), True, True)]
    assert key_ranges({"_id": {"$in": [1, 1.0, Int64(2)]}}, "_id") == [
        (encode_key(1), encode_key(1), True, True), (encode_key(2), encode_key(2), True, True)]
    assert key_ranges({"_id": {"$in": []}}, "_id") == []
    assert key_ranges({"_id": {"$gt": 5, "$lt": 3}}, "_id") == []
    assert key_ranges({"x": 1}, "_id") is None
    assert key_ranges({"_id": None}, "_id") is None
    assert key_ranges({"_id": Regex("^a")}, "_id") is None
    assert key_ranges({"_id": "A"}, "_id", collation={"locale": "en", "strength": 2}) is None
    assert key_ranges({"_id": 5}, "_id", collation={"locale": "en", "strength": 2}) is not None
    # Type bracketing: {$gt: 5} reaches numbers only.
    (low, high, low_in, high_in), = key_ranges({"_id": {"$gt": 5}}, "_id")
    assert low == encode_key(5) and not low_in
    assert in_ranges(encode_key(math.inf), [(low, high, low_in, high_in)])
    assert not in_ranges(encode_key("6"), [(low, high, low_in, high_in)])
    # A multikey field cannot intersect its conditions: a: [0, 9] matches {$gt: 1, $lt: 5}.
    ranges = key_ranges({"a": {"$gt": 1, "$lt": 5}}, "a")
    assert in_ranges(encode_key(0), ranges) or in_ranges(encode_key(9), ranges)


scalar_values = st.one_of(
    st.integers(-5, 5), st.sampled_from([0.5, -1.5, math.nan, math.inf, 2.0]), st.builds(Int64, st.integers(-5, 5)),
    st.sampled_from([Decimal128("1"), Decimal128("2.5"), Decimal128("NaN")]),
    st.sampled_from(["", "a", "b", "ab"]), st.none(), st.booleans(),
    st.sampled_from([datetime.datetime(2020, 1, 1), Timestamp(1, 1), MinKey(), MaxKey()]),
)
field_values = st.one_of(scalar_values, st.lists(scalar_values, max_size=3))
conditions = st.one_of(
    scalar_values.map(lambda v: v),
    st.builds(lambda op, v: {op: v}, st.sampled_from(["$eq", "$gt", "$gte", "$lt", "$lte"]), scalar_values),
    st.builds(lambda vs: {"$in": vs}, st.lists(scalar_values, max_size=3)),
    st.builds(lambda a, b: {"$gt": a, "$lt": b}, scalar_values, scalar_values),
    st.builds(lambda a, b: {"$gte": a, "$lte": b}, scalar_values, scalar_values),
)
filters = st.one_of(
    conditions.map(lambda c: {"f": c}),
    st.lists(conditions, min_size=1, max_size=3).map(lambda cs: {"$and": [{"f": c} for c in cs]}),
    st.lists(conditions, min_size=1, max_size=3).map(lambda cs: {"$or": [{"f": c} for c in cs]}),
    st.builds(lambda c, d: {"f": c, "$and": [{"f": d}]}, conditions, conditions),
)


@given(filters, field_values)
def test_key_ranges_never_miss_a_match(filter, value) -> None:
    doc = {"_id": 0, "f": value}
    if not compile_filter(filter)(doc):
        return
    if isinstance(value, list):
        keys = [encode_key(v) for v in value]
    else:
        keys = [encode_key(value)]
    ranges = key_ranges(filter, "f")
    if ranges is not None:
        assert any(in_ranges(k, ranges) for k in keys), (filter, value, ranges)
    if not isinstance(value, list):
        rewritten = _rename(filter)
        id_ranges = key_ranges(rewritten, "_id")
        if id_ranges is not None:
            assert compile_filter(rewritten)({"_id": value})
            assert in_ranges(keys[0], id_ranges), (rewritten, value, id_ranges)


def _rename(filter):
    """The filter with field f renamed to _id (a field that is never an array)."""
    if isinstance(filter, list):
        return [_rename(f) for f in filter]
    if isinstance(filter, dict):
        return {("_id" if k == "f" else k): (_rename(v) if k.startswith("$") else v) for k, v in filter.items()}
    return filter





# --- $expr and expressions in projections (through store.expressions) -------------------

def test_expr() -> None:
    # docs: "$expr": categories that spent over budget.
    budget = [
        {"_id": 1, "category": "food", "budget": 400, "spent": 450},
        {"_id": 2, "category": "drinks", "budget": 100, "spent": 150},
        {"_id": 3, "category": "clothes", "budget": 100, "spent": 50},
        {"_id": 4, "category": "misc", "budget": 500, "spent": 300},
        {"_id": 5, "category": "travel", "budget": 200, "spent": 650},
    ]
    assert ids({"$expr": {"$gt": ["$spent", "$budget"]}}, budget) == [1, 2, 5]
    assert [d["_id"] for d in budget if compile_filter({"$expr": {"$lt": ["$spent", "$$limit"]}},
                                                       variables={"limit": 100})(d)] == [3]
    # Truthiness: 0, null and missing are false; "" and [] are true.
    assert ids({"$expr": "$v"}, [{"_id": 1, "v": 0}, {"_id": 2, "v": ""}, {"_id": 3, "v": []}, {"_id": 4},
                                 {"_id": 5, "v": None}, {"_id": 6, "v": Decimal128("0")}]) == [2, 3]


def test_expressions_in_projection() -> None:
    # docs: "Project Fields to Return from Query" — aggregation expressions in find projections.
    doc = {"_id": 1, "item": "journal", "status": "A", "size": {"h": 14, "w": 21, "uom": "cm"}}
    projection = {
        "_id": 0, "item": 1,
        "status": {"$switch": {"branches": [{"case": {"$eq": ["$status", "A"]}, "then": "Available"},
                                            {"case": {"$eq": ["$status", "D"]}, "then": "Discontinued"}],
                               "default": "No status found"}},
        "area": {"$concat": [{"$toString": {"$multiply": ["$size.h", "$size.w"]}}, " ", "$size.uom"]},
        "reportNumber": {"$literal": 1},
    }
    result = project(doc, projection)
    assert result == {"item": "journal", "status": "Available", "area": "294 cm", "reportNumber": 1}
    assert list(result) == ["item", "status", "area", "reportNumber"]
    # Literals, field paths, $$REMOVE, nested computed fields and variables.
    assert project({"_id": 1, "a": 5}, {"x": "text", "y": "$a", "z": "$$REMOVE", "n.m": "$a", "v": "$$k"},
                   variables={"k": 7}) == {"_id": 1, "x": "text", "y": 5, "n": {"m": 5}, "v": 7}
    with pytest.raises(StoreError):
        compile_projection({"a": {"$noSuchOperator": 1}})


def test_dbref_fields_are_reachable() -> None:
    from bson.dbref import DBRef
    docs = [{"_id": 1, "r": DBRef("c", 5)}, {"_id": 2, "r": [DBRef("c", 6)]}]
    assert ids({"r.$id": 5}, docs) == [1]
    assert ids({"r.$id": 6}, docs) == [2]
    assert ids({"r": DBRef("c", 5)}, docs) == [1]
    assert ids({"r": {"$ref": "c", "$id": 6}}, docs) == [2]


comparable = st.one_of(
    st.integers(-3, 3), st.builds(Int64, st.integers(-3, 3)), st.sampled_from([-0.0, 1.5, math.nan, math.inf, 2.0]),
    st.sampled_from(["", "a", "b"]), st.sampled_from([datetime.datetime(2020, 1, 1), datetime.datetime(2021, 1, 1)]),
    st.sampled_from([Decimal128("1.5"), Decimal128("NaN"), None, True, MinKey(), MaxKey(), Timestamp(1, 1)]),
)


@given(comparable, comparable, st.sampled_from(["$eq", "$lt", "$lte", "$gt", "$gte"]))
def test_comparison_operators_follow_the_bson_order(value, rhs, op) -> None:
    # Reference (MongoDB's ComparisonMatchExpression): values of different canonical types never
    # compare, except against MinKey/MaxKey; then NaN equals NaN only and is neither < nor >.
    from sf.store.bsonorder import compare, is_nan, type_rank
    c = compare(value, rhs)
    if type_rank(value) != type_rank(rhs):
        expected = isinstance(rhs, (MinKey, MaxKey)) and op != "$eq" and (c < 0 if op in ("$lt", "$lte") else c > 0)
    elif is_nan(value) or is_nan(rhs):
        expected = op in ("$eq", "$lte", "$gte") and is_nan(value) and is_nan(rhs)
    else:
        expected = {"$eq": c == 0, "$lt": c < 0, "$lte": c <= 0, "$gt": c > 0, "$gte": c >= 0}[op]
    assert compile_filter({"f": {op: rhs}})({"f": value}) == expected


def test_elem_match_in_an_exclusion_projection_stays_in_place() -> None:
    doc = {"_id": 1, "a": 1, "s": [{"x": 1}, {"x": 2}], "z": 0}
    assert project(doc, {"a": 0, "s": {"$elemMatch": {"x": 2}}}) == {"_id": 1, "s": [{"x": 2}], "z": 0}
    assert project(doc, {"a": 0, "s": {"$elemMatch": {"x": 3}}}) == {"_id": 1, "z": 0}
    # $elemMatch alone (whatever _id says) is an inclusion.
    assert project(doc, {"_id": 0, "s": {"$elemMatch": {"x": 1}}}) == {"s": [{"x": 1}]}


# The index contract the storage layer relies on: a document matching {path: x} or {path: {$gt: x}}
# for a scalar x (not null) has a value among get_path_values(doc, path) that does.
leaf_values = st.one_of(st.integers(0, 3), st.sampled_from(["a", "b", 1.5, None, True]))
documents = st.recursive(
    leaf_values,
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(["a", "b", "0", "1"]), children, max_size=3)),
    max_leaves=10,
).map(lambda v: v if isinstance(v, dict) else {"a": v})
paths = st.lists(st.sampled_from(["a", "b", "0", "1"]), min_size=1, max_size=3).map(".".join)


@given(documents, paths, st.sampled_from([0, 1, 2, 3, "a", "b", 1.5, True]), st.sampled_from(["$eq", "$gt", "$lte"]))
def test_path_values_hold_every_value_a_comparison_can_match(doc, path, x, op) -> None:
    values = get_path_values(doc, path)
    for v in values:
        assert compile_filter({path: {"$eq": v}})(doc)  # each value reached is matched by equality
    if compile_filter({path: {op: x}})(doc):
        # ({"v": [v]} tests v as one value: a path expands a leaf array one level only.)
        assert any(compile_filter({"v": {op: x}})({"v": [v]}) for v in values)


@pytest.mark.parametrize("pattern, text, found", [
    # PCRE constructs Python spells differently: \z, \Z, \Q...\E, POSIX classes, named groups.
    (r"^ab\z", "ab", True), (r"^ab\z", "ab\n", False), (r"^ab\Z", "ab\n", True), (r"^ab\Z", "ab\nc", False),
    (r"\Q1.5\E", "1x5", False), (r"\Q1.5\E", "1.5", True), (r"^[[:digit:]]+$", "123", True),
    (r"^[[:alpha:]]+$", "ab1", False), (r"^[^[:space:]]+$", "a b", False), (r"(?<y>\d{4})-\k<y>", "2020-2020", True),
    (r"(?<=a)b", "ab", True), (r"[]a]", "]", True), (r"\h", "\t", True),
])
def test_pcre_patterns(pattern, text, found) -> None:
    assert ids({"s": {"$regex": pattern}}, [{"_id": 1, "s": text}]) == ([1] if found else [])
