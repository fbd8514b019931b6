"""`sf purge`, `sf prune-entities`, `sf validate`, `sf rawdata show` through Typer.

The commands are mounted on a throw-away Typer app (the lead registers them in `cli/app.py`);
SfError exit codes are read from the raised error, as `sf.cli.app.main` turns them into the
process exit code.
"""

import json
from datetime import UTC, date, datetime

import pytest
import typer

from sf.cli import maintenance
from sf.compaction.job import clear_staged, compact_range, plan_compaction
from sf.engine.batches import make_batch, save_batch
from sf.engine.partitions import KeyRange



def _register(app: typer.Typer) -> None:
    app.command("purge")(maintenance.purge)
    app.command("prune-entities")(maintenance.prune_entities)
    app.command("validate")(maintenance.validate)
    app.add_typer(maintenance.rawdata_app, name="rawdata")


SIRETS = ["01234567800011", "01234567800012", "11111111100011"]
H1, H2 = "a" * 32, "b" * 32


@pytest.fixture
def cli(in_process_sf):
    run = in_process_sf(_register)
    return lambda *args: run(list(args))


def _compacted(mongo_uri, db, tmp_path):
    perimeter = tmp_path / "filter.csv"
    perimeter.write_text("012345678\n")
    for key in ("2401", "2402"):
        save_batch(db, make_batch(key, files={"filter": [str(perimeter)]}, date_debut=date(2023, 12, 1)))
    for batch, record_hash in (("2401", H1), ("2402", H2)):
        db["ImportedData"].insert_many([{"_id": f"{batch}:{k}", "value": {"key": k, "scope": "etablissement", "batch": {
            batch: {"effectif": {record_hash: {"numero_compte": "1", "periode": datetime(2023, 12, 1, tzinfo=UTC),
                                               "effectif": 3}}}}}} for k in SIRETS])
        plan = plan_compaction(db)
        compact_range(mongo_uri, db.name, plan, False, KeyRange(None, None))
        clear_staged(db, plan.staged_batches)


def test_purge_journaled_with_checkpoints_and_unknown_batch_refused(cli, mongo_uri, db, tmp_path):
    _compacted(mongo_uri, db, tmp_path)
    before = list(db["RawData"].find().sort("_id"))
    code, out = cli("purge", "--since-batch", "2499", "--yes")
    assert code == 2 and "2499" in out and list(db["RawData"].find().sort("_id")) == before
    code, out = cli("purge", "--since-batch", "2402")  # no terminal to confirm in
    assert code == 2 and "--yes" in out

    code, out = cli("purge", "--since-batch", "2402", "--yes", "--workers", "1", "--json", "--silent")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["rewritten"] == 3 and summary["entries_removed"] == {"2402": 3}
    assert all(set(d["value"]["batch"]) == {"2401"} for d in db["RawData"].find())
    runs = list(db["Journal"].find({"command": "purge"}).sort("started_at"))
    assert [r["state"] for r in runs] == ["failed", "finished"]
    assert runs[-1]["checkpoints"] and runs[-1]["counts"]["rewritten"] == 3
    assert db["Lock"].count_documents({}) == 0

    code, out = cli("purge", "--since-batch", "2401", "--key", "012345678", "--yes", "--json")
    assert code == 0 and json.loads(out)["deleted"] == 2
    assert [d["_id"] for d in db["RawData"].find()] == ["11111111100011"]


def test_prune_entities_dry_run_then_delete(cli, mongo_uri, db, tmp_path):
    _compacted(mongo_uri, db, tmp_path)
    code, out = cli("prune-entities", "--json")
    assert code == 0 and json.loads(out)["sample"] == ["11111111100011"] and db["RawData"].count_documents({}) == 3
    code, out = cli("prune-entities", "--delete", "--yes", "--json")
    assert code == 0 and json.loads(out)["deleted"] == 1
    assert sorted(d["_id"] for d in db["RawData"].find()) == SIRETS[:2]
    assert [r["command"] for r in db["Journal"].find({"command": "prune-entities", "state": "finished"})] == [
        "prune-entities"] * 2


def test_validate_exit_codes_and_json_lines(cli, mongo_uri, db, tmp_path):
    _compacted(mongo_uri, db, tmp_path)
    code, out = cli("validate", "--collection", "RawData")
    assert code == 0 and "3 documents" in out and "0 violation" in out
    db["ImportedData"].insert_one({"_id": "2402:01234567800011", "value": {
        "key": "01234567800011", "scope": "etablissement", "batch": {"2402": {"effectif": {H1: {"effectif": 3}}}}}})
    code, out = cli("validate", "--collection", "ImportedData", "--jsonl")
    assert code == 3 and "1 violation" in out
    code, out = cli("validate", "--collection", "Features")
    assert code == 2


def test_rawdata_show(cli, mongo_uri, db, tmp_path):
    _compacted(mongo_uri, db, tmp_path)
    code, out = cli("rawdata", "show", SIRETS[0], "--json")
    assert code == 0
    shown = json.loads(out)
    assert [line["batch"] for line in shown["history"]] == ["2401", "2402"]
    assert shown["counts"]["effectif"] == 2 and shown["stored_state_ok"] is True
    code, out = cli("rawdata", "show", SIRETS[0], "--at-batch", "2401")
    assert code == 0 and "History" in out and "effectif (1 live)" in out
    db["ImportedData"].insert_one({"_id": "2402:99999999900011", "value": {"key": "99999999900011"}})
    code, out = cli("rawdata", "show", "99999999900011")
    assert code == 2 and "ImportedData for batch(es) 2402" in out
