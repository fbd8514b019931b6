"""Configuration read from the environment and overridden by command-line options.

Variables:

- ``SF_MONGODB_URI``: a MongoDB URI. Unset → the embedded store (:mod:`sf.store`, raw BSON in SQLite) is used.
- ``SF_DB``: database name, default ``signauxfaibles``.
- ``SF_HOME``: folder of local state (embedded database files, models, logs), default ``./.sf``.
- ``SF_DASK_SCHEDULER``: address of an existing Dask scheduler; unset → a local cluster.
- ``SF_WORKERS``: size of the local Dask cluster; unset → one worker process per core.
- ``SF_MONGODB_TIMEOUT_MS``: how long to wait for a MongoDB server to answer, default 5000.
- ``SF_EMBEDDED_START_TIMEOUT_S``: how long to wait for the embedded store to start, default 30.
- ``SF_DASK_CONNECT_TIMEOUT_S``: how long to wait for the Dask scheduler of ``SF_DASK_SCHEDULER``, default 10.

A value that is not a positive number is a :class:`~.errors.UsageError` naming the variable.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote, unquote_plus

DEFAULT_DB = "signauxfaibles"
DEFAULT_HOME = ".sf"
#: Short on purpose: a wrong address should fail in seconds, not after pymongo's 30 s default.
DEFAULT_MONGODB_TIMEOUT_MS = 5000
#: The embedded store answers in well under a second; 30 s leaves room for a loaded machine.
DEFAULT_EMBEDDED_START_TIMEOUT_S = 30.0
#: A remote Dask scheduler that has not answered in 10 s is most likely the wrong address.
DEFAULT_DASK_CONNECT_TIMEOUT_S = 10.0

@dataclass(frozen=True)
class Settings:
    """Where `sf` keeps its data and how it runs.

    ``mongodb_uri`` is None for the embedded default. Build with :func:`load_settings`.
    """

    mongodb_uri: str | None
    db_name: str
    home: Path
    dask_scheduler: str | None = None
    workers: int | None = None
    #: ``SF_MONGODB_TIMEOUT_MS``: server selection and connection timeout of the MongoDB client.
    mongodb_timeout_ms: int = DEFAULT_MONGODB_TIMEOUT_MS
    #: ``SF_EMBEDDED_START_TIMEOUT_S``: how long a command waits for the embedded store it starts.
    embedded_start_timeout_s: float = DEFAULT_EMBEDDED_START_TIMEOUT_S
    #: ``SF_DASK_CONNECT_TIMEOUT_S``: how long to wait for the scheduler of ``--scheduler``.
    dask_connect_timeout_s: float = DEFAULT_DASK_CONNECT_TIMEOUT_S

    def __post_init__(self) -> None:
        remember_uri(self.mongodb_uri)  # its password is blanked from every message from now on

    @property
    def embedded(self) -> bool:
        """True when no MongoDB URI is configured and the embedded server is used."""
        return self.mongodb_uri is None

    @property
    def embedded_data_dir(self) -> Path:
        """Folder of the embedded store's SQLite files (one ``<db>.sqlite3`` per database)."""
        return self.home / "store"

    def with_overrides(self, **changes: object) -> "Settings":
        """Return a copy where every non-None keyword replaces the current value."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``environ`` (default ``os.environ``); empty values count as unset.

    Raises :class:`~.errors.UsageError` naming the variable when a number is not a positive
    number (``SF_WORKERS``, the timeouts).
    """
    env = os.environ if environ is None else environ
    workers = _positive(env, "SF_WORKERS", int)
    return Settings(
        mongodb_uri=env.get("SF_MONGODB_URI") or None,
        db_name=env.get("SF_DB") or DEFAULT_DB,
        home=Path(env.get("SF_HOME") or DEFAULT_HOME),
        dask_scheduler=env.get("SF_DASK_SCHEDULER") or None,
        workers=int(workers) if workers is not None else None,
        mongodb_timeout_ms=int(_positive(env, "SF_MONGODB_TIMEOUT_MS", int) or DEFAULT_MONGODB_TIMEOUT_MS),
        embedded_start_timeout_s=_positive(env, "SF_EMBEDDED_START_TIMEOUT_S", float)
        or DEFAULT_EMBEDDED_START_TIMEOUT_S,
        dask_connect_timeout_s=_positive(env, "SF_DASK_CONNECT_TIMEOUT_S", float) or DEFAULT_DASK_CONNECT_TIMEOUT_S,
    )


