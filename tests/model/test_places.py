"""Places of establishments from their sirene records in RawData, as of a batch."""

from __future__ import annotations

import pytest
from sf.engine.collections import ADMIN, RAW_DATA
from sf.model.places import PLACE_COLUMNS, establishment_places, region_of_departement

RENNES, BREST = "35000000100011", "29000000200011"


def _rawdata(siret: str, batches: dict) -> dict:
    return {"_id": siret, "value": {"key": siret, "scope": "etablissement", "batch": batches}}


@pytest.fixture
def registry(db) -> None:
    db[RAW_DATA].insert_many([
        # Moved from Rennes to Saint-Malo in 2402: 2401 sees Rennes, 2402 Saint-Malo.
        _rawdata(RENNES, {
            "2401": {"sirene": {"h1": {"commune": "RENNES", "code_commune": "35238", "departement": "35"}},
                     "effectif": {"e1": {"effectif": 3}}},
            "2402": {"compact": {"delete": {"sirene": ["h1"]}},
                     "sirene": {"h2": {"commune": "SAINT-MALO", "code_commune": "35288", "departement": "35"}}},
        }),
        # Overseas, and a record without a town name.
        _rawdata(BREST, {"2401": {"sirene": {"h3": {"code_commune": "97411", "departement": "974"}}}}),
        # No registry record at all.
        _rawdata("75000000300011", {"2401": {"effectif": {"e2": {"effectif": 1}}}}),
    ])


@pytest.mark.parametrize("declared", [False, True], ids=["no Admin batches", "Admin batches"])
def test_places_as_of_the_batch(db, registry, declared: bool) -> None:
    if declared:  # with declared batches, only their sirene parts are read (a projection)
        db[ADMIN].insert_many([{"_id": {"type": "batch", "key": k}} for k in ("2401", "2402")])
    before = establishment_places(db, "2401", [RENNES, BREST, "75000000300011", "99999999999999"])
    assert before.columns.tolist() == ["siret", *PLACE_COLUMNS]
    rows = before.set_index("siret").to_dict("index")
    assert rows[RENNES] == {"commune": "RENNES", "code_commune": "35238", "departement": "35",
                            "code_region": "53", "region": "Bretagne"}
    assert rows[BREST] == {"commune": None, "code_commune": "97411", "departement": "974",
                           "code_region": "04", "region": "La Réunion"}
    assert all(v is None for v in rows["75000000300011"].values())
    assert all(v is None for v in rows["99999999999999"].values())  # not in RawData
    after = establishment_places(db, "2402", [RENNES]).set_index("siret")
    assert after.loc[RENNES, "commune"] == "SAINT-MALO" and after.loc[RENNES, "code_commune"] == "35288"


def test_region_of_departement() -> None:
    assert region_of_departement("35") == ("53", "Bretagne")
    assert region_of_departement("2A") == ("94", "Corse")
    assert region_of_departement("976") == ("06", "Mayotte")
    assert region_of_departement("975") == (None, None)  # Saint-Pierre-et-Miquelon: no region
    assert region_of_departement(None) == (None, None)


def test_many_establishments_are_read_by_a_scan(db, registry, monkeypatch) -> None:
    import sf.model.places as places

    monkeypatch.setattr(places, "IN_LIST_LIMIT", 1)
    rows = establishment_places(db, "2402", [BREST, RENNES]).set_index("siret")
    assert rows.index.tolist() == [BREST, RENNES]
    assert rows.loc[RENNES, "commune"] == "SAINT-MALO" and rows.loc[BREST, "region"] == "La Réunion"
