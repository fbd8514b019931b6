"""The alert list users act on (``sf alerts``, docs/features.md §5.5): most at-risk establishments first.

``alert_list(db, batch, ...)`` joins the batch's ``Scores`` (alerted rows: level ``high`` or
``moderate``) with the Features row of the month each score is about (``Scores.periode``, the
establishment's latest month of the batch) and returns one row per establishment with:

====================  ==================================================================
``rang``              1 = highest score of the list after filtering
``siret``, ``siren``  identifiers
``raison_sociale``    company name (Features ``raison_sociale``, from sirene_ul)
``commune``           the town's name (Scores ``commune``, from the registry), else the INSEE
                      commune code; for Scores written before they carried places, the
                      Features ``commune``/``code_commune``
``departement``       Scores ``departement`` (else Features ``departement``)
``region``            Scores ``region`` name (else Features ``region``)
``secteur``           Features ``libelle_naf`` (NAF section label), else ``code_naf``
``effectif``          Features ``effectif`` (establishment headcount of the month)
``dette_urssaf``      ``montant_part_ouvriere + montant_part_patronale`` (outstanding
                      URSSAF debt of the establishment, EUR)
``score``, ``alert``  from Scores
``raisons``           :func:`explain_in_words` of the score's reasons, then, for a Score an
                      expert correction changed, ``"Corrigé : <reason> (<author>)."`` per rule
``periode``           the month of the score
====================  ==================================================================

Filters: ``region`` (INSEE region code such as ``53`` or the name, case and accents
ignored), ``departement`` (code as in Features, e.g. ``35``, ``2A``), ``min_effectif``
(establishments whose headcount is unknown are dropped by this filter), ``levels`` (which
alert levels to list) and ``top`` (first N after filtering).

:func:`alerts_by_region` counts a batch's alerts per region and level with the change since
the previous scored batch; :func:`level_meanings` says what each level means (threshold and
validation precision). The front-end export is :mod:`sf.model.alert_export`.

Failure modes: ``ModelOptionError`` for an unknown region or level.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pymongo.database import Database
from sf.engine.collections import JOURNAL, SCORES
from sf.features.catalogue import VARIABLES

from .corrections import corrections_in_words
from .errors import ModelOptionError
from .model_store import CARD_JSON
from .places import REGION_CODES
from .scores_store import ALERT_LEVELS, read_scores
from .scoring import explain_in_words
from .table import empty_table, load_feature_table

__all__ = ["ALERT_LIST_COLUMNS", "REGION_CODES", "alert_list", "alert_table", "alerts_by_region", "explain_in_words",
           "level_meanings", "previous_scored_batch", "resolve_region"]

ALERT_LIST_COLUMNS: tuple[str, ...] = (
    "rang", "siret", "siren", "raison_sociale", "commune", "departement", "region", "secteur", "effectif",
    "dette_urssaf", "score", "alert", "raisons", "periode",
)
#: :func:`alert_table`'s columns: the list's, plus codes and the explanation as stored.
ALERT_TABLE_COLUMNS: tuple[str, ...] = (
    *ALERT_LIST_COLUMNS, "code_commune", "code_region", "code_naf", "model", "reasons", "top_variables",
)
_REGION_CODE_OF = {name: code for code, name in REGION_CODES.items()}
# Above this many alerted establishments, read the whole month rather than a long $in list.
IN_LIST_LIMIT = 5_000


def _fold(text: str) -> str:
    """Lower case without accents, apostrophes unified: ``"Provence-Alpes-Côte d’Azur"`` → ``provence-alpes-cote d'azur``."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower().strip()


def resolve_region(value: str) -> str:
    """Region name, from an INSEE code (``53``) or a name (``bretagne``).

    ``ModelOptionError`` listing the known codes when ``value`` is neither.
    """
    if value.strip() in REGION_CODES:
        return REGION_CODES[value.strip()]
    for name in REGION_CODES.values():
        if _fold(name) == _fold(value):
            return name
    known = ", ".join(f"{code} {name}" for code, name in REGION_CODES.items())
    raise ModelOptionError(f"unknown region {value!r}; expected an INSEE region code or name: {known}")


