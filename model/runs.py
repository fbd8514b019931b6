"""Training, scoring and evaluating a batch's Features: the library behind ``sf train``,
``sf score`` and ``sf evaluate`` (and ``sf demo``, which calls the same functions).

Each function reads what it needs from MongoDB with :func:`sf.model.table.load_model_table`,
calls the pure functions (:mod:`training`, :mod:`scoring`, :mod:`evaluation`) and writes the
result (a model directory, the ``Scores`` of a batch, a report folder).

Choices (documented in the README by the lead):

- **Scope.** Rows of establishments whose company is in, or was in, insolvency proceedings at
  the month (``time_til_outcome <= 0``) are left out of training, evaluation and scoring
  (:func:`sf.model.table.in_scope`): their outcome is already known.
- **Variables.** :data:`COMPACT_VARIABLES` by default (``variables=model_variables()`` for all
  ~300), minus the variables that no row of the train window holds (never delivered, e.g. no
  Paydex file, or not yet in those months): they carry no information. The model card lists
  the variables kept.
- **Windows.** :func:`sf.model.training.default_windows`: train on the training companies,
  validate and test on the held-out companies (disjoint by SIREN hash), forward in time.
- **Training data.** Only months whose 18-month horizon is observed at the batch are read.
- **Scoring.** ``score_batch`` scores every in-scope establishment at the **last month** of the
  batch's Features (the month the alert is about), so Scores hold one document per
  establishment and batch.
- **Evaluation.** ``evaluate_batch`` scores the model's **test window** (months never used to
  fit, calibrate or choose it, of the held-out companies only) from the batch's Features, without explanations, and compares
  it with the naive "has URSSAF debt" baseline (and the oracle with a truth file).

Failure modes (:mod:`sf.model.errors`, each with its exit code): :class:`NoFeatures` when the
batch has no Features (or none in the months needed); ``ModelInputError`` (not enough
labelled months, bad values), ``ModelMismatch`` (variables that do not match the model) and
``ModelOptionError`` from the pure functions, with their messages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pymongo.database import Database
from sf.engine.batches import check_batch_key, month_start_of_key
from sf.features.catalogue import VARIABLES
from sklearn.metrics import average_precision_score

from . import model_store
from .corrections import Corrections, apply_corrections
from .errors import ModelInputError, ModelOptionError, NoFeatures
from .evaluation import EvaluationReport, evaluate, urssaf_debt_baseline
from .places import establishment_places
from .scores_store import write_scores
from .scoring import check_columns, score
from .table import feature_month, in_scope, load_model_table
from .training import (
    MonthRange,
    TrainedModel,
    TrainingOptions,
    alert_levels,
    calibrated_logit,
    default_windows,
    design_matrix,
    labelled_mask,
    months_of,
    observed_variables,
    probability,
    train,
)
from .trends import DERIVED

# Columns read besides the model variables: target, scope, grouping and the naive baseline's inputs.
CONTEXT_COLUMNS: tuple[str, ...] = ("outcome", "time_til_outcome", "region")
BASELINE_COLUMNS: tuple[str, ...] = ("ratio_dette", "montant_part_ouvriere", "montant_part_patronale")
MODEL_CARD = model_store.CARD_JSON

# Default model variables: a compact set, one or a few per signal of the generative process
# (README "synthetic deliveries") and of the original's feature groups, so that a few hundred
# positives fit a model without drowning in ~300 sparse, mostly-financial columns:
# headcount level and its 6/12/24-month history (establishment and company), URSSAF debts and
# their 1/3/6/12-month lags, debt ratios, payment delays, company-level debt, short-time work,
# sector, age and legal form, and a few Diane/BdF ratios. ``cotisation`` and
# ``cotisation_moy12m`` are left out: they exist only for establishments that have a debit
# record at some time in their history (training.ZERO_WHEN_MISSING), so their presence tells
# the future.
COMPACT_VARIABLES: tuple[str, ...] = (
    "effectif", "effectif_past_6", "effectif_past_12", "effectif_past_24", "effectif_ent", "effectif_ent_past_6",
    "effectif_ent_past_12", "effectif_entreprise", "nbr_etablissements_connus",
    "montant_part_ouvriere", "montant_part_patronale", "montant_part_patronale_past_1",
    "montant_part_patronale_past_3", "montant_part_patronale_past_6", "montant_part_patronale_past_12",
    "ratio_dette", "ratio_dette_moy12m", "tag_debit", "tag_default", "delai_montant_echeancier",
    "delai_nb_jours_restants", "debit_entreprise",
    "apart_heures_autorisees", "apart_heures_consommees", "apart_heures_consommees_cumulees", "apart_entreprise",
    "ratio_apart",
    "code_naf", "code_ape_niveau2", "age", "age_entreprise", "statut_juridique",
    "paydex_nb_jours", "taux_marge", "excedent_brut_d_exploitation", "rentabilite_nette", "capacite_remboursement",
    "endettement", "liquidite_generale", "autonomie_financiere",
    # Changes and slopes over 3/6/12 months of headcount, debt, debt ratio, delays and short-time
    # work, and the naive debt ranking, computed per SIRET at read time (sf.model.trends).
    *DERIVED,
)


# ----------------------------------------------------------------------------- models on disk

def models_root(home: Path) -> Path:
    """Folder of saved models: ``SF_HOME/models``."""
    return Path(home) / "models"


def default_model_dir(home: Path, batch: str) -> Path:
    """Where ``sf train --until-batch KEY`` saves by default: ``SF_HOME/models/<KEY>``."""
    return models_root(home) / batch


def latest_model_dir(home: Path) -> Path | None:
    """The saved model of the highest batch key under ``SF_HOME/models`` (string order), or None."""
    root = models_root(home)
    if not root.is_dir():
        return None
    candidates = sorted(p for p in root.iterdir() if (p / MODEL_CARD).is_file())
    return candidates[-1] if candidates else None


# ----------------------------------------------------------------------------- train

@dataclass
class TrainSummary:
    """What ``train_batch`` did: the model, where it was saved, the baseline's AUC-PR and counts."""

    model: TrainedModel
    directory: Path
    rows_read: int
    rows_in_scope: int
    variables: list[str]
    dropped_variables: list[str]
    baseline_auc_pr: dict[str, float | None]
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        m = self.model
        candidates = m.metrics["candidates"]
        return {
            "until_batch": m.until_batch, "version": m.version, "chosen": m.kind, "directory": str(self.directory),
            "windows": m.windows.to_dict(), "thresholds": m.thresholds, "training_size": m.training_size,
            "auc_pr": {kind: {w: candidates[kind][w]["auc_pr"] for w in ("validation", "test")} for kind in candidates},
            "positive_rate": {w: candidates[m.kind][w]["positive_rate"] for w in ("validation", "test")},
            "baseline_auc_pr": self.baseline_auc_pr,
            "test_levels": {lv: candidates[m.kind]["test"][lv] for lv in ("high", "moderate")},
            "threshold_choice": m.card.get("threshold_choice", {}),
            "naive_comparison": m.card.get("naive_comparison", {}), "warnings": m.card.get("warnings", []),
            "rows_read": self.rows_read, "rows_in_scope": self.rows_in_scope,
            "variables": len(self.variables), "dropped_variables": self.dropped_variables, "seconds": self.seconds,
        }


