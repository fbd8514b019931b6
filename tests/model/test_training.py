"""Training protocol: themes, forward-in-time windows, leakage checks, model choice and thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sf.model import themes
from sf.model.training import (
    MonthRange,
    TrainingOptions,
    Windows,
    default_windows,
    design_matrix,
    labelled_mask,
    labels_of,
    months_of,
    best_setting,
    train,
)
from sklearn.metrics import average_precision_score

from . import synthetic_panel

FEATURES = synthetic_panel.FEATURES

FAST = synthetic_panel.FAST


#: A catalogue variable the panel does not have, carrying the sentinel signals below (the
#: model only takes variables the catalogue gives a theme).
SENTINEL = "ratio_dette_moy12m"

def test_themes_are_the_catalogues() -> None:
    from sf.features.catalogue import CATALOGUE

    with_theme = [v for v in CATALOGUE if v.theme is not None]
    assert {v.role for v in with_theme} == {"feature"} and len(with_theme) > 300
    assert themes.themes_of(v.name for v in with_theme) == {v.name: v.theme for v in with_theme}
    assert set(themes.THEMES) == {v.theme for v in with_theme} == set(themes.THEME_LABELS)
    for name in ("siret", "outcome"):  # identifiers and the target carry no theme
        with pytest.raises(ValueError, match=name):
            themes.theme_of(name)


def test_unknown_variable_has_no_theme() -> None:
    with pytest.raises(ValueError, match="mystere, autre_mystere"):
        themes.themes_of(["ratio_dette", "mystere", "autre_mystere"])


def test_default_windows_hold_out_companies_and_are_forward_in_time() -> None:
    months = list(pd.date_range("2015-01-01", "2019-06-01", freq="MS"))
    windows = default_windows(months)
    assert windows.test.start == pd.Timestamp("2019-01-01") and windows.test.end == pd.Timestamp("2019-06-01")
    assert windows.validation.start == pd.Timestamp("2018-07-01")
    assert windows.validation.end == pd.Timestamp("2018-12-01")
    assert windows.train.start == pd.Timestamp("2015-01-01")
    # A train row at p is labelled with events up to p + 18, inside validation and test: the
    # companies on the two sides must then be disjoint (no embargo is needed).
    assert windows.train.end == pd.Timestamp("2018-06-01")
    assert (windows.train.companies, windows.validation.companies, windows.test.companies) == \
        ("train", "held_out", "held_out")
    sirens = pd.Series([f"{i:09d}" for i in range(5000)])
    train_side = windows.train.company_mask(sirens)
    assert not (train_side & windows.validation.company_mask(sirens)).any()
    assert (windows.validation.company_mask(sirens) == windows.test.company_mask(sirens)).all()
    assert 0.27 < windows.test.company_mask(sirens).mean() < 0.33  # holdout_percent = 30
    windows.check()
    assert Windows.from_dict(windows.to_dict()) == windows


def test_without_a_company_split_train_ends_a_horizon_before_validation() -> None:
    months = list(pd.date_range("2015-01-01", "2019-06-01", freq="MS"))
    windows = default_windows(months, TrainingOptions(holdout_percent=0))
    assert windows.validation.start == pd.Timestamp("2018-07-01")
    assert windows.train.start == pd.Timestamp("2015-01-01")
    # A train row at p is labelled with events up to p + 18: it must end before validation starts.
    assert windows.train.end + pd.DateOffset(months=18) < windows.validation.start
    assert {w.companies for _, w in windows.items()} == {"all"}
    windows.check()


def test_windows_mixing_company_groups_are_refused() -> None:
    months = list(pd.date_range("2015-01-01", "2019-06-01", freq="MS"))
    windows = default_windows(months)
    leaky = Windows(MonthRange(windows.train.start, windows.train.end), windows.validation, windows.test)
    with pytest.raises(ValueError, match="companies"):
        leaky.check()


def test_not_enough_labelled_months_is_a_clear_error() -> None:
    months = list(pd.date_range("2018-01-01", periods=17, freq="MS"))
    with pytest.raises(ValueError, match=r"17 labelled month\(s\).*needs at least 18"):
        default_windows(months)
    months = list(pd.date_range("2018-01-01", periods=29, freq="MS"))
    with pytest.raises(ValueError, match=r"29 labelled month\(s\).*needs at least 36"):
        default_windows(months, TrainingOptions(holdout_percent=0))


def test_rows_within_the_horizon_of_the_batch_are_never_labelled() -> None:
    table = pd.DataFrame({
        "periode": pd.to_datetime(["2018-06-01", "2019-06-01", "2019-07-01", "2021-02-01"], utc=True),
        "outcome": [False, True, False, True],
    })
    # Batch 2101: data up to 2020-12; a month's 18-month horizon must end by then.
    assert labelled_mask(table, "2101").tolist() == [True, True, False, False]


def test_labels_and_periods_are_checked() -> None:
    with pytest.raises(ValueError, match="'outcome'.*'maybe'"):
        labels_of(pd.DataFrame({"outcome": [True, "maybe"]}))
    with pytest.raises(ValueError, match="not the first day of a month"):
        months_of(pd.DataFrame({"periode": pd.to_datetime(["2020-01-01", "2020-01-15"])}))


def test_bad_feature_columns_are_refused(panel: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="lacks the feature column.*absente"):
        train(panel, feature_columns=[*FEATURES, "absente"], until_batch="2201", sf_version="t", options=FAST)
    with pytest.raises(ValueError, match="target: outcome"):
        train(panel, feature_columns=[*FEATURES, "outcome"], until_batch="2201", sf_version="t", options=FAST)
    dated = panel.assign(date_effet=panel["periode"])
    with pytest.raises(ValueError, match="'date_effet' is a date"):
        train(dated, feature_columns=[*FEATURES, "date_effet"], until_batch="2201", sf_version="t", options=FAST)


def _test_rows(table: pd.DataFrame, model) -> pd.Series:
    return model.windows.test.select(table) & labelled_mask(table, model.until_batch)


def test_chosen_model_beats_positive_rate_and_naive_baseline_on_the_test_window(panel, model) -> None:
    test = model.metrics["candidates"][model.kind]["test"]
    rows = panel[_test_rows(panel, model)]
    y = labels_of(rows).to_numpy()
    baseline_auc_pr = average_precision_score(y, rows["ratio_dette"])
    assert test["rows"] == len(rows)
    assert test["auc_pr"] > 2.5 * test["positive_rate"]
    assert test["auc_pr"] > 1.2 * baseline_auc_pr
    # Selection is on validation only: the chosen candidate is best_setting's pick of the candidates.
    figures = model.metrics["selection_figures"]
    assert list(figures)[best_setting(list(figures.values()))] == model.kind


def test_alert_levels_hold_their_precision_on_the_test_window(model) -> None:
    assert model.thresholds["high"] >= model.thresholds["moderate"]
    metrics = model.metrics["candidates"][model.kind]
    for level in ("high", "moderate"):
        assert metrics["test"][level]["precision"] == pytest.approx(metrics["validation"][level]["precision"], abs=0.15)
    assert metrics["test"]["high"]["precision"] > metrics["test"]["moderate"]["precision"]
    assert metrics["test"]["moderate"]["recall"] > metrics["test"]["high"]["recall"]


def test_card_describes_the_model(model) -> None:
    card = model.card
    assert card["kind"] == model.kind and card["version"] == model.version
    assert [v["name"] for v in card["variables"]] == FEATURES
    assert {v["name"]: v["type"] for v in card["variables"]}["code_naf"] == "categorical"
    assert card["training_size"]["train"]["rows"] == model.metrics["candidates"][model.kind]["train"]["rows"]
    assert set(card["windows"]) == {"train", "validation", "test"}


def test_shuffled_target_collapses_performance(panel) -> None:
    """Pairing each row with another establishment's label of the same month keeps the time
    structure and the positive rate but breaks the signal: what the protocol reports then falls
    to chance level, so the good figures above come from the features, not the split."""
    rng = np.random.default_rng(0)
    shuffled = panel.copy()
    shuffled["outcome"] = shuffled.groupby("periode")["outcome"].transform(
        lambda s: pd.Series(rng.permutation(s.to_numpy()), index=s.index))
    options = TrainingOptions(hgb_max_iter=40, logistic_cs=(0.03, 1.0), kinds=("logistic",))
    try:
        collapsed = train(shuffled, feature_columns=FEATURES, until_batch="2201", sf_version="t", options=options)
    except ValueError as exc:  # calibration refuses a model that ranks validation worse than chance
        assert "Platt slope" in str(exc)
        return
    test = collapsed.metrics["candidates"]["logistic"]["test"]
    assert test["auc_pr"] < 1.5 * test["positive_rate"]


def test_no_future_row_reaches_training(panel, model) -> None:
    """A sentinel variable equals the outcome on every row the model must not learn from (test
    window, censored months, months after the batch) and is noise elsewhere: a model trained on
    any of those rows would rank the test window almost perfectly with it."""
    rng = np.random.default_rng(1)
    leaky = panel.copy()
    months = months_of(leaky)
    future = (months > model.windows.validation.end).to_numpy()
    truth = labels_of(leaky).fillna(0).to_numpy()
    leaky[SENTINEL] = np.where(future, truth, rng.random(len(leaky)))
    options = FAST
    leaky_model = train(leaky, feature_columns=[*FEATURES, SENTINEL], until_batch="2201",
                        sf_version="t", options=options)
    assert leaky_model.windows == model.windows
    test_auc_pr = leaky_model.metrics["candidates"][leaky_model.kind]["test"]["auc_pr"]
    assert test_auc_pr < 0.8
    assert test_auc_pr < model.metrics["candidates"][model.kind]["test"]["auc_pr"] + 0.1


def test_a_later_batch_sees_more_labelled_months(panel) -> None:
    earlier = labelled_mask(panel, "2007")
    later = labelled_mask(panel, "2201")
    assert earlier.sum() < later.sum() and not (earlier & ~later).any()
    assert months_of(panel[earlier]).max() == pd.Timestamp("2018-12-01")


def test_no_held_out_company_reaches_training(panel, model) -> None:
    """A sentinel variable equals the outcome on every row of the held-out companies (the ones
    validation and test are measured on), at every month, and is noise on the training
    companies: the model is fitted on training companies only, so the sentinel must not
    lift the test window. Fitting on any held-out row would make it a near-perfect ranker."""
    rng = np.random.default_rng(2)
    leaky = panel.copy()
    held = model.windows.test.company_mask(leaky["siren"])
    truth = labels_of(leaky).fillna(0).to_numpy()
    leaky[SENTINEL] = np.where(held, truth, rng.random(len(leaky)))
    leaky_model = train(leaky, feature_columns=[*FEATURES, SENTINEL], until_batch="2201",
                        sf_version="t", options=FAST)
    test_auc_pr = leaky_model.metrics["candidates"][leaky_model.kind]["test"]["auc_pr"]
    assert test_auc_pr < 0.8
    assert test_auc_pr < model.metrics["candidates"][model.kind]["test"]["auc_pr"] + 0.1


def test_hyperparameters_are_tuned_on_validation_and_recorded(panel) -> None:
    options = TrainingOptions(hgb_max_iter=30, logistic_cs=(0.001, 1.0), hgb_grid=((4, 200, 1.0), (8, 50, 0.0)))
    trained = train(panel, feature_columns=FEATURES, until_batch="2201", sf_version="t", options=options)
    tuning = trained.metrics["hyperparameters"]
    trials = tuning["logistic"]["trials"]
    assert [t["C"] for t in trials] == [0.001, 1.0]
    best = trials[best_setting(trials)]
    assert tuning["logistic"]["chosen"] == {"C": best["C"]}
    # The chosen setting has the best top-k precision, up to one standard error.
    top = max(t["top_k_precision"] for t in trials)
    assert best["top_k_precision"] >= top - np.sqrt(top * (1 - top) / best["top_k_alerts"])
    assert len(tuning["hgb"]["trials"]) == 2
    assert 1 <= tuning["hgb"]["chosen"]["max_iter"] <= 30
    chosen = trained.estimator.named_steps["model"]
    if trained.kind == "logistic":
        assert chosen.C == best["C"]
    else:
        assert chosen.max_iter == tuning["hgb"]["chosen"]["max_iter"]


def test_absent_debt_reads_as_no_debt_without_a_missing_signal(panel) -> None:
    """Debt variables listed in zero_when_missing: a row where they are absent scores exactly as
    the same row with 0 (their presence must carry no signal, see ZERO_WHEN_MISSING)."""
    options = TrainingOptions(hgb_max_iter=30, logistic_cs=(1.0,), hgb_grid=((8, 100, 1.0),))
    for kind in ("logistic", "hgb"):
        trained = train(panel, feature_columns=FEATURES, until_batch="2201", sf_version="t",
                        options=TrainingOptions(**{**options.__dict__, "kinds": (kind,)}))
        rows = panel.head(50)
        absent = rows.assign(ratio_dette=np.nan, montant_part_patronale=np.nan)
        zero = rows.assign(ratio_dette=0.0, montant_part_patronale=0.0)
        X_absent = design_matrix(absent, trained.numeric_columns, trained.categorical_columns)
        X_zero = design_matrix(zero, trained.numeric_columns, trained.categorical_columns)
        np.testing.assert_allclose(trained.estimator.decision_function(X_absent),
                                   trained.estimator.decision_function(X_zero))
