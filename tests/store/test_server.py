"""The ``sf.store`` server through the real PyMongo driver: faithfulness, durability, access.

Faithfulness is checked on bytes: documents are read back as ``RawBSONDocument`` and
compared with PyMongo's own encoding of what was written.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import bson
import pytest
from bson.binary import Binary
from bson.codec_options import CodecOptions
from bson.decimal128 import Decimal128
from bson.code import Code
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.raw_bson import RawBSONDocument
from bson.regex import Regex
from bson.timestamp import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import InsertOne, MongoClient, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from sf.store.codec import CODEC, decode, encode
from sf.store.server import RunningServer

RAW = CodecOptions(document_class=RawBSONDocument)

# --- documents of every BSON type -------------------------------------------------------------

names = st.text(alphabet="abcdefghij_", min_size=1, max_size=4).filter(lambda n: n != "_id")
datetimes = st.datetimes(min_value=datetime.datetime(1900, 1, 1), max_value=datetime.datetime(2200, 1, 1)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
decimals = st.sampled_from(["0", "-0", "1.10", "NaN", "-NaN", "Infinity", "-Infinity", "1E+6144", "-1.5E-6143",
                            "123456789012345678901234567890123.4"]).map(Decimal128)
scalars = st.one_of(
    st.booleans(),
    st.integers(-2**31, 2**31 - 1),
    st.integers(-2**63, 2**63 - 1).map(Int64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 0.0]),
    decimals,
    datetimes,
    st.binary(min_size=12, max_size=12).map(ObjectId),
    st.binary(max_size=16),
    st.builds(Binary, st.binary(max_size=16), st.sampled_from([0, 1, 2, 3, 4, 5, 128])),
    st.none(),
    st.text(max_size=8),
    st.from_regex(r"\A[0-9]{1,12}\Z"),
    st.builds(Regex, st.text(alphabet="ab.*", max_size=4), st.sampled_from(["", "i", "ims", "x"])),
    st.builds(Timestamp, st.integers(1, 2**32 - 1), st.integers(0, 2**32 - 1)),  # (0, 0): see below
    st.sampled_from([MinKey(), MaxKey(), Code("f()")]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
                      max_leaves=8)
bodies = st.dictionaries(names, values, max_size=5)


def raw_of(doc: dict) -> bytes:
    """The bytes PyMongo sends for ``doc`` (what the store must give back)."""
    return bson.encode(doc, codec_options=CODEC)


@pytest.fixture(scope="module")
def raw_coll(store_server: RunningServer):
    client: MongoClient = MongoClient(store_server.uri, serverSelectionTimeoutMS=5000)
    db = client["faithful"]
    try:
        yield db.get_collection("docs", codec_options=RAW), db.get_collection("docs", codec_options=CODEC)
    finally:
        client.drop_database("faithful")
        client.close()


def stored(coll, _id) -> bytes:
    found = coll.find_one({"_id": _id})
    assert found is not None
    return found.raw


def same_value(a, b) -> bool:
    return raw_of({"v": a}) == raw_of({"v": b})


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=bodies, value=values, other=values)
def test_every_bson_value_round_trips_byte_identical(raw_coll, body, value, other):
    raw, coll = raw_coll
    coll.delete_many({})
    base = {"_id": ObjectId(), **body}

    coll.insert_one(dict(base))
    assert stored(raw, base["_id"]) == raw_of(base)

    many = [{"_id": ObjectId(), **body, "v": value}, {"_id": ObjectId(), "v": other}]
    coll.insert_many([dict(d) for d in many])
    for doc in many:
        assert stored(raw, doc["_id"]) == raw_of(doc)

    replacement = {"w": other, **body}
    coll.replace_one({"_id": base["_id"]}, replacement)
    assert stored(raw, base["_id"]) == raw_of({"_id": base["_id"], **replacement})

    target = {"_id": ObjectId(), "a": 1}
    coll.insert_one(dict(target))
    coll.update_one({"_id": target["_id"]}, {"$set": {"v": value}})
    assert stored(raw, target["_id"]) == raw_of({**target, "v": value})
    coll.update_one({"_id": target["_id"]}, {"$set": {"n.deep": other}})
    assert stored(raw, target["_id"]) == raw_of({**target, "v": value, "n": {"deep": other}})

    upserted = ObjectId()
    coll.update_one({"_id": upserted}, {"$set": {"v": value}}, upsert=True)
    assert stored(raw, upserted) == raw_of({"_id": upserted, "v": value})

    b1, b2, b3 = ObjectId(), ObjectId(), ObjectId()
    coll.bulk_write([InsertOne({"_id": b1, "v": value}),
                     UpdateOne({"_id": b2}, {"$set": {"v": other}}, upsert=True),
                     ReplaceOne({"_id": b1}, {"x": other, "v": value}),
                     UpdateOne({"_id": b3}, {"$set": {"p.q": value}}, upsert=True)], ordered=False)
    assert stored(raw, b1) == raw_of({"_id": b1, "x": other, "v": value})
    assert stored(raw, b2) == raw_of({"_id": b2, "v": other})
    assert stored(raw, b3) == raw_of({"_id": b3, "p": {"q": value}})

    nested = {"_id": ObjectId(), "n": {"v": value, "w": other}, "z": 1}
    coll.insert_one(dict(nested))
    projected = raw.find_one({"_id": nested["_id"]}, {"n.v": 1})
    assert projected.raw == raw_of({"_id": nested["_id"], "n": {"v": value}})
    projected = raw.find_one({"_id": nested["_id"]}, {"z": 1, "_id": 0})
    assert projected.raw == raw_of({"z": 1})

    coll.delete_many({})
    if not isinstance(value, (list, dict)):
        coll.insert_one({"_id": 1, "d": value})
        got = coll.database.command("distinct", "docs", key="d", codec_options=CODEC)["values"]
        assert len(got) == 1 and same_value(got[0], value)


def test_true_stays_boolean_and_nan_is_stored(store_db):
    coll = store_db.get_collection("c", codec_options=CODEC)
    coll.insert_one({"_id": 1, "x": float("nan"), "s": "00123"})
    coll.update_one({"_id": 1}, {"$set": {"b": True}})
    doc = coll.find_one({"_id": 1})
    assert doc["b"] is True and math.isnan(doc["x"]) and doc["s"] == "00123"
    assert coll.distinct("s") == ["00123"]


# --- commands ----------------------------------------------------------------------------------

def test_handshake_reports_a_standalone_mongodb_7(store_client):
    hello = store_client.admin.command("hello")
    assert hello["isWritablePrimary"] is True and hello["maxWireVersion"] == 21
    assert store_client.server_info()["version"] == "7.0.0"
    assert store_client.admin.command("ping")["ok"] == 1.0


def test_unknown_command_is_command_not_found(store_db):
    with pytest.raises(OperationFailure) as err:
        store_db.command("noSuchCommand")
    assert err.value.code == 59


def test_cursor_batches_get_more_and_kill(store_db):
    coll = store_db.c
    coll.insert_many([{"_id": i} for i in range(250)])
    assert [d["_id"] for d in coll.find(batch_size=7)] == list(range(250))
    assert [d["_id"] for d in coll.find().sort("_id", -1).limit(5)] == [249, 248, 247, 246, 245]
    assert [d["_id"] for d in coll.find({"_id": {"$in": [5, 3, 300]}})] == [3, 5]
    cursor = coll.find(batch_size=2)
    next(cursor)
    cursor.close()
    cursor = coll.find(batch_size=3)
    first = [next(cursor) for _ in range(3)]
    coll.drop()
    rest = list(cursor)  # the cursor of a dropped collection ends without an error
    assert len(first) == 3 and len(rest) <= 247


def test_unique_index_raises_duplicate_key(store_db):
    coll = store_db.c
    coll.create_index("siret", unique=True)
    coll.insert_one({"_id": 1, "siret": "0001"})
    with pytest.raises(DuplicateKeyError) as err:
        coll.insert_one({"_id": 2, "siret": "0001"})
    assert "E11000 duplicate key error collection" in str(err.value) and "siret_1" in str(err.value)
    with pytest.raises(DuplicateKeyError):
        coll.insert_one({"_id": 1, "siret": "0002"})
    coll.insert_one({"_id": 3, "siret": "0003"})
    with pytest.raises(DuplicateKeyError):
        coll.update_one({"_id": 3}, {"$set": {"siret": "0001"}})
    assert coll.find_one({"_id": 3})["siret"] == "0003"
    assert [i["name"] for i in coll.list_indexes()] == ["_id_", "siret_1"]
    coll.insert_one({"_id": 4})
    with pytest.raises(DuplicateKeyError):
        coll.insert_one({"_id": 6})  # a missing field is a null key: one such document only (not sparse)

    other = coll.database.other
    other.insert_many([{"_id": 10, "k": [1, 2]}, {"_id": 11, "k": 2}])
    with pytest.raises(OperationFailure) as err:
        other.create_index("k", unique=True)  # existing documents violate it: no index
    assert err.value.code == 11000
    assert [i["name"] for i in other.list_indexes()] == ["_id_"]
    other.create_index("k", unique=True, name="k_partial", partialFilterExpression={"_id": {"$lt": 11}})
    other.insert_one({"_id": 12, "k": 2})  # outside the partial index
    with pytest.raises(DuplicateKeyError):
        other.insert_one({"_id": 5, "k": 1})
    other.create_index("s", unique=True, sparse=True)
    other.insert_many([{"_id": 20}, {"_id": 21}])  # no "s": not in the sparse index


def test_ordered_bulk_keeps_what_preceded_the_error_unordered_goes_on(store_db):
    coll = store_db.c
    with pytest.raises(BulkWriteError) as err:
        coll.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 1}, {"_id": 3}])
    assert err.value.details["nInserted"] == 2 and err.value.details["writeErrors"][0]["index"] == 2
    assert sorted(d["_id"] for d in coll.find()) == [1, 2]
    with pytest.raises(BulkWriteError) as err:
        coll.insert_many([{"_id": 4}, {"_id": 1}, {"_id": 5}], ordered=False)
    assert err.value.details["nInserted"] == 2
    assert sorted(d["_id"] for d in coll.find()) == [1, 2, 4, 5]


def test_two_clients_writing_concurrently_both_succeed(store_server):
    clients = [MongoClient(store_server.uri) for _ in range(2)]
    failures: list[BaseException] = []

    def work(client: MongoClient, tag: int) -> None:
        try:
            coll = client["concurrent"]["c"]
            for batch in range(20):
                coll.insert_many([{"_id": f"{tag}-{batch}-{i}", "tag": tag} for i in range(25)])
                coll.update_one({"_id": f"{tag}-{batch}-0"}, {"$set": {"seen": True}})
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(c, n)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not failures
        coll = clients[0]["concurrent"]["c"]
        assert coll.count_documents({}) == 2 * 20 * 25
        assert coll.count_documents({"seen": True}) == 2 * 20
    finally:
        clients[0].drop_database("concurrent")
        for c in clients:
            c.close()


def test_find_and_modify_and_delete(store_db):
    coll = store_db.c
    coll.insert_many([{"_id": i, "n": i} for i in range(5)])
    before = coll.find_one_and_update({"_id": 2}, {"$set": {"n": 20}})
    assert before == {"_id": 2, "n": 2} and coll.find_one({"_id": 2}) == {"_id": 2, "n": 20}
    assert coll.find_one_and_delete({"_id": 4}) == {"_id": 4, "n": 4}
    assert coll.delete_many({"_id": {"$gte": 3}}).deleted_count == 1
    assert coll.count_documents({}) == 3


# --- the process ------------------------------------------------------------------------------

def test_kill_9_during_bulk_writes_keeps_each_bulk_whole_or_absent(tmp_path, spawn_store):
    data = tmp_path / "data"
    server = spawn_store(data)
    client = MongoClient(server.uri, serverSelectionTimeoutMS=5000, retryWrites=False)
    acknowledged: list[int] = []
    size = 2000

    def write() -> None:
        coll = client["crash"]["c"]
        try:
            for batch in range(1000):
                coll.insert_many([{"_id": f"{batch}-{i}", "batch": batch, "pad": "x" * 200} for i in range(size)],
                                 ordered=True)
                acknowledged.append(batch)
        except Exception:
            return  # the server died under us

    writer = threading.Thread(target=write)
    writer.start()
    while len(acknowledged) < 2:
        time.sleep(0.02)
    time.sleep(random.uniform(0.0, 0.3))
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    writer.join(60)
    client.close()

    restarted = spawn_store(data)
    client = MongoClient(restarted.uri, serverSelectionTimeoutMS=5000)
    try:
        counts: dict[int, int] = {}
        for doc in client["crash"]["c"].find({}, {"batch": 1}):
            counts[doc["batch"]] = counts.get(doc["batch"], 0) + 1
        assert all(n == size for n in counts.values()), counts
        assert set(acknowledged) <= set(counts)
        assert len(counts) <= len(acknowledged) + 1
    finally:
        client.close()


def test_process_files_are_private_and_sigterm_stops_it(tmp_path, spawn_store):
    data = tmp_path / "data"
    server = spawn_store(data)
    client = MongoClient(server.uri, serverSelectionTimeoutMS=5000)
    client["p"]["c"].insert_one({"a": 1})
    client.close()
    sock = Path(server.uri.split("//", 1)[1].replace("%2F", "/"))
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    files = list(data.iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) & 0o077 == 0 for f in files)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(10) == 0


def test_socket_in_a_shared_directory_is_refused(tmp_path, spawn_store):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    with pytest.raises(RuntimeError, match="0700"):
        spawn_store(tmp_path / "data", "--socket", str(shared / "s.sock"))


def test_tcp_with_auth_file_requires_scram_sha_256(tmp_path, spawn_store, free_port):
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"user": "sf", "password": "s3cr=t,é"}))
    os.chmod(auth, 0o644)
    with pytest.raises(RuntimeError, match="owner only"):
        spawn_store(tmp_path / "data", "--host", "127.0.0.1", "--port", str(free_port), "--auth-file", str(auth))
    os.chmod(auth, 0o600)
    server = spawn_store(tmp_path / "data", "--host", "127.0.0.1", "--port", str(free_port),
                         "--auth-file", str(auth))
    anonymous = MongoClient(server.uri, serverSelectionTimeoutMS=5000)
    with pytest.raises(OperationFailure) as err:
        anonymous["db"]["c"].insert_one({"a": 1})
    assert err.value.code == 13
    anonymous.close()
    wrong = MongoClient(server.uri, username="sf", password="nope", serverSelectionTimeoutMS=5000)
    with pytest.raises(OperationFailure) as err:
        wrong.admin.command("ping")
    assert err.value.code == 18
    wrong.close()
    good = MongoClient(server.uri, username="sf", password="s3cr=t,é", serverSelectionTimeoutMS=5000)
    good["db"]["c"].insert_one({"_id": 1})
    assert good["db"]["c"].find_one() == {"_id": 1}
    good.close()


def test_codec_round_trip_used_by_the_tests_is_exact():
    doc = {"_id": 1, "i": 1, "l": Int64(1), "f": -0.0, "b": True, "n": None}
    assert encode(decode(raw_of(doc))) == raw_of(doc)


def test_projection_with_filter_on_other_fields_through_arrays(store_db):
    coll = store_db.c
    coll.insert_many([
        {"_id": 1, "a": [{"b": 1, "c": "x"}, {"b": 2, "c": "y"}], "d": {"e": 1, "f": 2}, "g": 5},
        {"_id": 2, "a": [{"b": 3, "c": "z"}], "d": {"e": 1, "f": 3}, "g": 6},
        {"_id": 3, "a": {"b": 2, "c": "w"}, "d": {"e": 2, "f": 4}},
    ])
    found = list(coll.find({"a.b": 2, "d.e": 1}, {"a.c": 1, "d.f": 1}))
    assert found == [{"_id": 1, "a": [{"c": "x"}, {"c": "y"}], "d": {"f": 2}}]
    found = list(coll.find({"g": {"$gte": 5}}, {"g": 1, "_id": 0}).sort("g", -1))
    assert found == [{"g": 6}, {"g": 5}]
    found = list(coll.find({"$or": [{"d.f": 4}, {"g": 6}]}, {"d": 1}))
    assert found == [{"_id": 2, "d": {"e": 1, "f": 3}}, {"_id": 3, "d": {"e": 2, "f": 4}}]


def test_collections_and_indexes_commands(store_db):
    store_db.create_collection("a")
    store_db.b.insert_one({"x": 1})
    assert sorted(store_db.list_collection_names()) == ["a", "b"]
    assert [c["name"] for c in store_db.list_collections(filter={"name": "b"})] == ["b"]
    store_db.b.rename("c")
    assert sorted(store_db.list_collection_names()) == ["a", "c"]
    assert store_db.c.find_one({}, {"_id": 0}) == {"x": 1}
    store_db.c.create_index([("x", 1), ("y", -1)], name="xy")
    store_db.c.create_index("z", sparse=True)
    assert [i["name"] for i in store_db.c.list_indexes()] == ["_id_", "xy", "z_1"]
    store_db.c.drop_index("xy")
    assert [i["name"] for i in store_db.c.list_indexes()] == ["_id_", "z_1"]
    with pytest.raises(OperationFailure) as err:
        store_db.c.drop_index("_id_")
    assert err.value.code == 72
    store_db.c.drop()
    assert store_db.list_collection_names() == ["a"]


def test_secondary_index_narrows_without_changing_results(store_db):
    coll = store_db.c
    docs = [{"_id": i, "k": i % 7, "tags": [i % 3, "t"], "s": str(i % 5)} for i in range(200)]
    coll.insert_many(docs)
    queries = [{"k": 3}, {"k": {"$in": [1, 2]}}, {"k": {"$gt": 4}}, {"tags": 2}, {"tags": [0, "t"]},
               {"s": {"$lt": "2"}}, {"k": {"$gt": 1, "$lt": 3}}, {"tags": {"$size": 2}}]
    before = [[d["_id"] for d in coll.find(q)] for q in queries]
    coll.create_index("k")
    coll.create_index("tags")
    coll.create_index("s")
    after = [[d["_id"] for d in coll.find(q)] for q in queries]
    assert after == before and all(before)
    coll.update_many({"k": 3}, {"$set": {"k": 30}})
    assert coll.count_documents({"k": 3}) == 0 and coll.count_documents({"k": 30}) == len(before[0])
    more = [{"_id": 1000 + i, "k": i % 7, "tags": [i % 3]} for i in range(50)]
    coll.insert_many(more)  # indexed as they are inserted
    assert [d["_id"] for d in coll.find({"k": 3})] == [d["_id"] for d in more if d["k"] == 3]
    assert [d["_id"] for d in coll.find({"tags": 2, "_id": {"$gte": 1000}})] == \
        [d["_id"] for d in more if 2 in d["tags"]]
    coll.delete_many({"k": {"$in": [1, 2]}})
    assert coll.count_documents({"k": {"$in": [1, 2]}}) == 0
    assert coll.count_documents({"k": 4}) == len([d for d in docs + more if d["k"] == 4])


def test_views_read_through_their_pipeline_and_refuse_writes(store_db):
    store_db.c.insert_many([{"_id": i, "x": i * 11} for i in range(1, 4)])
    store_db.create_collection("v", viewOn="c", pipeline=[{"$match": {"_id": {"$gt": 1}}}])
    store_db.create_collection("vv", viewOn="v", pipeline=[{"$project": {"x": 1}}])
    assert store_db.v.estimated_document_count() == 2
    assert store_db.v.count_documents({"x": {"$gt": 25}}) == 1
    assert list(store_db.vv.find({}, {"_id": 0}).sort("x", -1)) == [{"x": 33}, {"x": 22}]
    assert sorted(store_db.v.distinct("x")) == [22, 33]
    kinds = {c["name"]: c["type"] for c in store_db.list_collections()}
    assert kinds == {"c": "collection", "v": "view", "vv": "view"}
    with pytest.raises(OperationFailure) as err:
        store_db.v.insert_one({"_id": 9})
    assert err.value.code == 166
    store_db.v.drop()
    assert "v" not in store_db.list_collection_names()


def test_server_exits_when_its_parent_dies_and_ignores_sigint(tmp_path):
    sock_dir = tmp_path / "sock"
    sock_dir.mkdir(mode=0o700)
    parent_code = (
        "import os, subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-m', 'sf.store.server', '--data-dir', sys.argv[1], '--socket',"
        " sys.argv[2], '--parent-pid', str(os.getpid())], stdout=subprocess.PIPE, text=True)\n"
        "print(p.stdout.readline().strip(), p.pid, flush=True)\n"
        "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", parent_code, str(tmp_path / "data"), str(sock_dir / "s.sock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        words = parent.stdout.readline().split()  # type: ignore[union-attr]
        assert words[0] == "ready"
        server_pid = int(words[2])
        os.kill(server_pid, signal.SIGINT)
        time.sleep(0.5)
        os.kill(server_pid, 0)  # still alive: SIGINT is the parent's business
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(server_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(server_pid, signal.SIGKILL)
            pytest.fail("the server outlived its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_bulk_statements_on_the_same_id_see_each_other(store_db):
    coll = store_db.c
    coll.insert_many([{"_id": 1, "n": 0}, {"_id": 2, "n": 0}])
    result = coll.bulk_write([
        UpdateOne({"_id": 1}, {"$inc": {"n": 1}}),
        UpdateOne({"_id": 3}, {"$set": {"n": 10}}, upsert=True),
        UpdateOne({"_id": 3}, {"$inc": {"n": 1}}, upsert=True),
        UpdateOne({"_id": {"$in": [1, 2]}}, {"$inc": {"n": 100}}),
        UpdateOne({"n": {"$gte": 11}}, {"$set": {"flag": True}}),  # any filter: cached reads must not go stale
        UpdateOne({"_id": 3}, {"$inc": {"n": 1}}),
        UpdateOne({"_id": 1}, {"$inc": {"n": 1}}),
    ], ordered=False)
    assert (result.matched_count, result.modified_count, result.upserted_count) == (6, 6, 1)
    assert list(coll.find().sort("_id", 1)) == [
        {"_id": 1, "n": 102, "flag": True}, {"_id": 2, "n": 0}, {"_id": 3, "n": 12}]


def test_filters_sorts_and_counts_on_nested_fields_of_large_documents(store_db):
    coll = store_db.c
    docs = [{"_id": i, "value": {"key": f"{i % 13:03d}", "big": ["x" * 100] * 20, "n": {"m": i % 4}},
             "other": {"deep": list(range(30))}} for i in range(120)]
    coll.insert_many(docs)
    got = list(coll.find({"value.key": {"$gte": "005", "$lt": "008"}, "value.n.m": {"$ne": 1}})
                .sort([("value.key", -1), ("_id", 1)]))
    expected = sorted((d for d in docs if "005" <= d["value"]["key"] < "008" and d["value"]["n"]["m"] != 1),
                      key=lambda d: (-int(d["value"]["key"]), d["_id"]))
    assert got == expected
    assert coll.count_documents({"value.n.m": 2}) == sum(1 for d in docs if d["value"]["n"]["m"] == 2)
    assert coll.delete_many({"other.deep": 29, "value.n.m": 3}).deleted_count == \
        sum(1 for d in docs if d["value"]["n"]["m"] == 3)
    assert coll.count_documents({}) == sum(1 for d in docs if d["value"]["n"]["m"] != 3)


def test_sort_with_skip_and_limit_and_unacknowledged_writes(store_db):
    coll = store_db.c
    docs = [{"_id": i, "g": (i * 7) % 10, "h": i % 3} for i in range(60)]
    coll.insert_many(docs)
    expected = sorted(docs, key=lambda d: (-d["g"], d["h"], d["_id"]))
    got = list(coll.find().sort([("g", -1), ("h", 1), ("_id", 1)]).skip(5).limit(7))
    assert got == expected[5:12]
    assert list(coll.find().sort([("g", -1), ("h", 1), ("_id", 1)]).skip(55)) == expected[55:]

    from pymongo.write_concern import WriteConcern
    fire_and_forget = coll.with_options(write_concern=WriteConcern(w=0))
    fire_and_forget.insert_one({"_id": "w0", "x": 1})  # OP_MSG moreToCome: no reply
    fire_and_forget.update_one({"_id": "w0"}, {"$set": {"x": 2}})
    store_db.command("ping")  # same connection: runs after the writes
    assert coll.find_one({"_id": "w0"}) == {"_id": "w0", "x": 2}


def test_op_msg_with_checksum_and_op_query_handshake(store_server):
    import socket as sockets
    import struct

    path = store_server.socket_path
    with sockets.socket(sockets.AF_UNIX) as conn:
        conn.connect(str(path))

        def reply_of(message: bytes) -> tuple[int, bytes]:
            conn.sendall(message)
            header = conn.recv(16, sockets.MSG_WAITALL)
            length, _, _, opcode = struct.unpack("<iiii", header)
            return opcode, conn.recv(length - 16, sockets.MSG_WAITALL)

        query = bson.encode({"isMaster": 1})
        body = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1) + query
        opcode, payload = reply_of(struct.pack("<iiii", 16 + len(body), 1, 0, 2004) + body)
        assert opcode == 1 and bson.decode(payload[20:])["ismaster"] is True

        cmd = bson.encode({"ping": 1, "$db": "admin"})
        body = struct.pack("<I", 1) + b"\x00" + cmd + b"\x00\x00\x00\x00"  # checksumPresent, dummy CRC
        opcode, payload = reply_of(struct.pack("<iiii", 16 + len(body), 2, 0, 2013) + body)
        assert opcode == 2013 and bson.decode(payload[5:]) == {"ok": 1.0}


# --- updates applied to the touched parts only ------------------------------------------------

small_names = st.sampled_from(["a", "b", "c", "0"])
small_values = st.recursive(st.one_of(st.integers(-3, 3), st.sampled_from(["s", True, None, 1.5])),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(small_names, inner, max_size=3),
                            max_leaves=6)
small_docs = st.dictionaries(small_names, small_values, max_size=4)
update_paths = st.lists(small_names, min_size=1, max_size=3).map(".".join)
operators = st.one_of(
    st.tuples(st.just("$set"), update_paths, small_values),
    st.tuples(st.just("$unset"), update_paths, st.just("")),
    st.tuples(st.just("$inc"), update_paths, st.integers(-2, 2)),
    st.tuples(st.just("$min"), update_paths, st.integers(-2, 2)),
    st.tuples(st.just("$push"), update_paths, st.integers(0, 2)),
    st.tuples(st.just("$rename"), update_paths, update_paths),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=small_docs, ops=st.lists(operators, min_size=1, max_size=3))
def test_partial_updates_store_what_a_whole_document_update_gives(raw_coll, body, ops):
    from sf.store.errors import StoreError
    from sf.store.update import apply_update

    raw, coll = raw_coll
    update: dict = {}
    for op, path, arg in ops:
        update.setdefault(op, {})[path] = arg
    doc_id = ObjectId()
    coll.insert_one({"_id": doc_id, **body})
    before = stored(raw, doc_id)
    try:
        expected = encode(apply_update(decode(before), update, query={"_id": doc_id}))  # the oracle
    except StoreError as exc:
        with pytest.raises(OperationFailure) as err:
            coll.update_one({"_id": doc_id}, update)
        assert err.value.code == exc.code
        assert stored(raw, doc_id) == before
        return
    coll.update_one({"_id": doc_id}, update)
    assert stored(raw, doc_id) == expected


def test_insert_fills_top_level_empty_timestamps_as_mongodb(store_db):
    coll = store_db.get_collection("c", codec_options=CODEC)
    coll.insert_one({"_id": 1, "t": Timestamp(0, 0), "n": {"t": Timestamp(0, 0)}})
    doc = coll.find_one({"_id": 1})
    assert doc["t"].time >= int(time.time()) - 60 and doc["t"].inc >= 1
    assert doc["n"]["t"] == Timestamp(0, 0)  # only top-level fields are filled
    coll.insert_one({"_id": Timestamp(0, 0)})  # nor is _id
    assert coll.find_one({"_id": Timestamp(0, 0)}) == {"_id": Timestamp(0, 0)}
