"""Writing and reading the ``Scores`` collection (docs/features.md §5.3).

One document per establishment and batch::

    {"_id": {"batch": "2401", "siret": "01234567800011"}, "siren": "012345678",
     "periode": ISODate("2023-12-01"), "score": 0.183, "alert": "high" | "moderate" | null,
     "reasons": {"urssaf": 0.82, "effectif": 0.31, ...},           # theme → log-odds contribution
     "top_variables": [{"name": "ratio_dette", "theme": "urssaf", "contribution": 0.64}, ...],
     "model": "2401-hgb-1a2b3c4d",
     "commune": "RENNES", "code_commune": "35238", "departement": "35",   # where the establishment is
     "code_region": "53", "region": "Bretagne"}

A Score an expert correction changed (``sf score --corrections``, :mod:`sf.model.corrections`)
also holds ``score_before``, ``alert_before`` (the model's own) and ``corrections``
(``[{"id", "author", "reason"}, ...]``, the rules that changed it); the other Scores have none of
these fields (:data:`CORRECTION_FIELDS`, read back as None).

``periode`` is the month the score is about (the last month of the batch's series). The place
fields (:data:`sf.model.places.PLACE_COLUMNS`: town name, INSEE commune code, département,
INSEE region code and region name) come from the establishment's registry record
(:mod:`sf.model.places`); each is null when unknown, and when the scores frame has no such
column (Scores written before they existed lack them). Scoring a
batch again replaces its documents: :func:`write_scores` deletes ``{"_id.batch": B}`` (a dotted
filter: the embedded server cannot match a whole sub-document ``_id``) then inserts the new
ones with unordered bulk inserts, so a batch never holds two generations of scores. A run
killed between the two steps leaves the batch partly scored; running ``sf score`` again
repairs it (the Journal shows the failed run).

Failure modes: ``ValueError`` for a scores frame lacking a column, holding a SIRET twice, or a
score outside [0, 1]; ``pymongo`` errors (a failed insert is raised with its key).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pandas as pd
from pymongo.database import Database
from sf.engine.collections import SCORES
from sf.engine.documents import insert_documents

from .errors import ModelInputError
from .places import PLACE_COLUMNS

#: The values of a Score's ``alert`` (besides null): the F0.5 and the F2 threshold.
ALERT_LEVELS: tuple[str, ...] = ("high", "moderate")
SCORE_COLUMNS: tuple[str, ...] = ("siret", "siren", "periode", "score", "alert", "reasons", "top_variables", "model")
#: Optional columns/fields, present only on Scores an expert correction changed.
CORRECTION_FIELDS: tuple[str, ...] = ("score_before", "alert_before", "corrections")
#: What :func:`read_scores` returns: :data:`SCORE_COLUMNS`, the place fields, then :data:`CORRECTION_FIELDS`.
READ_COLUMNS: tuple[str, ...] = (*SCORE_COLUMNS, *PLACE_COLUMNS, *CORRECTION_FIELDS)


def _plain(value: Any) -> Any:
    """numpy scalars and NaN → Python values BSON can store (NaN → None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _periode(value: Any) -> datetime:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def score_documents(batch: str, scores: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """The Scores documents of ``scores`` (the frame :func:`sf.model.scoring.score` returns,
    optionally with the :data:`PLACE_COLUMNS`; a missing one is stored as null).

    ``ValueError`` if a column is missing, a SIRET appears twice, or a score is not in [0, 1].
    """
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ModelInputError(f"scores lack the column(s) {', '.join(missing)}")
    duplicated = scores["siret"].astype(str).duplicated()
    if duplicated.any():
        raise ModelInputError(f"scores hold siret {scores['siret'][duplicated].iloc[0]} more than once; Scores keep one "
                              "document per establishment and batch")
    corrected = "corrections" in scores.columns
    places = scores.reindex(columns=list(PLACE_COLUMNS)).astype(object)
    places = places.where(places.notna(), None).to_dict("records")
    columns = list(SCORE_COLUMNS) + (list(CORRECTION_FIELDS) if corrected else [])
    for row, place in zip(scores[columns].itertuples(index=False), places):
        score = float(row.score)
        if not 0.0 <= score <= 1.0:
            raise ModelInputError(f"score {score!r} of siret {row.siret} is not a probability")
        document = {"_id": {"batch": batch, "siret": str(row.siret)}, "siren": str(row.siren),
                    "periode": _periode(row.periode), "score": score,
                    "alert": None if row.alert is None or (isinstance(row.alert, float) and math.isnan(row.alert))
                    else str(row.alert),
                    "reasons": _plain(dict(row.reasons)), "top_variables": _plain(list(row.top_variables)),
                    "model": str(row.model), **{k: None if v is None else str(v) for k, v in place.items()}}
        if corrected and isinstance(row.corrections, list) and row.corrections:
            document.update(score_before=float(row.score_before), alert_before=row.alert_before,
                            corrections=_plain(row.corrections))
        yield document


def write_scores(db: Database, batch: str, scores: pd.DataFrame) -> dict[str, int]:
    """Replace the Scores of ``batch`` by ``scores``; returns ``{"deleted": n, "inserted": m}``.

    Every document is built (and checked) before anything is deleted, so bad input leaves the
    stored scores untouched. A failed insert raises :class:`~sf.engine.errors.SfError` naming
    the first failed key (:func:`~sf.engine.documents.insert_documents`).
    """
    documents = list(score_documents(batch, scores))
    deleted = db[SCORES].delete_many({"_id.batch": batch}).deleted_count
    inserted = insert_documents(db, SCORES, documents, f"batch {batch}")
    return {"deleted": deleted, "inserted": inserted}


def read_scores(db: Database, batch: str, *, alerts_only: bool = False) -> pd.DataFrame:
    """The Scores of ``batch`` as a DataFrame with :data:`READ_COLUMNS` (``periode`` UTC; a
    place field the document lacks is None; the correction fields are None where no correction
    changed the Score), highest score first; empty (with the columns) when the batch has no scores."""
    query: dict[str, Any] = {"_id.batch": batch}
    if alerts_only:
        query["alert"] = {"$in": ["high", "moderate"]}
    rows = [{"siret": d["_id"]["siret"], "siren": d.get("siren"), "periode": d.get("periode"),
             "score": d.get("score"), "alert": d.get("alert"), "reasons": d.get("reasons") or {},
             "top_variables": d.get("top_variables") or [], "model": d.get("model"),
             **{k: d.get(k) for k in (*PLACE_COLUMNS, *CORRECTION_FIELDS)}}
            for d in db[SCORES].find(query)]
    frame = pd.DataFrame(rows, columns=list(READ_COLUMNS)).astype({name: object for name in CORRECTION_FIELDS})
    frame["periode"] = pd.to_datetime(frame["periode"], utc=True).astype("datetime64[ns, UTC]")
    frame["score"] = pd.to_numeric(frame["score"]).astype(float)
    for column in ("alert", *PLACE_COLUMNS):  # None, not NaN, for what is unknown
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame.sort_values(["score", "siret"], ascending=[False, True], kind="stable", ignore_index=True)
