"""Indexes never hide a matching document: ``find`` through a secondary index returns the
same documents as a collection scan, whatever the documents (arrays, nested documents,
DBRefs) and the simple filter on the indexed path.

The store narrows candidates with an index (``store.commands.candidates``) whenever a filter
constrains the index's first field, so the property compares an indexed collection with an
unindexed copy holding the same documents.
"""

from __future__ import annotations

from bson.codec_options import CodecOptions
from bson.dbref import DBRef
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sf.store.bsonorder import encode_key
from sf.store.query import compile_filter
from sf.store.storage import Index

# Few distinct values so that random filters and documents meet often.
scalars = st.one_of(
    st.sampled_from([0, 1, 2, 5]),
    st.sampled_from([1.0, 2.5, -0.0, float("nan")]),
    st.sampled_from([Int64(1), Int64(5)]),
    st.sampled_from(["", "a", "b", "5"]),
    st.sampled_from([None, True, False]),
)
leaf_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["b", "c", "0"]), inner, max_size=2),
    max_leaves=6,
)
dbrefs = st.builds(DBRef, st.sampled_from(["x", "y"]), scalars)
# A value of ``a``: anything above, a DBRef, documents holding DBRefs, arrays of those.
a_values = st.one_of(
    leaf_values,
    dbrefs,
    st.dictionaries(st.sampled_from(["b", "c"]), st.one_of(leaf_values, dbrefs), max_size=2),
    st.lists(st.one_of(leaf_values, dbrefs, st.fixed_dictionaries({"b": st.one_of(leaf_values, dbrefs)})),
             max_size=3),
)
documents = st.lists(st.fixed_dictionaries({}, optional={"a": a_values}), max_size=6)

PATHS = ["a", "a.b", "a.0", "a.b.c", "a.$id", "a.b.$id", "a.$ref"]
operands = st.one_of(scalars, st.lists(scalars, max_size=2), st.dictionaries(st.sampled_from(["b", "c"]), scalars,
                                                                              max_size=1))


def plain_and_indexed(store_db, keys: list, name: str, rows: list[dict] | None = None) -> tuple:
    """Empty collections ``plain`` and ``indexed`` (the latter with index ``name`` on
    ``keys``), both then holding ``rows``."""
    plain, indexed = store_db["plain"], store_db["indexed"]
    plain.drop()
    indexed.drop()
    indexed.create_index(keys, name=name)
    if rows:
        plain.insert_many(rows)
        indexed.insert_many(rows)
    return plain, indexed


def conditions() -> st.SearchStrategy:
    """Conditions on one path that the index fast path narrows (equality, $in, comparisons)."""
    return st.one_of(
        operands,
        st.builds(lambda v: {"$eq": v}, operands),
        st.builds(lambda vs: {"$in": vs}, st.lists(operands, min_size=1, max_size=3)),
        st.builds(lambda op, v: {op: v}, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), operands),
        st.builds(lambda lo, hi: {"$gte": lo, "$lt": hi}, scalars, scalars),
    )


def filters(path: str) -> st.SearchStrategy:
    single = st.builds(lambda c: {path: c}, conditions())
    return st.one_of(
        single,
        st.builds(lambda a, b: {"$and": [a, b]}, single, single),
        st.builds(lambda a, b: {"$or": [a, b]}, single, single),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, list[dict], dict]:
    path = draw(st.sampled_from(PATHS))
    return path, draw(documents), draw(filters(path))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_a_matching_document_has_an_index_key_the_filter_ranges_admit(case) -> None:
    """Pure form of the property, on many examples: whenever the filter matches a document,
    one of the document's index keys lies in the ranges ``key_ranges`` gives for the path."""
    from sf.store.commands import _byte_ranges
    from sf.store.query import key_ranges

    path, docs, filter_ = case
    ranges = key_ranges(filter_, path)
    if ranges is None:
        return
    spans = _byte_ranges(ranges)
    index = Index("i", "t", {"key": {path: 1}, "name": "i"}, [path])
    match = compile_filter(filter_)
    for doc in docs:
        if match(doc):
            keys = [key for key, _, _ in index.keys(doc)]
            assert any((lo is None or key >= lo) and (hi is None or key < hi) for key in keys for lo, hi in spans), \
                (doc, filter_, ranges)


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases())
def test_find_through_an_index_returns_what_a_collection_scan_returns(store_db, case) -> None:
    """Through the server: an indexed collection and an unindexed copy answer alike (also
    with the index hinted, and with ``$natural`` on the indexed one)."""
    path, docs, filter_ = case
    rows = [{"_id": i, **doc} for i, doc in enumerate(docs)]
    plain, indexed = plain_and_indexed(store_db, [(path, 1)], "by_path", rows)
    expected = [d["_id"] for d in plain.find(filter_, {"_id": 1})]
    assert expected == sorted(d["_id"] for d in rows if compile_filter(filter_)(d))  # the matcher, per document
    assert [d["_id"] for d in indexed.find(filter_, {"_id": 1})] == expected
    assert [d["_id"] for d in indexed.find(filter_, {"_id": 1}).hint("by_path")] == expected
    assert [d["_id"] for d in indexed.find(filter_, {"_id": 1}).hint([("$natural", 1)])] == expected
    assert indexed.count_documents(filter_) == len(expected)


