"""A small runner for MongoDB's CRUD specification tests in the unified test format.

MongoDB's drivers share one test format (specifications repository,
``source/unified-test-format/unified-test-format.md``); the CRUD tests written in it
(``tests/data/mongodb-crud-unified/*.json``, from PyMongo's source distribution) are the
judge of ``sf.store``. This module runs them through PyMongo against any server given by URI.

It implements the part of the format the CRUD tests use:

- ``runOnRequirements`` (file and test level) against the server's ``buildInfo`` version,
  its topology (``single`` for a standalone), ``serverless`` (never), ``auth`` (credentials in
  the URI) and ``serverParameters``; operations the server cannot run (fail points without
  test commands) or PyMongo does not offer (``clientBulkWrite`` below 8.0) make a test *not
  applicable* — :func:`not_applicable` says why;
- ``createEntities`` (client with ``uriOptions``, database, collection with options),
  ``initialData`` and ``outcome`` (collection contents compared exactly, types included,
  key order free);
- the collection, database and client operations of the CRUD tests, ``expectResult`` with
  the special matching operators (``$$exists $$type $$unsetOrMatches $$matchesEntity
  $$matchesHexBytes $$lte``; root-level documents may hold extra keys) and ``expectError``
  (``isError isClientError errorContains errorCode errorCodeName errorLabelsContain
  errorLabelsOmit errorResponse expectResult``).

**Event assertions** (``expectEvents``, ``observeEvents``) are ignored: the store is judged on
results and data, not on the commands PyMongo sends.

Failures raise :class:`SpecFailure` (an ``AssertionError``) naming the operation and the
path of the first mismatch; an argument or operation the runner does not know raises
:class:`RunnerError`, so a test is never passed by ignoring part of it.
"""

from __future__ import annotations

import binascii
import datetime
import math
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bson import json_util
from bson.binary import Binary
from bson.code import Code
from bson.dbref import DBRef
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp
from pymongo import MongoClient, ReturnDocument, uri_parser
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError
from pymongo.operations import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import make_read_preference, read_pref_mode_from_name
from pymongo.results import BulkWriteResult
from pymongo.write_concern import WriteConcern

SPEC_DIR = Path(__file__).resolve().parents[1] / "data" / "mongodb-crud-unified"


class SpecFailure(AssertionError):
    """The server's behaviour differs from what a spec test expects."""


class RunnerError(Exception):
    """The test uses something this runner does not implement (never a pass)."""


# --- loading -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SpecTest:
    """One test of one spec file: ``file`` (name without ``.json``), the file and the test."""

    file: str
    description: str
    file_spec: dict
    test: dict

    @property
    def id(self) -> str:
        return f"{self.file}: {self.description}"


def load_spec_tests(directory: Path = SPEC_DIR) -> list[SpecTest]:
    """Every test of every ``*.json`` file of ``directory``, in file then test order.

    Files are read as Extended JSON (``$date``, ``$oid``, … become BSON values). A file whose
    ``schemaVersion`` is not 1.x raises RunnerError.
    """
    tests = []
    for path in sorted(directory.glob("*.json")):
        spec = json_util.loads(path.read_text(), json_options=json_util.JSONOptions(tz_aware=False))
        if not str(spec["schemaVersion"]).startswith("1."):
            raise RunnerError(f"{path.name}: unsupported schemaVersion {spec['schemaVersion']}")
        for test in spec["tests"]:
            tests.append(SpecTest(path.stem, test["description"], spec, test))
    return tests


# --- applicability -------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerInfo:
    """What ``runOnRequirements`` are checked against, probed once per server."""

    version: tuple[int, ...]
    topology: str  # "single", "replicaset" or "sharded"
    auth: bool
    test_commands: bool
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def probe(cls, client: MongoClient, uri: str) -> ServerInfo:
        """Ask the server (``buildInfo``, ``hello``, ``getCmdLineOpts``, ``getParameter``)."""
        version = _version(client.admin.command("buildInfo")["version"])
        hello = client.admin.command("hello")
        if hello.get("msg") == "isdbgrid":
            topology = "sharded"
        elif "setName" in hello:
            topology = "replicaset"
        else:
            topology = "single"
        try:
            opts = client.admin.command("getCmdLineOpts")
            flag = opts.get("parsed", {}).get("setParameter", {}).get("enableTestCommands")
            test_commands = str(flag).lower() in ("1", "true")
        except OperationFailure:
            test_commands = False
        try:
            parameters = client.admin.command({"getParameter": "*"})
        except OperationFailure:
            parameters = {}
        auth = uri_parser.parse_uri(uri)["username"] is not None
        return cls(version, topology, auth, test_commands, parameters)


