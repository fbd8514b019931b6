"""Evaluation report of a scored, labelled window: model vs naive baseline (vs oracle), docs/features.md §5.5.

``evaluate(table_with_scores, baseline=..., truth=None, out_dir=...)`` takes rows with ``siret``,
``periode``, ``score`` (calibrated probability), ``alert`` (``"high"``/``"moderate"``/None),
``outcome`` and ``region``, keeps the labelled rows, and writes ``report.md`` with PNG figures
(precision-recall curve, ROC curve, reliability plot) into ``out_dir``.

Scorers compared on exactly the same rows: ``model`` (the ``score`` column), ``baseline`` (a
column name or a function of the table, e.g. :func:`urssaf_debt_baseline`) and, with ``truth``
(``siret, periode, oracle_p18, outcome_18`` from ``sf synth``), ``oracle``. With ``truth`` the
label is ``outcome_18`` (the synthetic ground truth), on the rows where both ``outcome`` and
``outcome_18`` are known; the report counts the rows where the two labels disagree.

Metrics per scorer: AUC-PR (average precision), ROC AUC, precision and recall at each alert
level, precision of the top k per region and month, and — for scorers that are probabilities —
the Brier score and the expected calibration error (ECE, 10 equal-count bins: with rare
positives, equal-width bins would put almost every row in the first bin and hide miscalibration).

Alert levels of the baseline and the oracle: each flags as many rows as the model does at that
level (its top-N by score), so precision and recall compare at equal alert volume. Ties at the
cut are counted in expectation (a random pick among tied rows), as for the top k.
Rows with no region are grouped under ``"inconnue"`` (counted, never dropped).

Failure modes: ``ValueError`` naming the missing column, a baseline that is not one value per
row, truth rows that do not match (duplicate keys), or no labelled row to evaluate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, precision_recall_curve, roc_auc_score, roc_curve

from .errors import ModelInputError, ModelOptionError
from .training import ALERT_LEVELS, UNKNOWN_REGION, labels_of, months_of, precision_recall_at_k, top_k_by_group
from .trends import urssaf_debt_baseline

Baseline = str | Callable[[pd.DataFrame], pd.Series]
__all__ = ["EvaluationReport", "evaluate", "format_ratios", "precision_recall_at_k", "urssaf_debt_baseline"]


@dataclass
class EvaluationReport:
    """Metrics ``{scorer: {metric: value}}``, model/oracle ``ratios`` (empty without truth), files written."""

    metrics: dict[str, dict[str, Any]]
    ratios: dict[str, float | None]
    rows: int
    label: str
    report_path: Path
    figures: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- metrics

def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[float, pd.DataFrame]:
    """ECE over ``bins`` equal-count bins (sorted by p) and the reliability table (mean p, observed rate, rows)."""
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, min(bins, len(p)))
    table = pd.DataFrame([{"mean_predicted": float(p[g].mean()), "observed_rate": float(y[g].mean()), "rows": len(g)}
                          for g in groups if len(g)])
    ece = float((table["rows"] * (table["mean_predicted"] - table["observed_rate"]).abs()).sum() / len(p))
    return ece, table


def top_k_by_region_month(frame: pd.DataFrame, column: str, k: int) -> dict[str, Any]:
    """Mean over (region, month) groups of the precision of the group's top ``k``, with totals."""
    groups = pd.MultiIndex.from_arrays([frame["_region"].to_numpy(), frame["_month"].to_numpy()]).factorize()[0]
    return top_k_by_group(frame["_y"].to_numpy(), frame[column].to_numpy(), groups, k)


def _is_probability(values: np.ndarray) -> bool:
    return bool(np.all((values >= 0) & (values <= 1)))


def scorer_metrics(frame: pd.DataFrame, column: str, alert_volumes: dict[str, int],
                   model_alerts: pd.Series | None, top_k: tuple[int, ...]) -> dict[str, Any]:
    """Metrics of one scorer (column of ``frame``) on the evaluation rows (see the module docstring)."""
    y = frame["_y"].to_numpy()
    s = frame[column].to_numpy(dtype=float)
    both = 0 < y.sum() < len(y)
    result: dict[str, Any] = {
        "rows": int(len(y)), "positives": int(y.sum()), "positive_rate": float(y.mean()),
        "auc_pr": float(average_precision_score(y, s)) if both else None,
        "roc_auc": float(roc_auc_score(y, s)) if both else None,
    }
    if _is_probability(s):
        result["brier"] = float(brier_score_loss(y, s))
        result["ece"] = expected_calibration_error(y, s)[0]
    for level in ALERT_LEVELS:
        volume = alert_volumes[level]
        if model_alerts is not None:
            flagged = model_alerts.isin(ALERT_LEVELS[: ALERT_LEVELS.index(level) + 1]).to_numpy()
            hits = float(y[flagged].sum())
            precision = hits / volume if volume else None
            recall = hits / y.sum() if y.sum() else None
        else:
            precision, recall = precision_recall_at_k(y, s, volume) if volume else (None, None)
        result[level] = {"alerts": volume, "precision": precision, "recall": recall}
    for k in top_k:
        result[f"top{k}_region_month"] = top_k_by_region_month(frame, column, k)
    return result


