"""The model steps as library operations, journaled as their commands are: ``sf train``,
``sf score``, ``sf evaluate`` and ``sf demo`` call :func:`train_model`,
:func:`score_establishments` and :func:`evaluate_model`, thin wrappers over
:mod:`sf.model.runs` that open nothing (the caller passes the database)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pymongo.database import Database
from sf.engine import __version__
from sf.engine.journal import journal_run

from .corrections import Corrections
from .evaluation import EvaluationReport
from .runs import ScoreSummary, TrainSummary, evaluate_batch, score_batch, train_batch
from .training import TrainedModel, TrainingOptions

#: Fields of the training summary kept as the run's Journal counts (the rest is in the model card).
TRAIN_COUNTS = ("version", "chosen", "auc_pr", "baseline_auc_pr", "thresholds", "windows", "training_size",
                "rows_read", "rows_in_scope", "variables", "warnings")


def train_model(db: Database, until_batch: str, *, out_dir: Path, options: TrainingOptions | None = None,
                break_lock: bool = False) -> TrainSummary:
    """Train the candidate models forward in time on the Features of ``until_batch`` and save
    the chosen one into ``out_dir`` (:func:`~.runs.train_batch`).

    Inputs: ``options`` (default :class:`~.training.TrainingOptions`: windows, horizon,
    hyperparameter grids); ``break_lock`` takes over a dead run's lock.

    Output: the :class:`~.runs.TrainSummary` (model, folder, metrics, baseline).

    Journal: one run ``train`` (args ``until_batch, out, test_months, validation_months,
    min_train_months, hgb_max_iter``; the batch; the lock; counts :data:`TRAIN_COUNTS`).
    Failure modes: :class:`~.errors.NoFeatures`, :class:`~.errors.ModelOptionError`,
    :class:`~.errors.ModelInputError`, ``ValueError`` from the trainer (too few labelled
    months, saying how many are needed), :class:`~sf.engine.errors.LockHeld`; each leaves a
    failed run.
    """
    options = options or TrainingOptions()
    args = {"until_batch": until_batch, "out": out_dir, "test_months": options.test_months,
            "validation_months": options.validation_months, "min_train_months": options.min_train_months,
            "hgb_max_iter": options.hgb_max_iter}
    with journal_run(db, "train", args, batch=until_batch, destructive=True, break_lock=break_lock) as run:
        summary = train_batch(db, until_batch, out_dir=out_dir, sf_version=__version__, options=options)
        data = summary.as_dict()
        run.counts = {k: data[k] for k in TRAIN_COUNTS}
    return summary


def score_establishments(db: Database, batch: str, model: TrainedModel, *, corrections: Corrections | None = None,
                         model_dir: Path | None = None, break_lock: bool = False) -> ScoreSummary:
    """Score every establishment in scope at the last month of ``batch``'s Features with
    ``model`` and replace the batch's Scores (:func:`~.runs.score_batch`, which applies the
    expert ``corrections`` and records them in the card of ``model_dir``).

    Output: the :class:`~.runs.ScoreSummary` (also the run's counts).

    Journal: one run ``score`` (args ``batch, model`` (its version), and with corrections
    their file and SHA-256; the batch; the lock).
    Failure modes: :class:`~.errors.NoFeatures`, ``ValueError`` naming the variables the
    model misses or does not expect, :class:`~sf.engine.errors.LockHeld`; each leaves a
    failed run.
    """
    args: dict[str, Any] = {"batch": batch, "model": model.version}
    if corrections is not None:
        args.update(corrections=corrections.path, corrections_sha256=corrections.sha256)
    with journal_run(db, "score", args, batch=batch, destructive=True, break_lock=break_lock) as run:
        summary = score_batch(db, batch, model, corrections=corrections, model_dir=model_dir)
        run.counts = summary.as_dict()
    return summary


def evaluate_model(db: Database, batch: str, model: TrainedModel, *, out_dir: Path,
                   truth_path: Path | None = None) -> tuple[EvaluationReport, dict[str, Any]]:
    """Write the evaluation report of ``model`` on its test window, scored from ``batch``'s
    Features, into ``out_dir`` (:func:`~.runs.evaluate_batch`); with ``truth_path`` (a ``sf
    synth`` truth file) the oracle is compared too.

    Output: ``(report, summary)`` as :func:`~.runs.evaluate_batch` returns them.

    Journal: one run ``evaluate`` (args ``batch, model, truth, out``; the batch; no lock: it
    changes no data) whose counts are the summary with the metrics and ratios. Failure modes:
    :class:`~.errors.NoFeatures` (nothing in the test window), ``ValueError`` from the
    evaluation (no labelled row) or an unreadable truth file; each leaves a failed run.
    """
    args = {"batch": batch, "model": model.version, "truth": truth_path, "out": out_dir}
    with journal_run(db, "evaluate", args, batch=batch) as run:
        report, summary = evaluate_batch(db, batch, model, out_dir=out_dir, truth_path=truth_path)
        run.counts = {**summary, "metrics": report.metrics, "ratios": report.ratios}
    return report, summary
