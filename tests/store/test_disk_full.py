"""A full disk is reported as such: SQLite rolls the transaction back itself on SQLITE_FULL, and
the store must not hide that error behind a failed second ROLLBACK."""

import bson

from sf.store.commands import Engine
from sf.store.storage import Store


def test_a_write_beyond_the_space_left_reports_a_full_disk_and_keeps_the_data(tmp_path):
    engine = Engine(Store(tmp_path), None)
    client = engine.new_client("test")
    assert engine.run("x", {"insert": "c", "documents": [bson.encode({"_id": 0, "v": "a"})]}, client)["ok"] == 1.0
    # Stand-in for a full disk, in this thread's connection: no page beyond those already used.
    connection = engine.store.connection("x")
    used = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {used}")
    for ordered in (True, False):
        reply = engine.run("x", {"insert": "c", "ordered": ordered,
                                 "documents": [bson.encode({"_id": i, "v": "x" * 50_000}) for i in range(1, 20)]}, client)
        text = str(reply)
        assert "database or disk is full" in text and "cannot rollback" not in text, reply
    found = engine.run("x", {"find": "c", "filter": {}}, client)
    assert [d["_id"] for d in found["cursor"]["firstBatch"]] == [0]
