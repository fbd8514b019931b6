"""`sf features` and `sf features export` as a user runs them: separate processes, exit codes."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import UTC, datetime

import pandas as pd
import pytest
from sf.engine.batches import make_batch, save_batch

from ..conftest import DATA
from ..features.golden import parse_dates

EXAMPLE = DATA / "features-example" / "example1_input.json"

# Runs `sf` with the features sub-app registered (a no-op once cli/app.py registers it).
SHIM = ("import sys\nimport sf.cli.app as a\nfrom sf.cli import features as f\n"
        "if not any(g.name == 'features' for g in a.app.registered_groups):\n"
        "    a.app.add_typer(f.app, name='features')\n"
        "a.main()\n")


@pytest.fixture
def sf(sf_env, mongo_uri, db):
    """``sf(args)`` runs the CLI on the test database (the ``db`` fixture), which holds example
    1's RawData under batch 2001 plus a copy of the company with a broken record (999999999)."""
    data = parse_dates(json.loads(EXAMPLE.read_text()))
    params = data["params"]
    save_batch(db, make_batch(params["batch"], date_debut=params["date_debut"].date(),
                              date_fin=params["date_fin"].date(),
                              date_fin_effectif=params["date_fin_effectif"].date(), check_files=False))
    db["RawData"].insert_many([{"_id": d["value"]["key"], "value": d["value"]} for d in data["RawData"]])
    env = dict(sf_env, SF_MONGODB_URI=mongo_uri, SF_DB=db.name)

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", SHIM, *args], env=env, capture_output=True, text=True,
                              timeout=180)

    run.db = db  # type: ignore[attr-defined]
    run.raw = data["RawData"]  # type: ignore[attr-defined]
    return run


def test_features_run_then_export(sf, tmp_path):
    result = sf(["features", "--until-batch", "2001", "--workers", "1", "--json"])
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    db = sf.db
    assert summary["rows"] == summary["documents_written"] == db["Features"].count_documents({"_id.batch": "2001"}) > 0
    assert summary["companies"] == 1 and summary["first_period"] == "2019-01-01T00:00:00Z"
    for timing in ("read_s", "state_s", "compute_s", "convert_s", "write_s"):
        assert timing in summary
    run = db["Journal"].find_one({"command": "features"})
    assert run["state"] == "finished" and run["counts"]["rows"] == summary["rows"] and run["checkpoints"]

    again = sf(["features", "--until-batch", "2001", "--workers", "1", "--silent"])
    assert again.returncode == 0, again.stderr
    assert "rows written" in again.stdout and "compute" in again.stdout
    assert db["Features"].count_documents({"_id.batch": "2001"}) == summary["rows"]  # replaced, not doubled

    out = tmp_path / "features.parquet"
    exported = sf(["features", "export", "--batch", "2001", "--out", str(out), "--min-effectif", "10",
                   "--since", "2019-02-01"])
    assert exported.returncode == 0, exported.stderr
    table = pd.read_parquet(out)
    assert len(table) > 0 and (table["effectif"] >= 10).all()
    assert (table["periode"] >= datetime(2019, 2, 1, tzinfo=UTC)).all()
    assert str(table["outcome"].dtype) == "boolean" and str(table["siret"].dtype) == "string"


def test_key_recomputes_one_company_into_features_debug(sf):
    siret = sf.raw[1]["value"]["key"]
    result = sf(["features", "--until-batch", "2001", "--key", siret, "--mode", "parity"])
    assert result.returncode == 0, result.stderr
    assert siret in result.stdout and "Features_debug" in result.stdout
    db = sf.db
    assert db["Features_debug"].count_documents({}) > 0 and db["Features"].count_documents({}) == 0
    shown = json.loads(sf(["features", "--until-batch", "2001", "--key", siret[:9], "--json"]).stdout)
    assert shown["documents_written"] == db["Features_debug"].count_documents({}) == len(shown["rows"])


@pytest.mark.parametrize("args, code, message", [
    (["features"], 2, "--until-batch"),
    (["features", "--until-batch", "2402"], 2, "2402 is not defined"),
    (["features", "--until-batch", "2001", "--mode", "odd"], 2, "--mode"),
    (["features", "--until-batch", "2001", "--key", "123"], 2, "9-digit SIREN"),
    (["features", "export", "--batch", "2001", "--out", "x.parquet"], 2, "no Features document"),
])
def test_usage_errors_exit_2_with_one_line(sf, args, code, message):
    result = sf(args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert message in result.stderr and "Traceback" not in result.stderr


def test_skipped_company_exits_3_and_the_others_are_written(sf):
    bad = copy.deepcopy(sf.raw[0]["value"])
    bad["key"] = "999999999" + bad["key"][9:]
    entry = next(iter(bad["batch"].values()))
    next(iter(entry["effectif"].values()))["periode"] = "not a date"
    sf.db["RawData"].insert_one({"_id": bad["key"], "value": bad})
    result = sf(["features", "--until-batch", "2001", "--workers", "1", "--silent"])
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "999999999" in result.stderr and "Traceback" not in result.stderr
    assert sf.db["Features"].count_documents({"_id.siret": {"$gte": "111111111", "$lt": "111111111:"}}) > 0
    run = sf.db["Journal"].find_one({"command": "features"})
    assert run["reports"][0]["companies_skipped"] == 1


def test_help_has_examples(sf):
    for args in (["features", "--help"], ["features", "export", "--help"]):
        result = sf(args)
        assert result.returncode == 0 and "Example:" in result.stdout