def _version(text: str) -> tuple[int, ...]:
    parts = [int(re.match(r"\d*", p).group() or 0) for p in text.split(".")[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def _requirement_unmet(req: Mapping, server: ServerInfo) -> str | None:
    """Why one runOnRequirement object is not satisfied, or None if it is."""
    for key, value in req.items():
        if key == "minServerVersion" and server.version < _version(value):
            return f"needs server >= {value}"
        if key == "maxServerVersion" and server.version > _version(value):
            return f"needs server <= {value}"
        if key == "topologies" and server.topology not in value:
            if not (server.topology == "sharded" and "sharded-replicaset" in value):
                return f"needs topology {value}"
        if key == "serverless" and value == "require":
            return "needs a serverless deployment"
        if key == "auth" and bool(value) != server.auth:
            return "needs authentication" if value else "needs no authentication"
        if key == "serverParameters":
            for name, expected in value.items():
                if server.parameters.get(name) != expected:
                    return f"needs server parameter {name}={expected!r}"
        if key not in ("minServerVersion", "maxServerVersion", "topologies", "serverless",
                       "auth", "serverParameters"):
            return f"requirement {key!r} not supported by this runner"
    return None


def _requirements_unmet(reqs: list | None, server: ServerInfo) -> str | None:
    if not reqs:
        return None
    reasons = [_requirement_unmet(r, server) for r in reqs]
    return None if any(r is None for r in reasons) else "; or ".join(reasons)


def not_applicable(test: SpecTest, server: ServerInfo) -> str | None:
    """Why ``test`` does not apply to ``server`` (a reason), or None when it must be run."""
    reason = _requirements_unmet(test.file_spec.get("runOnRequirements"), server)
    reason = reason or _requirements_unmet(test.test.get("runOnRequirements"), server)
    if reason:
        return reason
    if "skipReason" in test.test:
        return test.test["skipReason"]
    names = {op["name"] for op in test.test["operations"]}
    if names & {"failPoint", "targetedFailPoint"} and not server.test_commands:
        return "fail points need a server with test commands enabled"
    if "clientBulkWrite" in names:
        return "clientBulkWrite is the bulkWrite command of MongoDB 8.0 (not run by this runner)"
    return None


def asserts_only_events(test: SpecTest) -> bool:
    """True if the test has no expectResult, expectError or outcome: with event assertions
    ignored it only checks that every operation succeeds."""
    ops = test.test["operations"]
    return not test.test.get("outcome") and not any(
        "expectResult" in op or "expectError" in op for op in ops)


# --- matching ------------------------------------------------------------------------------

_BSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "double": lambda v: type(v) is float,
    "string": lambda v: type(v) is str,
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, list),
    "binData": lambda v: isinstance(v, (bytes, Binary, uuid.UUID)),
    "objectId": lambda v: isinstance(v, ObjectId),
    "bool": lambda v: type(v) is bool,
    "date": lambda v: isinstance(v, datetime.datetime),
    "null": lambda v: v is None,
    "regex": lambda v: isinstance(v, (Regex, re.Pattern)),
    "dbPointer": lambda v: isinstance(v, DBRef),
    "javascript": lambda v: isinstance(v, Code) and v.scope is None,
    "javascriptWithScope": lambda v: isinstance(v, Code) and v.scope is not None,
    "int": lambda v: type(v) is int and -(2**31) <= v < 2**31,
    "timestamp": lambda v: isinstance(v, Timestamp),
    "long": lambda v: isinstance(v, Int64) or (type(v) is int and not -(2**31) <= v < 2**31),
    "decimal": lambda v: isinstance(v, Decimal128),
    "minKey": lambda v: isinstance(v, MinKey),
    "maxKey": lambda v: isinstance(v, MaxKey),
}
_BSON_TYPES["number"] = lambda v: any(_BSON_TYPES[t](v) for t in ("int", "long", "double", "decimal"))


