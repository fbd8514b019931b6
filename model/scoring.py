"""Scoring, alert levels and explanations by theme (docs/features.md §5.3–5.5).

``score(model, table)`` gives, per row: the calibrated probability of the target (``score``), the
alert level (``"high"`` / ``"moderate"`` / ``None``), ``reasons`` (theme → contribution) and
``top_variables`` (the 5 variables with the largest absolute contribution, most risk-increasing first).

Contributions are in calibrated log-odds, relative to a typical establishment of the train window:

- logistic regression: exact, ``slope × coefficient × (transformed value − training mean)``
  summed over the variable's columns, then over its theme (docs/features.md §5.4); the theme
  contributions plus a constant add up to the calibrated log-odds.
- gradient boosting: baseline Shapley values over the (at most 5) themes, computed exactly from
  the 2^T coalitions where each theme's variables take either the row's values or the reference
  row's; they add up to ``logit(score) − logit(score of the reference row)``. Per variable:
  the drop in log-odds when that one variable is set to its reference value (occlusion).

Failure mode: ``ValueError`` naming the missing and the unexpected variables when the table's
columns do not match the model's, or naming a column whose values are not of the trained type.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from .errors import ModelInputError, ModelMismatch
from .themes import THEME_LABELS, THEMES
from .training import (TrainedModel, alert_levels, calibrated_logit, design_matrix, logistic_column_variables,
                       probability)

# Columns of a Features table that are never model variables: identifiers, the target and its
# by-products, labels and free text. Anything else in the table that the model does not use is
# reported as an unexpected variable (a model trained on other variables must not score silently).
NON_FEATURE_COLUMNS: frozenset[str] = frozenset({
    "_id", "siret", "siren", "periode", "batch", "outcome", "time_til_outcome", "time_til_failure",
    "time_til_default", "tag_failure", "etat_proc_collective", "date_proc_collective", "random_order",
    "raison_sociale", "libelle_naf", "libelle_ape2", "libelle_ape3", "libelle_ape4", "libelle_ape5",
    "compte_urssaf", "commune", "ville", "region", "score", "alert",
})
TOP_VARIABLES = 5
CHUNK_ROWS = 50_000
EXPLAIN_CELLS = 20_000_000  # cells (rows x columns) of one stacked explanation frame, ~160 MB


def check_columns(model: TrainedModel, table: pd.DataFrame, *, ignore_extra: bool = False) -> None:
    """``ModelMismatch`` listing the model variables missing from ``table`` and the table's unexpected ones.

    Unexpected = a column that is neither a model variable nor in ``NON_FEATURE_COLUMNS``;
    ``ignore_extra=True`` accepts them (for tables carrying other, unrelated columns).
    """
    for column in ("siret", "siren", "periode"):
        if column not in table.columns:
            raise ModelInputError(f"table to score has no {column!r} column")
    expected = set(model.feature_columns)
    missing = [c for c in model.feature_columns if c not in table.columns]
    extra = [] if ignore_extra else [c for c in table.columns if c not in expected and c not in NON_FEATURE_COLUMNS]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing variable(s): {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected variable(s): {', '.join(map(str, extra))}")
        raise ModelMismatch(f"the table's variables do not match model {model.version} "
                            f"(trained on {len(model.feature_columns)} variables): " + "; ".join(parts),
                            "train a model on these Features, or give --model")
    for column in model.numeric_columns:
        dtype = table[column].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype) or dtype == object):
            raise ModelMismatch(f"variable {column!r} was numeric at training but is {dtype} in the table to score")


def _model_input(model: TrainedModel, table: pd.DataFrame) -> pd.DataFrame:
    return design_matrix(table, model.numeric_columns, model.categorical_columns)


def _reference_frame(model: TrainedModel, X: pd.DataFrame) -> pd.DataFrame:
    """``X`` with every column replaced by the model's reference value (same dtypes)."""
    ref = X.copy()
    for column in X.columns:
        value = model.reference.get(column)
        ref[column] = np.nan if value is None else value
    return ref


def _logistic_contributions(model: TrainedModel, X: pd.DataFrame) -> pd.DataFrame:
    estimator = model.estimator
    variables = logistic_column_variables(estimator, model.numeric_columns, model.categorical_columns)
    transformed = np.asarray(estimator.named_steps["prep"].transform(X), dtype=float)
    coef = estimator.named_steps["model"].coef_[0]
    centre = np.asarray(model.logistic_centre, dtype=float)
    columns = model.calibration[0] * coef * (transformed - centre)
    by_column = pd.DataFrame(columns, index=X.index, columns=range(len(variables)))
    grouped = by_column.T.groupby(np.asarray(variables)).sum().T
    return grouped.reindex(columns=model.feature_columns, fill_value=0.0)


def _stacked_logits(model: TrainedModel, frames: list[pd.DataFrame]) -> list[np.ndarray]:
    """Calibrated log-odds of several equally long frames in one model call (one call per frame
    costs far more: each prediction pays the pipeline's and the thread pool's fixed overhead)."""
    logits = calibrated_logit(model.estimator, model.calibration, pd.concat(frames, ignore_index=True))
    return np.split(logits, len(frames))


