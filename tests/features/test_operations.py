"""sf.features.operations: a Features run (the job or one company) is journaled as `sf features` is."""

import pytest
from sf.engine.collections import FEATURES_DEBUG, IMPORTED_DATA, JOURNAL, LOCK, RAW_DATA
from sf.engine.errors import UsageError
from sf.features.operations import compute_company_features, compute_features

from .test_job import SIREN, _define_example_batch, _rawdata_docs


def test_one_company_is_journaled_with_its_counts(db):
    _define_example_batch(db)
    db[RAW_DATA].insert_many(_rawdata_docs())
    frame, written = compute_company_features(db, "2001", SIREN)
    assert written == len(frame) == db[FEATURES_DEBUG].count_documents({}) > 0
    run = db[JOURNAL].find_one({"command": "features"})
    assert (run["state"], run["batch"], run["args"]["key"]) == ("finished", "2001", SIREN)
    assert run["counts"] == {"rows": len(frame), "documents_written": written}


def test_an_empty_rawdata_leaves_a_failed_run(db, mongo_uri, tmp_path):
    from sf.engine.connection import Store
    from sf.engine.settings import Settings

    _define_example_batch(db)
    db[IMPORTED_DATA].insert_one({"_id": "2001:" + SIREN, "value": {"key": SIREN}})
    store = Store(client=db.client, db=db, uri=mongo_uri,
                  settings=Settings(mongodb_uri=mongo_uri, db_name=db.name, home=tmp_path, workers=1))
    with pytest.raises(UsageError, match="still waiting in ImportedData"):
        compute_features(store, "2001", workers=1, silent=True)
    run = db[JOURNAL].find_one({"command": "features"})
    assert run["state"] == "failed" and "RawData is empty" in run["error"]
    assert db[LOCK].count_documents({}) == 0


def test_an_undefined_batch_journals_nothing(db):
    with pytest.raises(UsageError):
        compute_company_features(db, "2402", SIREN)
    assert db[JOURNAL].count_documents({}) == 0
