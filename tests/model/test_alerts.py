"""The alert list: Scores joined with the scored month's Features, filters, order and reasons in words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import json

from sf.engine.collections import FEATURES, JOURNAL, SCORES
from sf.model.alerts import (
    ALERT_LIST_COLUMNS,
    alert_list,
    alert_table,
    alerts_by_region,
    explain_in_words,
    level_meanings,
    previous_scored_batch,
    resolve_region,
)
from sf.features.compute import to_feature_documents
from sf.model.scores_store import read_scores, write_scores

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


def test_the_scores_place_wins_over_the_features(db, scored) -> None:
    """Scores written by sf score carry the town's name and region; the list shows them."""
    stored = read_scores(db, "2401")
    places = {"35000000100011": ("SAINT-MALO", "35288", "35", "53", "Bretagne"),
              "13000000300011": (None, "13055", "13", "93", "Provence-Alpes-Côte d'Azur")}
    for column, i in (("commune", 0), ("code_commune", 1), ("departement", 2), ("code_region", 3), ("region", 4)):
        stored[column] = stored["siret"].map(lambda s, i=i: places.get(s, (None,) * 5)[i])
    write_scores(db, "2401", stored)
    by_siret = alert_list(db, "2401").set_index("siret")
    assert by_siret.loc["35000000100011", "commune"] == "SAINT-MALO"
    assert by_siret.loc["13000000300011", "commune"] == "13055"  # no name: the code
    assert by_siret.loc["29000000200011", "commune"] == "29001"  # no place in Scores: the Features'
    table = alert_table(db, "2401").set_index("siret")
    assert table.loc["35000000100011", "code_commune"] == "35288" and table.loc["35000000100011", "code_region"] == "53"
    # Without a place in Scores, the region code is the one of the Features' region name.
    assert table.loc["29000000200011", "code_region"] == "53"
    assert table.loc["35000000100011", "reasons"] == {"urssaf": 0.9, "effectif": 0.2, "financier": -0.3}


# Two scored batches: (siret, level, place) of each; place = (departement, code_region, region).
BRETAGNE, PACA, CORSE, REUNION = ("35", "53", "Bretagne"), ("13", "93", "Provence-Alpes-Côte d'Azur"), \
    ("2A", "94", "Corse"), ("974", "04", "La Réunion")
NOWHERE = (None, None, None)
TWO_BATCHES = {
    "2312": [("A", "high", BRETAGNE), ("B", "moderate", BRETAGNE), ("C", "high", PACA), ("D", "high", CORSE)],
    "2401": [("A", "high", BRETAGNE), ("B", "high", BRETAGNE), ("E", "moderate", REUNION),
             ("F", "moderate", NOWHERE), ("G", None, BRETAGNE)],
}


def write_two_batches(db) -> None:
    """The Scores of :data:`TWO_BATCHES` (also used by the CLI tests)."""
    for batch, rows in TWO_BATCHES.items():
        sirets = [f"{ord(name):09d}00011" for name, _, _ in rows]
        write_scores(db, batch, pd.DataFrame({
            "siret": sirets, "siren": [s[:9] for s in sirets], "periode": LAST, "score": [0.9 - i / 10 for i in
                                                                                          range(len(rows))],
            "alert": pd.Series([lv for _, lv, _ in rows], dtype=object), "reasons": [{"urssaf": 0.5}] * len(rows),
            "top_variables": [[]] * len(rows), "model": "2312-logistic-00000000",
            "commune": None, "code_commune": None, "departement": [p[0] for _, _, p in rows],
            "code_region": [p[1] for _, _, p in rows], "region": [p[2] for _, _, p in rows]}))


