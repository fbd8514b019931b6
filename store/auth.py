"""SCRAM-SHA-256 authentication (RFC 7677) of the one user the server is started with.

The server never keeps the password: :class:`ScramVerifier` derives the salted keys once
(``scramp.ScramMechanism.make_auth_info``) and each ``saslStart`` opens a
:class:`Conversation` that checks the client's proof with ``scramp``. The credentials file
(``--auth-file``) is JSON ``{"user": ..., "password": ...}`` readable by its owner only.

Failure modes: a wrong user, password or malformed SASL message raises
:class:`.errors.StoreError` AuthenticationFailed (18) with MongoDB's message
"Authentication failed."; :func:`load_credentials` raises ``ValueError`` for a file that is
readable by others or malformed.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from scramp import ScramException, ScramMechanism

from . import errors
from .errors import StoreError

MECHANISM = "SCRAM-SHA-256"
_ITERATIONS = 15000  # MongoDB's default scramSHA256IterationCount


def _failed() -> StoreError:
    return StoreError(errors.AUTHENTICATION_FAILED, "Authentication failed.")


def load_credentials(path: str | Path) -> tuple[str, str]:
    """``(user, password)`` from a JSON file that only its owner may read."""
    path = Path(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path} must be readable by its owner only (chmod 600 {path})")
    if path.stat().st_uid != os.getuid():
        raise ValueError(f"{path} must belong to the user running the server")
    data = json.loads(path.read_text())
    user, password = data.get("user"), data.get("password")
    if not isinstance(user, str) or not user or not isinstance(password, str) or not password:
        raise ValueError(f"{path} must hold {{\"user\": ..., \"password\": ...}} with non-empty strings")
    return user, password


class ScramVerifier:
    """Checks SCRAM-SHA-256 conversations against one user's salted keys."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self._mechanism = ScramMechanism(MECHANISM)
        self._auth_info = self._mechanism.make_auth_info(password, iteration_count=_ITERATIONS)

    def _lookup(self, username: str):
        if username != self.user:
            raise ScramException("unknown user")
        return self._auth_info

    def start(self, skip_empty_exchange: bool = True) -> Conversation:
        return Conversation(self._mechanism.make_server(self._lookup), self.user, skip_empty_exchange)


class Conversation:
    """One SASL conversation: ``step(client_message) -> server_message`` until ``done``."""

    def __init__(self, server, user: str, skip_empty_exchange: bool) -> None:
        self._server = server
        self._skip_empty = skip_empty_exchange
        self.user = user
        self._state = 0
        self.done = False

    def step(self, payload: bytes) -> bytes:
        try:
            if self._state == 0:
                self._server.set_client_first(payload.decode())
                self._state = 1
                return self._server.get_server_first().encode()
            if self._state == 1:
                self._server.set_client_final(payload.decode())
                self._state = 2
                final = self._server.get_server_final().encode()
                self.done = self._skip_empty  # else the client sends one more, empty, message
                return final
            if self._state == 2 and not self.done:
                self.done = True
                return b""
        except (ScramException, UnicodeDecodeError, ValueError):
            raise _failed() from None
        raise _failed()
