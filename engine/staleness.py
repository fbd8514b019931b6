"""Stale outputs: Features and Scores computed before the RawData they were read from changed.

Features of batch ``B`` are computed from the RawData entries of batches ``<= B``; Scores of
``B`` from the Features of ``B``. RawData changes under them when, after they were computed,

- ``sf purge --since-batch S`` ran with ``S <= B`` (entries ``>= S`` removed), or
- ``sf compact`` merged a batch ``C <= B`` (a re-import and re-compaction, or a late batch);

Scores are also stale when the batch's Features were recomputed after them. Everything is read
from the Journal: the latest ``finished`` run of ``sf features --until-batch B`` (not ``--key``,
not ``--dry-run``) and of ``sf score --batch B`` say when the outputs were made; every purge
and compaction that may have written (finished, failed or interrupted, not dry runs, not
refused by the lock) after that is a change. A failed compaction whose batches are unknown is
taken to touch every batch (it may have written some ranges). Outputs with no Journal run (made
by another tool) are not judged.

:func:`stale_outputs` returns one :class:`StaleOutput` per stale (collection, batch), with the
command to run; ``sf db info`` and ``sf report`` print them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from .collections import FEATURES, JOURNAL, SCORES

_CHANGES = ("purge", "compact")


@dataclass(frozen=True)
class StaleOutput:
    """``collection`` (Features or Scores) of ``batch``, made at ``made_at``, predates ``cause``."""

    collection: str
    batch: str
    made_at: datetime
    cause: str
    remedy: str

    def message(self) -> str:
        """One line: what is stale, why, and the command that makes it current."""
        return (f"{self.collection} of batch {self.batch} (computed {self.made_at:%Y-%m-%d %H:%M}) predate "
                f"{self.cause}: run {self.remedy}")

    def as_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "batch": self.batch, "made_at": self.made_at,
                "cause": self.cause, "remedy": self.remedy, "message": self.message()}


@dataclass(frozen=True)
class _Change:
    command: str
    at: datetime
    first_batch: str  # the smallest batch whose entries may have changed ("" = any)
    text: str


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _changes(runs: Iterable[Mapping[str, Any]]) -> list[_Change]:
    """RawData changes recorded in the Journal, oldest first."""
    changes: list[_Change] = []
    for run in runs:
        args = run.get("args") or {}
        error = run.get("error") or ""
        if args.get("dry_run") or run.get("state") == "started" or "holds the lock" in error:
            continue
        at = _utc(run["started_at"])
        when = f"{at:%Y-%m-%d %H:%M}"
        if run["command"] == "purge":
            since = str(args.get("since_batch") or "")
            key = f" --key {args['key']}" if args.get("key") else ""
            changes.append(_Change("purge", at, since, f"`sf purge --since-batch {since}{key}` of {when}"))
            continue
        counts = run.get("counts") or {}
        batches = [str(b) for b in counts.get("batches") or []]
        if args.get("since_batch"):
            batches.append(str(args["since_batch"]))
        if not batches and run.get("state") == "finished":
            continue  # nothing was waiting: nothing written
        first = min(batches) if batches else ""
        shown = f"batch(es) {', '.join(sorted(set(batches)))}" if batches else "an unknown set of batches"
        changes.append(_Change("compact", at, first, f"`sf compact` of {shown} ({run.get('state')}) of {when}"))
    return sorted(changes, key=lambda c: c.at)


def _made(runs: Iterable[Mapping[str, Any]], command: str, batch_arg: str) -> dict[str, datetime]:
    """Latest end time of a finished ``command`` run per batch (full runs only)."""
    made: dict[str, datetime] = {}
    for run in runs:
        args = run.get("args") or {}
        if run["command"] != command or run.get("state") != "finished" or args.get("dry_run") or args.get("key"):
            continue
        batch = args.get(batch_arg) or run.get("batch")
        ended = run.get("ended_at") or run.get("started_at")
        if batch and ended and (batch not in made or _utc(ended) > made[batch]):
            made[str(batch)] = _utc(ended)
    return made


def stale_outputs(db: Database, batch: str | None = None) -> list[StaleOutput]:
    """Features and Scores (of ``batch``, or of every batch) made before a later RawData change.

    Only batches that still have documents in the collection are reported; one entry per
    (collection, batch), naming the first change after they were made.
    """
    runs = list(db[JOURNAL].find({"command": {"$in": ["features", "score", *_CHANGES]}},
                                 {"checkpoints": 0, "reports": 0}))
    changes = _changes(r for r in runs if r["command"] in _CHANGES)
    features = _made(runs, "features", "until_batch")
    scores = _made(runs, "score", "batch")
    stale: list[StaleOutput] = []
    for key in sorted(set(features) | set(scores)):
        if batch is not None and key != batch:
            continue
        for collection, made, remedy in (
                (FEATURES, features.get(key), f"sf features --until-batch {key}"),
                (SCORES, scores.get(key), f"sf features --until-batch {key} then sf score --batch {key}")):
            if made is None or db[collection].find_one({"_id.batch": key}, {"_id": 1}) is None:
                continue
            if collection == SCORES and features.get(key) and features[key] > made:
                cause: str | None = f"the Features recomputed at {features[key]:%Y-%m-%d %H:%M}"
                remedy = f"sf score --batch {key}"
            else:
                cause = next((c.text for c in changes if c.at > made and c.first_batch <= key), None)
            if cause is not None:
                stale.append(StaleOutput(collection, key, made, cause, remedy))
    return stale
