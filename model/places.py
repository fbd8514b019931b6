"""Where establishments are: town name, commune code, département and region (code and name).

Input: the ``sirene`` registry records compacted into RawData (``importers/sirene.py`` stores
``commune`` = ``libelleCommuneEtablissement``, ``code_commune``, ``departement``). As the
Features do (``features/sirene.py``), the **last live record** of the establishment's state
as of the batch is used (``sf.compaction.state.rebuild_state``, batch keys up to the scored
batch). The region comes from the département: the 13 metropolitan regions (Corsica's
``2A``/``2B`` included, as the Features' "fixed" mode does) and the 5 overseas ones, with
their INSEE codes; any other département (or none) gives no region.

:func:`establishment_places` is what ``sf score`` stores in each Scores document
(``commune``, ``code_commune``, ``departement``, ``code_region``, ``region``); an
establishment without a registry record gets nulls. Failure mode:
:class:`~sf.compaction.errors.InvalidCompactionInputError` on a malformed RawData entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from pymongo.database import Database
from sf.compaction.state import rebuild_state
from sf.engine.collections import ADMIN, RAW_DATA
from sf.features.sirene import REGIONS_FIXED

__all__ = ["PLACE_COLUMNS", "REGION_CODES", "establishment_places", "region_of_departement"]

#: The place fields of a Scores document, in their order.
PLACE_COLUMNS: tuple[str, ...] = ("commune", "code_commune", "departement", "code_region", "region")

#: INSEE region code → name: the 13 metropolitan regions (names as in Features) and the 5 overseas ones.
REGION_CODES: dict[str, str] = {
    "01": "Guadeloupe", "02": "Martinique", "03": "Guyane", "04": "La Réunion", "06": "Mayotte",
    "11": "Île-de-France", "24": "Centre-Val de Loire", "27": "Bourgogne-Franche-Comté", "28": "Normandie",
    "32": "Hauts-de-France", "44": "Grand Est", "52": "Pays de la Loire", "53": "Bretagne",
    "75": "Nouvelle-Aquitaine", "76": "Occitanie", "84": "Auvergne-Rhône-Alpes",
    "93": "Provence-Alpes-Côte d'Azur", "94": "Corse",
}
_CODE_OF_NAME = {name: code for code, name in REGION_CODES.items()}
_OVERSEAS = {"971": "01", "972": "02", "973": "03", "974": "04", "976": "06"}
# Above this many establishments, scan RawData's establishments rather than send long $in lists.
IN_LIST_LIMIT = 5_000
CHUNK = 1_000


def region_of_departement(departement: str | None) -> tuple[str | None, str | None]:
    """``(INSEE region code, name)`` of a département code (``35`` → ``("53", "Bretagne")``,
    ``974`` → ``("04", "La Réunion")``); ``(None, None)`` when unknown or missing."""
    if not departement:
        return None, None
    if departement in _OVERSEAS:
        code = _OVERSEAS[departement]
        return code, REGION_CODES[code]
    name = REGIONS_FIXED.get(departement)
    return (_CODE_OF_NAME[name], name) if name else (None, None)


def _projection(db: Database, batch: str) -> dict[str, int]:
    """Only the sirene records and deletions of the batches up to ``batch`` (batch keys from
    Admin); the whole batch history when Admin lists none (RawData written elsewhere)."""
    keys = sorted(k for k in db[ADMIN].distinct("_id.key", {"_id.type": "batch"}) if isinstance(k, str) and k <= batch)
    if not keys:
        return {"value.key": 1, "value.batch": 1}
    projection = {"value.key": 1}
    for key in keys:
        projection[f"value.batch.{key}.sirene"] = 1
        projection[f"value.batch.{key}.compact.delete.sirene"] = 1
    return projection


def _place(value: Mapping[str, Any], batch: str) -> dict[str, Any]:
    """Place fields of one RawData ``value`` as of ``batch`` (all None without a sirene record)."""
    records = rebuild_state(value, batch).get("sirene") or {}
    record = next((r for r in reversed(records.values()) if r is not None), None)
    if record is None:
        return dict.fromkeys(PLACE_COLUMNS)
    departement = record.get("departement") or None
    code_region, region = region_of_departement(departement)
    return {"commune": record.get("commune") or None, "code_commune": record.get("code_commune") or None,
            "departement": departement, "code_region": code_region, "region": region}


def establishment_places(db: Database, batch: str, sirets: Iterable[str]) -> pd.DataFrame:
    """One row per SIRET of ``sirets`` (in that order): ``siret`` and :data:`PLACE_COLUMNS`.

    Reads only the sirene part of the RawData documents of those establishments.
    """
    wanted = list(dict.fromkeys(str(s) for s in sirets))
    projection = _projection(db, batch)
    found: dict[str, dict[str, Any]] = {}
    if len(wanted) > IN_LIST_LIMIT:
        chosen = set(wanted)
        for doc in db[RAW_DATA].find({"value.scope": "etablissement"}, projection):
            if doc["_id"] in chosen:
                found[doc["_id"]] = _place(doc.get("value") or {}, batch)
    else:
        for start in range(0, len(wanted), CHUNK):
            for doc in db[RAW_DATA].find({"_id": {"$in": wanted[start:start + CHUNK]}}, projection):
                found[doc["_id"]] = _place(doc.get("value") or {}, batch)
    empty = dict.fromkeys(PLACE_COLUMNS)
    rows = [{"siret": s, **found.get(s, empty)} for s in wanted]
    return pd.DataFrame(rows, columns=["siret", *PLACE_COLUMNS], dtype=object)
