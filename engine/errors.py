"""Errors shared by every step, each carrying the process exit code the CLI uses.

Exit codes (documented in the README and in ``sf --help``):

====  ==========================================================
0     success
1     failure while doing the work (a run failed, a lock is held)
2     usage error: invalid option, batch definition or key
3     bad input data: a delivery file that cannot be read
4     database unreachable or misconfigured URI
====  ==========================================================
"""

from __future__ import annotations

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
