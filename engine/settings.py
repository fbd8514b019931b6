"""Configuration read from the environment and overridden by command-line options.

Variables:

- ``SF_MONGODB_URI``: a MongoDB URI. Unset → the embedded store (:mod:`sf.store`, raw BSON in SQLite) is used.
- ``SF_DB``: database name, default ``signauxfaibles``.
- ``SF_HOME``: folder of local state (embedded database files, models, logs), default ``./.sf``.
- ``SF_DASK_SCHEDULER``: address of an existing Dask scheduler; unset → a local cluster.
- ``SF_WORKERS``: size of the local Dask cluster; unset → one worker process per core.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_DB = "signauxfaibles"
DEFAULT_HOME = ".sf"

_PASSWORD_IN_URI = re.compile(r"^(?P<scheme>[a-z+]+://)(?P<user>[^:@/]*):(?P<password>[^@/]*)@", re.IGNORECASE)


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


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from ``environ`` (default ``os.environ``); empty values count as unset."""
    env = os.environ if environ is None else environ
    workers = env.get("SF_WORKERS") or None
    return Settings(
        mongodb_uri=env.get("SF_MONGODB_URI") or None,
        db_name=env.get("SF_DB") or DEFAULT_DB,
        home=Path(env.get("SF_HOME") or DEFAULT_HOME),
        dask_scheduler=env.get("SF_DASK_SCHEDULER") or None,
        workers=int(workers) if workers else None,
    )


def redact_uri(uri: str) -> str:
    """Return ``uri`` with its password replaced by ``***`` so it can be printed or journaled.

    >>> redact_uri("mongodb://sf:secret@db:27017/x")
    'mongodb://sf:***@db:27017/x'
    """
    return _PASSWORD_IN_URI.sub(lambda m: f"{m['scheme']}{m['user']}:***@", uri)