def bson_type(value: Any) -> str:
    """The ``$type`` alias of a decoded BSON value (``int`` and ``long`` told apart)."""
    for name, test in _BSON_TYPES.items():
        if name != "number" and test(value):
            return name
    raise RunnerError(f"value of unknown BSON type: {value!r}")


def _is_number(value: Any) -> bool:
    return type(value) in (int, float, Int64)


def _special(value: Any) -> tuple[str, Any] | None:
    """``("$$op", argument)`` if ``value`` is a special-operator document, else None."""
    if isinstance(value, Mapping) and len(value) == 1:
        key = next(iter(value))
        if key.startswith("$$"):
            return key, value[key]
    return None


class Matcher:
    """Matches expected values against actual ones by the format's "Evaluating Matches"."""

    def __init__(self, entities: Mapping[str, Any]):
        self.entities = entities

    def match(self, expected: Any, actual: Any, path: str = "", *, root: bool = True,
              root_elements: bool = False) -> None:
        """Raise SpecFailure at the first difference. ``root`` lets a document have extra keys;
        ``root_elements`` makes the elements of an expected array root-level documents."""
        special = _special(expected)
        if special:
            self._operator(*special, actual, path, root=root)
        elif isinstance(expected, Mapping):
            if not isinstance(actual, Mapping):
                raise SpecFailure(f"{path or 'result'}: expected a document, got {actual!r}")
            for key, value in expected.items():
                sub = f"{path}.{key}" if path else str(key)
                key_op = _special(value)
                if key_op and key_op[0] == "$$exists":
                    if bool(key_op[1]) != (key in actual):
                        raise SpecFailure(f"{sub}: expected {'present' if key_op[1] else 'absent'}"
                                          f", document is {actual!r}")
                    continue
                if key_op and key_op[0] == "$$unsetOrMatches" and key not in actual:
                    continue
                if key not in actual:
                    raise SpecFailure(f"{sub}: missing from {actual!r}")
                self.match(value, actual[key], sub, root=False)
            if not root:
                extra = set(actual) - set(expected)
                if extra:
                    raise SpecFailure(f"{path or 'result'}: unexpected keys {sorted(extra)} "
                                      f"in {actual!r}")
        elif isinstance(expected, list):
            if not isinstance(actual, list):
                raise SpecFailure(f"{path or 'result'}: expected an array, got {actual!r}")
            if len(expected) != len(actual):
                raise SpecFailure(f"{path or 'result'}: expected {len(expected)} elements, got "
                                  f"{len(actual)}: {actual!r}")
            for i, (e, a) in enumerate(zip(expected, actual)):
                self.match(e, a, f"{path}[{i}]", root=root_elements)
        elif _is_number(expected) and type(expected) is not bool:
            if not (_is_number(actual) and type(actual) is not bool and expected == actual):
                raise SpecFailure(f"{path or 'result'}: expected {expected!r}, got {actual!r}")
        elif type(expected) is not type(actual) or expected != actual:
            raise SpecFailure(f"{path or 'result'}: expected {expected!r}, got {actual!r}")

    def _operator(self, name: str, arg: Any, actual: Any, path: str, *, root: bool) -> None:
        where = path or "result"
        if name == "$$unsetOrMatches":
            if actual is not None:
                self.match(arg, actual, path, root=root)
        elif name == "$$exists":
            if bool(arg) != (actual is not None):
                raise SpecFailure(f"{where}: expected {'a value' if arg else 'nothing'}, "
                                  f"got {actual!r}")
        elif name == "$$type":
            names = arg if isinstance(arg, list) else [arg]
            if not any(_BSON_TYPES[n](actual) for n in names):
                raise SpecFailure(f"{where}: expected type {arg}, got {actual!r}")
        elif name == "$$matchesEntity":
            self.match(self.entities[arg], actual, path, root=root)
        elif name == "$$matchesHexBytes":
            if actual != binascii.unhexlify(arg):
                raise SpecFailure(f"{where}: expected bytes {arg}, got {actual!r}")
        elif name == "$$lte":
            if not (_is_number(actual) and actual <= arg):
                raise SpecFailure(f"{where}: expected <= {arg}, got {actual!r}")
        else:
            raise RunnerError(f"special operator {name} not supported by this runner")


