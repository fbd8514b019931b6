"""Aggregation pipelines (sf.store.aggregate) against MongoDB's documented behaviour.

Each test names the MongoDB 7.0 manual page whose example it replays
(https://www.mongodb.com/docs/manual/reference/operator/aggregation/<stage>/) with the page's
expected output, or the server's own jstest it follows; the rest check the rules those pages
state (types, missing versus null, errors). No server is involved: a small in-memory
PipelineContext stands for the other collections of the database.
"""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from bson.decimal128 import Decimal128
from hypothesis import given
from hypothesis import strategies as st
from bson.int64 import Int64

from sf.store.aggregate import WhenMatchedPipeline, merge_matched, run_pipeline
from sf.store.errors import StoreError


class Collections:
    """A PipelineContext over dicts of documents; records $out and $merge calls."""

    def __init__(self, **collections: list[dict]) -> None:
        self.collections = collections
        self.out: dict[str, list[dict]] = {}
        self.merged: list[tuple] = []

    def scan(self, collection: str):
        return iter(self.collections.get(collection, []))

    def write_out(self, collection: str, docs: list[dict]) -> None:
        self.out[collection] = docs

    def merge_into(self, collection, docs, on, when_matched, when_not_matched) -> None:
        self.merged.append((collection, docs, on, when_matched, when_not_matched))


def agg(docs, pipeline, ctx=None, **kwargs):
    return list(run_pipeline(docs, pipeline, ctx or Collections(), **kwargs))


def by_id(docs):
    return sorted(docs, key=lambda d: repr(d["_id"]))


def code_of(docs, pipeline, ctx=None) -> int:
    with pytest.raises(StoreError) as err:
        agg(docs, pipeline, ctx)
    return err.value.code


SALES = [
    {"_id": 1, "item": "abc", "price": 10, "quantity": 2, "date": dt.datetime(2014, 3, 1, 8)},
    {"_id": 2, "item": "jkl", "price": 20, "quantity": 1, "date": dt.datetime(2014, 3, 1, 9)},
    {"_id": 3, "item": "xyz", "price": 5, "quantity": 10, "date": dt.datetime(2014, 3, 15, 9)},
    {"_id": 4, "item": "xyz", "price": 5, "quantity": 20,
     "date": dt.datetime(2014, 4, 4, 11, 21, 39, 736000)},
    {"_id": 5, "item": "abc", "price": 10, "quantity": 10,
     "date": dt.datetime(2014, 4, 4, 21, 23, 13, 331000)},
]


# --- the analysts' queries ---------------------------------------------------------------

def test_match_on_a_date_inside_the_id_then_count():
    # db.Features.aggregate([{$match: {"_id.periode": ISODate("2023-11-01")}}, {$count: "n"}])
    features = [{"_id": {"siret": "1", "periode": dt.datetime(2023, 11, 1)}},
                {"_id": {"siret": "2", "periode": dt.datetime(2023, 11, 1)}},
                {"_id": {"siret": "1", "periode": dt.datetime(2023, 10, 1)}}]
    assert agg(features, [{"$match": {"_id.periode": dt.datetime(2023, 11, 1)}},
                          {"$count": "n"}]) == [{"n": 2}]
    assert agg(features, [{"$match": {"_id.periode": dt.datetime(2020, 1, 1)}},
                          {"$count": "n"}]) == []


def test_group_by_a_compound_id_of_field_paths():
    # {$group: {_id: {batch: "$batch", type: "$type"}, n: {$sum: 1}}}: the evaluated document
    # is the key, never the literal strings
    docs = [{"batch": "2311", "type": "effectif"}, {"batch": "2311", "type": "effectif"},
            {"batch": "2311", "type": "apconso"}, {"batch": "2312", "type": "effectif"}]
    out = agg(docs, [{"$group": {"_id": {"batch": "$batch", "type": "$type"},
                                 "n": {"$sum": 1}}}])
    assert sorted((d["_id"]["batch"], d["_id"]["type"], d["n"]) for d in out) == \
        [("2311", "apconso", 1), ("2311", "effectif", 2), ("2312", "effectif", 1)]


def test_alerts_per_region_of_a_batch():
    # "alerts per region of batch B": $match on a batch, $group by region and level, sorted
    scores = [{"batch": "B", "region": "Bretagne", "alert": "Alerte seuil F1"},
              {"batch": "B", "region": "Bretagne", "alert": "Alerte seuil F1"},
              {"batch": "B", "region": "Bretagne", "alert": "Alerte seuil F2"},
              {"batch": "B", "region": "Occitanie", "alert": "Alerte seuil F2"},
              {"batch": "A", "region": "Bretagne", "alert": "Alerte seuil F1"}]
    out = agg(scores, [{"$match": {"batch": "B"}},
                       {"$group": {"_id": {"region": "$region", "level": "$alert"},
                                   "n": {"$sum": 1}}},
                       {"$sort": {"_id.region": 1, "_id.level": 1}}])
    assert out == [{"_id": {"region": "Bretagne", "level": "Alerte seuil F1"}, "n": 2},
                   {"_id": {"region": "Bretagne", "level": "Alerte seuil F2"}, "n": 1},
                   {"_id": {"region": "Occitanie", "level": "Alerte seuil F2"}, "n": 1}]


# --- $group ---------------------------------------------------------------------------

def test_group_docs_examples():
    # docs $group "Group by Month, Day, and Year"
    out = agg(SALES, [{"$group": {
        "_id": {"month": {"$month": "$date"}, "day": {"$dayOfMonth": "$date"},
                "year": {"$year": "$date"}},
        "totalPrice": {"$sum": {"$multiply": ["$price", "$quantity"]}},
        "averageQuantity": {"$avg": "$quantity"},
        "count": {"$sum": 1}}}])
    assert by_id(out) == by_id([
        {"_id": {"month": 3, "day": 15, "year": 2014}, "totalPrice": 50, "averageQuantity": 10,
         "count": 1},
        {"_id": {"month": 4, "day": 4, "year": 2014}, "totalPrice": 200, "averageQuantity": 15,
         "count": 2},
        {"_id": {"month": 3, "day": 1, "year": 2014}, "totalPrice": 40, "averageQuantity": 1.5,
         "count": 2}])
    # docs "Group by null"
    assert agg(SALES, [{"$group": {"_id": None,
                                   "totalPrice": {"$sum": {"$multiply": ["$price", "$quantity"]}},
                                   "averageQuantity": {"$avg": "$quantity"},
                                   "count": {"$sum": 1}}}]) == \
        [{"_id": None, "totalPrice": 290, "averageQuantity": 8.6, "count": 5}]
    # docs "Retrieve Distinct Values"
    assert sorted(d["_id"] for d in agg(SALES, [{"$group": {"_id": "$item"}}])) == \
        ["abc", "jkl", "xyz"]


def test_group_pivot_docs_examples():
    # docs $group "Pivot Data": titles by author, and whole documents with $$ROOT
    books = [{"_id": 8751, "title": "The Banquet", "author": "Dante", "copies": 2},
             {"_id": 8752, "title": "Divine Comedy", "author": "Dante", "copies": 1},
             {"_id": 8645, "title": "Eclogues", "author": "Dante", "copies": 2},
             {"_id": 7000, "title": "The Odyssey", "author": "Homer", "copies": 10},
             {"_id": 7020, "title": "Iliad", "author": "Homer", "copies": 10}]
    assert by_id(agg(books, [{"$group": {"_id": "$author", "books": {"$push": "$title"}}}])) == [
        {"_id": "Dante", "books": ["The Banquet", "Divine Comedy", "Eclogues"]},
        {"_id": "Homer", "books": ["The Odyssey", "Iliad"]}]
    rooted = by_id(agg(books, [{"$group": {"_id": "$author", "books": {"$push": "$$ROOT"}}}]))
    assert rooted[1] == {"_id": "Homer", "books": books[3:]}


def test_group_keys_compare_as_bson_values():
    # 1, 1.0 and NumberLong(1) are one group key; the first value seen is the output _id
    docs = [{"x": 1}, {"x": 1.0}, {"x": Int64(1)}, {"x": "1"}, {"x": None}, {}]
    out = agg(docs, [{"$group": {"_id": "$x", "n": {"$sum": 1}}}])
    assert [(d["_id"], type(d["_id"]), d["n"]) for d in out] == \
        [(1, int, 3), ("1", str, 1), (None, type(None), 2)]
    # every numeric type and NaN: equal values group together, true is not 1
    docs2 = [{"x": Decimal128("1.00")}, {"x": True}, {"x": float("nan")},
             {"x": Decimal128("NaN")}, {"x": -0.0}, {"x": 0}, {"x": 1}]
    out = agg(docs2, [{"$group": {"_id": "$x", "n": {"$sum": 1}}}])
    assert [d["n"] for d in out] == [2, 1, 2, 2]
    assert out[0]["_id"] == Decimal128("1.00") and out[1]["_id"] is True
    # a document key of one field takes a missing value as null (jstests groupMissing.js:
    # {a: null} and {} make one group {_id: {a: null}})
    out = agg(docs, [{"$group": {"_id": {"x": "$x"}, "n": {"$sum": 1}}}])
    assert [d["_id"] for d in out] == [{"x": 1}, {"x": "1"}, {"x": None}]
    assert [d["n"] for d in out] == [3, 1, 2]
    # with several fields a missing one is left out: {b: 1} and {a: null, b: 1} are two groups
    docs = [{"a": None, "b": 1}, {"b": 1}, {"a": None, "b": 1}]
    out = agg(docs, [{"$group": {"_id": {"a": "$a", "b": "$b"}}}])
    assert out == [{"_id": {"a": None, "b": 1}}, {"_id": {"b": 1}}]
    # group_key_is_array.js and group_by_empty_object.js
    docs = [{"x": None}, {"y": None}, {"x": None, "y": None}]
    assert agg(docs, [{"$group": {"_id": ["$x", "$y"]}}])[0]["_id"] == \
        agg(docs, [{"$group": {"_id": {"z": ["$x", "$y"]}}}])[0]["_id"]["z"]
    two = [{"_id": 1, "x": 1}, {"_id": 2, "x": 2}]
    for key in ({}, {"$expr": {}}, {"$expr": {"$const": {}}}, {"$expr": {"$expr": {}}}):
        assert agg(two, [{"$group": {"_id": key}}]) == [{"_id": {}}]
    assert agg(two, [{"$sortByCount": {"$expr": {}}}]) == [{"_id": {}, "count": 2}]


def test_group_respects_the_collation():
    # jstests/aggregation/sources/group/collation_group.js and numeric_grouping.js
    from sf.store.bsonorder import Collation

    case_insensitive = Collation.from_spec({"locale": "en_US", "strength": 2})
    docs = [{"_id": 0, "str": "A", "str2": "á"}, {"_id": 1, "str": "a", "str2": "a"},
            {"_id": 2, "str": "B", "str2": "é"}, {"_id": 3, "str": "b", "str2": "e"}]
    assert len(agg(docs, [{"$group": {"_id": "$str"}}], collation=case_insensitive)) == 2
    assert len(agg(docs, [{"$sortByCount": "$str2"}], collation=case_insensitive)) == 4
    out = agg(docs, [{"$group": {"_id": None, "set": {"$addToSet": "$str"}}}],
              collation=case_insensitive)
    assert len(out[0]["set"]) == 2
    numeric = Collation.from_spec({"locale": "en_US", "numericOrdering": True})
    assert agg([{"num": "100"}, {"num": "2"}],
               [{"$group": {"_id": None, "min": {"$min": "$num"}, "max": {"$max": "$num"}}}],
               collation=numeric) == [{"_id": None, "min": "2", "max": "100"}]
    keys = [(24, 17), (Int64(24), 8), (24.0, 5), (42, 11), (Int64(42), 13), (42.0, 6)]
    out = agg([{"key": k, "value": v} for k, v in keys],
              [{"$group": {"_id": "$key", "s": {"$sum": "$value"}}}])
    assert [d["s"] for d in out] == [30, 30]


