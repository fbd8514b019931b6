"""`sf fiche` and `sf report`: self-contained HTML pages for the people acting on alerts and for
the people running the monthly integration."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sf.engine.errors import UsageError

from .common import console, json_option, print_json, store_of


def _check_out(out: Path) -> Path:
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {out}: the page is HTML, give a file name ending in .html")
    if out.exists() and out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file name ending in .html")
    if not out.parent.exists():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    return out


def fiche(ctx: typer.Context,
          identifier: str = typer.Argument(..., metavar="SIREN_OR_SIRET", help="Company (9 digits) or establishment (14 digits)."),
          batch: Optional[str] = typer.Option(None, "--batch", "-b", help="Show the data as of this batch (must be scored) [default: latest with Features]."),
          out: Path = typer.Option(..., "--out", "-o", help="HTML file to write."),
          json_output: bool = json_option("Print a summary as JSON after writing the page.")) -> None:
    """Write one self-contained HTML page about a company: identity, monthly charts, scores.

    Charts: headcount per establishment, URSSAF contributions and debts, payment delays,
    short-time work, insolvency events, financial ratios, score and reasons per batch. The
    page needs no network and prints on A4. Exit code 2 for an unknown SIREN/SIRET, an
    undefined batch or a batch without scores.

    Example:

        sf fiche 552100554 --out fiche_552100554.html

        sf fiche 55210055400013 --batch 2401 --out fiche.html
    """
    from sf.reports.fiche import gather_fiche
    from sf.reports.fiche_page import render_fiche

    _check_out(out)
    with store_of(ctx) as store:
        data = gather_fiche(store.db, identifier, batch)
    out.write_text(render_fiche(data), encoding="utf-8")
    trend = data.trend_before_alert()
    summary = {"out": str(out), "siren": data.siren, "siret": data.focus_siret, "name": data.name,
               "batch": data.batch, "series_source": data.series_source, "establishments": len(data.establishments),
               "months": int(data.series["periode"].nunique()) if not data.series.empty else 0,
               "scores": len(data.scores), "first_alert": data.first_alert, "trend": trend, "notes": data.notes}
    if json_output:
        print_json(summary)
        return
    alert = f", first alert {data.first_alert:%Y-%m}" if data.first_alert is not None else ", no alert"
    console.print(f"Wrote {out}: {data.name or data.siren} ({data.siren}), {summary['establishments']} "
                  f"establishment(s), {summary['months']} month(s) from {data.series_source}, "
                  f"{summary['scores']} score(s){alert}.", markup=False, highlight=False)


def report(ctx: typer.Context,
           batch: str = typer.Option(..., "--batch", "-b", help="Batch key."),
           out: Path = typer.Option(..., "--out", "-o", help="HTML file to write."),
           json_output: bool = json_option("Print the headline figures as JSON after writing the page.")) -> None:
    """Write the month's operations report of a batch as one self-contained HTML page.

    Per file: lines read/valid/rejected/filtered and first errors (from the Journal);
    compaction counts; Features and scores produced; alerts per region and level and their
    change from the previous scored batch; runs that failed or were restarted. A batch not
    yet scored is reported with a warning. Exit code 2 for an undefined batch or a batch
    with nothing to report.

    Example:

        sf report --batch 2401 --out report_2401.html
    """
    from sf.reports.operations import write_ops_report

    _check_out(out)
    with store_of(ctx) as store:
        data = write_ops_report(store.db, batch, out)
    summary = {"out": str(out), **data.summary()}
    if json_output:
        print_json(summary)
        return
    alerts = summary["alerts"]
    console.print(f"Wrote {out}: batch {batch}, {summary['files']} file(s), {summary['lines_read']:,} lines read "
                  f"({summary['lines_rejected']:,} rejected, {summary['lines_filtered']:,} filtered), "
                  f"{summary['features']:,} Features, {summary['scored']:,} scored, alerts {alerts['high']} high / "
                  f"{alerts['moderate']} moderate; {summary['failed_runs']} failed run(s).",
                  markup=False, highlight=False)
    for warning in data.warnings:
        console.print(f"Warning: {warning}", markup=False, highlight=False, soft_wrap=True)
