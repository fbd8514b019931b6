"""The operations report: figures gathered from the Journal, Features and Scores, and the page."""

from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from sf.engine.batches import make_batch, save_batch
from sf.engine.errors import UsageError
from sf.reports.ops_report import alerts_by_region, gather_ops_report, latest_file_reports, run_lines
from sf.reports.ops_report_page import render_ops_report

_spec = importlib.util.spec_from_file_location("report_data", Path(__file__).with_name("report_data.py"))
rd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rd)


def _run(command: str, hour: int, state: str = "finished", reports=()) -> dict:
    return {"_id": f"r{hour}", "command": command, "state": state,
            "started_at": datetime(2024, 1, 1, hour, tzinfo=UTC), "reports": list(reports)}


def test_latest_report_of_each_file_wins() -> None:
    old = {"file_type": "debit", "path": "/d/debit.csv", "lines_read": 1}
    new = {"file_type": "debit", "path": "/d/debit.csv", "lines_read": 2}
    other = {"file_type": "apconso", "path": "/d/ap.csv", "lines_read": 3}
    files = latest_file_reports([_run("import", 9, reports=[new]), _run("import", 8, "failed", [old, other])])
    assert [(f["file_type"], f["lines_read"], f["run_state"]) for f in files] == [
        ("apconso", 3, "failed"), ("debit", 2, "finished")]


def test_runs_marked_restarted_when_a_later_run_of_the_command_exists() -> None:
    lines = run_lines([_run("import", 10), _run("import", 8, "failed"), _run("compact", 9, "started")])
    assert [(r.command, r.problem, r.restarted) for r in lines] == [
        ("import", "failed", True), ("compact", "unfinished", False), ("import", None, False)]


def test_alerts_by_region_and_change() -> None:
    now = pd.DataFrame({"region": ["Bretagne", "Bretagne", "", None, "Corse"],
                        "alert": ["high", "moderate", "high", None, "moderate"]})
    before = pd.DataFrame({"region": ["Bretagne", "Corse", "Corse"], "alert": ["high", "moderate", "high"]})
    frame = alerts_by_region(now, before)
    got = {(r.region, r.level): (r.count, r.previous, r.change) for r in frame.itertuples()}
    assert got == {("Bretagne", "high"): (1, 1, 0), ("Bretagne", "moderate"): (1, 0, 1),
                   ("Corse", "high"): (0, 1, -1), ("Corse", "moderate"): (1, 1, 0),
                   ("région inconnue ou hors métropole", "high"): (1, 0, 1)}


def test_report_of_a_month(db) -> None:
    rd.seed_company(db)
    rd.seed_company(db, siren=rd.HEALTHY_SIREN, healthy=True)
    expected = rd.seed_journal(db)
    report = gather_ops_report(db, "2401")
    files = {f["file_type"]: (f["lines_read"], f["lines_valid"], f["lines_rejected"], f["lines_filtered"])
             for f in report.files}
    assert files == expected["files"]
    assert {f["file_type"]: f["is_fatal"] for f in report.files} == {"cotisation": False, "debit": False,
                                                                       "effectif": False}
    assert [c["counts"] for c in report.compactions] == [expected["compaction"]]
    assert report.features["documents"] == 3 * 48 and report.features["establishments"] == 3
    assert len(report.scores) == 3 and report.alert_counts() == {"high": 1, "moderate": 0}
    assert report.previous_batch == "2311" and report.alert_counts(previous=True) == {"high": 0, "moderate": 1}
    assert report.alert_changes() == {"new": 0, "ended": 0, "kept": 1}
    bretagne = report.alerts_by_region.set_index(["region", "level"]).loc[("Bretagne", "high")]
    assert (bretagne["count"], bretagne["change"]) == (1, 1)
    summary = report.summary()
    assert (summary["failed_runs"], summary["restarted_runs"], summary["unfinished_runs"]) == (1, 1, 0)
    assert [r.command for r in report.runs] == ["import", "import", "compact", "features", "score"]


def test_page_has_its_charts_and_figures(db) -> None:
    rd.seed_company(db)
    rd.seed_journal(db)
    html = render_ops_report(gather_ops_report(db, "2401"))
    for chart in ("files", "compaction", "scores", "regions"):
        block = re.search(rf'<figure class="chart" id="chart-{chart}">(.*?)</figure>', html, re.S)
        assert block is not None and block.group(1).count("<path") > 5, chart
    assert "ÉCHEC (relancée ensuite)" in html and "Line 2: invalid value in column effectif_0" in html
    assert not re.search(r"<script|<link|<img|src=|url\((?!#)|https?://(?!www\.w3\.org)", html)


def test_batch_without_scores_is_reported_with_a_warning(db) -> None:
    rd.seed_company(db, scored_batches=())
    rd.seed_journal(db)
    report = gather_ops_report(db, "2401")
    assert report.scores.empty and any("Pas de scores" in w for w in report.warnings)
    assert "Pas de scores pour le lot 2401" in render_ops_report(report)


def test_undefined_batch_or_nothing_to_report_is_a_usage_error(db) -> None:
    save_batch(db, make_batch("2402", check_files=False))
    for key, words in (("2403", "not defined"), ("2402", "nothing to report")):
        with pytest.raises(UsageError, match=words) as info:
            gather_ops_report(db, key)
        assert "\n" not in str(info.value) and info.value.exit_code == 2