def test_sum_and_avg_type_rules():
    # docs $sum: non-numeric values are ignored; int overflows to long, long to double
    assert agg([{"v": 2147483647}, {"v": 1}], [{"$group": {"_id": None, "s": {"$sum": "$v"}}}]) \
        == [{"_id": None, "s": Int64(2147483648)}]
    out = agg([{"v": 2147483647}, {"v": 1}], [{"$group": {"_id": None, "s": {"$sum": "$v"}}}])
    assert type(out[0]["s"]) is Int64
    out = agg([{"v": Int64(2**63 - 1)}, {"v": 1}],
              [{"$group": {"_id": None, "s": {"$sum": "$v"}}}])
    assert type(out[0]["s"]) is float
    out = agg([{"v": 1}, {"v": "2"}, {"v": [3]}, {"v": None}, {}],
              [{"$group": {"_id": None, "s": {"$sum": "$v"}, "a": {"$avg": "$v"},
                           "c": {"$count": {}}}}])
    assert out == [{"_id": None, "s": 1, "a": 1.0, "c": 5}]
    assert type(out[0]["s"]) is int and type(out[0]["a"]) is float
    # no numbers at all: $sum is 0 (an int), $avg is null
    out = agg([{"v": "x"}, {}], [{"$group": {"_id": None, "s": {"$sum": "$v"},
                                              "a": {"$avg": "$v"}}}])
    assert out == [{"_id": None, "s": 0, "a": None}] and type(out[0]["s"]) is int
    out = agg([{"v": 1}, {"v": 0.5}, {"v": Decimal128("0.25")}],
              [{"$group": {"_id": None, "s": {"$sum": "$v"}}}])
    # a double enters decimal arithmetic with 15 significant digits, as in MongoDB
    assert out[0]["s"].to_decimal() == Decimal128("1.75").to_decimal()


def test_sum_docs_example():
    # docs $sum (accumulator) example: grouped by day of year and year
    sales = [{"_id": 1, "item": "abc", "price": 10, "quantity": 2,
              "date": dt.datetime(2014, 1, 1, 8)},
             {"_id": 2, "item": "jkl", "price": 20, "quantity": 1,
              "date": dt.datetime(2014, 2, 3, 9)},
             {"_id": 3, "item": "xyz", "price": 5, "quantity": 5,
              "date": dt.datetime(2014, 2, 3, 9, 5)},
             {"_id": 4, "item": "abc", "price": 10, "quantity": 10,
              "date": dt.datetime(2014, 2, 15, 8)},
             {"_id": 5, "item": "xyz", "price": 5, "quantity": 10,
              "date": dt.datetime(2014, 2, 15, 9, 5)}]
    out = agg(sales, [{"$group": {"_id": {"day": {"$dayOfYear": "$date"},
                                          "year": {"$year": "$date"}},
                                  "totalAmount": {"$sum": {"$multiply": ["$price", "$quantity"]}},
                                  "count": {"$sum": 1}}}])
    assert by_id(out) == by_id([{"_id": {"day": 46, "year": 2014}, "totalAmount": 150, "count": 2},
                                {"_id": {"day": 34, "year": 2014}, "totalAmount": 45, "count": 2},
                                {"_id": {"day": 1, "year": 2014}, "totalAmount": 20, "count": 1}])
    # docs $avg (accumulator) example on the same documents
    out = agg(sales, [{"$group": {"_id": "$item",
                                  "avgAmount": {"$avg": {"$multiply": ["$price", "$quantity"]}},
                                  "avgQuantity": {"$avg": "$quantity"}}}])
    assert by_id(out) == [{"_id": "abc", "avgAmount": 60, "avgQuantity": 6},
                          {"_id": "jkl", "avgAmount": 20, "avgQuantity": 1},
                          {"_id": "xyz", "avgAmount": 37.5, "avgQuantity": 7.5}]
    assert all(type(d["avgAmount"]) is float for d in out)


def test_other_accumulators():
    docs = [{"g": 1, "v": 3, "o": {"a": 1}}, {"g": 1, "v": None, "o": {"b": 2}},
            {"g": 1, "o": None}, {"g": 1, "v": 1, "o": {"a": 3}}, {"g": 1, "v": 3}]
    out = agg(docs, [{"$group": {
        "_id": "$g",
        "first": {"$first": "$v"}, "last": {"$last": "$v"},
        "min": {"$min": "$v"}, "max": {"$max": "$v"},
        "push": {"$push": "$v"}, "set": {"$addToSet": "$v"},
        "merged": {"$mergeObjects": "$o"},
        "pop": {"$stdDevPop": "$v"}, "samp": {"$stdDevSamp": "$v"},
        "firstN": {"$firstN": {"input": "$v", "n": 3}},
        "lastN": {"$lastN": {"input": "$v", "n": 2}},
        "maxN": {"$maxN": {"input": "$v", "n": 2}},
        "minN": {"$minN": {"input": "$v", "n": 5}},
        "top": {"$top": {"sortBy": {"v": -1}, "output": "$o"}},
        "bottomN": {"$bottomN": {"sortBy": {"v": -1}, "output": "$v", "n": 2}},
    }}])[0]
    # $push skips missing values but keeps nulls; $first/$last turn a missing value into null
    assert out["push"] == [3, None, 1, 3]
    assert out["first"] == 3 and out["last"] == 3
    assert out["min"] == 1 and out["max"] == 3
    assert sorted(out["set"], key=repr) == sorted([3, None, 1], key=repr)
    assert out["merged"] == {"a": 3, "b": 2}
    assert out["pop"] == pytest.approx(0.9428090415820634)
    assert out["samp"] == pytest.approx(1.1547005383792515)
    assert out["firstN"] == [3, None, None]
    assert out["lastN"] == [1, 3]
    assert out["maxN"] == [3, 3]
    assert out["minN"] == [1, 3, 3]
    assert out["top"] == {"a": 1}
    assert out["bottomN"] == [None, None]   # v: null and v missing sort last descending


def test_group_errors():
    assert code_of([{}], [{"$group": {"n": {"$sum": 1}}}]) == 15955
    assert code_of([{}], [{"$group": {"_id": None, "n": {"$frob": 1}}}]) == 15952
    assert code_of([{}], [{"$group": {"_id": None, "n": 1}}]) == 40234
    assert code_of([{}], [{"$group": {"_id": None, "n": {"$sum": [1, 2]}}}]) == 40237
    assert code_of([{}], [{"$group": {"_id": None, "a.b": {"$sum": 1}}}]) == 40235


# --- $project, $addFields, $unset ---------------------------------------------------------

BOOKS = [
    {"_id": 1, "title": "abc123", "isbn": "0001122223334",
     "author": {"last": "zzz", "first": "aaa"}, "copies": 5, "lastModified": "2016-07-28"},
    {"_id": 2, "title": "Baked Goods", "isbn": "9999999999999",
     "author": {"last": "xyz", "first": "abc", "middle": ""}, "copies": 2,
     "lastModified": "2017-07-21"},
    {"_id": 3, "title": "Ice Cream Cakes", "isbn": "8888888888888",
     "author": {"last": "xyz", "first": "abc", "middle": "mmm"}, "copies": 5,
     "lastModified": "2017-07-22"},
]


def test_project_inclusion_and_exclusion_docs_examples():
    # docs $project "Include Specific Fields": _id comes along unless excluded
    assert agg(BOOKS[:1], [{"$project": {"title": 1, "author": 1}}]) == \
        [{"_id": 1, "title": "abc123", "author": {"last": "zzz", "first": "aaa"}}]
    assert agg(BOOKS[:1], [{"$project": {"_id": 0, "title": 1, "author": 1}}]) == \
        [{"title": "abc123", "author": {"last": "zzz", "first": "aaa"}}]
    # "Exclude Fields from Embedded Documents" (dotted and nested forms)
    expected = [{"_id": 1, "title": "abc123", "isbn": "0001122223334",
                 "author": {"last": "zzz"}, "copies": 5}]
    assert agg(BOOKS[:1], [{"$project": {"author.first": 0, "lastModified": 0}}]) == expected
    assert agg(BOOKS[:1], [{"$project": {"author": {"first": 0}, "lastModified": 0}}]) == expected
    # "Include Specific Fields from Embedded Documents"
    assert agg(BOOKS[:1], [{"$project": {"author.last": 1}}]) == \
        [{"_id": 1, "author": {"last": "zzz"}}]


def test_project_conditionally_removes_a_field_with_remove():
    # docs $project "Conditionally Exclude Fields" with $$REMOVE
    out = agg(BOOKS, [{"$project": {
        "title": 1, "author.first": 1, "author.last": 1,
        "author.middle": {"$cond": {"if": {"$eq": ["", "$author.middle"]}, "then": "$$REMOVE",
                                    "else": "$author.middle"}}}}])
    assert out == [{"_id": 1, "title": "abc123", "author": {"last": "zzz", "first": "aaa"}},
                   {"_id": 2, "title": "Baked Goods", "author": {"last": "xyz", "first": "abc"}},
                   {"_id": 3, "title": "Ice Cream Cakes",
                    "author": {"first": "abc", "last": "xyz", "middle": "mmm"}}]


def test_project_computed_fields_docs_example():
    # docs $project "Include Computed Fields": sub-fields of isbn computed from the string
    out = agg(BOOKS[:1], [{"$project": {
        "title": 1,
        "isbn": {"prefix": {"$substr": ["$isbn", 0, 3]}, "group": {"$substr": ["$isbn", 3, 2]},
                 "publisher": {"$substr": ["$isbn", 5, 4]}, "title": {"$substr": ["$isbn", 9, 3]},
                 "checkDigit": {"$substr": ["$isbn", 12, 1]}},
        "lastName": "$author.last", "copiesSold": "$copies"}}])
    assert out == [{"_id": 1, "title": "abc123",
                    "isbn": {"prefix": "000", "group": "11", "publisher": "2222", "title": "333",
                             "checkDigit": "4"},
                    "lastName": "zzz", "copiesSold": 5}]
    # "Project New Array Fields": a missing field becomes null inside an array
    assert agg([{"_id": 1, "x": 1, "y": 1}], [{"$project": {"myArray": ["$x", "$y"]}}]) == \
        [{"_id": 1, "myArray": [1, 1]}]
    assert agg([{"_id": 1, "x": 1, "y": 1}],
               [{"$project": {"myArray": ["$x", "$y", "$someField"]}}]) == \
        [{"_id": 1, "myArray": [1, 1, None]}]


def test_project_through_arrays():
    doc = {"_id": 1, "a": [{"b": 1, "c": 2}, 3, [{"b": 4}], {"c": 5}]}
    # inclusion keeps documents (and nested arrays), drops scalars
    assert agg([doc], [{"$project": {"a.b": 1, "_id": 0}}]) == [{"a": [{"b": 1}, [{"b": 4}], {}]}]
    # exclusion keeps scalars
    assert agg([doc], [{"$project": {"a.c": 0}}]) == \
        [{"_id": 1, "a": [{"b": 1}, 3, [{"b": 4}], {}]}]
    # a computed sub-field replaces scalars by documents
    assert agg([{"_id": 1, "a": 1}], [{"$project": {"a.b": {"$literal": 1}}}]) == \
        [{"_id": 1, "a": {"b": 1}}]


