"""`sf batch add --from-dir` dates a batch from its delivery and says where each date comes from."""

from __future__ import annotations

import json
from pathlib import Path


def _delivery(folder: Path, months: list[str]) -> Path:
    """A delivery folder with a headcount file covering ``months`` and a debit file."""
    folder.mkdir(parents=True)
    (folder / "Sigfaible_effectif_siret.csv").write_text(
        ";".join(["compte", "siret", "rais_soc", "ape_ins", "dep", *months, "base", "UR_EMET"]) + "\n"
        + ";".join(["1", "01234567890123", "X", "5610C", "59", *("4" for _ in months), "1", "2"]) + "\n")
    (folder / "Sigfaible_debits.csv").write_text("x\n")
    return folder


def _param(run_sf, key: str) -> dict:
    return json.loads(run_sf(["batch", "show", key, "--json"]).stdout)["param"]


def test_first_batch_from_its_headcount_months_then_the_previous_batch(run_sf, tmp_path: Path):
    first = _delivery(tmp_path / "2110", ["eff202132", "eff202133"])  # 2021-08, 2021-09
    added = run_sf(["batch", "add", "2110", "--from-dir", str(first)])
    assert added.returncode == 0, added.stderr
    assert ("date_debut 2021-08-01: first month with a headcount (Sigfaible_effectif_siret.csv, column eff202132)"
            in added.stderr)
    assert "date_fin_effectif 2021-09-01: last month with a headcount" in added.stderr
    assert "period 2021-08-01 → 2021-10-01" in added.stdout
    second = _delivery(tmp_path / "2111", ["eff202133", "eff202141"])
    added = run_sf(["batch", "add", "2111", "--from-dir", str(second)])
    assert added.returncode == 0, added.stderr
    assert "date_debut 2021-08-01: from the previous batch 2110" in added.stderr
    assert _param(run_sf, "2111") == {"date_debut": "2021-08-01T00:00:00Z", "date_fin": "2021-11-01T00:00:00Z",
                                      "date_fin_effectif": "2021-10-01T00:00:00Z"}
    journal = json.loads(run_sf(["journal", "--json"]).stdout)
    assert any("from the previous batch 2110" in note for run in journal for note in run["args"].get("dates", []))
    # The same batch again is refused, nothing changes.
    again = run_sf(["batch", "add", "2111", "--from-dir", str(second)])
    assert again.returncode == 2 and "batch 2111 already exists" in again.stderr and "--replace" in again.stderr


def test_explicit_dates_win_and_an_undated_delivery_warns(run_sf, tmp_path: Path):
    folder = _delivery(tmp_path / "2110", ["eff202133"])
    added = run_sf(["batch", "add", "2110", "--from-dir", str(folder), "--date-debut", "2020-01-01"])
    assert added.returncode == 0, added.stderr
    assert "date_debut 2020-01-01: given with --date-debut" in added.stderr
    assert _param(run_sf, "2110")["date_debut"] == "2020-01-01T00:00:00Z"
    undated = tmp_path / "undated"
    undated.mkdir()
    (undated / "Sigfaible_debits.csv").write_text("x\n")
    added = run_sf(["batch", "add", "2001", "--from-dir", str(undated)])
    assert added.returncode == 0, added.stderr
    assert "Warning: date_debut 2014-01-01 (the default): no previous batch and no headcount file" in added.stderr
    assert _param(run_sf, "2001")["date_debut"] == "2014-01-01T00:00:00Z"


def test_the_parent_of_the_monthly_folders_is_refused(run_sf, tmp_path: Path):
    _delivery(tmp_path / "deliveries" / "2110", ["eff202133"])
    (tmp_path / "deliveries" / "summary.json").write_text("{}")
    added = run_sf(["batch", "add", "2110", "--from-dir", str(tmp_path / "deliveries")])
    assert added.returncode == 2 and "no delivery file recognised (1 other file(s))" in added.stderr
    assert f"give the folder of one month, e.g. {tmp_path / 'deliveries' / '2110'}" in added.stderr
    assert json.loads(run_sf(["batch", "list", "--json"]).stdout) == []
