"""The month's operations report (``sf report``): did the integration of a batch go well?

:func:`gather_ops_report` reads, for one batch:

* **files**: the per-file reports of the batch's ``import`` runs in the Journal
  (``importers.driver.report_document``: lines read / valid / rejected / filtered, fatal error,
  first errors). When a file was imported several times, its latest report counts; the
  earlier ones stay visible in the runs table;
* **compaction**: the ``compact`` runs whose ``counts.batches`` include the batch
  (``CompactionSummary.as_dict()``: entities read / created / changed / unchanged, records
  added and deleted per type, seconds). A compaction covering several batches reports their
  sum, and the page says so;
* **features**: number of Features documents of the batch, months covered, establishments
  of the last month (the Journal's ``features`` runs are listed with the other runs);
* **scores**: number scored, alerts per level, models used, score distribution;
* **alerts per region and level** (region from the Features row each score is about) and
  their change from the previous scored batch (string order), plus alerts that appeared
  and ended;
* **runs**: every Journal run of the batch (``batch`` field), and the compaction attempts
  without counts (failed or interrupted, so their batches are unknown) started between the
  batch's first run and the last compaction that covered it; each marked failed,
  unfinished (state still ``started``: killed, or running now) or restarted (a later run
  of the same command exists).

Errors (one line, exit code 2, :class:`~sf.engine.errors.UsageError`): an undefined batch; a
batch with nothing to report (no Journal run, no Features, no Scores). A batch imported but
not scored is reported, with a warning: the page exists to show such a month.

Dates are aware UTC datetimes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from pymongo.database import Database

from sf.engine.batches import Batch, get_batch, list_batches
from sf.engine.collections import FEATURES, JOURNAL, SCORES
from sf.engine.errors import UsageError

from sf.model.scores_store import ALERT_LEVELS, read_scores

#: First errors kept per file on the page.
FIRST_ERRORS_SHOWN = 5
UNKNOWN_REGION = "région inconnue ou hors métropole"


@dataclass
class RunLine:
    """One Journal run as listed on the report."""

    id: str
    command: str
    batch: str | None
    state: str
    started_at: datetime | None
    duration_s: float | None
    error: str | None
    restarted: bool = False  # a later run of the same command exists

    @property
    def problem(self) -> str | None:
        """``"failed"``, ``"unfinished"`` or None."""
        return {"failed": "failed", "interrupted": "failed", "started": "unfinished"}.get(self.state)


@dataclass
class OpsReport:
    """What the operations report shows (see module docstring); built by :func:`gather_ops_report`."""

    batch: Batch
    files: list[dict[str, Any]]
    compactions: list[dict[str, Any]]  # {"run_id", "started_at", "state", "duration_s", "counts"}
    features: dict[str, Any]  # {"documents", "establishments", "first_month", "last_month"}
    scores: pd.DataFrame  # read_scores() of the batch
    previous_batch: str | None
    previous_scores: pd.DataFrame
    alerts_by_region: pd.DataFrame  # region, level, count, previous, change
    runs: list[RunLine]
    warnings: list[str] = field(default_factory=list)

    def alert_counts(self, previous: bool = False) -> dict[str, int]:
        """``{"high": n, "moderate": m}`` of the batch (or of the previous batch)."""
        scores = self.previous_scores if previous else self.scores
        return {level: int((scores["alert"] == level).sum()) for level in ALERT_LEVELS}

    def alert_changes(self) -> dict[str, int]:
        """Establishments alerted now and not in the previous batch (``new``), alerted before
        and not now (``ended``), alerted in both (``kept``)."""
        now = set(self.scores.loc[self.scores["alert"].isin(ALERT_LEVELS), "siret"])
        before = set(self.previous_scores.loc[self.previous_scores["alert"].isin(ALERT_LEVELS), "siret"])
        return {"new": len(now - before), "ended": len(before - now), "kept": len(now & before)}

    def file_totals(self) -> dict[str, int]:
        """Lines read / valid / rejected / filtered summed over the files, and fatal files."""
        keys = ("lines_read", "lines_valid", "lines_rejected", "lines_filtered")
        totals = {k: sum(int(f.get(k) or 0) for f in self.files) for k in keys}
        totals["fatal_files"] = sum(1 for f in self.files if f.get("is_fatal"))
        return totals

    def summary(self) -> dict[str, Any]:
        """Headline figures, for the command's final line and ``--json``."""
        return {"batch": self.batch.key, "files": len(self.files), **self.file_totals(),
                "compactions": len(self.compactions), "features": self.features.get("documents", 0),
                "scored": len(self.scores), "alerts": self.alert_counts(), "previous_batch": self.previous_batch,
                "previous_alerts": self.alert_counts(previous=True) if self.previous_batch else None,
                "failed_runs": sum(1 for r in self.runs if r.problem == "failed"),
                "unfinished_runs": sum(1 for r in self.runs if r.problem == "unfinished"),
                "restarted_runs": sum(1 for r in self.runs if r.restarted), "warnings": list(self.warnings)}


