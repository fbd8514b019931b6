"""Synthetic establishment × month panels with a known signal, for the model tests.

Each establishment has a latent risk that drifts month to month (a random walk around a
company-specific level plus a sector offset). The features are noisy views of it, spread over
the five themes, and the monthly hazard of an insolvency event is ``sigmoid(base + 1.6 × risk)``.
``outcome(p)`` = an event in ``[p, p + 18]`` (docs/features.md §3), NaN when ``p + 18`` is past the
last month of data (not yet observable). An establishment has no rows after its event.
The oracle's ``oracle_p18`` is the exact probability of an event within 18 months given the
latent risk at ``p`` under a frozen-risk approximation (the true drift is small).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sf.model.training import TrainingOptions

#: Training options small enough for unit tests (few iterations, a two-point grid).
FAST = TrainingOptions(hgb_max_iter=40, logistic_cs=(0.03, 1.0), hgb_grid=((8, 100, 1.0),))

FEATURES = ["ratio_dette", "montant_part_patronale", "delai_nb_jours_restants", "effectif", "effectif_past_12",
            "apart_heures_consommees", "taux_marge", "paydex_nb_jours", "code_naf", "age"]
SECTORS = {"C": 0.0, "F": 0.6, "G": 0.2, "I": 0.8, "M": -0.4}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def make_panel(n_etab: int = 500, start: str = "2016-01-01", months: int = 72, seed: int = 0,
               base_hazard: float = -6.0, signal: float = 1.6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(features, truth)``: the feature table (contract of sf.model.training) and the truth table
    ``siret, periode, oracle_p18, outcome_18`` of the same rows."""
    rng = np.random.default_rng(seed)
    periods = pd.date_range(start, periods=months, freq="MS", tz="UTC")
    sector = rng.choice(list(SECTORS), size=n_etab)
    level = rng.normal(0, 1, n_etab) + np.array([SECTORS[s] for s in sector])
    drift = np.cumsum(rng.normal(0, 0.12, (n_etab, months + 12)), axis=1)
    risk_full = level[:, None] + drift  # 12 months of history before the first period for the lags
    risk = risk_full[:, 12:]
    hazard = _sigmoid(base_hazard + signal * risk)
    event = rng.random((n_etab, months)) < hazard
    first_event = np.where(event.any(axis=1), event.argmax(axis=1), months + 10_000)
    size = np.exp(rng.normal(3, 1, n_etab))
    region = rng.choice(["11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93"], size=n_etab)
    created = rng.integers(1960, 2015, n_etab)

    rows = []
    for i in range(n_etab):
        siren = f"{100000000 + i:09d}"
        siret = siren + f"{10000 + i % 7:05d}"
        last = min(months - 1, first_event[i])
        for t in range(last + 1):
            r = risk[i, t]
            ratio = max(0.0, 0.3 * r + rng.normal(0, 0.5))
            eff = size[i] * np.exp(-0.08 * r + rng.normal(0, 0.05))
            eff_12 = size[i] * np.exp(-0.08 * risk_full[i, t] + rng.normal(0, 0.05))
            event_in_18 = first_event[i] <= t + 18
            observable = t + 18 <= months - 1 or first_event[i] <= months - 1 and event_in_18
            # A month is labelled when its whole horizon lies inside the data (docs/features.md §3 censoring).
            outcome = bool(event_in_18) if t + 18 <= months - 1 else np.nan
            p_no_event = np.prod(1 - _sigmoid(base_hazard + signal * np.full(19, r)))
            rows.append({
                "siret": siret, "siren": siren, "periode": periods[t], "region": region[i],
                "outcome": outcome, "oracle_p18": 1 - p_no_event, "outcome_18": bool(event_in_18)
                if observable else np.nan,
                "ratio_dette": ratio, "montant_part_patronale": ratio * 1000 * size[i] / 20,
                "delai_nb_jours_restants": float(rng.integers(0, 200)) if ratio > 0.8 and rng.random() < 0.5 else np.nan,
                "effectif": round(eff), "effectif_past_12": round(eff_12),
                "apart_heures_consommees": max(0.0, 30 * r + rng.normal(0, 20)) if rng.random() < 0.3 else 0.0,
                "taux_marge": 20 - 4 * r + rng.normal(0, 4) if rng.random() < 0.6 else np.nan,
                "paydex_nb_jours": max(0.0, 15 + 8 * r + rng.normal(0, 8)) if rng.random() < 0.5 else np.nan,
                "code_naf": sector[i], "age": 2016 - created[i] + t // 12,
            })
    frame = pd.DataFrame(rows)
    truth = frame[["siret", "periode", "oracle_p18", "outcome_18"]].copy()
    features = frame.drop(columns=["oracle_p18", "outcome_18"])
    return features, truth
