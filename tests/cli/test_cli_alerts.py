"""`sf alerts`: the list (as before, with the town's name and what levels mean), --by region, export.

Scores and Features are written directly (two scored batches); the commands run in-process
on a throw-away app whose root callback points the settings at the test database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sf.cli import alerts
from sf.engine.collections import FEATURES, JOURNAL, SCORES
from sf.features.compute import to_feature_documents
from sf.model.alert_export import EXPORT_FIELDS
from sf.model.scores_store import write_scores

LAST = pd.Timestamp("2023-12-01", tz="UTC")
MODEL = "2312-logistic-00000000"
# batch → (siret, score, level, town, commune code, département, region code, region, headcount, debt)
BATCHES = {
    "2312": [("35000000100011", 0.7, "high", "RENNES", "35238", "35", "53", "Bretagne", 12.0, 500.0),
             ("13000000300011", 0.6, "high", "MARSEILLE", "13055", "13", "93", "Provence-Alpes-Côte d'Azur",
              40.0, 0.0)],
    "2401": [("35000000100011", 0.8, "high", "RENNES", "35238", "35", "53", "Bretagne", 11.0, 800.0),
             ("29000000200011", 0.65, "high", "BREST", "29019", "29", "53", "Bretagne", 3.0, None),
             ("97400000400011", 0.3, "moderate", "SAINT-DENIS", "97411", "974", "04", "La Réunion", None, 20.0),
             ("69000000500011", 0.05, None, "LYON", "69123", "69", "84", "Auvergne-Rhône-Alpes", 8.0, 0.0)],
}


def _write(db, batch: str) -> None:
    rows = BATCHES[batch]
    db[FEATURES].insert_many(to_feature_documents(pd.DataFrame([
        {"siret": r[0], "siren": r[0][:9], "periode": LAST, "raison_sociale": f"SOCIETE {r[3]}",
         "code_commune": r[4], "departement": r[5], "region": r[7], "libelle_naf": "Commerce", "code_naf": "G",
         "effectif": r[8], "montant_part_patronale": r[9]} for r in rows]), batch))
    write_scores(db, batch, pd.DataFrame({
        "siret": [r[0] for r in rows], "siren": [r[0][:9] for r in rows], "periode": LAST,
        "score": [r[1] for r in rows], "alert": pd.Series([r[2] for r in rows], dtype=object),
        "reasons": [{"urssaf": 0.9, "effectif": -0.2, "financier": 0.3}] * len(rows),
        "top_variables": [[{"name": "ratio_dette", "theme": "urssaf", "contribution": 0.7},
                           {"name": "effectif", "theme": "effectif", "contribution": -0.2}]] * len(rows),
        "model": MODEL, "commune": [r[3] for r in rows], "code_commune": [r[4] for r in rows],
        "departement": [r[5] for r in rows], "code_region": [r[6] for r in rows], "region": [r[7] for r in rows]}))


@pytest.fixture
def two_batches(db) -> None:
    _write(db, "2312")
    _write(db, "2401")


@pytest.fixture
def sf(in_process_sf):
    """``sf(args) -> (exit code, output)`` with the sf alerts group (tests/cli/conftest.py)."""
    return in_process_sf(lambda app: app.add_typer(alerts.app, name="alerts"))


def test_the_list_works_as_before_and_names_the_town(sf, two_batches) -> None:
    code, out = sf(["alerts", "--batch", "2401", "--format", "json"])
    assert code == 0, out
    listed = json.loads(out)
    assert [r["siret"] for r in listed] == ["35000000100011", "29000000200011", "97400000400011"]
    assert list(listed[0]) == ["rang", "siret", "siren", "raison_sociale", "commune", "departement", "region",
                               "secteur", "effectif", "dette_urssaf", "score", "alert", "raisons", "periode"]
    assert [r["commune"] for r in listed] == ["RENNES", "BREST", "SAINT-DENIS"]
    assert listed[2]["region"] == "La Réunion" and listed[0]["periode"] == "2023-12-01"
    code, out = sf(["alerts", "--batch", "2401", "--region", "53", "--top", "1", "--format", "csv"])
    assert code == 0 and out.splitlines()[0].startswith("rang,siret,siren,raison_sociale,commune")
    assert len(out.splitlines()) == 2 and "RENNES" in out
    code, out = sf(["alerts", "--batch", "2401", "--json", "--level", "moderate"])
    assert code == 0 and [r["siret"] for r in json.loads(out)] == ["97400000400011"]
    code, out = sf(["alerts", "--batch", "2401"])
    assert code == 0 and "Alerts of batch 2401" in out and "RENNES" in out and "Risque" in out
    assert "score ≥" not in out  # no model card, no score run: no level line


def test_the_table_says_what_levels_mean(sf, two_batches, db, tmp_path: Path) -> None:
    card = {"version": MODEL, "kind": "logistic", "thresholds": {"high": 0.6, "moderate": 0.25},
            "threshold_rule": {"high": "argmax F0.5 on validation", "moderate": "argmax F2 on validation"},
            "metrics": {"candidates": {"logistic": {"validation": {"high": {"precision": 0.42},
                                                                   "moderate": {"precision": 0.17}}}}}}
    folder = tmp_path / "home" / "models" / "2312"
    folder.mkdir(parents=True)
    (folder / "model_card.json").write_text(json.dumps(card))
    code, out = sf(["alerts", "--batch", "2401"])
    assert code == 0, out
    assert "high: score ≥ 0.600 (argmax F0.5 on validation); on the validation window 42%" in out
    assert "moderate: score ≥ 0.250 (argmax F2 on validation); on the validation window 17%" in out
    code, out = sf(["alerts", "--batch", "2401", "--format", "json"])
    assert "score ≥" not in out  # machine outputs stay as they were


def test_by_region_counts_and_change_since_the_previous_batch(sf, two_batches) -> None:
    code, out = sf(["alerts", "--batch", "2401", "--by", "region", "--json"])
    assert code == 0, out
    data = json.loads(out)
    assert data["batch"] == "2401" and data["previous_batch"] == "2312" and data["notes"] == []
    got = {(r["code_region"], r["level"]): (r["count"], r["previous"], r["change"]) for r in data["rows"]}
    # By hand from BATCHES: Bretagne 2 high now (1 before), La Réunion 1 moderate (0), PACA 0 high (1).
    assert got == {("04", "high"): (0, 0, 0), ("04", "moderate"): (1, 0, 1), ("04", "total"): (1, 0, 1),
                   ("53", "high"): (2, 1, 1), ("53", "moderate"): (0, 0, 0), ("53", "total"): (2, 1, 1),
                   ("93", "high"): (0, 1, -1), ("93", "moderate"): (0, 0, 0), ("93", "total"): (0, 1, -1)}
    code, out = sf(["alerts", "--batch", "2401", "--by", "region"])
    assert code == 0 and "change since batch 2312" in out
    bretagne = next(line for line in out.splitlines() if "53 Bretagne" in line)
    assert bretagne.split()[2:] == ["2", "+1", "0", "0", "2", "+1"]
    code, out = sf(["alerts", "--batch", "2312", "--by", "region", "--format", "csv"])
    assert code == 0 and out.splitlines()[0] == "code_region,region,level,count,previous,change"
    code, message = sf(["alerts", "--batch", "2401", "--by", "region", "--top", "3"])
    assert code == 2 and "--top" in message


@pytest.mark.parametrize("name, args", [("alertes.parquet", []), ("alertes.jsonl", []),
                                        ("alertes.data", ["--format", "parquet"])])
def test_export_round_trips(sf, two_batches, db, tmp_path: Path, name: str, args: list[str]) -> None:
    path = tmp_path / name
    code, out = sf(["alerts", "export", "--batch", "2401", "--out", str(path), *args, "--json"])
    assert code == 0, out
    assert json.loads(out)["rows"] == 3
    if name.endswith(".jsonl"):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        table = pq.read_table(path)
        assert [(f.name, f.type) for f in table.schema] == [(n, t) for n, t, _ in EXPORT_FIELDS]
        rows = table.to_pylist()
        for row in rows:
            row["periode"] = row["periode"].isoformat()
    assert [list(row) for row in rows] == [[n for n, _, _ in EXPORT_FIELDS]] * 3
    stored = {d["_id"]["siret"]: d for d in db[SCORES].find({"_id.batch": "2401", "alert": {"$ne": None}})}
    assert [r["siret"] for r in rows] == ["35000000100011", "29000000200011", "97400000400011"]
    assert [r["rang"] for r in rows] == [1, 2, 3]
    facts = {r[0]: r for r in BATCHES["2401"]}
    for row in rows:
        doc = stored[row["siret"]]
        assert row["score"] == doc["score"] and row["alert"] == doc["alert"] and row["model"] == doc["model"]
        assert {r["theme"]: r["contribution"] for r in row["reasons"]} == doc["reasons"]
        assert [r["contribution"] for r in row["reasons"]] == sorted(doc["reasons"].values(), reverse=True)
        assert row["top_variables"] == doc["top_variables"]
        for field in ("commune", "code_commune", "departement", "code_region", "region"):
            assert row[field] == doc[field]
        assert row["batch"] == "2401" and row["periode"] == "2023-12-01" and row["siren"] == doc["siren"]
        assert row["effectif"] == facts[row["siret"]][8] and row["dette_urssaf"] == facts[row["siret"]][9]
        assert row["secteur"] == "Commerce" and row["raison_sociale"] == f"SOCIETE {doc['commune']}"
        assert row["raisons"].startswith("Risque accru par")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_export_takes_the_groups_batch(sf, two_batches, tmp_path: Path) -> None:
    code, out = sf(["alerts", "--batch", "2312", "export", "--out", str(tmp_path / "a.jsonl")])
    assert code == 0 and "2 alert(s) of batch 2312" in out
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 2


def test_missing_batch_or_format_is_a_usage_error(sf, db, tmp_path: Path) -> None:
    _write(db, "2312")
    for args in (["alerts", "--batch", "2402"], ["alerts", "--batch", "2402", "--by", "region"],
                 ["alerts", "export", "--batch", "2402", "--out", str(tmp_path / "x.parquet")]):
        code, message = sf(args)
        assert code == 2 and "batch 2402 has no Scores" in message and "sf score --batch 2402" in message, args
    assert not (tmp_path / "x.parquet").exists()
    code, message = sf(["alerts", "export", "--batch", "2312", "--out", str(tmp_path / "x.csv")])
    assert code == 2 and "x.csv" in message and ".parquet or .jsonl" in message
    code, message = sf(["alerts"])
    assert code == 2 and "missing option --batch" in message
    code, message = sf(["alerts", "export", "--out", str(tmp_path / "x.jsonl")])
    assert code == 2 and "missing option --batch" in message
    code, message = sf(["alerts", "--batch", "2312", "--top", "1", "export", "--out", str(tmp_path / "x.jsonl")])
    assert code == 2 and "--top do(es) not apply to sf alerts export" in message
    # A score run in the Journal is not needed to list: the Journal stays untouched by reads.
    assert db[JOURNAL].count_documents({}) == 0


def test_the_readme_documents_the_export_schema() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [f"| `{name}` | {kind} | {meaning} |" for name, kind, meaning in EXPORT_FIELDS
               if f"| `{name}` | {kind} | {meaning} |" not in readme]
    assert not missing, "README's 'Exporting alerts' table lacks:\n" + "\n".join(missing)
