"""Collections, indexes and documents in SQLite: the store's only persistent state.

Layout (one SQLite file per database, ``<data_dir>/<db>.sqlite3``, mode 0600, WAL journal,
``synchronous=NORMAL`` so that a committed transaction survives ``kill -9`` of the process):

- ``_collections(name, tbl, options)`` — the catalogue of collections (``options`` is the BSON
  of the ``create`` options); each collection lives in its own table ``tbl``:
  ``(k BLOB PRIMARY KEY, doc BLOB NOT NULL) WITHOUT ROWID`` where ``k`` is
  :func:`.bsonorder.encode_key` of the ``_id`` and ``doc`` the document's raw BSON bytes;
- ``_indexes(coll, name, tbl, spec)`` — secondary indexes; each has a table
  ``(k BLOB, id BLOB, w INTEGER, PRIMARY KEY(k, id))`` holding the encoded key of every key
  value of every document (``id`` is the document's ``k``). An array contributes each of its
  elements (``w = 0``, the keys a unique index enforces) and itself as a whole (``w = 1``, so
  that equality to a whole array can use the index too). An index only narrows the
  candidates of a query: :mod:`.query` always decides whether a document matches.

Concurrency: every client connection (thread) has its own SQLite connection per database; a
single process-wide writer lock serialises write transactions (:meth:`Store.write`), reads
run concurrently on their own connections (WAL snapshots). A write command runs in one
transaction (``BEGIN IMMEDIATE``): it is whole or absent after a crash. Several server
processes may share one data directory: SQLite's file locks serialise their write
transactions (a writer waits up to :data:`BUSY_TIMEOUT_S` for another), and nothing of the
catalogue is cached between transactions, so each write sees the others' collections and
indexes.

Failure modes: :class:`.errors.StoreError` (InvalidNamespace for a bad name, DuplicateKey for
a unique-index violation, NamespaceExists/NamespaceNotFound, IndexNotFound, …); SQLite I/O
errors propagate as ``sqlite3.Error``.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bson
from bson.dbref import DBRef

from . import errors
from .bsonorder import encode_key
from .clock import next_timestamp
from .codec import CODEC, decode, encode
from .errors import StoreError
from .query import MISSING, NO_TRAVERSAL, compile_filter, path_values, split_path

_SCAN_CHUNK = 500
# Several server processes may serve one data directory (each `sf` command starts its own):
# a write waits this long for another process's write transaction (SQLite's busy timeout)
# before failing with "database is locked". A bulk command of the engine holds the lock
# for seconds at most; a minute leaves room for a loaded machine.
BUSY_TIMEOUT_S = 60.0
_PAGE_SIZE = 16384
_IN_CHUNK = 400
_INT32 = struct.Struct("<i")
_FORBIDDEN_DB_CHARS = set('/\\. "$*<>:|?\x00')


# --- names -----------------------------------------------------------------------------------

def check_database_name(name: str) -> None:
    """Raise InvalidNamespace unless ``name`` is a database name MongoDB accepts."""
    if not name or len(name) > 63 or any(c in _FORBIDDEN_DB_CHARS for c in name):
        raise StoreError(errors.INVALID_NAMESPACE, f"Invalid database name: '{name}'")


def check_collection_name(name: Any) -> None:
    """Raise InvalidNamespace unless ``name`` is a collection name MongoDB accepts."""
    if not isinstance(name, str):
        raise StoreError(errors.INVALID_NAMESPACE, "collection name has invalid type")
    if not name or "\x00" in name or "$" in name or name.startswith(".") or name.startswith("system."):
        raise StoreError(errors.INVALID_NAMESPACE, f"Invalid collection name: {name!r}")


# --- raw documents ---------------------------------------------------------------------------

def _element_end(raw: bytes | memoryview, pos: int, type_byte: int) -> int:
    """The end offset of an element value of ``type_byte`` starting at ``pos`` (see bsonspec.org)."""
    if type_byte in (0x01, 0x09, 0x11, 0x12):  # double, datetime, timestamp, int64
        return pos + 8
    if type_byte in (0x02, 0x0D, 0x0E):  # string, code, symbol
        return pos + 4 + _INT32.unpack_from(raw, pos)[0]
    if type_byte in (0x03, 0x04, 0x0F):  # document, array, code with scope
        return pos + _INT32.unpack_from(raw, pos)[0]
    if type_byte == 0x05:  # binary
        return pos + 5 + _INT32.unpack_from(raw, pos)[0]
    if type_byte == 0x07:
        return pos + 12
    if type_byte == 0x08:
        return pos + 1
    if type_byte in (0x06, 0x0A, 0x7F, 0xFF):  # undefined, null, maxkey, minkey
        return pos
    if type_byte == 0x0B:  # regex: two cstrings
        return raw.index(b"\x00", raw.index(b"\x00", pos) + 1) + 1
    if type_byte == 0x0C:  # DBPointer
        return pos + 4 + _INT32.unpack_from(raw, pos)[0] + 12
    if type_byte == 0x10:
        return pos + 4
    if type_byte == 0x13:
        return pos + 16
    raise StoreError(errors.BAD_VALUE, f"invalid BSON type {type_byte}")


_MISSING = object()


def leading_id(raw: bytes) -> Any:
    """The ``_id`` of a raw document when it is its first field, decoding nothing else;
    :data:`NO_ID` when the first field is not ``_id``."""
    if len(raw) < 9 or raw[4] == 0:
        return NO_ID
    type_byte = raw[4]
    if raw[5:9] != b"_id\x00":
        return NO_ID
    end = _element_end(raw, 9, type_byte)
    element = raw[4:end]
    mini = _INT32.pack(len(element) + 5) + element + b"\x00"
    return bson.decode(mini, codec_options=CODEC)["_id"]


NO_ID = _MISSING  #: marks a document without ``_id`` (see :func:`leading_id`)


def check_id(value: Any) -> None:
    """Raise the error MongoDB gives for an ``_id`` it refuses (arrays, regexes, undefined)."""
    if isinstance(value, list):
        raise StoreError(errors.BAD_VALUE, "can't use an array for _id")
    if isinstance(value, (bson.regex.Regex,)):
        raise StoreError(errors.BAD_VALUE, "can't use a regex for _id")
    if isinstance(value, dict) and any(k.startswith("$") for k in value):
        raise StoreError(errors.DOLLAR_PREFIXED_FIELD_NAME,
                         "_id fields may not contain '$'-prefixed fields")


_EMPTY_TIMESTAMP = b"\x00" * 8


def _next_timestamp() -> bytes:
    """A new, increasing ``Timestamp(seconds, increment)`` as its 8 BSON bytes."""
    ts = next_timestamp()
    return struct.pack("<II", ts.inc, ts.time)


def _fill_empty_timestamps(raw: bytes) -> bytes:
    """MongoDB's insert rule: a top-level field (other than ``_id``) holding the empty
    timestamp ``Timestamp(0, 0)`` gets the current time instead."""
    parts: list[bytes] = []
    pos, end, changed = 4, len(raw) - 1, False
    while pos < end:
        type_byte = raw[pos]
        name_end = raw.index(b"\x00", pos + 1)
        value_end = _element_end(raw, name_end + 1, type_byte)
        if type_byte == 0x11 and raw[name_end + 1:value_end] == _EMPTY_TIMESTAMP and raw[pos + 1:name_end] != b"_id":
            parts.append(raw[pos:name_end + 1] + _next_timestamp())
            changed = True
        else:
            parts.append(raw[pos:value_end])
        pos = value_end
    if not changed:
        return raw
    body = b"".join(parts)
    return _INT32.pack(len(body) + 5) + body + b"\x00"


def prepare_insert(raw: bytes) -> tuple[Any, bytes, dict | None]:
    """``(_id, raw, decoded_or_None)`` for a document to insert, as MongoDB stores it.

    A document whose first field is ``_id`` is kept byte for byte; one without ``_id`` gets
    a new ObjectId, and one whose ``_id`` is elsewhere has it moved first (what mongod does);
    a top-level ``Timestamp(0, 0)`` becomes the current time (also what mongod does).
    Raises StoreError for an invalid ``_id`` or a document over 16 MiB.
    """
    if len(raw) > 16 * 1024 * 1024:
        raise StoreError(10334, "object to insert too large", "BSONObjectTooLarge")
    if _EMPTY_TIMESTAMP in raw:
        raw = _fill_empty_timestamps(raw)
    doc_id = leading_id(raw)
    if doc_id is not NO_ID:
        check_id(doc_id)
        return doc_id, raw, None
    doc = decode(raw)
    doc_id = doc.pop("_id", NO_ID)
    if doc_id is NO_ID:
        doc_id = bson.ObjectId()
    check_id(doc_id)
    doc = {"_id": doc_id, **doc}
    return doc_id, encode(doc), doc


# --- index keys ------------------------------------------------------------------------------

def field_values(doc: dict, path: str) -> list[Any]:
    """The values ``path`` reaches in ``doc`` as the filter matcher sees them, leaf arrays
    whole (:data:`.query.MISSING` where a branch of the path reaches nothing).

    This is :func:`.query.path_values` itself (intermediate arrays expanded, a numeric
    component both indexing an array and naming a field of its documents, DBRefs followed as
    ``{$ref, $id, $db}`` documents), so that an index holds a key for every value a filter
    can test and never hides a matching document.
    """
    return path_values(doc, split_path(path), NO_TRAVERSAL)


def _field_keys(doc: dict, path: str, sparse: bool) -> list[tuple[bytes, bool, Any]]:
    """``(encoded key, whole_array, value)`` of one indexed field; empty when ``sparse`` and missing.

    Each value the path reaches gives its key; an array gives each of its elements (what a
    unique index enforces) and itself whole (``whole_array``, for equality to an array) —
    together every value the matcher tests in its traversing mode. A branch reaching nothing
    gives null (what ``{field: null}`` matches), unless nothing is reached at all and the index
    is sparse.
    """
    keys: list[tuple[bytes, bool, Any]] = []
    values = field_values(doc, path)
    if all(v is MISSING for v in values):
        return [] if sparse else [(encode_key(None), False, None)]
    for value in values:
        if value is MISSING:
            keys.append((encode_key(None), False, None))
        elif isinstance(value, list):
            keys.append((encode_key(value), not value == [], value))
            for element in value:
                keys.append((encode_key(element), False, element))
        else:
            keys.append((encode_key(value), False, value))
    return keys


def _first_array(value: Any, parts: list[str]) -> tuple[list, str, list[str]] | None:
    """The first array on the path ``parts`` from ``value``: ``(array, its field name, the
    rest of the path)``, or None. A numeric component right after an array selects one
    element (a positional path), which is followed instead of counting the array."""
    name = ""
    for i, part in enumerate(parts):
        if type(value) is DBRef:
            value = value.as_doc()
        if isinstance(value, list):
            if part.isascii() and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
                name = part
                continue
            return value, name, parts[i:]
        if not isinstance(value, dict) or part not in value:
            return None
        value, name = value[part], part
    if isinstance(value, list):
        return value, name, []
    return None


def check_parallel_arrays(doc: Any, paths: list[list[str]]) -> None:
    """CannotIndexParallelArrays (171) when two paths of a compound index reach different
    arrays of ``doc`` (MongoDB cannot index the product of two arrays; one array, or several
    paths through the same array, are fine — then each element is checked the same way)."""
    found: list[tuple[list, str, list[str]]] = []
    for parts in paths:
        hit = _first_array(doc, parts)
        if hit is None:
            continue
        for array, name, _ in found:
            if array is not hit[0]:
                raise StoreError(errors.CANNOT_INDEX_PARALLEL_ARRAYS,
                                 f"cannot index parallel arrays [{hit[1]}] [{name}]")
        found.append(hit)
    if len(found) > 1:  # several paths through one array: their rests within each element
        rests = [rest for _, _, rest in found if rest]
        if len(rests) > 1:
            for element in found[0][0]:
                check_parallel_arrays(element, rests)


_NOT_PLAIN = object()


def _plain_scalar(doc: dict, parts: list[str]) -> Any:
    """The value the path ``parts`` reaches in ``doc`` when it goes through documents only
    and ends on a value that is neither an array, a document nor a DBRef; otherwise
    :data:`_NOT_PLAIN` (missing values, arrays and DBRefs take the general index-key path)."""
    value: Any = doc
    for part in parts:
        if type(value) is not dict:
            return _NOT_PLAIN
        value = value.get(part, _NOT_PLAIN)
    if type(value) in (dict, list, DBRef):
        return _NOT_PLAIN
    return value


@dataclass
class Index:
    """A secondary index: its spec document and its table."""

    name: str
    tbl: str
    spec: dict
    fields: list[str] = field(default_factory=list)
    _partial: Any = field(default=None, repr=False, compare=False)  # compiled partialFilterExpression
    _split: Any = field(default=None, repr=False, compare=False)  # the fields' paths, split

    @property
    def unique(self) -> bool:
        return bool(self.spec.get("unique"))

    @property
    def sparse(self) -> bool:
        return bool(self.spec.get("sparse"))

    @property
    def _parts(self) -> list[list[str]]:
        if self._split is None:
            self._split = [f.split(".") for f in self.fields]
        return self._split

    def keys(self, doc: dict) -> list[tuple[bytes, bool, list]]:
        """``(key, auxiliary, values)`` of ``doc`` in this index (none if the partial filter excludes it)."""
        partial = self.spec.get("partialFilterExpression")
        if partial is not None:
            if self._partial is None:
                self._partial = compile_filter(partial)
            if not self._partial(doc):
                return []
        scalars = [_plain_scalar(doc, parts) for parts in self._parts]
        if _NOT_PLAIN not in scalars:  # one key, no array on any path: the common case, made cheap
            return [(b"".join(map(encode_key, scalars)), False, scalars)]
        if len(self.fields) > 1:
            check_parallel_arrays(doc, [f.split(".") for f in self.fields])
        per_field = [_field_keys(doc, f, self.sparse) for f in self.fields]
        if self.sparse and all(not k for k in per_field):
            return []
        per_field = [k or [(encode_key(None), False, None)] for k in per_field]
        out = {}
        for combo in itertools.product(*per_field):
            key = b"".join(c[0] for c in combo)
            aux = any(c[1] for c in combo)
            if key not in out or (out[key][0] and not aux):
                out[key] = (aux, [c[2] for c in combo])
        return [(k, aux, values) for k, (aux, values) in out.items()]


@dataclass
class Collection:
    """A collection of the catalogue (name, table, create options, secondary indexes)."""

    db: str
    name: str
    tbl: str
    options: dict
    indexes: list[Index]

    @property
    def ns(self) -> str:
        return f"{self.db}.{self.name}"

    @property
    def is_view(self) -> bool:
        """A view (``options`` holds ``viewOn`` and ``pipeline``; it has no table)."""
        return not self.tbl


def view_error(coll: Collection) -> StoreError:
    """The error of a write or index operation on a view."""
    return StoreError(166, f"Namespace {coll.ns} is a view, not a collection", "CommandNotSupportedOnView")


ID_INDEX_SPEC = {"v": 2, "key": {"_id": 1}, "name": "_id_"}


def prefix_successor(key: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``key`` (None: none)."""
    stripped = key.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _format_key_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if type(value) is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bson.ObjectId):
        return f"ObjectId('{value}')"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{k}: {_format_key_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[ " + ", ".join(_format_key_value(v) for v in value) + " ]"
    return str(value)


def duplicate_key_error(ns: str, index_name: str, key_pattern: dict, values: list) -> StoreError:
    """The DuplicateKey error (11000) in MongoDB's shape, with ``keyPattern``/``keyValue``."""
    fields = list(key_pattern)
    key_value = {f: v for f, v in zip(fields, values)}
    shown = ", ".join(f"{f}: {_format_key_value(v)}" for f, v in key_value.items())
    err = StoreError(errors.DUPLICATE_KEY,
                     f"E11000 duplicate key error collection: {ns} index: {index_name} dup key: {{ {shown} }}")
    err.details = {"keyPattern": dict(key_pattern), "keyValue": key_value}  # type: ignore[attr-defined]
    return err


# --- the store -------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS _collections (name TEXT PRIMARY KEY, tbl TEXT NOT NULL, options BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS _indexes (coll TEXT NOT NULL, name TEXT NOT NULL, tbl TEXT NOT NULL,
                                     spec BLOB NOT NULL, PRIMARY KEY (coll, name));
