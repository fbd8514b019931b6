"""sf.importers.operations: an import (or a check) is journaled as `sf import` (`sf check`) is."""

from datetime import date

import pytest
from sf.engine.batches import make_batch, save_batch
from sf.engine.collections import IMPORTED_DATA, JOURNAL, LOCK
from sf.engine.errors import UsageError
from sf.importers.operations import import_batch, unreadable_files

from . import osf_goldens as G


def _define(db, files: dict[str, list[str]]) -> None:
    save_batch(db, make_batch("1910", files=files, date_debut=date(2019, 1, 1), date_fin=date(2019, 2, 1)))


def test_import_journals_each_file_and_the_totals(db):
    _define(db, {"effectif": [str(G.data(G.E2E_FILES["effectif"]))], "sirene": [str(G.data(G.E2E_FILES["sirene"]))]})
    result = import_batch(db, "1910", no_filter=True)
    run = db[JOURNAL].find_one({"command": "import"})
    assert run["state"] == "finished" and run["batch"] == "1910"
    assert run["args"] == {"batch": "1910", "parsers": None, "no_filter": True}
    assert run["counts"] == result.totals() and run["counts"]["records_written"] > 0
    assert [r["file_type"] for r in run["reports"]] == [r.file_type for r in result.reports] == ["effectif", "sirene"]
    assert db[IMPORTED_DATA].count_documents({}) > 0 and db[LOCK].count_documents({}) == 0
    assert unreadable_files(result) is None


def test_check_writes_nothing_and_is_journaled_as_check(db):
    _define(db, {"effectif": [str(G.data(G.E2E_FILES["effectif"]))]})
    seen = []
    result = import_batch(db, "1910", no_filter=True, write=False, on_progress=seen.append)
    assert db[IMPORTED_DATA].count_documents({}) == 0 and result.totals()["lines_read"] > 0 and seen
    assert db[JOURNAL].find_one({"command": "check"})["state"] == "finished"


def test_a_failing_import_leaves_a_failed_run_and_an_unreadable_file_is_reported(db, tmp_path):
    _define(db, {"effectif": [str(G.data(G.E2E_FILES["effectif"]))]})
    with pytest.raises(UsageError, match="unknown parser"):
        import_batch(db, "1910", parsers=["nope"], no_filter=True)
    run = db[JOURNAL].find_one({"command": "import"})
    assert run["state"] == "failed" and "unknown parser" in run["error"]
    assert db[LOCK].count_documents({}) == 0

    gone = tmp_path / "Sigfaible_debits.csv"
    gone.write_text("deleted after the batch is declared\n")
    save_batch(db, make_batch("1911", files={"debit": [str(gone)]}, date_debut=date(2019, 1, 1),
                              date_fin=date(2019, 2, 1)))
    gone.unlink()
    result = import_batch(db, "1911", no_filter=True)
    assert db[JOURNAL].find_one({"command": "import", "batch": "1911"})["state"] == "finished"
    failure = unreadable_files(result)
    assert failure is not None and failure.exit_code == 3
    assert str(failure).startswith("batch 1911: 1 file(s) could not be read: ") and str(gone) in str(failure)


def test_an_undefined_batch_journals_nothing(db):
    with pytest.raises(UsageError, match="not defined"):
        import_batch(db, "2401")
    assert db[JOURNAL].count_documents({}) == 0
