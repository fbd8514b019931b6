"""`sf train`, `sf score`, `sf alerts`, `sf evaluate`: models over a batch's Features.

Thin commands over :mod:`sf.model.runs` (train, score, evaluate) and
:mod:`sf.model.alerts` (the alert list); heavy imports stay inside the functions so that
`sf --help` stays fast.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer
from rich import box
from rich.table import Table
from sf.engine import __version__
from sf.engine.errors import UsageError
from sf.engine.journal import journal_run

from .common import (
    break_lock_option, console, json_option, print_json, settings_of, silent_option, store_of,
)

if TYPE_CHECKING:
    from sf.model.training import TrainedModel

#: Alert levels (sf.model.scores_store.ALERT_LEVELS, not imported here: it pulls pandas in).
AlertLevel = Literal["high", "moderate"]
#: Output formats of sf alerts.
Format = Literal["table", "csv", "json"]

def _fmt(value: Any, digits: int = 3) -> str:
    return "–" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def _check_key(option: str, key: str) -> None:
    from sf.engine.batches import check_batch_key

    try:
        check_batch_key(key)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def load_model(ctx: typer.Context, model_dir: Path | None) -> TrainedModel:
    """The model of ``--model DIR``, or the latest one under SF_HOME/models; UsageError if none."""
    from sf.model import model_store
    from sf.model.runs import latest_model_dir, models_root

    home = settings_of(ctx).home
    directory = model_dir if model_dir is not None else latest_model_dir(home)
    if directory is None:
        raise UsageError(f"no model under {models_root(home)}", "train one with sf train --until-batch KEY, "
                         "or give --model DIR")
    if model_dir is not None and not model_dir.exists():
        raise UsageError(f"--model {model_dir}: no such folder", "give the folder sf train wrote (it holds "
                         "model.skops), e.g. SF_HOME/models/KEY")
    if model_dir is not None and model_dir.is_dir() and not (model_dir / model_store.MODEL_FILE).is_file():
        raise UsageError(f"--model {model_dir}: no {model_store.MODEL_FILE} in this folder",
                         "give the folder sf train wrote, e.g. SF_HOME/models/KEY")
    return model_store.load(directory)  # ModelFileError (exit 2) names the folder and what is wrong


def train(ctx: typer.Context,
          until_batch: str = typer.Option(..., "--until-batch", "-b", help="Batch whose Features train the model."),
          out: Path | None = typer.Option(None, "--out", help="Model folder [default: SF_HOME/models/<KEY>]."),
          test_months: int = typer.Option(6, "--test-months", min=1, help="Latest labelled months reported on."),
          validation_months: int = typer.Option(6, "--validation-months", min=1,
                                                help="Labelled months before them: calibration, thresholds, choice."),
          min_train_months: int = typer.Option(6, "--min-train-months", min=1, help="Fewest train months accepted."),
          hgb_max_iter: int = typer.Option(200, "--hgb-max-iter", min=1, help="Boosting iterations of the HGB model."),
          json_output: bool = json_option("Print the summary as JSON."),
          silent: bool = silent_option(),
          break_lock: bool = break_lock_option()) -> None:
    """Train the two candidate models forward in time on a batch's Features and save the better one.

    Train on older months of 70 % of the companies; calibrate, tune and choose on a later
    validation window, and report on the latest labelled window (the test window), both on the
    other 30 % (held out by a hash of the SIREN, so no establishment is on both sides). Labels
    need 18 months of hindsight, so the protocol needs train + validation + test labelled
    months (18 by default) plus the 18 unlabelled months before the batch. Saves model.skops
    and the model card (JSON and Markdown).
    Exit code 2 when the batch has no Features, 3 when there are not enough labelled months.

    Example:

        sf train --until-batch 2401

        sf train --until-batch 2401 --out ./models/2401 --json
    """
    from sf.model.runs import default_model_dir, train_batch
    from sf.model.training import TrainingOptions

    _check_key("--until-batch", until_batch)
    settings = settings_of(ctx)
    directory = out if out is not None else default_model_dir(settings.home, until_batch)
    options = TrainingOptions(test_months=test_months, validation_months=validation_months,
                              min_train_months=min_train_months, hgb_max_iter=hgb_max_iter)
    args = {"until_batch": until_batch, "out": directory, "test_months": test_months,
            "validation_months": validation_months, "min_train_months": min_train_months,
            "hgb_max_iter": hgb_max_iter}
    with store_of(ctx) as store, journal_run(store.db, "train", args, batch=until_batch, destructive=True,
                                             break_lock=break_lock) as run:
        with console.status("training…", spinner="dots") if not (silent or json_output) else _nothing():
            summary = train_batch(store.db, until_batch, out_dir=directory, sf_version=__version__, options=options)
        data = summary.as_dict()
        run.counts = {k: data[k] for k in ("version", "chosen", "auc_pr", "baseline_auc_pr", "thresholds",
                                           "windows", "training_size", "rows_read", "rows_in_scope", "variables",
                                           "warnings")}
    if json_output:
        print_json(data)
        return
    print_train_summary(data)


def print_train_summary(data: dict[str, Any]) -> None:
    """Windows, AUC-PR of both models and the baseline, the choice and thresholds."""
    windows = Table("window", "months", "rows", "positives", title=f"Model {data['version']}")
    for name, window in data["windows"].items():
        size = data["training_size"][name]
        windows.add_row(name, f"{window['start'][:7]} … {window['end'][:7]}", f"{size['rows']:,}",
                        f"{size['positives']:,}")
    console.print(windows)
    scores = Table("AUC-PR", "validation", "test")
    for kind, values in data["auc_pr"].items():
        chosen = " (chosen)" if kind == data["chosen"] else ""
        scores.add_row(f"{kind}{chosen}", _fmt(values["validation"]), _fmt(values["test"]))
    scores.add_row("baseline: has URSSAF debt", _fmt(data["baseline_auc_pr"]["validation"]),
                   _fmt(data["baseline_auc_pr"]["test"]))
    scores.add_row("positive rate", _fmt(data["positive_rate"]["validation"]), _fmt(data["positive_rate"]["test"]))
    console.print(scores)
    levels = data["test_levels"]
    for level, choice in data.get("threshold_choice", {}).items():
        goal = choice["goal_alerts_per_region_month"]
        console.print(f"Threshold {level}: {choice['threshold']:.4f}, goal {goal[0]:g}–{goal[1]:g} alerts per region "
                      f"and month; validation {choice['alerts_per_region_month']:.1f} per region and month, precision "
                      f"{_fmt(choice['precision'])}; test precision {_fmt(levels[level]['precision'])}, recall "
                      f"{_fmt(levels[level]['recall'])}.")
    for warning in data.get("warnings", []):
        console.print(f"[bold red]WARNING:[/] {warning}")
    console.print(f"{data['variables']} variables ({len(data['dropped_variables'])} never observed, left out), "
                  f"{data['rows_in_scope']:,} rows in scope of {data['rows_read']:,} read; saved to "
                  f"{data['directory']} in {data['seconds'].get('total', 0):.1f} s.")


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def score(ctx: typer.Context,
          batch: str = typer.Option(..., "--batch", "-b", help="Batch to score."),
          model_dir: Path | None = typer.Option(None, "--model", help="Model folder [default: latest under "
                                                                         "SF_HOME/models]."),
          json_output: bool = json_option("Print the summary as JSON."),
          silent: bool = silent_option(),
          break_lock: bool = break_lock_option()) -> None:
    """Score every establishment in scope at the batch's last month and replace the batch's Scores.

    One Scores document per establishment and batch: calibrated probability, alert level
    (high: argmax F0.5 threshold, moderate: argmax F2), contributions by theme and the top
    variables. Establishments whose company is in (or was in) insolvency proceedings are not
    scored. Exit code 2 when the batch has no Features or the model's variables differ.

    Example:

        sf score --batch 2401

        sf score --batch 2401 --model ./models/2401
    """
    from sf.model.runs import score_batch

    _check_key("--batch", batch)
    model = load_model(ctx, model_dir)
    args = {"batch": batch, "model": model.version}
    with store_of(ctx) as store, journal_run(store.db, "score", args, batch=batch, destructive=True,
                                             break_lock=break_lock) as run:
        with console.status("scoring…", spinner="dots") if not (silent or json_output) else _nothing():
            summary = score_batch(store.db, batch, model)
        data = summary.as_dict()
        run.counts = data
    if json_output:
        print_json(data)
        return
    console.print(f"Scored {data['scored']:,} establishments of batch {batch} at {data['periode'][:7]} with model "
                  f"{data['model']} ({data['out_of_scope']:,} in proceedings left out): {data['alerts']['high']:,} "
                  f"high, {data['alerts']['moderate']:,} moderate alerts; {data['replaced']:,} previous scores "
                  f"replaced; {data['seconds']:.1f} s.")


def alerts(ctx: typer.Context,
           batch: str = typer.Option(..., "--batch", "-b", help="Scored batch."),
           region: str | None = typer.Option(None, "--region", help="INSEE region code (e.g. 53) or name."),
           department: str | None = typer.Option(None, "--department", help="Département code (e.g. 35, 2A)."),
           min_effectif: float | None = typer.Option(None, "--min-effectif", min=0, help="Smallest headcount."),
           top: int | None = typer.Option(None, "--top", min=1, help="Only the N most at-risk."),
           level: AlertLevel | None = typer.Option(None, "--level", help="Only this level."),
           output_format: Format = typer.Option("table", "--format", help="Output format.")) -> None:
    """List the establishments on alert, most at risk first, with the reasons in words.

    Columns: rank, SIRET, SIREN, company name, commune, département, region, sector (NAF
    label), headcount, URSSAF debt (employee + employer shares, EUR), score, alert level,
    reasons, month. Filters apply before --top.

    Example:

        sf alerts --batch 2401 --top 10

        sf alerts --batch 2401 --region 53 --min-effectif 10 --format csv > alertes.csv
    """
    from sf.engine.collections import SCORES
    from sf.model.alerts import alert_list

    _check_key("--batch", batch)
    with store_of(ctx) as store:
        if store.db[SCORES].count_documents({"_id.batch": batch}, limit=1) == 0:
            raise UsageError(f"batch {batch} has no Scores", f"score it with sf score --batch {batch}")
        frame = alert_list(store.db, batch, region=region, departement=department, min_effectif=min_effectif,
                           top=top, levels=[level] if level else ("high", "moderate"))
    print_alerts(frame, output_format, batch)


def print_alerts(frame: Any, output_format: str, batch: str) -> None:
    """The alert list as a rich table, CSV or JSON on standard output."""
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
    for row in frame.itertuples(index=False):
        console.print(f"{row.rang}. {row.raisons}", highlight=False)


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _number(value: Any, unit: str = "") -> str:
    return "" if value is None or _isnan(value) else f"{value:,.0f}{unit}"


def _text(value: Any, width: int) -> str:
    if value is None or _isnan(value):
        return ""
    text = str(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def evaluate(ctx: typer.Context,
             batch: str = typer.Option(..., "--batch", "-b", help="Batch whose Features hold the test window."),
             model_dir: Path | None = typer.Option(None, "--model", help="Model folder [default: latest under "
                                                                            "SF_HOME/models]."),
             truth: Path | None = typer.Option(None, "--truth", help="truth.parquet of sf synth: adds the oracle."),
             out: Path | None = typer.Option(None, "--out", help="Report folder [default: SF_HOME/reports/<KEY>]."),
             json_output: bool = json_option("Print the metrics as JSON."),
             silent: bool = silent_option()) -> None:
    """Write the evaluation report of the model on its test window (Markdown + PNG figures).

    The model scores the test window (the latest labelled months, never used to fit,
    calibrate or choose it) from the batch's Features; the report compares it with the naive
    "has URSSAF debt" baseline on the same rows: precision-recall and ROC curves, reliability
    plot, AUC-PR, ROC AUC, Brier score, calibration error, precision and recall at each alert
    level, precision of the top 5 and top 10 per region and month. With --truth (the
    truth.parquet of sf synth) the oracle is added side by side and the model/oracle ratios
    are printed.

    Example:

        sf evaluate --batch 2401

        sf evaluate --batch 2312 --truth ./deliveries/truth.parquet --out ./report
    """
    from sf.model.evaluation import format_ratios
    from sf.model.runs import evaluate_batch

    _check_key("--batch", batch)
    if truth is not None and not truth.is_file():
        raise UsageError(f"--truth {truth}: file not found")
    model = load_model(ctx, model_dir)
    directory = out if out is not None else settings_of(ctx).home / "reports" / batch
    args = {"batch": batch, "model": model.version, "truth": truth, "out": directory}
    with store_of(ctx) as store, journal_run(store.db, "evaluate", args, batch=batch) as run:
        with console.status("evaluating…", spinner="dots") if not (silent or json_output) else _nothing():
            report, summary = evaluate_batch(store.db, batch, model, out_dir=directory, truth_path=truth)
        run.counts = {**summary, "metrics": report.metrics, "ratios": report.ratios}
    if json_output:
        print_json({**summary, "metrics": report.metrics, "ratios": report.ratios, "notes": report.notes})
        return
    print_evaluation(report, summary)
    if report.ratios:
        console.print(format_ratios(report))


def print_evaluation(report: Any, summary: dict[str, Any]) -> None:
    """Headline metrics of each scorer, side by side."""
    scorers = list(report.metrics)
    table = Table("metric", *scorers, title=f"Evaluation of {summary['model']} on "
                  f"{summary['window']['start'][:7]} … {summary['window']['end'][:7]} ({report.rows:,} rows, "
                  f"label {report.label})")
    rows = [("positive rate", lambda m: m["positive_rate"]), ("AUC-PR", lambda m: m["auc_pr"]),
            ("ROC AUC", lambda m: m["roc_auc"]), ("ECE", lambda m: m.get("ece")),
            ("high: precision", lambda m: m["high"]["precision"]), ("high: recall", lambda m: m["high"]["recall"]),
            ("moderate: precision", lambda m: m["moderate"]["precision"]),
            ("moderate: recall", lambda m: m["moderate"]["recall"]),
            ("top 5 per region and month: precision", lambda m: m["top5_region_month"]["mean_precision"])]
    for label, get in rows:
        table.add_row(label, *[_fmt(get(report.metrics[s])) for s in scorers])
    console.print(table)
    for note in report.notes:
        console.print(f"note: {note}")
    console.print(f"Report: {report.report_path}")
