"""Expert corrections (sf.model.corrections): parsing with line-numbered errors, each action
changing exactly what it states, the period/sector/condition scopes, persistence in Scores and
the model card, and the README's worked example."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sf.model import model_store
from sf.model.corrections import (CORRECTION_COLUMNS, CorrectionFileError, apply_corrections, corrections_in_words,
                                  load_corrections, parse_corrections)
from sf.model.scores_store import read_scores, write_scores
from sf.model.scoring import score
from sf.model.training import TrainingOptions, alert_levels, months_of, train

from . import synthetic_panel

README = Path(__file__).resolve().parents[2] / "README.md"
AUTHOR = '"author": "A. Expert", "reason": "test"'


@pytest.fixture(scope="module")
def model():
    panel = synthetic_panel.make_panel(n_etab=300, months=72, seed=2)[0]
    options = TrainingOptions(kinds=("logistic",))
    trained = train(panel, feature_columns=synthetic_panel.FEATURES, until_batch="2201", sf_version="test",
                    options=options)
    months = months_of(panel)
    return trained, panel[months == months.max()].reset_index(drop=True)


@pytest.fixture(scope="module")
def scored(model) -> pd.DataFrame:
    trained, latest = model
    return score(trained, latest)


def _file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "corrections.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _apply(model, scored, *lines: str, tmp_path: Path, context: pd.DataFrame | None = None):
    trained, latest = model
    corrections = load_corrections(_file(tmp_path, *lines), trained)
    return apply_corrections(scored, latest if context is None else context, corrections, trained.thresholds)


def _logit(p) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.log(p / (1 - p))


def _same_rows(a: pd.DataFrame, b: pd.DataFrame, mask: np.ndarray) -> None:
    """Rows ``mask`` of ``a`` (corrected) equal those of ``b`` (the model's), column by column."""
    for column in b.columns:
        assert a.loc[mask, column].tolist() == b.loc[mask, column].tolist(), column
    assert a.loc[mask, "corrections"].isna().all() and a.loc[mask, "score_before"].isna().all()


# ----------------------------------------------------------------------------- parsing

def test_readme_example_parses_and_is_valid_for_a_model(model, tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Expert corrections"):]
    example = re.search(r"```jsonl\n(.*?)```", section, re.S)
    assert example is not None, "README section 'Expert corrections' has no ```jsonl example"
    rules = parse_corrections(example.group(1), "README")
    assert [r.action for r in rules] == ["multiply", "cap", "raise"]
    assert all(r.author and r.reason for r in rules)
    path = _file(tmp_path, example.group(1))
    load_corrections(path, model[0])  # its themes and variables fit the synthetic model


def test_comments_blank_lines_and_line_numbers(tmp_path: Path) -> None:
    rules = parse_corrections("# comment\n\n" + '{"id": "a", ' + AUTHOR + ', "action": "cap", "level": "none"}\n'
                              + '  # indented comment\n{"id": "b", ' + AUTHOR
                              + ', "action": "raise", "level": "high", "sectors": ["56.1", "i"]}\n')
    assert [(r.id, r.line) for r in rules] == [("a", 3), ("b", 5)]
    assert rules[1].sectors == ("561", "I")
    assert rules[1].as_dict()["sectors"] == ["561", "I"]


BAD_RULES = [
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none"', "not a JSON object"),
    ('["id", "x"]', "a rule is a JSON object"),
    ('{"id": "x", "reason": "r", "action": "cap", "level": "none"}', "'author' is required"),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none", "lvl": 1}', "unknown key(s) lvl"),
    ('{"id": "x", ' + AUTHOR + ', "action": "drop"}', "unknown action 'drop'"),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "high"}', "needs 'level' one of moderate, none"),
    ('{"id": "x", ' + AUTHOR + ', "action": "raise", "level": "none"}', "needs 'level' one of moderate, high"),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none", "factor": 2}', "not factor"),
    ('{"id": "x", ' + AUTHOR + ', "action": "multiply", "theme": "covid", "factor": 0.5}', "unknown theme 'covid'"),
    ('{"id": "x", ' + AUTHOR + ', "action": "multiply", "theme": "apart", "factor": -1}', "'factor' must be"),
    ('{"id": "x", ' + AUTHOR + ', "action": "multiply", "theme": "apart"}', "'factor' must be"),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none", "from": "2020-13"}', "'from' must be a month"),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none", "from": "2021-01", "to": "2020-12"}',
     "is after 'to'"),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none", "sectors": ["Z9"]}', "sector 'Z9' is neither"),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none", "sectors": []}', "non-empty JSON list"),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none", "when": ["ratio_dete > 1"]}',
     "unknown variable 'ratio_dete'"),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none", "when": ["outcome == true"]}',
     "unknown variable 'outcome'"),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none", "when": ["ratio_dette ~ 1"]}',
     "is not \"VARIABLE OP VALUE\""),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none", "when": ["ratio_dette > \\"1\\""]}',
     "takes a number"),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none", "when": ["code_naf < \\"I\\""]}',
     "takes ==, != or in"),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none", "when": ["code_naf == I"]}',
     "is not a JSON value"),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none", "when": ["tag_debit > 0"]}',
     "takes == or != with true or false"),
    ('{"id": "x", ' + AUTHOR + ', "action": "cap", "level": "none", "when": ["date_ccsf == \\"2020-01-01\\""]}',
     "cannot be compared"),
]


