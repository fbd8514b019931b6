"""Converting an SF_HOME written by the previous embedded store (nx-27017) to the current one.

Until version 0.1 the embedded default was nx-27017, which kept each document as JSON text
in SQLite (``SF_HOME/data/<db>.db``, one table per collection with columns ``id``, ``_id``,
``data``). Its JSON marks the types JSON has not: ``{"$date": "<ISO>"}``,
``{"__neosqlite_objectid__": true, "id": "<hex>"}`` and
``{"__neosqlite_binary__": true, "data": "<base64>", "subtype": n}``. It also changed some
values on the way in; :func:`repair` puts back what the engine wrote:

- ``value.index.algo2`` of RawData stored as ``1``/``0`` instead of ``true``/``false``
  (a ``$set`` of a boolean became an integer);
- SIRET/SIREN fields (``siret``, ``siren``, ``value.key``) that came back as numbers, which
  drops leading zeros: they are strings of 14 and 9 digits.

:func:`upgrade_home` reads every legacy database file of ``SF_HOME/data`` with the standard
``sqlite3`` module (nx-27017 itself is not needed), writes each document to the current store
(replace by ``_id``, so running it again after an interruption gives the same result) and,
once every file is converted, renames ``SF_HOME/data`` to ``SF_HOME/data-nx27017`` so nothing
is lost and the conversion is not repeated. Failure modes: a legacy file that SQLite cannot
open, or a document whose JSON cannot be decoded, raises :class:`BadInputError` naming the
file, table and row.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson import ObjectId
from bson.binary import Binary
from pymongo import ReplaceOne
from pymongo.mongo_client import MongoClient

from .errors import BadInputError

LEGACY_DATA_DIR = "data"
LEGACY_BACKUP_DIR = "data-nx27017"
_BULK = 1000
# Tables nx-27017 (neosqlite) keeps for itself: not collections. The run lock is not carried
# over either: a lock taken under the old store belongs to a run that can no longer end.
_INTERNAL_TABLES = {"sqlite_sequence", "neosqlite_index_keys", "Lock"}
_SYSTEM_DATABASES = {"admin", "local", "config"}
_SIRET_FIELDS = {"siret": 14, "siren": 9}


@dataclass
class CollectionReport:
    """What the conversion did to one collection: documents read, written, repaired."""

    database: str
    collection: str
    read: int = 0
    written: int = 0
    repaired: int = 0
    repairs: dict[str, int] = field(default_factory=dict)


def legacy_databases(home: Path) -> list[Path]:
    """The nx-27017 database files under ``home`` (``data/<db>.db``), empty if none."""
    folder = home / LEGACY_DATA_DIR
    return sorted(folder.glob("*.db")) if folder.is_dir() else []


def _object_hook(value: dict[str, Any]) -> Any:
    if "__neosqlite_objectid__" in value:
        return ObjectId(value["id"])
    if "__neosqlite_binary__" in value:
        return Binary(base64.b64decode(value["data"]), int(value.get("subtype", 0)))
    if len(value) == 1 and "$date" in value:
        raw = value["$date"]
        if isinstance(raw, str):
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return datetime.fromtimestamp(raw / 1000.0, tz=UTC)
    return value


def read_legacy_collection(path: Path, table: str) -> Iterator[dict[str, Any]]:
    """Every document of one nx-27017 table, decoded to BSON-ready Python values."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for rowid, data in connection.execute(f'SELECT id, data FROM "{table}" ORDER BY id'):
            try:
                yield json.loads(data, object_hook=_object_hook)
            except (ValueError, TypeError, KeyError) as exc:
                raise BadInputError(f"{path}: collection {table}, row {rowid}: cannot decode the document: {exc}") from None
    finally:
        connection.close()


def legacy_collections(path: Path) -> list[str]:
    """The collection tables of one nx-27017 database file."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            tables = []
            for (name,) in rows:
                columns = {column[1] for column in connection.execute(f'PRAGMA table_info("{name}")')}
                if name not in _INTERNAL_TABLES and {"_id", "data"} <= columns:
                    tables.append(name)
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise BadInputError(f"{path}: not a readable nx-27017 database: {exc}") from None
    return sorted(tables)


def repair(collection: str, document: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Undo what nx-27017 changed in a document the engine wrote; returns it and the repairs made."""
    repairs: list[str] = []
    value = document.get("value")
    if isinstance(value, dict):
        index = value.get("index")
        if isinstance(index, dict) and type(index.get("algo2")) is int and index["algo2"] in (0, 1):
            index["algo2"] = bool(index["algo2"])
            repairs.append("value.index.algo2")
        if type(value.get("key")) is int:
            width = 9 if value.get("scope") == "entreprise" else 14
            value["key"] = f"{value['key']:0{width}d}"
            repairs.append("value.key")
    _repair_identifiers(document, repairs, "")
    return document, repairs


def _repair_identifiers(node: Any, repairs: list[str], path: str) -> None:
    if isinstance(node, dict):
        for name, child in node.items():
            width = _SIRET_FIELDS.get(name)
            if width and type(child) is int and 0 <= child < 10**width:
                node[name] = f"{child:0{width}d}"
                repairs.append(f"{path}{name}")
            else:
                _repair_identifiers(child, repairs, f"{path}{name}.")
    elif isinstance(node, list):
        for child in node:
            _repair_identifiers(child, repairs, path)


def convert_database(path: Path, client: MongoClient) -> list[CollectionReport]:
    """Copy one legacy database file into the database of the same name; idempotent."""
    database = client[path.stem]
    reports = []
    for table in legacy_collections(path):
        report = CollectionReport(database=path.stem, collection=table)
        batch: list[ReplaceOne] = []
        for document in read_legacy_collection(path, table):
            report.read += 1
            document, repairs = repair(table, document)
            if repairs:
                report.repaired += 1
                for name in repairs:
                    report.repairs[name] = report.repairs.get(name, 0) + 1
            batch.append(ReplaceOne({"_id": document["_id"]}, document, upsert=True))
            if len(batch) >= _BULK:
                report.written += _flush(database[table], batch)
        report.written += _flush(database[table], batch)
        if table not in database.list_collection_names():
            database.create_collection(table)
        reports.append(report)
    return reports


def _flush(collection, batch: list[ReplaceOne]) -> int:
    if not batch:
        return 0
    result = collection.bulk_write(batch, ordered=False)
    batch.clear()
    return result.upserted_count + result.matched_count


def upgrade_home(home: Path, client: MongoClient) -> list[CollectionReport]:
    """Convert every legacy database of ``home`` through ``client``, then set the old files aside.

    Returns one report per collection. Raises :class:`BadInputError` if a file cannot be read;
    the legacy folder is renamed only after every file was converted.
    """
    reports: list[CollectionReport] = []
    for path in legacy_databases(home):
        if path.stem in _SYSTEM_DATABASES:
            continue
        reports.extend(convert_database(path, client))
    folder = home / LEGACY_DATA_DIR
    if folder.is_dir():
        backup = home / LEGACY_BACKUP_DIR
        suffix = 1
        while backup.exists():
            suffix += 1
            backup = home / f"{LEGACY_BACKUP_DIR}.{suffix}"
        folder.rename(backup)
    return reports
