"""Model training with a forward-in-time protocol (docs/features.md §5.1 and §7.1).

Input: a feature table (``pandas.DataFrame``) with ``siret`` (str), ``siren`` (str), ``periode``
(first of month; tz-aware UTC or naive UTC — both accepted, naive UTC is used internally),
``outcome`` (bool, or NaN when not yet observable) and the feature columns.

Protocol (never a random split across time):

1. Only rows known at the batch are used: ``periode < month_start_of_key(until_batch)`` (the
   batch's ``date_fin``).
2. Only *labelled* months are used, and a month ``p`` counts as labelled only if its whole
   18-month horizon is observed at the batch: ``p + horizon_months < date_fin``. Rows with a
   non-null ``outcome`` inside the last ``horizon_months`` are masked (their negatives are
   right-censored, docs/features.md §7.1 item 6), as are rows whose ``outcome`` is NaN.
3. Companies are split in two disjoint groups by a hash of their SIREN (:func:`held_out`): the
   *held-out* companies (``holdout_percent``, default 30 %) and the *training* companies.
   Default windows over the labelled months, oldest to newest: test = the last ``test_months``
   (6) of the held-out companies, validation = the ``validation_months`` (6) before, of the
   held-out companies too, and train = every earlier labelled month (at least
   ``min_train_months``) of the training companies. A train row at month p is labelled with
   events up to p + 18, i.e. inside the validation and test windows: with the same
   establishments on both sides a model that recognises an establishment (its size, its
   sector, its debt history) would look better than it is (docs/features.md §7.1 item 8). The company
   split removes that leak, so no embargo is needed between train and validation
   (``embargo_months`` default 0 with a split). With ``holdout_percent=0`` every company is in
   every window and the default embargo is the whole horizon (train ends 18 months before
   validation starts), the protocol "train ≥ 18 months before test" of docs/features.md §7.1 item 8.
   No embargo is needed between validation and test: only hyper-parameters, the two Platt
   parameters and the two thresholds are fitted on validation.
4. Two candidates are fitted on the train window: a logistic regression on scaled variables
   (``arcsinh`` then standardised numeric variables, with missing-value indicators; one-hot
   categories) and a ``HistGradientBoostingClassifier`` (native missing values, ordinal-encoded
   categories as native categorical features). Their hyper-parameters are tuned on the
   validation window (a few hundred positives at most: the regularisation matters): the
   logistic regression's ``C`` over ``logistic_cs``; the boosting's tree shape over
   ``hgb_grid`` and its number of iterations by the staged validation score (forward in time:
   the trees are fitted on train only, by validation AUC-PR). Settings are compared on the
   metric users act on: the validation precision of the top ``selection_k`` (5) per region and
   month, differences within one standard error being ties decided by the validation log-loss
   (:func:`best_setting`).
5. Each is calibrated on the validation window (Platt scaling of its log-odds: the calibrated
   log-odds are ``slope × decision + intercept``, monotone, so rankings are unchanged). The two
   candidates are compared as settings are (ties keep the logistic regression, the transparent
   one); a candidate whose Platt slope is not positive ranks validation no better than chance
   and is never kept.
6. Alert thresholds are chosen on the validation window's calibrated probabilities for a volume
   goal in alerts per region and month at full scale (:func:`choose_thresholds`): ``high``
   = the calls, 2–5 per region and month, best F0.5 in that band; ``moderate`` = the follow-up
   list, 10–25, best F2, strictly below ``high`` (a score equal to a threshold gets the higher
   level, docs/features.md §5.5). The test window is only reported on.
7. The chosen model is compared with the naive "has URSSAF debt" ranking on validation and test
   (:func:`naive_comparison`); the card's ``warnings`` say when it does not beat it on
   validation, or when a threshold misses its volume goal.

Refusals (:class:`~sf.model.errors.TrainingRefused`, exit code 2): fewer labelled months than
the protocol needs, no candidate better than chance on validation (the ``sf demo
--establishments 500`` case: 2 positives in validation); :func:`observed_variables` refuses a
variable set mostly never observed in the train window. Fewer than ``min_validation_positives``
positives in validation is a warning.

Feature columns: numeric and boolean columns are numeric variables; string, object and category
columns are categorical (codes such as ``code_naf``); datetime columns are refused.

Failure modes: ``ValueError`` naming the column or window when a column is missing, a numeric
column holds non-numbers, ``periode`` is not a first-of-month date, or there is not enough
labelled data (too few months, or a window without positives or negatives).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from sf.engine.batches import check_batch_key, month_start_of_key
from sf.features.target import HORIZON
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_recall_curve,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)

from .errors import ModelInputError, ModelOptionError, TrainingRefused
from .scores_store import ALERT_LEVELS
from .themes import themes_of
from .trends import DERIVED, urssaf_debt_baseline

ModelKind = Literal["logistic", "hgb"]
# F-beta each alert level maximises inside its volume goal: precision first for the calls (high),
# recall first for the follow-up list (moderate).
ALERT_BETAS: dict[str, float] = {"high": 0.5, "moderate": 2.0}
ALERT_PURPOSES: dict[str, str] = {
    "high": "calls: about the agents' calling capacity per region and month, the most precise list (max F0.5)",
    "moderate": "follow-up list, high alerts included: a wider net favouring recall (max F2), strictly below high",
}
# Rows with no region are grouped under this name (counted, never dropped).
UNKNOWN_REGION = "inconnue"
# Placeholder category for missing codes in the one-hot encoder (the ordinal encoder keeps NaN).
MISSING_CATEGORY = "__manquant__"


# Companies are assigned to the held-out group by sha256(HOLDOUT_SALT + siren): stable across
# batches, runs and machines, independent of the data, so no company moves between groups.
HOLDOUT_SALT = "sf-holdout:"
CompanyGroup = Literal["all", "train", "held_out"]


def holdout_bucket(siren: pd.Series) -> np.ndarray:
    """Bucket 0…99 of every SIREN (``sha256(HOLDOUT_SALT + siren)`` mod 100), as an int array."""
    values = siren.astype(str)
    buckets = {s: int.from_bytes(hashlib.sha256((HOLDOUT_SALT + s).encode()).digest()[:8], "big") % 100
               for s in values.unique()}
    return values.map(buckets).to_numpy(dtype=np.int64)


def held_out(siren: pd.Series, percent: int) -> np.ndarray:
    """True for the rows whose company (SIREN) is in the held-out ``percent`` % of companies."""
    if not 0 <= percent < 100:
        raise ModelOptionError(f"holdout_percent must be in 0…99 (got {percent})")
    return holdout_bucket(siren) < percent


@dataclass(frozen=True)
class MonthRange:
    """Inclusive range of months, both bounds first-of-month naive-UTC timestamps, and the
    companies the window holds: ``"all"``, or the ``"train"`` / ``"held_out"`` group of a
    ``holdout_percent`` split (see :func:`held_out`)."""

    start: pd.Timestamp
    end: pd.Timestamp
    companies: CompanyGroup = "all"
    holdout_percent: int = 0

    def contains(self, months: pd.Series) -> pd.Series:
        """Month condition only (the company group is applied by :meth:`select`)."""
        return (months >= self.start) & (months <= self.end)

    def company_mask(self, siren: pd.Series) -> np.ndarray:
        """True for the rows whose company belongs to this window's group."""
        if self.companies == "all":
            return np.ones(len(siren), dtype=bool)
        inside = held_out(siren, self.holdout_percent)
        return inside if self.companies == "held_out" else ~inside

    def select(self, table: pd.DataFrame) -> np.ndarray:
        """Rows of ``table`` (with ``periode`` and, for a company group, ``siren``) inside the window."""
        mask = self.contains(months_of(table)).to_numpy().copy()
        if self.companies != "all":
            if "siren" not in table.columns:
                raise ModelInputError("table has no 'siren' column: needed to select the window's companies")
            mask &= self.company_mask(table["siren"])
        return mask

    def describe(self) -> str:
        group = "" if self.companies == "all" else (
            f", {'held-out' if self.companies == 'held_out' else 'training'} companies "
            f"({self.holdout_percent if self.companies == 'held_out' else 100 - self.holdout_percent} %)")
        return f"{self.start:%Y-%m} … {self.end:%Y-%m}{group}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"start": self.start.strftime("%Y-%m-%d"), "end": self.end.strftime("%Y-%m-%d")}
        if self.companies != "all":
            data.update(companies=self.companies, holdout_percent=self.holdout_percent,
                        company_rule=f"sha256('{HOLDOUT_SALT}' + siren) mod 100 < {self.holdout_percent} is held out")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonthRange:
        return cls(pd.Timestamp(data["start"]), pd.Timestamp(data["end"]), data.get("companies", "all"),
                   int(data.get("holdout_percent", 0)))


