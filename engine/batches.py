"""Batches: the monthly integration runs declared in the ``Admin`` collection.

A batch is stored as in the original system, so existing queries keep working::

    {"_id": {"key": "2401", "type": "batch"}, "name": "Janvier 2024",
     "files": {"effectif": ["/data/2401/Sigfaible_effectif_siret.csv"], ...},
     "complete_types": ["effectif", "sirene"],
     "param": {"date_debut": ISODate("2014-01-01"), "date_fin": ISODate("2024-01-01"),
               "date_fin_effectif": ISODate("2023-10-01")},
     "stock_absent": "keep"}

``stock_absent`` is ours: what compaction does with an entity absent from a complete
(stock) delivery of this batch — ``keep`` its previous records (the original's behaviour)
or ``delete`` them.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pymongo.database import Database

from .collections import ADMIN, RAW_DATA
from .errors import UsageError

# Every file type a batch may list: the 16 sources of the original plus the perimeter file.
FILE_TYPES: tuple[str, ...] = (
    "admin_urssaf", "apconso", "apdemande", "bdf", "ccsf", "cotisation", "debit", "delai", "diane",
    "effectif", "effectif_ent", "ellisphere", "filter", "paydex", "procol", "sirene", "sirene_ul",
)

BATCH_KEY_PATTERN = re.compile(r"^[0-9]{2}(0[1-9]|1[0-2])(_[0-9A-Za-z_]+)?$")
DEFAULT_DATE_DEBUT = datetime(2014, 1, 1, tzinfo=UTC)


def check_batch_key(key: str) -> str:
    """Return ``key`` if it is ``YYMM`` with an optional ``_suffix`` (e.g. ``2401``, ``2401_1``).

    Raises ``ValueError`` naming the key otherwise.
    """
    if not BATCH_KEY_PATTERN.match(key):
        raise ValueError(f"invalid batch key {key!r}: expected YYMM with an optional _suffix, e.g. 2401 or 2401_1")
    return key


def _check_file_type(file_type: str) -> str:
    if file_type not in FILE_TYPES:
        raise ValueError(f"unknown file type {file_type!r}; known types: {', '.join(FILE_TYPES)}")
    return file_type


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


BatchKey = Annotated[str, AfterValidator(check_batch_key)]
FileType = Annotated[str, AfterValidator(_check_file_type)]
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


#: What happens to the records of entities absent from a stock delivery (README, "Admin").
StockAbsent = Literal["keep", "delete"]

class BatchParams(BaseModel):
    """``param`` of a batch: the monthly period series is [date_debut, date_fin)."""

    model_config = ConfigDict(extra="forbid")

    date_debut: UtcDatetime
    date_fin: UtcDatetime
    date_fin_effectif: UtcDatetime | None = None

    @field_validator("date_fin")
    @classmethod
    def _after_debut(cls, date_fin: datetime, info: ValidationInfo) -> datetime:
        date_debut = info.data.get("date_debut")
        if date_debut is not None and date_fin <= date_debut:
            raise ValueError(f"must be after date_debut ({date_debut.date()}), got {date_fin.date()}")
        return date_fin


class Batch(BaseModel):
    """A batch definition (see module docstring). Build from user input with :func:`make_batch`."""

    model_config = ConfigDict(extra="forbid")

    key: BatchKey
    name: str | None = None
    files: dict[FileType, list[str]] = Field(default_factory=dict)
    complete_types: list[FileType] = Field(default_factory=list)
    param: BatchParams
    stock_absent: StockAbsent = "keep"
    readonly: bool = False

    @model_validator(mode="after")
    def _complete_types_are_data(self) -> "Batch":
        if "filter" in self.complete_types:
            raise ValueError("complete_types: 'filter' is the perimeter, not a data type")
        return self

    def to_document(self) -> dict:
        """The ``Admin`` document of this batch."""
        doc = {"_id": {"key": self.key, "type": "batch"}}
        doc.update(self.model_dump(exclude={"key"}))
        return doc

    @classmethod
    def from_document(cls, doc: dict) -> "Batch":
        """Read an ``Admin`` document (fields the original had and we do not use are ignored)."""
        fields = {k: v for k, v in doc.items() if k in cls.model_fields and k != "key"}
        fields["param"] = {k: v for k, v in (doc.get("param") or {}).items() if v is not None}
        fields["complete_types"] = doc.get("complete_types") or []
        return cls(key=doc["_id"]["key"], **fields)


def month_start_of_key(key: str) -> datetime:
    """First day of the batch's month: ``2401`` → 2024-01-01 (prepare-import's ``date_fin``)."""
    return datetime(2000 + int(key[:2]), int(key[2:4]), 1, tzinfo=UTC)


def _not_a_file(path: Path) -> str:
    """Why ``path`` cannot be a delivery file (it is not an existing regular file)."""
    if path.is_dir():
        return "is a directory, not a file"
    if path.exists():
        return "is not a regular file"
    return "file not found"


def make_batch(key: str, *, files: dict[str, list[str]] | None = None, complete_types: list[str] | None = None,
               date_debut: date | None = None, date_fin: date | None = None,
               date_fin_effectif: date | None = None, name: str | None = None,
               stock_absent: str = "keep", check_files: bool = True) -> Batch:
    """Validate a batch definition given by a user and return it.

    Defaults follow prepare-import: ``date_debut`` 2014-01-01, ``date_fin`` the first day of
    the batch's month. File paths are made absolute. Raises :class:`UsageError` naming the
    offending field (bad key, unknown type, missing file, date_fin ≤ date_debut).
    """
    try:
        check_batch_key(key)
    except ValueError as exc:
        raise UsageError(f"batch key: {exc}") from None
    abs_files: dict[str, list[str]] = {}
    for file_type, paths in (files or {}).items():
        for path in paths:
            # "gzip:" marks a compressed upload without a .gz extension (original convention).
            scheme = "gzip:" if path.startswith("gzip:") else ""
            resolved = Path(path.removeprefix(scheme)).expanduser().resolve()
            if check_files and not resolved.is_file():
                raise UsageError(f"--file {file_type}={path}: {_not_a_file(resolved)}",
                                 "give a delivery folder with --from-dir" if resolved.is_dir() else None)
            abs_files.setdefault(file_type, []).append(scheme + str(resolved))

    def as_dt(value: date | None) -> datetime | None:
        return None if value is None else datetime(value.year, value.month, value.day, tzinfo=UTC)

    try:
        return Batch(
            key=key, name=name, files=abs_files, complete_types=sorted(set(complete_types or [])),
            param={
                "date_debut": as_dt(date_debut) or DEFAULT_DATE_DEBUT,
                "date_fin": as_dt(date_fin) or month_start_of_key(key),
                "date_fin_effectif": as_dt(date_fin_effectif),
            },
            stock_absent=stock_absent,  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        raise UsageError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming the first invalid field and the reason, for a pydantic error."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "batch"
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}"


def _admin_filter(key: str) -> dict:
    # Dotted paths rather than an equality on the whole _id: same meaning on MongoDB, and the
    # embedded server does not match sub-document equality on _id.
    return {"_id.type": "batch", "_id.key": key}


def save_batch(db: Database, batch: Batch, replace: bool = False) -> None:
    """Insert ``batch`` into ``Admin``; an existing key is an error unless ``replace``."""
    existing = db[ADMIN].find_one(_admin_filter(batch.key), {"_id": 1})
    if existing and not replace:
        raise UsageError(f"batch {batch.key} already exists", "use --replace to overwrite its definition")
    if existing:
        db[ADMIN].delete_one(_admin_filter(batch.key))
    db[ADMIN].insert_one(batch.to_document())


def get_batch(db: Database, key: str) -> Batch:
    """Return the batch ``key``; raises :class:`UsageError` if it is not defined."""
    doc = db[ADMIN].find_one(_admin_filter(key))
    if doc is None:
        raise UsageError(f"batch {key} is not defined", "list batches with `sf batch list`, add one with `sf batch add`")
    return Batch.from_document(doc)


def list_batches(db: Database) -> list[Batch]:
    """Every batch, in string order of keys (the order in which batches are processed)."""
    docs = db[ADMIN].find({"_id.type": "batch"})
    return sorted((Batch.from_document(d) for d in docs), key=lambda b: b.key)


def previous_batch(db: Database, key: str) -> Batch | None:
    """The batch processed just before ``key`` (greatest key below it in string order, the
    processing order of :func:`list_batches`), or None when ``key`` would be the first.

    ``key`` itself need not be defined; a definition of ``key`` is never returned (so
    redefining a batch with ``--replace`` looks at the batch before it).
    """
    before = [b for b in list_batches(db) if b.key < key]
    return before[-1] if before else None


def batch_is_compacted(db: Database, key: str) -> bool:
    """True if some ``RawData`` document holds an entry of batch ``key``."""
    return db[RAW_DATA].find_one({f"value.batch.{key}": {"$exists": True}}, {"_id": 1}) is not None


def remove_batch(db: Database, key: str, force: bool = False) -> None:
    """Delete the definition of batch ``key``.

    Refuses (:class:`UsageError`) when data of that batch is already compacted, unless
    ``force``: the RawData entries stay, but nothing describes their batch any more.
    """
    get_batch(db, key)
    if not force and batch_is_compacted(db, key):
        raise UsageError(f"batch {key} is already compacted into RawData",
                         "purge it first with `sf purge --since-batch`, or use --force")
    db[ADMIN].delete_one(_admin_filter(key))