def _place_columns() -> list[str]:
    """Features variables to read for the list (the place ones serve Scores without places)."""
    wanted = ["raison_sociale", "commune", "code_commune", "departement", "region", "libelle_naf", "code_naf",
              "effectif", "montant_part_ouvriere", "montant_part_patronale"]
    return [c for c in wanted if c in VARIABLES]


def _features_of(db: Database, batch: str, scores: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Features rows (``siret``, ``periode`` + ``columns``) of the scored (siret, periode) pairs."""
    frames = []
    for periode, group in scores.groupby("periode", sort=True):
        sirets = group["siret"].tolist() if len(group) <= IN_LIST_LIMIT else None
        frames.append(load_feature_table(db, batch, columns=columns, periode=periode.to_pydatetime(), sirets=sirets))
    if not frames:
        return empty_table(columns).drop(columns=["siren"])
    return pd.concat(frames, ignore_index=True).drop(columns=["siren"])


def _check_levels(levels: Iterable[str]) -> list[str]:
    levels = list(levels)
    unknown = [lv for lv in levels if lv not in ALERT_LEVELS]
    if unknown:
        raise ModelOptionError(f"unknown alert level(s) {', '.join(unknown)}; expected high and/or moderate")
    return levels


def alert_table(db: Database, batch: str, *, levels: Iterable[str] = ALERT_LEVELS) -> pd.DataFrame:
    """Every alert of ``batch`` at ``levels``, most at risk first, with :data:`ALERT_TABLE_COLUMNS`.

    The list's columns (module docstring), ``code_commune`` and ``code_region`` (INSEE codes;
    the region code of a Features region name for Scores without places), ``code_naf``, and
    the Score's ``model``, ``reasons`` (theme → log-odds) and ``top_variables``.
    """
    levels = _check_levels(levels)
    scores = read_scores(db, batch, alerts_only=True)
    scores = scores[scores["alert"].isin(levels)]
    columns = _place_columns()
    features = _features_of(db, batch, scores, columns)
    features = features.rename(columns={c: f"f_{c}" for c in columns})
    merged = scores.merge(features, on=["siret", "periode"], how="left", validate="one_to_one")
    region = _first_present(merged, ["region", "f_region"])
    out = pd.DataFrame({
        "siret": merged["siret"], "siren": merged["siren"],
        "raison_sociale": merged.get("f_raison_sociale"),
        # The town's name; its code when the registry gives none; Features for older Scores.
        "commune": _first_present(merged, ["commune", "code_commune", "f_commune", "f_code_commune"]),
        "departement": _first_present(merged, ["departement", "f_departement"]),
        "region": region,
        "secteur": _first_present(merged, ["f_libelle_naf", "f_code_naf"]),
        "effectif": merged.get("f_effectif"),
        "dette_urssaf": merged[[c for c in ("f_montant_part_ouvriere", "f_montant_part_patronale")
                                if c in merged.columns]].sum(axis=1, min_count=1) if len(merged) else [],
        "score": merged["score"], "alert": merged["alert"],
        "raisons": [" ".join(filter(None, (explain_in_words(r, t), corrections_in_words(c))))
                    for r, t, c in zip(merged["reasons"], merged["top_variables"], merged["corrections"])],
        "periode": merged["periode"],
        "code_commune": _first_present(merged, ["code_commune", "f_code_commune"]),
        "code_region": merged["code_region"].where(
            merged["code_region"].notna(), region.map(lambda r: _REGION_CODE_OF.get(r) if isinstance(r, str) else None)),
        "code_naf": merged.get("f_code_naf"),
        "model": merged["model"], "reasons": merged["reasons"], "top_variables": merged["top_variables"],
    })
    out = out.sort_values(["score", "siret"], ascending=[False, True], kind="stable", ignore_index=True)
    out.insert(0, "rang", np.arange(1, len(out) + 1))
    return out[list(ALERT_TABLE_COLUMNS)]


def alert_list(db: Database, batch: str, *, region: str | None = None, departement: str | None = None,
               min_effectif: float | None = None, top: int | None = None,
               levels: Iterable[str] = ALERT_LEVELS) -> pd.DataFrame:
    """The alert list of ``batch`` (see the module docstring); empty (with the columns) if none."""
    levels = _check_levels(levels)
    region_name = resolve_region(region) if region is not None else None
    out = alert_table(db, batch, levels=levels)
    keep = pd.Series(True, index=out.index)
    if region_name is not None:
        keep &= out["region"].fillna("").map(_fold) == _fold(region_name)
    if departement is not None:
        keep &= out["departement"].fillna("").astype(str).str.upper() == departement.strip().upper()
    if min_effectif is not None:
        keep &= pd.to_numeric(out["effectif"], errors="coerce") >= min_effectif
    out = out[keep].reset_index(drop=True)
    if top is not None:
        out = out.head(top)
    out["rang"] = np.arange(1, len(out) + 1)
    return out[list(ALERT_LIST_COLUMNS)]


# ----------------------------------------------------------------------------- per region

#: Columns of :func:`alerts_by_region`.
BY_REGION_COLUMNS: tuple[str, ...] = ("code_region", "region", "level", "count", "previous", "change")


def previous_scored_batch(db: Database, batch: str) -> str | None:
    """The highest batch key below ``batch`` that has Scores, or None."""
    keys = [k for k in db[SCORES].distinct("_id.batch") if isinstance(k, str) and k < batch]
    return max(keys) if keys else None


def _region_counts(db: Database, batch: str, levels: list[str]) -> tuple[dict[tuple, int], int]:
    """``({(code_region, region, level): alerts}, alerts whose Score has no region field)`` of ``batch``."""
    pipeline = [{"$match": {"_id.batch": batch, "alert": {"$in": levels}}},
                {"$group": {"_id": {"code_region": "$code_region", "region": "$region", "alert": "$alert"},
                            "n": {"$sum": 1}}}]
    counts: dict[tuple, int] = {}
    for doc in db[SCORES].aggregate(pipeline):
        key = (doc["_id"].get("code_region"), doc["_id"].get("region"), doc["_id"]["alert"])
        counts[key] = counts.get(key, 0) + int(doc["n"])  # a missing field and null group apart
    unplaced = db[SCORES].count_documents({"_id.batch": batch, "alert": {"$in": levels}, "region": {"$exists": False}})
    return counts, unplaced


def alerts_by_region(db: Database, batch: str, *, levels: Iterable[str] = ALERT_LEVELS
                     ) -> tuple[pd.DataFrame, str | None, list[str]]:
    """Alerts of ``batch`` per region and level, and the change since the previous scored batch.

    Returns ``(frame, previous batch or None, notes)``. ``frame`` has :data:`BY_REGION_COLUMNS`:
    one row per region (``code_region``/``region`` None: no known region) and level in
    ``levels`` plus ``"total"``, sorted by region code (unknown last); ``previous`` and
    ``change`` are None without a previous scored batch. ``notes`` name a batch whose alerts
    were scored before Scores carried the region (counted under no region: score it again).
    """
    levels = _check_levels(levels)
    now, unplaced = _region_counts(db, batch, levels)
    previous = previous_scored_batch(db, batch)
    before, unplaced_before = _region_counts(db, previous, levels) if previous else ({}, 0)
    notes = [f"{n:,} alert(s) of batch {b} were scored before Scores carried the region; run sf score "
             f"--batch {b} again to place them" for b, n in ((batch, unplaced), (previous, unplaced_before)) if n]
    regions = sorted({(c, r) for c, r, _ in [*now, *before]},
                     key=lambda cr: (cr[0] is None, cr[0] or "", cr[1] or ""))
    rows = []
    for code, name in regions:
        for level in [*levels, "total"]:
            picked = levels if level == "total" else [level]
            count = sum(now.get((code, name, lv), 0) for lv in picked)
            prior = sum(before.get((code, name, lv), 0) for lv in picked) if previous else None
            rows.append({"code_region": code, "region": name, "level": level, "count": count, "previous": prior,
                         "change": None if prior is None else count - prior})
    # object columns: None stays None (no region; no previous batch), counts stay Python ints.
    return pd.DataFrame(rows, columns=list(BY_REGION_COLUMNS), dtype=object), previous, notes


# ----------------------------------------------------------------------------- what levels mean

def _card_of(models_dirs: Iterable[Path], version: str) -> dict[str, Any] | None:
    """The model card of ``version`` in the first of ``models_dirs`` holding it (in each, the
    version's default folder, named by the batch key it starts with, is tried first), or None."""
    for models_dir in models_dirs:
        if not Path(models_dir).is_dir():
            continue
        default = Path(models_dir) / version.split("-", 1)[0] / CARD_JSON
        for path in [default, *sorted(Path(models_dir).glob(f"*/{CARD_JSON}"))]:
            try:
                card = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(card, dict) and card.get("version") == version:
                return card
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _run_precision(counts: Mapping[str, Any], level: str) -> float | None:
    """A per-level validation precision in a score run's counts, under whichever of the likely
    shapes it has (``validation_precision.high``, ``precision.high``, ``levels.high.precision``,
    ``validation.high.precision``); None if none."""
    for key in ("validation_precision", "precision"):
        found = counts.get(key)
        if isinstance(found, Mapping) and _number(found.get(level)) is not None:
            return _number(found.get(level))
    for key in ("levels", "validation", "validation_levels"):
        found = counts.get(key)
        entry = found.get(level) if isinstance(found, Mapping) else None
        if isinstance(entry, Mapping):
            for name in ("validation_precision", "precision"):
                if _number(entry.get(name)) is not None:
                    return _number(entry.get(name))
    return None


def level_meanings(db: Database, batch: str, models_dirs: Iterable[Path] = ()) -> list[dict[str, Any]]:
    """What each alert level of ``batch``'s Scores means: ``[{level, threshold, rule, precision}]``.

    The model is the one named by the batch's Scores. Threshold, rule (the card's
    ``threshold_rule``: how the threshold was chosen) and validation precision come from its
    model card in one of ``models_dirs`` (folders of saved models such as ``SF_HOME/models``);
    what the card lacks is looked up in the counts of the latest finished ``score`` run of the
    batch in the Journal (``thresholds.<level>`` as a number or as ``{threshold, precision,
    …}``). ``rule`` and ``precision`` are None when unknown; a level whose threshold is found
    nowhere is left out; ``[]`` when nothing is known.
    """
    doc = db[SCORES].find_one({"_id.batch": batch, "model": {"$type": "string"}}, {"model": 1})
    if doc is None:
        return []
    card = _card_of(models_dirs, doc["model"]) or {}

    def mapping(value: Any) -> Mapping[str, Any]:
        return value if isinstance(value, Mapping) else {}

    thresholds, rules = mapping(card.get("thresholds")), mapping(card.get("threshold_rule"))
    validation = mapping(mapping(mapping(mapping(card.get("metrics")).get("candidates")).get(card.get("kind")))
                         .get("validation"))
    run = db[JOURNAL].find_one({"command": "score", "batch": batch, "state": "finished"},
                               sort=[("started_at", -1)])
    counts = mapping(run.get("counts")) if run else {}
    meanings = []
    for level in ALERT_LEVELS:
        in_run = mapping(counts.get("thresholds")).get(level)
        choice = mapping(in_run)  # sf score's summary: {threshold, precision, recall, goal…} per level
        threshold = next((t for t in (_number(thresholds.get(level)), _number(in_run), _number(choice.get("threshold")))
                          if t is not None), None)
        if threshold is None:
            continue
        precision = next((p for p in (_number(mapping(validation.get(level)).get("precision")),
                                      _number(choice.get("precision")), _run_precision(counts, level))
                          if p is not None), None)
        rule = rules.get(level) if isinstance(rules.get(level), str) else None
        meanings.append({"level": level, "threshold": threshold, "rule": rule, "precision": precision})
    return meanings


def _first_present(frame: pd.DataFrame, names: list[str]) -> Any:
    """Row-wise first non-empty value among ``names`` (None if all are missing or absent)."""
    result = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    for name in reversed(names):
        if name in frame.columns:
            values = frame[name].astype(object)
            present = values.notna() & (values.astype(str) != "")
            result = values.where(present, result)
    return result
