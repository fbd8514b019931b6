"""`sf train`, `sf score`, `sf evaluate`: models over a batch's Features (`sf alerts`: :mod:`sf.cli.alerts`).

Thin commands over :mod:`sf.model.operations` (train, score, evaluate: journaled); heavy
imports stay inside the functions so that `sf --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from sf.engine.errors import UsageError

from .common import (
    break_lock_option, check_key, console, json_option, print_json, settings_of, silent_option, store_of,
)

if TYPE_CHECKING:
    from sf.model.training import TrainedModel


def _fmt(value: Any, digits: int = 3) -> str:
    return "–" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def load_model(ctx: typer.Context, model_dir: Path | None) -> TrainedModel:
    """The model of ``--model DIR``, or the latest one under SF_HOME/models; UsageError if none."""
    return load_model_and_folder(ctx, model_dir)[0]


def load_model_and_folder(ctx: typer.Context, model_dir: Path | None) -> tuple[TrainedModel, Path]:
    """:func:`load_model` and the folder it was loaded from (``--model DIR/model.skops`` gives
    DIR): the folder whose model card ``sf score --corrections`` updates."""
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
    model = model_store.load(directory)  # ModelFileError (exit 2) names the folder and what is wrong
    return model, directory.parent if directory.is_file() else directory


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
    from sf.model.operations import train_model
    from sf.model.runs import default_model_dir
    from sf.model.training import TrainingOptions

    check_key("--until-batch", until_batch)
    settings = settings_of(ctx)
    directory = out if out is not None else default_model_dir(settings.home, until_batch)
    options = TrainingOptions(test_months=test_months, validation_months=validation_months,
                              min_train_months=min_train_months, hgb_max_iter=hgb_max_iter)
    with store_of(ctx) as store, \
            console.status("training…", spinner="dots") if not (silent or json_output) else _nothing():
        summary = train_model(store.db, until_batch, out_dir=directory, options=options, break_lock=break_lock)
    data = summary.as_dict()
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
          corrections_file: Path | None = typer.Option(None, "--corrections", help="Expert correction file "
                                                       "(JSON Lines, README \"Expert corrections\") applied to "
                                                       "the scores."),
          json_output: bool = json_option("Print the summary as JSON."),
          silent: bool = silent_option(),
          break_lock: bool = break_lock_option()) -> None:
    """Score every establishment in scope at the batch's last month and replace the batch's Scores.

    One Scores document per establishment and batch: calibrated probability, alert level
    (high: argmax F0.5 threshold, moderate: argmax F2), contributions by theme and the top
    variables. Establishments whose company is in (or was in) insolvency proceedings are not
    scored. With --corrections, an expert's rules (multiply a theme's contribution, cap or
    raise the level, for a period, sectors or a condition) are applied; the Scores they change
    keep the score and level before, and the model card lists the corrections in force.
    Exit code 2 when the batch has no Features, the model's variables differ or the
    correction file has a bad rule (its line is named).

    Example:

        sf score --batch 2401

        sf score --batch 2401 --model ./models/2401

        sf score --batch 2401 --corrections corrections_crise.jsonl
    """
    from sf.model.corrections import load_corrections
    from sf.model.operations import score_establishments

    check_key("--batch", batch)
    model, directory = load_model_and_folder(ctx, model_dir)
    corrections = load_corrections(corrections_file, model) if corrections_file is not None else None
    with store_of(ctx) as store, \
            console.status("scoring…", spinner="dots") if not (silent or json_output) else _nothing():
        summary = score_establishments(store.db, batch, model, corrections=corrections, model_dir=directory,
                                       break_lock=break_lock)
    data = summary.as_dict()
    if json_output:
        print_json(data)
        return
    console.print(f"Scored {data['scored']:,} establishments of batch {batch} at {data['periode'][:7]} with model "
                  f"{data['model']} ({data['out_of_scope']:,} in proceedings left out): {data['alerts']['high']:,} "
                  f"high, {data['alerts']['moderate']:,} moderate alerts; {data['replaced']:,} previous scores "
                  f"replaced; {data['seconds']:.1f} s.")
    for rule in (data.get("corrections") or {}).get("rules", []):
        console.print(f"Correction {rule['id']} (line {rule['line']}, {rule['author']}): {rule['matched']:,} in scope, "
                      f"{rule['changed']:,} changed.", markup=False, highlight=False)


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
    from sf.model.operations import evaluate_model

    check_key("--batch", batch)
    if truth is not None and not truth.is_file():
        raise UsageError(f"--truth {truth}: file not found")
    model = load_model(ctx, model_dir)
    directory = out if out is not None else settings_of(ctx).home / "reports" / batch
    with store_of(ctx) as store, \
            console.status("evaluating…", spinner="dots") if not (silent or json_output) else _nothing():
        report, summary = evaluate_model(store.db, batch, model, out_dir=directory, truth_path=truth)
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
