"""The Journal: one run document per command that changes data, and the run lock.

A run document (collection ``Journal``)::

    {"_id": ObjectId, "command": "compact", "args": {"since_batch": "2401", ...},
     "batch": "2401", "state": "started" | "finished" | "failed" | "interrupted",
     "started_at": ISODate, "ended_at": ISODate | null, "duration_s": 12.3,
     "counts": {...}, "reports": [...], "checkpoints": {"<partition>": {...}},
     "error": null | "one-line message", "sf_version": "0.1.0", "host": "...", "pid": 123}

Data-changing runs (import, compact, features, train, score, purge, prune) also hold the
single lock document of collection ``Lock`` (``{"_id": "sf", "run_id": "<Journal _id as a
string>", "command", "host", "pid", "acquired_at"}``), so two of them never interleave.

How a run ends:

- ``finished``, or ``failed`` with a one-line ``error`` when the command raised;
- ``interrupted`` (error ``"interrupted by SIGINT (Ctrl-C)"`` / ``"… SIGTERM"``) when the command
  was stopped by a signal (the CLI turns SIGTERM into :class:`~.errors.Terminated`);
- a run whose process died without closing it (``kill -9``, power cut, a lost store) stays
  ``started`` until the next command on the same host sees that its process is gone
  (:func:`close_dead_runs`): it is then marked ``failed`` ("interrupted: process N is gone")
  and its lock removed. A holder on another host cannot be checked: ``--break-lock`` closes
  its run the same way.

Closing writes are best effort: when the store itself is gone they cannot be written, and the
original error is what the user sees; the next command closes the run.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from . import __version__
from .collections import JOURNAL, LOCK
from .errors import LockHeld, Terminated
from .settings import redact_uri

LOCK_ID = "sf"
#: The last run :func:`journal_run` closed as interrupted in this process (for the CLI's message).
last_interrupted: list[Run] = []
_SECRET_WORDS = ("password", "secret", "token", "credential")


def mask_arguments(args: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of ``args`` safe to store: URIs lose their password, secret-looking values are masked."""
    masked: dict[str, Any] = {}
    for name, value in args.items():
        if any(word in name.lower() for word in _SECRET_WORDS) and value is not None:
            masked[name] = "***"
        elif isinstance(value, str) and "://" in value:
            masked[name] = redact_uri(value)
        elif isinstance(value, os.PathLike):
            masked[name] = os.fspath(value)
        elif isinstance(value, (list, tuple)):
            masked[name] = [redact_uri(v) if isinstance(v, str) and "://" in v else _plain(v) for v in value]
        else:
            masked[name] = _plain(value)
    return masked