@dataclass(frozen=True)
class Windows:
    """Forward-in-time windows: train < validation < test, month ranges that do not overlap."""

    train: MonthRange
    validation: MonthRange
    test: MonthRange

    def check(self) -> None:
        """Raise ``ValueError`` unless each window is ordered and strictly before the next."""
        for name, window in self.items():
            if window.start > window.end:
                raise ModelOptionError(f"window {name}: start {window.start:%Y-%m} is after end {window.end:%Y-%m}")
        if not (self.train.end < self.validation.start and self.validation.end < self.test.start):
            raise ModelOptionError("windows must be forward in time: train ends before validation starts, which ends "
                                   f"before test starts (got {self.to_dict()})")
        groups = (self.train.companies, self.validation.companies, self.test.companies)
        if groups not in (("all", "all", "all"), ("train", "held_out", "held_out")):
            raise ModelOptionError(f"window companies must be all/all/all or train/held_out/held_out (got {groups})")
        if groups[0] != "all" and len({w.holdout_percent for _, w in self.items()}) != 1:
            raise ModelOptionError("the windows' company split must use one holdout_percent")

    def items(self) -> list[tuple[str, MonthRange]]:
        return [("train", self.train), ("validation", self.validation), ("test", self.test)]

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {name: window.to_dict() for name, window in self.items()}

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, str]]) -> Windows:
        return cls(**{name: MonthRange.from_dict(data[name]) for name in ("train", "validation", "test")})


# Tree shapes tried for the gradient boosting: (max_leaf_nodes, min_samples_leaf, l2_regularization).
# Small trees with large leaves: a few hundred positives cannot support deep interactions.
HGB_GRID: tuple[tuple[int, int, float], ...] = ((4, 200, 1.0), (8, 100, 1.0), (16, 50, 1.0))
LOGISTIC_CS: tuple[float, ...] = (0.003, 0.03, 0.3)
# Prefixes of the URSSAF debt variables whose *absence* must read as "no debt known" (0), with no
# missing-value signal: the Features leave them absent for an establishment without any debit
# record in its whole history, and present (0) in every month of one that has a debt at *any*
# time, even years later (the quirk Q3 rule applied over the whole series), so their presence
# at month p tells the future. A model keyed on that presence looks far better than it can be.
ZERO_WHEN_MISSING: tuple[str, ...] = ("montant_part_", "ratio_dette")


@dataclass(frozen=True)
class TrainingOptions:
    """Knobs of the protocol and the two models; the defaults are the production ones.

    ``logistic_cs``: inverse regularisation strengths tried (one value: no tuning).
    ``hgb_grid``: ``(max_leaf_nodes, min_samples_leaf, l2_regularization)`` tried; each is fitted
    with ``hgb_max_iter`` iterations and keeps the best number of iterations on validation.
    """

    test_months: int = 6
    validation_months: int = 6
    min_train_months: int = 6
    holdout_percent: int = 30  # companies held out for validation and test; 0: no company split
    embargo_months: int | None = None  # None: 0 with a company split, else the horizon
    horizon_months: int = HORIZON
    logistic_cs: tuple[float, ...] = LOGISTIC_CS
    hgb_max_iter: int = 300
    hgb_learning_rate: float = 0.05
    hgb_grid: tuple[tuple[int, int, float], ...] = HGB_GRID
    kinds: tuple[str, ...] = ("logistic", "hgb")
    zero_when_missing: tuple[str, ...] = ZERO_WHEN_MISSING
    # Alert volume goals, alerts (the level and above) per region and month once every company
    # is scored: the validation window's held-out companies are scaled up by 100 / holdout_percent.
    high_alerts_per_region_month: tuple[float, float] = (2.0, 5.0)
    moderate_alerts_per_region_month: tuple[float, float] = (10.0, 25.0)
    # Model selection: precision of the top ``selection_k`` per region and month on validation.
    selection_k: int = 5
    # A validation window with fewer positives calibrates and places thresholds on too little:
    # a warning (training refuses only when no candidate ranks it better than chance). More than
    # ``max_unobserved_share`` of the variables never observed in the train window is refused.
    min_validation_positives: int = 20
    max_unobserved_share: float = 0.5

    @property
    def embargo(self) -> int:
        """Calendar months left unused between train and validation."""
        if self.embargo_months is not None:
            return self.embargo_months
        return 0 if self.holdout_percent else self.horizon_months