def test_project_jstests():
    # jstests/aggregation/sources/project/handle_missing_subpath.js (order matters there)
    docs = [{"_id": 0, "a": 1}, {"_id": 1, "foo": 2}, {"_id": 2, "foo": {"bar": 3}}]
    out = agg(docs, [{"$project": {"_id": 0, "foo.bar": 1, "field": "$foo", "path": "$foo.bar"}}])
    assert out == [{}, {"field": 2}, {"foo": {"bar": 3}, "field": {"bar": 3}, "path": 3}]
    assert [list(d) for d in out] == [[], ["field"], ["foo", "field", "path"]]
    # project_with_expressions.js: dotted and nested forms, computed and included siblings
    doc = {"_id": 0, "a": {"subObj1": {"p": 1}, "subObj2": {"p": 1}, "subObj3": {"p": 1}}}
    expected = [{"a": {"subObj2": {"p": 1}, "subObj3": {}, "subObj1": 1}}]
    for projection in (
            {"_id": 0, "a.subObj1": {"$literal": 1}, "a.subObj2": 1, "a.subObj3.q": 1},
            {"_id": 0, "a.subObj2": 1, "a.subObj1": {"$literal": 1}, "a.subObj3.q": {"r": 1}},
            {"_id": 0, "a": {"subObj1": {"$literal": 1}, "subObj2": 1, "subObj3": {"q": {"r": 1}}}},
            {"_id": 0, "a": {"subObj2": 1, "subObj1": {"$literal": 1}, "subObj3": {"q": 1}}}):
        assert agg([doc], [{"$project": projection}]) == expected
    # non_existent_subfield.js (the same as find's projection)
    docs = [{"_id": 1, "a": [1]}, {"_id": 2, "a": {"c": 1}},
            {"_id": 3, "a": [{"c": 1}, {"b": 1, "c": 1}, {"c": 1}]}, {"_id": 4, "a": 1},
            {"_id": 5, "b": 1}]
    assert agg(docs, [{"$project": {"a.b": 1}}]) == [
        {"_id": 1, "a": []}, {"_id": 2, "a": {}}, {"_id": 3, "a": [{}, {"b": 1}, {}]},
        {"_id": 4}, {"_id": 5}]
    # inclusion_accepts_all_numeric_types.js
    assert agg([{"_id": 9, "key": 4, "v": 3, "x": 2}],
               [{"$project": {"_id": 0, "key": Int64(1), "v": 1.0, "x": 1}}]) == \
        [{"key": 4, "v": 3, "x": 2}]
    # exclusion_projection_does_not_affect_field_order.js: $addFields keeps existing fields in
    # place and appends new ones in specification order
    docs = [{"_id": 1}, {"_id": 2, "c": 1}, {"_id": 3, "y": 1, "z": 1}]
    out = agg(docs, [{"$project": {"b": 0, "c": 0}},
                     {"$addFields": {"x": 3, "y": 4, "b": 5, "c": 6, "a": 7}}])
    assert [list(d.items()) for d in out] == [
        [("_id", 1), ("x", 3), ("y", 4), ("b", 5), ("c", 6), ("a", 7)],
        [("_id", 2), ("x", 3), ("y", 4), ("b", 5), ("c", 6), ("a", 7)],
        [("_id", 3), ("y", 4), ("z", 1), ("x", 3), ("b", 5), ("c", 6), ("a", 7)]]
    assert agg([{"_id": 4, "c": {"y": 11, "z": 22, "a": 33}, "a": 1}],
               [{"$project": {"c.z": 0}}]) == [{"_id": 4, "c": {"y": 11, "a": 33}, "a": 1}]


def test_project_errors():
    # mixing inclusion and exclusion (other than _id) is refused, as is an expression in an
    # exclusion projection, an empty projection, and path collisions
    assert code_of([{}], [{"$project": {"a": 1, "b": 0}}]) == 31254
    assert code_of([{}], [{"$project": {"a": 0, "b": 1}}]) == 31253
    assert code_of([{}], [{"$project": {"a": 0, "b": {"$add": [1, 2]}}}]) == 31252
    assert code_of([{}], [{"$project": {"_id": 0, "a": 0, "b.c": 1}}]) == 31253
    assert code_of([{}], [{"$project": {}}]) == 51272
    assert code_of([{}], [{"$project": {"a": 1, "a.b": 1}}]) == 31249
    assert code_of([{}], [{"$project": {"a": {}}}]) == 51282
    assert code_of([{}], [{"$project": {"$a": 1}}]) == 16410
    # _id alone may be excluded from an inclusion projection and included in an exclusion one
    assert agg([{"_id": 1, "a": 1, "b": 2}], [{"$project": {"_id": 0, "a": 1}}]) == [{"a": 1}]
    assert agg([{"_id": 1, "a": 1, "b": 2}], [{"$project": {"_id": 1, "a": 0}}]) == \
        [{"_id": 1, "b": 2}]
    assert agg([{"_id": 1, "a": 1}], [{"$project": {"_id": 0}}]) == [{"a": 1}]


def test_add_fields_docs_examples():
    # docs $addFields "Using Two $addFields Stages"
    scores = [{"_id": 1, "student": "Maya", "homework": [10, 5, 10], "quiz": [10, 8],
               "extraCredit": 0},
              {"_id": 2, "student": "Ryan", "homework": [5, 6, 5], "quiz": [8, 8],
               "extraCredit": 8}]
    original = copy.deepcopy(scores)
    out = agg(scores, [{"$addFields": {"totalHomework": {"$sum": "$homework"},
                                       "totalQuiz": {"$sum": "$quiz"}}},
                       {"$addFields": {"totalScore": {"$add": ["$totalHomework", "$totalQuiz",
                                                               "$extraCredit"]}}}])
    assert out == [{**scores[0], "totalHomework": 25, "totalQuiz": 18, "totalScore": 43},
                   {**scores[1], "totalHomework": 16, "totalQuiz": 16, "totalScore": 40}]
    assert scores == original  # stages never modify their input
    # "Adding Fields to an Embedded Document"
    vehicles = [{"_id": 1, "type": "car", "specs": {"doors": 4, "wheels": 4}},
                {"_id": 2, "type": "motorcycle", "specs": {"doors": 0, "wheels": 2}},
                {"_id": 3, "type": "jet ski"}]
    assert agg(vehicles, [{"$addFields": {"specs.fuel_type": "unleaded"}}]) == [
        {"_id": 1, "type": "car", "specs": {"doors": 4, "wheels": 4, "fuel_type": "unleaded"}},
        {"_id": 2, "type": "motorcycle", "specs": {"doors": 0, "wheels": 2,
                                                   "fuel_type": "unleaded"}},
        {"_id": 3, "type": "jet ski", "specs": {"fuel_type": "unleaded"}}]
    # "Overwriting an existing field" keeps its place; _id can be replaced too
    out = agg([{"_id": 1, "dogs": 10, "cats": 15}], [{"$addFields": {"cats": 20}}])
    assert out == [{"_id": 1, "dogs": 10, "cats": 20}] and list(out[0]) == ["_id", "dogs", "cats"]
    assert agg([{"_id": 1, "item": "tangerine", "type": "citrus"}],
               [{"$set": {"_id": "$item", "item": "fruit"}}]) == \
        [{"_id": "tangerine", "item": "fruit", "type": "citrus"}]
    # "Add Element to an Array"
    assert agg(scores[:1], [{"$match": {"_id": 1}},
                            {"$addFields": {"homework": {"$concatArrays": ["$homework", [7]]}}}]
               )[0]["homework"] == [10, 5, 10, 7]
    # $$REMOVE removes the field
    assert agg([{"_id": 1, "a": 1, "b": 2}], [{"$set": {"a": "$$REMOVE"}}]) == [{"_id": 1, "b": 2}]


def test_unset_and_replace_root():
    # docs $unset examples
    assert agg(BOOKS[:1], [{"$unset": ["isbn", "author.first", "copies", "lastModified"]}]) == \
        [{"_id": 1, "title": "abc123", "author": {"last": "zzz"}}]
    assert agg(BOOKS[:1], [{"$unset": "author"}])[0].keys() == \
        {"_id", "title", "isbn", "copies", "lastModified"}
    # docs $replaceRoot "with an embedded document field" and "$mergeObjects" defaults
    people = [{"_id": 1, "name": "Arlene", "age": 34, "pets": {"dogs": 2, "cats": 1}},
              {"_id": 2, "name": "Sam", "age": 41, "pets": {"cats": 1, "fish": 3}},
              {"_id": 3, "name": "Maria", "age": 25}]
    assert agg(people, [{"$replaceRoot": {"newRoot": {"$mergeObjects": [
        {"dogs": 0, "cats": 0, "birds": 0, "fish": 0}, "$pets"]}}}]) == [
        {"dogs": 2, "cats": 1, "birds": 0, "fish": 0},
        {"dogs": 0, "cats": 1, "birds": 0, "fish": 3},
        {"dogs": 0, "cats": 0, "birds": 0, "fish": 0}]
    assert agg(people[:1], [{"$replaceWith": "$pets"}]) == [{"dogs": 2, "cats": 1}]
    # a newRoot that is not a document is an error (Maria has no pets)
    assert code_of(people, [{"$replaceRoot": {"newRoot": "$pets"}}]) == 40228


# --- $unwind ------------------------------------------------------------------------------

INVENTORY2 = [
    {"_id": 1, "item": "ABC", "price": Decimal128("80"), "sizes": ["S", "M", "L"]},
    {"_id": 2, "item": "EFG", "price": Decimal128("120"), "sizes": []},
    {"_id": 3, "item": "IJK", "price": Decimal128("160"), "sizes": "M"},
    {"_id": 4, "item": "LMN", "price": Decimal128("10")},
    {"_id": 5, "item": "XYZ", "price": Decimal128("5.75"), "sizes": None},
]


def test_unwind_docs_examples():
    # docs $unwind "Unwind Array"
    assert agg([{"_id": 1, "item": "ABC1", "sizes": ["S", "M", "L"]}], [{"$unwind": "$sizes"}]) \
        == [{"_id": 1, "item": "ABC1", "sizes": s} for s in ("S", "M", "L")]
    # a non-array value is a one-element array; null, missing and [] give nothing
    plain = agg(INVENTORY2, [{"$unwind": "$sizes"}])
    assert [(d["_id"], d["sizes"]) for d in plain] == [(1, "S"), (1, "M"), (1, "L"), (3, "M")]
    assert agg(INVENTORY2, [{"$unwind": {"path": "$sizes"}}]) == plain
    # includeArrayIndex: a long, null for the non-array value
    indexed = agg(INVENTORY2, [{"$unwind": {"path": "$sizes", "includeArrayIndex": "arrayIndex"}}])
    assert [d["arrayIndex"] for d in indexed] == [Int64(0), Int64(1), Int64(2), None]
    assert type(indexed[0]["arrayIndex"]) is Int64
    # preserveNullAndEmptyArrays: the empty array disappears, null stays null, missing missing
    kept = agg(INVENTORY2, [{"$unwind": {"path": "$sizes", "preserveNullAndEmptyArrays": True}}])
    assert kept == [
        {"_id": 1, "item": "ABC", "price": Decimal128("80"), "sizes": "S"},
        {"_id": 1, "item": "ABC", "price": Decimal128("80"), "sizes": "M"},
        {"_id": 1, "item": "ABC", "price": Decimal128("80"), "sizes": "L"},
        {"_id": 2, "item": "EFG", "price": Decimal128("120")},
        {"_id": 3, "item": "IJK", "price": Decimal128("160"), "sizes": "M"},
        {"_id": 4, "item": "LMN", "price": Decimal128("10")},
        {"_id": 5, "item": "XYZ", "price": Decimal128("5.75"), "sizes": None}]