# --- pure helpers -------------------------------------------------------------------------------

def latest_file_reports(import_runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest report of each file (``(file_type, path)``) over import runs sorted by start,
    in file-type then path order; each report gains ``run_id`` and ``run_state``."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for run in sorted(import_runs, key=lambda r: r.get("started_at") or datetime.min.replace(tzinfo=UTC)):
        for report in run.get("reports") or []:
            if "file_type" not in report:
                continue  # a run may carry other kinds of reports
            latest[(report["file_type"], report.get("path") or "")] = {
                **report, "run_id": str(run["_id"]), "run_state": run.get("state")}
    return [latest[k] for k in sorted(latest)]


def run_lines(runs: list[dict[str, Any]]) -> list[RunLine]:
    """Runs sorted by start, each marked ``restarted`` when a later run of its command exists."""
    ordered = sorted(runs, key=lambda r: r.get("started_at") or datetime.min.replace(tzinfo=UTC))
    lines = [RunLine(id=str(r["_id"]), command=str(r.get("command")), batch=r.get("batch"),
                     state=str(r.get("state")), started_at=r.get("started_at"), duration_s=r.get("duration_s"),
                     error=r.get("error")) for r in ordered]
    last_of: dict[str, int] = {}
    for i, line in enumerate(lines):
        last_of[line.command] = i
    for i, line in enumerate(lines):
        line.restarted = last_of[line.command] > i
    return lines


def alerts_by_region(current: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Alert counts per (region, level) now and in the previous batch, and the change.

    Inputs: frames with ``region`` and ``alert`` columns (alerted rows only count). Output
    columns ``region, level, count, previous, change``, sorted by region then level.
    """
    def count(frame: pd.DataFrame) -> pd.Series:
        alerted = frame[frame["alert"].isin(ALERT_LEVELS)]
        if alerted.empty:
            return pd.Series(dtype="int64")
        return alerted.groupby([alerted["region"].fillna(UNKNOWN_REGION).replace("", UNKNOWN_REGION),
                                "alert"]).size()

    now, before = count(current), count(previous)
    keys = sorted(set(now.index) | set(before.index))
    rows = [{"region": region, "level": level, "count": int(now.get((region, level), 0)),
             "previous": int(before.get((region, level), 0))} for region, level in keys]
    frame = pd.DataFrame(rows, columns=["region", "level", "count", "previous"])
    frame["change"] = frame["count"] - frame["previous"]
    return frame


# --- reading ------------------------------------------------------------------------------------

def _with_region(db: Database, batch: str, scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` plus the ``region`` of the Features row each alerted score is about."""
    from sf.model.table import load_feature_table

    frame = scores.copy()
    frame["region"] = None
    alerted = frame[frame["alert"].isin(ALERT_LEVELS)]
    for periode, rows in alerted.groupby("periode"):
        features = load_feature_table(db, batch, columns=["region"], periode=periode.to_pydatetime(),
                                      sirets=rows["siret"].tolist())
        regions = dict(zip(features["siret"], features["region"]))
        frame.loc[rows.index, "region"] = rows["siret"].map(regions)
    return frame


def _features_figures(db: Database, batch: str) -> dict[str, Any]:
    from sf.model.table import feature_months

    documents = db[FEATURES].count_documents({"_id.batch": batch})
    if not documents:
        return {"documents": 0, "establishments": 0, "first_month": None, "last_month": None}
    months = feature_months(db, batch)
    last = months[-1]
    return {"documents": documents, "first_month": months[0], "last_month": last, "months": len(months),
            "establishments": db[FEATURES].count_documents({"_id.batch": batch, "_id.periode": last.to_pydatetime()})}


def previous_scored_batch(db: Database, batch_key: str) -> str | None:
    """The latest defined batch before ``batch_key`` (string order) that has Scores.

    Walks the Admin batches with an indexed ``find_one`` each rather than ``distinct``: the
    embedded server's ``distinct`` returns digit-only strings such as ``"2401"`` as integers.
    """
    for batch in reversed(list_batches(db)):
        if batch.key < batch_key and db[SCORES].find_one({"_id.batch": batch.key}, {"_id": 1}):
            return batch.key
    return None


def gather_ops_report(db: Database, batch_key: str) -> OpsReport:
    """Everything the operations report of ``batch_key`` shows (see module docstring).

    Raises :class:`UsageError` for an undefined batch or a batch with nothing to report.
    """
    batch = get_batch(db, batch_key)
    own_runs = list(db[JOURNAL].find({"batch": batch_key}, {"checkpoints": 0}))
    compact_runs = list(db[JOURNAL].find({"command": "compact"}, {"checkpoints": 0}))
    covering = [r for r in compact_runs if batch_key in ((r.get("counts") or {}).get("batches") or [])]
    starts = [r["started_at"] for r in own_runs + covering if r.get("started_at")]
    window_start = min(starts) if starts else None
    window_end = max((r["started_at"] for r in covering if r.get("started_at")), default=None)
    attempts = [r for r in compact_runs if r not in covering and not (r.get("counts") or {}).get("batches")
                and r.get("state") != "finished" and window_start is not None and r.get("started_at")
                and window_start <= r["started_at"] and (window_end is None or r["started_at"] <= window_end)]
    ids = {r["_id"] for r in own_runs}
    runs = own_runs + [r for r in covering + attempts if r["_id"] not in ids]

    features = _features_figures(db, batch_key)
    scores = read_scores(db, batch_key)
    if not runs and not features["documents"] and scores.empty:
        raise UsageError(f"batch {batch_key}: nothing to report (no Journal run, no Features, no Scores)",
                         f"import it first with `sf import --batch {batch_key}`")
    previous_batch = previous_scored_batch(db, batch_key)
    previous = read_scores(db, previous_batch) if previous_batch else scores.iloc[0:0]
    current_r = _with_region(db, batch_key, scores) if not scores.empty else scores.assign(region=None)
    previous_r = _with_region(db, previous_batch, previous) if previous_batch and not previous.empty \
        else previous.assign(region=None)

    files = latest_file_reports([r for r in own_runs if r.get("command") == "import"])
    compactions = [{"run_id": str(r["_id"]), "started_at": r.get("started_at"), "state": r.get("state"),
                    "duration_s": r.get("duration_s"), "counts": r.get("counts") or {}}
                   for r in sorted(covering, key=lambda r: r.get("started_at"))]
    warnings: list[str] = []
    if not files:
        warnings.append(f"Aucun import journalisé pour le lot {batch_key}.")
    if not compactions:
        warnings.append(f"Le lot {batch_key} n'a été compacté par aucune exécution terminée de sf compact.")
    if any(len(c["counts"].get("batches") or []) > 1 for c in compactions):
        warnings.append("Une compaction a traité plusieurs lots à la fois : ses chiffres sont leur somme.")
    if not features["documents"]:
        warnings.append(f"Pas de Features pour le lot {batch_key} (sf features non lancé ?).")
    if scores.empty:
        warnings.append(f"Pas de scores pour le lot {batch_key} (sf score non lancé ?).")
    lines = run_lines(runs)
    if any(line.problem for line in lines):
        warnings.append("Des exécutions ont échoué ou ne se sont pas terminées : voir la liste des exécutions.")
    return OpsReport(batch=batch, files=files, compactions=compactions, features=features, scores=current_r,
                     previous_batch=previous_batch, previous_scores=previous_r,
                     alerts_by_region=alerts_by_region(current_r, previous_r), runs=lines, warnings=warnings)


def group_added_deleted(compactions: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """``{type: {"added": n, "deleted": m}}`` summed over the compaction runs' counts."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"added": 0, "deleted": 0})
    for c in compactions:
        for kind in ("added", "deleted"):
            for type_name, n in (c["counts"].get(kind) or {}).items():
                out[type_name][kind] += int(n)
    return dict(sorted(out.items()))
