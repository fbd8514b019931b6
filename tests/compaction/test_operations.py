"""sf.compaction.operations.compact: a compaction is journaled as `sf compact` is."""

from datetime import date
from pathlib import Path

import pytest
from pymongo import MongoClient
from sf.compaction.errors import UnknownBatchError
from sf.compaction.operations import compact
from sf.engine.batches import make_batch, save_batch
from sf.engine.collections import JOURNAL, LOCK
from sf.engine.connection import Store
from sf.engine.settings import Settings


@pytest.fixture
def store(mongo_uri, db, tmp_path: Path):
    client = MongoClient(mongo_uri, tz_aware=True)
    try:
        yield Store(client=client, db=client[db.name], uri=mongo_uri,
                    settings=Settings(mongodb_uri=mongo_uri, db_name=db.name, home=tmp_path, workers=1))
    finally:
        client.close()


def test_nothing_to_compact_is_a_finished_run_with_its_summary(store, db):
    summary = compact(store, workers=1, silent=True)
    assert summary.batches == []
    run = db[JOURNAL].find_one({"command": "compact"})
    assert run["state"] == "finished" and run["counts"]["batches"] == [] and run["counts"]["dry_run"] is False
    assert run["args"] == {"since_batch": None, "stock_absent": None, "workers": 1, "scheduler": None,
                           "dry_run": False, "max_document_mb": 12.0}
    assert db[LOCK].count_documents({}) == 0


def test_a_failing_compaction_leaves_a_failed_run_and_releases_the_lock(store, db):
    save_batch(db, make_batch("2401", date_debut=date(2022, 1, 1), check_files=False))
    with pytest.raises(UnknownBatchError):
        compact(store, since_batch="2312", silent=True)
    run = db[JOURNAL].find_one({"command": "compact"})
    assert run["state"] == "failed" and run["batch"] == "2312" and "2312" in run["error"]
    assert db[LOCK].count_documents({}) == 0