def test_alerts_by_region_and_the_change_since_the_previous_batch(db) -> None:
    write_two_batches(db)
    frame, previous, notes = alerts_by_region(db, "2401")
    assert previous == "2312" and notes == []
    got = {(r.code_region, r.level): (r.count, r.previous, r.change) for r in frame.itertuples()}
    # Worked out by hand from TWO_BATCHES; regions by code, the unknown one last.
    assert list(dict.fromkeys(frame["code_region"])) == ["04", "53", "93", "94", None]
    assert got == {
        ("04", "high"): (0, 0, 0), ("04", "moderate"): (1, 0, 1), ("04", "total"): (1, 0, 1),
        ("53", "high"): (2, 1, 1), ("53", "moderate"): (0, 1, -1), ("53", "total"): (2, 2, 0),
        ("93", "high"): (0, 1, -1), ("93", "moderate"): (0, 0, 0), ("93", "total"): (0, 1, -1),
        ("94", "high"): (0, 1, -1), ("94", "moderate"): (0, 0, 0), ("94", "total"): (0, 1, -1),
        (None, "high"): (0, 0, 0), (None, "moderate"): (1, 0, 1), (None, "total"): (1, 0, 1),
    }
    high_only, _, _ = alerts_by_region(db, "2401", levels=["high"])
    assert set(high_only["level"]) == {"high", "total"}
    assert high_only.set_index(["code_region", "level"]).loc[("53", "total"), "count"] == 2
    first, previous, _ = alerts_by_region(db, "2312")
    assert previous is None and first["previous"].isna().all() and first["change"].isna().all()
    assert previous_scored_batch(db, "2402") == "2401"


def test_scores_without_places_are_named_in_a_note(db) -> None:
    write_two_batches(db)
    db[SCORES].update_many({"_id.batch": "2312"}, {"$unset": {"region": "", "code_region": ""}})
    frame, _, notes = alerts_by_region(db, "2401")
    assert len(notes) == 1 and "4 alert(s) of batch 2312" in notes[0] and "sf score --batch 2312" in notes[0]


def test_level_meanings_from_the_model_card_then_the_journal(db, tmp_path) -> None:
    write_two_batches(db)
    folders = [tmp_path / "nowhere", tmp_path]
    assert level_meanings(db, "2401", folders) == []  # no card, no run: nothing known
    db[JOURNAL].insert_one({"command": "score", "batch": "2401", "state": "finished", "started_at": LAST,
                            "counts": {"thresholds": {"high": 0.5, "moderate": 0.2},
                                       "validation_precision": {"high": 0.61}}})
    assert level_meanings(db, "2401", folders) == [
        {"level": "high", "threshold": 0.5, "rule": None, "precision": 0.61},
        {"level": "moderate", "threshold": 0.2, "rule": None, "precision": None}]
    # The latest run wins; sf score's summary gives each level's choice as a document.
    db[JOURNAL].insert_one({"command": "score", "batch": "2401", "state": "finished",
                            "started_at": LAST + pd.Timedelta(days=1),
                            "counts": {"thresholds": {"high": {"threshold": 0.45, "precision": 0.55},
                                                      "moderate": {"threshold": 0.15, "precision": 0.25}}}})
    assert [(m["threshold"], m["precision"]) for m in level_meanings(db, "2401", folders)] == [(0.45, 0.55),
                                                                                               (0.15, 0.25)]
    card = {"version": "2312-logistic-00000000", "kind": "logistic", "thresholds": {"high": 0.4, "moderate": 0.1},
            "threshold_rule": {"high": "max F0.5, 3-5 alerts per region and month", "moderate": "max F2"},
            "metrics": {"candidates": {"logistic": {"validation": {"high": {"precision": 0.7},
                                                                   "moderate": {"precision": 0.3}}}}}}
    (tmp_path / "2312").mkdir()
    (tmp_path / "2312" / "model_card.json").write_text(json.dumps(card))
    assert [(m["threshold"], m["rule"], m["precision"]) for m in level_meanings(db, "2401", folders)] == [
        (0.4, "max F0.5, 3-5 alerts per region and month", 0.7), (0.1, "max F2", 0.3)]
