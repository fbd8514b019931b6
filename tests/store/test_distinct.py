"""`distinct` answers in MongoDB's order: values sorted by BSON comparison, types kept."""

from bson import Int64


def test_distinct_values_come_back_sorted_and_typed(store_db):
    store_db.c.insert_many([{"b": "2402"}, {"b": "2309"}, {"b": ["2311", "2309"]}, {"b": 7}, {"b": Int64(7)},
                            {"b": None}, {"b": True}])
    values = store_db.c.distinct("b")
    # null < numbers (7 and Int64(7) are one value) < strings < booleans; digit strings stay strings.
    assert values == [None, 7, "2309", "2311", "2402", True]
    assert store_db.c.distinct("b", {"b": {"$type": "string"}}) == ["2309", "2311", "2402"]
