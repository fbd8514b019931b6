"""Several server processes on one data directory (each ``sf`` command may start its own):
their write transactions wait for one another, none fails and no write is lost.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError

from sf.store.storage import BUSY_TIMEOUT_S, _while_locked

ROUNDS = 150


def _writer(uri: str, tag: str, results: dict, errors: list, start: threading.Barrier) -> None:
    """Interleaved single-document writes, each its own transaction, on shared documents."""
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=10000)
    try:
        coll = client["shared"]["c"]
        start.wait()
        won = 0
        for i in range(ROUNDS):
            coll.insert_one({"_id": f"{tag}-{i}", "by": tag})
            coll.update_one({"_id": "counter"}, {"$inc": {"n": 1}, "$push": {"log": tag}}, upsert=True)
            try:  # both processes race for the same unique key: exactly one wins each round
                coll.insert_one({"_id": f"race-{i}", "slot": i})
                won += 1
            except DuplicateKeyError:
                pass
            if i == ROUNDS // 2:
                coll.create_index("by")  # a catalogue change while the other process writes
            coll.insert_many([{"by": tag, "batch": i, "j": j} for j in range(5)])
        results[tag] = won
    except Exception as exc:  # reported by the test thread
        errors.append(exc)
    finally:
        client.close()


def test_two_server_processes_write_concurrently_on_one_data_dir(spawn_store, tmp_path: Path) -> None:
    """Two ``python -m sf.store.server`` processes on the same SQLite files: every write of
    both succeeds and is there afterwards, seen alike by both."""
    data_dir = tmp_path / "data"
    servers = [spawn_store(data_dir), spawn_store(data_dir)]
    results: dict[str, int] = {}
    errors: list[Exception] = []
    start = threading.Barrier(2)
    threads = [threading.Thread(target=_writer, args=(s.uri, tag, results, errors, start))
               for s, tag in zip(servers, ["p1", "p2"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert results["p1"] + results["p2"] == ROUNDS
    for server in servers:
        with MongoClient(server.uri) as client:
            coll = client["shared"]["c"]
            counter = coll.find_one({"_id": "counter"})
            assert counter["n"] == 2 * ROUNDS
            assert sorted(counter["log"]) == ["p1"] * ROUNDS + ["p2"] * ROUNDS
            for tag in ("p1", "p2"):
                assert coll.count_documents({"_id": {"$regex": f"^{tag}-"}}) == ROUNDS
                assert coll.count_documents({"by": tag, "batch": {"$exists": True}}) == 5 * ROUNDS
            assert coll.count_documents({"slot": {"$exists": True}}) == ROUNDS
            # The index created by one process holds the documents the other wrote afterwards.
            assert "by_1" in coll.index_information()
            assert coll.count_documents({"by": "p1"}) == ROUNDS + 5 * ROUNDS
            assert len(list(coll.find({"by": "p2"}).hint("by_1"))) == ROUNDS + 5 * ROUNDS


def test_a_write_waits_for_another_process_write_transaction(spawn_store, tmp_path: Path) -> None:
    """While another process holds a write transaction on the file, a server's write waits
    for it (SQLite busy timeout) and then succeeds, instead of failing "database is locked"."""
    data_dir = tmp_path / "data"
    server = spawn_store(data_dir)
    with MongoClient(server.uri) as client:
        coll = client["shared"]["c"]
        coll.insert_one({"_id": 0})
        other = sqlite3.connect(data_dir / "shared.sqlite3", isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # what another server process does during a write command
        release = threading.Timer(1.5, lambda: other.execute("COMMIT"))
        began = time.monotonic()
        release.start()
        try:
            coll.insert_one({"_id": 1})
        finally:
            release.join()
            other.close()
        assert time.monotonic() - began >= 1.4  # it waited for the other transaction
        assert sorted(d["_id"] for d in coll.find()) == [0, 1]
    assert BUSY_TIMEOUT_S >= 30


def test_connection_set_up_is_retried_while_another_process_holds_a_lock() -> None:
    """Opening a connection (journal mode, catalogue) can fail at once with "database is
    locked" while another process writes: it is retried, and any other error is not."""
    calls = []

    def locked_twice() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise sqlite3.OperationalError("database is locked")

    _while_locked(locked_twice)
    assert len(calls) == 3

    def broken() -> None:
        calls.append(1)
        raise sqlite3.OperationalError("no such table: x")

    calls.clear()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        _while_locked(broken)
    assert len(calls) == 1