def test_an_index_on_a_dbref_field_finds_the_documents_referring_to_an_id(store_db) -> None:
    """``{"r.$id": 5}`` reaches into DBRefs; an index on ``r.$id`` must hold those keys."""
    coll = store_db["refs"]
    coll.create_index([("r.$id", 1)])
    coll.insert_many([
        {"_id": 1, "r": DBRef("x", 5)},
        {"_id": 2, "r": [DBRef("x", 4), DBRef("y", 5)]},
        {"_id": 3, "r": {"$id": 6}},
        {"_id": 4},
    ])
    assert [d["_id"] for d in coll.find({"r.$id": 5})] == [1, 2]
    assert [d["_id"] for d in coll.find({"r.$id": {"$gte": 5}})] == [1, 2, 3]
    assert [d["_id"] for d in coll.find({"r.$id": {"$in": [4, 6]}})] == [2, 3]


def test_index_keys_of_a_dbref_path_are_its_ids() -> None:
    """The index builder follows a DBRef as the document ``{$ref, $id}`` (as the matcher does)."""
    index = Index("i", "t", {"key": {"r.$id": 1}, "name": "i"}, ["r.$id"])
    keys = {key for key, _, _ in index.keys({"r": DBRef("x", 5)})}
    assert keys == {encode_key(5)}


# --- parallel arrays -------------------------------------------------------------------------

def test_a_compound_index_refuses_parallel_arrays(store_db) -> None:
    """MongoDB cannot index two arrays of one document in one compound index: the write
    fails with CannotIndexParallelArrays (171), "cannot index parallel arrays [b] [a]"."""
    from pymongo.errors import BulkWriteError, OperationFailure, WriteError
    import pytest

    coll = store_db["par"]
    coll.create_index([("a", 1), ("b", 1)])
    with pytest.raises(WriteError) as info:
        coll.insert_one({"_id": 1, "a": [1, 2], "b": [3, 4]})
    assert info.value.code == 171 and "cannot index parallel arrays [b] [a]" in str(info.value)
    coll.insert_one({"_id": 2, "a": [1, 2], "b": 3})  # one array is fine
    coll.insert_one({"_id": 3, "a": {"x": [1]}, "b": {"y": 5}})
    with pytest.raises(WriteError) as info:
        coll.update_one({"_id": 2}, {"$set": {"b": [5]}})
    assert info.value.code == 171
    with pytest.raises(BulkWriteError) as bulk:  # within a bulk insert: that document only
        coll.insert_many([{"_id": 4, "a": 1}, {"_id": 5, "a": [1], "b": [2]}, {"_id": 6}], ordered=False)
    assert [e["code"] for e in bulk.value.details["writeErrors"]] == [171]
    assert sorted(d["_id"] for d in coll.find()) == [2, 3, 4, 6]
    assert coll.find_one({"_id": 2})["b"] == 3
    # Building the index over a collection that holds parallel arrays fails, leaving no index.
    other = store_db["par2"]
    other.insert_one({"a": [1], "b": [2]})
    with pytest.raises(OperationFailure) as info:
        other.create_index([("a", 1), ("b", 1)])
    assert info.value.code == 171
    assert list(other.index_information()) == ["_id_"]


