import os
import socket

import pytest

from sf.engine.errors import LockHeld
from sf.engine.journal import acquire_lock, journal_run, list_runs, mask_arguments, Run


def test_mask_arguments_hides_secrets():
    masked = mask_arguments({"mongodb_uri": "mongodb://u:pw@h/", "password": "x", "batch": "2401",
                             "files": ["a", "mongodb://u:pw@h/"]})
    assert masked == {"mongodb_uri": "mongodb://u:***@h/", "password": "***", "batch": "2401",
                      "files": ["a", "mongodb://u:***@h/"]}


def test_finished_run_document(db):
    with journal_run(db, "compact", {"since_batch": "2401"}, batch="2401") as run:
        run.counts = {"entities": 3}
        run.add_report({"file": "a.csv", "lines_read": 2})
        run.checkpoint("p0", {"written": 3})
    doc = db["Journal"].find_one({"_id": run.id})
    assert doc["state"] == "finished" and doc["batch"] == "2401" and doc["error"] is None
    assert doc["counts"] == {"entities": 3} and doc["reports"] == [{"file": "a.csv", "lines_read": 2}]
    assert doc["checkpoints"] == {"p0": {"written": 3}}
    assert doc["ended_at"] >= doc["started_at"] and doc["sf_version"]
    assert doc["pid"] == os.getpid()


def test_failed_run_keeps_the_error_and_releases_the_lock(db):
    with pytest.raises(RuntimeError):
        with journal_run(db, "import", {}, batch="2401", destructive=True):
            raise RuntimeError("disk full\nsecond line")
    (doc,) = list_runs(db)
    assert doc["state"] == "failed" and doc["error"] == "RuntimeError: disk full"
    assert db["Lock"].count_documents({}) == 0


def test_lock_prevents_two_destructive_runs(db):
    with journal_run(db, "compact", {}, destructive=True) as first:
        with pytest.raises(LockHeld, match="sf compact"):
            with journal_run(db, "purge", {}, destructive=True):
                pass
        assert db["Lock"].find_one()["run_id"] == str(first.id)
    refused = [r for r in list_runs(db) if r["command"] == "purge"][0]
    assert refused["state"] == "failed" and "holds the lock" in refused["error"]
    assert db["Lock"].count_documents({}) == 0


def test_stale_lock_is_named_and_broken_only_on_request(db):
    dead = Run(db, "compact", {}, None)
    db["Lock"].insert_one({"_id": "sf", "run_id": str(dead.id), "command": "compact", "host": socket.gethostname(),
                           "pid": 2 ** 22 + 12345, "acquired_at": dead.started_at})
    with pytest.raises(LockHeld, match="no longer running"):
        acquire_lock(db, Run(db, "compact", {}, None))
    with journal_run(db, "compact", {}, destructive=True, break_lock=True):
        pass
    assert db["Journal"].find_one({"_id": dead.id})["state"] == "failed"
    assert "lock broken" in db["Journal"].find_one({"_id": dead.id})["error"]
