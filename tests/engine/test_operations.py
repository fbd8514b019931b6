"""sf.engine.operations.declare_batch: the batch definition is journaled as `sf batch add`."""

from datetime import date

import pytest
from sf.engine.batches import get_batch, make_batch
from sf.engine.collections import JOURNAL
from sf.engine.errors import UsageError
from sf.engine.operations import declare_batch


def test_declare_batch_saves_and_journals_its_run(db):
    batch = make_batch("2401", files={"effectif": ["/a.csv", "/b.csv"], "debit": ["/c.csv"]},
                       date_debut=date(2022, 1, 1), check_files=False)
    assert declare_batch(db, batch, args={"key": "2401", "from_dir": "/deliveries/2401"}) == 3
    assert get_batch(db, "2401").files == batch.files
    run = db[JOURNAL].find_one({"command": "batch add"})
    assert (run["state"], run["batch"], run["counts"], run["args"]) == (
        "finished", "2401", {"files": 3}, {"key": "2401", "from_dir": "/deliveries/2401"})


def test_declaring_an_existing_batch_leaves_a_failed_run(db):
    batch = make_batch("2401", date_debut=date(2022, 1, 1), check_files=False)
    declare_batch(db, batch)
    with pytest.raises(UsageError, match="already exists"):
        declare_batch(db, batch)
    states = [r["state"] for r in db[JOURNAL].find({"command": "batch add"}).sort("started_at", 1)]
    assert states == ["finished", "failed"]
    assert db[JOURNAL].find_one({"state": "failed"})["error"].startswith("UsageError: batch 2401 already exists")
