"""When something fails: signals sent to real `sf` processes, a store killed under a command, a
full disk, the lock of every data-changing command, empty inputs (README "When something fails")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from pymongo import MongoClient

from ..conftest import DATA

PAYDEX = DATA / "osf" / "paydex" / "990c4d74" / "paydexTestData.csv"
embedded_only = pytest.mark.skipif(bool(os.environ.get("SF_TEST_MONGODB_URI")),
                                   reason="kills or fills the embedded store")


@pytest.fixture(scope="module")
def delivery(tmp_path_factory) -> Path:
    """A synthetic monthly delivery big enough for `sf import` to run for several seconds."""
    out = tmp_path_factory.mktemp("synth")
    subprocess.run([sys.executable, "-m", "sf.cli", "synth", "--out", str(out), "-n", "1500", "--months", "1",
                    "--silent"], check=True, capture_output=True, env={**os.environ, "SF_HOME": str(out / "home")})
    return out / "2312"


def _start(sf_env: dict[str, str], args: list[str]) -> subprocess.Popen[str]:
    """`sf ARGS` in a process group of its own, as a shell runs a foreground job."""
    return subprocess.Popen([sys.executable, "-m", "sf.cli", *args], env=sf_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _store_of(process: subprocess.Popen, home: Path, timeout: float = 60) -> MongoClient:
    """A client on the embedded store the running command started (its private socket)."""
    socket_path = home / "run" / f"store-{process.pid}.sock"
    deadline = time.monotonic() + timeout
    while not socket_path.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the command's store did not start"
        time.sleep(0.1)
    return MongoClient("mongodb://" + quote(str(socket_path), safe=""), tz_aware=True, serverSelectionTimeoutMS=5000)


def _wait_for_reports(client: MongoClient, process: subprocess.Popen, timeout: float = 60) -> dict:
    """Wait until the running import has journaled a file report (it is then writing)."""
    deadline = time.monotonic() + timeout
    while True:
        run = client["signauxfaibles"]["Journal"].find_one({"command": "import", "state": "started",
                                                            "reports.0": {"$exists": True}})
        if run is not None:
            return run
        assert process.poll() is None and time.monotonic() < deadline, "the import ended before writing"
        time.sleep(0.1)


def _store_child(pid: int) -> int:
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        if "sf.store.server" in Path(f"/proc/{child}/cmdline").read_text():
            return int(child)
    raise AssertionError("no store child")


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _journal(run_sf) -> tuple[list[dict], str]:
    result = run_sf(["journal", "--json"])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def _lock_count(run_sf) -> int:
    return json.loads(run_sf(["db", "info", "--json"]).stdout)["collections"]["Lock"]


@embedded_only
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_marks_the_run_interrupted_releases_the_lock_and_exits_128_plus_n(run_sf, sf_env, delivery,
                                                                                     signum):
    assert run_sf(["batch", "add", "2312", "--from-dir", str(delivery)]).returncode == 0
    process = _start(sf_env, ["import", "--batch", "2312"])
    client = _store_of(process, Path(sf_env["SF_HOME"]))
    run = _wait_for_reports(client, process)
    client.close()
    os.killpg(process.pid, signum)  # the whole foreground group, as Ctrl-C in a terminal or `kill -- -PGID`
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err and len(_lines(err)) == 1, err
    assert f"run {run['_id']} of `sf import` is marked interrupted" in err
    runs, _ = _journal(run_sf)
    latest = next(r for r in runs if r["_id"] == str(run["_id"]))
    name = "SIGINT (Ctrl-C)" if signum == signal.SIGINT else "SIGTERM"
    assert latest["state"] == "interrupted" and latest["error"] == f"interrupted by {name}"
    assert _lock_count(run_sf) == 0


@embedded_only
def test_a_store_killed_under_a_command_is_one_line_and_the_next_command_closes_the_run(run_sf, sf_env, delivery):
    assert run_sf(["batch", "add", "2312", "--from-dir", str(delivery)]).returncode == 0
    process = _start(sf_env, ["import", "--batch", "2312"])
    client = _store_of(process, Path(sf_env["SF_HOME"]))
    run = _wait_for_reports(client, process)
    client.close()
    os.kill(_store_child(process.pid), signal.SIGKILL)
    _, err = process.communicate(timeout=90)
    assert process.returncode == 4, err
    assert "Traceback" not in err and len(_lines(err)) == 1 and "the store stopped answering" in err, err
    runs, note = _journal(run_sf)
    closed = next(r for r in runs if r["_id"] == str(run["_id"]))
    assert closed["state"] == "failed" and closed["error"] == f"interrupted: process {process.pid} is gone"
    assert f"run {run['_id']}" in note and "its process is gone" in note
    assert _lock_count(run_sf) == 0
    assert run_sf(["purge", "--since-batch", "2312", "--yes", "--silent"]).returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 3 MiB tmpfs (needs root); skipped where it cannot be mounted."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@embedded_only
def test_a_full_disk_is_one_line_exit_4_and_recovers_once_space_is_freed(run_sf, sf_env, delivery, small_disk):
    env = {**sf_env, "SF_HOME": str(small_disk / "home")}
    assert run_sf(["batch", "add", "2312", "--from-dir", str(delivery)], env=env).returncode == 0
    full = run_sf(["import", "--batch", "2312", "--silent"], env=env)
    assert full.returncode == 4, full.stderr
    assert "Traceback" not in full.stderr and len(_lines(full.stderr)) == 1
    assert "the store cannot write: its disk is full" in full.stderr and "free some space" in full.stderr
    # Nothing at all left on the disk: every command either works (SQLite reuses the space its
    # WAL already holds, and reads need none) or says so in the same single line, never a traceback.
    filler = small_disk / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
    for args in (["batch", "add", "2401", "--from-dir", str(delivery)], ["journal"]):
        result = run_sf(args, env=env)
        assert "Traceback" not in result.stderr, args
        assert result.returncode == 0 or (result.returncode == 4 and "disk is full" in result.stderr
                                          and len(_lines(result.stderr)) == 1), (args, result.stderr)
    filler.unlink()
    result = run_sf(["journal", "--json"], env=env)
    assert result.returncode == 0, result.stderr
    failed = next(r for r in json.loads(result.stdout) if r["command"] == "import")
    assert failed["state"] == "failed" and "disk is full" in failed["error"]


def _add_paydex(run_sf, *extra: str) -> None:
    result = run_sf(["batch", "add", "1910", "--date-debut", "2019-01-01", "--date-fin", "2019-02-01",
                     "--file", f"paydex={PAYDEX}", *extra])
    assert result.returncode == 0, result.stderr


def test_features_on_an_empty_rawdata_is_refused_with_the_step_to_run(run_sf):
    _add_paydex(run_sf)
    empty = run_sf(["features", "--until-batch", "1910", "--silent"])
    assert empty.returncode == 2 and "RawData is empty" in empty.stderr and "sf import" in empty.stderr
    assert run_sf(["import", "--batch", "1910", "--no-filter", "--silent"]).returncode == 0
    waiting = run_sf(["features", "--until-batch", "1910", "--silent"])
    assert waiting.returncode == 2 and "run sf compact first" in waiting.stderr


def test_a_header_only_file_is_imported_with_a_note(run_sf, tmp_path: Path):
    header_only = tmp_path / "paydex_empty.csv"
    header_only.write_text(PAYDEX.read_text().splitlines()[0] + "\n")
    result = run_sf(["batch", "add", "1910", "--date-debut", "2019-01-01", "--date-fin", "2019-02-01",
                     "--file", f"paydex={header_only}"])
    assert result.returncode == 0, result.stderr
    imported = run_sf(["import", "--batch", "1910", "--no-filter", "--json"])
    assert imported.returncode == 0, imported.stderr
    assert "paydex_empty.csv (paydex) holds no data line" in imported.stderr
    assert json.loads(imported.stdout)["notes"] == [f"{header_only} (paydex) holds no data line (empty or header only)"]


def test_score_names_the_model_folder_it_was_given(run_sf, tmp_path: Path):
    missing = tmp_path / "models" / "2401"
    result = run_sf(["score", "--batch", "2401", "--model", str(missing)])
    assert result.returncode == 2 and f"--model {missing}: no such folder" in result.stderr
    missing.mkdir(parents=True)
    result = run_sf(["score", "--batch", "2401", "--model", str(missing)])
    assert result.returncode == 2 and f"--model {missing}: no model.skops in this folder" in result.stderr


def test_db_info_and_report_say_which_outputs_are_stale(run_sf, db, mongo_uri, sf_env, tmp_path: Path):
    from datetime import UTC, datetime, timedelta

    env = {**sf_env, "SF_MONGODB_URI": mongo_uri, "SF_DB": db.name}
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    for minutes, command, args in ((0, "features", {"until_batch": "2401"}), (1, "score", {"batch": "2401"}),
                                   (5, "purge", {"since_batch": "2401"})):
        at = t0 + timedelta(minutes=minutes)
        db["Journal"].insert_one({"command": command, "args": args, "batch": "2401", "state": "finished",
                                  "started_at": at, "ended_at": at, "counts": {}, "reports": []})
    db["Features"].insert_one({"_id": {"batch": "2401", "siret": "12345678900011", "periode": t0}})
    db["Scores"].insert_one({"_id": {"batch": "2401", "siret": "12345678900011"}, "score": 0.1})
    info = run_sf(["db", "info"], env=env)
    assert info.returncode == 0, info.stderr
    assert "Stale: Features of batch 2401" in info.stdout and "sf purge --since-batch 2401" in info.stdout
    stale = json.loads(run_sf(["db", "info", "--json"], env=env).stdout)["stale"]
    assert [(s["collection"], s["remedy"]) for s in stale] == [
        ("Features", "sf features --until-batch 2401"),
        ("Scores", "sf features --until-batch 2401 then sf score --batch 2401")]
    added = run_sf(["batch", "add", "2401", "--date-debut", "2023-01-01", "--date-fin", "2024-01-01",
                    "--file", f"paydex={PAYDEX}"], env=env)
    assert added.returncode == 0, added.stderr
    page = tmp_path / "report.html"
    report = run_sf(["report", "--batch", "2401", "--out", str(page)], env=env)
    assert report.returncode == 0, report.stderr
    assert "Features du lot 2401" in report.stdout and "relancer sf features --until-batch 2401" in report.stdout
    assert "Features du lot 2401" in page.read_text()


def test_every_data_changing_command_takes_the_lock(run_sf, db, mongo_uri, sf_env):
    from datetime import UTC, datetime

    import socket

    env = {**sf_env, "SF_MONGODB_URI": mongo_uri, "SF_DB": db.name}
    _add_paydex(lambda args: run_sf(args, env=env))
    # A live holder: this test's process (it started before the lock was taken).
    db["Lock"].insert_one({"_id": "sf", "run_id": "0" * 24, "command": "compact", "host": socket.gethostname(),
                           "pid": os.getpid(), "acquired_at": datetime.now(UTC)})
    for args in (["import", "--batch", "1910", "--no-filter"], ["compact"], ["features", "--until-batch", "1910"],
                 ["train", "--until-batch", "1910"], ["purge", "--since-batch", "1910", "--yes"]):
        refused = run_sf(args, env=env)
        assert refused.returncode == 1, (args, refused.stderr)
        assert "holds the lock: `sf compact`" in refused.stderr and f"kill {os.getpid()}" in refused.stderr, args
    commands = [r["command"] for r in db["Journal"].find({"state": "failed"})]
    assert sorted(commands) == ["compact", "features", "import", "purge", "train"]


def test_a_full_disk_under_the_command_s_own_files_is_one_line_exit_4(monkeypatch, capsys):
    import errno

    import typer

    from sf.cli import app as cli_app

    class FillsTheDisk:
        def main(self, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(typer.main, "get_command", lambda app: FillsTheDisk())
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}  # main() installs its own
    try:
        with pytest.raises(SystemExit) as exit_info:
            cli_app.main(["import", "--batch", "2401"])
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    err = capsys.readouterr().err
    assert exit_info.value.code == 4 and "Traceback" not in err
    assert "a disk is full writing a temporary file: No space left on device" in err