"""


class Store:
    """All databases of one data directory.

    ``write(db)`` gives a :class:`Session` inside one write transaction (under the writer
    lock); ``read(db)`` a session for reads. Sessions must stay in the thread that opened them
    (each thread has its own SQLite connections); lazy scans fetch their rows through the
    connection of whichever thread iterates them, so a cursor may move between threads.
    """

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.writer_lock = threading.RLock()
        self._local = threading.local()
        self._existing: set[str] = set()

    # connections

    def path(self, db: str) -> Path:
        check_database_name(db)
        return self.data_dir / f"{db}.sqlite3"

    def exists(self, db: str) -> bool:
        """Whether ``db``'s file exists (files are never deleted while the server runs)."""
        if db in self._existing:
            return True
        if self.path(db).exists():
            self._existing.add(db)
            return True
        return False

    def connection(self, db: str) -> sqlite3.Connection:
        """This thread's connection to ``db``'s file (created, 0600, on first use)."""
        conns: dict[str, sqlite3.Connection] = self._local.__dict__.setdefault("conns", {})
        conn = conns.get(db)
        if conn is None:
            path = self.path(db)
            new = not path.exists()
            if new:
                os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=BUSY_TIMEOUT_S)
            _while_locked(lambda: _prepare(conn, new))
            conns[db] = conn
        return conn

    def close_thread(self) -> None:
        """Close this thread's connections (a client connection ended)."""
        for conn in self._local.__dict__.pop("conns", {}).values():
            conn.close()

    def database_names(self) -> list[str]:
        """Databases that hold at least one collection."""
        names = []
        for path in sorted(self.data_dir.glob("*.sqlite3")):
            name = path.name[: -len(".sqlite3")]
            try:
                check_database_name(name)
            except StoreError:
                continue
            if self.connection(name).execute("SELECT 1 FROM _collections LIMIT 1").fetchone():
                names.append(name)
        return names

    def size_on_disk(self, db: str) -> int:
        path = self.path(db)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())

    @contextmanager
    def write(self, db: str) -> Iterator[Session]:
        """One write transaction on ``db``: committed at the end, rolled back on any exception."""
        with self.writer_lock:
            conn = self.connection(db)
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Session(self, db, writable=True)
            except BaseException:
                # SQLite has already rolled back after some errors (SQLITE_FULL, SQLITE_IOERR):
                # a second ROLLBACK would fail and hide the real error.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def read(self, db: str) -> Session:
        """A read session on ``db`` (each query sees the last committed state, or this
        thread's own open write transaction)."""
        return Session(self, db, writable=False)