@dataclass
class TrainedModel:
    """A fitted, calibrated model and everything needed to score, explain and describe it.

    ``estimator`` is the uncalibrated scikit-learn pipeline fitted on the train window;
    ``calibration = (slope, intercept)`` maps its ``decision_function`` (log-odds) to calibrated
    log-odds. ``reference`` (variable → typical training value, ``None`` for missing) is the point
    the gradient-boosting explanations are measured from; ``logistic_centre`` holds the training
    means of the logistic regression's transformed columns (contributions are centred on them).
    """

    estimator: Pipeline
    kind: ModelKind
    feature_columns: list[str]
    categorical_columns: list[str]
    themes: dict[str, str]
    thresholds: dict[str, float]
    calibration: tuple[float, float]
    windows: Windows
    metrics: dict[str, Any]
    training_size: dict[str, Any]
    until_batch: str
    sf_version: str
    version: str
    reference: dict[str, Any]
    logistic_centre: list[float] | None
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def numeric_columns(self) -> list[str]:
        return [c for c in self.feature_columns if c not in set(self.categorical_columns)]


# ----------------------------------------------------------------------------- table preparation

def months_of(table: pd.DataFrame) -> pd.Series:
    """``periode`` as naive-UTC month timestamps; ``ValueError`` if missing, unparsable or not a 1st."""
    if "periode" not in table.columns:
        raise ModelInputError("feature table has no 'periode' column")
    try:
        periode = pd.to_datetime(table["periode"], utc=True)
    except (ValueError, TypeError) as exc:
        raise ModelInputError(f"column 'periode': not a date ({exc})") from exc
    if periode.isna().any():
        raise ModelInputError(f"column 'periode': {int(periode.isna().sum())} missing value(s), "
                              f"first at row {periode[periode.isna()].index[0]!r}")
    naive = periode.dt.tz_convert(None).dt.as_unit("ns")
    off = naive != naive.dt.normalize().dt.to_period("M").dt.to_timestamp()
    if off.any():
        row = off[off].index[0]
        raise ModelInputError(f"column 'periode': {naive[row]} at row {row!r} is not the first day of a month")
    return naive


def split_feature_kinds(table: pd.DataFrame, feature_columns: list[str]) -> tuple[list[str], list[str]]:
    """``(numeric, categorical)`` feature columns by dtype; ``ValueError`` for missing or datetime columns."""
    missing = [c for c in feature_columns if c not in table.columns]
    if missing:
        raise ModelInputError(f"feature table lacks the feature column(s) {', '.join(missing)}")
    if len(set(feature_columns)) != len(feature_columns):
        raise ModelOptionError("feature_columns lists a column more than once")
    numeric: list[str] = []
    categorical: list[str] = []
    for column in feature_columns:
        dtype = table[column].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
            raise ModelInputError(f"feature column {column!r} is a date ({dtype}); derive a number from it (e.g. an age)")
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            numeric.append(column)
        else:
            categorical.append(column)
    return numeric, categorical


def design_matrix(table: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """The model input: numeric columns as float64 (NaN = missing), categorical as object str/NaN.

    ``ValueError`` names the column, the row and the value of the first non-number in a numeric column.
    """
    columns: dict[str, Any] = {}
    for column in numeric:
        values = table[column]
        if pd.api.types.is_bool_dtype(values.dtype) or values.dtype == object:
            values = values.astype(object).where(values.notna(), np.nan)
            values = values.map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v)
        converted = pd.to_numeric(values, errors="coerce").astype("float64")
        bad = converted.isna() & values.notna()
        if bad.any():
            row = bad[bad].index[0]
            raise ModelInputError(f"feature column {column!r}: value {values[row]!r} at row {row!r} is not a number")
        columns[column] = converted.to_numpy()
    for column in categorical:
        values = table[column].astype(object)
        columns[column] = values.where(values.notna(), np.nan).map(
            lambda v: v if isinstance(v, float) and np.isnan(v) else str(v)).to_numpy(dtype=object)
    return pd.DataFrame(columns, index=table.index)[numeric + categorical]


def labels_of(table: pd.DataFrame) -> pd.Series:
    """``outcome`` as float 1.0 / 0.0 / NaN; ``ValueError`` for any other value."""
    if "outcome" not in table.columns:
        raise ModelInputError("feature table has no 'outcome' column")
    raw = table["outcome"]
    mapped = raw.map(lambda v: np.nan if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA
                     else (1.0 if v in (True, 1) else (0.0 if v in (False, 0) else "bad")))
    bad = mapped == "bad"
    if bad.any():
        row = bad[bad].index[0]
        raise ModelInputError(f"column 'outcome': value {raw[row]!r} at row {row!r} is not true, false or missing")
    return mapped.astype("float64")


# ----------------------------------------------------------------------------- windows

def labelled_mask(table: pd.DataFrame, until_batch: str, horizon_months: int = HORIZON) -> pd.Series:
    """Rows usable for training or evaluation at ``until_batch``: known, labelled, horizon observed."""
    date_fin = pd.Timestamp(month_start_of_key(check_batch_key(until_batch))).tz_convert(None)
    months = months_of(table)
    observed = months.map(lambda m: m + pd.DateOffset(months=horizon_months)) < date_fin
    return labels_of(table).notna() & (months < date_fin) & observed