def test_unwind_then_group_docs_examples():
    # docs $unwind "Group by Unwound Values": decimal averages
    out = agg(INVENTORY2, [{"$unwind": {"path": "$sizes", "preserveNullAndEmptyArrays": True}},
                           {"$group": {"_id": "$sizes", "averagePrice": {"$avg": "$price"}}},
                           {"$sort": {"averagePrice": -1}}])
    assert out[0] == {"_id": "M", "averagePrice": Decimal128("120")}
    assert {d["_id"] for d in out[1:3]} == {"L", "S"}
    assert all(d["averagePrice"] == Decimal128("80") for d in out[1:3])
    assert out[3] == {"_id": None, "averagePrice": Decimal128("45.25")}
    # docs $unwind "Unwind Embedded Arrays" (the page's totals use 19.95 for envelopes)
    sales = [{"_id": "1", "items": [
                {"name": "pens", "tags": ["writing", "office", "school", "stationary"],
                 "price": Decimal128("12.00"), "quantity": 5},
                {"name": "envelopes", "tags": ["stationary", "office"],
                 "price": Decimal128("19.95"), "quantity": 8}]},
             {"_id": "2", "items": [
                {"name": "laptop", "tags": ["office", "electronics"],
                 "price": Decimal128("800.00"), "quantity": 1},
                {"name": "notepad", "tags": ["stationary", "school"],
                 "price": Decimal128("14.95"), "quantity": 3}]}]
    out = agg(sales, [{"$unwind": "$items"}, {"$unwind": "$items.tags"},
                      {"$group": {"_id": "$items.tags", "totalSalesAmount": {
                          "$sum": {"$multiply": ["$items.price", "$items.quantity"]}}}}])
    assert {d["_id"]: d["totalSalesAmount"] for d in out} == {
        "writing": Decimal128("60.00"), "stationary": Decimal128("264.45"),
        "electronics": Decimal128("800.00"), "school": Decimal128("104.85"),
        "office": Decimal128("1019.60")}


def test_unwind_errors():
    assert code_of([{}], [{"$unwind": "sizes"}]) == 28818
    assert code_of([{}], [{"$unwind": {"path": "$a", "includeArrayIndex": "$i"}}]) == 28822
    assert code_of([{}], [{"$unwind": {"path": "$a", "preserveNullAndEmptyArrays": 1}}]) == 28809
    assert code_of([{}], [{"$unwind": {"path": "$a", "other": 1}}]) == 28811


# --- $lookup and $graphLookup ---------------------------------------------------------------

ORDERS = [{"_id": 1, "item": "almonds", "price": 12, "quantity": 2},
          {"_id": 2, "item": "pecans", "price": 20, "quantity": 1},
          {"_id": 3}]
INVENTORY = [{"_id": 1, "sku": "almonds", "description": "product 1", "instock": 120},
             {"_id": 2, "sku": "bread", "description": "product 2", "instock": 80},
             {"_id": 3, "sku": "cashews", "description": "product 3", "instock": 60},
             {"_id": 4, "sku": "pecans", "description": "product 4", "instock": 70},
             {"_id": 5, "sku": None, "description": "Incomplete"},
             {"_id": 6}]


def test_lookup_equality_match_docs_example():
    # docs $lookup "Perform a Single Equality Join": a missing local field matches null and
    # missing foreign fields
    out = agg(ORDERS, [{"$lookup": {"from": "inventory", "localField": "item",
                                    "foreignField": "sku", "as": "inventory_docs"}}],
              Collections(inventory=INVENTORY))
    assert out == [{**ORDERS[0], "inventory_docs": [INVENTORY[0]]},
                   {**ORDERS[1], "inventory_docs": [INVENTORY[3]]},
                   {"_id": 3, "inventory_docs": [INVENTORY[4], INVENTORY[5]]}]


def test_lookup_let_pipeline_docs_example():
    # docs $lookup "Join Conditions and Subqueries" (orders and warehouses)
    orders = [{"_id": 1, "item": "almonds", "price": 12, "ordered": 2},
              {"_id": 2, "item": "pecans", "price": 20, "ordered": 1},
              {"_id": 3, "item": "cookies", "price": 10, "ordered": 60}]
    warehouses = [{"_id": 1, "stock_item": "almonds", "warehouse": "A", "instock": 120},
                  {"_id": 2, "stock_item": "pecans", "warehouse": "A", "instock": 80},
                  {"_id": 3, "stock_item": "almonds", "warehouse": "B", "instock": 60},
                  {"_id": 4, "stock_item": "cookies", "warehouse": "B", "instock": 40},
                  {"_id": 5, "stock_item": "cookies", "warehouse": "A", "instock": 80}]
    out = agg(orders, [{"$lookup": {
        "from": "warehouses", "let": {"order_item": "$item", "order_qty": "$ordered"},
        "pipeline": [{"$match": {"$expr": {"$and": [
                        {"$eq": ["$stock_item", "$$order_item"]},
                        {"$gte": ["$instock", "$$order_qty"]}]}}},
                     {"$project": {"stock_item": 0, "_id": 0}}],
        "as": "stockdata"}}], Collections(warehouses=warehouses))
    assert [d["stockdata"] for d in out] == [
        [{"warehouse": "A", "instock": 120}, {"warehouse": "B", "instock": 60}],
        [{"warehouse": "A", "instock": 80}],
        [{"warehouse": "A", "instock": 80}]]
    # the $expr $eq lookup by value keeps $eq's semantics: a missing let variable equals a
    # missing field only, 1 equals 1.0, and the rest of the $match still applies
    out = agg([{"_id": "no item"}, {"_id": "x", "item": 1}],
              [{"$lookup": {"from": "w", "let": {"it": "$item"},
                            "pipeline": [{"$match": {"$expr": {"$eq": ["$stock_item", "$$it"]},
                                                     "ok": True}}],
                            "as": "m"}}],
              Collections(w=[{"_id": 1, "ok": True}, {"_id": 2, "stock_item": None, "ok": True},
                             {"_id": 3, "stock_item": 1.0, "ok": True},
                             {"_id": 4, "stock_item": 1, "ok": False}]))
    assert [[m["_id"] for m in d["m"]] for d in out] == [[1], [3]]
    # concise syntax (5.0+): localField/foreignField and a pipeline together
    out = agg(orders, [{"$lookup": {"from": "warehouses", "localField": "item",
                                    "foreignField": "stock_item",
                                    "pipeline": [{"$match": {"warehouse": "A"}}],
                                    "as": "w"}}], Collections(warehouses=warehouses))
    assert [[w["_id"] for w in d["w"]] for d in out] == [[1], [2], [5]]


def test_lookup_equijoin_semantics_like_the_server_jstest():
    # jstests/aggregation/sources/lookup/lookup_equijoin_semantics.js (mongodb/mongo)
    docs = [{"_id": 0, "no_a": 1}, {"_id": 1, "a": None}, {"_id": 2, "a": [None, 1]},
            {"_id": 10, "a": []}, {"_id": 20, "a": 1}, {"_id": 21, "a": {"x": None}},
            {"_id": 22, "a": [[None, 1], 2]}]

    def matched_locals(foreign, local_field="a", foreign_field="b"):
        out = agg(docs, [{"$lookup": {"from": "f", "localField": local_field,
                                      "foreignField": foreign_field, "as": "m"}}],
                  Collections(f=[foreign]))
        return sorted(d["_id"] for d in out if d["m"])

    def matched_foreign(local, local_field="b", foreign_field="a"):
        out = agg([local], [{"$lookup": {"from": "f", "localField": local_field,
                                         "foreignField": foreign_field, "as": "m"}}],
                  Collections(f=docs))
        return sorted(d["_id"] for d in out[0]["m"])

    assert matched_locals({"_id": 0, "b": None}) == [0, 1, 2, 10]
    assert matched_foreign({"_id": 0, "b": None}) == [0, 1, 2]
    assert matched_locals({"_id": 0, "no_b": 1}) == [0, 1, 2, 10]
    assert matched_foreign({"_id": 0, "no_b": 1}) == [0, 1, 2]
    # arrays: elements of a local array match; a foreign array matches as a whole or by element
    arrays = [{"_id": 0, "a": [[1, 2], 3]}, {"_id": 1, "a": [[1, 2]]}, {"_id": 2, "a": [1, 2]},
              {"_id": 10, "a": [[[1, 2], 3], 4]}, {"_id": 11, "a": [2, 1]}, {"_id": 14, "a": None}]
    out = agg(arrays, [{"$lookup": {"from": "f", "localField": "a", "foreignField": "b",
                                    "as": "m"}}], Collections(f=[{"_id": 0, "b": [1, 2]}]))
    assert sorted(d["_id"] for d in out if d["m"]) == [0, 1, 2, 11]
    out = agg([{"_id": 0, "b": [1, 2]}], [{"$lookup": {"from": "f", "localField": "b",
                                                       "foreignField": "a", "as": "m"}}],
              Collections(f=arrays))
    assert sorted(d["_id"] for d in out[0]["m"]) == [2, 11]
    out = agg([{"_id": 0, "b": [[1, 2], 42]}], [{"$lookup": {"from": "f", "localField": "b",
                                                             "foreignField": "a", "as": "m"}}],
              Collections(f=arrays))
    assert sorted(d["_id"] for d in out[0]["m"]) == [0, 1, 2]


def test_lookup_nan_and_deep_paths_like_the_server_jstest():
    # lookup_equijoin_semantics.js: testMatchingNaN and testMatchingDeepPathToScalar
    nan = float("nan")
    docs = [{"_id": 0, "a": nan}, {"_id": 1, "a": Decimal128("NaN")}, {"_id": 2, "a": [1, nan]},
            {"_id": 3, "a": [1, Decimal128("NaN")]}, {"_id": 10, "a": None},
            {"_id": 11, "no_a": 42}]
    out = agg(docs, [{"$lookup": {"from": "f", "localField": "a", "foreignField": "b",
                                  "as": "m"}}], Collections(f=[{"_id": 0, "b": nan}]))
    assert sorted(d["_id"] for d in out if d["m"]) == [0, 1, 2, 3]
    deep = [{"_id": 0, "a": {"b": {"c": 1}}}, {"_id": 1, "a": {"b": {"c": [[2, 3], 1]}}},
            {"_id": 2, "a": {"b": [{"c": 2}, {"c": 1}]}},
            {"_id": 3, "a": {"b": [{"c": None}, {"c": 1}]}},
            {"_id": 15, "a": [{"b": [{"c": 1}]}]},
            {"_id": 16, "a": [{"b": {"c": 3}}, {"b": [{"c": 1}, {"c": 2}]}]},
            {"_id": 22, "a": [{"no_b": 2}, {"b": [{"no_c": 3}, {"c": 1}]}]},
            {"_id": 100, "a": {"b": {"c": [[1, 2], 3]}}},
            {"_id": 103, "a": [{"b": [{"c": [[1, 2], 3]}]}]}]
    out = agg(deep, [{"$lookup": {"from": "f", "localField": "a.b.c", "foreignField": "key",
                                  "as": "m"}}], Collections(f=[{"_id": 0, "key": 1}]))
    assert sorted(d["_id"] for d in out if d["m"]) == [0, 1, 2, 3, 15, 16, 22]
    out = agg([{"_id": 0, "key": 1}], [{"$lookup": {"from": "f", "localField": "key",
                                                    "foreignField": "a.b.c", "as": "m"}}],
              Collections(f=deep))
    assert sorted(d["_id"] for d in out[0]["m"]) == [0, 1, 2, 3, 15, 16, 22]


