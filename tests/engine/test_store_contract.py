"""The MongoDB operations the engine relies on, checked on the test backend.

These are the patterns that behave identically on MongoDB and on the embedded server
(see README, "The embedded server"); if a new version of either breaks one, this file says
which before a pipeline step silently writes wrong data.
"""

from datetime import UTC, datetime

from pymongo import ReplaceOne, UpdateOne


def test_bulk_upsert_of_dotted_paths_merges_into_one_document(db):
    ops = [UpdateOne({"_id": "2401:000000001"},
                     {"$set": {"value.key": "000000001", "value.scope": "entreprise",
                               f"value.batch.2401.paydex.{h}": {"nb_jours": n, "date_valeur": datetime(2024, 1, n, tzinfo=UTC)}}},
                     upsert=True) for h, n in (("a", 1), ("b", 2), ("a", 1))]
    result = db["T"].bulk_write(ops, ordered=False)
    assert result.upserted_count == 1
    doc = db["T"].find_one({"_id": "2401:000000001"})
    assert doc["value"]["batch"]["2401"]["paydex"]["b"] == {"nb_jours": 2, "date_valeur": datetime(2024, 1, 2, tzinfo=UTC)}
    assert set(doc["value"]["batch"]["2401"]["paydex"]) == {"a", "b"}


def test_replace_upsert_keeps_the_id_when_the_document_carries_it(db):
    db["T"].bulk_write([ReplaceOne({"_id": "k"}, {"_id": "k", "v": 1}, upsert=True)])
    db["T"].bulk_write([ReplaceOne({"_id": "k"}, {"_id": "k", "v": 2}, upsert=True)])
    assert list(db["T"].find()) == [{"_id": "k", "v": 2}]


def test_dotted_filters_on_a_compound_id(db):
    db["T"].insert_many([{"_id": {"batch": "2401", "siret": s}, "x": 1} for s in ("1", "2")]
                        + [{"_id": {"batch": "2402", "siret": "1"}, "x": 1}])
    assert db["T"].count_documents({"_id.batch": "2401"}) == 2
    assert db["T"].delete_many({"_id.batch": "2401"}).deleted_count == 2
    db["T"].update_one({"_id.key": "2403", "_id.type": "batch"}, {"$set": {"name": "n"}}, upsert=True)
    assert db["T"].find_one({"_id.key": "2403"})["_id"] == {"key": "2403", "type": "batch"}


def test_range_and_exists_queries(db):
    db["T"].insert_many([{"_id": f"{i:014d}", "value": {"key": f"{i:014d}"}} for i in range(20)])
    assert db["T"].count_documents({"value.key": {"$gte": f"{5:014d}", "$lt": f"{9:014d}"}}) == 4
    db["T"].update_one({"_id": f"{3:014d}"}, {"$set": {"value.batch.2401": {"x": 1}}})
    assert [d["_id"] for d in db["T"].find({"value.batch.2401": {"$exists": True}}, {"_id": 1})] == [f"{3:014d}"]


def test_dotted_projection_reads_the_same_after_unflatten(db):
    from sf.engine.documents import unflatten

    db["T"].insert_one({"_id": "k", "value": {"key": "k", "state": {"a": ["h"]}, "index": {"algo2": True}, "big": 1}})
    doc = unflatten(db["T"].find_one({"_id": "k"}, {"value.key": 1, "value.state": 1, "value.index.algo2": 1}))
    assert doc == {"_id": "k", "value": {"key": "k", "state": {"a": ["h"]}, "index": {"algo2": True}}}


def test_bson_size_projection(db):
    db["T"].insert_one({"_id": "k", "value": {"x": "y" * 100}})
    size = db["T"].find_one({"_id": "k"}, {"size": {"$bsonSize": "$$ROOT"}})["size"]
    assert 100 < size < 200