def default_windows(labelled_months: list[pd.Timestamp], options: TrainingOptions = TrainingOptions()) -> Windows:
    """Windows over the labelled months (see the module docstring); the embargo counts calendar months.

    :class:`TrainingRefused` (exit code 2) states how many labelled months exist, how many the
    protocol needs and how many months of Features history that takes.
    """
    months = sorted(set(labelled_months))
    embargo = options.embargo
    held_out_months = options.validation_months + options.test_months
    needed = options.min_train_months + embargo + held_out_months
    span = f" ({months[0]:%Y-%m} … {months[-1]:%Y-%m})" if months else ""
    message = (f"not enough labelled data: {len(months)} labelled month(s){span}; the forward-in-time protocol "
               f"needs at least {needed} ({options.min_train_months} train + {embargo} embargo + "
               f"{options.validation_months} validation + {options.test_months} test) and labels need "
               f"{options.horizon_months} months of hindsight before the batch")
    hint = (f"training needs Features over at least {needed + options.horizon_months} consecutive months up to "
            f"the batch ({needed} labelled + {options.horizon_months} of horizon): deliver a longer history, "
            "or train on a later batch")
    if len(months) < held_out_months + options.min_train_months:
        raise TrainingRefused(message, hint)
    test = months[-options.test_months:]
    validation = months[-held_out_months:-options.test_months]
    train_end_limit = validation[0] - pd.DateOffset(months=embargo + 1) if embargo else months[-held_out_months - 1]
    train = [m for m in months[:-held_out_months] if m <= train_end_limit]
    if len(train) < options.min_train_months:
        raise TrainingRefused(message, hint)
    split = options.holdout_percent
    groups: tuple[CompanyGroup, CompanyGroup] = ("train", "held_out") if split else ("all", "all")
    return Windows(MonthRange(train[0], train[-1], groups[0], split),
                   MonthRange(validation[0], validation[-1], groups[1], split),
                   MonthRange(test[0], test[-1], groups[1], split))


# ----------------------------------------------------------------------------- models

def build_pipeline(kind: ModelKind, numeric: list[str], categorical: list[str], options: TrainingOptions,
                   params: dict[str, Any] | None = None) -> Pipeline:
    """Unfitted pipeline of one candidate (see the module docstring for the preprocessing).

    ``params``: ``{"C": …}`` for the logistic regression (default ``options.logistic_cs[-1]``);
    ``{"max_leaf_nodes", "min_samples_leaf", "l2_regularization", "max_iter"}`` for the boosting
    (default the last shape of ``options.hgb_grid`` and ``options.hgb_max_iter``).
    """
    params = params or {}
    zero = [c for c in numeric if c.startswith(options.zero_when_missing)] if options.zero_when_missing else []
    numeric = [c for c in numeric if c not in set(zero)]
    if kind == "logistic":
        # arcsinh tames euro amounts spanning several orders of magnitude and keeps the sign of
        # deviations; missing indicators let absent financial data carry its own (real) signal.
        num = Pipeline([
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("arcsinh", FunctionTransformer(np.arcsinh, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
        ])
        cat = Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY, keep_empty_features=True)),
            ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20, max_categories=40,
                                     sparse_output=False)),
        ])
        zero_num = Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True)),
            ("arcsinh", FunctionTransformer(np.arcsinh, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
        ])
        transformers = ([("zero", zero_num, zero)] if zero else []) + [("num", num, numeric)] \
            + ([("cat", cat, categorical)] if categorical else [])
        c = float(params.get("C", options.logistic_cs[-1]))
        return Pipeline([("prep", ColumnTransformer(transformers, remainder="drop")),
                         ("model", LogisticRegression(C=c, max_iter=5000))])
    if kind == "hgb":
        cat = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan,
                             max_categories=250, dtype=np.float64)
        transformers = ([("zero", SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True),
                          zero)] if zero else []) + [("num", "passthrough", numeric)] \
            + ([("cat", cat, categorical)] if categorical else [])
        mask = [False] * (len(zero) + len(numeric)) + [True] * len(categorical)
        leaves, min_leaf, l2 = options.hgb_grid[-1]
        model = HistGradientBoostingClassifier(
            max_iter=int(params.get("max_iter", options.hgb_max_iter)), learning_rate=options.hgb_learning_rate,
            max_leaf_nodes=int(params.get("max_leaf_nodes", leaves)),
            min_samples_leaf=int(params.get("min_samples_leaf", min_leaf)),
            l2_regularization=float(params.get("l2_regularization", l2)),
            # No built-in early stopping: its validation split is random across months and establishments.
            early_stopping=False, categorical_features=mask if categorical else None, random_state=0)
        return Pipeline([("prep", ColumnTransformer(transformers, remainder="drop")), ("model", model)])
    raise ModelOptionError(f"unknown model kind {kind!r}: expected 'logistic' or 'hgb'")


def platt_parameters(decision: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(slope, intercept)`` of a logistic regression of ``y`` on ``decision``, whatever their sign."""
    platt = LogisticRegression(C=1e6, max_iter=1000)
    platt.fit(np.asarray(decision, dtype=float).reshape(-1, 1), np.asarray(y).astype(int))
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


def fit_platt(decision: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(slope, intercept)`` of Platt scaling of log-odds ``decision`` on labels ``y``.

    ``ValueError`` if the slope is not positive: the model then ranks the calibration window no
    better than chance, and calibrating would reverse its order.
    """
    slope, intercept = platt_parameters(decision, y)
    if not slope > 0:
        raise ModelInputError(f"calibration on the validation window failed: Platt slope {slope:.4g} <= 0, the model's "
                              "scores do not rank that window better than chance")
    return slope, intercept


def calibrated_logit(estimator: Pipeline, calibration: tuple[float, float], X: pd.DataFrame) -> np.ndarray:
    """Calibrated log-odds of every row of the design matrix ``X``."""
    slope, intercept = calibration
    return slope * np.asarray(estimator.decision_function(X), dtype=float) + intercept


def probability(logit: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logit))