def test_lookup_numbers_match_across_types_and_errors():
    out = agg([{"_id": 1, "k": 1}], [{"$lookup": {"from": "f", "localField": "k",
                                                  "foreignField": "k", "as": "m"}}],
              Collections(f=[{"_id": "a", "k": 1.0}, {"_id": "b", "k": Int64(1)},
                             {"_id": "c", "k": "1"}, {"_id": "d", "k": [0, 1]}]))
    assert [m["_id"] for m in out[0]["m"]] == ["a", "b", "d"]
    assert code_of([{}], [{"$lookup": {"from": "f", "localField": "a", "as": "m"}}]) == 9
    assert code_of([{}], [{"$lookup": {"from": "f", "localField": "a", "foreignField": "b"}}]) \
        == 9
    assert code_of([{}], [{"$lookup": {"from": "f", "pipeline": [{"$out": "x"}], "as": "m"}}]) \
        == 51047


def test_graph_lookup_docs_example():
    # docs $graphLookup "Within a Single Collection": reporting hierarchy
    employees = [{"_id": 1, "name": "Dev"},
                 {"_id": 2, "name": "Eliot", "reportsTo": "Dev"},
                 {"_id": 3, "name": "Ron", "reportsTo": "Eliot"},
                 {"_id": 4, "name": "Andrew", "reportsTo": "Eliot"},
                 {"_id": 5, "name": "Asya", "reportsTo": "Ron"},
                 {"_id": 6, "name": "Dan", "reportsTo": "Andrew"}]
    out = agg(employees, [{"$graphLookup": {"from": "employees", "startWith": "$reportsTo",
                                            "connectFromField": "reportsTo",
                                            "connectToField": "name",
                                            "as": "reportingHierarchy", "depthField": "depth"}}],
              Collections(employees=employees))
    hierarchy = {d["name"]: sorted((h["name"], h["depth"]) for h in d["reportingHierarchy"])
                 for d in out}
    assert hierarchy["Dev"] == []
    assert hierarchy["Eliot"] == [("Dev", 0)]
    assert hierarchy["Asya"] == [("Dev", 2), ("Eliot", 1), ("Ron", 0)]
    out = agg(employees[4:5], [{"$graphLookup": {"from": "employees", "startWith": "$reportsTo",
                                                 "connectFromField": "reportsTo",
                                                 "connectToField": "name", "maxDepth": 0,
                                                 "as": "h"}}], Collections(employees=employees))
    assert [h["name"] for h in out[0]["h"]] == ["Ron"]


# --- $facet, $bucket, $sortByCount, $count -------------------------------------------------

def test_facet_runs_each_pipeline_on_the_same_input():
    out = agg(SALES, [{"$facet": {
        "byItem": [{"$sortByCount": "$item"}, {"$sort": {"count": -1, "_id": 1}}],
        "total": [{"$group": {"_id": None, "q": {"$sum": "$quantity"}}}],
        "none": [{"$match": {"item": "nope"}}]}}])
    assert out == [{"byItem": [{"_id": "abc", "count": 2}, {"_id": "xyz", "count": 2},
                               {"_id": "jkl", "count": 1}],
                    "total": [{"_id": None, "q": 43}],
                    "none": []}]
    # one document even without input
    assert agg([], [{"$facet": {"a": [{"$count": "n"}]}}]) == [{"a": []}]
    assert code_of([{}], [{"$facet": {"a": [{"$out": "x"}]}}]) == 40600
    assert code_of([{}], [{"$facet": {}}]) == 40169
    assert code_of([{}], [{"$facet": {"a": []}}]) == 40171


ARTISTS = [
    {"_id": 1, "last_name": "Bernard", "first_name": "Emil", "year_born": 1868},
    {"_id": 2, "last_name": "Rippl-Ronai", "first_name": "Joszef", "year_born": 1861},
    {"_id": 3, "last_name": "Ostroumova", "first_name": "Anna", "year_born": 1871},
    {"_id": 4, "last_name": "Van Gogh", "first_name": "Vincent", "year_born": 1853},
    {"_id": 5, "last_name": "Maurer", "first_name": "Alfred", "year_born": 1868},
    {"_id": 6, "last_name": "Munch", "first_name": "Edvard", "year_born": 1863},
    {"_id": 7, "last_name": "Redon", "first_name": "Odilon", "year_born": 1840},
    {"_id": 8, "last_name": "Diriks", "first_name": "Edvard", "year_born": 1855},
]


def test_bucket_docs_example():
    # docs $bucket "Bucket by Year and Filter by Bucket Results"
    out = agg(ARTISTS, [{"$bucket": {
        "groupBy": "$year_born", "boundaries": [1840, 1850, 1860, 1870, 1880],
        "default": "Other",
        "output": {"count": {"$sum": 1},
                   "artists": {"$push": {"name": {"$concat": ["$first_name", " ",
                                                               "$last_name"]},
                                         "year_born": "$year_born"}}}}},
        {"$match": {"count": {"$gt": 3}}}])
    assert out == [{"_id": 1860, "count": 4, "artists": [
        {"name": "Emil Bernard", "year_born": 1868},
        {"name": "Joszef Rippl-Ronai", "year_born": 1861},
        {"name": "Alfred Maurer", "year_born": 1868},
        {"name": "Edvard Munch", "year_born": 1863}]}]
    counts = agg(ARTISTS + [{"_id": 9}], [{"$bucket": {
        "groupBy": "$year_born", "boundaries": [1840, 1850, 1860, 1870, 1880],
        "default": "Other"}}])
    assert counts == [{"_id": 1840, "count": 1}, {"_id": 1850, "count": 2},
                      {"_id": 1860, "count": 4}, {"_id": 1870, "count": 1},
                      {"_id": "Other", "count": 1}]
    # outside every bucket without a default: MongoDB's $switch error
    assert code_of([{"year_born": 1900}], [{"$bucket": {"groupBy": "$year_born",
                                                        "boundaries": [1840, 1850]}}]) == 40066
    assert code_of([{}], [{"$bucket": {"groupBy": "$y", "boundaries": [2, 1]}}]) == 40194


ARTWORK = [
    {"_id": 1, "title": "The Pillars of Society", "artist": "Grosz", "year": 1926,
     "price": Decimal128("199.99"), "dimensions": {"height": 39, "width": 21, "units": "in"}},
    {"_id": 2, "title": "Melancholy III", "artist": "Munch", "year": 1902,
     "price": Decimal128("280.00"), "dimensions": {"height": 49, "width": 32, "units": "in"}},
    {"_id": 3, "title": "Dancer", "artist": "Miro", "year": 1925,
     "price": Decimal128("76.04"), "dimensions": {"height": 25, "width": 20, "units": "in"}},
    {"_id": 4, "title": "The Great Wave off Kanagawa", "artist": "Hokusai",
     "price": Decimal128("167.30"), "dimensions": {"height": 24, "width": 36, "units": "in"}},
    {"_id": 5, "title": "The Persistence of Memory", "artist": "Dali", "year": 1931,
     "price": Decimal128("483.00"), "dimensions": {"height": 20, "width": 24, "units": "in"}},
    {"_id": 6, "title": "Composition VII", "artist": "Kandinsky", "year": 1913,
     "price": Decimal128("385.00"), "dimensions": {"height": 30, "width": 46, "units": "in"}},
    {"_id": 7, "title": "The Scream", "artist": "Munch",
     "price": Decimal128("159.00"), "dimensions": {"height": 24, "width": 18, "units": "in"}},
    {"_id": 8, "title": "Blue Flower", "artist": "O'Keefe", "year": 1918,
     "price": Decimal128("118.42"), "dimensions": {"height": 24, "width": 20, "units": "in"}},
]


def test_bucket_auto_docs_examples():
    # docs $bucketAuto "Multi-Faceted Aggregation" on the artwork collection
    out = agg(ARTWORK, [{"$facet": {
        "price": [{"$bucketAuto": {"groupBy": "$price", "buckets": 4}}],
        "year": [{"$bucketAuto": {"groupBy": "$year", "buckets": 3,
                                  "output": {"count": {"$sum": 1}, "years": {"$push": "$year"}}}}],
        "area": [{"$bucketAuto": {"groupBy": {"$multiply": ["$dimensions.height",
                                                            "$dimensions.width"]},
                                  "buckets": 4,
                                  "output": {"count": {"$sum": 1},
                                             "titles": {"$push": "$title"}}}}]}}])
    assert out == [{
        "area": [
            {"_id": {"min": 432, "max": 500}, "count": 3,
             "titles": ["The Scream", "The Persistence of Memory", "Blue Flower"]},
            {"_id": {"min": 500, "max": 864}, "count": 2,
             "titles": ["Dancer", "The Pillars of Society"]},
            {"_id": {"min": 864, "max": 1568}, "count": 2,
             "titles": ["The Great Wave off Kanagawa", "Composition VII"]},
            {"_id": {"min": 1568, "max": 1568}, "count": 1, "titles": ["Melancholy III"]}],
        "price": [
            {"_id": {"min": Decimal128("76.04"), "max": Decimal128("159.00")}, "count": 2},
            {"_id": {"min": Decimal128("159.00"), "max": Decimal128("199.99")}, "count": 2},
            {"_id": {"min": Decimal128("199.99"), "max": Decimal128("385.00")}, "count": 2},
            {"_id": {"min": Decimal128("385.00"), "max": Decimal128("483.00")}, "count": 2}],
        "year": [
            {"_id": {"min": None, "max": 1913}, "count": 3, "years": [1902]},
            {"_id": {"min": 1913, "max": 1926}, "count": 3, "years": [1913, 1918, 1925]},
            {"_id": {"min": 1926, "max": 1931}, "count": 2, "years": [1926, 1931]}]}]
    assert code_of([{}], [{"$bucketAuto": {"groupBy": "$a", "buckets": 0}}]) == 40243
    assert code_of([{}], [{"$bucketAuto": {"groupBy": "a", "buckets": 2}}]) == 40239
    assert code_of([{}], [{"$bucketAuto": {"groupBy": "$a", "buckets": 2,
                                           "granularity": "R5"}}]) == 238


def test_sort_by_count_docs_example():
    # docs $sortByCount example: tags of exhibits
    exhibits = [
        {"_id": 1, "tags": ["painting", "satire", "Expressionism", "caricature"]},
        {"_id": 2, "tags": ["woodcut", "Expressionism"]},
        {"_id": 3, "tags": ["oil", "Surrealism", "painting"]},
        {"_id": 4, "tags": ["woodblock", "ukiyo-e"]},
        {"_id": 5, "tags": ["Surrealism", "painting", "oil"]},
        {"_id": 6, "tags": ["oil", "painting", "abstract"]},
        {"_id": 7, "tags": ["Expressionism", "painting", "oil"]},
        {"_id": 8, "tags": ["abstract", "painting"]}]
    out = agg(exhibits, [{"$unwind": "$tags"}, {"$sortByCount": "$tags"}])
    assert out[:3] == [{"_id": "painting", "count": 6}, {"_id": "oil", "count": 4},
                       {"_id": "Expressionism", "count": 3}]
    assert [d["count"] for d in out] == [6, 4, 3, 2, 2, 1, 1, 1, 1, 1]
    assert {d["_id"] for d in out[3:5]} == {"Surrealism", "abstract"}
    assert code_of([{}], [{"$sortByCount": "tags"}]) == 40148


