"""Queries analysts type in mongosh, each with the answer MongoDB's documentation defines for it.

One definition serves three uses: the README lists :func:`shell_text` of every query (a test
checks they match), ``test_shell_queries.py`` runs each through PyMongo against the store, and,
when mongosh is installed, through the real mongosh. The dataset below is small on purpose:
every expected answer was worked out by hand from MongoDB's documented semantics (comments
say which rule decides), never by running the store.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

A, B, C = "01234567891011", "01234567800017", "98765432100019"
NOV, DEC = datetime(2023, 11, 1), datetime(2023, 12, 1)

DATASET: dict[str, list[dict[str, Any]]] = {
    "RawData": [
        {"_id": A, "value": {"key": A, "scope": "etablissement",
                             "batch": {"2401": {"effectif": {"h1": {"periode": datetime(2023, 10, 1), "effectif": 12}}},
                                       "2402": {"debit": {"h2": {"periode": NOV, "part_ouvriere": 100.0,
                                                                 "part_patronale": 250.5}}}},
                             "index": {"algo2": True}, "state": {"effectif": ["h1"], "debit": ["h2"]},
                             "state_batch": "2402"}},
        {"_id": B, "value": {"key": B, "scope": "etablissement",
                             "batch": {"2401": {"effectif": {"h3": {"periode": datetime(2023, 10, 1), "effectif": 3}}}},
                             "index": {"algo2": True}, "state": {"effectif": ["h3"]}, "state_batch": "2401"}},
        {"_id": "012345678", "value": {"key": "012345678", "scope": "entreprise",
                                       "batch": {"2401": {"paydex": {"h4": {"nb_jours": 2}}}},
                                       "index": {"algo2": False}, "state": {"paydex": ["h4"]}, "state_batch": "2401"}},
    ],
    "Features": [
        {"_id": {"batch": "2402", "siret": siret, "periode": periode},
         "value": {"effectif": effectif, "region": region, "montant_part_patronale": debt}}
        for siret, region, rows in (
            (A, "Bretagne", ((NOV, 12, 250.5), (DEC, 10, 900.0))),
            (B, "Bretagne", ((NOV, 3, 0.0), (DEC, 3, 0.0))),
            (C, "Occitanie", ((NOV, 40, 0.0), (DEC, 41, 120.0))),
        )
        for periode, effectif, debt in rows
    ],
    "Scores": [
        {"_id": {"batch": "2402", "siret": A}, "siren": "012345678", "periode": DEC, "score": 0.42, "alert": "high",
         "top_variables": [{"name": "montant_part_patronale", "contribution": 0.8},
                           {"name": "effectif", "contribution": 0.1}], "code_region": "53", "region": "Bretagne"},
        {"_id": {"batch": "2402", "siret": B}, "siren": "012345678", "periode": DEC, "score": 0.12,
         "alert": "moderate", "top_variables": [], "code_region": "53", "region": "Bretagne"},
        {"_id": {"batch": "2402", "siret": C}, "siren": "987654321", "periode": DEC, "score": 0.02, "alert": None,
         "top_variables": [], "code_region": "76", "region": "Occitanie"},
        {"_id": {"batch": "2401", "siret": A}, "siren": "012345678", "periode": NOV, "score": 0.30, "alert": "high",
         "top_variables": []},
    ],
    "Journal": [
        {"_id": 1, "command": "import", "batch": "2402", "state": "finished", "started_at": datetime(2024, 2, 1, 9),
         "duration_s": 30.5, "error": None},
        {"_id": 2, "command": "compact", "batch": "2402", "state": "failed", "started_at": datetime(2024, 2, 1, 10),
         "duration_s": 2.0, "error": "LockHeld: another run holds the lock"},
        {"_id": 3, "command": "compact", "batch": "2402", "state": "finished", "started_at": datetime(2024, 2, 1, 11),
         "duration_s": 12.5, "error": None},
    ],
}


@dataclass
class ShellQuery:
    """A mongosh query: ``method`` of ``collection`` with ``args``, then cursor ``sort``/``limit``."""

    title: str
    collection: str
    method: str  # find | findOne | countDocuments | distinct | aggregate
    args: tuple
    expected: Any
    sort: dict | None = None
    limit: int | None = None
    ordered: bool = True  # False when MongoDB defines no order (compare as sets)
    notes: str = ""
    extra: dict = field(default_factory=dict)


REGION_ALERTS = [
    {"$match": {"_id.batch": "2402", "alert": {"$ne": None}}},
    {"$lookup": {"from": "Features", "let": {"b": "$_id.batch", "s": "$_id.siret", "p": "$periode"},
                 "pipeline": [{"$match": {"$expr": {"$and": [{"$eq": ["$_id.batch", "$$b"]},
                                                             {"$eq": ["$_id.siret", "$$s"]},
                                                             {"$eq": ["$_id.periode", "$$p"]}]}}},
                              {"$project": {"_id": 0, "region": "$value.region"}}],
                 "as": "features"}},
    {"$unwind": "$features"},
    {"$group": {"_id": {"region": "$features.region", "alert": "$alert"}, "n": {"$sum": 1}}},
    {"$sort": {"_id.region": 1, "_id.alert": 1}},
]

QUERIES: list[ShellQuery] = [
    ShellQuery("one establishment's history", "RawData", "findOne", ({"_id": B},), DATASET["RawData"][1]),
    ShellQuery("establishments with headcount data", "RawData", "find", ({"value.index.algo2": True}, {"_id": 1}),
               [{"_id": B}, {"_id": A}], sort={"_id": 1}),  # string order: "…800017" < "…891011"
    ShellQuery("how many establishments", "RawData", "countDocuments", ({"value.scope": "etablissement"},), 2),
    ShellQuery("entities touched by batch 2402", "RawData", "find",
               ({"value.batch.2402": {"$exists": True}}, {"_id": 1}), [{"_id": A}]),
    ShellQuery("last batch of each entity (dotted projection comes back nested)", "RawData", "find",
               ({}, {"value.state_batch": 1}),
               [{"_id": "012345678", "value": {"state_batch": "2401"}}, {"_id": B, "value": {"state_batch": "2401"}},
                {"_id": A, "value": {"state_batch": "2402"}}], sort={"_id": 1}),
    ShellQuery("batches that are the last of some entity (strings stay strings)", "RawData", "distinct",
               ("value.state_batch",), ["2401", "2402"], ordered=False),
    ShellQuery("entities with a debt record in their state", "RawData", "find",
               ({"value.state.debit": {"$exists": True, "$ne": []}}, {"_id": 1}), [{"_id": A}]),
    ShellQuery("feature rows of one month", "Features", "countDocuments", ({"_id.periode": NOV},), 3),
    ShellQuery("the same count by aggregation ($match on a date)", "Features", "aggregate",
               ([{"$match": {"_id.periode": NOV}}, {"$count": "n"}],), [{"n": 3}]),
    ShellQuery("December rows of batch 2402, headcount only", "Features", "find",
               ({"_id.batch": "2402", "_id.periode": {"$gte": DEC}}, {"_id": 0, "value.effectif": 1}),
               [{"value": {"effectif": 3}}, {"value": {"effectif": 10}}, {"value": {"effectif": 41}}],
               sort={"_id.siret": 1}),
    ShellQuery("latest rows of two establishments", "Features", "find",
               ({"_id.siret": {"$in": [A, C]}}, {"_id": 1}),
               [{"_id": {"batch": "2402", "siret": A, "periode": DEC}}, {"_id": {"batch": "2402", "siret": C, "periode": DEC}}],
               sort={"_id.periode": -1, "_id.siret": 1}, limit=2),
    ShellQuery("establishments of batch 2402", "Features", "distinct", ("_id.siret", {"_id.batch": "2402"}),
               [A, B, C], ordered=False),
    ShellQuery("headcount per region and month ($group on a compound _id)", "Features", "aggregate",
               ([{"$match": {"_id.batch": "2402"}},
                 {"$group": {"_id": {"region": "$value.region", "periode": "$_id.periode"},
                             "effectif": {"$sum": "$value.effectif"}}},
                 {"$sort": {"_id.region": 1, "_id.periode": 1}}],),
               [{"_id": {"region": "Bretagne", "periode": NOV}, "effectif": 15},
                {"_id": {"region": "Bretagne", "periode": DEC}, "effectif": 13},
                {"_id": {"region": "Occitanie", "periode": NOV}, "effectif": 40},
                {"_id": {"region": "Occitanie", "periode": DEC}, "effectif": 41}]),
    ShellQuery("rows with a debt, most indebted first", "Features", "aggregate",
               ([{"$match": {"value.montant_part_patronale": {"$gt": 0}}},
                 {"$project": {"_id": 0, "siret": "$_id.siret", "debt": "$value.montant_part_patronale"}},
                 {"$sort": {"debt": -1}}],),
               [{"siret": A, "debt": 900.0}, {"siret": A, "debt": 250.5}, {"siret": C, "debt": 120.0}]),
    ShellQuery("alerts of batch 2402, most at risk first", "Scores", "find",
               ({"_id.batch": "2402", "alert": {"$ne": None}}, {"_id": 0, "siren": 1, "score": 1, "alert": 1}),
               [{"siren": "012345678", "score": 0.42, "alert": "high"},
                {"siren": "012345678", "score": 0.12, "alert": "moderate"}], sort={"score": -1}),
    ShellQuery("count and highest score per alert level ($group, null first in sort)", "Scores", "aggregate",
               ([{"$match": {"_id.batch": "2402"}},
                 {"$group": {"_id": "$alert", "n": {"$sum": 1}, "max": {"$max": "$score"}}},
                 {"$sort": {"_id": 1}}],),
               [{"_id": None, "n": 1, "max": 0.02}, {"_id": "high", "n": 1, "max": 0.42},
                {"_id": "moderate", "n": 1, "max": 0.12}]),
    ShellQuery("the top variables of one alert ($unwind)", "Scores", "aggregate",
               ([{"$match": {"_id.batch": "2402", "_id.siret": A}}, {"$unwind": "$top_variables"},
                 {"$project": {"_id": 0, "name": "$top_variables.name", "c": "$top_variables.contribution"}}],),
               [{"name": "montant_part_patronale", "c": 0.8}, {"name": "effectif", "c": 0.1}]),
    ShellQuery("each score with its feature rows ($lookup localField/foreignField)", "Scores", "aggregate",
               ([{"$match": {"_id.batch": "2402"}},
                 {"$lookup": {"from": "Features", "localField": "_id.siret", "foreignField": "_id.siret",
                              "as": "rows"}},
                 {"$project": {"_id": 0, "siret": "$_id.siret", "rows": {"$size": "$rows"}}},
                 {"$sort": {"siret": 1}}],),
               [{"siret": B, "rows": 2}, {"siret": A, "rows": 2}, {"siret": C, "rows": 2}]),
    ShellQuery("alerts per region of batch 2402 ($group on the Score's region)", "Scores", "aggregate",
               ([{"$match": {"_id.batch": "2402", "alert": {"$ne": None}}},
                 {"$group": {"_id": {"region": "$region", "alert": "$alert"}, "n": {"$sum": 1}}},
                 {"$sort": {"_id.region": 1, "_id.alert": 1}}],),
               [{"_id": {"region": "Bretagne", "alert": "high"}, "n": 1},
                {"_id": {"region": "Bretagne", "alert": "moderate"}, "n": 1}]),
    ShellQuery("the same from the Features' region ($lookup let/pipeline, $unwind, $group)", "Scores", "aggregate",
               (REGION_ALERTS,),
               [{"_id": {"region": "Bretagne", "alert": "high"}, "n": 1},
                {"_id": {"region": "Bretagne", "alert": "moderate"}, "n": 1}]),
    ShellQuery("alerts and scored establishments in one pass ($facet)", "Scores", "aggregate",
               ([{"$match": {"_id.batch": "2402"}},
                 {"$facet": {"alerts": [{"$match": {"alert": {"$ne": None}}}, {"$count": "n"}],
                             "scored": [{"$count": "n"}]}}],),
               [{"alerts": [{"n": 2}], "scored": [{"n": 3}]}]),
    ShellQuery("score change of an establishment between batches", "Scores", "aggregate",
               ([{"$match": {"_id.siret": A}}, {"$sort": {"_id.batch": 1}},
                 {"$group": {"_id": "$_id.siret", "scores": {"$push": "$score"}}}],),
               [{"_id": A, "scores": [0.30, 0.42]}]),
    ShellQuery("failed runs", "Journal", "find", ({"state": "failed"}, {"_id": 0, "command": 1, "error": 1}),
               [{"command": "compact", "error": "LockHeld: another run holds the lock"}]),
    ShellQuery("the latest run", "Journal", "find", ({}, {"_id": 1, "command": 1, "state": 1}),
               [{"_id": 3, "command": "compact", "state": "finished"}], sort={"started_at": -1}, limit=1),
    ShellQuery("runs per command and state", "Journal", "aggregate",
               ([{"$group": {"_id": {"command": "$command", "state": "$state"}, "n": {"$sum": 1}}},
                 {"$sort": {"_id.command": 1, "_id.state": 1}}],),
               [{"_id": {"command": "compact", "state": "failed"}, "n": 1},
                {"_id": {"command": "compact", "state": "finished"}, "n": 1},
                {"_id": {"command": "import", "state": "finished"}, "n": 1}]),
    ShellQuery("time spent since a date", "Journal", "aggregate",
               ([{"$match": {"started_at": {"$gte": datetime(2024, 2, 1, 10)}}},
                 {"$group": {"_id": None, "seconds": {"$sum": "$duration_s"}, "runs": {"$sum": 1}}}],),
               [{"_id": None, "seconds": 14.5, "runs": 2}]),
]

_BARE_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_]*$")


def to_shell(value: Any) -> str:
    """``value`` written as a person types it in mongosh (bare keys, ISODate, null)."""
    if isinstance(value, dict):
        items = ", ".join(f"{k if _BARE_KEY.match(k) else json.dumps(k)}: {to_shell(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(to_shell(v) for v in value) + "]"
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d") if value.time() == datetime.min.time() else value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return f'ISODate("{text}")'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def shell_text(query: ShellQuery) -> str:
    """The mongosh line of ``query``, e.g. ``db.RawData.find({...}, {...}).sort({...}).limit(2)``."""
    text = f"db.{query.collection}.{query.method}({', '.join(to_shell(a) for a in query.args)})"
    if query.sort:
        text += f".sort({to_shell(query.sort)})"
    if query.limit:
        text += f".limit({query.limit})"
    return text


def run_pymongo(db, query: ShellQuery) -> Any:
    """Run ``query`` through PyMongo; cursors become lists."""
    collection = db[query.collection]
    if query.method == "find":
        cursor = collection.find(*query.args)
        if query.sort:
            cursor = cursor.sort(list(query.sort.items()))
        if query.limit:
            cursor = cursor.limit(query.limit)
        return list(cursor)
    if query.method == "findOne":
        return collection.find_one(*query.args)
    if query.method == "countDocuments":
        return collection.count_documents(*query.args)
    if query.method == "distinct":
        return collection.distinct(*query.args)
    if query.method == "aggregate":
        return list(collection.aggregate(*query.args))
    raise ValueError(f"unknown method {query.method}")
