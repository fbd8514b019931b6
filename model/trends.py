"""Trend and change variables derived from each establishment's monthly Features rows.

The Features hold levels at month ``p`` and a few fixed lags (``effectif_past_6``,
``montant_part_patronale_past_3``, ...). A model sees a *deterioration* better as a change:
headcount falling, a debt growing, a delay plan or short-time work starting. This module
computes, for every row ``(siret, p)`` of a table sorted or not, from that SIRET's rows at
months ``p - k … p`` only (point-in-time: nothing after ``p`` is read):

- ``<base>_var_<k>`` for ``k`` in 3, 6, 12: ``x(p) - x(p - k)``;
- ``<base>_pente_<k>`` for ``k`` in 6, 12: least-squares slope of ``x`` over months
  ``p - k + 1 … p`` per month (at least half of those months observed, else missing);
- ``score_dette_naif``: the naive "has URSSAF debt" ranking (:func:`urssaf_debt_baseline`), so
  the model can start from the ranking it must beat.

Bases ``x`` (transformed so that a change reads the same at every size):
``effectif`` = log(1 + headcount) (missing stays missing: a late headcount is not a zero);
``dette`` = log(1 + employee + employer debt) and ``ratio_dette`` (debt / average
contributions); ``delai`` = log(1 + payment-schedule amount); ``apart`` = log(1 + short-time
hours consumed). The URSSAF, delay and short-time bases read an absent value as 0: the Features
omit them when there is nothing to report, and for debts their mere presence reveals a debt at
*any* time of the establishment's history, future included (``training.ZERO_WHEN_MISSING``).

A month missing from a SIRET's rows (a gap) makes the changes that need it missing: lags are
looked up by calendar month, never by row position.

Inputs: a DataFrame with ``siret``, ``periode`` (first of month, tz-aware or naive) and the
source columns of the requested variables (:func:`source_columns`); outputs: the same rows with
the derived columns added (float64). ``ValueError`` (:class:`~sf.model.errors.ModelInputError`)
when a source column is missing, :class:`~sf.model.errors.ModelOptionError` for an unknown name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import ModelInputError, ModelOptionError

#: Months of history before the first scored month that the derived variables read.
LOOKBACK_MONTHS = 12
CHANGE_MONTHS: tuple[int, ...] = (3, 6, 12)
SLOPE_MONTHS: tuple[int, ...] = (6, 12)
DEBT_COLUMNS: tuple[str, ...] = ("montant_part_ouvriere", "montant_part_patronale")


def _zero(table: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(table[column], errors="coerce").astype("float64").fillna(0.0)


def _log1p_positive(values: pd.Series) -> pd.Series:
    return np.log1p(values.clip(lower=0))


def urssaf_debt_baseline(table: pd.DataFrame) -> pd.Series:
    """Naive score "has URSSAF debt": ``1 + r / (1 + r)`` for a positive debt ratio ``r``
    (``ratio_dette``), else ``a / (1 + a)`` for the debt amount ``a`` (employee + employer parts),
    0 without a debt; a row with a positive ratio always outranks one without.

    Absent values read as 0 (no debt): a present ``ratio_dette`` of 0 would otherwise rank an
    establishment above the others because it has a debt *later* (the presence leak of
    ``training.ZERO_WHEN_MISSING``). ``ValueError`` if the table has none of these columns.
    """
    debt_columns = [c for c in DEBT_COLUMNS if c in table.columns]
    if "ratio_dette" not in table.columns and not debt_columns:
        raise ModelInputError("naive URSSAF baseline needs 'ratio_dette' or 'montant_part_ouvriere'/'montant_part_patronale'")
    amount = sum((_zero(table, c) for c in debt_columns), pd.Series(0.0, index=table.index)).clip(lower=0)
    score = amount / (1 + amount)
    if "ratio_dette" in table.columns:
        ratio = _zero(table, "ratio_dette").clip(lower=0)
        score = score.where(~(ratio > 0), 1 + ratio / (1 + ratio))
    return score.astype("float64")


@dataclass(frozen=True)
class Base:
    """A monthly series the changes are computed on: its theme, source columns and transform."""

    theme: str
    sources: tuple[str, ...]
    value: Callable[[pd.DataFrame], pd.Series]


BASES: dict[str, Base] = {
    "effectif": Base("effectif", ("effectif",),
                     lambda t: _log1p_positive(pd.to_numeric(t["effectif"], errors="coerce").astype("float64"))),
    "dette": Base("urssaf", DEBT_COLUMNS, lambda t: _log1p_positive(_zero(t, DEBT_COLUMNS[0]) + _zero(t, DEBT_COLUMNS[1]))),
    "ratio_dette": Base("urssaf", ("ratio_dette",), lambda t: _zero(t, "ratio_dette").clip(lower=0)),
    "delai": Base("urssaf", ("delai_montant_echeancier",), lambda t: _log1p_positive(_zero(t, "delai_montant_echeancier"))),
    "apart": Base("apart", ("apart_heures_consommees",), lambda t: _log1p_positive(_zero(t, "apart_heures_consommees"))),
}
NAIVE_SCORE = "score_dette_naif"


@dataclass(frozen=True)
class Derived:
    """One derived variable: its base, kind (``"var"`` change or ``"pente"`` slope) and months."""

    name: str
    base: str
    kind: str
    months: int

    @property
    def theme(self) -> str:
        return BASES[self.base].theme if self.base in BASES else "urssaf"

    @property
    def sources(self) -> tuple[str, ...]:
        return BASES[self.base].sources if self.base in BASES else ("ratio_dette", *DEBT_COLUMNS)


def _catalogue() -> dict[str, Derived]:
    out: dict[str, Derived] = {}
    for base in BASES:
        for k in CHANGE_MONTHS:
            out[f"{base}_var_{k}"] = Derived(f"{base}_var_{k}", base, "var", k)
    for base in ("effectif", "dette", "ratio_dette"):
        for k in SLOPE_MONTHS:
            out[f"{base}_pente_{k}"] = Derived(f"{base}_pente_{k}", base, "pente", k)
    out[NAIVE_SCORE] = Derived(NAIVE_SCORE, "naive", "naive", 0)
    return out


#: Every derived variable by name, in a stable order.
DERIVED: dict[str, Derived] = _catalogue()


def derived_in(names: Iterable[str]) -> list[str]:
    """The names of ``names`` that are derived variables, in order."""
    return [n for n in names if n in DERIVED]


def source_columns(names: Iterable[str]) -> list[str]:
    """Features columns the derived variables among ``names`` are computed from."""
    return list(dict.fromkeys(c for n in derived_in(names) for c in DERIVED[n].sources))


def _month_index(periode: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(periode, utc=True)
    return (stamps.dt.year * 12 + stamps.dt.month - 1).to_numpy(dtype=np.int64)


def add_derived(table: pd.DataFrame, names: Iterable[str]) -> pd.DataFrame:
    """``table`` with the derived variables ``names`` added (see the module docstring)."""
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in DERIVED]
    if unknown:
        raise ModelOptionError(f"unknown derived variable(s): {', '.join(unknown)} (known: {', '.join(DERIVED)})")
    missing = [c for c in ("siret", "periode", *source_columns(names)) if c not in table.columns]
    if missing:
        raise ModelInputError(f"table lacks the column(s) {', '.join(missing)} needed by the derived variables")
    out = table.copy()
    if not names:
        return out
    month = _month_index(table["periode"])
    siret = table["siret"].astype(str).to_numpy()
    if pd.MultiIndex.from_arrays([siret, month]).has_duplicates:
        raise ModelInputError("table has more than one row for a (siret, periode): derived variables need one per month")
    values: dict[str, np.ndarray] = {}

    def lagged(base: str, lag: int) -> np.ndarray:
        """The base's value at month p - lag of the same SIRET (NaN when that month has no row)."""
        if base not in values:
            values[base] = BASES[base].value(table).to_numpy(dtype=float)
        if lag == 0:
            return values[base]
        series = pd.Series(values[base], index=pd.MultiIndex.from_arrays([siret, month]))
        return series.reindex(pd.MultiIndex.from_arrays([siret, month - lag])).to_numpy(dtype=float)

    for name in names:
        d = DERIVED[name]
        if d.kind == "naive":
            out[name] = urssaf_debt_baseline(table).to_numpy(dtype=float)
        elif d.kind == "var":
            out[name] = lagged(d.base, 0) - lagged(d.base, d.months)
        else:  # least-squares slope over months p-k+1 … p, centred time, with the months observed
            window = np.column_stack([lagged(d.base, lag) for lag in range(d.months - 1, -1, -1)])
            t = np.broadcast_to(np.arange(d.months, dtype=float), window.shape)
            seen = ~np.isnan(window)
            n = seen.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                t_mean = np.where(seen, t, 0).sum(axis=1) / n
                x_mean = np.where(seen, window, 0).sum(axis=1) / n
                dt = np.where(seen, t - t_mean[:, None], 0)
                dx = np.where(seen, window - x_mean[:, None], 0)
                slope = (dt * dx).sum(axis=1) / (dt * dt).sum(axis=1)
            out[name] = np.where(n >= max(2, d.months // 2), slope, np.nan)
    return out
