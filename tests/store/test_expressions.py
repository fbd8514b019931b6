"""Aggregation expressions (sf.store.expressions) against MongoDB's documented behaviour.

Expected values come from the MongoDB 7.0 manual pages cited next to each test
(https://www.mongodb.com/docs/manual/reference/operator/aggregation/<name>/) or from the
rules those pages state; types are checked wherever MongoDB's type rules are the point.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId

from sf.store.errors import StoreError
from sf.store.expressions import MISSING, compile_expression, evaluate


def ev(expr, doc=None, variables=None):
    return evaluate(expr, doc if doc is not None else {}, variables)


def same(value, expected):
    """Equal value *and* BSON type (1 and 1.0 and Int64(1) are different results)."""
    return value == expected and type(value) is type(expected)


# --- field paths, variables, literals -------------------------------------------------

def test_field_path_through_arrays_collects_values_of_documents_only():
    # "aggregation field path": non-document array elements are skipped.
    doc = {"a": [{"b": 1}, {"c": 2}, 3, {"b": [4, 5]}]}
    assert ev("$a.b", doc) == [1, [4, 5]]
    assert ev("$a.c.d", doc) == []
    assert ev("$nope", doc) is MISSING
    # numeric components are field names, not indexes, in expressions
    assert ev("$a.0", {"a": [{"b": 1}]}) == []
    assert ev("$a.0", {"a": {"0": "x"}}) == "x"


def test_missing_is_not_null():
    # $eq compares with BSON order where a missing value sorts before null
    assert ev({"$eq": ["$x", None]}) is False
    assert ev({"$eq": ["$x", None]}, {"x": None}) is True
    assert ev({"$lt": ["$x", None]}) is True
    assert ev({"$type": "$x"}) == "missing"
    # an object literal leaves the field out, an array literal holds null
    assert ev({"a": "$x", "b": 1}) == {"b": 1}
    assert ev(["$x", 1]) == [None, 1]


def test_system_variables():
    doc = {"_id": 1, "a": {"b": 2}}
    assert ev("$$ROOT", doc) is doc
    assert ev("$$CURRENT.a.b", doc) == 2
    assert ev("$$REMOVE", doc) is MISSING
    # a variable holding an array is traversed like a field
    assert ev({"$let": {"vars": {"v": [{"x": 1}, 2, {"x": 3}]}, "in": "$$v.x"}}) == [1, 3]
    assert ev({"$let": {"vars": {"CURRENT": "$a"}, "in": "$b"}}, doc) == 2
    now = ev("$$NOW")
    assert isinstance(now, dt.datetime) and now.microsecond % 1000 == 0
    with pytest.raises(StoreError) as err:
        ev("$$undefinedVariable")
    assert err.value.code == 17276


def test_literal_and_let():
    # docs $literal: { $literal: "$1" } is the string "$1"
    assert ev({"$literal": "$1"}) == "$1"
    assert ev({"$literal": {"$add": [2, 3]}}) == {"$add": [2, 3]}
    # docs $let example: total = price + tax, then $cond on applyDiscount
    doc = {"_id": 1, "price": 10, "tax": 0.50, "applyDiscount": True}
    expr = {"$let": {"vars": {"total": {"$add": ["$price", "$tax"]},
                              "discounted": {"$cond": {"if": "$applyDiscount", "then": 0.9,
                                                       "else": 1}}},
                     "in": {"$multiply": ["$$total", "$$discounted"]}}}
    assert ev(expr, doc) == pytest.approx(9.45)


def test_unknown_operator_and_malformed_expressions_fail_at_compile_time():
    with pytest.raises(StoreError) as err:
        compile_expression({"$frobnicate": 1})
    assert err.value.code == 168
    with pytest.raises(StoreError) as err:
        compile_expression({"$add": [1, 2], "$subtract": [1, 2]})
    assert err.value.code == 15983
    with pytest.raises(StoreError) as err:
        compile_expression({"$size": [1, 2]})
    assert err.value.code == 16020
    with pytest.raises(StoreError):
        compile_expression("$a..b")
    with pytest.raises(StoreError) as err:
        compile_expression({"$function": {"body": "x", "args": [], "lang": "js"}})
    assert err.value.code == 238


# --- arithmetic ----------------------------------------------------------------------

def test_add_types_and_overflow():
    assert same(ev({"$add": [1, 2]}), 3)
    assert same(ev({"$add": [2147483647, 1]}), Int64(2147483648))
    assert same(ev({"$add": [Int64(1), 2]}), Int64(3))
    assert same(ev({"$add": [Int64(2**63 - 1), 1]}), float(2**63))
    assert same(ev({"$add": [1, 0.5]}), 1.5)
    assert same(ev({"$add": [Decimal128("1.1"), 1]}), Decimal128("2.1"))
    assert ev({"$add": [1, None]}) is None
    assert ev({"$add": [1, "$missing"]}) is None
    with pytest.raises(StoreError) as err:
        ev({"$add": [1, "a"]})
    assert err.value.code == 16554


def test_add_date_and_subtract_dates():
    # docs $add "Perform Addition on a Date": date + 3 days in milliseconds
    d = dt.datetime(2014, 3, 1, 8, 0)
    assert ev({"$add": ["$date", 3 * 24 * 60 * 60000]}, {"date": d}) == dt.datetime(2014, 3, 4, 8)
    # docs $subtract: date - date is the difference in milliseconds (a long)
    assert same(ev({"$subtract": [dt.datetime(2014, 3, 1, 9), dt.datetime(2014, 3, 1, 8)]}),
                Int64(3600000))
    assert ev({"$subtract": [dt.datetime(2014, 3, 1, 9), 60000]}) == dt.datetime(2014, 3, 1, 8, 59)
    with pytest.raises(StoreError):
        ev({"$add": [dt.datetime(2014, 1, 1), dt.datetime(2014, 1, 1)]})


def test_divide_mod_multiply():
    # docs $divide: { $divide: [ "$hours", 8 ] } with hours 80 → 10 (a double)
    assert same(ev({"$divide": ["$hours", 8]}, {"hours": 80}), 10.0)
    assert same(ev({"$multiply": [2, 3]}), 6)
    assert same(ev({"$multiply": [2, 1.5]}), 3.0)
    # docs $mod: the result has the sign of the dividend
    assert same(ev({"$mod": [-5, 3]}), -2)
    assert same(ev({"$mod": [5.5, 2]}), 1.5)
    with pytest.raises(StoreError) as err:
        ev({"$divide": [1, 0]})
    assert err.value.code == 2
    with pytest.raises(StoreError) as err:
        ev({"$mod": [1, 0]})
    assert err.value.code == 16610


def test_unary_math():
    assert same(ev({"$abs": -1}), 1)
    assert same(ev({"$abs": -2147483648}), Int64(2147483648))
    assert same(ev({"$ceil": 7.80}), 8.0)
    assert same(ev({"$floor": -2.5}), -3.0)
    assert same(ev({"$ceil": 5}), 5)
    assert same(ev({"$sqrt": 25}), 5.0)
    assert same(ev({"$pow": [5, 2]}), 25)
    assert same(ev({"$pow": [5, -2]}), 0.04)
    assert ev({"$ln": math.e}) == pytest.approx(1.0)
    assert ev({"$log": [100, 10]}) == pytest.approx(2.0)
    with pytest.raises(StoreError) as err:
        ev({"$sqrt": -1})
    assert err.value.code == 28714
    assert ev({"$abs": None}) is None


def test_trigonometry_and_bitwise():
    # docs $sin/$degreesToRadians examples: a double; a decimal input gives a decimal
    assert ev({"$sin": {"$degreesToRadians": 30}}) == pytest.approx(0.5)
    assert ev({"$radiansToDegrees": math.pi}) == pytest.approx(180.0)
    assert type(ev({"$cos": Decimal128("0")})) is Decimal128
    assert ev({"$atan2": [1, 1]}) == pytest.approx(math.pi / 4)
    assert ev({"$acos": None}) is None
    with pytest.raises(StoreError) as err:
        ev({"$acos": 2})
    assert err.value.code == 50989
    with pytest.raises(StoreError):
        ev({"$sin": float("inf")})
    # docs $bitAnd / $bitOr / $bitNot: int operands give an int, a long makes a long
    assert same(ev({"$bitAnd": [0b1100, 0b1010]}), 0b1000)
    assert same(ev({"$bitOr": [0b1100, Int64(0b0011)]}), Int64(0b1111))
    assert same(ev({"$bitXor": [5, 3]}), 6)
    assert same(ev({"$bitNot": 0}), -1)
    with pytest.raises(StoreError):
        ev({"$bitAnd": [1, 1.0]})


def test_round_half_to_even_and_trunc():
    # docs $round: "rounds to the nearest even value" at .5; docs examples 19.25 → 19.2 etc.
    assert same(ev({"$round": [19.25, 1]}), 19.2)
    assert same(ev({"$round": [28.73, 1]}), 28.7)
    assert same(ev({"$round": [34.32, 1]}), 34.3)
    assert same(ev({"$round": [-45.39, 1]}), -45.4)
    assert same(ev({"$round": [2.5, 0]}), 2.0)
    assert same(ev({"$round": [3.5, 0]}), 4.0)
    assert same(ev({"$round": [1234, -2]}), 1200)
    assert same(ev({"$trunc": [19.25, 1]}), 19.2)
    assert same(ev({"$trunc": [-45.39, 1]}), -45.3)
    assert same(ev({"$round": [Decimal128("1.25"), 1]}), Decimal128("1.2"))


def test_sum_avg_min_max_as_expressions():
    # docs $sum (expression): one array argument sums its numbers, non-numbers ignored
    doc = {"quizzes": [10, 6, 7], "labs": [5, 8], "final": 80, "midterm": 75}
    assert same(ev({"$sum": "$quizzes"}, doc), 23)
    assert same(ev({"$avg": "$labs"}, doc), 6.5)
    assert same(ev({"$max": "$quizzes"}, doc), 10)
    assert same(ev({"$sum": ["$final", "$midterm"]}, doc), 155)
    assert same(ev({"$sum": [1, "a", None, 2.5]}), 3.5)
    assert same(ev({"$sum": []}), 0)
    assert ev({"$avg": ["a", None]}) is None
    assert ev({"$min": [None, "$missing"]}) is None
    assert ev({"$min": [3, None, 1]}) == 1


# --- comparison, boolean, conditional -----------------------------------------------

def test_comparisons_use_bson_order_across_types():
    assert ev({"$eq": [1, 1.0]}) is True
    assert ev({"$eq": [1, Int64(1)]}) is True
    assert ev({"$eq": [1, True]}) is False
    assert ev({"$cmp": ["a", 1]}) == 1         # strings sort after numbers
    assert ev({"$gt": [{"a": 1}, "z"]}) is True  # objects after strings
    assert ev({"$ne": [[1, 2], [1, 2]]}) is False


def test_truthiness():
    # docs $and: false for false, null, 0, undefined/missing; true for everything else
    for value in (0, 0.0, Int64(0), Decimal128("0"), None, False):
        assert ev({"$not": [{"$literal": value}]}) is True
    for value in (1, "", [], {}, "false", math.nan):
        assert ev({"$and": [{"$literal": value}]}) is True
    assert ev({"$and": []}) is True
    assert ev({"$or": []}) is False
    assert ev({"$or": ["$missing", 0]}) is False


def test_cond_ifnull_switch():
    doc = {"qty": 300, "description": None}
    assert ev({"$cond": {"if": {"$gte": ["$qty", 250]}, "then": 30, "else": 20}}, doc) == 30
    assert ev({"$cond": [{"$lt": ["$qty", 250]}, 30, 20]}, doc) == 20
    # docs $ifNull: null and missing are replaced, the first non-null value wins
    assert ev({"$ifNull": ["$description", "Unspecified"]}, doc) == "Unspecified"
    assert ev({"$ifNull": ["$nope", "$description", "$qty"]}, doc) == 300
    switch = {"$switch": {"branches": [{"case": {"$gte": ["$qty", 500]}, "then": "big"},
                                       {"case": {"$gte": ["$qty", 100]}, "then": "medium"}],
                          "default": "small"}}
    assert ev(switch, doc) == "medium"
    with pytest.raises(StoreError) as err:
        ev({"$switch": {"branches": [{"case": False, "then": 1}]}})
    assert err.value.code == 40066
    with pytest.raises(StoreError):
        compile_expression({"$cond": {"if": True, "then": 1}})


# --- strings ---------------------------------------------------------------------------

def test_string_operators():
    doc = {"item": "ABC1", "description": "product 1", "quarter": "13Q1"}
    # docs $concat example
    assert ev({"$concat": ["$item", " - ", "$description"]}, doc) == "ABC1 - product 1"
    assert ev({"$concat": ["$item", "$nope"]}, doc) is None
    # docs $substr: yearSubstring "13", quarterSubtring "Q1"
    assert ev({"$substr": ["$quarter", 0, 2]}, doc) == "13"
    assert ev({"$substr": ["$quarter", 2, -1]}, doc) == "Q1"
    assert ev({"$toLower": "$item"}, doc) == "abc1"
    assert ev({"$toUpper": "$description"}, doc) == "PRODUCT 1"
    assert ev({"$toLower": None}) == ""
    assert ev({"$strLenCP": "cafétéria"}) == 9
    assert ev({"$strLenBytes": "cafétéria"}) == 11
    assert ev({"$substrCP": ["cafétéria", 0, 5]}) == "cafét"
    # docs $split: "Hanoi, Vietnam" split on ", "
    assert ev({"$split": ["Hanoi, Vietnam", ", "]}) == ["Hanoi", "Vietnam"]
    assert ev({"$indexOfCP": ["cafétéria", "é"]}) == 3
    assert ev({"$indexOfBytes": ["cafétéria", "t"]}) == 5
    assert ev({"$trim": {"input": "  \n good  bye \t  "}}) == "good  bye"
    assert ev({"$ltrim": {"input": "xxhixx", "chars": "x"}}) == "hixx"
    assert ev({"$replaceAll": {"input": "a.b.c", "find": ".", "replacement": "/"}}) == "a/b/c"
    assert ev({"$strcasecmp": ["abc", "ABC"]}) == 0
    with pytest.raises(StoreError) as err:
        ev({"$concat": ["a", 1]})
    assert err.value.code == 16702


def test_regex_operators():
    # docs $regexFind / $regexMatch examples
    assert ev({"$regexMatch": {"input": "Single LINE description.", "regex": "line",
                               "options": "i"}}) is True
    found = ev({"$regexFind": {"input": "Single LINE description.", "regex": "line",
                               "options": "i"}})
    assert found == {"match": "LINE", "idx": 7, "captures": []}
    assert ev({"$regexFind": {"input": "abc", "regex": "z"}}) is None
    all_found = ev({"$regexFindAll": {"input": "a1b22", "regex": "([0-9]+)"}})
    assert all_found == [{"match": "1", "idx": 1, "captures": ["1"]},
                         {"match": "22", "idx": 3, "captures": ["22"]}]


# --- arrays and sets --------------------------------------------------------------------

def test_array_operators():
    doc = {"favorites": ["chocolate", "cake", "butter", "apples"], "n": [1, 2, 3, 4]}
    # docs $arrayElemAt example: first, last, out of range (missing)
    assert ev({"$arrayElemAt": ["$favorites", 0]}, doc) == "chocolate"
    assert ev({"$arrayElemAt": ["$favorites", -1]}, doc) == "apples"
    assert ev({"$arrayElemAt": ["$favorites", 9]}, doc) is MISSING
    assert ev({"$first": "$favorites"}, doc) == "chocolate"
    assert ev({"$last": "$n"}, doc) == 4
    assert ev({"$size": "$n"}, doc) == 4
    assert ev({"$slice": ["$n", -2]}, doc) == [3, 4]
    assert ev({"$slice": ["$n", 1, 2]}, doc) == [2, 3]
    assert ev({"$in": ["cake", "$favorites"]}, doc) is True
    assert ev({"$indexOfArray": ["$n", 3]}, doc) == 2
    assert ev({"$concatArrays": ["$n", [5]]}, doc) == [1, 2, 3, 4, 5]
    assert ev({"$reverseArray": "$n"}, doc) == [4, 3, 2, 1]
    assert ev({"$isArray": ["$n"]}, doc) is True
    assert ev({"$range": [0, 10, 3]}) == [0, 3, 6, 9]
    assert ev({"$zip": {"inputs": [[1, 2], ["a", "b", "c"]]}}) == [[1, "a"], [2, "b"]]
    assert ev({"$arrayToObject": [[["a", 1], ["b", 2]]]}) == {"a": 1, "b": 2}
    assert ev({"$objectToArray": {"a": 1}}) == [{"k": "a", "v": 1}]
    with pytest.raises(StoreError) as err:
        ev({"$size": "$nope"})
    assert err.value.code == 17124
    with pytest.raises(StoreError) as err:
        ev({"$in": [1, "$nope"]})
    assert err.value.code == 40081


def test_filter_map_reduce():
    # docs $filter example: items with price >= 100
    items = [{"item_id": 43, "quantity": 2, "price": 10},
             {"item_id": 2, "quantity": 1, "price": 240}]
    assert ev({"$filter": {"input": "$items", "as": "item",
                           "cond": {"$gte": ["$$item.price", 100]}}}, {"items": items}) == \
        [{"item_id": 2, "quantity": 1, "price": 240}]
    assert ev({"$filter": {"input": [1, 2, 3, 4], "cond": {"$gt": ["$$this", 1]},
                           "limit": 2}}) == [2, 3]
    # docs $map example: add 2 to each quiz score
    assert ev({"$map": {"input": "$quizzes", "as": "grade", "in": {"$add": ["$$grade", 2]}}},
              {"quizzes": [5, 6, 7]}) == [7, 8, 9]
    # docs $reduce examples
    assert ev({"$reduce": {"input": ["a", "b", "c"], "initialValue": "",
                           "in": {"$concat": ["$$value", "$$this"]}}}) == "abc"
    assert ev({"$reduce": {"input": [1, 2, 3, 4], "initialValue": {"sum": 5, "product": 2},
                           "in": {"sum": {"$add": ["$$value.sum", "$$this"]},
                                  "product": {"$multiply": ["$$value.product", "$$this"]}}}}) \
        == {"sum": 15, "product": 48}
    assert ev({"$map": {"input": "$nope", "in": 1}}) is None


def test_sort_array_and_n_operators():
    assert ev({"$sortArray": {"input": [3, 1, 2], "sortBy": -1}}) == [3, 2, 1]
    assert ev({"$sortArray": {"input": [{"a": 2}, {"a": 1}], "sortBy": {"a": 1}}}) == \
        [{"a": 1}, {"a": 2}]
    assert ev({"$maxN": {"input": [3, None, 1, 5], "n": 2}}) == [5, 3]
    assert ev({"$firstN": {"input": [3, None, 1], "n": 2}}) == [3, None]


def test_set_operators():
    # docs $setUnion / $setIntersection / $setDifference / $setEquals / $setIsSubset
    assert sorted(ev({"$setUnion": [["a", "b", "a"], ["b", "c"]]})) == ["a", "b", "c"]
    assert ev({"$setIntersection": [["a", "b", "a"], ["b", "a"]]}) == ["a", "b"]
    assert ev({"$setDifference": [["a", "b", "c"], ["b"]]}) == ["a", "c"]
    assert ev({"$setEquals": [["a", "b", "a"], ["b", "a"]]}) is True
    assert ev({"$setIsSubset": [["a"], ["a", "b"]]}) is True
    assert ev({"$anyElementTrue": [[0, None, 1]]}) is True
    assert ev({"$allElementsTrue": [[1, 0]]}) is False
    assert ev({"$setUnion": [[1], None]}) is None


# --- objects ----------------------------------------------------------------------------

def test_object_operators():
    # docs $mergeObjects: later documents win, null ignored
    assert ev({"$mergeObjects": [{"a": 1, "b": 1}, None, {"b": 2}]}) == {"a": 1, "b": 2}
    assert ev({"$getField": "price.usd"}, {"price.usd": 45}) == 45
    assert ev({"$getField": {"field": "a", "input": {"a": 2}}}) == 2
    # docs $getField: a field name starting with $ through $literal; a missing field is
    # missing, a null or missing input gives null, any other non-object is an error
    assert ev({"$getField": {"$literal": "$price"}}, {"$price": 499.99}) == 499.99
    assert ev({"$getField": {"field": {"$literal": "$small"}, "input": "$quantity"}},
              {"quantity": {"$large": 45, "$small": 5}}) == 5
    assert ev({"$getField": "nope"}, {"a": 1}) is MISSING
    assert ev({"$getField": {"field": "a", "input": "$nope"}}) is None
    with pytest.raises(StoreError):
        ev({"$getField": {"field": "a", "input": 5}})
    assert ev({"$setField": {"field": "a.b", "input": {"x": 1}, "value": 2}}) == \
        {"x": 1, "a.b": 2}
    assert ev({"$setField": {"field": "x", "input": {"x": 1, "y": 2}, "value": "$$REMOVE"}}) == \
        {"y": 2}
    assert ev({"$unsetField": {"field": "x", "input": {"x": 1, "y": 2}}}) == {"y": 2}


# --- types and conversion ---------------------------------------------------------------

def test_type_names():
    cases = [(1, "int"), (Int64(1), "long"), (1.5, "double"), (Decimal128("1"), "decimal"),
             ("s", "string"), (True, "bool"), (None, "null"), ([1], "array"), ({}, "object"),
             (ObjectId(), "objectId"), (dt.datetime(2020, 1, 1), "date")]
    for value, name in cases:
        assert ev({"$type": {"$literal": value}}) == name
    assert ev({"$isNumber": {"$literal": True}}) is False
    assert ev({"$isNumber": Int64(3)}) is True


def test_convert_docs_example():
    # docs $convert example: orders converted to decimal price and int quantity
    orders = [{"_id": 1, "item": "apple", "qty": 5, "price": 10},
              {"_id": 2, "item": "pie", "qty": 10, "price": Decimal128("20.0")},
              {"_id": 3, "item": "ice cream", "qty": 2, "price": "4.99"},
              {"_id": 4, "item": "almonds"},
              {"_id": 5, "item": "bananas", "qty": Int64(5000000000), "price": Decimal128("1.25")}]
    price = {"$convert": {"input": "$price", "to": "decimal", "onError": "Error",
                          "onNull": Decimal128("0")}}
    qty = {"$convert": {"input": "$qty", "to": "int",
                        "onError": {"$concat": ["Could not convert ", {"$toString": "$qty"},
                                                " to type integer."]},
                        "onNull": 0}}
    converted = [(ev(price, o), ev(qty, o)) for o in orders]
    assert converted[0] == (Decimal128("10"), 5)
    assert converted[1] == (Decimal128("20.0"), 10)
    assert converted[2] == (Decimal128("4.99"), 2)
    assert converted[3] == (Decimal128("0"), 0)
    assert converted[4] == (Decimal128("1.25"), "Could not convert 5000000000 to type integer.")
    totals = [ev({"$multiply": [{"$literal": p}, {"$literal": q}]}) for p, q in converted[:4]]
    assert totals == [Decimal128("50"), Decimal128("200.0"), Decimal128("9.98"), Decimal128("0")]


def test_to_type_shortcuts():
    assert same(ev({"$toInt": "42"}), 42)
    assert same(ev({"$toInt": 5.9}), 5)
    assert same(ev({"$toLong": dt.datetime(1970, 1, 1, 0, 0, 1)}), Int64(1000))
    assert same(ev({"$toDouble": True}), 1.0)
    assert same(ev({"$toDouble": "1.5"}), 1.5)
    assert ev({"$toString": 1.0}) == "1"
    assert ev({"$toString": 2.5}) == "2.5"
    assert ev({"$toString": dt.datetime(2018, 3, 27, 4, 8, 58, 223000)}) == \
        "2018-03-27T04:08:58.223Z"
    assert ev({"$toBool": 0}) is False
    assert ev({"$toBool": ""}) is True
    # docs $toDate examples
    assert ev({"$toDate": 120000000000.5}) == dt.datetime(1973, 10, 20, 21, 20)
    assert ev({"$toDate": "2018-03-03"}) == dt.datetime(2018, 3, 3)
    oid = ObjectId("5ab9cbe531c2ab715d42129e")
    # an ObjectId's date is its leading 4 bytes, seconds since the epoch
    assert ev({"$toDate": oid}) == dt.datetime(1970, 1, 1) + dt.timedelta(seconds=0x5AB9CBE5)
    assert ev({"$toObjectId": "5ab9cbe531c2ab715d42129e"}) == oid
    assert ev({"$toInt": None}) is None
    with pytest.raises(StoreError) as err:
        ev({"$toInt": "1.5"})
    assert err.value.code == 241
    with pytest.raises(StoreError) as err:
        ev({"$toInt": Int64(2**40)})
    assert err.value.code == 241


# --- dates ------------------------------------------------------------------------------

def test_date_parts_docs_example():
    # docs $year/$month/... example: ISODate("2014-01-01T08:15:39.736Z")
    d = {"date": dt.datetime(2014, 1, 1, 8, 15, 39, 736000)}
    parts = {op: ev({op: "$date"}, d) for op in
             ("$year", "$month", "$dayOfMonth", "$hour", "$minute", "$second", "$millisecond",
              "$dayOfYear", "$dayOfWeek", "$week")}
    assert parts == {"$year": 2014, "$month": 1, "$dayOfMonth": 1, "$hour": 8, "$minute": 15,
                     "$second": 39, "$millisecond": 736, "$dayOfYear": 1, "$dayOfWeek": 4,
                     "$week": 0}
    assert ev({"$hour": {"date": "$date", "timezone": "America/New_York"}}, d) == 3
    assert ev({"$isoWeek": "$date"}, d) == 1
    assert ev({"$year": "$nope"}, d) is None
    with pytest.raises(StoreError) as err:
        ev({"$year": "2014"})
    assert err.value.code == 16006


def test_date_to_string_docs_example():
    # docs $dateToString example (MongoDB 7.0 page), date ISODate("2014-01-01T08:15:39.736Z")
    d = {"date": dt.datetime(2014, 1, 1, 8, 15, 39, 736000)}

    def fmt(format_, tz=None):
        spec = {"format": format_, "date": "$date"}
        if tz:
            spec["timezone"] = tz
        return ev({"$dateToString": spec}, d)

    assert fmt("%Y-%m-%d") == "2014-01-01"
    assert fmt("%H:%M:%S:%L%z", "America/New_York") == "03:15:39:736-0500"
    assert fmt("%H:%M:%S:%L%z", "+04:30") == "12:45:39:736+0430"
    assert fmt("%Z", "America/New_York") == "-300"
    assert fmt("%Z", "+04:30") == "270"
    assert fmt("%b", "+04:30") == "Jan"
    assert fmt("%B", "+04:30") == "January"
    assert ev({"$dateToString": {"date": "$date"}}, d) == "2014-01-01T08:15:39.736Z"
    assert ev({"$dateToString": {"date": "$nope", "onNull": "none"}}, d) == "none"
    assert fmt("%j %U %V %G %u %w %%") == "001 00 01 2014 3 4 %"
    with pytest.raises(StoreError) as err:
        fmt("%Q")
    assert err.value.code == 18536


def test_date_from_string_and_parts():
    # docs $dateFromString examples
    assert ev({"$dateFromString": {"dateString": "2017-02-08T12:10:40.787",
                                   "timezone": "America/New_York"}}) == \
        dt.datetime(2017, 2, 8, 17, 10, 40, 787000)
    assert ev({"$dateFromString": {"dateString": "15-06-2018", "format": "%d-%m-%Y"}}) == \
        dt.datetime(2018, 6, 15)
    assert ev({"$dateFromString": {"dateString": "not a date", "onError": "bad"}}) == "bad"
    assert ev({"$dateFromString": {"dateString": None, "onNull": "none"}}) == "none"
    # docs $dateFromParts example
    assert ev({"$dateFromParts": {"year": 2017, "month": 2, "day": 8, "hour": 12}}) == \
        dt.datetime(2017, 2, 8, 12)
    assert ev({"$dateFromParts": {"isoWeekYear": 2017, "isoWeek": 6, "isoDayOfWeek": 3,
                                  "hour": 12}}) == dt.datetime(2017, 2, 8, 12)
    assert ev({"$dateFromParts": {"year": 2016, "month": 14, "day": 1}}) == dt.datetime(2017, 2, 1)
    assert ev({"$dateToParts": {"date": dt.datetime(2017, 1, 1, 1, 29, 9, 123000)}}) == \
        {"year": 2017, "month": 1, "day": 1, "hour": 1, "minute": 29, "second": 9,
         "millisecond": 123}


def test_date_trunc_docs_examples():
    # docs $dateTrunc "Truncate Order Dates in a $project Pipeline Stage": two-week bins,
    # weeks starting on Monday, in Los Angeles time
    orders = {0: (dt.datetime(2020, 5, 18, 14, 10, 30), dt.datetime(2020, 5, 11, 7)),
              1: (dt.datetime(2021, 3, 20, 11, 30, 5), dt.datetime(2021, 3, 15, 7)),
              2: (dt.datetime(2021, 1, 11, 6, 31, 15), dt.datetime(2021, 1, 4, 8)),
              3: (dt.datetime(2020, 2, 8, 13, 13, 23), dt.datetime(2020, 2, 3, 8)),
              4: (dt.datetime(2019, 5, 18, 16, 9, 1), dt.datetime(2019, 5, 13, 7)),
              5: (dt.datetime(2019, 1, 8, 6, 12, 3), dt.datetime(2019, 1, 7, 8))}
    expr = {"$dateTrunc": {"date": "$orderDate", "unit": "week", "binSize": 2,
                           "timezone": "America/Los_Angeles", "startOfWeek": "Monday"}}
    for order_date, truncated in orders.values():
        assert ev(expr, {"orderDate": order_date}) == truncated
    # "... in a $group Pipeline Stage": six-month bins from 2000-01-01
    six = {"$dateTrunc": {"date": "$d", "unit": "month", "binSize": 6}}
    assert ev(six, {"d": dt.datetime(2020, 5, 18)}) == dt.datetime(2020, 1, 1)
    assert ev(six, {"d": dt.datetime(2021, 3, 20)}) == dt.datetime(2021, 1, 1)
    # docs: binSize 2 hours on 2021-03-20T11:30:05Z gives 10:00
    assert ev({"$dateTrunc": {"date": dt.datetime(2021, 3, 20, 11, 30, 5), "unit": "hour",
                              "binSize": 2}}) == dt.datetime(2021, 3, 20, 10)
    # null for a null input, and for a week unit with a null startOfWeek only
    assert ev({"$dateTrunc": {"date": None, "unit": "day"}}) is None
    assert ev({"$dateTrunc": {"date": dt.datetime(2021, 3, 20, 11), "unit": "day",
                              "startOfWeek": None}}) == dt.datetime(2021, 3, 20)
    assert ev({"$dateTrunc": {"date": dt.datetime(2021, 3, 20), "unit": "week",
                              "startOfWeek": None}}) is None


def test_date_trunc_add_diff():
    d = dt.datetime(2020, 11, 14, 10, 35, 20)
    assert ev({"$dateTrunc": {"date": d, "unit": "month"}}) == dt.datetime(2020, 11, 1)
    assert ev({"$dateTrunc": {"date": d, "unit": "quarter"}}) == dt.datetime(2020, 10, 1)
    assert ev({"$dateTrunc": {"date": d, "unit": "week"}}) == dt.datetime(2020, 11, 8)
    assert ev({"$dateTrunc": {"date": d, "unit": "hour", "binSize": 6}}) == \
        dt.datetime(2020, 11, 14, 6)
    # docs $dateAdd: adding a month to 31 January lands on the last day of February
    assert ev({"$dateAdd": {"startDate": dt.datetime(2021, 1, 31), "unit": "month",
                            "amount": 1}}) == dt.datetime(2021, 2, 28)
    assert ev({"$dateSubtract": {"startDate": d, "unit": "hour", "amount": 2}}) == \
        dt.datetime(2020, 11, 14, 8, 35, 20)
    # docs $dateDiff: boundaries crossed, not elapsed whole units
    assert ev({"$dateDiff": {"startDate": dt.datetime(2020, 12, 31, 23),
                             "endDate": dt.datetime(2021, 1, 1, 1), "unit": "year"}}) == Int64(1)
    assert ev({"$dateDiff": {"startDate": dt.datetime(2021, 1, 1),
                             "endDate": dt.datetime(2021, 3, 1), "unit": "day"}}) == Int64(59)
    assert ev({"$dateDiff": {"startDate": dt.datetime(2024, 1, 6),   # a Saturday
                             "endDate": dt.datetime(2024, 1, 7),     # the next Sunday
                             "unit": "week"}}) == Int64(1)
    assert ev({"$dateDiff": {"startDate": dt.datetime(2024, 1, 6), "endDate": dt.datetime(2024, 1, 7),
                             "unit": "week", "startOfWeek": "monday"}}) == Int64(0)
