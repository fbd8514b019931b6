"""`sf check` / `sf import` as a user runs them, on the original's test inputs."""

import json
from pathlib import Path

from ..conftest import DATA

TESTDATA = DATA / "osf"


def _add(run_sf, *files: str, extra: tuple[str, ...] = ()):
    args = ["batch", "add", "1910", "--date-debut", "2019-01-01", "--date-fin", "2019-02-01", *extra]
    for spec in files:
        file_type, path = spec.split("=")
        args += ["--file", f"{file_type}={TESTDATA / path}"]
    result = run_sf(args)
    assert result.returncode == 0, result.stderr


def test_import_then_check_with_json_reports(run_sf):
    _add(run_sf, "admin_urssaf=admin_urssaf/990c4d74/comptesTestData.csv",
         "cotisation=cotisation/990c4d74/cotisationTestData.csv", "paydex=paydex/990c4d74/paydexTestData.csv")
    refused = run_sf(["import", "--batch", "1910"])
    assert refused.returncode == 2 and "no filter file" in refused.stderr
    imported = run_sf(["import", "--batch", "1910", "--no-filter", "--json"])
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout)
    totals = report["totals"]
    assert totals["files"] == 3 and totals["lines_read"] == 3 + 3 + 6
    assert totals["lines_read"] == totals["lines_valid"] + totals["lines_rejected"] + totals["lines_filtered"]
    # One rejected line (paydex); the admin_urssaf account closed before the period is filtered.
    assert totals["records_written"] > 0 and totals["lines_quarantined"] == totals["lines_rejected"] == 1
    checked = json.loads(run_sf(["check", "--batch", "1910", "--no-filter", "--json", "--parsers", "paydex"]).stdout)
    assert [f["file_type"] for f in checked["files"]] == ["paydex"]
    assert checked["files"][0]["first_errors"] == report["files"][2]["first_errors"]
    runs = json.loads(run_sf(["journal", "--json"]).stdout)
    assert [r["command"] for r in runs[:2]] == ["check", "import"]
    assert len(runs[1]["reports"]) == 3 and runs[1]["counts"]["records_written"] == totals["records_written"]


def test_a_fatal_file_exits_3_and_the_rest_is_imported(run_sf, tmp_path: Path):
    bad = tmp_path / "demande_ap.csv"
    bad.write_text("this;is;not;the;header\n1;2;3;4;5\n")
    _add(run_sf, "paydex=paydex/990c4d74/paydexTestData.csv", extra=("--file", f"apdemande={bad}"))
    result = run_sf(["import", "--batch", "1910", "--no-filter"])
    assert result.returncode == 3, result.stdout + result.stderr
    assert "could not be read" in result.stderr and "demande_ap.csv" in result.stderr
    assert "Traceback" not in result.stderr
    info = json.loads(run_sf(["db", "info", "--json"]).stdout)
    assert info["collections"]["ImportedData"] > 0


def test_unknown_parser_name_is_a_usage_error(run_sf):
    _add(run_sf, "paydex=paydex/990c4d74/paydexTestData.csv")
    result = run_sf(["check", "--batch", "1910", "--no-filter", "--parsers", "payday"])
    assert result.returncode == 2 and "payday" in result.stderr
