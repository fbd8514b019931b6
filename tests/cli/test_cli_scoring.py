"""`sf train`, `sf score`, `sf alerts`, `sf evaluate` on Features of a synthetic panel with a known signal.

The commands run in-process (typer's CliRunner) on a throw-away app whose root callback points
the settings at the test database, with SF_HOME in tmp_path; SfErrors are mapped to their exit
codes as `sf`'s main() does.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sf.cli import alerts, scoring
from sf.engine.collections import FEATURES, JOURNAL, RAW_DATA, SCORES
from sf.model import model_store
from sf.features.compute import to_feature_documents
from sf.model.table import in_scope
from sf.model.trends import DERIVED
from sf.model.training import TrainingOptions, train

_spec = importlib.util.spec_from_file_location(
    "synthetic_panel", Path(__file__).resolve().parents[1] / "model" / "synthetic_panel.py")
synthetic_panel = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic_panel)

BATCH = "2201"  # the panel's 72 months run 2016-01 … 2021-12
FAST = ["--hgb-max-iter", "30"]


@pytest.fixture(scope="module")
def panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    features, truth = synthetic_panel.make_panel(n_etab=200, months=72, seed=2)
    features["outcome"] = features["outcome"].astype(object)
    return features, truth


@pytest.fixture
def sf(in_process_sf):
    """``sf(args) -> (exit code, output)`` with train, score, alerts and evaluate (tests/cli/conftest.py)."""

    def register(app) -> None:
        for name in ("train", "score", "evaluate"):
            app.command(name)(getattr(scoring, name))
        app.add_typer(alerts.app, name="alerts")

    return in_process_sf(register)


def _store(db, frame: pd.DataFrame, batch: str = BATCH) -> None:
    db[FEATURES].insert_many(to_feature_documents(frame.reset_index(drop=True), batch))


def test_train_score_alerts_evaluate(db, sf, panel, tmp_path: Path) -> None:
    features, truth = panel
    _store(db, features)

    code, out = sf(["train", "--until-batch", BATCH, *FAST])
    assert code == 0, out
    assert "Model 2201-" in out and "2016-01 … 2019-06" in out and "2020-01 … 2020-06" in out
    assert "baseline: has URSSAF debt" in out and "(chosen)" in out and "Threshold high" in out
    model_dir = tmp_path / "home" / "models" / BATCH
    card = json.loads((model_dir / "model_card.json").read_text())
    # Never-observed variables left out; the trend variables are computed from the panel's sources.
    assert set(card["feature_columns"]) - set(DERIVED) == set(synthetic_panel.FEATURES)
    assert set(card["feature_columns"]) & set(DERIVED)
    assert card["baseline"]["auc_pr"]["test"] is not None
    run = db[JOURNAL].find_one({"command": "train"})
    assert run["state"] == "finished" and run["counts"]["version"] == card["version"]
    # The signal is real: the chosen model beats the positive rate clearly on the test window.
    test = card["metrics"]["candidates"][card["kind"]]["test"]
    assert test["auc_pr"] > 1.5 * test["positive_rate"]

    last_month = features[features["periode"] == features["periode"].max()]
    # Registry records of two establishments: their Scores carry the town and region.
    placed = sorted(last_month.loc[in_scope(last_month), "siret"].astype(str))[:2]
    db[RAW_DATA].insert_many([{"_id": s, "value": {"key": s, "scope": "etablissement", "batch": {"2101": {
        "sirene": {"h": {"commune": f"VILLE {i}", "code_commune": "35238", "departement": "35"}}}}}}
        for i, s in enumerate(placed)])
    code, out = sf(["score", "--batch", BATCH, "--json"])
    assert code == 0, out
    summary = json.loads(out)
    for i, siret in enumerate(placed):
        doc = db[SCORES].find_one({"_id.batch": BATCH, "_id.siret": siret})
        assert (doc["commune"], doc["code_commune"], doc["departement"], doc["code_region"], doc["region"]) == (
            f"VILLE {i}", "35238", "35", "53", "Bretagne")
    unplaced = db[SCORES].find_one({"_id.batch": BATCH, "_id.siret": {"$nin": placed}})
    assert unplaced["commune"] is None and unplaced["region"] is None
    assert summary["periode"] == "2021-12-01" and summary["scored"] == len(last_month)
    assert db[SCORES].count_documents({"_id.batch": BATCH}) == len(last_month)
    doc = db[SCORES].find_one({"_id.batch": BATCH})
    assert doc["model"] == card["version"] and set(doc["reasons"]) <= {"urssaf", "effectif", "apart", "financier",
                                                                       "activite"}
    code, out = sf(["score", "--batch", BATCH, "--json"])
    assert code == 0 and json.loads(out)["replaced"] == len(last_month)
    assert db[SCORES].count_documents({"_id.batch": BATCH}) == len(last_month)  # replaced, not duplicated

    code, out = sf(["alerts", "--batch", BATCH, "--top", "5", "--format", "json"])
    assert code == 0, out
    listed = json.loads(out)
    assert 0 < len(listed) <= 5 and [r["rang"] for r in listed] == list(range(1, len(listed) + 1))
    assert [r["score"] for r in listed] == sorted((r["score"] for r in listed), reverse=True)
    assert all(r["alert"] in ("high", "moderate") and r["raisons"] for r in listed)
    code, out = sf(["alerts", "--batch", BATCH, "--top", "3", "--format", "csv"])
    assert code == 0 and out.splitlines()[0].startswith("rang,siret,siren,raison_sociale")
    assert len(out.splitlines()) == 1 + min(3, len(listed))
    code, out = sf(["alerts", "--batch", BATCH, "--top", "3"])
    assert code == 0 and "Alerts of batch 2201" in out and "Risque" in out
    # What the levels mean, from the card sf train saved: its thresholds and how they were chosen.
    text = " ".join(out.split())  # the console wraps long lines
    for level in ("high", "moderate"):
        assert f"{level}: score ≥ {card['thresholds'][level]:.3f} ({card['threshold_rule'][level]})" in text

    truth_path = tmp_path / "truth.parquet"
    truth.to_parquet(truth_path)
    report_dir = tmp_path / "report"
    code, out = sf(["evaluate", "--batch", BATCH, "--truth", str(truth_path), "--out", str(report_dir), "--json"])
    assert code == 0, out
    result = json.loads(out)
    assert result["window"] == {"start": "2020-01-01", "end": "2020-06-01"} and result["label"] == "outcome_18"
    metrics = result["metrics"]
    assert set(metrics) == {"model", "baseline", "oracle"}
    assert metrics["model"]["rows"] == metrics["oracle"]["rows"] == metrics["baseline"]["rows"]
    assert result["ratios"]["auc_pr"] == pytest.approx(metrics["model"]["auc_pr"] / metrics["oracle"]["auc_pr"])
    assert (report_dir / "report.md").is_file() and (report_dir / "pr_curve.png").is_file()
    assert (report_dir / "reliability.png").is_file()
    code, out = sf(["evaluate", "--batch", BATCH, "--truth", str(truth_path), "--out", str(report_dir)])
    assert code == 0 and "model/oracle auc_pr" in out and "AUC-PR" in out


def test_train_errors_say_what_is_missing(db, sf, panel) -> None:
    code, message = sf(["train", "--until-batch", BATCH])
    assert code == 2 and "batch 2201 has no Features" in message and "sf features" in message
    features, _ = panel
    short = features[features["periode"] >= pd.Timestamp("2019-08-01", tz="UTC")]  # 29 months: 11 labelled
    _store(db, short)
    code, message = sf(["train", "--until-batch", BATCH, *FAST])
    assert code == 2 and "labelled month(s)" in message and "needs at least 18" in message
    assert "at least 36 consecutive months" in message
    code, message = sf(["train", "--until-batch", "22xx"])
    assert code == 2 and "invalid batch key" in message


def test_score_errors(db, sf, panel, tmp_path: Path) -> None:
    code, message = sf(["score", "--batch", BATCH])
    assert code == 2 and "no model under" in message
    features, _ = panel
    # A model (from an older catalogue) on a variable the Features cannot have.
    other = features.assign(ratio_dette_moy12m=np.linspace(0, 1, len(features)))
    model = train(other, feature_columns=[*synthetic_panel.FEATURES, "ratio_dette_moy12m"],
                  until_batch=BATCH, sf_version="test", options=TrainingOptions(hgb_max_iter=10, kinds=("logistic",)))
    model.feature_columns = [*synthetic_panel.FEATURES, "avg_delta_dette_par_effectif"]
    model_store.save(model, tmp_path / "other")
    _store(db, features)
    code, message = sf(["score", "--batch", BATCH, "--model", str(tmp_path / "other")])
    assert code == 2 and "avg_delta_dette_par_effectif" in message
    assert db[SCORES].count_documents({}) == 0
    code, message = sf(["score", "--batch", "2105", "--model", str(tmp_path / "other")])
    assert code == 2 and "batch 2105 has no Features" in message
    code, message = sf(["alerts", "--batch", BATCH])
    assert code == 2 and "has no Scores" in message
    code, message = sf(["alerts", "--batch", BATCH, "--format", "xml"])
    assert code == 2 and "--format" in message


def test_alert_level_choices_are_the_models() -> None:
    from typing import get_args

    from sf.model.scores_store import ALERT_LEVELS

    assert get_args(alerts.AlertLevel) == ALERT_LEVELS