def _plain(value: Any) -> Any:
    """Turn values BSON cannot store (paths, enums, dates) into plain ones."""
    if value is None or isinstance(value, (bool, int, float, str, datetime)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(getattr(value, "value", value))


class Run:
    """One command's run document; created by :func:`journal_run`.

    The whole document is kept here and written back with ``replace_one`` at each change:
    run documents are small, and this uses only operations that behave the same on MongoDB
    and on the embedded server (which mishandles ``$push`` of documents and ``$set`` of bare
    dates).
    """

    def __init__(self, db: Database, command: str, args: Mapping[str, Any], batch: str | None) -> None:
        self.db = db
        self.id = ObjectId()
        self.command = command
        self.started_at = datetime.now(UTC)
        self._t0 = time.monotonic()
        self.counts: dict[str, Any] = {}
        self.doc: dict[str, Any] = {
            "_id": self.id, "command": command, "args": mask_arguments(args), "batch": batch,
            "state": "started", "started_at": self.started_at, "ended_at": None, "duration_s": None,
            "counts": {}, "reports": [], "checkpoints": {}, "error": None,
            "sf_version": __version__, "host": socket.gethostname(), "pid": os.getpid(),
        }
        db[JOURNAL].insert_one(self.doc)

    def _save(self) -> None:
        self.doc["counts"] = _plain(self.counts)
        self.db[JOURNAL].replace_one({"_id": self.id}, self.doc)

    def add_report(self, report: Mapping[str, Any]) -> None:
        """Append a per-file (or per-step) report to the run document."""
        self.doc["reports"].append(_plain(dict(report)))
        self._save()

    def checkpoint(self, name: str, data: Mapping[str, Any]) -> None:
        """Record that a unit of work (a partition) has finished, with its counts."""
        self.doc["checkpoints"][name] = _plain(dict(data))
        self._save()

    def _end(self, state: str, error: str | None) -> None:
        self.doc.update(state=state, ended_at=datetime.now(UTC), error=error,
                        duration_s=round(time.monotonic() - self._t0, 3))
        self._save()

    def finish(self) -> None:
        """Mark the run finished with its current ``counts``."""
        self._end("finished", None)

    def fail(self, error: str) -> None:
        """Mark the run failed with a one-line ``error``."""
        self._end("failed", error)

    def interrupt(self, error: str) -> None:
        """Mark the run interrupted (stopped by a signal) with a one-line ``error``."""
        self._end("interrupted", error)


def acquire_lock(db: Database, run: Run, break_lock: bool = False) -> None:
    """Take the single data-changing-run lock for ``run``.

    A lock whose holder is a dead process of this host is removed first (its run closed, see
    :func:`close_dead_runs`). Raises :class:`LockHeld` naming the holder if another run has it.
    With ``break_lock`` the existing lock is removed first and its run, if still marked
    started, is marked failed.
    """
    if break_lock:
        stale = db[LOCK].find_one_and_delete({"_id": LOCK_ID})
        if stale:
            _close_run(db, stale.get("run_id"), f"interrupted: lock broken by run {run.id}")
    else:
        close_dead_runs(db)
    try:
        db[LOCK].insert_one({"_id": LOCK_ID, "run_id": str(run.id), "command": run.command,
                             "host": socket.gethostname(), "pid": os.getpid(), "acquired_at": run.started_at})
    except DuplicateKeyError:
        holder = db[LOCK].find_one({"_id": LOCK_ID}) or {}
        if holder.get("host") == socket.gethostname():
            hint = f"wait for it to end, or stop it with `kill {holder.get('pid')}`"
        else:
            hint = (f"wait for it to end; if its process on {holder.get('host')} is gone, run again with "
                    f"--break-lock")
        raise LockHeld(describe_lock(holder), hint) from None


def describe_lock(holder: Mapping[str, Any]) -> str:
    """One line about who holds the lock."""
    return (f"another run holds the lock: `sf {holder.get('command')}` (run {holder.get('run_id')}, "
            f"pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('acquired_at')})")


def _process_started_at(pid: int) -> datetime | None:
    """When process ``pid`` started (Linux ``/proc``), or None when it cannot be told."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        boot = next(int(line.split()[1]) for line in open("/proc/stat") if line.startswith("btime "))
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, StopIteration, ValueError):
        return None
    return datetime.fromtimestamp(boot + int(fields[19]) / ticks, UTC)


def _pid_alive(pid: Any, since: datetime | None = None) -> bool:
    """Whether process ``pid`` of this host runs and, given ``since`` (when the run started),
    is the same process: a pid reused by a process started later is not the run's."""
    try:
        os.kill(int(pid), 0)
    except PermissionError:
        return True  # exists, belongs to another user
    except (OSError, TypeError, ValueError, OverflowError):
        return False
    started = _process_started_at(int(pid)) if since is not None else None
    if started is not None and since is not None:
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return started.timestamp() <= since.timestamp() + 2.0  # /proc's start time is rounded to ticks
    return True


def _close_run(db: Database, run_id: Any, error: str) -> dict | None:
    """Mark run ``run_id`` failed with ``error`` if it is still ``started``; returns it if so."""
    try:
        oid = ObjectId(str(run_id))
    except Exception:  # a lock written by hand: nothing to close
        return None
    doc = db[JOURNAL].find_one({"_id": oid, "state": "started"})
    if doc is None:
        return None
    ended = datetime.now(UTC)
    started = doc.get("started_at")
    if isinstance(started, datetime) and started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    doc.update(state="failed", ended_at=ended, error=error,
               duration_s=round((ended - started).total_seconds(), 3) if isinstance(started, datetime) else None)
    db[JOURNAL].replace_one({"_id": oid, "state": "started"}, doc)
    return doc


def close_dead_runs(db: Database) -> list[dict]:
    """Close what processes of this host that died left behind; returns the runs closed.

    Every ``started`` run of this host whose process is gone is marked ``failed`` with
    ``"interrupted: process N is gone"``, and a lock held by such a process is removed. Runs
    of other hosts are left alone (their process cannot be checked from here).
    """
    host = socket.gethostname()
    closed: list[dict] = []
    for doc in db[JOURNAL].find({"state": "started", "host": host}, {"_id": 1, "pid": 1, "started_at": 1}):
        pid = doc.get("pid")
        if pid == os.getpid() or _pid_alive(pid, doc.get("started_at")):
            continue
        done = _close_run(db, doc["_id"], f"interrupted: process {pid} is gone")
        if done is not None:
            closed.append(done)
    holder = db[LOCK].find_one({"_id": LOCK_ID})
    if holder and holder.get("host") == host and holder.get("pid") != os.getpid() \
            and not _pid_alive(holder.get("pid"), holder.get("acquired_at")):
        db[LOCK].delete_one({"_id": LOCK_ID, "run_id": holder.get("run_id")})
        done = _close_run(db, holder.get("run_id"), f"interrupted: process {holder.get('pid')} is gone")
        if done is not None:
            closed.append(done)
    return closed


def release_lock(db: Database, run: Run) -> None:
    """Release the lock if ``run`` holds it."""
    db[LOCK].delete_one({"_id": LOCK_ID, "run_id": str(run.id)})


@contextmanager
def journal_run(db: Database, command: str, args: Mapping[str, Any], batch: str | None = None, *,
                destructive: bool = False, break_lock: bool = False) -> Iterator[Run]:
    """Journal a command's run: ``started`` now; at the end ``finished``, ``failed`` (with the
    error) or ``interrupted`` (Ctrl-C, SIGTERM).

    With ``destructive`` (every command that changes data) the run takes the lock first (a
    refused lock leaves a failed run document, so every attempt is visible) and releases it at
    the end, whatever happens. When the closing writes themselves fail (the store is gone),
    the command's own error is raised, not the store's: the next command closes the run.
    """
    run = Run(db, command, args, batch)
    try:
        if destructive:
            acquire_lock(db, run, break_lock)
        yield run
    except BaseException as exc:
        try:
            if isinstance(exc, KeyboardInterrupt):
                run.interrupt(_one_line(exc))
                last_interrupted[:] = [run]
            else:
                run.fail(_one_line(exc))
            if destructive:
                release_lock(db, run)
        except PyMongoError:
            pass  # the store is unreachable: the original error says why; the next command closes the run
        raise
    else:
        run.finish()
        if destructive:
            release_lock(db, run)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, Terminated):
        return f"interrupted by {exc.signal_name}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by SIGINT (Ctrl-C)"
    text = str(exc).strip().splitlines()
    head = text[0].split(", full error: ")[0] if text else ""  # pymongo appends the whole reply
    return f"{type(exc).__name__}: {head}" if head else type(exc).__name__


def list_runs(db: Database, last: int = 20) -> list[dict]:
    """The ``last`` run documents, newest first."""
    return list(db[JOURNAL].find({}, {"checkpoints": 0}).sort("started_at", DESCENDING).limit(last))