def alert_levels(score: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    """``"high"`` if score >= high threshold, else ``"moderate"`` if >= moderate threshold, else None."""
    score = np.asarray(score, dtype=float)
    out = np.full(score.shape, None, dtype=object)
    out[score >= thresholds["moderate"]] = "moderate"
    out[score >= thresholds["high"]] = "high"
    return out


def window_metrics(y: np.ndarray, score: np.ndarray, thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """AUC-PR, ROC AUC, Brier score, positive rate and, with thresholds, precision/recall per alert level.

    Alert levels are cumulative: "moderate" counts every row at or above the moderate threshold.
    """
    y = np.asarray(y, dtype=int)
    both = 0 < y.sum() < len(y)
    result: dict[str, Any] = {
        "rows": len(y), "positives": int(y.sum()), "positive_rate": float(y.mean()) if len(y) else None,
        "auc_pr": float(average_precision_score(y, score)) if both else None,
        "roc_auc": float(roc_auc_score(y, score)) if both else None,
        "brier": float(brier_score_loss(y, score)) if len(y) else None,
    }
    if thresholds is not None:
        for level in ALERT_LEVELS:
            flagged = score >= thresholds[level]
            hits = int((flagged & (y == 1)).sum())
            result[level] = {"threshold": thresholds[level], "alerts": int(flagged.sum()),
                             "precision": hits / int(flagged.sum()) if flagged.any() else None,
                             "recall": hits / int(y.sum()) if y.sum() else None}
    return result


# ----------------------------------------------------------------------------- ranking metrics

def region_month_groups(frame: pd.DataFrame) -> np.ndarray:
    """Integer code of every row's (region, month); rows without a region share one region."""
    months = months_of(frame)
    if "region" in frame.columns:
        region = frame["region"].astype(object)
        region = region.where(region.notna() & (region != ""), UNKNOWN_REGION).astype(str)
    else:
        region = pd.Series(UNKNOWN_REGION, index=frame.index)
    return pd.MultiIndex.from_arrays([region.to_numpy(), months.to_numpy()]).factorize()[0]


def precision_recall_at_k(y: np.ndarray, score: np.ndarray, k: int) -> tuple[float | None, float | None]:
    """Expected precision and recall of the ``k`` highest scores, ties at the cut split evenly."""
    y = np.asarray(y, dtype=float)
    score = np.asarray(score, dtype=float)
    n = len(y)
    if n == 0 or k <= 0:
        return None, None
    k = min(k, n)
    cut = np.sort(score)[::-1][k - 1]
    above = score > cut
    tied = score == cut
    slots = k - int(above.sum())
    hits = float(y[above].sum()) + slots * float(y[tied].mean())
    positives = float(y.sum())
    return hits / k, (hits / positives if positives else None)


def top_k_by_group(y: np.ndarray, score: np.ndarray, groups: np.ndarray, k: int) -> dict[str, Any]:
    """Precision of each group's ``k`` highest scores (ties in expectation): the mean over groups,
    the pooled precision (hits / alerts) and the counts. ``None`` precisions without rows."""
    y = np.asarray(y, dtype=float)
    score = np.asarray(score, dtype=float)
    precisions, hits, alerts = [], 0.0, 0
    for rows in pd.Series(np.arange(len(y))).groupby(np.asarray(groups), sort=True).indices.values():
        precision, _ = precision_recall_at_k(y[rows], score[rows], k)
        size = min(k, len(rows))
        precisions.append(precision)
        hits += precision * size
        alerts += size
    return {"k": k, "groups": len(precisions), "alerts": alerts,
            "mean_precision": float(np.mean(precisions)) if precisions else None,
            "pooled_precision": hits / alerts if alerts else None}


def log_loss_of(y: np.ndarray, p: np.ndarray) -> float:
    """Mean log-loss of probabilities ``p`` (clipped away from 0 and 1)."""
    p = np.clip(np.asarray(p, dtype=float), 1e-12, 1 - 1e-12)
    y = np.asarray(y, dtype=float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def selection_metrics(decision: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int) -> dict[str, Any]:
    """What a setting is chosen on (validation window): precision of the top ``k`` per region and
    month (mean over groups), the log-loss after Platt scaling on the same window (tie-breaker),
    and AUC-PR (reported)."""
    decision = np.asarray(decision, dtype=float)
    slope, intercept = platt_parameters(decision, y)
    top = top_k_by_group(y, decision, groups, k)
    return {"top_k_precision": top["mean_precision"], "top_k_alerts": top["alerts"],
            "log_loss": log_loss_of(y, probability(slope * decision + intercept)),
            "auc_pr": float(average_precision_score(y, decision)), "platt_slope": slope}


def best_setting(trials: list[dict[str, Any]]) -> int:
    """Index of the chosen trial: the highest validation top-k precision, where differences within
    one standard error of the best (``sqrt(p (1 - p) / alerts)``) are ties decided by the lowest
    log-loss; then the first listed. Trials whose Platt slope is not positive are never chosen
    unless all are."""
    usable = [i for i, t in enumerate(trials) if t["platt_slope"] > 0] or list(range(len(trials)))
    best = max(trials[i]["top_k_precision"] or 0.0 for i in usable)
    error = float(np.sqrt(best * (1 - best) / max(1, max(trials[i]["top_k_alerts"] for i in usable))))
    tied = [i for i in usable if (trials[i]["top_k_precision"] or 0.0) >= best - error]
    return min(tied, key=lambda i: (trials[i]["log_loss"], i))


# ----------------------------------------------------------------------------- thresholds

def alert_goal_threshold(y: np.ndarray, p: np.ndarray, *, groups: int, scale: float, band: tuple[float, float],
                         beta: float, below: float | None = None) -> dict[str, Any]:
    """Threshold of one alert level, chosen on a validation window's calibrated probabilities.

    Alerting on ``p >= threshold`` flags ``n`` rows; its volume is ``n / groups × scale`` alerts
    per region and month (``scale`` = 100 / held-out share when only held-out companies are in
    the window). Among the thresholds whose volume lies in ``band`` (and strictly below
    ``below`` when given), the one with the highest F-beta; if none lies in the band, the one
    whose volume is nearest to it (then the highest F-beta). Returns the threshold, its volume,
    validation precision, recall and F-beta, and whether the goal was met (``in_band``).
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="stable")
    sorted_p, sorted_y = p[order], y[order]
    # One candidate per distinct value: alerting on p >= value flags every row down to its last tie.
    last_of_value = np.r_[sorted_p[1:] != sorted_p[:-1], True]
    thresholds = sorted_p[last_of_value]
    flagged = np.flatnonzero(last_of_value) + 1
    hits = np.cumsum(sorted_y)[last_of_value]
    if below is not None:
        keep = thresholds < below
        if not keep.any():  # nothing scores below ``below``: the level flags the same rows
            threshold = float(np.nextafter(below, -np.inf))
            return {"threshold": threshold, **_goal_figures(y, p >= threshold, groups, scale, beta), "in_band": False}
        thresholds, flagged, hits = thresholds[keep], flagged[keep], hits[keep]
    positives = max(1.0, float(y.sum()))
    precision, recall = hits / flagged, hits / positives
    b2 = beta * beta
    with np.errstate(divide="ignore", invalid="ignore"):
        fbeta = np.where(precision + recall > 0, (1 + b2) * precision * recall / (b2 * precision + recall), 0.0)
    volume = flagged / max(1, groups) * scale
    distance = np.maximum(band[0] - volume, 0) + np.maximum(volume - band[1], 0)
    best = int(np.lexsort((-fbeta, distance))[0])
    threshold = float(thresholds[best])
    return {"threshold": threshold, **_goal_figures(y, p >= threshold, groups, scale, beta),
            "in_band": bool(distance[best] == 0)}


def _goal_figures(y: np.ndarray, flagged: np.ndarray, groups: int, scale: float, beta: float) -> dict[str, Any]:
    alerts, hits, positives = int(flagged.sum()), float(y[flagged].sum()), float(y.sum())
    precision = hits / alerts if alerts else None
    recall = hits / positives if positives else None
    b2 = beta * beta
    fbeta = ((1 + b2) * precision * recall / (b2 * precision + recall)
             if precision and recall else 0.0)
    return {"alerts": alerts, "alerts_per_region_month": alerts / max(1, groups) * scale,
            "precision": precision, "recall": recall, "beta": beta, "fbeta": fbeta}


def choose_thresholds(y: np.ndarray, p: np.ndarray, groups: np.ndarray, scale: float,
                      options: TrainingOptions) -> dict[str, dict[str, Any]]:
    """Both alert thresholds on the validation window (:func:`alert_goal_threshold`): ``high``
    for the calling capacity, then ``moderate`` strictly below it for the follow-up list."""
    n_groups = int(len(np.unique(groups)))
    choice: dict[str, dict[str, Any]] = {}
    below = None
    for level, band in (("high", options.high_alerts_per_region_month),
                        ("moderate", options.moderate_alerts_per_region_month)):
        result = alert_goal_threshold(y, p, groups=n_groups, scale=scale, band=band, beta=ALERT_BETAS[level],
                                      below=below)
        choice[level] = {**result, "goal_alerts_per_region_month": list(band), "purpose": ALERT_PURPOSES[level]}
        below = result["threshold"]
    return choice


# ----------------------------------------------------------------------------- tuning

def iteration_score(decision: np.ndarray, y: np.ndarray) -> float:
    """Validation score the boosting's number of iterations is chosen on: AUC-PR (rank-based,
    smooth over iterations; the top-k precision is too coarse to compare hundreds of prefixes)."""
    return float(average_precision_score(y, decision))


def tune(kind: ModelKind, numeric: list[str], categorical: list[str], options: TrainingOptions,
         X_train: pd.DataFrame, y_train: np.ndarray, X_val: pd.DataFrame, y_val: np.ndarray,
         groups_val: np.ndarray) -> tuple[Pipeline, dict[str, Any], list[dict[str, Any]]]:
    """Fit every setting of ``kind`` on train, measure it on validation, return the chosen fitted
    pipeline, its parameters and the trial log (parameters and validation figures of each setting).

    Settings are compared by :func:`best_setting` on :func:`selection_metrics` (precision of the
    top ``options.selection_k`` per region and month, log-loss as tie-breaker; ``groups_val`` are
    the validation rows' region-month codes). Gradient boosting: each tree shape is fitted once
    with ``hgb_max_iter`` iterations, its number of iterations is the prefix with the best
    validation :func:`iteration_score` (``staged_decision_function``), and the chosen setting is
    refitted (deterministic: no subsampling, fixed seed, so the refit is that prefix).
    """
    trials: list[dict[str, Any]] = []
    fitted: list[Pipeline | None] = []
    k = options.selection_k
    if kind == "logistic":
        for c in options.logistic_cs:
            params = {"C": c}
            estimator = build_pipeline(kind, numeric, categorical, options, params)
            estimator.fit(X_train, y_train)
            figures = selection_metrics(estimator.decision_function(X_val), y_val, groups_val, k)
            trials.append({**params, **figures})
            fitted.append(estimator)
    elif kind == "hgb":
        for leaves, min_leaf, l2 in options.hgb_grid:
            params = {"max_leaf_nodes": leaves, "min_samples_leaf": min_leaf, "l2_regularization": l2,
                      "max_iter": options.hgb_max_iter}
            estimator = build_pipeline(kind, numeric, categorical, options, params)
            estimator.fit(X_train, y_train)
            Z_val = estimator.named_steps["prep"].transform(X_val)
            staged = [np.asarray(d, dtype=float).ravel()
                      for d in estimator.named_steps["model"].staged_decision_function(Z_val)]
            scores = [iteration_score(d, y_val) for d in staged]
            iterations = int(np.argmax(scores)) + 1
            figures = selection_metrics(staged[iterations - 1], y_val, groups_val, k)
            trials.append({**params, "max_iter": iterations, **figures})
            fitted.append(None)
    else:
        raise ModelOptionError(f"unknown model kind {kind!r}: expected 'logistic' or 'hgb'")
    if not trials:
        raise ModelOptionError(f"no {kind} setting to try: options.logistic_cs / options.hgb_grid is empty")
    chosen = best_setting(trials)
    params = {key: trials[chosen][key] for key in
              (("C",) if kind == "logistic" else ("max_leaf_nodes", "min_samples_leaf", "l2_regularization", "max_iter"))}
    estimator = fitted[chosen]
    if estimator is None:
        estimator = build_pipeline(kind, numeric, categorical, options, params)
        estimator.fit(X_train, y_train)
    return estimator, params, trials


# ----------------------------------------------------------------------------- explanation support

def reference_values(X: pd.DataFrame, numeric: list[str], categorical: list[str]) -> dict[str, Any]:
    """A typical training row: median (numeric) or mode (categorical); None (missing) where most rows miss it."""
    reference: dict[str, Any] = {}
    for column in numeric + categorical:
        values = X[column]
        if values.isna().mean() > 0.5 or values.notna().sum() == 0:
            reference[column] = None
        elif column in numeric:
            reference[column] = float(values.median())
        else:
            reference[column] = str(values.mode(dropna=True).sort_values().iloc[0])
    return reference


def logistic_column_variables(estimator: Pipeline, numeric: list[str], categorical: list[str]) -> list[str]:
    """Source variable of every column the logistic pipeline's preprocessing outputs."""
    variables: list[str] = []
    by_length = sorted(categorical, key=len, reverse=True)
    for out_name in estimator.named_steps["prep"].get_feature_names_out():
        block, _, name = out_name.partition("__")
        if block in ("num", "zero"):
            variables.append(name.removeprefix("missingindicator_"))
        else:
            variables.append(next(c for c in by_length if name == c or name.startswith(c + "_")))
    return variables


# ----------------------------------------------------------------------------- train

def _check_windows(windows: Windows, months: list[pd.Timestamp]) -> None:
    windows.check()
    present = set(months)
    for name, window in windows.items():
        if not any(window.start <= m <= window.end for m in present):
            raise ModelInputError(f"window {name} ({window.start:%Y-%m} … {window.end:%Y-%m}) holds no labelled month")


def _version(card: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(card, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{card['until_batch']}-{card['kind']}-{digest}"


def observed_variables(table: pd.DataFrame, window: MonthRange, variables: list[str],
                       options: TrainingOptions | None = None) -> tuple[list[str], list[str]]:
    """``(kept, dropped)``: the variables some row of ``window`` holds, and those no row does
    (never delivered, or not yet in those months; they carry no information).

    :class:`TrainingRefused` when more than ``options.max_unobserved_share`` of ``variables``
    are never observed: a model on the remaining few would not be the model asked for.
    """
    options = options or TrainingOptions()
    rows = table.loc[window.select(table), variables]
    present = rows.notna().any()
    kept = [v for v in variables if present[v]]
    dropped = [v for v in variables if not present[v]]
    if not kept or len(dropped) > options.max_unobserved_share * len(variables):
        raise TrainingRefused(
            f"{len(dropped)} of the {len(variables)} model variables are never observed in the train window "
            f"({window.describe()}, {len(rows):,} rows): {', '.join(dropped[:12])}{' …' if len(dropped) > 12 else ''}",
            "check that the batches deliver these files over the whole history (sf report), "
            "or train on the variables delivered (--variables)")
    return kept, dropped


def variable_themes(feature_columns: list[str]) -> dict[str, str]:
    """Theme of every variable: the catalogue's, or the derived variable's (:mod:`sf.model.trends`)."""
    plain = themes_of([c for c in feature_columns if c not in DERIVED])
    return {c: DERIVED[c].theme if c in DERIVED else plain[c] for c in feature_columns}


def naive_comparison(frames: dict[str, tuple[np.ndarray, np.ndarray, pd.DataFrame]], k: int
                     ) -> tuple[dict[str, Any], list[str]]:
    """The chosen model against the naive "has URSSAF debt" ranking (:func:`urssaf_debt_baseline`)
    on each window ``{name: (y, p, rows)}``: AUC-PR and precision of the top ``k`` per region and
    month of both, and whether the model beats the naive ranking on each. Returns the comparison
    and the warnings (validation only: the window the model was chosen on)."""
    comparison: dict[str, Any] = {"naive": "has URSSAF debt: ratio_dette > 0 by ratio, else debt amount",
                                  "k": k}
    warnings: list[str] = []
    for name, (y, p, rows) in frames.items():
        try:
            naive = urssaf_debt_baseline(rows).to_numpy(dtype=float)
        except ModelInputError:
            comparison[name] = None
            continue
        groups = region_month_groups(rows)
        figures = {}
        for scorer, score in (("model", p), ("naive", naive)):
            figures[scorer] = {"auc_pr": float(average_precision_score(y, score)),
                               f"top{k}_region_month": top_k_by_group(y, score, groups, k)["mean_precision"]}
        beats = {metric: figures["model"][metric] > figures["naive"][metric]
                 for metric in ("auc_pr", f"top{k}_region_month")}
        comparison[name] = {**figures, "model_beats_naive": beats}
        if name == "validation":
            for metric, ok in beats.items():
                if not ok:
                    label = "AUC-PR" if metric == "auc_pr" else f"precision of the top {k} per region and month"
                    warnings.append(f"the model does not beat the naive 'has URSSAF debt' ranking on validation "
                                    f"{label}: {figures['model'][metric]:.3f} vs {figures['naive'][metric]:.3f}")
    if comparison.get("validation") is None:
        warnings.append("no naive ranking on validation (no URSSAF debt column): the model could not be "
                        "compared with it")
    return comparison, warnings


def train(table: pd.DataFrame, *, feature_columns: list[str], until_batch: str, sf_version: str,
          windows: Windows | None = None, options: TrainingOptions | None = None) -> TrainedModel:
    """Train both candidates on the train window, calibrate and choose on validation, report on test.

    Returns the winning :class:`TrainedModel` (its ``metrics`` hold both candidates' figures on
    the validation and test windows; its card the thresholds' goals and figures, the comparison
    with the naive ranking and ``warnings``, among them a validation window with fewer than
    ``options.min_validation_positives`` positives). ``ValueError`` for bad input;
    :class:`TrainingRefused` (exit code 2) for too little history or no candidate that ranks the
    validation window better than chance (Platt slope <= 0: too few failures to learn from).
    """
    options = options or TrainingOptions()
    if not options.kinds or not options.logistic_cs or not options.hgb_grid:
        raise ModelOptionError("training options: kinds, logistic_cs and hgb_grid must each list at least one value")
    for column in ("siret", "siren"):
        if column not in table.columns:
            raise ModelInputError(f"feature table has no {column!r} column")
    leaking = {"outcome", "siret", "siren", "periode"} & set(feature_columns)
    if leaking:
        raise ModelOptionError(f"feature_columns must not include identifiers or the target: {', '.join(sorted(leaking))}")
    numeric, categorical = split_feature_kinds(table, feature_columns)
    themes = variable_themes(feature_columns)

    usable = table.loc[labelled_mask(table, until_batch, options.horizon_months)]
    months = months_of(usable)
    y_all = labels_of(usable).to_numpy()
    windows = windows or default_windows(list(months.unique()), options)
    _check_windows(windows, list(months.unique()))

    X_all = design_matrix(usable, numeric, categorical)
    parts: dict[str, tuple[pd.DataFrame, np.ndarray, pd.DataFrame]] = {}
    for name, window in windows.items():
        inside = window.select(usable)
        y = y_all[inside]
        if y.sum() == 0 or y.sum() == len(y):
            raise ModelInputError(f"not enough labelled data: the {name} window ({window.describe()}) "
                                  f"has {int(y.sum())} positive(s) among {len(y)} row(s); "
                                  "it needs both positives and negatives")
        parts[name] = (X_all.loc[inside], y, usable.loc[inside])

    X_train, y_train, _ = parts["train"]
    X_val, y_val, frame_val = parts["validation"]
    X_test, y_test, frame_test = parts["test"]
    thin = ([f"the validation window ({windows.validation.describe()}) holds {int(y_val.sum())} positive(s) "
             f"among {len(y_val):,} rows, fewer than {options.min_validation_positives}: the calibration, the "
             "thresholds and the comparison with the naive ranking rest on too few failures to be trusted "
             "(more establishments, a few thousand at the synthetic failure rate, or a longer history)"]
            if y_val.sum() < options.min_validation_positives else [])
    groups_val, groups_test = region_month_groups(frame_val), region_month_groups(frame_test)
    # Validation holds the held-out companies only; scoring covers every company.
    scale = 100.0 / windows.validation.holdout_percent if windows.validation.companies == "held_out" else 1.0
    k = options.selection_k
    candidates: dict[str, dict[str, Any]] = {}
    for kind in options.kinds:
        estimator, params, trials = tune(kind, numeric, categorical, options,  # type: ignore[arg-type]
                                         X_train, y_train.astype(int), X_val, y_val.astype(int), groups_val)
        decision_val = np.asarray(estimator.decision_function(X_val), dtype=float)
        selection = selection_metrics(decision_val, y_val, groups_val, k)
        candidate: dict[str, Any] = {"estimator": estimator, "params": params, "trials": trials,
                                     "selection": selection}
        candidates[kind] = candidate
        if not selection["platt_slope"] > 0:
            continue  # ranks validation no better than chance: calibrating would reverse it
        calibration = fit_platt(decision_val, y_val)
        p_val = probability(calibrated_logit(estimator, calibration, X_val))
        choice = choose_thresholds(y_val, p_val, groups_val, scale, options)
        thresholds = {level: choice[level]["threshold"] for level in ALERT_LEVELS}
        p_test = probability(calibrated_logit(estimator, calibration, X_test))
        p_train = probability(calibrated_logit(estimator, calibration, X_train))
        candidate.update(calibration=calibration, thresholds=thresholds, threshold_choice=choice, p_val=p_val,
                         p_test=p_test, metrics={
                             "train": window_metrics(y_train, p_train),
                             "validation": {**window_metrics(y_val, p_val, thresholds), "log_loss": log_loss_of(y_val, p_val),
                                            f"top{k}_region_month": selection["top_k_precision"]},
                             "test": {**window_metrics(y_test, p_test, thresholds), "log_loss": log_loss_of(y_test, p_test),
                                      f"top{k}_region_month": top_k_by_group(y_test, p_test, groups_test, k)["mean_precision"]}})
    ranked = [kind for kind in options.kinds if "calibration" in candidates[kind]]
    if not ranked:
        slopes = ", ".join(f"{kind} {c['selection']['platt_slope']:.3g}" for kind, c in candidates.items())
        raise TrainingRefused(
            f"no candidate ranks the validation window ({windows.validation.describe()}, {int(y_val.sum())} positives "
            f"among {len(y_val):,} rows) better than chance: Platt slope <= 0 ({slopes})",
            "train on more establishments (a few thousand at the synthetic failure rate) or a longer history: "
            "with so few failures the signals cannot be learnt nor checked")
    # Candidates compared as settings are (best_setting); ties keep the first kind listed (the
    # logistic regression by default): transparency wins ties.
    chosen = ranked[best_setting([candidates[kind]["selection"] for kind in ranked])]
    winner = candidates[chosen]
    estimator = winner["estimator"]

    logistic_centre = None
    if chosen == "logistic":
        transformed = estimator.named_steps["prep"].transform(X_train)
        logistic_centre = [float(v) for v in np.asarray(transformed, dtype=float).mean(axis=0)]

    comparison, warnings = naive_comparison({"validation": (y_val, winner["p_val"], frame_val),
                                             "test": (y_test, winner["p_test"], frame_test)}, k)
    warnings = thin + warnings
    for level, choice in winner["threshold_choice"].items():
        if not choice["in_band"]:
            warnings.append(f"the {level} threshold misses its goal of {choice['goal_alerts_per_region_month'][0]:g}"
                            f"–{choice['goal_alerts_per_region_month'][1]:g} alerts per region and month: "
                            f"{choice['alerts_per_region_month']:.1f} on validation")
    training_size = {name: {"rows": len(y), "positives": int(y.sum()),
                            "siret": int(frame["siret"].nunique()), "siren": int(frame["siren"].nunique())}
                     for name, (_, y, frame) in parts.items()}
    metrics = {"chosen": chosen,
               "selection": (f"highest validation precision of the top {k} per region and month; differences "
                             "within one standard error are ties, decided by the lowest validation log-loss"),
               "candidates": {kind: c["metrics"] for kind, c in candidates.items() if "metrics" in c},
               "selection_figures": {kind: c["selection"] for kind, c in candidates.items()},
               "hyperparameters": {kind: {"chosen": c["params"], "trials": c["trials"]}
                                   for kind, c in candidates.items()}}
    card: dict[str, Any] = {
        "sf_version": sf_version, "until_batch": until_batch, "kind": chosen,
        "variables": [{"name": c, "theme": themes[c], "type": "categorical" if c in categorical else "numeric",
                       **({"derived": True} if c in DERIVED else {})}
                      for c in feature_columns],
        "windows": windows.to_dict(), "horizon_months": options.horizon_months,
        "training_size": training_size, "metrics": metrics, "thresholds": winner["thresholds"],
        "threshold_rule": {level: (f"{choice['purpose']}; goal {choice['goal_alerts_per_region_month'][0]:g}–"
                                   f"{choice['goal_alerts_per_region_month'][1]:g} alerts per region and month, "
                                   "chosen on validation")
                           for level, choice in winner["threshold_choice"].items()},
        "threshold_choice": winner["threshold_choice"],
        "naive_comparison": comparison, "warnings": warnings,
        "calibration": {"method": "platt", "slope": winner["calibration"][0], "intercept": winner["calibration"][1],
                        "window": "validation"},
        "options": asdict(options),
        "explanation": {
            "unit": "calibrated log-odds",
            "method": ("coefficient x centred transformed value, summed by variable and theme"
                       if chosen == "logistic" else
                       "baseline Shapley values over themes from the reference row; per-variable occlusion"),
        },
    }
    version = _version(card)
    card["version"] = version
    card["trained_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return TrainedModel(
        estimator=estimator, kind=chosen, feature_columns=list(feature_columns), categorical_columns=categorical,
        themes=themes, thresholds=winner["thresholds"], calibration=winner["calibration"], windows=windows,
        metrics=metrics, training_size=training_size, until_batch=until_batch, sf_version=sf_version,
        version=version, reference=reference_values(X_train, numeric, categorical),
        logistic_centre=logistic_centre, card=card)