def test_count_docs_example_and_errors():
    # docs $count example: scores greater than 80
    scores = [{"_id": i, "subject": "History", "score": s}
              for i, s in enumerate([88, 92, 97, 71, 79, 83], start=1)]
    assert agg(scores, [{"$match": {"score": {"$gt": 80}}}, {"$count": "passing_scores"}]) == \
        [{"passing_scores": 4}]
    assert code_of([{}], [{"$count": ""}]) == 40156
    assert code_of([{}], [{"$count": "$n"}]) == 40158
    assert code_of([{}], [{"$count": "a.b"}]) == 40160


# --- $sort, $limit, $skip, $sample ---------------------------------------------------------

def test_sort_limit_skip():
    out = agg(SALES, [{"$sort": {"price": -1, "_id": 1}}, {"$limit": 3}, {"$project": {"_id": 1}}])
    assert out == [{"_id": 2}, {"_id": 1}, {"_id": 5}]
    assert [d["_id"] for d in agg(SALES, [{"$skip": 3}])] == [4, 5]
    assert len(agg(SALES, [{"$limit": Int64(2)}])) == 2
    assert len(agg(SALES, [{"$limit": 2.0}])) == 2
    assert code_of(SALES, [{"$limit": 0}]) == 15958
    assert code_of(SALES, [{"$limit": -1}]) == 15958
    assert code_of(SALES, [{"$limit": "1"}]) == 15957
    assert code_of(SALES, [{"$skip": -1}]) == 15956
    assert code_of(SALES, [{"$sort": {"a": 2}}]) == 15975
    assert code_of(SALES, [{"$sort": {}}]) == 15976
    assert len(agg(SALES, [{"$sample": {"size": 2}}])) == 2


# --- other collections and writes ------------------------------------------------------

def test_union_with_and_documents():
    ctx = Collections(other=[{"_id": "o1"}, {"_id": "o2", "x": 1}])
    out = agg([{"_id": 1}], [{"$unionWith": {"coll": "other", "pipeline": [{"$match": {"x": 1}}]}}],
              ctx)
    assert out == [{"_id": 1}, {"_id": "o2", "x": 1}]
    assert agg([{"_id": 1}], [{"$unionWith": "other"}], ctx) == [{"_id": 1}, {"_id": "o1"},
                                                                  {"_id": "o2", "x": 1}]
    # docs $documents example
    assert agg([], [{"$documents": [{"x": 10}, {"x": 2}, {"x": 5}]}, {"$sort": {"x": 1}}]) == \
        [{"x": 2}, {"x": 5}, {"x": 10}]
    assert code_of([], [{"$match": {}}, {"$documents": []}]) == 40602


def test_out_and_merge_hand_the_documents_to_the_context():
    ctx = Collections()
    assert agg([{"_id": 1, "a": 1}, {"a": 2}], [{"$project": {"a": 1}}, {"$out": "target"}],
               ctx) == []
    assert ctx.out["target"][0] == {"_id": 1, "a": 1}
    assert ctx.out["target"][1]["a"] == 2 and "_id" in ctx.out["target"][1]
    assert code_of([{}], [{"$out": "t"}, {"$match": {}}]) == 40601
    agg([{"_id": 1, "a": 1}], [{"$merge": {"into": "t", "on": "_id", "whenMatched": "replace",
                                           "whenNotMatched": "insert"}}], ctx)
    assert ctx.merged == [("t", [{"_id": 1, "a": 1}], ["_id"], "replace", "insert")]
    agg([{"_id": 1}], [{"$merge": "t2"}], ctx)
    assert ctx.merged[-1][1:] == ([{"_id": 1}], ["_id"], "merge", "insert")
    assert code_of([{}], [{"$merge": {"into": "t", "whenMatched": "nope"}}]) == 2


def test_merge_matched_modes():
    # docs $merge "whenMatched": replace, keepExisting, merge, fail, pipeline with $$new
    existing = {"_id": 1, "a": 1, "b": 1}
    new = {"_id": 1, "b": 2, "c": 3}
    assert merge_matched(existing, new, "replace") == new
    assert merge_matched(existing, new, "keepExisting") == existing
    assert merge_matched(existing, new, "merge") == {"_id": 1, "a": 1, "b": 2, "c": 3}
    with pytest.raises(StoreError) as err:
        merge_matched(existing, new, "fail")
    assert err.value.code == 11000
    pipeline = WhenMatchedPipeline([{"$set": {"b": {"$add": ["$b", "$$new.b"]}}}], None, None)
    assert merge_matched(existing, new, pipeline) == {"_id": 1, "a": 1, "b": 3}
    pipeline = WhenMatchedPipeline([{"$set": {"b": "$$c"}}], {"c": "$c"}, None)
    assert merge_matched(existing, new, pipeline) == {"_id": 1, "a": 1, "b": 3}


def test_redact():
    # docs $redact: $$DESCEND into sub-documents, $$PRUNE those whose level is too high
    doc = {"_id": 1, "level": 1, "a": {"level": 5, "secret": 1},
           "b": [{"level": 2, "x": 1}, {"level": 9}]}
    out = agg([doc], [{"$redact": {"$cond": {"if": {"$lte": ["$level", 3]}, "then": "$$DESCEND",
                                             "else": "$$PRUNE"}}}])
    assert out == [{"_id": 1, "level": 1, "b": [{"level": 2, "x": 1}]}]


# --- $setWindowFields ----------------------------------------------------------------------

CAKE_SALES = [
    {"_id": 0, "type": "chocolate", "orderDate": dt.datetime(2020, 5, 18, 14, 10, 30),
     "state": "CA", "price": 13, "quantity": 120},
    {"_id": 1, "type": "chocolate", "orderDate": dt.datetime(2021, 3, 20, 11, 30, 5),
     "state": "WA", "price": 14, "quantity": 140},
    {"_id": 2, "type": "vanilla", "orderDate": dt.datetime(2021, 1, 11, 6, 31, 15),
     "state": "CA", "price": 12, "quantity": 145},
    {"_id": 3, "type": "vanilla", "orderDate": dt.datetime(2020, 2, 8, 13, 13, 23),
     "state": "WA", "price": 13, "quantity": 104},
    {"_id": 4, "type": "strawberry", "orderDate": dt.datetime(2019, 5, 18, 16, 9, 1),
     "state": "CA", "price": 41, "quantity": 162},
    {"_id": 5, "type": "strawberry", "orderDate": dt.datetime(2019, 1, 8, 6, 12, 3),
     "state": "WA", "price": 43, "quantity": 134},
]


def test_set_window_fields_documents_windows_docs_examples():
    # docs $setWindowFields "Cumulative Quantity for Each State": partitions in key order,
    # each sorted by orderDate
    out = agg(CAKE_SALES, [{"$setWindowFields": {
        "partitionBy": "$state", "sortBy": {"orderDate": 1},
        "output": {"cumulativeQuantityForState": {
            "$sum": "$quantity", "window": {"documents": ["unbounded", "current"]}}}}}])
    assert [(d["_id"], d["cumulativeQuantityForState"]) for d in out] == \
        [(4, 162), (0, 282), (2, 427), (5, 134), (3, 238), (1, 378)]
    assert out[0] == {**CAKE_SALES[4], "cumulativeQuantityForState": 162}
    # "Cumulative Quantity for Each Year"
    out = agg(CAKE_SALES, [{"$setWindowFields": {
        "partitionBy": {"$year": "$orderDate"}, "sortBy": {"orderDate": 1},
        "output": {"cumulativeQuantityForYear": {
            "$sum": "$quantity", "window": {"documents": ["unbounded", "current"]}}}}}])
    assert [(d["_id"], d["cumulativeQuantityForYear"]) for d in out] == \
        [(5, 134), (4, 296), (3, 104), (0, 224), (2, 145), (1, 285)]
    # "Moving Average Quantity for Each Year": the previous and the current document
    out = agg(CAKE_SALES, [{"$setWindowFields": {
        "partitionBy": {"$year": "$orderDate"}, "sortBy": {"orderDate": 1},
        "output": {"averageQuantity": {"$avg": "$quantity",
                                       "window": {"documents": [-1, 0]}}}}}])
    assert [(d["_id"], d["averageQuantity"]) for d in out] == \
        [(5, 134), (4, 148), (3, 104), (0, 112), (2, 145), (1, 142.5)]
    # default window: the whole partition; empty windows give 0 for $sum
    out = agg(CAKE_SALES, [{"$setWindowFields": {
        "partitionBy": "$state", "output": {"total": {"$sum": "$quantity"},
                                            "all": {"$push": "$_id"}}}}])
    assert {(d["state"], d["total"]) for d in out} == {("CA", 427), ("WA", 378)}
    assert sorted(out[0]["all"]) == [0, 2, 4]
    out = agg(CAKE_SALES[:2], [{"$setWindowFields": {
        "sortBy": {"orderDate": 1},
        "output": {"next": {"$sum": "$quantity", "window": {"documents": [1, 1]}}}}}])
    assert [d["next"] for d in out] == [140, 0]


def test_set_window_fields_range_rank_shift_docs_examples():
    # docs $setWindowFields "Range Window ... Quantity for Similar Prices" (within 10)
    out = agg(CAKE_SALES, [{"$setWindowFields": {
        "partitionBy": "$state", "sortBy": {"price": 1},
        "output": {"quantityFromSimilarOrders": {"$sum": "$quantity",
                                                 "window": {"range": [-10, 10]}}}}}])
    assert [(d["_id"], d["quantityFromSimilarOrders"]) for d in out] == \
        [(2, 265), (0, 265), (4, 162), (3, 244), (1, 244), (5, 134)]
    # "Time Range Window with a Positive Upper Bound": every earlier order and those of the
    # next 10 months
    out = agg(CAKE_SALES, [{"$setWindowFields": {
        "partitionBy": "$state", "sortBy": {"orderDate": 1},
        "output": {"recentOrders": {"$push": "$orderDate",
                                    "window": {"range": ["unbounded", 10], "unit": "month"}}}}}])
    ca = [dt.datetime(2019, 5, 18, 16, 9, 1), dt.datetime(2020, 5, 18, 14, 10, 30),
          dt.datetime(2021, 1, 11, 6, 31, 15)]
    wa = [dt.datetime(2019, 1, 8, 6, 12, 3), dt.datetime(2020, 2, 8, 13, 13, 23),
          dt.datetime(2021, 3, 20, 11, 30, 5)]
    assert [d["recentOrders"] for d in out] == [ca[:1], ca, ca, wa[:1], wa[:2], wa]
    # docs $rank / $denseRank / $documentNumber: quantity descending per state
    out = agg(CAKE_SALES + [{"_id": 6, "state": "CA", "quantity": 145}], [{"$setWindowFields": {
        "partitionBy": "$state", "sortBy": {"quantity": -1},
        "output": {"rank": {"$rank": {}}, "dense": {"$denseRank": {}},
                   "n": {"$documentNumber": {}}}}}])
    assert [(d["_id"], d["rank"], d["dense"], d["n"]) for d in out] == \
        [(4, 1, 1, 1), (2, 2, 2, 2), (6, 2, 2, 3), (0, 4, 3, 4),
         (1, 1, 1, 1), (5, 2, 2, 2), (3, 3, 3, 3)]
    # docs $shift: the next order's quantity, default when there is none
    out = agg(CAKE_SALES, [{"$setWindowFields": {
        "partitionBy": "$state", "sortBy": {"quantity": -1},
        "output": {"shiftQuantityForState": {"$shift": {"output": "$quantity", "by": 1,
                                                        "default": "Not available"}}}}}])
    assert [d["shiftQuantityForState"] for d in out] == \
        [145, 120, "Not available", 134, 104, "Not available"]
    assert code_of(CAKE_SALES, [{"$setWindowFields": {"output": {"r": {"$rank": {}}}}}]) \
        == 5371602
    assert code_of(CAKE_SALES, [{"$setWindowFields": {
        "output": {"s": {"$sum": "$quantity", "window": {"documents": [-1, 0]}}}}}]) == 5339901
    assert code_of(CAKE_SALES, [{"$setWindowFields": {"sortBy": {"price": 1}, "output": {
        "d": {"$derivative": {"input": "$price"}}}}}]) == 238