# ----------------------------------------------------------------------------- figures and report

def _figures(frame: pd.DataFrame, scorers: list[str], out_dir: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = frame["_y"].to_numpy()
    paths: dict[str, Path] = {}
    if 0 < y.sum() < len(y):
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for name in scorers:
            precision, recall, _ = precision_recall_curve(y, frame[name].to_numpy(dtype=float))
            ax.plot(recall, precision, label=name)
        ax.axhline(y.mean(), color="grey", linestyle=":", label="positive rate")
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall")
        ax.legend()
        paths["pr_curve"] = out_dir / "pr_curve.png"
        fig.savefig(paths["pr_curve"], dpi=100, bbox_inches="tight")
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for name in scorers:
            fpr, tpr, _ = roc_curve(y, frame[name].to_numpy(dtype=float))
            ax.plot(fpr, tpr, label=name)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
        ax.legend()
        paths["roc_curve"] = out_dir / "roc_curve.png"
        fig.savefig(paths["roc_curve"], dpi=100, bbox_inches="tight")
        plt.close(fig)
    probabilistic = [n for n in scorers if _is_probability(frame[n].to_numpy(dtype=float))]
    if probabilistic:
        fig, ax = plt.subplots(figsize=(5, 5))
        top = 0.0
        for name in probabilistic:
            _, table = expected_calibration_error(y, frame[name].to_numpy(dtype=float))
            ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", label=name)
            top = max(top, table["mean_predicted"].max(), table["observed_rate"].max())
        ax.plot([0, top], [0, top], color="grey", linestyle=":", label="perfect calibration")
        ax.set(xlabel="mean predicted probability", ylabel="observed rate", title="Reliability (10 equal-count bins)")
        ax.legend()
        paths["reliability"] = out_dir / "reliability.png"
        fig.savefig(paths["reliability"], dpi=100, bbox_inches="tight")
        plt.close(fig)
    return paths


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _markdown(report: EvaluationReport, scorers: list[str], top_k: tuple[int, ...]) -> str:
    m = report.metrics
    lines = ["# Evaluation", "", f"Rows evaluated: {report.rows} (label: `{report.label}`)", ""]
    lines += [f"- {note}" for note in report.notes] + ([""] if report.notes else [])
    header = "| metric | " + " | ".join(scorers) + " |"
    lines += [header, "|---" * (len(scorers) + 1) + "|"]
    rows: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("positive rate", lambda d: d["positive_rate"]), ("AUC-PR", lambda d: d["auc_pr"]),
        ("ROC AUC", lambda d: d["roc_auc"]), ("Brier", lambda d: d.get("brier")), ("ECE", lambda d: d.get("ece")),
    ]
    for level in ALERT_LEVELS:
        rows += [(f"{level}: alerts", lambda d, lv=level: d[lv]["alerts"]),
                 (f"{level}: precision", lambda d, lv=level: d[lv]["precision"]),
                 (f"{level}: recall", lambda d, lv=level: d[lv]["recall"])]
    for k in top_k:
        rows.append((f"precision of top {k} per region and month (mean)",
                     lambda d, kk=k: d[f"top{kk}_region_month"]["mean_precision"]))
    for label, get in rows:
        lines.append(f"| {label} | " + " | ".join(_fmt(get(m[s])) for s in scorers) + " |")
    if report.ratios:
        lines += ["", "## Model / oracle", "", "| metric | ratio |", "|---|---|"]
        lines += [f"| {name} | {_fmt(value)} |" for name, value in report.ratios.items()]
    lines += [""] + [f"![{name}]({path.name})" for name, path in report.figures.items()] + [""]
    return "\n".join(lines)


def format_ratios(report: EvaluationReport) -> str:
    """One line per model/oracle ratio, for the CLI to print."""
    return "\n".join(f"model/oracle {name}: {_fmt(value)}" for name, value in report.ratios.items())


# ----------------------------------------------------------------------------- evaluate

def _ratio(a: Any, b: Any) -> float | None:
    return float(a) / float(b) if a is not None and b not in (None, 0, 0.0) else None


