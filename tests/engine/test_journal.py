import os
import socket

import pytest

from sf.engine.errors import LockHeld
from sf.engine.journal import Run, acquire_lock, close_dead_runs, journal_run, list_runs, mask_arguments


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


def _lock(db, run, host, pid):
    db["Lock"].insert_one({"_id": "sf", "run_id": str(run.id), "command": "compact", "host": host,
                           "pid": pid, "acquired_at": run.started_at})


def _dead_pid() -> int:
    """The pid of a process that has just ended (not reused this soon on a quiet machine)."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_dead_holder_on_this_host_is_closed_by_the_next_run(db):
    dead = Run(db, "compact", {}, None)
    db["Journal"].update_one({"_id": dead.id}, {"$set": {"pid": (pid := _dead_pid())}})
    _lock(db, dead, socket.gethostname(), pid)
    with journal_run(db, "purge", {}, destructive=True):
        assert db["Lock"].find_one()["run_id"] != str(dead.id)
    closed = db["Journal"].find_one({"_id": dead.id})
    assert closed["state"] == "failed" and closed["error"] == f"interrupted: process {pid} is gone"
    assert closed["ended_at"] is not None


def test_close_dead_runs_closes_unlocked_runs_and_leaves_live_and_remote_ones(db):
    dead, live, remote = (Run(db, c, {}, None) for c in ("features", "validate", "train"))
    db["Journal"].update_one({"_id": dead.id}, {"$set": {"pid": _dead_pid()}})
    db["Journal"].update_one({"_id": live.id}, {"$set": {"pid": os.getppid()}})  # alive, started before us
    db["Journal"].update_one({"_id": remote.id}, {"$set": {"host": "elsewhere", "pid": _dead_pid()}})
    closed = close_dead_runs(db)
    assert [c["_id"] for c in closed] == [dead.id]
    states = {d["_id"]: d["state"] for d in db["Journal"].find()}
    assert states == {dead.id: "failed", live.id: "started", remote.id: "started"}


def test_a_reused_pid_is_not_taken_for_the_run_s_process(db):
    # A process started after the run (here: this test's own child) cannot be the run's holder.
    import subprocess
    import sys
    import time

    old = Run(db, "compact", {}, None)
    time.sleep(2.5)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)
        db["Journal"].update_one({"_id": old.id}, {"$set": {"pid": child.pid}})
        assert [c["_id"] for c in close_dead_runs(db)] == [old.id]
    finally:
        child.kill()
        child.wait()


def test_a_live_holder_is_named_with_its_pid(db):
    holder = Run(db, "compact", {}, None)
    _lock(db, holder, socket.gethostname(), os.getppid())
    with pytest.raises(LockHeld, match=rf"sf compact.*kill {os.getppid()}"):
        acquire_lock(db, Run(db, "purge", {}, None))
    assert db["Journal"].find_one({"_id": holder.id})["state"] == "started"


def test_a_holder_on_another_host_is_broken_only_on_request(db):
    remote = Run(db, "compact", {}, None)
    _lock(db, remote, "elsewhere", 12345)
    with pytest.raises(LockHeld, match="--break-lock"):
        acquire_lock(db, Run(db, "compact", {}, None))
    with journal_run(db, "compact", {}, destructive=True, break_lock=True):
        pass
    assert db["Journal"].find_one({"_id": remote.id})["state"] == "failed"
    assert "lock broken" in db["Journal"].find_one({"_id": remote.id})["error"]


def test_an_interrupt_marks_the_run_interrupted_and_releases_the_lock(db):
    from sf.engine.errors import Terminated

    for exc, text in ((KeyboardInterrupt(), "interrupted by SIGINT (Ctrl-C)"), (Terminated(), "interrupted by SIGTERM")):
        with pytest.raises(KeyboardInterrupt):
            with journal_run(db, "import", {}, destructive=True) as run:
                raise exc
        doc = db["Journal"].find_one({"_id": run.id})
        assert doc["state"] == "interrupted" and doc["error"] == text
        assert db["Lock"].count_documents({}) == 0


def test_a_lost_store_raises_the_command_s_error_not_the_journal_s(db, monkeypatch):
    from pymongo.errors import AutoReconnect

    def unreachable(*args, **kwargs):
        raise AutoReconnect("connection refused")

    with pytest.raises(ValueError, match="the work's own error"):
        with journal_run(db, "import", {}, destructive=True) as run:
            monkeypatch.setattr(run, "_save", unreachable)
            raise ValueError("the work's own error")
