"""The chunk-wide computation: many companies at once give exactly the rows of each company
computed alone (no value leaks from one établissement or company to another), in both modes."""

from __future__ import annotations

from itertools import combinations

import pandas as pd
import pytest
from sf.features.compute import compute_companies_features, compute_company_features
from sf.features.state import CompanyState

from .golden import example

#: Sources dropped from the copies of the golden company, so that a chunk mixes établissements
#: with and without each source (a row computed with a source next to one without it).
_SOURCES = ("effectif", "cotisation", "debit", "delai", "procol", "apconso", "compte", "sirene")


def _variants(state: CompanyState) -> list[CompanyState]:
    """Copies of ``state`` under new SIRENs, each without one or two of the sources."""
    out = []
    drops = [()] + [(s,) for s in _SOURCES] + list(combinations(_SOURCES[:4], 2))
    for i, dropped in enumerate(drops):
        siren = f"{200000000 + i:09d}"
        etabs = {}
        for j, (siret, records) in enumerate(sorted(state.etablissements.items())):
            # Drop the sources from every other établissement only: both kinds in one company.
            kept = {t: r for t, r in records.items() if j % 2 == 1 or t not in dropped}
            etabs[siren + siret[9:]] = kept
        entreprise = {t: r for t, r in state.entreprise.items() if i % 3 != 1 or t not in ("bdf", "diane")}
        out.append(CompanyState(siren, entreprise, etabs))
    return out


@pytest.mark.parametrize("mode", ["fixed", "parity"])
def test_a_chunk_equals_its_companies_computed_one_by_one(mode: str) -> None:
    state, periods, params, _ = example("example1", mode)
    states = _variants(state)
    together = compute_companies_features(states, periods, params)
    alone = pd.concat([compute_company_features(s, periods, params) for s in states], ignore_index=True)
    assert len(together) > len(states)  # most companies have rows
    assert together["siren"].nunique() > len(states) // 2
    # dtypes may differ: concatenating a column of strings with an all-missing one gives object.
    pd.testing.assert_frame_equal(together, alone, check_exact=True, check_dtype=False)