def evaluate(table_with_scores: pd.DataFrame, *, baseline: Baseline = urssaf_debt_baseline,
             truth: pd.DataFrame | None = None, out_dir: str | Path, top_k: tuple[int, ...] = (5, 10)
             ) -> EvaluationReport:
    """Evaluate the scored rows and write ``report.md``, ``metrics.json`` and figures into ``out_dir``.

    See the module docstring for inputs, metrics and failure modes.
    """
    table = table_with_scores
    for column in ("siret", "periode", "score", "alert", "outcome"):
        if column not in table.columns:
            raise ModelInputError(f"table to evaluate has no {column!r} column")
    frame = pd.DataFrame({"siret": table["siret"].astype(str), "_month": months_of(table),
                          "model": pd.to_numeric(table["score"], errors="raise").astype(float),
                          "_alert": table["alert"], "_outcome": labels_of(table)}, index=table.index)
    frame["_region"] = (table["region"].astype(object).where(table["region"].notna(), UNKNOWN_REGION)
                        if "region" in table.columns else UNKNOWN_REGION)
    frame.loc[frame["_region"] == "", "_region"] = UNKNOWN_REGION
    base = table[baseline] if isinstance(baseline, str) else baseline(table)
    if not isinstance(base, pd.Series) or len(base) != len(table):
        raise ModelOptionError("baseline must be a column name or a function returning one value per row")
    frame["baseline"] = pd.to_numeric(base, errors="raise").astype(float).fillna(0.0).to_numpy()
    notes: list[str] = []
    scorers = ["model", "baseline"]
    label = "outcome"
    if truth is not None:
        for column in ("siret", "periode", "oracle_p18", "outcome_18"):
            if column not in truth.columns:
                raise ModelInputError(f"truth table has no {column!r} column")
        t = pd.DataFrame({"siret": truth["siret"].astype(str), "_month": months_of(truth),
                          "oracle": pd.to_numeric(truth["oracle_p18"], errors="raise").astype(float),
                          "_outcome_18": labels_of(truth.rename(columns={"outcome_18": "outcome"})
                                                   [["outcome"]]).to_numpy()})
        duplicated = t.duplicated(["siret", "_month"])
        if duplicated.any():
            row = t[duplicated].iloc[0]
            raise ModelInputError(f"truth table: duplicate row for siret {row['siret']} and periode {row['_month']:%Y-%m}")
        frame = frame.reset_index(drop=True).merge(t, on=["siret", "_month"], how="left", validate="many_to_one")
        missing = frame["oracle"].isna() & frame["_outcome"].notna()
        if missing.any():
            notes.append(f"{int(missing.sum())} labelled row(s) have no truth row and are left out")
        usable = frame["_outcome"].notna() & frame["_outcome_18"].notna() & frame["oracle"].notna()
        disagree = int((frame.loc[usable, "_outcome"] != frame.loc[usable, "_outcome_18"]).sum())
        notes.append(f"label outcome_18 (truth); outcome and outcome_18 disagree on {disagree} of "
                     f"{int(usable.sum())} row(s)")
        frame = frame.loc[usable].copy()
        frame["_y"] = frame["_outcome_18"].astype(int)
        scorers.append("oracle")
        label = "outcome_18"
    else:
        unlabelled = int(frame["_outcome"].isna().sum())
        if unlabelled:
            notes.append(f"{unlabelled} unlabelled row(s) (outcome not yet observable) are left out")
        frame = frame.loc[frame["_outcome"].notna()].copy()
        frame["_y"] = frame["_outcome"].astype(int)
    if frame.empty:
        raise ModelInputError("no labelled row to evaluate")
    unknown_alerts = set(frame["_alert"].dropna()) - set(ALERT_LEVELS)
    if unknown_alerts:
        raise ModelInputError(f"column 'alert': unknown level(s) {sorted(unknown_alerts)}, expected high, moderate or null")
    volumes = {level: int(frame["_alert"].isin(ALERT_LEVELS[: i + 1]).sum()) for i, level in enumerate(ALERT_LEVELS)}
    metrics = {name: scorer_metrics(frame, name, volumes, frame["_alert"] if name == "model" else None, top_k)
               for name in scorers}
    ratios: dict[str, float | None] = {}
    if truth is not None:
        model, oracle = metrics["model"], metrics["oracle"]
        ratios = {"auc_pr": _ratio(model["auc_pr"], oracle["auc_pr"]),
                  "roc_auc": _ratio(model["roc_auc"], oracle["roc_auc"])}
        for level in ALERT_LEVELS:
            ratios[f"{level}_precision"] = _ratio(model[level]["precision"], oracle[level]["precision"])
            ratios[f"{level}_recall"] = _ratio(model[level]["recall"], oracle[level]["recall"])
        for k in top_k:
            ratios[f"top{k}_region_month_precision"] = _ratio(model[f"top{k}_region_month"]["mean_precision"],
                                                              oracle[f"top{k}_region_month"]["mean_precision"])
        ratios["ece"] = _ratio(model.get("ece"), oracle.get("ece"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = EvaluationReport(metrics=metrics, ratios=ratios, rows=int(len(frame)), label=label,
                              report_path=out / "report.md", notes=notes)
    report.figures = _figures(frame, scorers, out)
    report.report_path.write_text(_markdown(report, scorers, top_k), encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps({"rows": report.rows, "label": label, "metrics": metrics,
                                                  "ratios": ratios, "notes": notes}, indent=2) + "\n",
                                      encoding="utf-8")
    return report