@pytest.mark.parametrize("line,message", BAD_RULES)
def test_a_malformed_rule_is_an_error_naming_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    good = '{"id": "ok", ' + AUTHOR + ', "action": "cap", "level": "moderate"}'
    path = _file(tmp_path, "# corrections", good, "", line)
    with pytest.raises(CorrectionFileError) as caught:
        load_corrections(path)
    assert str(caught.value).startswith(f"{path}:4"), caught.value
    assert message in str(caught.value)
    assert caught.value.exit_code == 2


def test_duplicate_ids_empty_and_unreadable_files(tmp_path: Path) -> None:
    rule = '{"id": "same", ' + AUTHOR + ', "action": "cap", "level": "none"}'
    with pytest.raises(CorrectionFileError, match=r":2: rule id 'same' already used on line 1"):
        load_corrections(_file(tmp_path, rule, rule))
    with pytest.raises(CorrectionFileError, match="no rule"):
        load_corrections(_file(tmp_path, "# nothing yet"))
    with pytest.raises(CorrectionFileError, match="cannot be read"):
        load_corrections(tmp_path / "missing.jsonl")


def test_a_theme_the_model_does_not_use_is_an_error_naming_the_line(model, tmp_path: Path) -> None:
    trained = model[0]
    assert "apart" in trained.themes.values()
    # The same model with its short-time-work variables put in another theme: no "apart" left.
    fake = dataclasses.replace(trained, themes={n: "urssaf" if t == "apart" else t for n, t in trained.themes.items()})
    path = _file(tmp_path, '{"id": "m", ' + AUTHOR + ', "action": "multiply", "theme": "apart", "factor": 2}')
    load_corrections(path, trained)
    with pytest.raises(CorrectionFileError, match=rf"{re.escape(str(path))}:1: rule 'm': model .* has no variable of "
                                                  r"theme 'apart'"):
        load_corrections(path, fake)


# ----------------------------------------------------------------------------- actions