def window_rows(table: pd.DataFrame, window: MonthRange) -> np.ndarray:
    """Boolean mask of the rows of ``table`` inside ``window`` (its months and its companies)."""
    return window.select(table)


def _months_before(month: datetime, n: int) -> datetime:
    return (pd.Timestamp(month) - pd.DateOffset(months=n)).to_pydatetime()


def train_batch(db: Database, batch: str, *, out_dir: Path, sf_version: str,
                options: TrainingOptions | None = None, variables: list[str] | None = None) -> TrainSummary:
    """Train on the Features of ``batch`` (forward in time), save the model into ``out_dir``.

    ``NoFeatures`` if the batch has no Features in its labelled months; ``ValueError`` from
    :func:`sf.model.training.train` (e.g. not enough labelled months, saying how many are needed).
    """
    check_batch_key(batch)
    options = options or TrainingOptions()
    t0 = time.monotonic()
    if feature_month(db, batch) is None:
        raise NoFeatures(f"batch {batch} has no Features", f"compute them with sf features --until-batch {batch}")
    variables = list(variables) if variables is not None else list(COMPACT_VARIABLES)
    unknown = [v for v in variables if v not in VARIABLES and v not in DERIVED]
    if unknown:
        raise ModelOptionError(f"unknown variable(s) {', '.join(unknown)} (not in sf.features.catalogue)")
    # Only months whose whole horizon is observed at the batch can be labelled (training.labelled_mask).
    before = _months_before(month_start_of_key(batch), options.horizon_months)
    columns = list(dict.fromkeys([*variables, *CONTEXT_COLUMNS, *BASELINE_COLUMNS]))
    table = load_model_table(db, batch, columns=columns, before=before)
    seconds = {"read": time.monotonic() - t0}
    if table.empty:
        first = feature_month(db, batch, last=False)
        raise NoFeatures(f"batch {batch} has no Features before {before:%Y-%m} (labels need "
                         f"{options.horizon_months} months of hindsight; its Features start "
                         f"{first:%Y-%m})" if first is not None else f"batch {batch} has no Features",
                         f"compute them with sf features --until-batch {batch}")
    rows_read = len(table)
    table = table.loc[in_scope(table)].reset_index(drop=True)
    # The windows are fixed here (as train() would) so that variables never observed in the
    # train window can be left out: they carry no information, and scikit-learn's gradient
    # boosting fails on an all-missing column ("window shape cannot be larger than input array").
    labelled_months = months_of(table.loc[labelled_mask(table, batch, options.horizon_months)])
    windows = default_windows(list(labelled_months.unique()), options)
    kept, dropped = observed_variables(table, windows.train, variables, options)
    t1 = time.monotonic()
    model = train(table, feature_columns=kept, until_batch=batch, sf_version=sf_version, windows=windows,
                  options=options)
    seconds["train"] = time.monotonic() - t1
    baseline = {}
    labelled = table.loc[labelled_mask(table, batch, options.horizon_months)]
    for name, window in (("validation", model.windows.validation), ("test", model.windows.test)):
        rows = labelled.loc[window.select(labelled)]
        y = rows["outcome"].astype(bool).to_numpy()
        baseline[name] = float(average_precision_score(y, urssaf_debt_baseline(rows))) if 0 < y.sum() < len(y) else None
    model.card["baseline"] = {"name": "has URSSAF debt (ratio_dette, else debt amount)", "auc_pr": baseline}
    model.card["scope"] = "rows with time_til_outcome <= 0 (in or past proceedings) left out"
    model_store.save(model, out_dir)
    seconds["total"] = time.monotonic() - t0
    return TrainSummary(model=model, directory=Path(out_dir), rows_read=rows_read, rows_in_scope=len(table),
                        variables=kept, dropped_variables=dropped, baseline_auc_pr=baseline,
                        seconds={k: round(v, 2) for k, v in seconds.items()})


