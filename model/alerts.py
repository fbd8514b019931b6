"""The alert list users act on (``sf alerts``, docs/features.md §5.5): most at-risk establishments first.

``alert_list(db, batch, ...)`` joins the batch's ``Scores`` (alerted rows: level ``high`` or
``moderate``) with the Features row of the month each score is about (``Scores.periode``, the
establishment's latest month of the batch) and returns one row per establishment with:

====================  ==================================================================
``rang``              1 = highest score of the list after filtering
``siret``, ``siren``  identifiers
``raison_sociale``    company name (Features ``raison_sociale``, from sirene_ul)
``commune``           Features ``commune`` (the commune's name) when the catalogue has it,
                      else the INSEE code ``code_commune`` (Features carry no name yet)
``departement``       Features ``departement``
``region``            Features ``region`` (region name, "" outside the 13 metropolitan ones)
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

Failure modes: ``ValueError`` for an unknown region or level.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from pymongo.database import Database
from sf.features.catalogue import VARIABLES

from .corrections import corrections_in_words
from .errors import ModelOptionError
from .scores_store import ALERT_LEVELS, read_scores
from .scoring import explain_in_words
from .table import empty_table, load_feature_table

__all__ = ["ALERT_LIST_COLUMNS", "REGION_CODES", "alert_list", "explain_in_words", "resolve_region"]

ALERT_LIST_COLUMNS: tuple[str, ...] = (
    "rang", "siret", "siren", "raison_sociale", "commune", "departement", "region", "secteur", "effectif",
    "dette_urssaf", "score", "alert", "raisons", "periode",
)

# INSEE codes of the regions that Features name (features/sirene.py REGIONS_FIXED).
REGION_CODES: dict[str, str] = {
    "11": "Île-de-France", "24": "Centre-Val de Loire", "27": "Bourgogne-Franche-Comté", "28": "Normandie",
    "32": "Hauts-de-France", "44": "Grand Est", "52": "Pays de la Loire", "53": "Bretagne",
    "75": "Nouvelle-Aquitaine", "76": "Occitanie", "84": "Auvergne-Rhône-Alpes",
    "93": "Provence-Alpes-Côte d'Azur", "94": "Corse",
}
# Above this many alerted establishments, read the whole month rather than a long $in list.
IN_LIST_LIMIT = 5_000


def _fold(text: str) -> str:
    """Lower case without accents, apostrophes unified: ``"Provence-Alpes-Côte d’Azur"`` → ``provence-alpes-cote d'azur``."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower().strip()


def resolve_region(value: str) -> str:
    """Region name as stored in Features, from an INSEE code (``53``) or a name (``bretagne``).

    ``ValueError`` listing the known codes when ``value`` is neither.
    """
    if value.strip() in REGION_CODES:
        return REGION_CODES[value.strip()]
    for name in REGION_CODES.values():
        if _fold(name) == _fold(value):
            return name
    known = ", ".join(f"{code} {name}" for code, name in REGION_CODES.items())
    raise ModelOptionError(f"unknown region {value!r}; expected an INSEE region code or name: {known}")


def _place_columns() -> tuple[list[str], str]:
    """Features variables to read for the list, and the one holding the commune."""
    commune = "commune" if "commune" in VARIABLES else "code_commune"
    wanted = ["raison_sociale", commune, "departement", "region", "libelle_naf", "code_naf", "effectif",
              "montant_part_ouvriere", "montant_part_patronale"]
    return [c for c in wanted if c in VARIABLES], commune


def _features_of(db: Database, batch: str, scores: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Features rows (``siret``, ``periode`` + ``columns``) of the scored (siret, periode) pairs."""
    frames = []
    for periode, group in scores.groupby("periode", sort=True):
        sirets = group["siret"].tolist() if len(group) <= IN_LIST_LIMIT else None
        frames.append(load_feature_table(db, batch, columns=columns, periode=periode.to_pydatetime(), sirets=sirets))
    if not frames:
        return empty_table(columns).drop(columns=["siren"])
    return pd.concat(frames, ignore_index=True).drop(columns=["siren"])


def alert_list(db: Database, batch: str, *, region: str | None = None, departement: str | None = None,
               min_effectif: float | None = None, top: int | None = None,
               levels: Iterable[str] = ALERT_LEVELS) -> pd.DataFrame:
    """The alert list of ``batch`` (see the module docstring); empty (with the columns) if none."""
    levels = list(levels)
    unknown = [lv for lv in levels if lv not in ALERT_LEVELS]
    if unknown:
        raise ModelOptionError(f"unknown alert level(s) {', '.join(unknown)}; expected high and/or moderate")
    region_name = resolve_region(region) if region is not None else None
    scores = read_scores(db, batch, alerts_only=True)
    scores = scores[scores["alert"].isin(levels)]
    columns, commune = _place_columns()
    features = _features_of(db, batch, scores, columns)
    merged = scores.merge(features, on=["siret", "periode"], how="left", validate="one_to_one")
    out = pd.DataFrame({
        "siret": merged["siret"], "siren": merged["siren"],
        "raison_sociale": merged.get("raison_sociale"), "commune": merged.get(commune),
        "departement": merged.get("departement"), "region": merged.get("region"),
        "secteur": _first_present(merged, ["libelle_naf", "code_naf"]),
        "effectif": merged.get("effectif"),
        "dette_urssaf": merged[[c for c in ("montant_part_ouvriere", "montant_part_patronale")
                                if c in merged.columns]].sum(axis=1, min_count=1) if len(merged) else [],
        "score": merged["score"], "alert": merged["alert"],
        "raisons": [" ".join(filter(None, (explain_in_words(r, t), corrections_in_words(c))))
                    for r, t, c in zip(merged["reasons"], merged["top_variables"], merged["corrections"])],
        "periode": merged["periode"],
    })
    keep = pd.Series(True, index=out.index)
    if region_name is not None:
        keep &= out["region"].fillna("").map(_fold) == _fold(region_name)
    if departement is not None:
        keep &= out["departement"].fillna("").astype(str).str.upper() == departement.strip().upper()
    if min_effectif is not None:
        keep &= pd.to_numeric(out["effectif"], errors="coerce") >= min_effectif
    out = out[keep].sort_values(["score", "siret"], ascending=[False, True], kind="stable", ignore_index=True)
    if top is not None:
        out = out.head(top)
    out.insert(0, "rang", np.arange(1, len(out) + 1))
    return out[list(ALERT_LIST_COLUMNS)]


def _first_present(frame: pd.DataFrame, names: list[str]) -> Any:
    """Row-wise first non-empty value among ``names`` (None if all are missing or absent)."""
    result = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    for name in reversed(names):
        if name in frame.columns:
            values = frame[name].astype(object)
            present = values.notna() & (values.astype(str) != "")
            result = values.where(present, result)
    return result