def test_fill_docs_examples():
    # docs $fill "Fill Missing Field Values with a Constant Value": filled fields appended
    sales = [{"date": dt.datetime(2022, 2, 2), "bootsSold": 10, "sandalsSold": 20,
              "sneakersSold": 12},
             {"date": dt.datetime(2022, 2, 3), "bootsSold": 7, "sneakersSold": 18},
             {"date": dt.datetime(2022, 2, 4), "sneakersSold": 5}]
    out = agg(sales, [{"$fill": {"output": {"bootsSold": {"value": 0}, "sandalsSold": {"value": 0},
                                            "sneakersSold": {"value": 0}}}}])
    assert out == [sales[0], {**sales[1], "sandalsSold": 0},
                   {**sales[2], "bootsSold": 0, "sandalsSold": 0}]
    assert list(out[2]) == ["date", "sneakersSold", "bootsSold", "sandalsSold"]
    # "... with Linear Interpolation"
    hours = [dt.datetime(2021, 3, 8, h) for h in range(9, 15)]
    stock = [{"time": hours[0], "price": 500}, {"time": hours[1]},
             {"time": hours[2], "price": 515}, {"time": hours[3]}, {"time": hours[4]},
             {"time": hours[5], "price": 485}]
    out = agg(stock[::-1], [{"$fill": {"sortBy": {"time": 1},
                                       "output": {"price": {"method": "linear"}}}}])
    assert [(d["time"], d["price"]) for d in out] == \
        list(zip(hours, [500, 507.5, 515, 505, 495, 485]))
    assert code_of([{"t": 1, "v": 1}, {"t": 1}], [{"$fill": {"sortBy": {"t": 1}, "output": {
        "v": {"method": "linear"}}}}]) == 6050106
    # "... Based on the Last Observed Value", per restaurant
    reviews = [("Joe's Pizza", 8, 90), ("Sally's Deli", 8, 75), ("Joe's Pizza", 9, 92),
               ("Sally's Deli", 9, None), ("Joe's Pizza", 10, None), ("Sally's Deli", 10, 68),
               ("Joe's Pizza", 11, 93), ("Sally's Deli", 11, None)]
    docs = [{"date": dt.datetime(2021, 3, day), "restaurant": r,
             **({"score": score} if score is not None else {})} for r, day, score in reviews]
    out = agg(docs, [{"$fill": {"sortBy": {"date": 1},
                                "partitionBy": {"restaurant": "$restaurant"},
                                "output": {"score": {"method": "locf"}}}}])
    assert [(d["restaurant"], d["date"].day, d["score"]) for d in out] == [
        ("Joe's Pizza", 8, 90), ("Joe's Pizza", 9, 92), ("Joe's Pizza", 10, 92),
        ("Joe's Pizza", 11, 93), ("Sally's Deli", 8, 75), ("Sally's Deli", 9, 75),
        ("Sally's Deli", 10, 68), ("Sally's Deli", 11, 68)]


def test_densify_docs_examples():
    # docs $densify "Densify Time Series Data": hourly between the bounds (upper excluded)
    weather = [{"timestamp": dt.datetime(2021, 5, 18, h), "temp": t}
               for h, t in ((0, 12), (4, 11), (8, 11), (12, 12))]
    out = agg(weather, [{"$densify": {"field": "timestamp", "range": {
        "step": 1, "unit": "hour",
        "bounds": [dt.datetime(2021, 5, 18, 0), dt.datetime(2021, 5, 18, 8)]}}}])
    assert [(d["timestamp"].hour, d.get("temp")) for d in out] == [
        (0, 12), (1, None), (2, None), (3, None), (4, 11), (5, None), (6, None), (7, None),
        (8, 11), (12, 12)]
    assert out[1] == {"timestamp": dt.datetime(2021, 5, 18, 1)}
    # "Densify the Full Range of Values" per variety, and "... within Each Partition"
    coffee = [{"altitude": 600, "variety": "Arabica Typica", "score": 68.3},
              {"altitude": 750, "variety": "Arabica Typica", "score": 69.5},
              {"altitude": 950, "variety": "Arabica Typica", "score": 70.5},
              {"altitude": 1250, "variety": "Gesha", "score": 88.15},
              {"altitude": 1700, "variety": "Gesha", "score": 95.5, "price": 1029}]

    def altitudes(bounds):
        out = agg(coffee, [{"$densify": {"field": "altitude", "partitionByFields": ["variety"],
                                         "range": {"bounds": bounds, "step": 200}}}])
        return {v: sorted((d["altitude"], "score" in d) for d in out if d["variety"] == v)
                for v in ("Arabica Typica", "Gesha")}

    full = altitudes("full")
    assert full["Arabica Typica"] == [(600, True), (750, True), (800, False), (950, True),
                                      (1000, False), (1200, False), (1400, False), (1600, False)]
    assert full["Gesha"] == [(600, False), (800, False), (1000, False), (1200, False),
                             (1250, True), (1400, False), (1600, False), (1700, True)]
    partition = altitudes("partition")
    assert partition["Arabica Typica"] == [(600, True), (750, True), (800, False), (950, True)]
    assert partition["Gesha"] == [(1250, True), (1450, False), (1650, False), (1700, True)]
    assert code_of(coffee, [{"$densify": {"field": "altitude", "range": {
        "bounds": "full", "step": 1, "unit": "hour"}}}]) == 5733201


# --- pipeline-level rules ---------------------------------------------------------------------

def test_invalid_and_unsupported_stages_are_errors_before_any_document():
    assert code_of([], [{"$frob": {}}]) == 40324
    assert code_of([], [{"$match": {}, "$limit": 1}]) == 40323
    assert code_of([], [{"$geoNear": {"near": [0, 0], "distanceField": "d"}}]) == 238
    assert code_of([], [{"$search": {"text": {"query": "x", "path": "a"}}}]) == 238
    assert code_of([], [{"$project": {"a": {"$nope": 1}}}]) == 168
    assert code_of([], [{"$match": {"a": {"$nope": 1}}}]) == 2


def test_command_let_variables_and_now():
    out = agg([{"_id": 1, "a": 2}], [{"$project": {"a": {"$multiply": ["$a", "$$factor"]},
                                                   "same": {"$eq": ["$$NOW", "$$NOW"]}}}],
              variables={"factor": 10})
    assert out == [{"_id": 1, "a": 20, "same": True}]
    out = agg([{"_id": 1, "a": 2}, {"_id": 2, "a": 10}],
              [{"$match": {"$expr": {"$gt": ["$a", "$$limit"]}}}], variables={"limit": 5})
    assert out == [{"_id": 2, "a": 10}]


# --- properties -------------------------------------------------------------------------------

_INT32 = st.integers(-(2**31), 2**31 - 1)
_SCALARS = st.one_of(_INT32, st.text(max_size=3), st.none(), st.booleans(),
                     st.floats(allow_nan=False, allow_infinity=False, width=32))


@given(st.lists(st.lists(_SCALARS, max_size=4), max_size=6))
def test_unwind_then_group_push_rebuilds_the_arrays(arrays):
    docs = [{"_id": i, "a": a} for i, a in enumerate(arrays)]
    out = agg(docs, [{"$unwind": "$a"}, {"$group": {"_id": "$_id", "a": {"$push": "$a"}}}])
    assert {d["_id"]: d["a"] for d in out} == {i: a for i, a in enumerate(arrays) if a}


@given(st.lists(_INT32, max_size=30))
def test_sum_of_int32_values_is_exact_with_mongodb_result_type(values):
    out = agg([{"v": v} for v in values] + [{"v": "x"}],
              [{"$group": {"_id": None, "s": {"$sum": "$v"}, "n": {"$count": {}}}}])
    total = out[0]["s"]
    assert total == sum(values)
    fits_int32 = -(2**31) <= sum(values) < 2**31
    assert type(total) is (int if fits_int32 else Int64)
    assert out[0]["n"] == len(values) + 1


@given(st.dictionaries(st.sampled_from("abcdef"), _SCALARS, min_size=1),
       st.sets(st.sampled_from("abcdef"), min_size=1, max_size=5))
def test_inclusion_and_exclusion_of_complementary_fields_agree(doc, fields):
    doc = {"_id": 0, **doc}
    included = agg([doc], [{"$project": {f: 1 for f in sorted(fields)}}])
    excluded = agg([doc], [{"$project": {f: 0 for f in sorted(set("abcdef") - fields)}}])
    assert included == excluded == [{k: v for k, v in doc.items() if k == "_id" or k in fields}]


