"""Scoring: alerts, explanations by theme, column checks, persistence across processes."""

from __future__ import annotations

import builtins
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sf.model import model_store
from sf.model.scoring import explain_in_words, score
from sf.model.training import TrainingOptions, months_of, train
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from . import synthetic_panel

FEATURES = synthetic_panel.FEATURES


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return synthetic_panel.make_panel(n_etab=300, months=72, seed=2)[0]


@pytest.fixture(scope="module", params=["logistic", "hgb"])
def model(request, panel):
    options = TrainingOptions(hgb_max_iter=30, kinds=(request.param,))
    return train(panel, feature_columns=FEATURES, until_batch="2201", sf_version="test", options=options)


@pytest.fixture(scope="module")
def latest(panel) -> pd.DataFrame:
    """The rows of the batch's last month, as ``sf score --batch`` would read them."""
    months = months_of(panel)
    return panel[months == months.max()]


def _logit(p: pd.Series) -> np.ndarray:
    p = p.to_numpy(dtype=float)
    return np.log(p / (1 - p))


def test_scores_have_the_scores_document_shape(model, latest) -> None:
    scores = score(model, latest)
    assert list(scores.columns) == ["siret", "siren", "periode", "score", "alert", "reasons", "top_variables", "model"]
    assert len(scores) == len(latest) and (scores.index == latest.index).all()
    assert scores["siret"].str.fullmatch(r"\d{14}").all() and scores["siren"].str.fullmatch(r"\d{9}").all()
    assert scores["score"].between(0, 1).all()
    expected = np.where(scores["score"] >= model.thresholds["high"], "high",
                        np.where(scores["score"] >= model.thresholds["moderate"], "moderate", None))
    assert scores["alert"].tolist() == expected.tolist()
    assert set(scores["reasons"].iloc[0]) <= {"urssaf", "effectif", "apart", "financier", "activite"}
    for variables in scores["top_variables"]:
        assert len(variables) <= 5
        assert [v["contribution"] for v in variables] == sorted((v["contribution"] for v in variables), reverse=True)
        assert all(v["name"] in FEATURES for v in variables)
    assert (scores["model"] == model.version).all()


def test_theme_contributions_add_up_to_the_log_odds(model, latest) -> None:
    """Logistic: exact additive terms plus a constant; gradient boosting: baseline Shapley values
    that add up to logit(score) − logit(reference row). Either way the gap is the same for every row."""
    scores = score(model, latest)
    total = scores["reasons"].map(lambda reasons: sum(reasons.values())).to_numpy()
    gap = _logit(scores["score"]) - total
    assert np.ptp(gap) < 1e-3
    assert np.ptp(total) > 0.5  # the explanations do vary between establishments


def test_riskier_rows_are_explained_by_the_signal_themes(model, latest) -> None:
    scores = score(model, latest)
    top = scores.nlargest(20, "score")
    mean_reasons = pd.DataFrame(list(top["reasons"])).mean()
    # In the synthetic panel, debts, margins/paydex and the sector carry the risk; short-time work barely does.
    assert mean_reasons[["urssaf", "financier", "activite"]].max() > mean_reasons["apart"]
    assert mean_reasons.sum() > 0


def test_scoring_with_other_variables_fails_clearly(model, latest) -> None:
    other = latest.rename(columns={"taux_marge": "taux_marge_v2"}).assign(nouvelle_variable=1.0)
    with pytest.raises(ValueError, match=r"missing variable\(s\): taux_marge; unexpected variable\(s\): "
                                         r"taux_marge_v2, nouvelle_variable"):
        score(model, other)
    scores = score(model, latest.assign(commentaire="x"), ignore_extra=True)
    assert len(scores) == len(latest)


def test_non_numeric_values_name_the_column(model, latest) -> None:
    broken = latest.copy()
    broken["ratio_dette"] = broken["ratio_dette"].astype(object)
    broken.iloc[3, broken.columns.get_loc("ratio_dette")] = "n/a"
    with pytest.raises(ValueError, match="'ratio_dette': value 'n/a'"):
        score(model, broken)


def test_unseen_sector_code_still_scores(model, latest) -> None:
    scores = score(model, latest.assign(code_naf="Z"))
    assert scores["score"].notna().all()


_SCORE_IN_FRESH_PROCESS = """
import sys, json
import pandas as pd
from sf.model import model_store
from sf.model.scoring import score
model = model_store.load(sys.argv[1])
scores = score(model, pd.read_parquet(sys.argv[2]))
json.dump({"score": scores["score"].tolist(), "alert": scores["alert"].tolist(),
           "reasons": scores["reasons"].tolist(), "version": model.version}, open(sys.argv[3], "w"))
"""


def test_saved_model_scores_identically_in_a_fresh_process(model, latest, tmp_path: Path) -> None:
    directory = model_store.save(model, tmp_path / "model")
    assert {p.name for p in directory.iterdir()} == {"model.skops", "model_card.json", "model_card.md"}
    card = json.loads((directory / "model_card.json").read_text())
    assert card["thresholds"] == model.thresholds and card["kind"] == model.kind
    assert card["sf_version"] == "test" and card["training_size"]["train"]["rows"] > 0
    latest.to_parquet(tmp_path / "table.parquet")
    subprocess.run([sys.executable, "-c", _SCORE_IN_FRESH_PROCESS, str(directory), str(tmp_path / "table.parquet"),
                    str(tmp_path / "out.json")], check=True, timeout=120)
    fresh = json.loads((tmp_path / "out.json").read_text())
    here = score(model, latest)
    assert fresh["score"] == here["score"].tolist()
    assert fresh["alert"] == here["alert"].tolist()
    assert fresh["reasons"] == here["reasons"].tolist()
    assert fresh["version"] == model.version


def test_load_refuses_a_foreign_card_and_untrusted_types(model, tmp_path: Path) -> None:
    directory = model_store.save(model, tmp_path / "model")
    card_path = directory / "model_card.json"
    card = json.loads(card_path.read_text())
    sio.dump(Pipeline([("evil", FunctionTransformer(builtins.eval))]), directory / "model.skops")
    with pytest.raises(ValueError, match="SHA-256 differs"):
        model_store.load(directory)
    card["model_sha256"] = model_store._sha256(directory / "model.skops")
    card_path.write_text(json.dumps(card))
    with pytest.raises(ValueError, match="refusing to load types.*eval"):
        model_store.load(directory)
    (directory / "model.skops").unlink()
    with pytest.raises(ValueError, match="model.skops is missing"):
        model_store.load(directory)


def test_explain_in_words() -> None:
    reasons = {"urssaf": 0.8, "effectif": 0.3, "apart": 0.01, "financier": -0.4, "activite": 0.0}
    top = [{"name": "ratio_dette", "theme": "urssaf", "contribution": 0.6},
           {"name": "effectif", "theme": "effectif", "contribution": 0.3},
           {"name": "taux_marge", "theme": "financier", "contribution": -0.4}]
    assert explain_in_words(reasons, top) == ("Risque accru par : dettes et délais URSSAF (ratio_dette), "
                                              "effectif (effectif). Risque atténué par : ratios financiers "
                                              "(taux_marge).")
    assert explain_in_words({"urssaf": 0.01}, []) == "Aucun facteur marquant."
