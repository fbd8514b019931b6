"""Opening the database: a configured MongoDB, or the embedded server started on demand.

Use :func:`open_store` as a context manager around a command's work::

    with open_store(load_settings()) as store:
        store.db["Admin"].find_one(...)

On exit the client is closed and, if this process started an embedded server, the server
is stopped. Collections and indexes are created idempotently on opening, and runs left
``started`` in the Journal by dead processes of this host are closed as failed (listed in
``Store.recovered``; see :func:`.journal.close_dead_runs`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import ConfigurationError, InvalidURI, PyMongoError

from .collections import ensure_collections
from .embedded import EmbeddedServer, read_server_file, start_embedded
from .errors import DatabaseUnreachable, UsageError, store_failure
from .journal import close_dead_runs
from .upgrade import legacy_databases
from .settings import DEFAULT_MONGODB_TIMEOUT_MS, Settings, redact_uri


@dataclass
class Store:
    """An open connection: ``client``, the ``db`` of the settings, and the ``uri`` workers use.

    ``uri`` may hold credentials: pass it to Dask workers, never print it; print
    ``display_uri`` instead.
    """

    client: MongoClient
    db: Database
    uri: str
    settings: Settings
    embedded: EmbeddedServer | None = None
    #: Runs left ``started`` by dead processes of this host, closed as failed on opening.
    recovered: list[dict] = field(default_factory=list)

    @property
    def display_uri(self) -> str:
        """The URI without its password, for messages and the Journal."""
        return redact_uri(self.uri)


def connect(uri: str, db_name: str, timeout_ms: int = DEFAULT_MONGODB_TIMEOUT_MS) -> tuple[MongoClient, Database]:
    """Connect to ``uri`` and check the server answers.

    ``timeout_ms`` (``Settings.mongodb_timeout_ms``, ``SF_MONGODB_TIMEOUT_MS``) bounds server
    selection and connection.

    Raises :class:`UsageError` for a malformed URI and :class:`DatabaseUnreachable` when no
    server answers within ``timeout_ms``; both messages show the URI without its password.
    """
    shown = redact_uri(uri)
    try:
        client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
                                          tz_aware=True)
    except (InvalidURI, ConfigurationError, ValueError) as exc:
        raise UsageError(f"invalid MongoDB URI {shown}: {_first_line(exc)}",
                         "expected mongodb://[user:password@]host[:port]/") from None
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        client.close()
        raise DatabaseUnreachable(f"cannot reach MongoDB at {shown}: {_first_line(exc)}",
                                  "check SF_MONGODB_URI / --mongodb-uri, or unset it to use the embedded server") from None
    return client, client[db_name]


def _first_line(exc: BaseException) -> str:
    """The useful head of a driver error: its first line, without pymongo's topology dump."""
    text = str(exc).strip().splitlines()
    head = text[0] if text else type(exc).__name__
    return head.split(" (configured timeouts")[0].split(", Timeout:")[0][:300]


def _where(settings: Settings, uri: str) -> str:
    """The store's location for messages: its data folder, or the URI without password."""
    return str(settings.embedded_data_dir) if not settings.mongodb_uri else redact_uri(uri)


@contextmanager
def open_store(settings: Settings, *, allow_legacy: bool = False) -> Iterator[Store]:
    """Open the configured database (see module docstring); always releases what it started.

    On the embedded default, an SF_HOME still holding the previous store's files is refused
    (:class:`UsageError` telling to run ``sf db upgrade``) unless ``allow_legacy``: opening an
    empty new store beside them would look like lost data.
    """
    server: EmbeddedServer | None = None
    if settings.mongodb_uri:
        uri = settings.mongodb_uri
    else:
        legacy = legacy_databases(settings.home)
        if legacy and not allow_legacy:
            raise UsageError(f"{settings.home} holds data of the previous embedded store ({legacy[0].parent})",
                             "run `sf db upgrade` once to convert it")
        running = read_server_file(settings.home)
        if running:
            uri = running["uri"]
        else:
            server = start_embedded(settings.embedded_data_dir, log_file=settings.home / "embedded.log",
                                    home=settings.home, timeout_s=settings.embedded_start_timeout_s)
            uri = server.uri
    try:
        client, db = connect(uri, settings.db_name, timeout_ms=settings.mongodb_timeout_ms)
        try:
            where = _where(settings, uri)
            try:
                ensure_collections(db)
            except PyMongoError as exc:  # e.g. a full disk: say so in one line
                failure = store_failure(exc, where)
                if failure is None:
                    raise
                raise failure from None
            try:
                recovered = close_dead_runs(db)
            except PyMongoError as exc:
                failure = store_failure(exc, where)
                if failure is not None:
                    raise failure from None
                recovered = []  # best effort (e.g. a user who may not write the Journal): the next command retries
            yield Store(client=client, db=db, uri=uri, settings=settings, embedded=server, recovered=recovered)
        finally:
            client.close()
    finally:
        if server is not None:
            server.stop()