def _prepare(conn: sqlite3.Connection, new: bool) -> None:
    """Set a connection's pragmas and make sure the catalogue tables exist."""
    if new:
        # 16 KiB pages: a 30-70 KB document spans 2-5 pages instead of 8-18 (measured
        # 2-3x faster inserts and updates of such documents, small documents unchanged).
        # Only effective before the first table exists, hence only for a new file.
        conn.execute(f"PRAGMA page_size={_PAGE_SIZE}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)


def _while_locked(step: Callable[[], None]) -> None:
    """Run ``step``, again while another process holds a lock SQLite does not wait for.

    Changing or checking the journal mode and creating the catalogue while another server
    process writes the same file can fail at once with "database is locked" (SQLite skips its
    busy handler there to avoid deadlocks); such a step is retried for up to BUSY_TIMEOUT_S.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class Session:
    """Operations on one database through the current thread's connection."""

    def __init__(self, store: Store, db: str, writable: bool) -> None:
        self.store = store
        self.db = db
        self.writable = writable

    @property
    def conn(self) -> sqlite3.Connection:
        return self.store.connection(self.db)

    def _check_writable(self) -> None:
        if not self.writable:
            raise RuntimeError("write outside a write transaction")

    # catalogue

    def collection(self, name: str) -> Collection | None:
        row = self.conn.execute("SELECT tbl, options FROM _collections WHERE name=?", (name,)).fetchone()
        if row is None:
            return None
        indexes = []
        for iname, itbl, spec in self.conn.execute(
                "SELECT name, tbl, spec FROM _indexes WHERE coll=? ORDER BY rowid", (name,)):
            spec_doc = decode(spec)
            indexes.append(Index(iname, itbl, spec_doc, list(spec_doc["key"])))
        return Collection(self.db, name, row[0], decode(row[1]), indexes)

    def collection_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM _collections ORDER BY name")]

    def create_collection(self, name: str, options: dict | None = None) -> Collection:
        """Create ``name`` (NamespaceExists if it exists)."""
        self._check_writable()
        check_collection_name(name)
        if self.collection(name) is not None:
            raise StoreError(errors.NAMESPACE_EXISTS, f"Collection {self.db}.{name} already exists.")
        tbl = "c_" + uuid.uuid4().hex
        self.conn.execute(f'CREATE TABLE "{tbl}" (k BLOB PRIMARY KEY, doc BLOB NOT NULL) WITHOUT ROWID')
        self.conn.execute("INSERT INTO _collections VALUES (?, ?, ?)", (name, tbl, encode(options or {})))
        return Collection(self.db, name, tbl, options or {}, [])

    def create_view(self, name: str, view_on: str, pipeline: list) -> None:
        """Create the view ``name`` of ``view_on`` through ``pipeline`` (NamespaceExists if taken)."""
        self._check_writable()
        check_collection_name(name)
        if self.collection(name) is not None:
            raise StoreError(errors.NAMESPACE_EXISTS, f"Collection {self.db}.{name} already exists.")
        self.conn.execute("INSERT INTO _collections VALUES (?, '', ?)",
                          (name, encode({"viewOn": view_on, "pipeline": pipeline})))

    def ensure_collection(self, name: str) -> Collection:
        """The collection ``name``, created if missing (implicit creation by a write);
        CommandNotSupportedOnView (166) if ``name`` is a view."""
        coll = self.collection(name) or self.create_collection(name)
        if coll.is_view:
            raise view_error(coll)
        return coll

    def drop_collection(self, name: str) -> bool:
        """Drop ``name`` and its indexes; False if it did not exist."""
        self._check_writable()
        coll = self.collection(name)
        if coll is None:
            return False
        for index in coll.indexes:
            self.conn.execute(f'DROP TABLE "{index.tbl}"')
        if not coll.is_view:
            self.conn.execute(f'DROP TABLE "{coll.tbl}"')
        self.conn.execute("DELETE FROM _indexes WHERE coll=?", (name,))
        self.conn.execute("DELETE FROM _collections WHERE name=?", (name,))
        return True

    def rename_collection(self, old: str, new: str) -> None:
        """Rename within this database (tables keep their names, only the catalogue changes)."""
        self._check_writable()
        check_collection_name(new)
        self.conn.execute("UPDATE _collections SET name=? WHERE name=?", (new, old))
        self.conn.execute("UPDATE _indexes SET coll=? WHERE coll=?", (new, old))

    def set_options(self, name: str, options: dict) -> None:
        self._check_writable()
        self.conn.execute("UPDATE _collections SET options=? WHERE name=?", (encode(options), name))

    # indexes

    def create_index(self, coll: Collection, spec: dict) -> bool:
        """Create a secondary index from ``spec`` (``key``, ``name``, ``unique``, ``sparse``,
        ``partialFilterExpression``) and index the existing documents.

        Returns False if an identical index exists; raises IndexOptionsConflict /
        IndexKeySpecsConflict for a same-name or same-key index that differs, DuplicateKey if
        existing documents violate a new unique index.
        """
        self._check_writable()
        name = spec["name"]
        for existing in coll.indexes:
            same_key = list(existing.spec["key"].items()) == list(spec["key"].items())
            if existing.name == name or same_key:
                comparable = {k: v for k, v in existing.spec.items() if k != "v"}
                if comparable == {k: v for k, v in spec.items() if k != "v"}:
                    return False
                if existing.name == name:
                    raise StoreError(errors.INDEX_KEY_SPECS_CONFLICT,
                                     f"An existing index has the same name as the requested index. "
                                     f"When index names are not specified, they are auto generated and can "
                                     f"cause conflicts. Please refer to our documentation. "
                                     f"Requested index: {spec}, existing index: {existing.spec}")
                if existing.name != name and same_key and spec.get("collation") == existing.spec.get("collation"):
                    raise StoreError(errors.INDEX_OPTIONS_CONFLICT,
                                     f"Index already exists with a different name: {existing.name}")
        tbl = "i_" + uuid.uuid4().hex
        self.conn.execute(f'CREATE TABLE "{tbl}" (k BLOB NOT NULL, id BLOB NOT NULL, w INTEGER NOT NULL, '
                          f'PRIMARY KEY (k, id)) WITHOUT ROWID')
        self.conn.execute(f'CREATE INDEX "{tbl}_id" ON "{tbl}" (id)')
        stored_spec = {"v": 2, **{k: v for k, v in spec.items() if k != "v"}}
        self.conn.execute("INSERT INTO _indexes VALUES (?, ?, ?, ?)", (coll.name, name, tbl, encode(stored_spec)))
        index = Index(name, tbl, stored_spec, list(spec["key"]))
        coll.indexes.append(index)
        for k, raw in self.scan(coll):
            self._add_index_keys(coll, index, k, decode(raw))
        return True

    def drop_index(self, coll: Collection, name: str) -> None:
        self._check_writable()
        for index in coll.indexes:
            if index.name == name:
                self.conn.execute(f'DROP TABLE "{index.tbl}"')
                self.conn.execute("DELETE FROM _indexes WHERE coll=? AND name=?", (coll.name, name))
                coll.indexes.remove(index)
                return
        raise StoreError(errors.INDEX_NOT_FOUND, f"index not found with name [{name}]")

    def _add_index_keys(self, coll: Collection, index: Index, k: bytes, doc: dict) -> None:
        keys = index.keys(doc)
        if index.unique:
            for key, aux, values in keys:
                if not aux and self.conn.execute(
                        f'SELECT 1 FROM "{index.tbl}" WHERE k=? AND w=0 AND id<>? LIMIT 1', (key, k)).fetchone():
                    raise duplicate_key_error(coll.ns, index.name, index.spec["key"], values)
        self.conn.executemany(f'INSERT OR IGNORE INTO "{index.tbl}" VALUES (?, ?, ?)',
                              [(key, k, int(aux)) for key, aux, _ in keys])

    # documents

    def get(self, coll: Collection, k: bytes) -> bytes | None:
        row = self.conn.execute(f'SELECT doc FROM "{coll.tbl}" WHERE k=?', (k,)).fetchone()
        return row[0] if row else None

    def insert(self, coll: Collection, doc_id: Any, raw: bytes, doc: dict | None) -> None:
        """Insert one document (DuplicateKey if its ``_id`` or a unique key exists)."""
        self._check_writable()
        k = encode_key(doc_id)
        try:
            self.conn.execute(f'INSERT INTO "{coll.tbl}" VALUES (?, ?)', (k, raw))
        except sqlite3.IntegrityError:
            raise duplicate_key_error(coll.ns, "_id_", {"_id": 1}, [doc_id]) from None
        if coll.indexes:
            if doc is None:
                doc = decode(raw)
            for index in coll.indexes:
                self._add_index_keys(coll, index, k, doc)

    def insert_many(self, coll: Collection, items: list[tuple[Any, bytes, dict | None]]) -> None:
        """Insert ``(_id, raw, decoded or None)`` documents in one statement per table.

        Only for collections without unique secondary indexes. Raises
        ``sqlite3.IntegrityError`` (without telling which) on a duplicate ``_id``: the caller
        runs it inside a savepoint and falls back to :meth:`insert` one by one.
        """
        self._check_writable()
        if any(index.unique for index in coll.indexes):
            raise RuntimeError("insert_many is for collections without unique secondary indexes")
        rows = [(encode_key(doc_id), raw) for doc_id, raw, _ in items]
        self.conn.executemany(f'INSERT INTO "{coll.tbl}" VALUES (?, ?)', rows)
        if coll.indexes:
            docs = [doc if doc is not None else decode(raw) for _, raw, doc in items]
            for index in coll.indexes:
                self.conn.executemany(f'INSERT OR IGNORE INTO "{index.tbl}" VALUES (?, ?, ?)',
                                      [(key, k, int(aux)) for (k, _), doc in zip(rows, docs)
                                       for key, aux, _ in index.keys(doc)])

    def replace(self, coll: Collection, k: bytes, raw: bytes, old: dict, new: dict) -> None:
        """Store ``raw`` (the encoding of ``new``) in place of the document ``old`` at key ``k``."""
        self._check_writable()
        self.conn.execute(f'UPDATE "{coll.tbl}" SET doc=? WHERE k=?', (raw, k))
        for index in coll.indexes:
            old_keys = index.keys(old)
            new_keys = index.keys(new)
            if [x[:2] for x in old_keys] == [x[:2] for x in new_keys]:
                continue
            self.conn.execute(f'DELETE FROM "{index.tbl}" WHERE id=?', (k,))
            self._add_index_keys(coll, index, k, new)

    def replace_raw(self, coll: Collection, k: bytes, raw: bytes) -> None:
        """Store ``raw`` at key ``k`` when the change touches no indexed field (the caller
        checked): the index tables stay as they are."""
        self._check_writable()
        self.conn.execute(f'UPDATE "{coll.tbl}" SET doc=? WHERE k=?', (raw, k))

    def delete(self, coll: Collection, k: bytes) -> None:
        self._check_writable()
        self.conn.execute(f'DELETE FROM "{coll.tbl}" WHERE k=?', (k,))
        for index in coll.indexes:
            self.conn.execute(f'DELETE FROM "{index.tbl}" WHERE id=?', (k,))

    def count(self, coll: Collection) -> int:
        return self.conn.execute(f'SELECT COUNT(*) FROM "{coll.tbl}"').fetchone()[0]

    def data_size(self, coll: Collection) -> int:
        return self.conn.execute(f'SELECT COALESCE(SUM(LENGTH(doc)), 0) FROM "{coll.tbl}"').fetchone()[0]

    # scans (lazy: each chunk goes through the connection of the iterating thread)

    def _fetch(self, sql: str, params: tuple) -> list:
        try:
            return self.store.connection(self.db).execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # the collection was dropped under a cursor
                return []
            raise

    def scan(self, coll: Collection, lower: bytes | None = None, upper: bytes | None = None,
             reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """``(k, raw)`` of the documents with ``lower <= k < upper`` in key order (``_id`` order)."""
        return self._keyset(f'SELECT k, doc FROM "{coll.tbl}"', lower, upper, reverse, by_id=False)

    def _keyset(self, select: str, lower: bytes | None, upper: bytes | None, reverse: bool,
                by_id: bool) -> Iterator[tuple]:
        """The rows of ``select`` (first column ``k``; second ``id`` when ``by_id``, the order
        being then ``k, id``) with ``lower <= k < upper``, read ``_SCAN_CHUNK`` at a time, each
        chunk on the iterating thread's connection. Each chunk starts where the previous one
        ended by a bound on ``k`` that SQLite seeks to (not a filter over the whole range,
        which would make reading n rows cost n² / chunk)."""
        order = "k, id" if by_id else ("k DESC" if reverse else "k ASC")
        last: tuple | None = None
        while True:
            lo, hi, more, extra = lower, upper, [], []
            if last is not None:
                if by_id:  # the rest of the last key's entries, then the next keys
                    lo = last[0]
                    more, extra = ["(k, id) > (?, ?)"], [last[0], last[1]]
                elif reverse:
                    hi = last[0]
                else:
                    lo, more, extra = None, ["k > ?"], [last[0]]
            conds, params = _key_bounds(lo, hi)
            where = " AND ".join(conds + more)
            rows = self._fetch(f"{select} {'WHERE ' + where if where else ''} ORDER BY {order} LIMIT {_SCAN_CHUNK}",
                               tuple(params + extra))
            yield from rows
            if len(rows) < _SCAN_CHUNK:
                return
            last = rows[-1]

    def get_many(self, coll: Collection, keys: list[bytes], reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """``(k, raw)`` of the documents whose key is in ``keys`` (sorted, deduplicated), in key order."""
        ordered = sorted(set(keys), reverse=reverse)
        order = "DESC" if reverse else "ASC"
        for start in range(0, len(ordered), _IN_CHUNK):
            chunk = ordered[start:start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from self._fetch(f'SELECT k, doc FROM "{coll.tbl}" WHERE k IN ({marks}) ORDER BY k {order}',
                                   tuple(chunk))

    def index_ids(self, index: Index, lower: bytes | None, upper: bytes | None) -> Iterator[bytes]:
        """Document keys with an index key in ``[lower, upper)`` (may repeat a document)."""
        return (doc_key for _, doc_key in self.index_entries(index, lower, upper))

    def index_entries(self, index: Index, lower: bytes | None, upper: bytes | None
                      ) -> Iterator[tuple[bytes, bytes]]:
        """``(index key, document key)`` of the entries with an index key in ``[lower, upper)``."""
        return self._keyset(f'SELECT k, id FROM "{index.tbl}"', lower, upper, False, by_id=True)


def _key_bounds(lower: bytes | None, upper: bytes | None) -> tuple[list[str], list[bytes]]:
    """SQL conditions and parameters for ``lower <= k < upper`` (either bound may be absent)."""
    conds, params = [], []
    if lower is not None:
        conds.append("k >= ?")
        params.append(lower)
    if upper is not None:
        conds.append("k < ?")
        params.append(upper)
    return conds, params


def database_file_mode_ok(path: Path) -> bool:
    """True when ``path`` is readable by its owner only (0600 or stricter)."""
    return (path.stat().st_mode & 0o077) == 0


# --- partial decoding ------------------------------------------------------------------------

PathTrie = dict  # UTF-8 field name -> PathTrie, or True when the whole value under that name is needed


def path_trie(paths: Iterable[str]) -> PathTrie:
    """The trie of dotted ``paths`` (a path that is a prefix of another keeps the whole value)."""
    trie: PathTrie = {}
    for path in paths:
        node = trie
        parts = [part.encode() for part in path.split(".")]
        for part in parts[:-1]:
            child = node.get(part)
            if child is True:
                break
            node = node.setdefault(part, {})
        else:
            node[parts[-1]] = True
    return trie


def prune(raw: bytes, trie: PathTrie) -> bytes:
    """A copy of the raw document holding only what ``trie``'s paths reach.

    Documents on the way keep only the named fields (in their order); arrays and scalars on
    a path are copied whole, so every value a query reads along those paths is the same as in
    the full document (arrays keep their elements, which paths through arrays need). Costs a
    walk over the elements of the documents on the paths, never a decode.
    """
    body = _pruned_elements(raw, 4, len(raw) - 1, trie)
    return _INT32.pack(len(body) + 5) + body + b"\x00"


def _pruned_elements(raw: bytes, pos: int, end: int, trie: PathTrie) -> bytes:
    """The kept elements of the document whose elements span ``raw[pos:end]``."""
    parts: list[bytes] = []
    while pos < end:
        type_byte = raw[pos]
        name_end = raw.index(b"\x00", pos + 1)
        value_end = _element_end(raw, name_end + 1, type_byte)
        node = trie.get(raw[pos + 1:name_end])
        if node is True or (node is not None and type_byte != 0x03):
            parts.append(raw[pos:value_end])
        elif node is not None:
            sub = _pruned_elements(raw, name_end + 5, value_end - 1, node)
            parts.append(raw[pos:name_end + 1] + _INT32.pack(len(sub) + 5) + sub + b"\x00")
        pos = value_end
    return b"".join(parts)


def splice(raw: bytes, new: dict, trie: PathTrie) -> bytes:
    """``raw`` with the part that ``prune(raw, trie)`` selected replaced by ``new`` (that part
    after an update): untouched elements keep their bytes and place, updated values take the
    place of the old ones, removed ones go, and fields the update created are appended at the
    level where they appear, in ``new``'s order — which is where a whole-document update puts
    them. Only values under ``trie``'s paths are encoded again.
    """
    body = _spliced_elements(raw, 4, len(raw) - 1, new, trie)
    return _INT32.pack(len(body) + 5) + body + b"\x00"


def _element(name: str, value: Any) -> bytes:
    """The BSON bytes of one element ``name: value``."""
    return encode({name: value})[4:-1]


def _spliced_elements(raw: bytes, pos: int, end: int, new: dict, trie: PathTrie) -> bytes:
    parts: list[bytes] = []
    seen: set[str] = set()
    while pos < end:
        type_byte = raw[pos]
        name_end = raw.index(b"\x00", pos + 1)
        value_end = _element_end(raw, name_end + 1, type_byte)
        node = trie.get(raw[pos + 1:name_end])
        if node is None:
            parts.append(raw[pos:value_end])
        else:
            name = raw[pos + 1:name_end].decode()
            seen.add(name)
            if name not in new:
                pass  # removed by the update
            elif node is True or type_byte != 0x03 or type(new[name]) is not dict:
                parts.append(_element(name, new[name]))
            else:
                sub = _spliced_elements(raw, name_end + 5, value_end - 1, new[name], node)
                parts.append(raw[pos:name_end + 1] + _INT32.pack(len(sub) + 5) + sub + b"\x00")
        pos = value_end
    for name, value in new.items():
        if name not in seen:
            parts.append(_element(name, value))
    return b"".join(parts)