def test_multiply_changes_that_theme_and_the_score_that_follows_only(model, scored, tmp_path: Path) -> None:
    trained, latest = model
    out, counts = _apply(model, scored, '{"id": "apart-half", ' + AUTHOR + ', "when": ["apart_heures_consommees > 0"],'
                         ' "action": "multiply", "theme": "apart", "factor": 0.5}', tmp_path=tmp_path)
    contribution = np.array([r.get("apart", 0.0) for r in scored["reasons"]])
    holds = (latest["apart_heures_consommees"] > 0).to_numpy()
    changed = holds & (contribution != 0)
    assert 0 < changed.sum() < len(scored)
    assert counts == [{"matched": int(holds.sum()), "changed": int(changed.sum())}]
    _same_rows(out, scored, ~changed)
    rows = out[changed]
    before = scored[changed]
    expected_logit = _logit(before["score"]) - 0.5 * contribution[changed]
    assert np.allclose(_logit(rows["score"]), expected_logit, atol=1e-9)
    assert rows["alert"].tolist() == alert_levels(rows["score"].to_numpy(), trained.thresholds).tolist()
    for new, old in zip(rows["reasons"], before["reasons"]):
        assert new["apart"] == pytest.approx(old["apart"] / 2, abs=1e-4)
        assert {t: v for t, v in new.items() if t != "apart"} == {t: v for t, v in old.items() if t != "apart"}
    for new, old in zip(rows["top_variables"], before["top_variables"]):
        assert [v["name"] for v in new] == [v["name"] for v in old]
        for a, b in zip(new, old):
            assert a["contribution"] == (pytest.approx(b["contribution"] / 2, abs=1e-4) if b["theme"] == "apart"
                                         else b["contribution"])
    assert rows["score_before"].tolist() == before["score"].tolist()
    assert rows["alert_before"].tolist() == before["alert"].tolist()
    assert all(c == [{"id": "apart-half", "author": "A. Expert", "reason": "test"}] for c in rows["corrections"])
    assert set(CORRECTION_COLUMNS) <= set(out.columns)
    # the input frame is not modified
    assert scored["reasons"].tolist() == score(*model)["reasons"].tolist()


def test_cap_lowers_the_level_and_nothing_else(model, scored, tmp_path: Path) -> None:
    out, counts = _apply(model, scored, '{"id": "cap", ' + AUTHOR + ', "action": "cap", "level": "moderate"}',
                         tmp_path=tmp_path)
    high = (scored["alert"] == "high").to_numpy()
    assert high.any() and counts == [{"matched": len(scored), "changed": int(high.sum())}]
    _same_rows(out, scored, ~high)
    assert (out.loc[high, "alert"] == "moderate").all()
    assert out.loc[high, "score"].tolist() == scored.loc[high, "score"].tolist()
    assert out.loc[high, "score_before"].tolist() == scored.loc[high, "score"].tolist()
    assert (out.loc[high, "alert_before"] == "high").all()
    assert out.loc[high, "reasons"].tolist() == scored.loc[high, "reasons"].tolist()

    out, _ = _apply(model, scored, '{"id": "none", ' + AUTHOR + ', "action": "cap", "level": "none"}',
                    tmp_path=tmp_path)
    alerted = scored["alert"].notna().to_numpy()
    assert out.loc[alerted, "alert"].isna().all()
    _same_rows(out, scored, ~alerted)


def test_raise_with_a_condition_changes_only_the_rows_where_it_holds(model, scored, tmp_path: Path) -> None:
    _, latest = model
    out, counts = _apply(model, scored, '{"id": "dette", ' + AUTHOR + ', "when": ["ratio_dette >= 0.2", "effectif > 5"],'
                         ' "action": "raise", "level": "high"}', tmp_path=tmp_path)
    holds = ((latest["ratio_dette"] >= 0.2) & (latest["effectif"] > 5)).to_numpy()
    changed = holds & (scored["alert"] != "high").to_numpy()
    assert changed.any() and counts == [{"matched": int(holds.sum()), "changed": int(changed.sum())}]
    assert (out.loc[changed, "alert"] == "high").all()
    assert out.loc[changed, "score"].tolist() == scored.loc[changed, "score"].tolist()
    _same_rows(out, scored, ~changed)


