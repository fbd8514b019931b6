"""Errors shared by every step, each carrying the process exit code the CLI uses.

Exit codes (documented in the README and in ``sf --help``):

====  ==========================================================
0     success
1     failure while doing the work (a run failed, a lock is held)
2     usage error: invalid option, batch definition or key
3     bad input data: a delivery file that cannot be read
4     database unreachable or misconfigured URI, the store lost during
      a command, or its disk full
130   interrupted by Ctrl-C (SIGINT)
143   stopped by SIGTERM
====  ==========================================================
"""

from __future__ import annotations

import os
import shutil
import signal

from .settings import redact


class SfError(Exception):
    """Base of every error `sf` reports as a one-line message (never a traceback).

    ``hint`` is an optional second sentence telling the user how to fix it.
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        # Messages often quote a URI or an error from the driver: never let a password through.
        message = redact(message)
        hint = redact(hint) if hint is not None else None
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"

    def __reduce__(self):
        # Subclasses take other constructor arguments; rebuild from the state instead, so
        # errors raised in Dask workers reach the client intact.
        return (_rebuild_error, (type(self), self.message, self.hint, dict(self.__dict__)))


def _rebuild_error(cls: type[SfError], message: str, hint: str | None, state: dict) -> SfError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class UsageError(SfError):
    """Invalid options or definitions given by the user (exit code 2)."""

    exit_code = 2


class BadInputError(SfError):
    """Input data that cannot be used: unreadable file, wrong format (exit code 3)."""

    exit_code = 3


class DatabaseUnreachable(SfError):
    """The configured MongoDB cannot be reached, or the URI is invalid (exit code 4)."""

    exit_code = 4


class LockHeld(SfError):
    """Another destructive run holds the lock (exit code 1)."""

    exit_code = 1


class StoreFailed(DatabaseUnreachable):
    """The store stopped answering during a command, or cannot write (disk full) (exit code 4)."""


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM (or another stop signal): handled like Ctrl-C, so every
    ``finally`` and the Journal's clean-up run, with the exit code ``128 + signum``."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


#: Below this many free bytes, SQLite's "disk I/O error" (it cannot even create its journal) means a full disk.
_NEARLY_FULL_BYTES = 1 << 20


def disk_nearly_full(path: str | os.PathLike) -> bool:
    """Whether the filesystem holding ``path`` (a folder) has less than 1 MiB free."""
    try:
        return shutil.disk_usage(path).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


_DISK_FULL = ("database or disk is full", "no space left on device", "disk quota exceeded")
_DISK_ERROR = ("disk i/o error", "attempt to write a readonly database")


def store_failure(exc: BaseException, where: str | None = None) -> StoreFailed | None:
    """Classify a driver error raised while a command ran: a :class:`StoreFailed` with one line
    saying what happened and what to do, or None when ``exc`` is not a store failure.

    ``where`` names the store (its data folder or redacted URI) in the message.
    """
    from pymongo.errors import ConnectionFailure, PyMongoError

    if not isinstance(exc, PyMongoError):
        return None
    text = str(exc).lower()
    place = f" ({where})" if where else ""
    if any(word in text for word in _DISK_FULL):
        return StoreFailed(f"the store cannot write: its disk is full{place}",
                           "free some space on that disk, then run the same command again")
    if any(word in text for word in _DISK_ERROR) and where and disk_nearly_full(where):
        return StoreFailed(f"the store cannot write: its disk is full ({where}, "
                           f"{shutil.disk_usage(where).free // 1024} KiB free)",
                           "free some space on that disk, then run the same command again")
    if any(word in text for word in _DISK_ERROR):
        return StoreFailed(f"the store cannot write: disk I/O error{place}",
                           "check the disk (space, permissions, mount), then run the same command again")
    if isinstance(exc, ConnectionFailure):
        head = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        head = head.split(" (configured timeouts")[0].split(", Timeout:")[0][:200]
        return StoreFailed(f"the store stopped answering during the command{place}: {head}",
                           "run the same command again: a lost embedded store is restarted, and the next command "
                           "closes this run in the Journal")
    return None
