"""The alert list: Scores joined with the scored month's Features, filters, order and reasons in words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sf.engine.collections import FEATURES
from sf.model.alerts import (
    ALERT_LIST_COLUMNS,
    alert_list,
    explain_in_words,
    resolve_region,
)
from sf.features.compute import to_feature_documents
from sf.model.scores_store import write_scores

LAST = pd.Timestamp("2023-12-01", tz="UTC")
# siret, name, departement, region, headcount, debt (employee, employer), score
ESTABLISHMENTS = [
    ("35000000100011", "BOULANGERIE DU PORT", "35", "Bretagne", 12.0, (100.0, 400.0), 0.81),
    ("29000000200011", "CONSERVERIE ARMOR", "29", "Bretagne", 3.0, (np.nan, np.nan), 0.64),
    ("13000000300011", "TRANSPORTS DU SUD", "13", "Provence-Alpes-Côte d'Azur", 40.0, (0.0, 2500.0), 0.72),
    ("75000000400011", "CONSEIL PARIS", "75", "Île-de-France", np.nan, (np.nan, 50.0), 0.33),
    ("69000000500011", "SANS ALERTE", "69", "Auvergne-Rhône-Alpes", 8.0, (0.0, 0.0), 0.02),
]


@pytest.fixture
def scored(db) -> None:
    rows = []
    for siret, name, dep, region, effectif, (po, pp), _ in ESTABLISHMENTS:
        for month, factor in ((LAST - pd.DateOffset(months=1), 2.0), (LAST, 1.0)):
            # The month before holds other values: the list must show the scored month's.
            rows.append({"siret": siret, "siren": siret[:9], "periode": month, "raison_sociale": name,
                         "code_commune": dep + "001", "departement": dep, "region": region,
                         "libelle_naf": "Industrie manufacturière", "code_naf": "C", "effectif": effectif * factor,
                         "montant_part_ouvriere": po * factor, "montant_part_patronale": pp * factor})
    db[FEATURES].insert_many(to_feature_documents(pd.DataFrame(rows), "2401"))
    scores = pd.DataFrame({
        "siret": [e[0] for e in ESTABLISHMENTS], "siren": [e[0][:9] for e in ESTABLISHMENTS], "periode": LAST,
        "score": [e[6] for e in ESTABLISHMENTS],
        "alert": pd.Series(["high" if e[6] >= 0.6 else "moderate" if e[6] >= 0.3 else None for e in ESTABLISHMENTS],
                           dtype=object),
        "reasons": [{"urssaf": 0.9, "effectif": 0.2, "financier": -0.3}] * len(ESTABLISHMENTS),
        "top_variables": [[{"name": "ratio_dette", "theme": "urssaf", "contribution": 0.7}]] * len(ESTABLISHMENTS),
        "model": "2401-logistic-00000000",
    })
    write_scores(db, "2401", scores)


def test_list_is_most_at_risk_first_with_the_scored_month_details(db, scored) -> None:
    frame = alert_list(db, "2401")
    assert list(frame.columns) == list(ALERT_LIST_COLUMNS)
    assert frame["siret"].tolist() == ["35000000100011", "13000000300011", "29000000200011", "75000000400011"]
    assert frame["rang"].tolist() == [1, 2, 3, 4]
    first = frame.iloc[0]
    assert first["raison_sociale"] == "BOULANGERIE DU PORT" and first["departement"] == "35"
    assert first["commune"] == "35001" and first["secteur"] == "Industrie manufacturière"
    assert first["effectif"] == 12.0 and first["dette_urssaf"] == 500.0 and first["alert"] == "high"
    assert first["periode"] == LAST
    assert first["raisons"] == explain_in_words({"urssaf": 0.9, "effectif": 0.2, "financier": -0.3},
                                                [{"name": "ratio_dette", "theme": "urssaf", "contribution": 0.7}])
    assert "dettes et délais URSSAF (ratio_dette)" in first["raisons"]
    # Debt unknown on both shares stays unknown; one known share is the debt.
    by_siret = frame.set_index("siret")
    assert np.isnan(by_siret.loc["29000000200011", "dette_urssaf"])
    assert by_siret.loc["75000000400011", "dette_urssaf"] == 50.0


def test_filters_apply_before_top(db, scored) -> None:
    assert alert_list(db, "2401", region="53")["siret"].tolist() == ["35000000100011", "29000000200011"]
    assert alert_list(db, "2401", region="provence-alpes-cote d'azur")["siret"].tolist() == ["13000000300011"]
    assert alert_list(db, "2401", departement="29")["siret"].tolist() == ["29000000200011"]
    # Unknown headcount does not pass a headcount filter.
    assert alert_list(db, "2401", min_effectif=10)["siret"].tolist() == ["35000000100011", "13000000300011"]
    top = alert_list(db, "2401", region="53", top=1)
    assert top["siret"].tolist() == ["35000000100011"] and top["rang"].tolist() == [1]
    assert alert_list(db, "2401", levels=["moderate"])["siret"].tolist() == ["75000000400011"]
    assert alert_list(db, "2401", region="11", min_effectif=1).empty


def test_unknown_region_and_level_are_refused() -> None:
    assert resolve_region("53") == "Bretagne" and resolve_region(" ÎLE-DE-FRANCE ") == "Île-de-France"
    with pytest.raises(ValueError, match="unknown region 'Atlantide'.*53 Bretagne"):
        resolve_region("Atlantide")


def test_unknown_level_is_refused(db) -> None:
    with pytest.raises(ValueError, match="rouge"):
        alert_list(db, "2401", levels=["rouge"])


def test_a_batch_without_alerts_gives_an_empty_list(db) -> None:
    frame = alert_list(db, "2401")
    assert frame.empty and list(frame.columns) == list(ALERT_LIST_COLUMNS)
