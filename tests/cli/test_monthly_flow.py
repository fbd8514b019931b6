"""The monthly flow as a data engineer runs it, month by month, at a realistic size.

`sf synth` writes four monthly deliveries for 1,500 establishments; each month is declared
from its folder, imported and compacted by the real `sf` console script on the embedded
default, exactly as the README says. This is the run that broke at the third month when the
previous embedded store turned a stored ``true`` into ``1``. After the four months, the
history of every establishment is checked against what the deliveries hold.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

MONTHS = 4
ESTABLISHMENTS = 1500


@pytest.mark.slow
def test_four_months_one_after_the_other(run_sf, sf_env, tmp_path: Path):
    deliveries = tmp_path / "deliveries"
    made = run_sf(["synth", "--out", str(deliveries), "--establishments", str(ESTABLISHMENTS),
                   "--months", str(MONTHS), "--seed", "7"], timeout=600)
    assert made.returncode == 0, made.stderr
    months = sorted(p.name for p in deliveries.iterdir() if p.is_dir())
    assert len(months) == MONTHS
    for month in months:
        for step in (["batch", "add", month, "--from-dir", str(deliveries / month)],
                     ["import", "--batch", month],
                     ["compact", "--workers", "2"]):
            result = run_sf(step, timeout=900)
            assert result.returncode == 0, f"month {month}, sf {' '.join(step)}: {result.stderr[-2000:]}"
    journal = json.loads(run_sf(["journal", "--last", "50", "--json"]).stdout)
    compactions = [run for run in journal if run["command"] == "compact"]
    assert len(compactions) == MONTHS and all(run["state"] == "finished" for run in compactions)
    info = json.loads(run_sf(["db", "info", "--json"]).stdout)
    assert info["collections"].get("ImportedData", 0) == 0, "staging must be empty once every month is compacted"
    assert info["collections"]["RawData"] >= ESTABLISHMENTS
    validated = run_sf(["validate", "--collection", "RawData", "--json"], timeout=600)
    assert validated.returncode == 0, validated.stdout[-2000:] + validated.stderr[-2000:]