# ----------------------------------------------------------------------------- score

@dataclass
class ScoreSummary:
    """What ``score_batch`` wrote."""

    batch: str
    periode: pd.Timestamp
    model: str
    rows_read: int
    scored: int
    alerts: dict[str, int]
    deleted: int
    seconds: float
    #: With a correction file: :meth:`sf.model.corrections.Corrections.record` (rules, counts, who, when).
    corrections: dict[str, Any] | None = None
    # The model's thresholds with their goal and validation figures (model card "threshold_choice").
    thresholds: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = {"batch": self.batch, "periode": self.periode.strftime("%Y-%m-%d"), "model": self.model,
                "rows_read": self.rows_read, "out_of_scope": self.rows_read - self.scored, "scored": self.scored,
                "alerts": self.alerts, "replaced": self.deleted, "seconds": round(self.seconds, 2),
                "thresholds": self.thresholds}
        if self.corrections is not None:
            data["corrections"] = self.corrections
        return data


def model_input_columns(model: TrainedModel) -> list[str]:
    """Catalogue columns to read to score with ``model``: its variables the catalogue knows (a
    variable it does not know stays absent, and scoring names it as missing) and the scope column."""
    return [c for c in dict.fromkeys([*model.feature_columns, "time_til_outcome"]) if c in VARIABLES or c in DERIVED]


def score_batch(db: Database, batch: str, model: TrainedModel, *, corrections: Corrections | None = None,
                model_dir: Path | None = None) -> ScoreSummary:
    """Score every in-scope establishment at the last month of ``batch``'s Features; replace its Scores.

    With ``corrections`` (:mod:`sf.model.corrections`) the expert rules are applied to the
    model's scores before writing; with ``model_dir`` (the folder ``model`` was loaded from)
    the model card's list of corrections in force is updated for ``batch`` (set, or removed
    when scoring without corrections). ``NoFeatures`` if the batch has none; ``ValueError``
    (from :func:`sf.model.scoring.score`) naming the missing or unexpected variables when the
    model does not fit the Features.
    """
    t0 = time.monotonic()
    last = feature_month(db, batch)
    if last is None:
        raise NoFeatures(f"batch {batch} has no Features", f"compute them with sf features --until-batch {batch}")
    model_columns = model_input_columns(model)
    extra = [c for c in (corrections.columns() if corrections else []) if c not in model_columns]
    table = load_model_table(db, batch, columns=model_columns + extra, periode=last.to_pydatetime())
    rows_read = len(table)
    table = table.loc[in_scope(table)].reset_index(drop=True)
    scores = score(model, table.drop(columns=extra))
    record = None
    if corrections is not None:
        scores, rule_counts = apply_corrections(scores, table, corrections, model.thresholds)
        record = corrections.record(rule_counts, batch=batch)
    # Town, département and region of each establishment, from its registry record (Scores carry them).
    scores = scores.merge(establishment_places(db, batch, scores["siret"]), on="siret", how="left")
    written = write_scores(db, batch, scores)
    if model_dir is not None:
        model_store.record_corrections(model_dir, batch, record)
    counts = scores["alert"].value_counts()
    return ScoreSummary(batch=batch, periode=last, model=model.version, rows_read=rows_read, scored=len(scores),
                        alerts={lv: int(counts.get(lv, 0)) for lv in ("high", "moderate")},
                        deleted=written["deleted"], seconds=time.monotonic() - t0, corrections=record,
                        thresholds=model.card.get("threshold_choice")
                        or {lv: {"threshold": t} for lv, t in model.thresholds.items()})


