"""The database commands: MongoDB's command documents in, reply documents out.

:class:`Engine` holds the :class:`.storage.Store`, the server-side cursors and the credentials,
and :meth:`Engine.run` executes one command for one client connection. Matching, projection,
sorting, updates and pipelines are delegated to the pure modules (:mod:`.query`,
:mod:`.update`, :mod:`.aggregate`); this module only decides which documents to read, in
which transaction, and shapes the replies as MongoDB 7.0 does.

Speed: a document is decoded at most once per command, and only when a filter, projection,
sort or update needs it; documents that go out unchanged are sent as their stored bytes
(``RawBSONDocument``). When a filter, sort and inclusion projection read only some paths,
only those parts of a document are decoded (:func:`.storage.prune`); an operator update
addressed by ``_id`` decodes, updates and re-encodes only the parts it touches
(:func:`.storage.splice`). Bulk updates read their ``_id``-addressed documents in a few
queries up front (:class:`_PointCache`). Every write command runs in one SQLite transaction.

Failure modes: a :class:`.errors.StoreError` raised anywhere becomes an ``{ok: 0}`` reply
(or a ``writeErrors`` entry for one statement of a write command); any other exception is
reported as InternalError (code 1) with its message, never as a success.
"""

from __future__ import annotations

import datetime
import hashlib
import heapq
import itertools
import os
import platform
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import bson
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument

from . import errors
from .bsonorder import RANK_ARRAY, RANK_NULL, Collation, encode_key, key_end
from .codec import CODEC, decode, encode
from .errors import StoreError, not_supported
from .storage import (ID_INDEX_SPEC, NO_ID, Collection, Session, Store, check_collection_name, check_id, path_trie,
                      prefix_successor, prepare_insert, prune, duplicate_key_error, view_error, splice, PathTrie)

RAW_CODEC = CODEC.with_options(document_class=RawBSONDocument)
MAX_BSON_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48_000_000
MAX_WRITE_BATCH = 100_000
DEFAULT_FIRST_BATCH = 101
_BATCH_BYTES = MAX_BSON_SIZE - 16 * 1024  # room for the reply's envelope
_CURSOR_IDLE_S = 600.0
_MAX_SESSIONS = 10_000
_START = time.time()

#: Fields every command may carry (driver and session plumbing this standalone server ignores).
GENERIC_FIELDS = {"$db", "lsid", "$clusterTime", "$readPreference", "writeConcern", "readConcern", "maxTimeMS",
                  "comment", "apiVersion", "apiStrict", "apiDeprecationErrors", "$audit", "$client",
                  "mayBypassWriteBlocking", "txnNumber", "autocommit", "startTransaction", "$queryOptions"}


def _unknown_fields(name: str, cmd: dict, allowed: set[str]) -> None:
    for key in cmd:
        if key not in allowed and key not in GENERIC_FIELDS and key != name:
            raise StoreError(40415, f"BSON field '{name}.{key}' is an unknown field.")


_PURE: tuple = ()


def _pure():
    """The pure modules (imported late so that a missing one fails the command, not the server)."""
    global _PURE
    if not _PURE:
        from . import query, update
        _PURE = (query, update)
    return _PURE


# --- command decoding ------------------------------------------------------------------------

def _first_key(body: bytes) -> str:
    return body[5:body.index(b"\x00", 5)].decode() if len(body) > 5 and body[4] else ""


def decode_command(body: bytes, sequences: dict[str, list[bytes]]) -> dict:
    """The command as a dict; documents to insert stay raw BSON bytes (never decoded here).

    Document sequences are merged into the command under their identifier.
    """
    if _first_key(body).lower() == "insert":
        top = bson.decode(body, codec_options=RAW_CODEC)
        cmd: dict = {}
        for key, value in top.items():
            if key == "documents" and isinstance(value, list):
                cmd[key] = [d.raw if isinstance(d, RawBSONDocument) else d for d in value]
            elif isinstance(value, RawBSONDocument):
                cmd[key] = decode(value.raw)
            else:
                cmd[key] = value
    else:
        cmd = decode(body)
    for ident, docs in sequences.items():
        cmd[ident] = list(docs) if ident == "documents" else [decode(d) for d in docs]
    return cmd


# --- cursors ---------------------------------------------------------------------------------

@dataclass
class Cursor:
    """A server-side cursor: the rest of a result as raw BSON documents."""

    id: int
    ns: str
    source: Iterator[bytes]
    pending: bytes | None = None
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def batch(self, count: int | None) -> tuple[list[bytes], bool]:
        """Up to ``count`` documents (None: as many as fit in a reply) and whether more remain."""
        out: list[bytes] = []
        size = 0
        while count is None or len(out) < count:
            item = self.pending if self.pending is not None else next(self.source, None)
            self.pending = None
            if item is None:
                return out, False
            if out and size + len(item) > _BATCH_BYTES:
                self.pending = item
                return out, True
            out.append(item)
            size += len(item)
        if self.pending is None:
            self.pending = next(self.source, None)
        return out, self.pending is not None


def _raw_list(items: list[bytes]) -> list[RawBSONDocument]:
    return [RawBSONDocument(item, RAW_CODEC) for item in items]


@dataclass
class ClientState:
    """What the server knows about one client connection."""

    connection_id: int
    peer: str
    authenticated: bool = False
    user: str | None = None
    sasl: Any = None
    sasl_id: int = 0


# --- pipeline context ------------------------------------------------------------------------

class _PipelineContext:
    """:class:`store.aggregate.PipelineContext` over one database of the store."""

    def __init__(self, engine: Engine, db: str) -> None:
        self.engine = engine
        self.db = db

    def scan(self, collection: str) -> Iterable[dict]:
        session = self.engine.store.read(self.db)
        coll = session.collection(collection)
        if coll is None:
            return iter(())
        if coll.is_view:
            return view_documents(self.engine, self.db, coll, [], None, None)
        return (decode(raw) for _, raw in session.scan(coll))

    def write_out(self, collection: str, docs: list[dict]) -> None:
        with self.engine.store.write(self.db) as session:
            check_collection_name(collection)
            old = session.collection(collection)
            specs = [i.spec for i in old.indexes] if old else []
            session.drop_collection(collection)
            coll = session.create_collection(collection, old.options if old else {})
            for spec in specs:
                session.create_index(coll, spec)
            for doc in docs:
                if "_id" not in doc:
                    doc = {"_id": bson.ObjectId(), **doc}
                session.insert(coll, doc["_id"], encode(doc), doc)

    def local_sessions(self) -> list[dict]:
        """``$listLocalSessions``: the logical sessions this server has seen, as MongoDB lists them
        (``_id: {id, uid}`` where ``uid`` is the SHA-256 of the user name, here always ``""``)."""
        uid = bson.Binary(hashlib.sha256(b"").digest())
        return [{"_id": {"id": lsid, "uid": uid},
                 "lastUse": datetime.datetime.fromtimestamp(int(used * 1000) / 1000, datetime.timezone.utc
                                                            ).replace(tzinfo=None)}
                for lsid, used in list(self.engine._sessions.values())]

    def merge_into(self, collection: str, docs: list[dict], on: list[str] | str | None, when_matched: Any,
                   when_not_matched: str) -> None:
        """``$merge`` into ``collection`` of this database, in one transaction.

        ``on`` (default ``_id``) must be ``_id`` or the fields of a unique index (MongoDB's
        rule, error 51183); ``when_matched`` is "replace", "keepExisting", "merge", "fail" or
        a pipeline (applied by :func:`.aggregate.merge_matched`);
        ``when_not_matched`` is "insert", "discard" or "fail".
        """
        query_mod, _ = _pure()
        fields = [on] if isinstance(on, str) else list(on or ["_id"])
        with self.engine.store.write(self.db) as session:
            check_collection_name(collection)
            coll = session.ensure_collection(collection)
            if fields != ["_id"] and not any(
                    i.unique and sorted(i.fields) == sorted(fields) for i in coll.indexes):
                raise StoreError(51183, "Cannot find index to verify that join fields will be unique")
            for doc in docs:
                key = {}
                for name in fields:
                    values = query_mod.get_path_values(doc, name)
                    if len(values) != 1 or isinstance(values[0], list):
                        raise StoreError(51132, f"$merge write error: 'on' field '{name}' cannot be missing, "
                                                f"null, undefined or an array")
                    key[name] = values[0]
                found = next(matching(session, coll, key, None), None)
                if found is None:
                    if when_not_matched == "discard":
                        continue
                    if when_not_matched == "fail":
                        raise StoreError(13113, "$merge could not find a matching document in the target "
                                                "collection for at least one document in the source collection")
                    new = doc if "_id" in doc else {"_id": bson.ObjectId(), **doc}
                    _insert_new(session, coll, new)
                    continue
                k, raw, old = found
                old = old if old is not None else decode(raw)
                if when_matched == "keepExisting":
                    continue
                if when_matched == "fail":  # what inserting the document into the target would raise
                    index = "_id_" if fields == ["_id"] else next(
                        i.name for i in coll.indexes if i.unique and sorted(i.fields) == sorted(fields))
                    raise duplicate_key_error(coll.ns, index, {f: 1 for f in fields}, list(key.values()))
                from .aggregate import merge_matched
                new = merge_matched(old, doc, when_matched)
                if "_id" in new and not _same_id(new["_id"], old["_id"]):
                    raise StoreError(errors.IMMUTABLE_FIELD, "$merge failed to update the matching document, "
                                                             "did you attempt to modify the _id field?")
                new = {"_id": old["_id"], **{f: v for f, v in new.items() if f != "_id"}}
                _write_updated(session, coll, k, raw, old, new)


# --- the engine ------------------------------------------------------------------------------

