"""The foundation commands as a user runs them: separate processes, exit codes, messages."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure


def _delivery(tmp_path: Path) -> Path:
    path = tmp_path / "Sigfaible_effectif_siret.csv"
    path.write_text("compte;siret\n1;01234567890123\n")
    return path


def test_batch_added_in_one_process_is_listed_by_another(run_sf, tmp_path: Path):
    eff = _delivery(tmp_path)
    added = run_sf(["batch", "add", "2401", "--file", f"effectif={eff}", "--complete", "effectif",
                    "--date-fin-effectif", "2023-10-01", "--name", "Janvier 2024"])
    assert added.returncode == 0, added.stderr
    listed = run_sf(["batch", "list", "--json"])
    assert listed.returncode == 0, listed.stderr
    (batch,) = json.loads(listed.stdout)
    assert batch["_id"] == {"key": "2401", "type": "batch"}
    assert batch["files"] == {"effectif": [str(eff.resolve())]}
    assert batch["complete_types"] == ["effectif"]
    assert batch["param"]["date_fin_effectif"] == "2023-10-01T00:00:00Z"
    shown = run_sf(["batch", "show", "2401"])
    assert shown.returncode == 0 and "Janvier 2024" in shown.stdout
    runs = json.loads(run_sf(["journal", "--json"]).stdout)
    assert [(r["command"], r["state"], r["batch"]) for r in runs] == [("batch add", "finished", "2401")]


@pytest.mark.parametrize("args, field", [
    (["batch", "add", "2413"], "batch key"),
    (["batch", "add", "2401", "--file", "nope=x.csv"], "unknown file type"),
    (["batch", "add", "2401", "--file", "effectif=/does/not/exist.csv"], "file not found"),
    (["batch", "add", "2401", "--file", "effectif"], "TYPE=PATH"),
    (["batch", "add", "2401", "--date-debut", "2024-02-01", "--date-fin", "2024-01-01"], "date_fin"),
    (["batch", "add", "2401", "--complete", "nope"], "--complete"),
    (["batch", "add", "2401", "--date-fin", "01/02/2024"], "date-fin"),
    (["batch", "show", "2402"], "not defined"),
])
def test_invalid_batch_definitions_exit_2_with_one_line(run_sf, args, field):
    result = run_sf(args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert field in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_and_malformed_uris(run_sf, sf_env, free_port):
    env = dict(sf_env, SF_MONGODB_URI=f"mongodb://sf:hunter2@127.0.0.1:{free_port}/", SF_MONGODB_TIMEOUT_MS="500")
    result = run_sf(["batch", "list"], env=env)
    assert result.returncode == 4 and "cannot reach MongoDB" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    bad = run_sf(["--mongodb-uri", "http://nowhere", "batch", "list"])
    assert bad.returncode == 2 and "invalid MongoDB URI" in bad.stderr


def test_remove_refuses_compacted_batch(run_sf, sf_env, tmp_path):
    assert run_sf(["batch", "add", "2401"]).returncode == 0
    assert run_sf(["batch", "remove", "2401"]).returncode == 0
    assert json.loads(run_sf(["batch", "list", "--json"]).stdout) == []


def _serve(sf_env, port: int, *extra: str) -> tuple[subprocess.Popen, dict]:
    """Start `sf db serve` and wait for its server.json; returns the process and the file's content."""
    server = subprocess.Popen([sys.executable, "-m", "sf.cli", "db", "serve", "--port", str(port), *extra], env=sf_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server_file = Path(sf_env["SF_HOME"]) / "server.json"
    deadline = time.monotonic() + 30
    while not server_file.exists() and time.monotonic() < deadline and server.poll() is None:
        time.sleep(0.1)
    assert server_file.exists(), server.stderr.read() if server.poll() is not None else "server did not start"
    return server, json.loads(server_file.read_text())


@pytest.mark.skipif(bool(os.environ.get("SF_TEST_MONGODB_URI")), reason="sf db serve runs the embedded store only")
def test_db_serve_needs_credentials_and_serves_pymongo_and_other_sf_commands(run_sf, sf_env, free_port):
    assert run_sf(["batch", "add", "2401"]).returncode == 0
    server, info = _serve(sf_env, free_port)
    server_file = Path(sf_env["SF_HOME"]) / "server.json"
    try:
        assert oct(server_file.stat().st_mode & 0o777) == "0o600"
        assert run_sf(["db", "uri"]).stdout.strip() == info["uri"] and "sf:" in info["uri"]
        anonymous = MongoClient(f"mongodb://127.0.0.1:{free_port}/", serverSelectionTimeoutMS=5000)
        with pytest.raises(OperationFailure):
            anonymous["signauxfaibles"]["Admin"].find_one()
        anonymous.close()
        wrong = MongoClient(f"mongodb://sf:wrong@127.0.0.1:{free_port}/?authSource=admin", serverSelectionTimeoutMS=5000)
        with pytest.raises(OperationFailure):
            wrong["signauxfaibles"]["Admin"].find_one()
        wrong.close()
        client = MongoClient(info["uri"], serverSelectionTimeoutMS=5000, tz_aware=True)
        assert client["signauxfaibles"]["Admin"].find_one({"_id.key": "2401"})["_id"]["type"] == "batch"
        # While the server runs, other commands of the same SF_HOME go through it.
        assert run_sf(["batch", "add", "2402"]).returncode == 0
        assert client["signauxfaibles"]["Admin"].count_documents({"_id.type": "batch"}) == 2
        client.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    assert not server_file.exists(), "a server stopped by SIGTERM must remove its server.json"
    assert [b["_id"]["key"] for b in json.loads(run_sf(["batch", "list", "--json"]).stdout)] == ["2401", "2402"]


@pytest.mark.skipif(bool(os.environ.get("SF_TEST_MONGODB_URI")), reason="sf db serve runs the embedded store only")
def test_db_serve_no_auth_accepts_anyone_and_stops_on_ctrl_c(run_sf, sf_env, free_port):
    server, info = _serve(sf_env, free_port, "--no-auth")
    try:
        client = MongoClient(info["uri"], serverSelectionTimeoutMS=5000)
        assert "@" not in info["uri"] and client["signauxfaibles"]["Admin"].count_documents({}) == 0
        client.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)
    assert server.returncode == 0 and not (Path(sf_env["SF_HOME"]) / "server.json").exists()


