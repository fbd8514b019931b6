"""Bad states produce documented values, never a crash."""

from __future__ import annotations

import pytest

from sf.features.compute import compute_company_features, compute_companies_features, to_feature_documents
from sf.features.errors import FeatureInputError
from sf.features.state import CompanyState, FeatureParams

from .helpers import d, periods

SIREN = "123456789"
PS = periods("2020-01", 6)


def params(mode: str) -> FeatureParams:
    return FeatureParams(batch="2007", date_fin_effectif=d("2020-05"), mode=mode)  # type: ignore[arg-type]


def test_establishment_without_headcount() -> None:
    """Parity: no row (the original only reduces establishments with headcount records).
    Fixed: rows with effectif absent and effectif_reporte absent."""
    state = CompanyState(SIREN, {}, {SIREN + "00011": {"sirene": {"s": {"departement": "2A", "ape": "2511Z"}}}})
    assert compute_company_features(state, PS, params("parity")).empty
    df = compute_company_features(state, PS, params("fixed"))
    assert len(df) == 6 and df["effectif"].isna().all() and (df["region"] == "Corse").all()
    assert df["etat_proc_collective"].eq("in_bonis").all() and not df["outcome"].any()


def test_month_with_no_data_of_any_kind() -> None:
    state = CompanyState(SIREN, {}, {SIREN + "00011": {"effectif": {"e": {"periode": d("2019-01"),
                                                                            "effectif": 4}}}})
    for mode in ("parity", "fixed"):
        df = compute_company_features(state, PS, params(mode))
        assert len(df) == 6
        docs = to_feature_documents(df, "2007")
        assert all(doc["value"]["effectif_reporte"] == 1 for doc in docs)
    fixed = compute_company_features(state, PS, params("fixed"))
    assert fixed["effectif"].tolist() == [4.0] * 6  # last known past value (Jan 2019)


def test_company_with_2000_establishments() -> None:
    """Parity drops companies above 1500 establishments (finalize.ts); fixed keeps them all."""
    eff = {"e": {"periode": d("2020-01"), "effectif": 1}}
    state = CompanyState(SIREN, {}, {f"{SIREN}{i:05d}": {"effectif": eff} for i in range(2000)})
    assert compute_company_features(state, PS, params("parity")).empty
    df = compute_company_features(state, PS, params("fixed"))
    assert len(df) == 12000
    assert (df["effectif_entreprise"].iloc[:6] == 2000).all()
    assert (df["nbr_etablissements_connus"] == 2000).all()


def test_company_without_establishments_and_empty_periods() -> None:
    state = CompanyState(SIREN, {"paydex": {"p": {"date_valeur": d("2020-02-03"), "nb_jours": 3}}}, {})
    assert compute_company_features(state, PS, params("fixed")).empty
    assert compute_company_features(state, [], params("fixed")).empty
    assert compute_companies_features([], PS, params("parity")).empty


def test_bad_records_raise_with_location() -> None:
    state = CompanyState(SIREN, {}, {SIREN + "00011": {"effectif": {"h42": {"periode": "2020-01",
                                                                          "effectif": 1}}}})
    with pytest.raises(FeatureInputError, match="h42.*periode"):
        compute_company_features(state, PS, params("fixed"))
    with pytest.raises(FeatureInputError, match="SIREN"):
        CompanyState("12345", {}, {})
    with pytest.raises(FeatureInputError, match="consecutive"):
        compute_company_features(CompanyState(SIREN), [PS[0], PS[2]], params("fixed"))
