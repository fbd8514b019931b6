"""Refusals, the warning against the naive ranking, and alert thresholds chosen for their goal."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sf.model import model_store
from sf.model.errors import TrainingRefused
from sf.model.runs import probabilities
from sf.model.training import (
    ALERT_BETAS,
    TrainingOptions,
    alert_goal_threshold,
    default_windows,
    labelled_mask,
    labels_of,
    observed_variables,
    train,
)

from . import synthetic_panel

FEATURES = synthetic_panel.FEATURES
FAST = synthetic_panel.FAST


# ----------------------------------------------------------------------------- refusals

def test_too_little_history_is_refused_with_exit_code_2_saying_how_much_is_needed() -> None:
    months = list(pd.date_range("2018-01-01", periods=17, freq="MS"))
    with pytest.raises(TrainingRefused) as caught:
        default_windows(months)
    assert caught.value.exit_code == 2
    assert "17 labelled month(s)" in str(caught.value) and "needs at least 18" in str(caught.value)
    assert "at least 36 consecutive months" in str(caught.value)


def test_too_little_history_in_the_table_is_refused_by_train(panel) -> None:
    short = panel[panel["periode"] < pd.Timestamp("2017-06-01", tz="UTC")]  # 17 labelled months
    with pytest.raises(TrainingRefused, match=r"17 labelled month\(s\)"):
        train(short, feature_columns=FEATURES, until_batch="2201", sf_version="t", options=FAST)


def test_most_variables_never_observed_is_refused(panel) -> None:
    months = pd.Series(pd.to_datetime(panel["periode"]).dt.tz_convert(None).unique())
    windows = default_windows(list(months), TrainingOptions())
    table = panel.assign(taux_marge=np.nan, paydex_nb_jours=np.nan)
    kept, dropped = observed_variables(table, windows.train, ["effectif", "taux_marge", "paydex_nb_jours",
                                                              "ratio_dette"])
    assert kept == ["effectif", "ratio_dette"] and dropped == ["taux_marge", "paydex_nb_jours"]
    with pytest.raises(TrainingRefused, match=r"2 of the 3 model variables.*taux_marge, paydex_nb_jours") as caught:
        observed_variables(table, windows.train, ["effectif", "taux_marge", "paydex_nb_jours"])
    assert caught.value.exit_code == 2


def test_a_validation_window_with_few_positives_is_warned() -> None:
    """A few failures in validation: the model is trained (its signal is strong here) but the
    card and the summary say its calibration and thresholds rest on too little."""
    small = synthetic_panel.make_panel(n_etab=120, months=60, seed=4)[0]
    trained = train(small, feature_columns=FEATURES, until_batch="2101", sf_version="t", options=FAST)
    positives = trained.training_size["validation"]["positives"]
    assert positives < FAST.min_validation_positives
    assert any(f"holds {positives} positive(s)" in w and "too few failures" in w for w in trained.card["warnings"])


def test_no_candidate_better_than_chance_on_validation_is_refused(panel, model) -> None:
    """A variable equal to the label before validation and to its opposite from validation on:
    both candidates learn it, rank validation worse than chance, and training refuses (where it
    used to fail with a bare 'Platt slope <= 0', e.g. ``sf demo --establishments 500``)."""
    y = labels_of(panel).fillna(0).to_numpy()
    later = (pd.to_datetime(panel["periode"]).dt.tz_convert(None) >= model.windows.validation.start).to_numpy()
    flipped = panel.assign(ratio_dette_moy12m=np.where(later, 1 - y, y))
    with pytest.raises(TrainingRefused, match="better than chance: Platt slope <= 0.*a few thousand") as caught:
        train(flipped, feature_columns=["ratio_dette_moy12m"], until_batch="2201", sf_version="t", options=FAST)
    assert caught.value.exit_code == 2


# ----------------------------------------------------------------------------- naive ranking

def test_a_model_that_does_not_beat_the_naive_ranking_is_warned_and_recorded(panel, tmp_path) -> None:
    rng = np.random.default_rng(0)
    noise = panel.assign(taux_marge=rng.normal(size=len(panel)))
    weak = train(noise, feature_columns=["taux_marge"], until_batch="2201", sf_version="t", options=FAST)
    validation = weak.card["naive_comparison"]["validation"]
    assert validation["model_beats_naive"] == {"auc_pr": False, "top5_region_month": False}
    assert any("does not beat the naive" in w and "AUC-PR" in w for w in weak.card["warnings"])
    assert any("top 5 per region and month" in w for w in weak.card["warnings"])
    model_store.save(weak, tmp_path)
    assert json.loads((tmp_path / model_store.CARD_JSON).read_text())["warnings"] == weak.card["warnings"]
    markdown = (tmp_path / model_store.CARD_MD).read_text()
    assert "## Warnings" in markdown and "does not beat the naive" in markdown


def test_a_model_that_beats_the_naive_ranking_has_no_such_warning(model) -> None:
    validation = model.card["naive_comparison"]["validation"]
    assert validation["model"]["auc_pr"] > validation["naive"]["auc_pr"]
    assert not any("naive" in w for w in model.card["warnings"])


# ----------------------------------------------------------------------------- thresholds

def test_goal_threshold_by_hand() -> None:
    # 10 rows, one group: thresholds flag 1, 2, ... rows in score order.
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
    # Band 2–4 alerts: flagging 2 (P 1/2), 3 (P 2/3, R 2/4) or 4 (P 3/4, R 3/4); F0.5 is best at 4.
    high = alert_goal_threshold(y, p, groups=1, scale=1.0, band=(2, 4), beta=0.5)
    assert high["threshold"] == 0.6 and high["alerts"] == 4 and high["in_band"]
    assert high["precision"] == pytest.approx(0.75) and high["recall"] == pytest.approx(0.75)
    # Scale 2 (half the companies held out): 2 alerts count as 4 per region and month.
    scaled = alert_goal_threshold(y, p, groups=1, scale=2.0, band=(2, 4), beta=0.5)
    assert scaled["alerts"] in (1, 2) and scaled["alerts_per_region_month"] <= 4
    # Strictly below 0.6, at most 6 alerts: the best F2 flags 6 rows... unless it is out of band.
    moderate = alert_goal_threshold(y, p, groups=1, scale=1.0, band=(5, 7), beta=2.0, below=0.6)
    assert moderate["threshold"] == 0.3 and moderate["alerts"] == 7 and moderate["recall"] == 1.0
    # An unreachable band takes the nearest volume.
    far = alert_goal_threshold(y, p, groups=1, scale=1.0, band=(20, 30), beta=2.0)
    assert far["alerts"] == 10 and not far["in_band"]


def test_thresholds_are_chosen_on_validation_for_their_goal(panel, model) -> None:
    """Recomputed independently from the validation rows: volumes per region and month at full
    scale, in the goal's band, moderate strictly below high, and no other threshold in the band
    with a better F-beta."""
    high, moderate = model.thresholds["high"], model.thresholds["moderate"]
    assert moderate < high
    rows = panel[model.windows.validation.select(panel) & labelled_mask(panel, model.until_batch)]
    p, _ = probabilities(model, rows)
    y = labels_of(rows).to_numpy()
    groups = rows.groupby(["region", "periode"]).ngroups
    scale = 100 / model.windows.validation.holdout_percent
    choice = model.card["threshold_choice"]
    for level, band, below in (("high", (2, 5), None), ("moderate", (10, 25), high)):
        threshold = choice[level]["threshold"]
        assert model.thresholds[level] == threshold
        assert choice[level]["goal_alerts_per_region_month"] == list(band)
        volume = (p >= threshold).sum() / groups * scale
        assert choice[level]["alerts_per_region_month"] == pytest.approx(volume)
        assert band[0] <= volume <= band[1]
        assert choice[level]["precision"] == pytest.approx(y[p >= threshold].mean())

        def fbeta(t: float, beta: float = ALERT_BETAS[level]) -> float:
            flagged = p >= t
            precision, recall = y[flagged].mean(), y[flagged].sum() / y.sum()
            return (1 + beta**2) * precision * recall / (beta**2 * precision + recall) if precision else 0.0

        candidates = [t for t in np.unique(p) if band[0] <= (p >= t).sum() / groups * scale <= band[1]
                      and (below is None or t < below)]
        assert fbeta(threshold) == pytest.approx(max(fbeta(t) for t in candidates))


def test_train_summary_and_card_carry_the_thresholds_goals(model) -> None:
    for level in ("high", "moderate"):
        choice = model.card["threshold_choice"][level]
        assert {"threshold", "precision", "recall", "alerts_per_region_month", "goal_alerts_per_region_month",
                "purpose"} <= set(choice)
        assert "goal" in model.card["threshold_rule"][level]