def _positive(env: Mapping[str, str], name: str, kind: type[int] | type[float]) -> float | None:
    """The value of variable ``name`` as a positive ``kind``, None when unset or empty;
    :class:`~.errors.UsageError` naming the variable and its value otherwise."""
    text = (env.get(name) or "").strip()
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not value > 0 or value == float("inf"):
        from .errors import UsageError  # errors imports this module (redact): import here

        unit = "a whole number" if kind is int else "a number"
        raise UsageError(f"{name}={text!r}: expected {unit} greater than 0", f"fix or unset {name}")
    return value


# -- secrets: one redaction for every place a URI can appear ---------------------------------------
#
# A URI's password may hold any character, escaped or not: ``/``, ``@``, ``:``, ``?``,
# ``%40``… A parser of well-formed URIs (urllib, or a regex stopping at ``/`` or ``@``)
# leaks the part after the first such character, and an invalid URI is exactly the one
# that ends up in an error message. So the redaction does not parse: in ``scheme://rest``
# the credentials are everything up to the *last* ``@`` (a host never holds one), and the
# password everything after the first ``:`` of them. At worst it hides too much, never too
# little. Messages may also quote a password outside a URI, or cut a URI at a space inside
# its password: every password of a configured URI is remembered (raw, decoded and
# re-encoded) and blanked wherever it appears in a text.

_URI_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_MASK = "***"
#: Passwords of the URIs configured in this process, longest first (see :func:`remember_uri`).
_SECRETS: list[str] = []
#: Shorter remembered passwords are only hidden inside URIs: blanking every occurrence of
#: two letters in every message would make messages unreadable and hide nothing.
_MIN_SECRET = 4


def _credentials(rest: str) -> tuple[str, str, str] | None:
    """``(user, password, after)`` of the part after ``scheme://`` of a URI (``password`` is
    empty without a ``:``), or None when it holds no ``@``."""
    at = rest.rfind("@")
    if at < 0:
        return None
    userinfo, after = rest[:at], rest[at + 1:]
    user, colon, password = userinfo.partition(":")
    return user, password if colon else "", after


def redact_uri(uri: str) -> str:
    """``uri`` with its password replaced by ``***``, whatever characters it holds.

    >>> redact_uri("mongodb://sf:secret@db:27017/x")
    'mongodb://sf:***@db:27017/x'
    >>> redact_uri("mongodb://sfuser:S3cr/etPW@db.invalid/")
    'mongodb://sfuser:***@db.invalid/'
    """
    match = _URI_START.match(uri)
    if match is None:
        return redact(uri)
    found = _credentials(uri[match.end():])
    if found is None or ":" not in uri[match.end():uri.rfind("@")]:
        return uri
    user, _, after = found
    return f"{match.group(0)}{user}:{_MASK}@{after}"


def redact(text: str) -> str:
    """``text`` (a message, a log line, a traceback) with every URI's password and every
    remembered password replaced by ``***``. A URI in a text ends at the next blank or quote."""
    if "://" in text:
        parts: list[str] = []
        cursor = 0
        for match in _URI_START.finditer(text):
            if match.start() < cursor:
                continue
            end = match.end()
            while end < len(text) and not text[end].isspace() and text[end] not in "'\"<>`":
                end += 1
            parts.append(text[cursor:match.start()])
            parts.append(redact_uri(text[match.start():end]))
            cursor = end
        parts.append(text[cursor:])
        text = "".join(parts)
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def remember_uri(uri: str | None) -> None:
    """Remember the password of a configured ``uri`` so that :func:`redact` blanks it in any
    text, in the forms it may take there: as written, percent-decoded, and re-encoded."""
    if not uri:
        return
    match = _URI_START.match(uri)
    found = _credentials(uri[match.end():]) if match else None
    if not found or not found[1]:
        return
    password = found[1]
    forms = {password, unquote(password), unquote_plus(password), quote(unquote(password), safe=""),
             quote_plus(unquote(password))}
    for form in forms:
        if len(form) >= _MIN_SECRET and form not in _SECRETS:
            _SECRETS.append(form)
    _SECRETS.sort(key=len, reverse=True)


_FACTORY_INSTALLED = False


def install_log_redaction() -> None:
    """Make every log record of the process pass through :func:`redact` when it is created
    (message with its arguments, and the traceback of an exception), whatever logger or
    handler — ours, PyMongo's, Dask's — prints it later. Idempotent."""
    global _FACTORY_INSTALLED
    if _FACTORY_INSTALLED:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
    _FACTORY_INSTALLED = True