# ----------------------------------------------------------------------------- evaluate

def probabilities(model: TrainedModel, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(calibrated probability, alert level)`` of every row, without explanations (the same
    numbers as :func:`sf.model.scoring.score`, much faster for whole windows)."""
    check_columns(model, table, ignore_extra=True)
    X = design_matrix(table, model.numeric_columns, model.categorical_columns)
    p = probability(calibrated_logit(model.estimator, model.calibration, X))
    return p, alert_levels(p, model.thresholds)


def read_truth(path: Path, since: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
    """Rows of a ``sf synth`` truth file (``siret, periode, oracle_p18, outcome_18``) in [since, until].

    ``ValueError`` naming the file when it cannot be read or lacks a column.
    """
    import pyarrow.dataset as ds

    columns = ["siret", "periode", "oracle_p18", "outcome_18"]
    try:
        dataset = ds.dataset(path, format="parquet")
        missing = [c for c in columns if c not in dataset.schema.names]
        if missing:
            raise ModelInputError(f"truth file {path}: no column(s) {', '.join(missing)}")
        periode_type = dataset.schema.field("periode").type
        start, end = since.tz_convert("UTC"), until.tz_convert("UTC")
        if getattr(periode_type, "tz", None) is None:
            start, end = start.tz_localize(None), end.tz_localize(None)
        table = dataset.to_table(columns=columns, filter=(ds.field("periode") >= start) & (ds.field("periode") <= end))
    except (OSError, ValueError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith("truth file"):
            raise
        raise ModelInputError(f"truth file {path}: cannot be read ({exc})") from exc
    frame = table.to_pandas()
    frame["siret"] = frame["siret"].astype(str)
    return frame


def evaluate_batch(db: Database, batch: str, model: TrainedModel, *, out_dir: Path,
                   truth_path: Path | None = None) -> tuple[EvaluationReport, dict[str, Any]]:
    """Score the model's test window from ``batch``'s Features and write the evaluation report.

    Returns the report and a summary (window, rows, seconds). ``NoFeatures`` if the batch has no
    Features in that window; ``ValueError`` from the evaluation (e.g. no labelled row).
    """
    t0 = time.monotonic()
    window = model.windows.test
    since = pd.Timestamp(window.start, tz="UTC")
    until = pd.Timestamp(window.end, tz="UTC")
    columns = [c for c in dict.fromkeys([*model.feature_columns, *CONTEXT_COLUMNS, *BASELINE_COLUMNS])
               if c in VARIABLES or c in DERIVED]
    table = load_model_table(db, batch, columns=columns, since=since.to_pydatetime(),
                               before=(until + pd.DateOffset(months=1)).to_pydatetime())
    if table.empty:
        raise NoFeatures(f"batch {batch} has no Features in the model's test window "
                         f"{window.start:%Y-%m} … {window.end:%Y-%m}",
                         f"compute them with sf features --until-batch {batch}")
    rows_read = len(table)
    # Only the test window's companies: with a company split the training companies' rows
    # of these months share label horizons with their train rows (training module docstring).
    table = table.loc[in_scope(table) & window.select(table)].reset_index(drop=True)
    p, alerts = probabilities(model, table)
    table = table.assign(score=p, alert=pd.Series(alerts, index=table.index, dtype=object))
    truth = read_truth(truth_path, since, until) if truth_path is not None else None
    report = evaluate(table, baseline=urssaf_debt_baseline, truth=truth, out_dir=out_dir)
    summary = {"batch": batch, "model": model.version,
               "window": {"start": f"{window.start:%Y-%m-%d}", "end": f"{window.end:%Y-%m-%d}"},
               "rows_read": rows_read, "rows_in_scope": len(table), "rows_evaluated": report.rows,
               "label": report.label, "report": str(report.report_path), "seconds": round(time.monotonic() - t0, 2)}
    return report, summary
