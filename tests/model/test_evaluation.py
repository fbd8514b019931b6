"""Evaluation report: tie-aware top-k, calibration error, model vs baseline vs oracle on the same rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sf.model.evaluation import (
    evaluate,
    expected_calibration_error,
    format_ratios,
    precision_recall_at_k,
    urssaf_debt_baseline,
)
from sklearn.metrics import average_precision_score, roc_auc_score

from . import synthetic_panel


def test_precision_at_k_counts_ties_in_expectation() -> None:
    y = np.array([1, 0, 1, 0])
    s = np.array([0.9, 0.5, 0.5, 0.1])
    # Top 2 = the 0.9 row (a hit) + one of the two rows tied at 0.5 (half a hit in expectation).
    assert precision_recall_at_k(y, s, 2) == (0.75, 0.75)
    assert precision_recall_at_k(y, s, 10) == (0.5, 1.0)


def test_expected_calibration_error_detects_miscalibration() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.5, 50_000)
    y = (rng.random(p.size) < p).astype(int)
    calibrated, table = expected_calibration_error(y, p)
    shifted, _ = expected_calibration_error(y, np.clip(p + 0.2, 0, 1))
    assert calibrated < 0.01
    assert shifted == pytest.approx(0.2, abs=0.01)
    assert table["rows"].sum() == p.size and len(table) == 10


def test_urssaf_baseline_ranks_by_debt() -> None:
    table = pd.DataFrame({"ratio_dette": [0.0, 2.0, np.nan, np.nan, 0.5],
                          "montant_part_ouvriere": [0, 500, 100, np.nan, 1],
                          "montant_part_patronale": [0, 500, 900, np.nan, 1]})
    score = urssaf_debt_baseline(table)
    order = score.sort_values(ascending=False, kind="stable").index.tolist()
    assert order == [1, 4, 2, 0, 3]
    # A present ratio of 0 reads as no debt, like an absent one: its presence tells of a debt at
    # another time of the establishment's history, possibly later (training.ZERO_WHEN_MISSING).
    assert score[0] == score[3] == 0.0
    with pytest.raises(ValueError, match="ratio_dette"):
        urssaf_debt_baseline(pd.DataFrame({"effectif": [1]}))


@pytest.fixture(scope="module")
def scored_window() -> tuple[pd.DataFrame, pd.DataFrame]:
    """One forward window of the synthetic panel, scored by a random model, with its truth."""
    features, truth = synthetic_panel.make_panel(n_etab=400, months=36, seed=3)
    window = features[features["periode"] >= pd.Timestamp("2017-01-01", tz="UTC")].copy()
    rng = np.random.default_rng(5)
    window["score"] = rng.random(len(window))
    window["alert"] = np.where(window["score"] > 0.95, "high", np.where(window["score"] > 0.8, "moderate", None))
    window.loc[window.index[:7], "region"] = None
    return window, truth


def test_oracle_beats_a_random_score_and_ratios_use_the_oracle_rows(scored_window, tmp_path: Path) -> None:
    window, truth = scored_window
    truth = truth.iloc[5:]  # some labelled rows have no truth row: they must be left out for every scorer
    report = evaluate(window, baseline="ratio_dette", truth=truth, out_dir=tmp_path)
    oracle, model = report.metrics["oracle"], report.metrics["model"]
    assert oracle["auc_pr"] > 1.5 * model["auc_pr"]
    assert oracle["roc_auc"] > 0.75 > 0.6 > model["roc_auc"]
    assert report.metrics["baseline"]["auc_pr"] > model["auc_pr"]

    # Recompute on the rows that have an observed outcome, a truth row and a truth label.
    keyed = window.merge(truth, on=["siret", "periode"], how="inner")
    keyed = keyed[keyed["outcome"].notna() & keyed["outcome_18"].notna()]
    y = keyed["outcome_18"].astype(int)
    assert report.rows == len(keyed) == model["rows"] == oracle["rows"] == report.metrics["baseline"]["rows"]
    assert report.ratios["auc_pr"] == pytest.approx(
        average_precision_score(y, keyed["score"]) / average_precision_score(y, keyed["oracle_p18"]))
    assert report.ratios["roc_auc"] == pytest.approx(roc_auc_score(y, keyed["score"]) /
                                                     roc_auc_score(y, keyed["oracle_p18"]))
    # Equal alert volumes: the oracle flags as many rows as the model at each level.
    flagged = keyed["alert"].isin(["high", "moderate"])
    assert oracle["moderate"]["alerts"] == model["moderate"]["alerts"] == int(flagged.sum())
    assert model["moderate"]["precision"] == pytest.approx(y[flagged].mean())
    assert "ece" in oracle and "ece" in report.ratios
    assert "model/oracle auc_pr" in format_ratios(report)


def test_report_files_and_region_groups(scored_window, tmp_path: Path) -> None:
    window, _ = scored_window
    report = evaluate(window, out_dir=tmp_path, top_k=(5,))
    names = {p.name for p in tmp_path.iterdir()}
    assert {"report.md", "metrics.json", "pr_curve.png", "roc_curve.png", "reliability.png"} <= names
    assert all(p.stat().st_size > 1000 for p in report.figures.values())
    text = report.report_path.read_text()
    assert "| AUC-PR |" in text and "precision of top 5 per region and month" in text and "oracle" not in text
    labelled = window[window["outcome"].notna()]
    expected_groups = labelled.assign(r=labelled["region"].fillna("inconnue")).groupby(["r", "periode"]).ngroups
    assert report.metrics["model"]["top5_region_month"]["groups"] == expected_groups
    assert json.loads((tmp_path / "metrics.json").read_text())["rows"] == len(labelled)
    assert any("unlabelled" in note for note in report.notes) == bool(window["outcome"].isna().any())


def test_bad_input_is_named(scored_window, tmp_path: Path) -> None:
    window, truth = scored_window
    with pytest.raises(ValueError, match="no 'score' column"):
        evaluate(window.drop(columns="score"), out_dir=tmp_path)
    with pytest.raises(ValueError, match="duplicate row for siret"):
        evaluate(window, truth=pd.concat([truth, truth.iloc[:1]]), out_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown level"):
        evaluate(window.assign(alert="rouge"), out_dir=tmp_path)
