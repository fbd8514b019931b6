"""The Scores collection: document shape, re-scoring replaces, bad input leaves the store untouched."""

from __future__ import annotations

import pandas as pd
import pytest
from sf.engine.collections import SCORES
from sf.model.scores_store import CORRECTION_FIELDS, SCORE_COLUMNS, read_scores, write_scores

PERIODE = pd.Timestamp("2023-12-01", tz="UTC")


def _scores(values: list[float], model: str = "2401-logistic-00000000") -> pd.DataFrame:
    sirets = [f"{100000000 + i:09d}00011" for i in range(len(values))]
    return pd.DataFrame({
        "siret": sirets, "siren": [s[:9] for s in sirets], "periode": PERIODE, "score": values,
        "alert": pd.Series(["high" if v > 0.5 else "moderate" if v > 0.2 else None for v in values], dtype=object),
        "reasons": [{"urssaf": round(v, 2), "effectif": -0.1} for v in values],
        "top_variables": [[{"name": "ratio_dette", "theme": "urssaf", "contribution": round(v, 2)}] for v in values],
        "model": model,
    })


def test_documents_have_the_scores_shape(db) -> None:
    assert write_scores(db, "2401", _scores([0.9, 0.3, 0.05])) == {"deleted": 0, "inserted": 3}
    doc = db[SCORES].find_one({"_id.batch": "2401", "_id.siret": "10000000000011"})
    assert doc["_id"] == {"batch": "2401", "siret": "10000000000011"}
    assert set(doc) == {"_id", "siren", "periode", "score", "alert", "reasons", "top_variables", "model"}
    assert doc["siren"] == "100000000" and doc["score"] == 0.9 and doc["alert"] == "high"
    assert doc["periode"].year == 2023 and doc["periode"].month == 12 and doc["periode"].day == 1
    assert doc["reasons"] == {"urssaf": 0.9, "effectif": -0.1}
    assert doc["top_variables"] == [{"name": "ratio_dette", "theme": "urssaf", "contribution": 0.9}]
    none = db[SCORES].find_one({"_id.batch": "2401", "_id.siret": "10000000200011"})
    assert none["alert"] is None


def test_rescoring_replaces_and_never_duplicates(db) -> None:
    write_scores(db, "2401", _scores([0.9, 0.3, 0.05]))
    write_scores(db, "2402", _scores([0.1]))
    result = write_scores(db, "2401", _scores([0.1, 0.6], model="2401-hgb-11111111"))
    assert result == {"deleted": 3, "inserted": 2}
    again = read_scores(db, "2401")
    assert list(again.columns) == list(SCORE_COLUMNS) + list(CORRECTION_FIELDS)
    assert again["siret"].tolist() == ["10000000100011", "10000000000011"]  # highest score first
    assert set(again["model"]) == {"2401-hgb-11111111"}
    assert db[SCORES].count_documents({"_id.batch": "2402"}) == 1  # other batches untouched
    alerts = read_scores(db, "2401", alerts_only=True)
    assert alerts["siret"].tolist() == ["10000000100011"]


@pytest.mark.parametrize("broken, message", [
    (lambda f: f.drop(columns=["reasons"]), "reasons"),
    (lambda f: pd.concat([f, f.iloc[:1]], ignore_index=True), "more than once"),
    (lambda f: f.assign(score=[0.2, 1.5]), "not a probability"),
])
def test_bad_scores_leave_the_stored_ones_untouched(db, broken, message) -> None:
    write_scores(db, "2401", _scores([0.9, 0.3, 0.05]))
    with pytest.raises(ValueError, match=message):
        write_scores(db, "2401", broken(_scores([0.2, 0.4])))
    assert db[SCORES].count_documents({"_id.batch": "2401"}) == 3


def test_reading_a_batch_without_scores_gives_an_empty_frame(db) -> None:
    frame = read_scores(db, "2401")
    assert frame.empty and list(frame.columns) == list(SCORE_COLUMNS) + list(CORRECTION_FIELDS)