def _hgb_contributions(model: TrainedModel, X: pd.DataFrame, logit: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exact baseline Shapley values of the themes (2^T coalitions of themes, each theme's variables
    taking the row's or the reference row's values) and per-variable occlusion contributions."""
    reference = _reference_frame(model, X)
    themes = [t for t in THEMES if any(model.themes[c] == t for c in model.feature_columns)]
    columns_of = {t: [c for c in model.feature_columns if model.themes[c] == t] for t in themes}
    coalitions = [frozenset(c) for size in range(len(themes) + 1) for c in combinations(themes, size)]
    frames = []
    for coalition in coalitions:
        mixed = reference.copy()
        for theme in coalition:
            mixed[columns_of[theme]] = X[columns_of[theme]]
        frames.append(mixed)
    for column in model.feature_columns:
        occluded = X.copy()
        occluded[column] = reference[column]
        frames.append(occluded)
    logits = _stacked_logits(model, frames)
    value = dict(zip(coalitions, logits[:len(coalitions)]))
    n = len(themes)
    shapley = {}
    for theme in themes:
        others = [t for t in themes if t != theme]
        total = np.zeros(len(X))
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for coalition in combinations(others, size):
                s = frozenset(coalition)
                total += weight * (value[s | {theme}] - value[s])
        shapley[theme] = total
    occlusion = {column: logit - logits[len(coalitions) + i] for i, column in enumerate(model.feature_columns)}
    return pd.DataFrame(shapley, index=X.index), pd.DataFrame(occlusion, index=X.index)


def explain(model: TrainedModel, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """``(calibrated log-odds, contributions by theme, contributions by variable)`` for design matrix ``X``."""
    logit = calibrated_logit(model.estimator, model.calibration, X)
    if model.kind == "logistic":
        by_variable = _logistic_contributions(model, X)
        by_theme = by_variable.T.groupby(pd.Series(model.themes)[by_variable.columns].to_numpy()).sum().T
    else:
        by_theme, by_variable = _hgb_contributions(model, X, logit)
    by_theme = by_theme.reindex(columns=[t for t in THEMES if t in set(model.themes.values())], fill_value=0.0)
    return logit, by_theme, by_variable


def _top_variables(row: np.ndarray, names: np.ndarray, themes: dict[str, str]) -> list[dict[str, Any]]:
    order = np.argsort(-np.abs(row), kind="stable")[:TOP_VARIABLES]
    chosen = sorted(order, key=lambda i: -row[i])
    return [{"name": str(names[i]), "theme": themes[str(names[i])], "contribution": round(float(row[i]), 4)}
            for i in chosen if row[i] != 0]


def score(model: TrainedModel, table: pd.DataFrame, *, ignore_extra: bool = False) -> pd.DataFrame:
    """Score every row of ``table`` (a Features table with ``siret``, ``siren``, ``periode`` and the
    model's variables).

    Returns a DataFrame (same index) with ``siret, siren, periode, score, alert, reasons,
    top_variables, model``. ``ValueError`` when the variables do not match (see ``check_columns``).
    """
    check_columns(model, table, ignore_extra=ignore_extra)
    pieces = []
    names = np.asarray(model.feature_columns)
    # Gradient-boosting explanations evaluate 2^T + n_variables copies of each chunk at once: bound that.
    rows = CHUNK_ROWS if model.kind == "logistic" else max(200, EXPLAIN_CELLS // ((32 + len(names)) * len(names)))
    for start in range(0, len(table), rows):
        chunk = table.iloc[start:start + rows]
        X = _model_input(model, chunk)
        logit, by_theme, by_variable = explain(model, X)
        p = probability(logit)
        theme_names = list(by_theme.columns)
        theme_values = by_theme.to_numpy()
        variable_values = by_variable[model.feature_columns].to_numpy()
        pieces.append(pd.DataFrame({
            "siret": chunk["siret"].astype(str).to_numpy(),
            "siren": chunk["siren"].astype(str).to_numpy(),
            "periode": chunk["periode"],  # index-aligned: keeps the input dtype (tz-aware UTC stays tz-aware)
            "score": p,
            # object dtype keeps None (null in MongoDB); pandas would otherwise infer strings with NaN.
            "alert": pd.Series(alert_levels(p, model.thresholds), index=chunk.index, dtype=object),
            "reasons": [{t: round(float(v), 4) for t, v in zip(theme_names, row)} for row in theme_values],
            "top_variables": [_top_variables(row, names, model.themes) for row in variable_values],
            "model": model.version,
        }, index=chunk.index))
    if not pieces:
        return pd.DataFrame(columns=["siret", "siren", "periode", "score", "alert", "reasons", "top_variables",
                                     "model"])
    return pd.concat(pieces)


# Below this absolute contribution (log-odds) a theme is not worth mentioning.
WORDS_MIN_CONTRIBUTION = 0.05


def explain_in_words(reasons: dict[str, float], top_variables: list[dict[str, Any]]) -> str:
    """Short French sentence: the themes raising the risk (with their main variables), then those lowering it.

    Example: ``"Risque accru par : dettes et délais URSSAF (ratio_dette), effectif. Risque atténué par :
    ratios financiers."``. Unknown theme names are shown as given.
    """
    raising = sorted(((t, v) for t, v in reasons.items() if v >= WORDS_MIN_CONTRIBUTION), key=lambda tv: -tv[1])[:3]
    lowering = sorted(((t, v) for t, v in reasons.items() if v <= -WORDS_MIN_CONTRIBUTION), key=lambda tv: tv[1])[:2]

    def label(theme: str, sign: float) -> str:
        variables = [v["name"] for v in top_variables
                     if v.get("theme") == theme and v.get("contribution", 0) * sign > 0][:2]
        text = THEME_LABELS.get(theme, theme)
        return f"{text} ({', '.join(variables)})" if variables else text

    sentences = []
    if raising:
        sentences.append("Risque accru par : " + ", ".join(label(t, 1) for t, _ in raising) + ".")
    if lowering:
        sentences.append("Risque atténué par : " + ", ".join(label(t, -1) for t, _ in lowering) + ".")
    return " ".join(sentences) if sentences else "Aucun facteur marquant."