def test_period_scope(model, scored, tmp_path: Path) -> None:
    month = pd.Timestamp(scored["periode"].iloc[0]).strftime("%Y-%m")  # 2021-12
    rule = '{"id": "p", ' + AUTHOR + ', "action": "cap", "level": "none", '
    out, counts = _apply(model, scored, rule + '"from": "2020-03", "to": "2021-06"}', tmp_path=tmp_path)
    assert counts == [{"matched": 0, "changed": 0}]
    _same_rows(out, scored, np.ones(len(scored), dtype=bool))
    for scope in (f'"from": "{month}"', f'"to": "{month}"', f'"from": "2021-01", "to": "{month}"'):
        out, counts = _apply(model, scored, rule + scope + "}", tmp_path=tmp_path)
        assert counts[0]["matched"] == len(scored) and counts[0]["changed"] == scored["alert"].notna().sum()
    out, counts = _apply(model, scored, rule + '"from": "2022-01"}', tmp_path=tmp_path)
    assert counts == [{"matched": 0, "changed": 0}]


def test_sector_scope_by_section_and_by_ape_prefix(model, scored, tmp_path: Path) -> None:
    _, latest = model
    out, counts = _apply(model, scored, '{"id": "s", ' + AUTHOR + ', "sectors": ["I", "F"], "action": "cap",'
                         ' "level": "none"}', tmp_path=tmp_path)
    in_sector = latest["code_naf"].isin(["I", "F"]).to_numpy()
    changed = in_sector & scored["alert"].notna().to_numpy()
    assert changed.any() and (~in_sector & scored["alert"].notna().to_numpy()).any()
    assert counts == [{"matched": int(in_sector.sum()), "changed": int(changed.sum())}]
    assert out.loc[changed, "alert"].isna().all()
    _same_rows(out, scored, ~changed)

    # APE prefixes match code_ape (dots ignored); a missing code never matches.
    context = latest.assign(code_ape=["5610A", "5510Z", None, "4711B"] * (len(latest) // 4)
                            + ["5610A"] * (len(latest) % 4))
    out, counts = _apply(model, scored, '{"id": "ape", ' + AUTHOR + ', "sectors": ["56.1"], "action": "raise",'
                         ' "level": "high"}', tmp_path=tmp_path, context=context)
    matched = (context["code_ape"] == "5610A").to_numpy()
    assert counts[0]["matched"] == matched.sum()
    assert (out.loc[matched, "alert"] == "high").all()
    _same_rows(out, scored, ~matched | (scored["alert"] == "high").to_numpy())


def test_conditions_on_text_flags_and_missing_values(model, scored, tmp_path: Path) -> None:
    _, latest = model
    context = latest.assign(tag_debit=pd.array([True, False, None] * (len(latest) // 3) + [True] * (len(latest) % 3),
                                               dtype="boolean"))
    rule = '{"id": "c", ' + AUTHOR + ', "action": "raise", "level": "high", "when": '
    _, counts = _apply(model, scored, rule + '["tag_debit == true"]}', tmp_path=tmp_path, context=context)
    assert counts[0]["matched"] == int((context["tag_debit"] == True).sum())  # noqa: E712
    _, counts = _apply(model, scored, rule + '["tag_debit != true"]}', tmp_path=tmp_path, context=context)
    assert counts[0]["matched"] == int((context["tag_debit"] == False).sum())  # noqa: E712 (missing: never)
    _, counts = _apply(model, scored, rule + '["code_naf in [\\"C\\", \\"M\\"]"]}', tmp_path=tmp_path)
    assert counts[0]["matched"] == int(latest["code_naf"].isin(["C", "M"]).sum())
    _, counts = _apply(model, scored, rule + '["taux_marge < 1000"]}', tmp_path=tmp_path)
    assert counts[0]["matched"] == int(latest["taux_marge"].notna().sum()) < len(latest)  # NaN never holds


def test_level_rules_apply_after_multiplications_in_file_order(model, scored, tmp_path: Path) -> None:
    out, counts = _apply(model, scored,
                         '{"id": "raise", ' + AUTHOR + ', "action": "raise", "level": "high"}',
                         '{"id": "cap", ' + AUTHOR + ', "action": "cap", "level": "none"}',
                         '{"id": "x10", ' + AUTHOR + ', "action": "multiply", "theme": "urssaf", "factor": 10}',
                         tmp_path=tmp_path)
    assert out["alert"].isna().all()  # the cap, last level rule, wins over the raise and the multiplication
    rows = out["corrections"].dropna()
    assert len(rows) == len(out)
    assert [c["id"] for c in rows.iloc[0]][-2:] == ["raise", "cap"]
    assert counts[0]["matched"] == counts[1]["matched"] == len(out)


def test_missing_context_column_is_an_error(model, scored, tmp_path: Path) -> None:
    from sf.model.errors import ModelInputError

    with pytest.raises(ModelInputError, match="code_ape"):
        _apply(model, scored, '{"id": "ape", ' + AUTHOR + ', "sectors": ["56"], "action": "cap", "level": "none"}',
               tmp_path=tmp_path)


def test_corrections_in_words() -> None:
    assert corrections_in_words(None) == corrections_in_words([]) == ""
    assert corrections_in_words([{"id": "a", "author": "J. M.", "reason": "crise"}]) == "Corrigé : crise (J. M.)."


# ----------------------------------------------------------------------------- persistence

def test_scores_store_keeps_the_fields_only_on_changed_scores(db, model, scored, tmp_path: Path) -> None:
    out, _ = _apply(model, scored, '{"id": "cap", ' + AUTHOR + ', "action": "cap", "level": "none"}',
                    tmp_path=tmp_path)
    write_scores(db, "2201", out)
    changed = {d["_id"]["siret"]: d for d in db["Scores"].find({"corrections": {"$exists": True}})}
    expected = set(out.loc[out["corrections"].notna(), "siret"])
    assert set(changed) == expected and expected
    doc = next(iter(changed.values()))
    assert doc["alert"] is None and doc["alert_before"] in ("high", "moderate") and doc["score_before"] == doc["score"]
    assert doc["corrections"] == [{"id": "cap", "author": "A. Expert", "reason": "test"}]
    other = db["Scores"].find_one({"corrections": {"$exists": False}})
    assert "score_before" not in other and "alert_before" not in other
    back = read_scores(db, "2201").set_index("siret")
    assert back.loc[sorted(expected), "corrections"].map(len).eq(1).all()
    assert back.drop(index=sorted(expected))["corrections"].isna().all()


def test_model_card_lists_the_corrections_in_force(model, tmp_path: Path) -> None:
    trained, _ = model
    directory = model_store.save(trained, tmp_path / "model")
    path = _file(tmp_path, '{"id": "cap", "author": "A. Expert", "reason": "crise | test", "sectors": ["I"], '
                 '"action": "cap", "level": "none"}')
    corrections = load_corrections(path, trained)
    record = corrections.record([{"matched": 3, "changed": 1}], batch="2201", applied_by="analyst")
    model_store.record_corrections(directory, "2201", record)
    card = json.loads((directory / "model_card.json").read_text())
    assert card["corrections"][0]["sha256"] == corrections.sha256 and card["corrections"][0]["applied_by"] == "analyst"
    assert card["corrections"][0]["rules"][0]["changed"] == 1
    markdown = (directory / "model_card.md").read_text()
    assert "## Expert corrections in force" in markdown and "| cap | A. Expert | crise \\| test | sectors I |" in markdown
    assert model_store.load(directory).version == trained.version  # the model still loads
    model_store.record_corrections(directory, "2112", record | {"batch": "2112"})
    assert [e["batch"] for e in json.loads((directory / "model_card.json").read_text())["corrections"]] == ["2112",
                                                                                                           "2201"]
    model_store.record_corrections(directory, "2201", None)
    model_store.record_corrections(directory, "2112", None)
    assert json.loads((directory / "model_card.json").read_text())["corrections"] == []
    assert "Expert corrections" not in (directory / "model_card.md").read_text()
