"""The chunk-wide computation: many companies at once give exactly the rows of each company
computed alone (no value leaks from one établissement or company to another), in both modes."""

from __future__ import annotations

import copy
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from sf.features.catalogue import CATALOGUE
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


@pytest.mark.parametrize("mode", ["fixed", "parity"])
def test_a_text_value_of_one_company_does_not_change_the_numbers_of_another(mode: str) -> None:
    """A BdF ratio delivered as text by company A makes the chunk's column an object one; a NaN
    ratio of company B must still be absent there (Diane then recomputes it), as when B is alone."""
    state, periods, params, _ = example("example1", mode)

    def company(siren: str, poids_frng: object) -> CompanyState:
        entreprise = copy.deepcopy(state.entreprise)
        for sheet in entreprise["bdf"].values():
            sheet["poids_frng"] = poids_frng
            sheet["arrete_bilan_bdf"] = sheet["arrete_bilan_bdf"].replace(year=2017)  # overlaps Diane
        return CompanyState(siren, entreprise, {siren + s[9:]: r for s, r in state.etablissements.items()})

    a, b = company("200000000", "12"), company("300000000", float("nan"))
    alone = compute_companies_features([b], periods, params)
    together = compute_companies_features([a, b], periods, params)
    together = together[together["siren"] == b.siren].reset_index(drop=True)
    assert alone["poids_frng"].notna().any()  # recomputed from Diane
    pd.testing.assert_series_equal(together["poids_frng"].astype(float), alone["poids_frng"].astype(float))


def test_text_variables_are_object_columns_even_when_all_absent() -> None:
    """Registry text fields delivered empty or null give all-absent columns: still object ones
    (the catalogue's dtype), not float columns of NaN."""
    state, periods, params, _ = example("example1", "fixed")
    etablissements = copy.deepcopy(state.etablissements)
    for records in etablissements.values():
        for record in (records.get("sirene") or {}).values():
            record["code_commune"], record["departement"] = "", None
    frame = compute_companies_features([CompanyState(state.siren, state.entreprise, etablissements)], periods,
                                       params)
    text = [var.name for var in CATALOGUE if var.dtype == "string"]
    assert {"code_commune", "departement"} <= set(text)
    assert frame["code_commune"].isna().all() and frame["departement"].isna().all()
    assert [name for name in text if frame[name].dtype == np.float64] == []
