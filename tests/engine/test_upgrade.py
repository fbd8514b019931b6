"""`sf db upgrade`: an SF_HOME of the previous store (nx-27017) is converted, repaired, kept aside.

The legacy files are written here exactly as nx-27017 0.8.1 wrote them (observed on that
version: one table per collection with columns id, _id, data; JSON with ``$date``,
``__neosqlite_objectid__`` and ``__neosqlite_binary__`` markers; a ``$set`` of ``true``
stored as ``1``), so the test needs no nx-27017 installed.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bson import ObjectId

from sf.engine.connection import open_store
from sf.engine.errors import UsageError
from sf.engine.settings import Settings
from sf.engine.upgrade import legacy_databases, repair, upgrade_home

pytestmark = pytest.mark.skipif(bool(os.environ.get("SF_TEST_MONGODB_URI")),
                                reason="the upgrade converts the embedded store only")

OID = "6b102870da7c3b602bf76a6a"

LEGACY_ROWS = {
    "RawData": [
        {"_id": "01234567891011", "value": {"key": "01234567891011", "scope": "etablissement",
                                            "index": {"algo2": 1}, "state_batch": "2402",
                                            "batch": {"2401": {"effectif": {"h1": {"periode": {"$date": "2023-10-01T00:00:00"},
                                                                                   "effectif": 12}}}}}},
        {"_id": "000000001", "value": {"key": 1, "scope": "entreprise", "index": {"algo2": 0}}},
    ],
    "Journal": [
        {"_id": {"__neosqlite_objectid__": True, "id": OID}, "command": "import", "state": "finished",
         "started_at": {"$date": "2024-02-01T10:00:00+00:00"}},
    ],
    "Admin": [{"_id": {"key": "2401", "type": "batch"}, "name": "2401", "readonly": False,
               "files": {"effectif": ["/d/e.csv"]}, "complete_types": ["effectif"],
               "param": {"date_debut": {"$date": "2014-01-01T00:00:00"}, "date_fin": {"$date": "2024-01-01T00:00:00"},
                         "date_fin_effectif": {"$date": "2023-10-01T00:00:00"}}, "stock_absent": "keep"}],
    "Attachments": [{"_id": 1, "blob": {"__neosqlite_binary__": True, "data": "eHg=", "subtype": 0}}],
    "Lock": [{"_id": "sf", "run_id": OID, "command": "compact"}],
}


def write_legacy_home(home: Path, db_name: str = "signauxfaibles") -> Path:
    folder = home / "data"
    folder.mkdir(parents=True)
    path = folder / f"{db_name}.db"
    connection = sqlite3.connect(path)
    for table, rows in LEGACY_ROWS.items():
        connection.execute(f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY AUTOINCREMENT, _id TEXT, data TEXT NOT NULL)')
        for row in rows:
            connection.execute(f'INSERT INTO "{table}" (_id, data) VALUES (?, ?)', (str(row["_id"]), json.dumps(row)))
    connection.execute("CREATE TABLE neosqlite_index_keys (index_name TEXT PRIMARY KEY, keys_json TEXT NOT NULL)")
    connection.commit()
    connection.close()
    return path


def test_repair_restores_booleans_and_identifiers():
    doc, repairs = repair("RawData", {"_id": "000000001", "value": {"key": 1, "scope": "entreprise",
                                                                    "index": {"algo2": 1}, "x": {"siret": 123}}})
    assert doc["value"]["key"] == "000000001" and doc["value"]["index"]["algo2"] is True
    assert doc["value"]["x"]["siret"] == "00000000000123"
    assert sorted(repairs) == ["value.index.algo2", "value.key", "value.x.siret"]
    untouched, none = repair("RawData", {"_id": "x", "value": {"key": "01", "index": {"algo2": True}, "n": 1}})
    assert none == [] and untouched["value"]["n"] == 1


def test_a_legacy_home_is_refused_until_upgraded_then_converted_whole(tmp_path: Path):
    home = tmp_path / "home"
    write_legacy_home(home)
    settings = Settings(mongodb_uri=None, db_name="signauxfaibles", home=home)
    with pytest.raises(UsageError, match="sf db upgrade"):
        with open_store(settings):
            pass
    with open_store(settings, allow_legacy=True) as store:
        reports = upgrade_home(home, store.client)
    assert {r.collection: (r.read, r.written) for r in reports} == {
        "RawData": (2, 2), "Journal": (1, 1), "Admin": (1, 1), "Attachments": (1, 1)}
    assert legacy_databases(home) == [] and (home / "data-nx27017" / "signauxfaibles.db").exists()
    with open_store(settings) as store:
        raw = store.db["RawData"].find_one({"_id": "01234567891011"})
        assert raw["value"]["index"]["algo2"] is True
        assert raw["value"]["batch"]["2401"]["effectif"]["h1"]["periode"] == datetime(2023, 10, 1, tzinfo=UTC)
        assert store.db["RawData"].find_one({"_id": "000000001"})["value"]["key"] == "000000001"
        journal = store.db["Journal"].find_one({"_id": ObjectId(OID)})
        assert journal["started_at"] == datetime(2024, 2, 1, 10, tzinfo=UTC)
        assert store.db["Attachments"].find_one({"_id": 1})["blob"] == b"xx"
        assert store.db["Lock"].count_documents({}) == 0, "a lock of the old store must not be carried over"


def test_sf_db_upgrade_is_journaled_and_can_run_again(run_sf, sf_env):
    home = Path(sf_env["SF_HOME"])
    write_legacy_home(home)
    refused = run_sf(["batch", "list"])
    assert refused.returncode == 2 and "sf db upgrade" in refused.stderr
    done = run_sf(["db", "upgrade", "--json"])
    assert done.returncode == 0, done.stderr
    assert {r["collection"]: r["repaired"] for r in json.loads(done.stdout)}["RawData"] == 2
    again = run_sf(["db", "upgrade"])
    assert again.returncode == 0 and "Nothing to upgrade" in again.stderr
    journal = json.loads(run_sf(["journal", "--json"]).stdout)
    assert any(run["command"] == "db upgrade" and run["state"] == "finished" for run in journal)
    assert [b["_id"]["key"] for b in json.loads(run_sf(["batch", "list", "--json"]).stdout)] == ["2401"]
    store_file = home / "store" / "signauxfaibles.sqlite3"
    assert store_file.exists() and oct(os.stat(store_file).st_mode & 0o777) == "0o600"
