"""sf.model.operations: training, scoring and evaluation runs are journaled as their commands are."""

from pathlib import Path

import pytest
from sf.engine.collections import JOURNAL, LOCK
from sf.model.errors import NoFeatures
from sf.model.operations import evaluate_model, score_establishments, train_model
from sf.model.training import TrainingOptions, train

from . import synthetic_panel


@pytest.fixture(scope="module")
def model():
    panel = synthetic_panel.make_panel(n_etab=200, months=72, seed=3)[0]
    return train(panel, feature_columns=synthetic_panel.FEATURES, until_batch="2201", sf_version="test",
                 options=TrainingOptions(hgb_max_iter=10, kinds=("logistic",)))


def _only_run(db, command: str) -> dict:
    runs = list(db[JOURNAL].find({"command": command}))
    assert len(runs) == 1, runs
    return runs[0]


def test_training_without_features_leaves_a_failed_run(db, tmp_path: Path):
    with pytest.raises(NoFeatures, match="2401 has no Features"):
        train_model(db, "2401", out_dir=tmp_path / "m", options=TrainingOptions(test_months=3))
    run = _only_run(db, "train")
    assert (run["state"], run["batch"]) == ("failed", "2401") and run["error"].startswith("NoFeatures")
    assert run["args"]["test_months"] == 3 and run["args"]["out"] == str(tmp_path / "m")
    assert db[LOCK].count_documents({}) == 0 and not (tmp_path / "m").exists()


def test_scoring_without_features_leaves_a_failed_run(db, model):
    with pytest.raises(NoFeatures):
        score_establishments(db, "2401", model)
    run = _only_run(db, "score")
    assert run["state"] == "failed" and run["args"] == {"batch": "2401", "model": model.version}
    assert db[LOCK].count_documents({}) == 0


def test_evaluation_without_features_leaves_a_failed_run(db, model, tmp_path: Path):
    with pytest.raises(NoFeatures, match="test window"):
        evaluate_model(db, "2401", model, out_dir=tmp_path / "report")
    run = _only_run(db, "evaluate")
    assert run["state"] == "failed" and run["args"]["out"] == str(tmp_path / "report")
