"""The Journal: one run document per command that changes data, and the run lock.

A run document (collection ``Journal``)::

    {"_id": ObjectId, "command": "compact", "args": {"since_batch": "2401", ...},
     "batch": "2401", "state": "started" | "finished" | "failed",
     "started_at": ISODate, "ended_at": ISODate | null, "duration_s": 12.3,
     "counts": {...}, "reports": [...], "checkpoints": {"<partition>": {...}},
     "error": null | "one-line message", "sf_version": "0.1.0", "host": "...", "pid": 123}

Destructive runs (import, compact, purge, prune) also hold the single lock document of
collection ``Lock`` (``{"_id": "sf", "run_id": "<Journal _id as a string>", "command", "host",
"pid", "acquired_at"}``), so
two of them never interleave. A lock left by a killed process is broken only on request
(``--break-lock``); the message says when its holder is visibly dead.
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
from pymongo.errors import DuplicateKeyError

from . import __version__
from .collections import JOURNAL, LOCK
from .errors import LockHeld
from .settings import redact_uri

LOCK_ID = "sf"
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


def acquire_lock(db: Database, run: Run, break_lock: bool = False) -> None:
    """Take the single destructive-run lock for ``run``.

    Raises :class:`LockHeld` naming the holder if another run has it. With ``break_lock`` the
    existing lock is removed first and its run, if still marked started, is marked failed.
    """
    if break_lock:
        stale = db[LOCK].find_one_and_delete({"_id": LOCK_ID})
        interrupted = stale and db[JOURNAL].find_one({"_id": ObjectId(stale["run_id"]), "state": "started"})
        if interrupted:
            interrupted.update(state="failed", ended_at=datetime.now(UTC),
                               error=f"interrupted: lock broken by run {run.id}")
            db[JOURNAL].replace_one({"_id": interrupted["_id"]}, interrupted)
    try:
        db[LOCK].insert_one({"_id": LOCK_ID, "run_id": str(run.id), "command": run.command,
                             "host": socket.gethostname(), "pid": os.getpid(), "acquired_at": run.started_at})
    except DuplicateKeyError:
        holder = db[LOCK].find_one({"_id": LOCK_ID}) or {}
        raise LockHeld(describe_lock(holder),
                       "wait for it to end; if its process is dead, run again with --break-lock") from None


def describe_lock(holder: Mapping[str, Any]) -> str:
    """One line about who holds the lock, saying when its process is visibly gone."""
    text = (f"another run holds the lock: `sf {holder.get('command')}` (run {holder.get('run_id')}, "
            f"pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('acquired_at')})")
    if holder.get("host") == socket.gethostname() and not _pid_alive(holder.get("pid")):
        text += "; that process is no longer running, the lock is stale"
    return text


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


def release_lock(db: Database, run: Run) -> None:
    """Release the lock if ``run`` holds it."""
    db[LOCK].delete_one({"_id": LOCK_ID, "run_id": str(run.id)})


@contextmanager
def journal_run(db: Database, command: str, args: Mapping[str, Any], batch: str | None = None, *,
                destructive: bool = False, break_lock: bool = False) -> Iterator[Run]:
    """Journal a command's run: ``started`` now, ``finished`` or ``failed`` (with the error) at the end.

    With ``destructive`` the run takes the lock first (a refused lock leaves a failed run
    document, so every attempt is visible) and releases it at the end, whatever happens.
    """
    run = Run(db, command, args, batch)
    try:
        if destructive:
            acquire_lock(db, run, break_lock)
        yield run
    except BaseException as exc:
        run.fail(_one_line(exc))
        if destructive:
            release_lock(db, run)
        raise
    else:
        run.finish()
        if destructive:
            release_lock(db, run)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def list_runs(db: Database, last: int = 20) -> list[dict]:
    """The ``last`` run documents, newest first."""
    return list(db[JOURNAL].find({}, {"checkpoints": 0}).sort("started_at", DESCENDING).limit(last))
