"""`sf alerts`: the alert list of a scored batch, its counts per region, and its export for a front end.

``sf alerts --batch KEY [filters]`` (the group's default action) lists the establishments on
alert; ``sf alerts --batch KEY --by region`` counts them per region and level with the change
since the previous scored batch; ``sf alerts export`` writes them, with their explanations, to
Parquet or JSON Lines. Thin commands over :mod:`sf.model.alerts` and
:mod:`sf.model.alert_export`; heavy imports stay inside the functions so that `sf --help`
stays fast.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import typer
from rich import box
from rich.table import Table
from sf.engine.errors import UsageError

from .common import check_key, console, json_option, print_json, settings_of, store_of

#: Alert levels (sf.model.scores_store.ALERT_LEVELS, not imported here: it pulls pandas in).
AlertLevel = Literal["high", "moderate"]
#: Output formats of sf alerts.
Format = Literal["table", "csv", "json"]
#: Groupings of sf alerts --by.
By = Literal["region"]
#: File formats of sf alerts export (sf.model.alert_export.EXPORT_FORMATS).
ExportFormat = Literal["parquet", "jsonl"]

# No help= here: the group's help is the callback's docstring (with its Example block).
app = typer.Typer(rich_markup_mode=None)


def _require_scores(db: Any, batch: str) -> None:
    """UsageError (exit 2) when ``batch`` has no Scores."""
    from sf.engine.collections import SCORES

    if db[SCORES].count_documents({"_id.batch": batch}, limit=1) == 0:
        raise UsageError(f"batch {batch} has no Scores", f"score it with sf score --batch {batch}")


@app.callback(invoke_without_command=True)
def alerts(ctx: typer.Context,
           batch: str | None = typer.Option(None, "--batch", "-b", help="Scored batch."),
           region: str | None = typer.Option(None, "--region", help="INSEE region code (e.g. 53) or name."),
           department: str | None = typer.Option(None, "--department", help="Département code (e.g. 35, 2A)."),
           min_effectif: float | None = typer.Option(None, "--min-effectif", min=0, help="Smallest headcount."),
           top: int | None = typer.Option(None, "--top", min=1, help="Only the N most at-risk."),
           level: AlertLevel | None = typer.Option(None, "--level", help="Only this level."),
           output_format: Format = typer.Option("table", "--format", help="Output format."),
           by: By | None = typer.Option(None, "--by", help="Count the alerts per region and level instead, with "
                                        "the change since the previous scored batch."),
           json_output: bool = json_option("Print JSON (same as --format json).")) -> None:
    """List the establishments on alert, most at risk first, with the reasons in words.

    Columns: rank, SIRET, SIREN, company name, town, département, region, sector (NAF
    label), headcount, URSSAF debt (employee + employer shares, EUR), score, alert level,
    reasons, month. Filters apply before --top. Under the table, what each level means: its
    score threshold and, when the model card gives it, its precision on the validation window.

    --by region counts the alerts per region and level (with --level: that level only) and
    the change since the previous scored batch. `sf alerts export` writes the alerts with
    their explanations to Parquet or JSON Lines for a front end (see sf alerts export --help).
    Exit code 2 when the batch has no Scores.

    Example:

        sf alerts --batch 2401 --top 10

        sf alerts --batch 2401 --region 53 --min-effectif 10 --format csv > alertes.csv

        sf alerts --batch 2401 --by region --json

        sf alerts export --batch 2401 --out alertes.parquet
    """
    given = [name for name, value in (("--region", region), ("--department", department),
                                      ("--min-effectif", min_effectif), ("--top", top), ("--level", level),
                                      ("--by", by)) if value is not None]
    if ctx.invoked_subcommand is not None:
        if given:  # said before `export`, they would be silently ignored
            raise UsageError(f"{', '.join(given)} do(es) not apply to sf alerts {ctx.invoked_subcommand}",
                             "the export holds every alert of the batch")
        return
    if batch is None:
        raise UsageError("missing option --batch", "e.g. sf alerts --batch 2401; see sf alerts --help")
    check_key("--batch", batch)
    output_format = "json" if json_output else output_format
    if by == "region":
        unused = [name for name in given if name not in ("--level", "--by")]
        if unused:
            raise UsageError(f"{', '.join(unused)} do(es) not apply to --by region", "only --level does")
        _print_by_region(ctx, batch, level, output_format)
        return
    from sf.model.alerts import alert_list, level_meanings
    from sf.model.runs import models_root

    with store_of(ctx) as store:
        _require_scores(store.db, batch)
        frame = alert_list(store.db, batch, region=region, departement=department, min_effectif=min_effectif,
                           top=top, levels=[level] if level else ("high", "moderate"))
        home = settings_of(ctx).home
        # SF_HOME/models (sf train), then WORKDIR/models of workdirs under SF_HOME (sf demo's default).
        meanings = level_meanings(store.db, batch, [models_root(home), *sorted(home.glob("*/models"))]) \
            if output_format == "table" else []
    print_alerts(frame, output_format, batch, meanings=meanings)


def print_alerts(frame: Any, output_format: str, batch: str, *, meanings: list[dict[str, Any]] | None = None) -> None:
    """The alert list as a rich table, CSV or JSON on standard output.

    ``meanings`` (:func:`sf.model.alerts.level_meanings`): one line per level under the
    table, saying what it means; nothing when empty or None.
    """
    import sys

    frame = frame.copy()
    frame["periode"] = frame["periode"].map(lambda p: p.strftime("%Y-%m-%d") if hasattr(p, "strftime") else p)
    if output_format == "csv":
        frame.to_csv(sys.stdout, index=False)
        return
    if output_format == "json":
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        print_json(records)
        return
    if frame.empty:
        console.print(f"No alert for batch {batch} with these filters.")
        return
    # Reasons are sentences: printed under the table, keyed by rank, so the table fits a terminal.
    # Light borders, the SIRET under the name and the commune under the département: the table
    # stays legible in an 80-column terminal (long names and sectors wrap).
    table = Table(title=f"Alerts of batch {batch}", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("établissement", min_width=14, overflow="fold")
    table.add_column("lieu", min_width=5, overflow="fold")
    table.add_column("secteur", min_width=8, overflow="fold")
    for name in ("eff.", "dette €", "score"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("alerte", no_wrap=True)
    for row in frame.itertuples(index=False):
        table.add_row(str(row.rang), f"{_text(row.raison_sociale, 40)}\n{row.siret}",
                      f"{_text(row.departement, 3)}\n{_text(row.commune, 16)}", _text(row.secteur, 40),
                      _number(row.effectif), _number(row.dette_urssaf), f"{row.score:.3f}", row.alert)
    console.print(table)
    for line in level_lines(meanings or []):
        console.print(line, highlight=False)
    for row in frame.itertuples(index=False):
        console.print(f"{row.rang}. {row.raisons}", highlight=False)


def level_lines(meanings: list[dict[str, Any]]) -> list[str]:
    """One sentence per alert level: threshold and, when known, how it was chosen and its validation precision."""
    lines = []
    for m in meanings:
        which = "at this level" if m["level"] == "high" else "at or above this threshold"
        line = f"{m['level']}: score ≥ {m['threshold']:.3f}" + (f" ({m['rule']})" if m.get("rule") else "")
        if m.get("precision") is not None:
            line += (f"; on the validation window {m['precision']:.0%} of the establishments {which} "
                     "entered insolvency proceedings within 18 months")
        lines.append(line + ".")
    return lines


def _print_by_region(ctx: typer.Context, batch: str, level: str | None, output_format: str) -> None:
    """``sf alerts --by region``: the counts of :func:`sf.model.alerts.alerts_by_region`."""
    import sys

    from sf.model.alerts import alerts_by_region

    with store_of(ctx) as store:
        _require_scores(store.db, batch)
        frame, previous, notes = alerts_by_region(store.db, batch, levels=[level] if level else ("high", "moderate"))
    if output_format == "csv":
        frame.to_csv(sys.stdout, index=False)
        return
    if output_format == "json":
        rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
        print_json({"batch": batch, "previous_batch": previous, "rows": rows, "notes": notes})
        return
    levels = list(dict.fromkeys(frame["level"])) or ([level] if level else ["high", "moderate", "total"])
    since = f", change since batch {previous}" if previous else ", no earlier scored batch"
    table = Table(title=f"Alerts per region of batch {batch}{since}", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("region", overflow="fold")
    for name in levels:
        table.add_column(name, justify="right", no_wrap=True)
        if previous:
            table.add_column("Δ", justify="right", no_wrap=True)
    for (code, name), group in frame.groupby(["code_region", "region"], dropna=False, sort=False):
        cells = []
        by_level = group.set_index("level")
        for lv in levels:
            cells.append(f"{int(by_level.loc[lv, 'count']):,}")
            if previous:
                change = int(by_level.loc[lv, "change"])
                cells.append(f"{change:+,}" if change else "0")
        label = "unknown" if not isinstance(name, str) else (f"{code} {name}" if isinstance(code, str) else name)
        table.add_row(label, *cells)
    if frame.empty:
        console.print(f"No alert in batch {batch}" + (f" nor in batch {previous}." if previous else "."))
    else:
        console.print(table)
    for note in notes:
        console.print(f"note: {note}", highlight=False)


@app.command("export")
def export(ctx: typer.Context,
           batch: str | None = typer.Option(None, "--batch", "-b", help="Scored batch [default: the --batch given "
                                                                          "before export]."),
           out: Path = typer.Option(..., "--out", help="File to write: .parquet or .jsonl."),
           export_format: ExportFormat | None = typer.Option(None, "--format",
                                                             help="File format [default: from the suffix of --out]."),
           json_output: bool = json_option("Print the summary as JSON.")) -> None:
    """Write the alerts of a batch, with their explanations and key facts, to Parquet or JSON Lines.

    One row per establishment on alert, most at risk first: identifiers, company name, town,
    département and region (codes and names), sector, headcount, URSSAF debt, score, level,
    model, month, the reasons in words, the contribution of each theme and the top variables.
    The schema (column, type, meaning) is in the README ("Exporting alerts"). The file is
    replaced whole; a failed export leaves no partial file. Exit code 2 when the batch has no
    Scores or the format cannot be told.

    Example:

        sf alerts export --batch 2401 --out alertes.parquet

        sf alerts export --batch 2401 --out alertes.jsonl

        sf alerts export --batch 2401 --out /srv/front/alertes.data --format parquet
    """
    from sf.model.alert_export import export_alerts, export_format as format_of

    batch = batch if batch is not None else (ctx.parent.params.get("batch") if ctx.parent else None)
    if batch is None:
        raise UsageError("missing option --batch", "e.g. sf alerts export --batch 2401 --out alertes.parquet")
    check_key("--batch", batch)
    fmt = format_of(out, export_format)
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    with store_of(ctx) as store:
        _require_scores(store.db, batch)
        summary = export_alerts(store.db, batch, out, fmt)
    if json_output:
        print_json(summary)
        return
    console.print(f"Exported {summary['rows']:,} alert(s) of batch {batch} to {out} ({fmt}).", highlight=False)


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _number(value: Any, unit: str = "") -> str:
    return "" if value is None or _isnan(value) else f"{value:,.0f}{unit}"


def _text(value: Any, width: int) -> str:
    if value is None or _isnan(value):
        return ""
    text = str(value)
    return text if len(text) <= width else text[:width - 1] + "…"
