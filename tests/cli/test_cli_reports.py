"""`sf fiche` and `sf report` as a user runs them, and their pages as a person sees them
(rendered by headless Chromium to a PNG)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "report_data", Path(__file__).resolve().parents[1] / "reports" / "report_data.py")
rd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rd)

# Runs the real console entry point (`sf.cli.app.main`: one-line errors, exit codes), with the
# two commands added if cli/app.py does not register them yet.
_SF = """
import sys
from sf.cli import reports
from sf.cli.app import app, main
names = {c.name for c in app.registered_commands}
if "fiche" not in names:
    app.command("fiche")(reports.fiche)
if "report" not in names:
    app.command("report")(reports.report)
main(sys.argv[1:])
"""


@pytest.fixture
def sf_on(db, mongo_uri, sf_env):
    """Run `sf ARGS` in a new process on the test database ``db``."""
    env = {**sf_env, "SF_MONGODB_URI": mongo_uri, "SF_DB": db.name}

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", _SF, *args], env=env, capture_output=True, text=True,
                              timeout=180)

    return run


@pytest.fixture
def seeded(db):
    rd.seed_company(db)
    rd.seed_company(db, siren=rd.HEALTHY_SIREN, healthy=True)
    rd.seed_journal(db)
    return db


def test_fiche_and_report_write_pages(seeded, sf_on, tmp_path) -> None:
    fiche = sf_on(["fiche", rd.SIRET_A, "--out", str(tmp_path / "fiche.html")])
    assert fiche.returncode == 0, fiche.stderr
    assert "ATELIERS DU TEST" in fiche.stdout and "first alert 2023-10" in fiche.stdout
    assert (tmp_path / "fiche.html").read_text(encoding="utf-8").count('<figure class="chart"') == 8
    report = sf_on(["report", "--batch", "2401", "--out", str(tmp_path / "report.html"), "--json"])
    assert report.returncode == 0, report.stderr
    assert '"lines_read": 10000' in report.stdout and '"failed_runs": 1' in report.stdout


@pytest.mark.parametrize("args, code, words", [
    (["fiche", "999999999"], 2, "SIREN 999999999 is unknown"),
    (["fiche", rd.SIREN, "--batch", "2312"], 2, "batch 2312 has no scores"),
    (["report", "--batch", "2405"], 2, "batch 2405 is not defined"),
    (["report", "--batch", "2312"], 2, "nothing to report"),
])
def test_bad_input_gives_one_line_and_exit_code(seeded, sf_on, tmp_path, args, code, words) -> None:
    from sf.engine.batches import make_batch, save_batch

    save_batch(seeded, make_batch("2312", check_files=False))
    result = sf_on([*args, "--out", str(tmp_path / "x.html")])
    assert result.returncode == code, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()


def _charts_visible(html_file: Path, tmp_path: Path, minimum: int, control: bool = True) -> None:
    """Chromium's screenshot of the page shows at least ``minimum`` coloured chart areas, and
    (``control``) none once the charts are removed from the page, so the colour comes from the
    charts (both pages share their CSS and table helpers: one control is enough)."""
    png = tmp_path / f"{html_file.stem}.png"
    rd.render_png(html_file, png, tmp_path / "chromium-profile")
    assert png.exists() and png.stat().st_size > 10_000, "Chromium wrote no screenshot"
    bands = rd.coloured_bands(png)
    assert len(bands) >= minimum, bands
    if not control:
        return
    stripped = html_file.with_name(f"{html_file.stem}-nocharts.html")
    stripped.write_text(re.sub(r'<figure class="chart".*?</figure>', "", html_file.read_text(encoding="utf-8"),
                               flags=re.S), encoding="utf-8")
    blank = tmp_path / f"{html_file.stem}-nocharts.png"
    rd.render_png(stripped, blank, tmp_path / "chromium-profile")
    assert rd.coloured_bands(blank) == []


@pytest.mark.skipif(rd.chromium_binary() is None,
                    reason="Chromium not installed (apt-get install chromium; .ci/run installs it): "
                           "the pages are not checked in a browser")
def test_pages_render_in_chromium_with_their_charts(seeded, tmp_path) -> None:
    # The pages the commands write (same library calls, in process to keep the suite fast).
    from sf.reports.fiche import gather_fiche
    from sf.reports.fiche_page import render_fiche
    from sf.reports.ops_report import gather_ops_report
    from sf.reports.ops_report_page import render_ops_report

    (tmp_path / "fiche.html").write_text(render_fiche(gather_fiche(seeded, rd.SIREN)), encoding="utf-8")
    (tmp_path / "report.html").write_text(render_ops_report(gather_ops_report(seeded, "2401")), encoding="utf-8")
    _charts_visible(tmp_path / "fiche.html", tmp_path, minimum=5)
    _charts_visible(tmp_path / "report.html", tmp_path, minimum=3, control=False)
