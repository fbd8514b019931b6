"""sf.reports.operations.write_ops_report: the page is written and the run journaled, outside the batch."""

from datetime import date
from pathlib import Path

import pytest
from sf.engine.batches import make_batch, save_batch
from sf.engine.collections import JOURNAL
from sf.engine.errors import UsageError
from sf.engine.journal import journal_run
from sf.reports.operations import write_ops_report


def test_the_report_is_written_and_journaled_without_listing_itself(db, tmp_path: Path):
    save_batch(db, make_batch("2401", date_debut=date(2022, 1, 1), check_files=False))
    with journal_run(db, "import", {"batch": "2401"}, batch="2401") as run:
        run.counts = {"files": 0}
    out = tmp_path / "report.html"
    first = write_ops_report(db, "2401", out)
    assert out.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    again = write_ops_report(db, "2401", tmp_path / "again.html")
    # The report's own runs are not the batch's: a report does not list earlier reports.
    assert [line.command for line in again.runs] == [line.command for line in first.runs] == ["import"]
    runs = list(db[JOURNAL].find({"command": "report"}))
    assert [(r["state"], r["batch"], r["args"]["batch"]) for r in runs] == [("finished", None, "2401")] * 2
    assert runs[0]["counts"]["batch"] == "2401" and runs[0]["counts"]["files"] == len(first.files)


def test_an_undefined_batch_leaves_a_failed_run_and_no_page(db, tmp_path: Path):
    out = tmp_path / "report.html"
    with pytest.raises(UsageError, match="not defined"):
        write_ops_report(db, "2402", out)
    run = db[JOURNAL].find_one({"command": "report"})
    assert run["state"] == "failed" and run["args"]["batch"] == "2402" and not out.exists()