def test_paths_through_one_array_are_not_parallel(store_db) -> None:
    """Two indexed paths through the same array are allowed (``{"a.b": 1, "a.c": 1}``),
    unless they reach different arrays inside one of its elements."""
    from pymongo.errors import WriteError
    import pytest

    coll = store_db["same"]
    coll.create_index([("a.b", 1), ("a.c", 1)])
    coll.insert_one({"_id": 1, "a": [{"b": 1, "c": 2}, {"b": 3, "c": 4}]})
    assert [d["_id"] for d in coll.find({"a.b": 3})] == [1]
    with pytest.raises(WriteError) as info:
        coll.insert_one({"_id": 2, "a": [{"b": [1], "c": [2]}]})
    assert info.value.code == 171 and "[c] [b]" in str(info.value)


# --- updates that may leave index keys alone ----------------------------------------------

SET_PATHS = ["a", "a.b", "a.c", "a.0", "a.1.b", "a.b.c", "x", "x.b"]
# Without DBRefs: a $set into a DBRef is refused (PathNotViable) when the whole document is
# decoded but applied to its fields when only the touched part is (a difference of its own).
plain_a = st.one_of(leaf_values, st.lists(st.fixed_dictionaries({"b": leaf_values}), max_size=3))
plain_documents = st.lists(st.fixed_dictionaries({}, optional={"a": plain_a}), max_size=6)


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), docs=plain_documents, set_path=st.sampled_from(SET_PATHS), value=leaf_values,
       filter_value=operands)
def test_an_update_keeps_the_index_right(store_db, path, docs, set_path, value, filter_value) -> None:
    """A ``$set`` on an indexed collection (written in place when it touches no indexed path,
    see ``commands._touches``) leaves the same documents as on an unindexed copy, and the
    index finds what a scan finds afterwards."""
    from pymongo.errors import PyMongoError

    rows = [{"_id": i, **doc} for i, doc in enumerate(docs)]
    plain, indexed = plain_and_indexed(store_db, [(path, 1)], "by_path", rows)
    for i in range(len(rows)):
        outcomes = []
        for coll in (plain, indexed):
            try:
                outcomes.append(coll.update_one({"_id": i}, {"$set": {set_path: value}}).modified_count)
            except PyMongoError as exc:
                outcomes.append(getattr(exc, "code", None))
        assert outcomes[0] == outcomes[1]
    raw = CodecOptions(document_class=RawBSONDocument)
    assert [d.raw for d in plain.with_options(codec_options=raw).find()] == \
        [d.raw for d in indexed.with_options(codec_options=raw).find()]
    filter_ = {path: filter_value}
    expected = [d["_id"] for d in plain.find(filter_, {"_id": 1})]
    assert [d["_id"] for d in indexed.find(filter_, {"_id": 1}).hint("by_path")] == expected


def test_touches_tells_disjoint_paths_apart() -> None:
    from sf.store.commands import _touches
    from sf.store.storage import path_trie

    assert not _touches(path_trie(["value.state", "value.batch.202401"]), ["value", "index", "algo2"])
    assert _touches(path_trie(["value.index"]), ["value", "index", "algo2"])
    assert _touches(path_trie(["value.index.algo2.x"]), ["value", "index", "algo2"])
    assert _touches(path_trie(["a.0"]), ["a", "b"])  # a may be an array: a.b reaches a[0].b
    assert _touches(path_trie(["a.c"]), ["a", "0"])
    assert not _touches(path_trie(["b"]), ["a", "0"])


# --- compound indexes: equalities on leading fields prefix the ranges of the next -------------

compound_documents = st.lists(st.fixed_dictionaries({}, optional={"a": leaf_values, "b": leaf_values,
                                                                  "c": leaf_values}), max_size=8)