# lookup_equijoin_semantics.js (mongodb/mongo): the rest of its document sets, verbatim
EQUIJOIN_PATH_TO_ARRAY = [
    {'_id': 0, 'a': {'x': [[1, 2], 3], 'y': 4}},
    {'_id': 1, 'a': [{'x': [[1, 2], 3]}, {'x': 4}]},
    {'_id': 2, 'a': [{'x': [[1, 2], 3]}, {'x': None}]},
    {'_id': 3, 'a': [{'x': [[1, 2], 3]}, {'no_x': 4}]},
    {'_id': 4, 'a': {'x': [1, 2], 'y': 4}},
    {'_id': 5, 'a': [{'x': [1, 2]}, {'x': 4}]},
    {'_id': 6, 'a': [{'x': [1, 2]}, {'x': None}]},
    {'_id': 7, 'a': [{'x': [1, 2]}, {'no_x': 4}]},
    {'_id': 10, 'a': {'x': [2, 1], 'y': [1, 2]}},
    {'_id': 11, 'a': {'x': [[2, 1], 3], 'y': [[1, 2], 3]}},
    {'_id': 12, 'a': [{'x': 1}, {'x': 2}]},
    {'_id': 13, 'a': {'x': [[[1, 2], 3]]}},
    {'_id': 14, 'a': [{'x': [[[1, 2], 3]]}]},
    {'_id': 15, 'a': {'no_x': [[1, 2], 3]}},
]
EQUIJOIN_MISSING_ON_PATH = [
    {'_id': 0, 'a': {'no_x': 1}},
    {'_id': 1, 'a': {'no_x': [1, 2]}},
    {'_id': 2, 'a': [{'no_x': 1}, {'no_x': 2}]},
    {'_id': 3, 'a': [{'no_x': 2}, {'x': 1}]},
    {'_id': 4, 'a': [{'no_x': [1, 2]}, {'x': 1}]},
    {'_id': 5, 'a': {'x': None}},
    {'_id': 6, 'a': [{'x': None}, {'x': 1}]},
    {'_id': 7, 'a': [{'x': None}, {'x': [1]}]},
    {'_id': 8, 'no_a': 1},
    {'_id': 9, 'a': [1]},
    {'_id': 10, 'a': []},
    {'_id': 11, 'a': [[1]]},
    {'_id': 12, 'a': [[]]},
    {'_id': 20, 'a': {'x': 2, 'y': 1}},
    {'_id': 21, 'a': [{'x': 2}, {'x': 3}]},
]
EQUIJOIN_SCALARS_ON_PATH = [
    {'_id': 0, 'a': 1},
    {'_id': 1, 'no_a': 1},
    {'_id': 2, 'a': [1]},
    {'_id': 3, 'a': {'b': 1}},
    {'_id': 4, 'a': {'no_b': 1}},
    {'_id': 5, 'a': {'b': [1]}},
    {'_id': 6, 'a': [{'b': {'no_c': 1}}, 1]},
    {'_id': 7, 'a': {'b': [{'no_c': 1}, 1]}},
]
EQUIJOIN_EMPTY_TOP_LEVEL = [
    {'_id': 0, 'a': [[]]},
    {'_id': 1, 'a': [[], 1]},
    {'_id': 2, 'a': [[], None]},
    {'_id': 3, 'a': []},
    {'_id': 10, 'no_a': 1},
    {'_id': 11, 'a': None},
    {'_id': 12, 'a': [None]},
    {'_id': 13, 'a': [None, 1]},
    {'_id': 20, 'a': 1},
    {'_id': 21, 'a': [[[], 1], 2]},
    {'_id': 22, 'a': [1, 2]},
    {'_id': 23, 'a': [[None, 1], 2]},
]
EQUIJOIN_DEEP_EMPTY = [
    {'_id': 0, 'a': {'b': {'c': []}}},
    {'_id': 1, 'a': {'b': [{'c': []}, {'c': []}]}},
    {'_id': 2, 'a': {'b': [{'no_c': 42}, {'c': []}, {'c': []}]}},
    {'_id': 3, 'a': [{'b': {'c': []}}, {'b': {'c': []}}]},
    {'_id': 4, 'a': [{'b': {'no_c': 42}}, {'b': {'c': []}}, {'b': {'c': []}}]},
    {'_id': 5, 'a': {'b': {'c': [[]]}}},
    {'_id': 6, 'a': {'b': [{'c': []}, {'c': [[]]}]}},
    {'_id': 7, 'a': {'b': [{'no_c': 42}, {'c': []}, {'c': [[]]}]}},
    {'_id': 8, 'a': [{'b': {'c': []}}, {'b': {'c': [[]]}}]},
    {'_id': 9, 'a': [{'b': {'no_c': 42}}, {'b': {'c': []}}, {'b': {'c': [[]]}}]},
]
EQUIJOIN_EMPTY_ON_PATH = [
    {'_id': 0, 'a': {'x': [[]], 'y': 1}},
    {'_id': 1, 'a': [{'x': [[]]}]},
    {'_id': 2, 'a': [{'x': [[]]}, {'x': 1}]},
    {'_id': 3, 'a': [{'x': [[]]}, {'x': None}]},
    {'_id': 4, 'a': [{'x': [[]]}, {'no_x': 1}]},
    {'_id': 5, 'a': {'x': [[], 1]}},
    {'_id': 10, 'a': {'x': [], 'y': 1}},
    {'_id': 11, 'a': [{'x': []}, {'x': 1}]},
    {'_id': 12, 'a': [{'x': []}, {'x': None}]},
    {'_id': 13, 'a': [{'x': []}, {'no_x': 1}]},
    {'_id': 20, 'no_a': 1},
    {'_id': 21, 'a': {'no_x': 1}},
    {'_id': 22, 'a': [{'no_x': 1}, {'no_x': 2}]},
    {'_id': 23, 'a': [{'x': None}, {'x': 1}]},
    {'_id': 30, 'a': []},
    {'_id': 31, 'a': [1]},
    {'_id': 32, 'a': [None, 1]},
    {'_id': 33, 'a': [[]]},
    {'_id': 34, 'a': [[1], 2]},
    {'_id': 40, 'a': {'x': 1}},
    {'_id': 41, 'a': {'x': [[[], 1], 2]}},
    {'_id': 42, 'a': {'x': [1, 2]}},
    {'_id': 43, 'a': {'x': [[None, 1], 2]}},
    {'_id': 44, 'a': [{'x': 1}]},
    {'_id': 45, 'a': [{'x': [[[], 1], 2]}]},
    {'_id': 46, 'a': [{'x': [1, 2]}]},
    {'_id': 47, 'a': [{'x': [[None, 1], 2]}]},
]
EQUIJOIN_NUMERIC_SCALAR = [
    {'_id': 0, 'a': [{'x': 1}, {'x': 2}]},
    {'_id': 1, 'a': [{'x': [2, 3, 1]}]},
    {'_id': 2, 'a': [{'x': 1}, {'y': 1}]},
    {'_id': 10, 'a': [{'x': 2}, {'x': 1}]},
    {'_id': 11, 'a': [{'x': [2, 3]}]},
    {'_id': 12, 'a': {'x': 1}},
    {'_id': 13, 'a': {'x': [1, 2]}},
    {'_id': 14, 'a': [{'y': 1}, {'x': 1}]},
]
EQUIJOIN_NUMERIC_NULL = [
    {'_id': 0, 'a': {'x': 1}},
    {'_id': 1, 'a': {'x': [1, 2]}},
    {'_id': 2, 'a': [{'y': 1}, {'x': 1}]},
    {'_id': 3, 'a': [{'x': None}, {'x': 1}]},
    {'_id': 4, 'a': [{'x': [1, None]}, {'x': 1}]},
    {'_id': 5, 'a': [1, 2]},
    {'_id': 10, 'a': [{'x': 1}, {'y': 1}]},
    {'_id': 11, 'a': [{'x': [1, 2]}]},
]
EQUIJOIN_CASES = [
    # (local documents or record, localField, foreign record or documents, foreignField, ids)
    ("locals", EQUIJOIN_PATH_TO_ARRAY, "a.x", {"_id": 0, "b": [1, 2]}, "b",
     [0, 1, 2, 3, 4, 5, 6, 7, 10, 12]),
    ("foreign", {"_id": 0, "b": [1, 2]}, "b", EQUIJOIN_PATH_TO_ARRAY, "a.x", [4, 5, 6, 7, 10, 12]),
    ("locals", EQUIJOIN_PATH_TO_ARRAY, "a.x", {"_id": 0, "b": [[1, 2], 42]}, "b", [0, 1, 2, 3]),
    ("foreign", {"_id": 0, "b": [[1, 2], 42]}, "b", EQUIJOIN_PATH_TO_ARRAY, "a.x",
     [0, 1, 2, 3, 4, 5, 6, 7]),
    ("locals", EQUIJOIN_MISSING_ON_PATH, "a.x", {"_id": 0, "b": None}, "b",
     [0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12]),
    ("foreign", {"_id": 0, "b": None}, "b", EQUIJOIN_MISSING_ON_PATH, "a.x",
     [0, 1, 2, 3, 4, 5, 6, 7, 8]),
    ("locals", EQUIJOIN_MISSING_ON_PATH, "a.x", {"_id": 0, "no_b": 1}, "b",
     [0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12]),
    ("foreign", {"_id": 0, "no_b": 1}, "b", EQUIJOIN_MISSING_ON_PATH, "a.x",
     [0, 1, 2, 3, 4, 5, 6, 7, 8]),
    ("locals", EQUIJOIN_SCALARS_ON_PATH, "a.b.c", {"_id": 0, "b": None}, "b",
     [0, 1, 2, 3, 4, 5, 6, 7]),
    ("foreign", {"_id": 0, "b": None}, "b", EQUIJOIN_SCALARS_ON_PATH, "a.b.c", [0, 1, 3, 4, 6, 7]),
    ("locals", EQUIJOIN_EMPTY_TOP_LEVEL, "a", {"_id": 0, "b": []}, "b", [0, 1, 2]),
    ("foreign", {"_id": 0, "b": []}, "b", EQUIJOIN_EMPTY_TOP_LEVEL, "a", [2, 10, 11, 12, 13]),
    ("locals", EQUIJOIN_EMPTY_TOP_LEVEL, "a", {"_id": 0, "b": [[], 42]}, "b", [0, 1, 2]),
    ("foreign", {"_id": 0, "b": [[], 42]}, "b", EQUIJOIN_EMPTY_TOP_LEVEL, "a", [0, 1, 2, 3]),
    ("locals", EQUIJOIN_DEEP_EMPTY, "a.b.c", {"_id": 0, "b": None}, "b", [0, 1, 2, 3, 4]),
    ("locals", EQUIJOIN_DEEP_EMPTY, "a.b.c", {"_id": 0, "b": []}, "b", [5, 6, 7, 8, 9]),
    ("locals", EQUIJOIN_EMPTY_ON_PATH, "a.x", {"_id": 0, "b": []}, "b", [0, 1, 2, 3, 4, 5]),
    ("foreign", {"_id": 0, "b": []}, "b", EQUIJOIN_EMPTY_ON_PATH, "a.x",
     [3, 4, 12, 13, 20, 21, 22, 23]),
    ("locals", EQUIJOIN_EMPTY_ON_PATH, "a.x", {"_id": 0, "b": [[], 42]}, "b",
     [0, 1, 2, 3, 4, 5]),
    ("foreign", {"_id": 0, "b": [[], 42]}, "b", EQUIJOIN_EMPTY_ON_PATH, "a.x",
     [0, 1, 2, 3, 4, 5, 10, 11, 12, 13]),
    ("locals", EQUIJOIN_NUMERIC_SCALAR, "a.0.x", {"_id": 0, "b": 1}, "b", [0, 1, 2]),
    ("foreign", {"_id": 0, "b": 1}, "b", EQUIJOIN_NUMERIC_SCALAR, "a.0.x", [0, 1, 2]),
    ("locals", EQUIJOIN_NUMERIC_NULL, "a.0.x", {"_id": 0, "b": None}, "b", [0, 1, 2, 3, 4, 5]),
    # 10 and 11 match by the query semantics of "a.0.x" (SERVER-64221 in the jstest)
    ("foreign", {"_id": 0, "b": None}, "b", EQUIJOIN_NUMERIC_NULL, "a.0.x",
     [0, 1, 2, 3, 4, 10, 11]),
]


@pytest.mark.parametrize("side, local, local_field, foreign, foreign_field, expected",
                         EQUIJOIN_CASES)
def test_lookup_equijoin_jstest_cases(side, local, local_field, foreign, foreign_field,
                                      expected):
    """Which local documents match one foreign record ("locals"), or which foreign documents
    one local record matches ("foreign"), exactly as the server's jstest expects."""
    locals_ = local if side == "locals" else [local]
    foreigns = [foreign] if side == "locals" else foreign
    out = agg(locals_, [{"$lookup": {"from": "f", "localField": local_field,
                                     "foreignField": foreign_field, "as": "m"}}],
              Collections(f=foreigns))
    if side == "locals":
        assert sorted(d["_id"] for d in out if d["m"]) == expected
    else:
        assert sorted(m["_id"] for m in out[0]["m"]) == expected