class Engine:
    """Executes commands against a :class:`Store`.

    ``credentials`` (user, password) makes every command but the handshake and SASL
    require a SCRAM-SHA-256 authentication on the connection.
    """

    def __init__(self, store: Store, credentials: tuple[str, str] | None = None) -> None:
        self.store = store
        self.credentials = credentials
        self._cursors: dict[int, Cursor] = {}
        self._cursors_lock = threading.Lock()
        self._connection_ids = itertools.count(1)
        self._sessions: dict[bytes, tuple[Any, float]] = {}  # lsid id -> (lsid, last use)
        self._scram_auth = None
        if credentials is not None:
            from .auth import ScramVerifier
            self._scram_auth = ScramVerifier(*credentials)

    def new_client(self, peer: str) -> ClientState:
        return ClientState(next(self._connection_ids), peer, authenticated=self.credentials is None)

    # dispatch

    def run(self, db: str, cmd: dict, client: ClientState) -> dict:
        """Run one decoded command on database ``db``; always returns a reply document."""
        if not cmd:
            return StoreError(errors.FAILED_TO_PARSE, "no command given").to_reply()
        name = next(iter(cmd))
        handler = _HANDLERS.get(name) or _HANDLERS.get(name.lower() if name.lower() in _CASE_FREE else "")
        try:
            if handler is None:
                raise StoreError(errors.COMMAND_NOT_FOUND, f"no such command: '{name}'")
            if not client.authenticated and name not in _NO_AUTH:
                raise StoreError(errors.UNAUTHORIZED, f"Command {name} requires authentication")
            lsid = cmd.get("lsid")
            if isinstance(lsid, dict) and "id" in lsid:
                self._sessions[bytes(lsid["id"])] = (lsid["id"], time.time())
                if len(self._sessions) > _MAX_SESSIONS:  # forget the least recently used half
                    for key, _ in sorted(self._sessions.items(), key=lambda kv: kv[1][1])[:_MAX_SESSIONS // 2]:
                        self._sessions.pop(key, None)
            if "startTransaction" in cmd or "autocommit" in cmd:
                raise StoreError(errors.ILLEGAL_OPERATION,
                                 "Transaction numbers are only allowed on a replica set member or mongos")
            return handler(self, db, cmd, client)
        except StoreError as exc:
            reply = exc.to_reply()
            details = getattr(exc, "details", None)
            if details:
                reply.update(details)
            return reply
        except sqlite3.Error as exc:
            return {"ok": 0.0, "errmsg": f"storage error: {exc}", "code": 1, "codeName": "InternalError"}

    # cursors

    def open_cursor(self, ns: str, source: Iterator[bytes], first: int | None, single: bool,
                    key: str = "firstBatch") -> dict:
        """Register ``source`` as a cursor and return the ``cursor`` reply with its first batch."""
        cursor = Cursor(0, ns, source)
        docs, more = cursor.batch(first)
        cursor_id = 0
        if more and not single:
            cursor_id = int.from_bytes(os.urandom(8), "little") & 0x3FFF_FFFF_FFFF_FFFF or 1
            cursor.id = cursor_id
            with self._cursors_lock:
                self._expire_cursors()
                self._cursors[cursor_id] = cursor
        return {"cursor": {key: _raw_list(docs), "id": Int64(cursor_id), "ns": ns}, "ok": 1.0}

    def _expire_cursors(self) -> None:
        now = time.monotonic()
        for cid in [c.id for c in self._cursors.values() if now - c.last_used > _CURSOR_IDLE_S]:
            self._cursors.pop(cid, None)


# --- helpers ---------------------------------------------------------------------------------

def _collection_name(name: str, cmd: dict) -> str:
    value = cmd[name]
    if not isinstance(value, str):
        raise StoreError(errors.INVALID_NAMESPACE,
                         f"collection name has invalid type {type(value).__name__}")
    check_collection_name(value)
    return value


def _number(value: Any, what: str) -> int:
    if type(value) is bool or not isinstance(value, (int, float, Int64, bson.decimal128.Decimal128)):
        raise StoreError(errors.TYPE_MISMATCH, f"BSON field '{what}' is the wrong type '{type(value).__name__}', "
                                               f"expected types '[long, int, decimal, double]'")
    number = value.to_decimal() if isinstance(value, bson.decimal128.Decimal128) else value
    if number != number or number != int(number):
        raise StoreError(errors.BAD_VALUE, f"{what} must be an integer")
    return int(number)


def _doc_arg(cmd: dict, key: str, default: Any = None) -> Any:
    value = cmd.get(key, default)
    if value is not None and value is not default and not isinstance(value, dict):
        raise StoreError(errors.TYPE_MISMATCH, f"BSON field '{key}' is the wrong type, expected type 'object'")
    return value


def _collation(cmd: dict) -> Collation | None:
    return Collation.from_spec(cmd.get("collation"))


def _check_hint(coll: Collection | None, hint: Any) -> None:
    """BadValue when ``hint`` names no index of ``coll`` (MongoDB refuses to plan such a query)."""
    if hint is None or hint == "" or hint == {}:
        return
    if isinstance(hint, dict) and next(iter(hint)) == "$natural":
        return
    specs = [ID_INDEX_SPEC] + ([i.spec for i in coll.indexes] if coll else [])
    for spec in specs:
        if (isinstance(hint, str) and spec["name"] == hint) or \
                (isinstance(hint, dict) and list(spec["key"].items()) == list(hint.items())):
            return
    if coll is None:
        return  # MongoDB plans nothing on a missing collection and returns no documents
    raise StoreError(errors.BAD_VALUE, "error processing query: planner returned error :: caused by :: "
                                       "hint provided does not correspond to an existing index")


# simple equality on _id that the primary key answers exactly (no decoding needed)
_EXACT_ID_TYPES = (str, float, Int64, bson.ObjectId, datetime.datetime, bson.decimal128.Decimal128)


def _exact_id_keys(filter_: dict, collation: Collation | None) -> list[bytes] | None:
    """The ``_id`` keys of a filter that is exactly ``{_id: v}``, ``{_id: {$eq: v}}`` or
    ``{_id: {$in: [...]}}`` over plain scalar values (so the lookup alone decides the match)."""
    if len(filter_) != 1 or "_id" not in filter_:
        return None
    cond = filter_["_id"]
    if isinstance(cond, dict):
        if len(cond) != 1:
            return None
        op, arg = next(iter(cond.items()))
        if op == "$eq":
            values = [arg]
        elif op == "$in" and isinstance(arg, list):
            values = arg
        else:
            return None
    else:
        values = [cond]
    for value in values:
        if type(value) is bool or not (type(value) is int or isinstance(value, _EXACT_ID_TYPES)):
            return None
        if collation is not None and isinstance(value, str):
            return None
    return [encode_key(v) for v in values]


def _merge_ranges(ranges: list[tuple[bytes | None, bytes | None]]) -> list[tuple[bytes | None, bytes | None]]:
    """Sort half-open byte ranges ``[lo, hi)`` (None = unbounded) and merge overlaps."""
    def lo_key(r):
        return (r[0] is not None, r[0] or b"")
    merged: list[list] = []
    for lo, hi in sorted(ranges, key=lo_key):
        if merged:
            prev = merged[-1]
            if prev[1] is None or (lo is not None and lo <= prev[1]):
                if prev[1] is not None and (hi is None or hi > prev[1]):
                    prev[1] = hi
                continue
        merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def _byte_ranges(ranges: list[tuple]) -> list[tuple[bytes | None, bytes | None]]:
    """``key_ranges`` output (encoded bounds, inclusive flags) as half-open prefix ranges."""
    out = []
    for lower, upper, _lower_inclusive, _upper_inclusive in ranges:
        # Inclusive on both ends is a superset of every case; the filter decides exactly.
        hi = None if upper is None else prefix_successor(upper)
        out.append((lower, hi))
    return _merge_ranges(out)


def _index_ranges(field_ranges: list[list | None]) -> tuple[list[tuple[bytes | None, bytes | None]], int]:
    """The ranges of compound index keys (concatenated ``encode_key`` of the index fields)
    that a document matching a filter has a key in, given the filter's ``key_ranges`` for each
    field (the first not None), and how many leading fields those ranges use.

    While the filter allows single values of the leading fields (equalities, ``$in``), their
    keys prefix the ranges of the next field: ``{"_id.batch": b, "_id.siret": {$gte: lo}}``
    on (batch, siret, periode) reads the entries from ``b+lo`` on, not all of batch ``b``.
    Sound for multikey documents too: their keys are every combination of the fields' keys,
    so the combination of the values that satisfy each field's condition is among them.
    """
    prefixes = [b""]
    last = len(field_ranges) - 1
    for i, ranges in enumerate(field_ranges):
        if ranges is None:
            return _merge_ranges([(p, prefix_successor(p)) for p in prefixes]), i
        if i < last and all(lower is not None and lower == upper for lower, upper, _, _ in ranges):
            prefixes = [p + lower for p in prefixes for lower, _, _, _ in ranges]
            continue
        out = []
        for p in prefixes:
            for lo, hi in _byte_ranges(ranges):
                out.append((p + lo if lo is not None else p or None,
                            p + hi if hi is not None else (prefix_successor(p) if p else None)))
        return _merge_ranges(out), i + 1
    raise AssertionError("the last field always returns")


def _top_by_index(session: Session, coll: Collection, filter_: dict, sort: dict) -> list[bytes] | None:
    """For a ``find`` with ``limit: 1`` sorted on one field that a compound index holds after
    the fields the filter sets by equality (``find_one({"_id.batch": b}, sort=[("_id.periode",
    -1)])`` on (batch, siret, periode)): the key of the first document, read from the index
    entries — the smallest ``_id`` among those whose sort value is the best one (ties keep
    ``_id`` order); None when that does not apply.

    The best entry is the sort value of the first document: a document's sort key is the
    largest (descending) or smallest (ascending) value its path reaches, and each such value
    is an entry. Not used when the best entry is null (missing values) or any entry is a whole
    array, whose sort keys are not their entries.
    """
    if len(sort) != 1 or not filter_:
        return None
    (name, direction), = sort.items()
    if type(direction) is bool or direction not in (1, -1):
        return None
    query, _ = _pure()
    for index in coll.indexes:
        spec = index.spec
        if spec.get("sparse") or "partialFilterExpression" in spec or "collation" in spec:
            continue
        if name not in index.fields[1:] or not set(filter_) <= set(index.fields[:index.fields.index(name)]):
            continue
        j = index.fields.index(name)
        prefix = b""
        for m, field_name in enumerate(index.fields[:len(filter_)]):
            ranges = query.key_ranges(filter_, field_name) if field_name in filter_ else None
            if ranges is None or len(ranges) != 1 or ranges[0][0] is None or ranges[0][0] != ranges[0][1]:
                return None
            prefix += ranges[0][0]
        best: bytes | None = None
        ids: list[bytes] = []
        for key, doc_key in session.index_entries(index, prefix, prefix_successor(prefix)):
            start = len(prefix)
            for _ in range(j - len(filter_)):
                start = key_end(key, start)
            part = key[start:key_end(key, start)]
            if part[0] == RANK_ARRAY:
                return None
            if best is None or (part > best if direction == -1 else part < best):
                best, ids = part, [doc_key]
            elif part == best:
                ids.append(doc_key)
        if best is None or best[0] == RANK_NULL:
            return None
        return [min(ids)]  # ties keep _id order (the sort is stable over documents in _id order)
    return None


def _entry_admitted(key: bytes, checks: list[tuple[int, list[tuple[bytes | None, bytes | None]]]]) -> bool:
    """Whether the fields of a compound index ``key`` fall in the byte ranges ``checks``
    (field number, ranges) — the condition a single-field index key of a matching document
    meets (every combination of its fields' keys is an entry, so one entry meets them all)."""
    starts = [0]
    for _ in range(checks[-1][0] + 1):
        starts.append(key_end(key, starts[-1]))
    for j, ranges in checks:
        part = key[starts[j]:starts[j + 1]]
        if not any((lo is None or part >= lo) and (hi is None or part < hi) for lo, hi in ranges):
            return False
    return True


def candidates(session: Session, coll: Collection, filter_: dict, collation: Collation | None,
               reverse: bool = False, exact: list[bytes] | None = None) -> Iterator[tuple[bytes, bytes]]:
    """``(k, raw)`` of documents that may match ``filter_`` (a superset), in ``_id`` order
    (descending if ``reverse``), narrowed by ``_id`` or a secondary index when the filter allows."""
    if not filter_:
        return session.scan(coll, reverse=reverse)
    if exact is None:
        exact = _exact_id_keys(filter_, collation)
    if exact is not None:
        return session.get_many(coll, exact, reverse=reverse)
    query, _ = _pure()
    key_ranges = getattr(query, "key_ranges", None)  # an optimisation only: without it, scan
    if key_ranges is None:
        return session.scan(coll, reverse=reverse)
    ranges = key_ranges(filter_, "_id", collation=collation)
    if ranges is not None:
        parts = _byte_ranges(ranges)
        if reverse:
            parts.reverse()
        return itertools.chain.from_iterable(session.scan(coll, lo, hi, reverse=reverse) for lo, hi in parts)
    if collation is None:
        for index in coll.indexes:
            spec = index.spec
            if spec.get("sparse") or "partialFilterExpression" in spec or "collation" in spec:
                continue
            field_ranges = [key_ranges(filter_, name) for name in index.fields]
            if field_ranges[0] is None:
                continue
            parts, used = _index_ranges(field_ranges)
            # Conditions on fields after those the ranges used are checked on the entries:
            # {"_id.batch": b, "_id.periode": p} fetches only the documents of period p.
            later = [(j, _byte_ranges(r)) for j, r in enumerate(field_ranges) if j >= used and r is not None]
            ids: set[bytes] = set()
            for lo, hi in parts:
                if later:
                    ids.update(doc_key for key, doc_key in session.index_entries(index, lo, hi)
                               if _entry_admitted(key, later))
                else:
                    ids.update(session.index_ids(index, lo, hi))
            return session.get_many(coll, list(ids), reverse=reverse)
    return session.scan(coll, reverse=reverse)


def matching(session: Session, coll: Collection, filter_: dict, collation: Collation | None,
             variables: dict | None = None, reverse: bool = False,
             load: Callable[[bytes], dict] = decode,
             source: Iterable[tuple[bytes, bytes]] | None = None) -> Iterator[tuple[bytes, bytes, dict | None]]:
    """``(k, raw, doc)`` of the documents matching ``filter_`` (``doc`` None when the filter
    needed no decoding; else ``load(raw)``, the decoded document or the part of it the
    caller asked for), among ``source`` when given (a superset of the matches the caller
    needs) instead of :func:`candidates`."""
    exact = _exact_id_keys(filter_, collation) if filter_ else None
    if source is None:
        source = candidates(session, coll, filter_, collation, reverse, exact)
    if not filter_ or exact is not None:
        for k, raw in source:
            yield k, raw, None
        return
    query, _ = _pure()
    match = query.compile_filter(filter_, collation, variables)
    for k, raw in source:
        doc = load(raw)
        if match(doc):
            yield k, raw, doc


def _filter_paths(filter_: dict) -> list[str] | None:
    """The field paths a filter reads, or None when it may read anything (``$expr``, ``$where``…).

    Field-level operators (``$gt``, ``$elemMatch``, ``$not``…) read only their field's value.
    """
    paths: list[str] = []
    for key, cond in filter_.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(cond, list):
                return None
            for clause in cond:
                sub = _filter_paths(clause) if isinstance(clause, dict) else None
                if sub is None:
                    return None
                paths.extend(sub)
        elif key == "$comment":
            continue
        elif key.startswith("$"):
            return None
        else:
            paths.append(key)
    return paths


def _inclusion_paths(projection: dict) -> list[str] | None:
    """The paths of a plain inclusion projection (``{a: 1, "b.c": true}``, ``_id`` implied
    unless excluded), or None for any other projection."""
    paths = []
    keep_id = True
    for key, value in projection.items():
        if type(value) is bool or isinstance(value, (int, float, Int64)):
            truthy = bool(value)
        else:
            return None
        if "$" in key:
            return None
        if key == "_id":
            keep_id = truthy
            continue
        if not truthy:
            return None
        paths.append(key)
    if not paths:
        return None
    return paths + (["_id"] if keep_id else [])


_ROOT_SIZE = ({"$bsonSize": "$$ROOT"}, {"$bsonSize": "$$CURRENT"})


def _root_size_fields(projection: dict | None) -> tuple[dict, list[str]]:
    """``projection`` split into the rest and the names of its top-level fields computed as
    ``{$bsonSize: "$$ROOT"}`` — the stored document's length, with no decoding — when the rest
    is a plain inclusion projection (then those computed fields come last, in projection
    order, as the projection would add them); otherwise ``(projection, [])``."""
    if not projection:
        return projection or {}, []
    names = [name for name, value in projection.items()
             if value in _ROOT_SIZE and type(value) is dict and "." not in name and not name.startswith("$")
             and name != "_id"]
    if not names:
        return projection, []
    rest = {name: value for name, value in projection.items() if name not in names}
    if _inclusion_paths(rest) is None:
        return projection, []
    return rest, names


def _loader(projection: dict | None, filter_: dict, sort: dict | None) -> Callable[[bytes], dict]:
    """How to decode a candidate: only the paths that the filter, the sort and an inclusion
    projection read (a small part of a large document), or the whole document when one of
    them may read anything. Without a projection the decoded document only serves to match
    and sort: the stored bytes are what goes out."""
    reads = _filter_paths(filter_) if filter_ else []
    if reads is None:
        return decode
    wanted: list[str] = []
    if projection:
        inclusion = _inclusion_paths(projection)
        if inclusion is None:
            return decode
        wanted = inclusion
    paths = wanted + reads + (list(sort) if sort else [])
    if not paths:
        return decode
    trie = path_trie(paths)
    return lambda raw: decode(prune(raw, trie)) if len(raw) > _PRUNE_FROM else decode(raw)


# Pruning walks the elements in Python, decoding runs in C: below this size (a Features
# document of ~100 numbers is 1-2 KB) decoding the whole document is faster (measured:
# 3x on an 841-byte document; pruning is 40x faster on a 70 KB history).
_PRUNE_FROM = 8192


def _sort_spec(sort: Any) -> dict | None:
    if sort is None or sort == {}:
        return None
    if not isinstance(sort, dict):
        raise StoreError(errors.TYPE_MISMATCH, "Expected field sortto be of type object")
    return sort


def _id_order(sort: dict | None) -> bool | None:
    """For a sort by ``_id`` alone: True if descending, False if ascending; None otherwise."""
    if sort is None or len(sort) != 1 or "_id" not in sort:
        return None
    direction = sort["_id"]
    if type(direction) is bool or not isinstance(direction, (int, float, Int64)) or direction not in (1, -1):
        return None
    return direction == -1


def validate_request(filter_: dict | None = None, *, projection: dict | None = None, sort: dict | None = None,
                     updater: "_Updater | None" = None, collation: Collation | None = None,
                     variables: dict | None = None) -> None:
    """Parse the parts of a request that a command would otherwise only parse on meeting a
    document: the filter, projection, sort and update (StoreError with MongoDB's code when
    one is invalid; nothing otherwise).

    MongoDB parses a whole request before it reads any data, so an invalid request fails even
    on a collection that does not exist or when nothing matches; the commands call this on
    those paths, with the collation and variables the data path would use."""
    query, _ = _pure()
    if filter_:
        query.compile_filter(filter_, collation, variables)
    if projection:
        query.compile_projection(projection, collation=collation, variables=variables)
    if sort is not None:
        query.compile_sort(sort, collation)
    if updater is not None:
        updater.validate()


def find_documents(engine: Engine, db: str, coll: Collection | None, filter_: dict, *, projection: dict | None,
                   sort: dict | None, skip: int, limit: int, collation: Collation | None,
                   variables: dict | None) -> Iterator[bytes]:
    """The raw result documents of a ``find`` (lazy unless a sort needs them all)."""
    if coll is None:
        validate_request(filter_, projection=projection, sort=sort, collation=collation, variables=variables)
        return iter(())
    if coll.is_view:
        return (encode(d) for d in view_documents(engine, db, coll, _find_stages(filter_, sort, skip, limit, projection),
                                                  collation, variables))
    session = engine.store.read(db)
    query, _ = _pure()
    shape = query.compile_projection(projection, collation=collation, variables=variables) if projection else None
    projection, size_fields = _root_size_fields(projection)
    if size_fields:  # the rest is a plain inclusion: decode only its paths, sizes from the bytes
        shape = _with_root_sizes(query.compile_projection(projection, collation=collation, variables=variables),
                                 size_fields)
    load = _loader(projection, filter_, sort)
    id_desc = _id_order(sort) if collation is None else None
    if sort is not None and id_desc is None:
        key = query.compile_sort(sort, collation)
        top = _top_by_index(session, coll, filter_, sort) if limit == 1 and not skip and collation is None else None
        source = session.get_many(coll, top) if top is not None else None
        rows = ((raw, doc if doc is not None else load(raw))
                for _, raw, doc in matching(session, coll, filter_, collation, variables, load=load,
                                            source=source))
        if key is None:
            ordered = list(rows)
        elif limit:  # only the first skip + limit are kept in memory (as stable as a sort)
            ordered = heapq.nsmallest(skip + limit, rows, key=lambda row: key(row[1]))
        else:
            ordered = sorted(rows, key=lambda row: key(row[1]))
        results: Iterator[tuple[bytes, dict | None]] = iter(ordered)
    else:
        results = ((raw, doc) for _, raw, doc in
                   matching(session, coll, filter_, collation, variables, reverse=bool(id_desc), load=load))
    if skip or limit:
        results = itertools.islice(results, skip, skip + limit if limit else None)
    if shape is None:
        return (raw for raw, _ in results)
    if size_fields:
        return (encode(shape(doc if doc is not None else load(raw), raw)) for raw, doc in results)
    return (encode(shape(doc if doc is not None else load(raw), filter_)) for raw, doc in results)


def _with_root_sizes(shape: Callable[..., dict], names: list[str]) -> Callable[[dict, bytes], dict]:
    """``shape`` (an inclusion projection) followed by the fields ``names`` set to the length
    of the stored document ``raw`` (what ``$bsonSize`` of ``$$ROOT`` gives: the stored bytes
    are the document's BSON)."""
    def project(doc: dict, raw: bytes) -> dict:
        out = shape(doc)
        for name in names:
            out[name] = len(raw)
        return out
    return project


def view_documents(engine: Engine, db: str, view: Collection, extra: list, collation: Collation | None,
                   variables: dict | None) -> Iterator[dict]:
    """The documents of ``view`` (views on views resolved) through the ``extra`` stages."""
    from .aggregate import run_pipeline
    pipeline = list(extra)
    coll: Collection | None = view
    for _ in range(21):
        if coll is None or not coll.is_view:
            break
        pipeline = list(coll.options.get("pipeline") or []) + pipeline
        coll = _read_collection(engine, db, coll.options["viewOn"])
    else:
        raise StoreError(errors.BAD_VALUE, f"View depth too deep or view cycle detected; maximum depth is 20")
    docs: Iterable[dict] = () if coll is None else (decode(raw) for _, raw in engine.store.read(db).scan(coll))
    return run_pipeline(docs, pipeline, _PipelineContext(engine, db), collation=collation, variables=variables)


def _find_stages(filter_: dict, sort: dict | None, skip: int, limit: int, projection: dict | None) -> list[dict]:
    """The aggregation stages that a ``find`` on a view runs (MongoDB rewrites it the same way)."""
    stages: list[dict] = []
    if filter_:
        stages.append({"$match": filter_})
    if sort:
        stages.append({"$sort": sort})
    if skip:
        stages.append({"$skip": skip})
    if limit:
        stages.append({"$limit": limit})
    if projection:
        stages.append({"$project": projection})
    return stages


# --- handshake and administration ------------------------------------------------------------

_NO_AUTH = {"hello", "isMaster", "ismaster", "saslStart", "saslContinue", "logout", "ping", "buildInfo",
            "buildinfo", "endSessions"}
_CASE_FREE = {"ismaster", "buildinfo"}


def cmd_hello(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    reply = {
        "helloOk": True,
        "isWritablePrimary": True,
        "maxBsonObjectSize": MAX_BSON_SIZE,
        "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
        "maxWriteBatchSize": MAX_WRITE_BATCH,
        "localTime": datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None),
        "logicalSessionTimeoutMinutes": 30,
        "connectionId": client.connection_id,
        "minWireVersion": 0,
        "maxWireVersion": 21,
        "readOnly": False,
        "ok": 1.0,
    }
    if next(iter(cmd)) != "hello":
        reply = {"ismaster": True, **{k: v for k, v in reply.items() if k != "isWritablePrimary"}}
    if "saslSupportedMechs" in cmd and engine.credentials is not None:
        reply["saslSupportedMechs"] = ["SCRAM-SHA-256"]
    return reply


def cmd_ping(engine, db, cmd, client) -> dict:
    return {"ok": 1.0}


def cmd_build_info(engine, db, cmd, client) -> dict:
    return {"version": "7.0.0", "gitVersion": "sf-store", "versionArray": [7, 0, 0, 0], "bits": 64,
            "debug": False, "maxBsonObjectSize": MAX_BSON_SIZE, "modules": [], "allocator": "system",
            "javascriptEngine": "none", "sysInfo": "deprecated", "storageEngines": ["sqlite"],
            "openssl": {"running": "disabled", "compiled": "disabled"}, "ok": 1.0}


def cmd_get_parameter(engine, db, cmd, client) -> dict:
    params = {"featureCompatibilityVersion": {"version": "7.0"}, "authenticationMechanisms": ["SCRAM-SHA-256"],
              "requireApiVersion": False}
    reply: dict = {}
    if cmd["getParameter"] == "*":
        reply.update(params)
    else:
        for key in cmd:
            if key in params:
                reply[key] = params[key]
            elif key not in GENERIC_FIELDS and key != "getParameter":
                raise StoreError(errors.INVALID_OPTIONS, "no option found to get")
    reply["ok"] = 1.0
    return reply


def cmd_get_cmd_line_opts(engine, db, cmd, client) -> dict:
    return {"argv": ["sf-store"], "parsed": {"storage": {"dbPath": str(engine.store.data_dir)}}, "ok": 1.0}


def cmd_host_info(engine, db, cmd, client) -> dict:
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return {"system": {"currentTime": now, "hostname": socket.gethostname(), "cpuAddrSize": 64,
                       "numCores": os.cpu_count() or 1, "cpuArch": platform.machine()},
            "os": {"type": platform.system(), "name": platform.platform()}, "extra": {}, "ok": 1.0}


def cmd_server_status(engine, db, cmd, client) -> dict:
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    uptime = time.time() - _START
    return {"host": socket.gethostname(), "version": "7.0.0", "process": "mongod", "pid": Int64(os.getpid()),
            "uptime": float(int(uptime)), "uptimeMillis": Int64(int(uptime * 1000)), "localTime": now,
            "connections": {"current": 1}, "storageEngine": {"name": "sqlite"}, "ok": 1.0}


def cmd_connection_status(engine, db, cmd, client) -> dict:
    users = [{"user": client.user, "db": "admin"}] if client.user else []
    roles = [{"role": "root", "db": "admin"}] if client.user else []
    return {"authInfo": {"authenticatedUsers": users, "authenticatedUserRoles": roles}, "ok": 1.0}


def cmd_get_log(engine, db, cmd, client) -> dict:
    if cmd["getLog"] == "*":
        return {"names": ["global", "startupWarnings"], "ok": 1.0}
    return {"totalLinesWritten": 0, "log": [], "ok": 1.0}


def cmd_whatsmyuri(engine, db, cmd, client) -> dict:
    return {"you": client.peer, "ok": 1.0}


def cmd_ok(engine, db, cmd, client) -> dict:
    return {"ok": 1.0}


def cmd_end_sessions(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    for lsid in cmd.get(next(iter(cmd))) or []:
        if isinstance(lsid, dict) and "id" in lsid:
            engine._sessions.pop(bytes(lsid["id"]), None)
    return {"ok": 1.0}


def cmd_logout(engine, db, cmd, client) -> dict:
    if engine.credentials is not None:
        client.authenticated = False
        client.user = None
    return {"ok": 1.0}


def cmd_sasl_start(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    if engine._scram_auth is None:
        raise StoreError(errors.AUTHENTICATION_FAILED, "Authentication is not enabled on this server")
    if cmd.get("mechanism") != "SCRAM-SHA-256":
        raise StoreError(errors.BAD_VALUE, f"Unsupported mechanism {cmd.get('mechanism')!r}: "
                                           f"this server supports SCRAM-SHA-256")
    options = cmd.get("options") if isinstance(cmd.get("options"), dict) else {}
    client.sasl = engine._scram_auth.start(bool(options.get("skipEmptyExchange")))
    client.sasl_id += 1
    payload = client.sasl.step(bytes(cmd.get("payload", b"")))
    return {"conversationId": client.sasl_id, "done": False, "payload": payload, "ok": 1.0}


def cmd_sasl_continue(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    conversation = client.sasl
    if conversation is None or cmd.get("conversationId") != client.sasl_id:
        raise StoreError(errors.AUTHENTICATION_FAILED, "No SASL session state found")
    payload = conversation.step(bytes(cmd.get("payload", b"")))
    if conversation.done:
        client.authenticated = True
        client.user = conversation.user
        client.sasl = None
    return {"conversationId": client.sasl_id, "done": conversation.done, "payload": payload, "ok": 1.0}


def cmd_list_databases(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    _unknown_fields("listDatabases", cmd, {"filter", "nameOnly", "authorizedDatabases"})
    entries = []
    for name in engine.store.database_names():
        size = engine.store.size_on_disk(name)
        entries.append({"name": name, "sizeOnDisk": Int64(size), "empty": False})
    if cmd.get("filter"):
        query, _ = _pure()
        match = query.compile_filter(cmd["filter"])
        entries = [e for e in entries if match(e)]
    if cmd.get("nameOnly"):
        return {"databases": [{"name": e["name"]} for e in entries], "ok": 1.0}
    total = sum(int(e["sizeOnDisk"]) for e in entries)
    return {"databases": entries, "totalSize": Int64(total), "totalSizeMb": Int64(total // (1024 * 1024)), "ok": 1.0}


def cmd_drop_database(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    if not engine.store.exists(db):
        return {"ok": 1.0}
    with engine.store.write(db) as session:
        for name in session.collection_names():
            session.drop_collection(name)
    return {"ok": 1.0}


def _writable(session: Session, name: str) -> Collection | None:
    """The collection ``name`` for a write or index command (None if missing; 166 for a view)."""
    coll = session.collection(name)
    if coll is not None and coll.is_view:
        raise view_error(coll)
    return coll


def _collection_info(coll: Collection) -> dict:
    if coll.is_view:
        return {"name": coll.name, "type": "view", "options": coll.options, "info": {"readOnly": True}}
    return {"name": coll.name, "type": "collection", "options": coll.options,
            "info": {"readOnly": False, "uuid": bson.Binary(uuid.UUID(coll.tbl[2:]).bytes, 4)},
            "idIndex": ID_INDEX_SPEC}


def cmd_list_collections(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    _unknown_fields("listCollections", cmd, {"filter", "nameOnly", "authorizedCollections", "cursor"})
    infos = []
    if engine.store.exists(db):
        session = engine.store.read(db)
        for name in session.collection_names():
            coll = session.collection(name)
            if coll is not None:
                infos.append(_collection_info(coll))
    filter_ = _doc_arg(cmd, "filter")
    if filter_:
        query, _ = _pure()
        match = query.compile_filter(filter_)
        infos = [i for i in infos if match(i)]
    if cmd.get("nameOnly"):
        infos = [{"name": i["name"], "type": i["type"]} for i in infos]
    batch = (cmd.get("cursor") or {}).get("batchSize")
    return engine.open_cursor(f"{db}.$cmd.listCollections", (encode(i) for i in infos),
                              None if batch is None else _number(batch, "batchSize"), False)


def cmd_create(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    name = _collection_name("create", cmd)
    options = {k: v for k, v in cmd.items() if k != "create" and k not in GENERIC_FIELDS}
    if "viewOn" in options:
        view_on, pipeline = options.pop("viewOn"), options.pop("pipeline", [])
        if not isinstance(view_on, str) or not view_on:
            raise StoreError(errors.TYPE_MISMATCH, "'viewOn' must be a non-empty string")
        if not isinstance(pipeline, list):
            raise StoreError(errors.TYPE_MISMATCH, "'pipeline' must be an array")
        if options:
            raise not_supported(f"create option(s) {sorted(options)} of a view")
        from .aggregate import compile_pipeline
        compile_pipeline(pipeline)  # an invalid pipeline fails now, as in MongoDB
        with engine.store.write(db) as session:
            session.create_view(name, view_on, pipeline)
        return {"ok": 1.0}
    unsupported = set(options) - {"idIndex", "storageEngine", "indexOptionDefaults"}
    if unsupported:
        raise not_supported(f"create option(s) {sorted(unsupported)}")
    with engine.store.write(db) as session:
        session.create_collection(name, {})
    return {"ok": 1.0}


def cmd_drop(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    name = _collection_name("drop", cmd)
    if not engine.store.exists(db):
        return {"ok": 1.0}
    with engine.store.write(db) as session:
        coll = session.collection(name)
        if coll is None:
            return {"ok": 1.0}
        n = len(coll.indexes) + 1
        session.drop_collection(name)
    if coll.is_view:
        return {"ok": 1.0}
    return {"nIndexesWas": n, "ns": f"{db}.{name}", "ok": 1.0}


def cmd_rename_collection(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    if db != "admin":
        raise StoreError(errors.UNAUTHORIZED, "renameCollection may only be run against the admin database.")
    source, target = cmd["renameCollection"], cmd.get("to")
    if not isinstance(source, str) or not isinstance(target, str) or "." not in source or "." not in target:
        raise StoreError(errors.INVALID_NAMESPACE, "Invalid namespace specified")
    sdb, _, sname = source.partition(".")
    tdb, _, tname = target.partition(".")
    if sdb != tdb:
        raise not_supported("renameCollection across databases")
    with engine.store.write(sdb) as session:
        source_coll = session.collection(sname)
        if source_coll is None:
            raise StoreError(errors.NAMESPACE_NOT_FOUND, "source namespace does not exist")
        if source_coll.is_view:
            raise view_error(source_coll)
        if session.collection(tname) is not None:
            if not cmd.get("dropTarget"):
                raise StoreError(errors.NAMESPACE_EXISTS, "target namespace exists")
            session.drop_collection(tname)
        session.rename_collection(sname, tname)
    return {"ok": 1.0}


def cmd_coll_mod(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    name = _collection_name("collMod", cmd)
    options = {k for k in cmd if k != "collMod" and k not in GENERIC_FIELDS}
    if options:
        raise not_supported(f"collMod option(s) {sorted(options)}")
    session = engine.store.read(db)
    if not engine.store.exists(db) or session.collection(name) is None:
        raise StoreError(errors.NAMESPACE_NOT_FOUND, f"ns does not exist: {db}.{name}")
    return {"ok": 1.0}


def cmd_list_indexes(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    name = _collection_name("listIndexes", cmd)
    _unknown_fields("listIndexes", cmd, {"cursor"})
    coll = engine.store.read(db).collection(name) if engine.store.exists(db) else None
    if coll is None:
        raise StoreError(errors.NAMESPACE_NOT_FOUND, f"ns does not exist: {db}.{name}")
    if coll.is_view:
        raise view_error(coll)
    specs = [ID_INDEX_SPEC] + [i.spec for i in coll.indexes]
    batch = (cmd.get("cursor") or {}).get("batchSize")
    return engine.open_cursor(f"{db}.{name}", (encode(s) for s in specs),
                              None if batch is None else _number(batch, "batchSize"), False)


_INDEX_OPTIONS = {"key", "name", "unique", "sparse", "partialFilterExpression", "v", "background", "ns"}


def _index_spec(spec: Any) -> dict:
    if not isinstance(spec, dict) or not isinstance(spec.get("key"), dict) or not spec["key"]:
        raise StoreError(errors.FAILED_TO_PARSE, "The 'key' field is a required property of an index specification")
    unknown = set(spec) - _INDEX_OPTIONS
    if unknown:
        raise not_supported(f"index option(s) {sorted(unknown)}")
    for path, direction in spec["key"].items():
        if path == "$**" or path.endswith(".$**"):
            raise not_supported("wildcard indexes")
        if type(direction) is bool or not isinstance(direction, (int, float, Int64)) or direction == 0:
            raise not_supported(f"index type {direction!r} (only ascending/descending indexes)")
        if not path or path.startswith("$"):
            raise StoreError(errors.BAD_VALUE, f"bad index key pattern {spec['key']}")
    if not isinstance(spec.get("name"), str):
        raise StoreError(errors.FAILED_TO_PARSE, "The 'name' field is a required property of an index specification")
    out = {"v": 2, "key": spec["key"], "name": spec["name"]}
    for option in ("unique", "sparse", "partialFilterExpression"):
        if option in spec:
            out[option] = spec[option]
    if out.get("unique") is False:
        del out["unique"]
    if out.get("sparse") is False:
        del out["sparse"]
    return out


def cmd_create_indexes(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    name = _collection_name("createIndexes", cmd)
    _unknown_fields("createIndexes", cmd, {"indexes", "commitQuorum"})
    specs = cmd.get("indexes")
    if not isinstance(specs, list) or not specs:
        raise StoreError(errors.BAD_VALUE, "Must specify at least one index to create")
    parsed = [_index_spec(s) for s in specs]
    with engine.store.write(db) as session:
        coll = _writable(session, name)
        created_collection = coll is None
        if coll is None:
            coll = session.create_collection(name)
        before = len(coll.indexes) + 1
        created = 0
        for spec in parsed:
            if list(spec["key"].items()) == [("_id", 1)] and spec["name"] == "_id_":
                continue
            if spec["name"] == "_id_":
                raise StoreError(errors.BAD_VALUE, "The index name '_id_' is reserved for the _id index")
            created += session.create_index(coll, spec)
    reply = {"numIndexesBefore": before, "numIndexesAfter": before + created,
             "createdCollectionAutomatically": created_collection, "ok": 1.0}
    if not created:
        reply["note"] = "all indexes already exist"
    return reply


def cmd_drop_indexes(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    name = _collection_name("dropIndexes", cmd)
    target = cmd.get("index")
    with engine.store.write(db) as session:
        coll = _writable(session, name)
        if coll is None:
            raise StoreError(errors.NAMESPACE_NOT_FOUND, f"ns not found {db}.{name}")
        before = len(coll.indexes) + 1
        if target == "*":
            for index in list(coll.indexes):
                session.drop_index(coll, index.name)
        else:
            names = target if isinstance(target, list) else [target]
            for item in names:
                if isinstance(item, dict):
                    found = [i.name for i in coll.indexes if list(i.spec["key"].items()) == list(item.items())]
                    if not found:
                        if list(item.items()) == [("_id", 1)]:
                            raise StoreError(errors.INVALID_OPTIONS, "cannot drop _id index")
                        raise StoreError(errors.INDEX_NOT_FOUND, f"can't find index with key: {item}")
                    item = found[0]
                if item == "_id_":
                    raise StoreError(errors.INVALID_OPTIONS, "cannot drop _id index")
                if not isinstance(item, str):
                    raise StoreError(errors.TYPE_MISMATCH, "index must be a string, object or array")
                session.drop_index(coll, item)
    return {"nIndexesWas": before, "ok": 1.0}


def _stats(session: Session, coll: Collection) -> tuple[int, int]:
    return session.count(coll), session.data_size(coll)


def cmd_db_stats(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    collections = views = objects = data = indexes = 0
    if engine.store.exists(db):
        session = engine.store.read(db)
        for name in session.collection_names():
            coll = session.collection(name)
            if coll is None:
                continue
            if coll.is_view:
                views += 1
                continue
            n, size = _stats(session, coll)
            collections += 1
            objects += n
            data += size
            indexes += len(coll.indexes) + 1
    storage = engine.store.size_on_disk(db) if engine.store.exists(db) else 0
    return {"db": db, "collections": collections, "views": views, "objects": objects,
            "avgObjSize": (data / objects) if objects else 0.0, "dataSize": float(data),
            "storageSize": float(storage), "indexes": indexes, "indexSize": 0.0, "totalSize": float(storage),
            "scaleFactor": 1.0, "ok": 1.0}


def cmd_coll_stats(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    name = _collection_name("collStats", cmd)
    coll = engine.store.read(db).collection(name) if engine.store.exists(db) else None
    if coll is None:
        raise StoreError(errors.NAMESPACE_NOT_FOUND, f"Collection [{db}.{name}] not found.")
    if coll.is_view:
        raise view_error(coll)
    n, size = _stats(engine.store.read(db), coll)
    return {"ns": coll.ns, "count": n, "size": size, "avgObjSize": (size // n) if n else 0,
            "storageSize": size, "nindexes": len(coll.indexes) + 1, "totalIndexSize": 0,
            "indexSizes": {i: 0 for i in ["_id_"] + [x.name for x in coll.indexes]}, "ok": 1.0}


def cmd_explain(engine, db, cmd, client) -> dict:
    raise not_supported("explain")


# --- reads -----------------------------------------------------------------------------------

_FIND_FIELDS = {"filter", "projection", "sort", "skip", "limit", "batchSize", "singleBatch", "hint", "collation",
                "let", "min", "max", "returnKey", "showRecordId", "tailable", "awaitData", "oplogReplay",
                "noCursorTimeout", "allowPartialResults", "allowDiskUse", "readOnce", "$_requestResumeToken"}


def _read_collection(engine: Engine, db: str, name: str) -> Collection | None:
    if not engine.store.exists(db):
        return None
    return engine.store.read(db).collection(name)


def cmd_find(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    name = _collection_name("find", cmd)
    _unknown_fields("find", cmd, _FIND_FIELDS)
    for option in ("min", "max", "returnKey", "showRecordId", "tailable", "awaitData", "oplogReplay"):
        if cmd.get(option):
            raise not_supported(f"find option '{option}'")
    filter_ = _doc_arg(cmd, "filter") or {}
    projection = _doc_arg(cmd, "projection")
    sort = _sort_spec(cmd.get("sort"))
    skip = _number(cmd.get("skip", 0), "skip")
    limit = _number(cmd.get("limit", 0), "limit")
    if skip < 0:
        raise StoreError(51024, f"BSON field 'skip' value must be >= 0, actual value '{skip}'")
    if limit < 0:
        raise StoreError(51024, f"BSON field 'limit' value must be >= 0, actual value '{limit}'")
    batch = cmd.get("batchSize")
    first = DEFAULT_FIRST_BATCH if batch is None else _number(batch, "batchSize")
    if first < 0:
        raise StoreError(51024, f"BSON field 'batchSize' value must be >= 0, actual value '{first}'")
    if limit and first > limit:
        first = limit
    collation = _collation(cmd)
    coll = _read_collection(engine, db, name)
    _check_hint(coll, cmd.get("hint"))
    source = find_documents(engine, db, coll, filter_, projection=projection, sort=sort, skip=skip, limit=limit,
                            collation=collation, variables=cmd.get("let"))
    return engine.open_cursor(f"{db}.{name}", source, first, bool(cmd.get("singleBatch")))


def cmd_get_more(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    cursor_id = cmd["getMore"]
    if not isinstance(cursor_id, Int64):
        raise StoreError(errors.TYPE_MISMATCH, "Field 'getMore' must be of type long in: getMore")
    name = cmd.get("collection")
    if not isinstance(name, str):
        raise StoreError(errors.TYPE_MISMATCH, "BSON field 'getMore.collection' is missing or not a string")
    batch = cmd.get("batchSize")
    count = None if batch is None else _number(batch, "batchSize")
    if count is not None and count <= 0:
        count = None
    with engine._cursors_lock:
        cursor = engine._cursors.get(int(cursor_id))
    if cursor is None:
        raise StoreError(errors.CURSOR_NOT_FOUND, f"cursor id {int(cursor_id)} not found")
    if cursor.ns != f"{db}.{name}" and not cursor.ns.startswith(f"{db}.$cmd"):
        raise StoreError(errors.UNAUTHORIZED, f"Requested getMore on namespace '{db}.{name}', but cursor "
                                              f"belongs to a different namespace {cursor.ns}")
    with cursor.lock:
        try:
            docs, more = cursor.batch(count)
        except BaseException:
            with engine._cursors_lock:
                engine._cursors.pop(cursor.id, None)
            raise
        cursor.last_used = time.monotonic()
    if not more:
        with engine._cursors_lock:
            engine._cursors.pop(cursor.id, None)
    return {"cursor": {"nextBatch": _raw_list(docs), "id": Int64(cursor.id if more else 0), "ns": cursor.ns},
            "ok": 1.0}


def cmd_kill_cursors(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    killed, missing = [], []
    for cid in cmd.get("cursors") or []:
        with engine._cursors_lock:
            cursor = engine._cursors.pop(int(cid), None)
        (killed if cursor is not None else missing).append(Int64(int(cid)))
    return {"cursorsKilled": killed, "cursorsNotFound": missing, "cursorsAlive": [], "cursorsUnknown": [],
            "ok": 1.0}


def cmd_count(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    name = _collection_name("count", cmd)
    _unknown_fields("count", cmd, {"query", "limit", "skip", "hint", "collation", "fields"})
    filter_ = _doc_arg(cmd, "query") or {}
    skip = _number(cmd.get("skip", 0), "skip")
    limit = abs(_number(cmd.get("limit", 0), "limit"))
    if skip < 0:
        raise StoreError(errors.BAD_VALUE, "skip value is negative in count query")
    coll = _read_collection(engine, db, name)
    _check_hint(coll, cmd.get("hint"))
    if coll is None:
        validate_request(filter_, collation=_collation(cmd))
        return {"n": 0, "ok": 1.0}
    session = engine.store.read(db)
    if coll.is_view:
        n = sum(1 for _ in view_documents(engine, db, coll, _find_stages(filter_, None, 0, 0, None),
                                          _collation(cmd), None))
    elif not filter_:
        n = session.count(coll)
    else:
        n = sum(1 for _ in matching(session, coll, filter_, _collation(cmd), None, load=_loader(None, filter_, None)))
    n = max(0, n - skip)
    if limit:
        n = min(n, limit)
    return {"n": n, "ok": 1.0}


def cmd_distinct(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    name = _collection_name("distinct", cmd)
    _unknown_fields("distinct", cmd, {"key", "query", "collation", "hint"})
    key = cmd.get("key")
    if not isinstance(key, str):
        raise StoreError(errors.TYPE_MISMATCH, "BSON field 'distinct.key' is missing or not a string")
    filter_ = _doc_arg(cmd, "query") or {}
    collation = _collation(cmd)
    coll = _read_collection(engine, db, name)
    _check_hint(coll, cmd.get("hint"))
    # MongoDB collects distinct values in a set ordered by BSON comparison (under the
    # collation), so they come back sorted: keep them by their order-preserving key.
    by_key: dict = {}
    if coll is None:
        validate_request(filter_, collation=collation)
    else:
        query, _ = _pure()
        if coll.is_view:
            docs: Iterable[dict] = view_documents(engine, db, coll, _find_stages(filter_, None, 0, 0, None),
                                                  collation, None)
        else:
            reads = _filter_paths(filter_)
            trie = path_trie([key] + reads) if reads is not None else None
            load = (lambda raw: decode(prune(raw, trie))) if trie is not None else decode
            docs = (doc if doc is not None else load(raw)
                    for _, raw, doc in matching(engine.store.read(db), coll, filter_, collation, None, load=load))
        for doc in docs:
            for value in query.get_path_values(doc, key):
                items = value if isinstance(value, list) else [value]
                for item in items:
                    by_key.setdefault(_distinct_key(item, collation), item)
    return {"values": [by_key[k] for k in sorted(by_key)], "ok": 1.0}


def _distinct_key(value: Any, collation: Collation | None) -> bytes:
    if collation is not None:
        from .bsonorder import sort_key
        return sort_key(value, collation)
    return encode_key(value)


def cmd_aggregate(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    target = cmd["aggregate"]
    _unknown_fields("aggregate", cmd, {"pipeline", "cursor", "explain", "allowDiskUse", "collation", "let", "hint",
                                       "bypassDocumentValidation", "fromMongos", "needsMerge"})
    if cmd.get("explain"):
        raise not_supported("aggregate with explain")
    pipeline = cmd.get("pipeline")
    if not isinstance(pipeline, list):
        raise StoreError(errors.TYPE_MISMATCH, "'pipeline' option must be specified as an array")
    if "cursor" not in cmd:
        raise StoreError(errors.FAILED_TO_PARSE,
                         "The 'cursor' option is required, except for aggregate with the explain argument")
    cursor_opts = cmd["cursor"]
    if not isinstance(cursor_opts, dict):
        raise StoreError(errors.TYPE_MISMATCH, "cursor field must be missing or an object")
    batch = cursor_opts.get("batchSize")
    first = DEFAULT_FIRST_BATCH if batch is None else _number(batch, "batchSize")
    collation = _collation(cmd)
    from .aggregate import run_pipeline
    ctx = _PipelineContext(engine, db)
    view = None
    if target == 1 or (isinstance(target, float) and target == 1):
        docs: Iterable[dict] = iter(())
        ns = f"{db}.$cmd.aggregate"
        if pipeline and isinstance(pipeline[0], dict) and "$listLocalSessions" in pipeline[0]:
            # server state, so answered here: the sessions this server has seen
            spec = pipeline[0]["$listLocalSessions"]
            if not isinstance(spec, dict) or set(spec) - {"allUsers", "users"}:
                raise StoreError(errors.BAD_VALUE, "$listLocalSessions takes {allUsers: bool} or {users: [...]}")
            docs, pipeline = ctx.local_sessions(), pipeline[1:]
    else:
        name = _collection_name("aggregate", cmd)
        ns = f"{db}.{name}"
        coll = _read_collection(engine, db, name)
        _check_hint(coll, cmd.get("hint"))
        first_match = pipeline[0].get("$match") if pipeline and isinstance(pipeline[0], dict) else None
        if coll is None:
            docs = iter(())
        elif coll.is_view:
            view, docs = coll, iter(())
        elif isinstance(first_match, dict) and "$expr" not in first_match:
            # the first $match only narrows the candidates; run_pipeline applies it again
            docs = (decode(raw) for _, raw in candidates(engine.store.read(db), coll, first_match, collation))
        else:
            docs = (decode(raw) for _, raw in engine.store.read(db).scan(coll))
    writes = any(isinstance(s, dict) and ("$out" in s or "$merge" in s) for s in pipeline)
    if view is not None:
        results = view_documents(engine, db, view, pipeline, collation, cmd.get("let"))
    else:
        results = run_pipeline(docs, pipeline, ctx, collation=collation, variables=cmd.get("let"))
    if writes:
        list(results)
        return engine.open_cursor(ns, iter(()), first, False)
    return engine.open_cursor(ns, (encode(d) for d in results), first, False)


# --- writes ----------------------------------------------------------------------------------

def _write_error(index: int, exc: StoreError) -> dict:
    entry = {"index": index, "code": exc.code, "errmsg": exc.message}
    details = getattr(exc, "details", None)
    if details:
        entry.update(details)
    return entry


def _write_reply(n: int, write_errors: list[dict], **extra: Any) -> dict:
    reply: dict = {"n": n, **extra}
    if write_errors:
        reply["writeErrors"] = write_errors
    reply["ok"] = 1.0
    return reply


def _statements(cmd: dict, key: str, name: str) -> list:
    items = cmd.get(key)
    if not isinstance(items, list):
        raise StoreError(errors.FAILED_TO_PARSE, f"BSON field '{name}.{key}' is missing but a required field")
    if len(items) > MAX_WRITE_BATCH:
        raise StoreError(errors.INVALID_OPTIONS, f"Write batch sizes must be between 1 and {MAX_WRITE_BATCH}. "
                                                 f"Got {len(items)} operations.")
    return items


class _savepoint:
    """A nested savepoint: one statement of a write command is atomic on its own."""

    __slots__ = ("session", "name")

    def __init__(self, session: Session, name: str) -> None:
        self.session, self.name = session, name

    def __enter__(self) -> None:
        self.session.conn.execute(f"SAVEPOINT {self.name}")

    def __exit__(self, exc_type, exc, tb) -> bool:
        conn = self.session.conn
        if exc_type is not None:
            if not conn.in_transaction:  # SQLite rolled the whole transaction back (disk full, I/O error)
                return False
            conn.execute(f"ROLLBACK TO {self.name}")
        conn.execute(f"RELEASE {self.name}")
        return False


def cmd_insert(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    name = _collection_name("insert", cmd)
    _unknown_fields("insert", cmd, {"documents", "ordered", "bypassDocumentValidation"})
    raws = _statements(cmd, "documents", "insert")
    ordered = cmd.get("ordered", True)
    write_errors: list[dict] = []
    prepared: list[tuple[int, Any, bytes, dict | None]] = []
    for i, raw in enumerate(raws):
        try:
            if not isinstance(raw, bytes):
                raise StoreError(errors.TYPE_MISMATCH, "documents to insert must be objects")
            doc_id, data, doc = prepare_insert(raw)
            prepared.append((i, doc_id, data, doc))
        except StoreError as exc:
            write_errors.append(_write_error(i, exc))
            if ordered:
                break
    n = 0
    with engine.store.write(db) as session:
        coll = session.ensure_collection(name)
        todo = prepared
        if ordered and write_errors:
            todo = [p for p in prepared if p[0] < write_errors[0]["index"]]
        if todo and not any(index.unique for index in coll.indexes):
            try:
                with _savepoint(session, "bulk"):
                    session.insert_many(coll, [(doc_id, data, doc) for _, doc_id, data, doc in todo])
                n = len(todo)
                todo = []
            except (sqlite3.IntegrityError, StoreError):
                pass  # a duplicate or unindexable document somewhere: redo one by one to find it
        for i, doc_id, data, doc in todo:
            try:
                with _savepoint(session, "doc"):
                    session.insert(coll, doc_id, data, doc)
                n += 1
            except StoreError as exc:
                write_errors.append(_write_error(i, exc))
                if ordered:
                    break
    write_errors.sort(key=lambda e: e["index"])
    if ordered and len(write_errors) > 1:
        write_errors = write_errors[:1]
    return _write_reply(n, write_errors)


def _same_id(a: Any, b: Any) -> bool:
    return encode_key(a) == encode_key(b)


class _Updater:
    """One statement of an ``update`` (or the update part of ``findAndModify``)."""

    def __init__(self, spec: Any, array_filters: Any, collation: Collation | None, variables: dict | None) -> None:
        _, update = _pure()
        self.update_mod = update
        self.spec = spec
        self.array_filters = array_filters
        self.collation = collation
        self.variables = variables
        if isinstance(spec, list):
            self.replacement = False
        elif isinstance(spec, dict):
            self.replacement = update.is_replacement(spec)
            if self.replacement:
                update.validate_replacement(spec)
        else:
            raise StoreError(errors.FAILED_TO_PARSE, "Update argument must be either an object or an array")
        if self.replacement and array_filters:
            raise StoreError(errors.FAILED_TO_PARSE, "arrayFilters may not be specified for replacement updates")
        self._trie: PathTrie | None | bool = False  # not computed yet

    def splice_trie(self) -> PathTrie | None:
        """The paths an operator update reads and writes, when every operator is local to its
        path (so that updating only those parts of a document is the same as updating all of
        it); None for replacements, pipelines, positional paths and unknown operators."""
        if self._trie is not False:
            return self._trie
        trie = None
        if not self.replacement and isinstance(self.spec, dict):
            paths = ["_id"]
            for op, fields in self.spec.items():
                if op not in _FIELD_LOCAL_OPERATORS or not isinstance(fields, dict):
                    paths = []
                    break
                for path, arg in fields.items():
                    if "$" in path or (op == "$rename" and (not isinstance(arg, str) or "$" in arg)):
                        paths = []
                        break
                    paths.append(path)
                    if op == "$rename":
                        paths.append(arg)
                if not paths:
                    break
            trie = path_trie(paths) if paths else None
        self._trie = trie
        return trie

    def validate(self) -> None:
        """Raise the parse errors of the update (those :meth:`apply` would raise on any document)."""
        self.update_mod.validate_update(self.spec, self.array_filters, self.collation)

    def apply(self, doc: dict, query: dict) -> dict:
        """The updated document (``doc`` itself when the update changes nothing)."""
        new = self.update_mod.apply_update(doc, self.spec, query=query, array_filters=self.array_filters,
                                           collation=self.collation, variables=self.variables)
        if new is not doc and ("_id" not in new or not _same_id(new["_id"], doc["_id"])):
            raise StoreError(errors.IMMUTABLE_FIELD,
                             "Performing an update on the path '_id' would modify the immutable field '_id'")
        return new

    def upsert_doc(self, query: dict) -> dict:
        """The document an upsert inserts (``_id`` first, a new ObjectId if none)."""
        seed = self.update_mod.upsert_seed(query, replacement=self.replacement)
        new = self.update_mod.apply_update(seed, self.spec, query=query, array_filters=self.array_filters,
                                           is_upsert_insert=True, collation=self.collation,
                                           variables=self.variables)
        doc_id = new.pop("_id", NO_ID)
        if doc_id is NO_ID:
            doc_id = bson.ObjectId()
        check_id(doc_id)
        return {"_id": doc_id, **new}


def _write_updated(session: Session, coll: Collection, k: bytes, raw: bytes, old: dict, new: dict
                   ) -> bytes | None:
    """Store ``new`` over ``old``: its bytes, or None (nothing written) when they are the same."""
    if new is old:
        return None
    data = encode(new)
    if data == raw:
        return None
    if len(data) > MAX_BSON_SIZE:
        raise StoreError(17419, "Resulting document after update is larger than 16777216")
    if coll.indexes:
        with _savepoint(session, "upd"):
            session.replace(coll, k, data, old, new)
    else:
        session.replace(coll, k, data, old, new)
    return data


def _upserted_bytes(doc: dict) -> bytes:
    data = encode(doc)
    if len(data) > MAX_BSON_SIZE:
        raise StoreError(17420, "Document to upsert is larger than 16777216")
    return data


def _insert_new(session: Session, coll: Collection, doc: dict) -> bytes:
    """Insert a document the store built (an upsert); returns its bytes."""
    data = _upserted_bytes(doc)
    if coll.indexes:  # the document and its index keys go in together or not at all
        with _savepoint(session, "ins"):
            session.insert(coll, doc["_id"], data, doc)
    else:
        session.insert(coll, doc["_id"], data, doc)
    return data


_FIELD_LOCAL_OPERATORS = {"$set", "$unset", "$inc", "$mul", "$min", "$max", "$currentDate", "$push", "$addToSet",
                           "$pop", "$pull", "$pullAll", "$bit", "$rename"}


def _splice_trie(coll: Collection, updater: _Updater) -> PathTrie | None:
    """The paths of an update that may be applied to the parts of documents it touches
    (:func:`.storage.splice`): a field-local operator update touching no indexed field."""
    trie = updater.splice_trie()
    if trie is None:
        return None
    # _id is immutable (an update changing it fails before writing), so the keys of an index
    # on _id paths cannot change.
    touched = {name: node for name, node in trie.items() if name != b"_id"}
    for index in coll.indexes:
        if "partialFilterExpression" in index.spec:
            return None
        if any(_touches(touched, f.split(".")) for f in index.fields):
            return None
    return trie


def _touches(trie: PathTrie, parts: list[str]) -> bool:
    """Whether an update of the paths of ``trie`` may change the values the dotted path
    ``parts`` reaches (then index keys on that path must be computed again).

    Disjoint only when, at the first component where they part, both are field names: a
    numeric component may be an array position that the other path reaches by walking
    through the array's elements (``a.0.b`` changes what ``a.b`` reaches)."""
    node: PathTrie | bool = trie
    for part in parts:
        if node is True:
            return True  # the update rewrites a value the path goes through
        assert isinstance(node, dict)
        if part.isdigit() or any(name.isdigit() for name in node):
            return True
        child = node.get(part.encode())
        if child is None:
            return False
        node = child
    return True  # the update writes inside the indexed value


def _update_spliced(session: Session, coll: Collection, k: bytes, raw: bytes, updater: _Updater, query: dict,
                    trie: PathTrie) -> bytes | None:
    """Update a stored document by decoding, updating and encoding again only the parts the
    update touches (a $set of one month in a 50 KB history re-encodes that month, not the
    history). Returns the new bytes, or None when nothing changed."""
    part = decode(prune(raw, trie))
    new = updater.apply(part, query)
    if new is part:
        return None
    data = splice(raw, new, trie)
    if data == raw:
        return None
    if len(data) > MAX_BSON_SIZE:
        raise StoreError(17419, "Resulting document after update is larger than 16777216")
    session.replace_raw(coll, k, data)
    return data


class _PointCache:
    """The documents a bulk write command addresses by ``_id``, read in a few queries up front.

    Statements of the form ``{_id: v}`` / ``{_id: {$in: [...]}}`` then find their document
    here instead of querying SQLite one by one; every write of the command goes through
    :meth:`put`, and a statement with any other filter (which may write any document)
    disables the cache for the rest of the command.
    """

    def __init__(self, coll: Collection) -> None:
        self.docs: dict[bytes, bytes | None] = {}
        self.valid = True
        # Upserted documents not written yet: inserted together (one statement per table)
        # before anything reads or writes the table otherwise, and at the end of the command.
        # Only without unique indexes, so that inserting them later cannot fail.
        self.coll = coll
        self.deferrable = not any(index.unique for index in coll.indexes)
        self.pending: list[tuple[Any, bytes, dict]] = []
        self.pending_keys: set[bytes] = set()

    def prefetch(self, session: Session, coll: Collection, keys: set[bytes]) -> None:
        self.docs = dict.fromkeys(keys)
        self.docs.update(session.get_many(coll, list(keys)))

    def lookup(self, keys: list[bytes]) -> list[tuple[bytes, bytes]] | None:
        """``(k, raw)`` of the existing documents among ``keys`` in key order; None if unknown."""
        if not self.valid:
            return None
        docs = self.docs
        if any(k not in docs for k in keys):
            return None
        return [(k, docs[k]) for k in sorted(set(keys)) if docs[k] is not None]  # type: ignore[misc]

    def put(self, k: bytes, raw: bytes) -> None:
        self.docs[k] = raw

    def insert_later(self, doc: dict) -> bytes | None:
        """Queue the upserted ``doc`` (whose ``_id`` the cache knows to be absent): its bytes,
        or None when it cannot wait (then the caller inserts it now). Its index keys are
        computed now, so that a document the indexes refuse fails its own statement."""
        if not (self.valid and self.deferrable):
            return None
        k = encode_key(doc["_id"])
        if k not in self.docs or self.docs[k] is not None:
            return None
        data = _upserted_bytes(doc)
        for index in self.coll.indexes:
            index.keys(doc)
        self.pending.append((doc["_id"], data, doc))
        self.pending_keys.add(k)
        self.put(k, data)
        return data

    def flush(self, session: Session) -> None:
        """Insert the queued documents."""
        if self.pending:
            session.insert_many(self.coll, self.pending)
            self.pending = []
            self.pending_keys = set()


_STATEMENT_FIELDS = {"q", "u", "upsert", "multi", "arrayFilters", "collation", "hint", "c", "sort"}


def _update_one_statement(session: Session, coll: Collection | None, stmt: dict, variables: dict | None,
                          cache: _PointCache | None = None) -> tuple[int, int, Any]:
    """Run one update statement: ``(matched, modified, upserted_id or NO_ID)``. ``coll`` is
    None for a collection that does not exist (then the statement must not be an upsert:
    the caller creates the collection first)."""
    _unknown_fields("update.updates", stmt, _STATEMENT_FIELDS)
    query = stmt.get("q")
    if not isinstance(query, dict):
        raise StoreError(errors.FAILED_TO_PARSE, "BSON field 'update.updates.q' is missing but a required field")
    if "sort" in stmt:
        raise not_supported("update with sort")
    collation = Collation.from_spec(stmt["collation"]) if "collation" in stmt else None
    statement_vars = variables
    if isinstance(stmt.get("c"), dict):
        statement_vars = {**(variables or {}), **stmt["c"]}
    updater = _Updater(stmt.get("u"), stmt.get("arrayFilters"), collation, statement_vars)
    multi = bool(stmt.get("multi"))
    if multi and updater.replacement:
        raise StoreError(errors.FAILED_TO_PARSE, "multi update is not supported for replacement-style update")
    if "hint" in stmt:
        _check_hint(coll, stmt["hint"])
    exact = _exact_id_keys(query, collation) if cache is not None and query else None
    rows = cache.lookup(exact) if exact is not None else None  # type: ignore[union-attr]
    targets: list[tuple[bytes, bytes, dict | None]]
    if coll is None:
        targets = []
    elif rows is not None:
        targets = [(k, raw, None) for k, raw in (rows if multi else rows[:1])]
    else:
        if cache is not None:
            cache.flush(session)
            cache.valid = False
        found = matching(session, coll, query, collation, statement_vars)
        targets = list(found) if multi else list(itertools.islice(found, 1))
    matched = modified = 0
    if cache is not None and cache.pending_keys and any(k in cache.pending_keys for k, _, _ in targets):
        cache.flush(session)
    trie = _splice_trie(coll, updater) if targets else None
    for k, raw, doc in targets:
        matched += 1
        if doc is None and trie is not None:
            data = _update_spliced(session, coll, k, raw, updater, query, trie)
        else:
            old = doc if doc is not None else decode(raw)
            new = updater.apply(old, query)
            data = _write_updated(session, coll, k, raw, old, new)
        if data is not None:
            modified += 1
            if cache is not None:
                cache.put(k, data)
    upsert = bool(stmt.get("upsert"))
    if not matched:
        # nothing read the filter (missing collection) or applied the update (no match);
        # MongoDB parses both anyway. An upsert parses its update when it applies it below.
        validate_request(query if coll is None else None, updater=None if upsert else updater,
                         collation=collation, variables=statement_vars)
    if matched or not upsert:
        return matched, modified, NO_ID
    assert coll is not None
    new = updater.upsert_doc(query)
    if cache is None or cache.insert_later(new) is None:
        data = _insert_new(session, coll, new)
        if cache is not None:
            cache.put(encode_key(new["_id"]), data)
    return 1, 0, new["_id"]


def _point_cache(session: Session, coll: Collection | None, statements: list) -> _PointCache | None:
    """A :class:`_PointCache` of the ``_id``-addressed statements of a bulk command (None for
    a command of one statement or when the collection does not exist yet)."""
    if coll is None or len(statements) < 2:
        return None
    keys: set[bytes] = set()
    for stmt in statements:
        if isinstance(stmt, dict) and isinstance(stmt.get("q"), dict) and "collation" not in stmt and stmt["q"]:
            exact = _exact_id_keys(stmt["q"], None)
            if exact is not None:
                keys.update(exact)
    if not keys:
        return None
    cache = _PointCache(coll)
    cache.prefetch(session, coll, keys)
    return cache


def cmd_update(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    name = _collection_name("update", cmd)
    _unknown_fields("update", cmd, {"updates", "ordered", "bypassDocumentValidation", "let"})
    statements = _statements(cmd, "updates", "update")
    ordered = cmd.get("ordered", True)
    variables = _doc_arg(cmd, "let")
    n = modified = 0
    upserted: list[dict] = []
    write_errors: list[dict] = []
    with engine.store.write(db) as session:
        coll = _writable(session, name)
        cache = _point_cache(session, coll, statements)
        for i, stmt in enumerate(statements):
            try:
                if not isinstance(stmt, dict):
                    raise StoreError(errors.TYPE_MISMATCH, "update statements must be objects")
                if coll is None and stmt.get("upsert"):
                    coll = session.ensure_collection(name)
                    cache = _point_cache(session, coll, statements)
                matched, changed, upserted_id = _update_one_statement(session, coll, stmt, variables, cache)
                n += matched
                modified += changed
                if upserted_id is not NO_ID:
                    upserted.append({"index": i, "_id": upserted_id})
            except StoreError as exc:
                write_errors.append(_write_error(i, exc))
                if ordered:
                    break
        if cache is not None:
            cache.flush(session)
    extra: dict = {"nModified": modified}
    if upserted:
        extra["upserted"] = upserted
    return _write_reply(n, write_errors, **extra)


def cmd_delete(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    name = _collection_name("delete", cmd)
    _unknown_fields("delete", cmd, {"deletes", "ordered", "let"})
    statements = _statements(cmd, "deletes", "delete")
    ordered = cmd.get("ordered", True)
    variables = _doc_arg(cmd, "let")
    n = 0
    write_errors: list[dict] = []
    with engine.store.write(db) as session:
        coll = _writable(session, name)
        for i, stmt in enumerate(statements):
            try:
                if not isinstance(stmt, dict):
                    raise StoreError(errors.TYPE_MISMATCH, "delete statements must be objects")
                _unknown_fields("delete.deletes", stmt, {"q", "limit", "collation", "hint"})
                query = stmt.get("q")
                if not isinstance(query, dict):
                    raise StoreError(errors.FAILED_TO_PARSE,
                                     "BSON field 'delete.deletes.q' is missing but a required field")
                limit = _number(stmt.get("limit", 0), "limit")
                if limit not in (0, 1):
                    raise StoreError(errors.FAILED_TO_PARSE, "The limit field in delete objects must be 0 or 1. "
                                                             f"Got {limit}")
                collation = Collation.from_spec(stmt.get("collation"))
                _check_hint(coll, stmt.get("hint"))
                if coll is None:
                    validate_request(query, collation=collation, variables=variables)
                    continue
                found = matching(session, coll, query, collation, variables, load=_loader(None, query, None))
                keys = [k for k, _, _ in (itertools.islice(found, 1) if limit == 1 else found)]
                for k in keys:
                    session.delete(coll, k)
                n += len(keys)
            except StoreError as exc:
                write_errors.append(_write_error(i, exc))
                if ordered:
                    break
    return _write_reply(n, write_errors)


def cmd_find_and_modify(engine: Engine, db: str, cmd: dict, client: ClientState) -> dict:
    name = _collection_name(next(iter(cmd)), cmd)
    _unknown_fields("findAndModify", cmd, {"query", "sort", "remove", "update", "new", "fields", "upsert",
                                           "bypassDocumentValidation", "arrayFilters", "collation", "hint", "let"})
    query = _doc_arg(cmd, "query") or {}
    sort = _sort_spec(cmd.get("sort"))
    remove = bool(cmd.get("remove"))
    spec = cmd.get("update")
    upsert = bool(cmd.get("upsert"))
    return_new = bool(cmd.get("new"))
    fields = _doc_arg(cmd, "fields")
    collation = _collation(cmd)
    variables = _doc_arg(cmd, "let")
    if remove and spec is not None:
        raise StoreError(errors.FAILED_TO_PARSE, "Cannot specify both an update and remove=true")
    if remove and upsert:
        raise StoreError(errors.FAILED_TO_PARSE, "Cannot specify both upsert=true and remove=true")
    if remove and return_new:
        raise StoreError(errors.FAILED_TO_PARSE, "Cannot specify both new=true and remove=true; "
                                                 "'remove' always returns the deleted document")
    if not remove and spec is None:
        raise StoreError(errors.FAILED_TO_PARSE, "Either an update or remove=true must be specified")
    updater = None if remove else _Updater(spec, cmd.get("arrayFilters"), collation, variables)
    query_mod, _ = _pure()
    # Parsed once, before any write (an invalid projection fails the command untouched), with
    # the command's collation and variables ($elemMatch under a collation, $$var in expressions).
    projection = query_mod.compile_projection(fields, collation=collation, variables=variables) if fields else None

    def shape(doc: dict | None) -> dict | None:
        if doc is None or projection is None:
            return doc
        return projection(doc, query)

    with engine.store.write(db) as session:
        coll = _writable(session, name)
        _check_hint(coll, cmd.get("hint"))
        target = None
        if coll is not None:
            if sort is not None and _id_order(sort) is None:
                rows = [(k, raw, doc if doc is not None else decode(raw))
                        for k, raw, doc in matching(session, coll, query, collation, variables)]
                key = query_mod.compile_sort(sort, collation)
                if rows:
                    target = rows[0] if key is None else min(rows, key=lambda r: key(r[2]))  # first of ties
            else:
                target = next(matching(session, coll, query, collation, variables,
                                       reverse=bool(_id_order(sort))), None)
        if target is None:
            # MongoDB parses the request before reading: on a missing collection nothing read
            # the filter or sort, and with no match nothing applied the update (an upsert does)
            validate_request(query if coll is None else None, sort=sort if coll is None else None,
                             updater=None if upsert else updater, collation=collation, variables=variables)
        if remove:
            if target is None:
                return {"lastErrorObject": {"n": 0}, "value": None, "ok": 1.0}
            k, raw, doc = target
            session.delete(coll, k)
            return {"lastErrorObject": {"n": 1}, "value": shape(doc if doc is not None else decode(raw)), "ok": 1.0}
        assert updater is not None
        if target is not None:
            k, raw, doc = target
            old = doc if doc is not None else decode(raw)
            new = updater.apply(old, query)
            _write_updated(session, coll, k, raw, old, new)
            return {"lastErrorObject": {"n": 1, "updatedExisting": True},
                    "value": shape(new if return_new else old), "ok": 1.0}
        if not upsert:
            return {"lastErrorObject": {"n": 0, "updatedExisting": False}, "value": None, "ok": 1.0}
        coll = coll or session.ensure_collection(name)
        new = updater.upsert_doc(query)
        _insert_new(session, coll, new)
        return {"lastErrorObject": {"n": 1, "updatedExisting": False, "upserted": new["_id"]},
                "value": shape(new) if return_new else None, "ok": 1.0}


_HANDLERS: dict[str, Callable[[Engine, str, dict, ClientState], dict]] = {
    "hello": cmd_hello, "isMaster": cmd_hello, "ismaster": cmd_hello,
    "ping": cmd_ping, "buildInfo": cmd_build_info, "buildinfo": cmd_build_info,
    "getParameter": cmd_get_parameter, "getCmdLineOpts": cmd_get_cmd_line_opts, "hostInfo": cmd_host_info,
    "serverStatus": cmd_server_status, "connectionStatus": cmd_connection_status, "getLog": cmd_get_log,
    "whatsmyuri": cmd_whatsmyuri, "endSessions": cmd_end_sessions, "killSessions": cmd_end_sessions, "killAllSessions": cmd_ok,
    "refreshSessions": cmd_ok, "logout": cmd_logout, "saslStart": cmd_sasl_start,
    "saslContinue": cmd_sasl_continue, "listDatabases": cmd_list_databases, "dropDatabase": cmd_drop_database,
    "listCollections": cmd_list_collections, "create": cmd_create, "drop": cmd_drop,
    "renameCollection": cmd_rename_collection, "collMod": cmd_coll_mod, "listIndexes": cmd_list_indexes,
    "createIndexes": cmd_create_indexes, "dropIndexes": cmd_drop_indexes, "deleteIndexes": cmd_drop_indexes,
    "dbStats": cmd_db_stats, "collStats": cmd_coll_stats, "explain": cmd_explain, "find": cmd_find,
    "getMore": cmd_get_more, "killCursors": cmd_kill_cursors, "count": cmd_count, "distinct": cmd_distinct,
    "aggregate": cmd_aggregate, "insert": cmd_insert, "update": cmd_update, "delete": cmd_delete,
    "findAndModify": cmd_find_and_modify, "findandmodify": cmd_find_and_modify,
}