def test_db_info_counts_collections(run_sf):
    assert run_sf(["batch", "add", "2401"]).returncode == 0
    info = json.loads(run_sf(["db", "info", "--json"]).stdout)
    assert info["collections"]["Admin"] == 1 and info["collections"]["Journal"] == 1
    assert info["database"]


def _command_paths(group, prefix=()):
    """Every command of the app, as argument lists (``["features", "export"]``)."""
    for name, command in group.commands.items():
        path = (*prefix, name)
        yield list(path)
        if hasattr(command, "commands"):
            yield from _command_paths(command, path)


def test_help_of_every_command_has_an_example():
    import typer
    from typer.testing import CliRunner

    from sf.cli.app import app

    root = typer.main.get_command(app)
    paths = list(_command_paths(root))
    assert len(paths) >= 20
    for path in [[]] + paths:
        result = CliRunner().invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Example" in result.output, f"sf {' '.join(path)} --help has no example"


def test_an_invalid_setting_exits_2_naming_the_variable(run_sf, sf_env):
    result = run_sf(["batch", "list"], env=dict(sf_env, SF_EMBEDDED_START_TIMEOUT_S="soon"))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "SF_EMBEDDED_START_TIMEOUT_S='soon'" in result.stderr and "Traceback" not in result.stderr


def test_shared_options_are_defined_once_in_common():
    """--json, --silent, --break-lock, --workers, --scheduler, --partitions and --dry-run come
    from cli/common.py, so that they read and behave the same in every command."""
    import re

    from ..conftest import ROOT

    shared = ("--json", "--silent", "--break-lock", "--workers", "--scheduler", "--partitions", "--dry-run")
    pattern = re.compile(r"typer\.Option\([^)]*\"(" + "|".join(map(re.escape, shared)) + r")\"")
    found = [f"{path.name}: {m.group(1)}" for path in sorted((ROOT / "cli").glob("*.py")) if path.name != "common.py"
             for m in pattern.finditer(path.read_text())]
    assert not found, found