def exactly_equal(expected: Any, actual: Any) -> bool:
    """True if the values are the same BSON (types included, document key order free)."""
    if isinstance(expected, Mapping):
        return (isinstance(actual, Mapping) and set(expected) == set(actual)
                and all(exactly_equal(v, actual[k]) for k, v in expected.items()))
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(expected) == len(actual)
                and all(exactly_equal(e, a) for e, a in zip(expected, actual)))
    if bson_type(expected) != bson_type(actual):
        return False
    if isinstance(expected, float) and math.isnan(expected):
        return math.isnan(actual)
    return expected == actual


# --- operations ----------------------------------------------------------------------------

# For each operation: spec argument name -> PyMongo keyword (options PyMongo passes through
# to the server keep their camelCase name). An argument missing here is a RunnerError.
_COMMON = {"comment": "comment"}
_WRITE = {**_COMMON, "collation": "collation", "hint": "hint", "let": "let"}
_ARGS: dict[str, dict[str, str]] = {
    "insertOne": {**_COMMON, "document": "document",
                  "bypassDocumentValidation": "bypass_document_validation"},
    "insertMany": {**_COMMON, "documents": "documents", "ordered": "ordered",
                   "bypassDocumentValidation": "bypass_document_validation"},
    "deleteOne": {**_WRITE, "filter": "filter"},
    "deleteMany": {**_WRITE, "filter": "filter"},
    "updateOne": {**_WRITE, "filter": "filter", "update": "update", "upsert": "upsert",
                  "arrayFilters": "array_filters", "sort": "sort",
                  "bypassDocumentValidation": "bypass_document_validation"},
    "updateMany": {**_WRITE, "filter": "filter", "update": "update", "upsert": "upsert",
                   "arrayFilters": "array_filters",
                   "bypassDocumentValidation": "bypass_document_validation"},
    "replaceOne": {**_WRITE, "filter": "filter", "replacement": "replacement", "upsert": "upsert",
                   "sort": "sort", "bypassDocumentValidation": "bypass_document_validation"},
    "findOneAndDelete": {**_WRITE, "filter": "filter", "projection": "projection", "sort": "sort"},
    "findOneAndReplace": {**_WRITE, "filter": "filter", "replacement": "replacement",
                          "projection": "projection", "sort": "sort", "upsert": "upsert",
                          "returnDocument": "return_document",
                          "bypassDocumentValidation": "bypassDocumentValidation"},
    "findOneAndUpdate": {**_WRITE, "filter": "filter", "update": "update",
                         "projection": "projection", "sort": "sort", "upsert": "upsert",
                         "returnDocument": "return_document", "arrayFilters": "array_filters",
                         "bypassDocumentValidation": "bypassDocumentValidation"},
    "bulkWrite": {**_COMMON, "requests": "requests", "ordered": "ordered", "let": "let",
                  "bypassDocumentValidation": "bypass_document_validation"},
    "find": {**_COMMON, "filter": "filter", "sort": "sort", "skip": "skip", "limit": "limit",
             "batchSize": "batch_size", "projection": "projection", "collation": "collation",
             "hint": "hint", "let": "let", "allowDiskUse": "allow_disk_use",
             "maxTimeMS": "max_time_ms", "min": "min", "max": "max",
             "returnKey": "return_key", "showRecordId": "show_record_id"},
    "aggregate": {**_COMMON, "pipeline": "pipeline", "let": "let", "collation": "collation",
                  "allowDiskUse": "allowDiskUse", "batchSize": "batchSize", "hint": "hint",
                  "maxTimeMS": "maxTimeMS",
                  "bypassDocumentValidation": "bypassDocumentValidation"},
    "countDocuments": {**_COMMON, "filter": "filter", "skip": "skip", "limit": "limit",
                       "collation": "collation", "hint": "hint", "maxTimeMS": "maxTimeMS"},
    "estimatedDocumentCount": {**_COMMON, "maxTimeMS": "maxTimeMS"},
    "distinct": {**_COMMON, "fieldName": "key", "filter": "filter", "collation": "collation",
                 "hint": "hint", "maxTimeMS": "maxTimeMS"},
    "count": {**_COMMON, "filter": "query", "skip": "skip", "limit": "limit",
              "collation": "collation", "hint": "hint", "maxTimeMS": "maxTimeMS"},
    "createIndex": {**_COMMON, "keys": "keys", "unique": "unique", "name": "name"},
    "listIndexes": {**_COMMON},
    "drop": {**_COMMON},
    "createCollection": {"collection": "name", "viewOn": "viewOn", "pipeline": "pipeline",
                         "collation": "collation", "validator": "validator"},
    "dropCollection": {"collection": "name_or_collection"},
    "modifyCollection": {"collection": "collMod", "validator": "validator"},
    "listCollectionNames": {"filter": "filter"},
}
_ARGS["findOne"] = _ARGS["find"]
_BULK_MODELS = {"insertOne": InsertOne, "updateOne": UpdateOne, "updateMany": UpdateMany,
                "replaceOne": ReplaceOne, "deleteOne": DeleteOne, "deleteMany": DeleteMany}