def compound_filters() -> st.SearchStrategy:
    def on(path: str) -> st.SearchStrategy:
        return st.builds(lambda c: {path: c}, conditions())
    return st.one_of(
        st.builds(lambda a, b: {**a, **b}, on("a"), on("b")),
        st.builds(lambda a, c: {**a, **c}, on("a"), on("c")),
        st.builds(lambda a, b, c: {**a, **b, **c}, on("a"), on("b"), on("c")),
        st.builds(lambda a, b: {"$and": [a, b]}, on("a"), on("b")),
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(docs=compound_documents, filter_=compound_filters())
def test_find_through_a_compound_index_returns_what_a_scan_returns(store_db, docs, filter_) -> None:
    from pymongo.errors import WriteError

    plain, indexed = plain_and_indexed(store_db, [("a", 1), ("b", 1), ("c", -1)], "abc")
    for i, doc in enumerate(docs):
        try:
            indexed.insert_one({"_id": i, **doc})
        except WriteError:  # parallel arrays
            continue
        plain.insert_one({"_id": i, **doc})
    expected = [d["_id"] for d in plain.find(filter_, {"_id": 1})]
    assert [d["_id"] for d in indexed.find(filter_, {"_id": 1}).hint("abc")] == expected


def test_a_compound_index_narrows_a_range_after_an_equality(store_db) -> None:
    """The shape of the Features deletes: equality on the first field, range on the second."""
    coll = store_db["feat"]
    coll.create_index([("_id.batch", 1), ("_id.siret", 1), ("_id.periode", 1)], name="bsp")
    coll.insert_many([{"_id": {"batch": b, "siret": s, "periode": p}} for b in ("2401", "2402")
                      for s in ("10", "20", "30", "40") for p in (1, 2)])
    coll.insert_one({"_id": {"batch": "2401", "siret": ["05", "25"], "periode": 3}})  # multikey
    got = [(d["_id"]["siret"], d["_id"]["periode"]) for d in
           coll.find({"_id.batch": "2401", "_id.siret": {"$gte": "20", "$lt": "40"}}).hint("bsp")]
    assert sorted(got, key=str) == sorted([("20", 1), ("20", 2), (["05", "25"], 3), ("30", 1), ("30", 2)], key=str)
    assert coll.count_documents({"_id.batch": {"$in": ["2402", "x"]}, "_id.siret": {"$gt": "30"}}) == 2
    assert coll.count_documents({"_id.batch": "2401", "_id.siret": "30", "_id.periode": {"$lt": 2}}) == 1
    assert coll.delete_many({"_id.batch": "2402", "_id.siret": {"$lt": "30"}}).deleted_count == 4
    assert coll.count_documents({"_id.batch": {"$gte": "2401"}, "_id.siret": "40"}) == 4


def test_the_first_document_of_a_sort_on_a_later_index_field(store_db) -> None:
    """``find_one`` sorted on a compound index's later field (served from the index entries)
    returns what the same query without the index returns, ties in ``_id`` order."""
    import datetime

    rows = [{"_id": {"batch": b, "siret": s, "periode": datetime.datetime(2024, m, 1)}, "n": i}
            for i, (b, s, m) in enumerate((b, s, m) for b in ("2401", "2402") for s in ("3", "1", "2")
                                          for m in (1, 3, 2))]
    rows.append({"_id": {"batch": "2401", "siret": "9"}, "n": 99})  # no periode: null
    extra = [{"_id": {"batch": "2402", "siret": "0", "periode": 7.5}, "n": 100},
             {"_id": {"batch": "2402", "siret": "4", "periode": "z"}, "n": 101}]
    plain, indexed = plain_and_indexed(
        store_db, [("_id.batch", 1), ("_id.siret", 1), ("_id.periode", 1)], "bsp", rows)
    plain.insert_many(extra)
    indexed.insert_many(extra)
    for filter_ in ({"_id.batch": "2401"}, {"_id.batch": "2402"}, {"_id.batch": "2403"},
                    {"_id.batch": "2401", "_id.siret": "2"}):
        for field in ("_id.periode", "_id.siret", "n"):
            for direction in (1, -1):
                expected = plain.find_one(filter_, sort=[(field, direction)])
                assert indexed.find_one(filter_, sort=[(field, direction)]) == expected, (filter_, field, direction)
    # an array value makes the entries unusable for the sort: the general path answers
    indexed.insert_one({"_id": {"batch": "2401", "siret": "5", "periode": [datetime.datetime(2030, 1, 1)]}})
    plain.insert_one({"_id": {"batch": "2401", "siret": "5", "periode": [datetime.datetime(2030, 1, 1)]}})
    for direction in (1, -1):
        assert indexed.find_one({"_id.batch": "2401"}, sort=[("_id.periode", direction)]) == \
            plain.find_one({"_id.batch": "2401"}, sort=[("_id.periode", direction)])
