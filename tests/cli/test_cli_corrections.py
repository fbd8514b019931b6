"""`sf score --corrections FILE`: the expert's rules reach the Scores, the Journal, the model
card, `sf alerts` and the fiche; a malformed rule stops the command (exit 2) naming file and line.

Reuses the in-process `sf` runner and the synthetic panel of test_cli_scoring.py.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from sf.engine.batches import make_batch, save_batch
from sf.engine.collections import JOURNAL, SCORES
from sf.model import model_store
from sf.model.training import TrainingOptions, train
from sf.reports.fiche import gather_fiche
from sf.reports.fiche_page import render_fiche

_spec = importlib.util.spec_from_file_location("cli_scoring_tests", Path(__file__).with_name("test_cli_scoring.py"))
_scoring_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_scoring_tests)
panel, sf = _scoring_tests.panel, _scoring_tests.sf  # fixtures
BATCH = _scoring_tests.BATCH

CAP_SECTOR_I = ('{"id": "hcr", "author": "J. Martin (DREETS)", "reason": "fonds de solidarité", "sectors": ["I"], '
                '"from": "2021-06", "to": "2021-12", "action": "cap", "level": "none"}')


def test_score_with_corrections_end_to_end(db, sf, panel, tmp_path: Path) -> None:
    features, _ = panel
    _scoring_tests._store(db, features)
    model = train(features, feature_columns=_scoring_tests.synthetic_panel.FEATURES, until_batch=BATCH,
                  sf_version="test", options=TrainingOptions(kinds=("logistic",)))
    model_dir = model_store.save(model, tmp_path / "home" / "models" / BATCH)
    code, out = sf(["score", "--batch", BATCH, "--json"])
    assert code == 0, out
    plain = {d["_id"]["siret"]: d for d in db[SCORES].find({"_id.batch": BATCH})}
    last = features[features["periode"] == features["periode"].max()].set_index("siret")
    capped = {s for s, d in plain.items() if d["alert"] is not None and last.loc[s, "code_naf"] == "I"}
    assert capped and "corrections" not in json.loads((model_dir / "model_card.json").read_text())

    path = tmp_path / "corrections.jsonl"
    path.write_text("# crise\n" + CAP_SECTOR_I + "\n", encoding="utf-8")
    code, out = sf(["score", "--batch", BATCH, "--corrections", str(path), "--json"])
    assert code == 0, out
    summary = json.loads(out)
    rule = summary["corrections"]["rules"][0]
    assert rule["id"] == "hcr" and rule["line"] == 2 and rule["changed"] == len(capped)
    assert rule["matched"] == int((last["code_naf"] == "I").sum())
    after = {d["_id"]["siret"]: d for d in db[SCORES].find({"_id.batch": BATCH})}
    for siret, doc in after.items():
        if siret in capped:  # changed: level removed, the model's own kept
            assert doc["alert"] is None and doc["alert_before"] == plain[siret]["alert"]
            assert doc["score"] == doc["score_before"] == plain[siret]["score"]
            assert doc["corrections"] == [{"id": "hcr", "author": "J. Martin (DREETS)", "reason": "fonds de solidarité"}]
        else:  # untouched: the very same document
            assert doc == plain[siret]
    run = db[JOURNAL].find_one({"command": "score"}, sort=[("started_at", -1)])
    assert run["args"]["corrections"] == str(path) and run["args"]["corrections_sha256"] == summary["corrections"]["sha256"]
    card = json.loads((model_dir / "model_card.json").read_text())
    assert card["corrections"][0]["batch"] == BATCH and card["corrections"][0]["rules"][0]["reason"] == "fonds de solidarité"
    assert "Expert corrections in force" in (model_dir / "model_card.md").read_text()

    code, out = sf(["score", "--batch", BATCH, "--corrections", str(path)])
    assert code == 0 and f"Correction hcr (line 2, J. Martin (DREETS)): {rule['matched']:,} in scope" in out

    # A raise shows in the alert list's reasons.
    raised = min(s for s, d in plain.items() if d["alert"] is None)
    path.write_text('{"id": "one", "author": "A. Leroy", "reason": "signalement du tribunal", "action": "raise", '
                    f'"level": "high", "when": ["effectif == {float(last.loc[raised, "effectif"])!r}", '
                    f'"ratio_dette == {float(last.loc[raised, "ratio_dette"])!r}"]}}\n', encoding="utf-8")
    code, out = sf(["score", "--batch", BATCH, "--corrections", str(path), "--json"])
    assert code == 0 and json.loads(out)["corrections"]["rules"][0]["changed"] >= 1, out
    code, out = sf(["alerts", "--batch", BATCH, "--format", "json"])
    listed = {r["siret"]: r for r in json.loads(out)}
    assert listed[raised]["alert"] == "high"
    assert listed[raised]["raisons"].endswith("Corrigé : signalement du tribunal (A. Leroy).")
    assert sum("Corrigé" in r["raisons"] for r in listed.values()) == json.loads(
        (model_dir / "model_card.json").read_text())["corrections"][0]["rules"][0]["changed"]
    save_batch(db, make_batch(BATCH, check_files=False))
    page = render_fiche(gather_fiche(db, raised, BATCH))
    assert "Corrigé : signalement du tribunal (A. Leroy)." in page and "modèle :" in page

    # Scoring again without corrections: plain Scores, the card's entry for the batch removed.
    code, out = sf(["score", "--batch", BATCH, "--json"])
    assert code == 0 and "corrections" not in json.loads(out)
    assert db[SCORES].count_documents({"corrections": {"$exists": True}}) == 0
    assert json.loads((model_dir / "model_card.json").read_text())["corrections"] == []


def test_a_malformed_rule_stops_sf_score_with_its_line(db, sf, panel, tmp_path: Path) -> None:
    features, _ = panel
    _scoring_tests._store(db, features)
    model = train(features, feature_columns=_scoring_tests.synthetic_panel.FEATURES, until_batch=BATCH,
                  sf_version="test", options=TrainingOptions(kinds=("logistic",)))
    model_store.save(model, tmp_path / "model")
    path = tmp_path / "bad.jsonl"
    path.write_text(CAP_SECTOR_I + "\n\n" + CAP_SECTOR_I.replace('"hcr"', '"x"').replace('"I"]', '"I"], "when": '
                                                                                          '["ratio_dete > 2"]') + "\n")
    code, message = sf(["score", "--batch", BATCH, "--model", str(tmp_path / "model"), "--corrections", str(path)])
    assert code == 2 and message.startswith(f"{path}:3: rule 'x'") and "unknown variable 'ratio_dete'" in message
    assert db[SCORES].count_documents({}) == 0 and db[JOURNAL].count_documents({"command": "score"}) == 0
    code, message = sf(["score", "--batch", BATCH, "--model", str(tmp_path / "model"), "--corrections",
                        str(tmp_path / "missing.jsonl")])
    assert code == 2 and "cannot be read" in message