_BULK_ARGS = {"document": "document", "filter": "filter", "update": "update",
              "replacement": "replacement", "upsert": "upsert", "collation": "collation",
              "hint": "hint", "arrayFilters": "array_filters", "sort": "sort"}
# Operations whose result is an array of root-level documents (extra keys allowed in each).
_DOCUMENT_LISTS = {"find", "aggregate", "listIndexes"}


def operation_kwargs(name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """PyMongo keywords of a spec operation's arguments (RunnerError for unknown ones)."""
    if name not in _ARGS:
        raise RunnerError(f"operation {name} not supported by this runner")
    unknown = set(arguments) - set(_ARGS[name])
    if unknown:
        raise RunnerError(f"{name}: arguments {sorted(unknown)} not supported by this runner")
    kwargs = {_ARGS[name][k]: v for k, v in arguments.items()}
    if "return_document" in kwargs:
        choices = {"Before": ReturnDocument.BEFORE, "After": ReturnDocument.AFTER}
        if kwargs["return_document"] not in choices:
            raise RunnerError(f"{name}: returnDocument {kwargs['return_document']!r} is invalid")
        kwargs["return_document"] = choices[kwargs["return_document"]]
    if "requests" in kwargs:
        kwargs["requests"] = [_bulk_model(r) for r in kwargs["requests"]]
    if isinstance(kwargs.get("sort"), Mapping) and name != "updateOne" and name != "replaceOne":
        kwargs["sort"] = list(kwargs["sort"].items())
    if isinstance(kwargs.get("keys"), Mapping):
        kwargs["keys"] = list(kwargs["keys"].items())
    return kwargs


def _bulk_model(request: Mapping[str, Any]) -> Any:
    (kind, spec), = request.items()
    unknown = set(spec) - set(_BULK_ARGS)
    if kind not in _BULK_MODELS or unknown:
        raise RunnerError(f"bulkWrite model {kind} {sorted(unknown)} not supported by this runner")
    return _BULK_MODELS[kind](**{_BULK_ARGS[k]: v for k, v in spec.items()})


def bulk_result(result: BulkWriteResult) -> dict[str, Any]:
    """A BulkWriteResult as the spec's document."""
    return {"deletedCount": result.deleted_count, "insertedCount": result.inserted_count,
            "matchedCount": result.matched_count, "modifiedCount": result.modified_count,
            "upsertedCount": result.upserted_count,
            "upsertedIds": {str(i): v for i, v in result.upserted_ids.items()}}


def _collection_op(coll: Collection, name: str, kw: dict[str, Any]) -> Any:
    """Run one collection operation; return its result in the spec's shape."""
    if name == "insertOne":
        r = coll.insert_one(**kw)
        return {"insertedId": r.inserted_id} if r.acknowledged else {"acknowledged": False}
    if name == "insertMany":
        r = coll.insert_many(**kw)
        if not r.acknowledged:
            return {"acknowledged": False}
        return {"insertedIds": {str(i): v for i, v in enumerate(r.inserted_ids)}}
    if name in ("deleteOne", "deleteMany"):
        r = coll.delete_one(**kw) if name == "deleteOne" else coll.delete_many(**kw)
        return {"deletedCount": r.deleted_count} if r.acknowledged else {"acknowledged": False}
    if name in ("updateOne", "updateMany", "replaceOne"):
        method = {"updateOne": coll.update_one, "updateMany": coll.update_many,
                  "replaceOne": coll.replace_one}[name]
        r = method(**kw)
        if not r.acknowledged:
            return {"acknowledged": False}
        result = {"matchedCount": r.matched_count, "modifiedCount": r.modified_count,
                  "upsertedCount": 0 if r.upserted_id is None else 1}
        if r.upserted_id is not None:
            result["upsertedId"] = r.upserted_id
        return result
    if name == "bulkWrite":
        r = coll.bulk_write(**kw)
        return bulk_result(r) if r.acknowledged else {"acknowledged": False}
    if name == "find":
        return list(coll.find(**kw))
    if name == "findOne":
        return coll.find_one(**kw)
    if name == "aggregate":
        return list(coll.aggregate(**kw))
    if name == "countDocuments":
        return coll.count_documents(kw.pop("filter"), **kw)
    if name == "estimatedDocumentCount":
        return coll.estimated_document_count(**kw)
    if name == "distinct":
        return coll.distinct(**kw)
    if name == "count":  # the legacy count command (PyMongo 4 has no helper for it)
        return coll.database.command({"count": coll.name, **kw})["n"]
    if name == "findOneAndDelete":
        return coll.find_one_and_delete(**kw)
    if name == "findOneAndReplace":
        return coll.find_one_and_replace(**kw)
    if name == "findOneAndUpdate":
        return coll.find_one_and_update(**kw)
    if name == "createIndex":
        return coll.create_index(**kw)
    if name == "listIndexes":
        return list(coll.list_indexes(**kw))
    if name == "drop":
        return coll.drop(**kw)
    raise RunnerError(f"collection operation {name} not supported by this runner")


def _database_op(db: Database, name: str, kw: dict[str, Any]) -> Any:
    if name == "aggregate":
        return list(db.aggregate(**kw))
    if name == "createCollection":
        db.create_collection(**kw, check_exists=False)
        return None
    if name == "dropCollection":
        db.drop_collection(**kw)
        return None
    if name == "modifyCollection":
        db.command({"collMod": kw.pop("collMod"), **kw})
        return None
    if name == "listCollectionNames":
        return db.list_collection_names(**kw)
    raise RunnerError(f"database operation {name} not supported by this runner")


# --- one test ------------------------------------------------------------------------------


@dataclass
class _Run:
    """The state of one running test: its entities, clients and fail points."""

    test: SpecTest
    uri: str
    internal: MongoClient
    client_factory: Callable[..., MongoClient]
    entities: dict[str, Any] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # entity id -> client/database/…
    clients: list[MongoClient] = field(default_factory=list)
    fail_points: list[tuple[MongoClient, str]] = field(default_factory=list)

    def create_entities(self, specs: list[Mapping[str, Any]]) -> None:
        for entity in specs:
            (kind, spec), = entity.items()
            self.kinds[spec["id"]] = kind
            if kind == "client":
                client = self.client_factory(self.uri, **spec.get("uriOptions", {}))
                self.clients.append(client)
                self.entities[spec["id"]] = client
            elif kind == "database":
                self.entities[spec["id"]] = self.entities[spec["client"]].get_database(
                    spec["databaseName"], **_options(spec.get("databaseOptions", {})))
            elif kind == "collection":
                self.entities[spec["id"]] = self.entities[spec["database"]].get_collection(
                    spec["collectionName"], **_options(spec.get("collectionOptions", {})))
            else:
                raise RunnerError(f"entity type {kind} not supported by this runner")

    def insert_initial_data(self) -> None:
        for data in self.test.file_spec.get("initialData", []):
            db = self.internal[data["databaseName"]]
            db.drop_collection(data["collectionName"])
            coll = db.get_collection(data["collectionName"], write_concern=WriteConcern(w="majority"))
            if data.get("createOptions") or not data["documents"]:
                db.create_collection(data["collectionName"], **data.get("createOptions", {}))
            if data["documents"]:
                coll.insert_many(data["documents"])

    def run_operation(self, op: Mapping[str, Any], number: int) -> None:
        name, arguments = op["name"], op.get("arguments", {})
        where = f"operation {number} ({name})"
        if op["object"] == "testRunner":
            return self.run_special(name, arguments)
        target, kind = self.entities[op["object"]], self.kinds.get(op["object"])
        if kind == "collection":
            call = lambda: _collection_op(target, name, operation_kwargs(name, arguments))  # noqa: E731
        elif kind == "database":
            call = lambda: _database_op(target, name, operation_kwargs(name, arguments))  # noqa: E731
        else:
            raise RunnerError(f"{where}: operations on {op['object']} not supported by this runner")
        try:
            result = call()
        except (SpecFailure, RunnerError):
            raise
        except Exception as exc:  # noqa: BLE001 - every error is compared with expectError
            if op.get("ignoreResultAndError") and isinstance(exc, PyMongoError):
                return None
            if "expectError" not in op:
                raise SpecFailure(f"{where}: unexpected error {type(exc).__name__}: {exc}") from exc
            check_error(op["expectError"], exc, Matcher(self.entities), where)
            return None
        if "expectError" in op:
            raise SpecFailure(f"{where}: expected an error {op['expectError']}, got {result!r}")
        if "expectResult" in op:
            try:
                Matcher(self.entities).match(op["expectResult"], result,
                                             root_elements=name in _DOCUMENT_LISTS)
            except SpecFailure as failure:
                raise SpecFailure(f"{where}: {failure}") from None
        if "saveResultAsEntity" in op:
            self.entities[op["saveResultAsEntity"]] = result
        return None

    def run_special(self, name: str, arguments: Mapping[str, Any]) -> None:
        if name != "failPoint":
            raise RunnerError(f"testRunner operation {name} not supported by this runner")
        client = self.entities[arguments["client"]]
        client.admin.command(arguments["failPoint"])
        self.fail_points.append((client, arguments["failPoint"]["configureFailPoint"]))

    def verify_outcome(self) -> None:
        # A round trip on every client first: an unacknowledged (w: 0) write sent on one of
        # its connections is then applied before the runner's own client reads the outcome.
        for client in self.clients:
            client.admin.command("ping")
        for data in self.test.test.get("outcome", []):
            coll = self.internal[data["databaseName"]][data["collectionName"]]
            actual = list(coll.find({}, sort=[("_id", 1)]))
            if not exactly_equal(data["documents"], actual):
                raise SpecFailure(f"outcome of {data['collectionName']}: expected "
                                  f"{data['documents']!r}, found {actual!r}")

    def close(self) -> None:
        for client, name in self.fail_points:
            client.admin.command({"configureFailPoint": name, "mode": "off"})
        for client in self.clients:
            client.close()


def _options(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Database/collection options of the spec as PyMongo keywords."""
    options: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "readConcern":
            options["read_concern"] = ReadConcern(**value)
        elif key == "writeConcern":
            options["write_concern"] = WriteConcern(**value)
        elif key == "readPreference":
            value = dict(value)
            mode = read_pref_mode_from_name(value.pop("mode"))
            options["read_preference"] = make_read_preference(
                mode, value.get("tagSets"), value.get("maxStalenessSeconds", -1))
        else:
            raise RunnerError(f"entity option {key} not supported by this runner")
    return options


def check_error(spec: Mapping[str, Any], exc: BaseException, matcher: Matcher, where: str) -> None:
    """Check a raised error against an ``expectError`` object (raise SpecFailure if it differs)."""
    server_error = isinstance(exc, OperationFailure)
    details = getattr(exc, "details", None) or {}
    text = f"{type(exc).__name__}: {exc}"

    def fail(why: str) -> None:
        raise SpecFailure(f"{where}: {why} (error was {text}, details {details!r})") from exc

    for key, value in spec.items():
        if key == "isError":
            continue
        elif key == "isClientError":
            if value == server_error:
                fail("expected a client error" if value else "expected a server error")
        elif key == "errorContains":
            message = str(details) if isinstance(exc, BulkWriteError) else str(exc)
            if value.lower() not in message.lower():
                fail(f"expected the message to contain {value!r}")
        elif key == "errorCode":
            if details.get("code") != value:
                fail(f"expected error code {value}")
        elif key == "errorCodeName":
            if details.get("codeName") != value:
                fail(f"expected error code name {value}")
        elif key == "errorLabelsContain":
            missing = [lbl for lbl in value if not getattr(exc, "has_error_label", lambda _: False)(lbl)]
            if missing:
                fail(f"expected error labels {missing}")
        elif key == "errorLabelsOmit":
            present = [lbl for lbl in value if getattr(exc, "has_error_label", lambda _: False)(lbl)]
            if present:
                fail(f"unexpected error labels {present}")
        elif key == "errorResponse":
            try:
                matcher.match(value, details)
            except SpecFailure as failure:
                fail(f"error response: {failure}")
        elif key == "expectResult":
            if not isinstance(exc, BulkWriteError):
                fail("expected a bulk write error carrying a result")
            try:
                matcher.match(value, bulk_result(BulkWriteResult(exc.details, True)))
            except SpecFailure as failure:
                fail(f"result of the failed bulk write: {failure}")
        else:
            raise RunnerError(f"expectError.{key} not supported by this runner")


def run_spec_test(test: SpecTest, uri: str, internal: MongoClient,
                  client_factory: Callable[..., MongoClient] = MongoClient) -> None:
    """Run one applicable test against the server at ``uri``.

    ``internal`` is the runner's own client (initial data and outcome); ``client_factory``
    builds the test's client entities (``MongoClient``, or e.g. ``mongomock.MongoClient``).
    Raises SpecFailure if the server's behaviour differs, RunnerError if the test needs
    something this runner lacks; returns None when the test passes.
    """
    run = _Run(test, uri, internal, client_factory)
    try:
        run.create_entities(test.file_spec.get("createEntities", []))
        run.insert_initial_data()
        for number, op in enumerate(test.test["operations"], 1):
            run.run_operation(op, number)
        run.verify_outcome()
    finally:
        run.close()


# --- whole suite ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """The verdict on one spec test: ``passed``, ``failed`` or ``not applicable``."""

    test: SpecTest
    status: str
    detail: str = ""


def run_one(test: SpecTest, uri: str, internal: MongoClient, server: ServerInfo,
            client_factory: Callable[..., MongoClient] = MongoClient) -> Result:
    """The verdict on one test; any error of the server or the runner is a failure."""
    reason = not_applicable(test, server)
    if reason:
        return Result(test, "not applicable", reason)
    try:
        run_spec_test(test, uri, internal, client_factory)
    except Exception as exc:  # noqa: BLE001 - a crash of the test is a failed test
        return Result(test, "failed", f"{type(exc).__name__}: {exc}")
    return Result(test, "passed")


def run_all(uri: str, tests: list[SpecTest] | None = None,
            client_factory: Callable[..., MongoClient] = MongoClient,
            server: ServerInfo | None = None) -> Iterator[Result]:
    """Run every spec test against the server at ``uri``, yielding one Result per test.

    ``server`` describes the server when it cannot be probed (e.g. mongomock)."""
    internal = client_factory(uri)
    try:
        server = server or ServerInfo.probe(internal, uri)
        for test in load_spec_tests() if tests is None else tests:
            yield run_one(test, uri, internal, server, client_factory)
    finally:
        internal.close()


def pass_rate(results: list[Result]) -> tuple[int, int]:
    """(passed, applicable) over the results."""
    applicable = [r for r in results if r.status != "not applicable"]
    return sum(r.status == "passed" for r in applicable), len(applicable)
