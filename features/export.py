"""Export a batch's Features to Parquet for data science: ``sf features export``.

One row per establishment and month (sorted by SIRET then month), one column per catalogue
variable (:mod:`sf.features.catalogue`, in catalogue order) with its type: ``float`` →
float64 (NaN = absent), ``bool`` → pandas nullable ``boolean``, ``string`` → string,
``datetime`` → UTC timestamps. The pandas metadata stored in the file makes
``pd.read_parquet(FILE)`` give back exactly these dtypes. Variables absent from every row are
still columns (all missing), so every export of every batch has the same schema. The
parity-only ``_null_fields`` column is never exported (BSON nulls read back as missing).

Filters: ``min_effectif`` keeps rows whose establishment headcount ``effectif`` is ``>= N``
(rows without a headcount are dropped, as the original's consumers did); ``since`` keeps
months ``>= since``. The documents are streamed in chunks and written as one row group per
chunk, so memory does not grow with the size of the batch.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pymongo.database import Database
from sf.engine.bulk import paused_gc
from sf.engine.collections import FEATURES
from sf.engine.errors import UsageError

from .catalogue import CATALOGUE

#: Documents per Parquet row group.
CHUNK_ROWS = 50_000


@dataclass
class ExportSummary:
    """What an export wrote."""

    batch: str
    path: str
    rows: int
    columns: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 3)}


def _empty_typed_frame() -> pd.DataFrame:
    data: dict[str, Any] = {}
    for var in CATALOGUE:
        if var.dtype == "float":
            data[var.name] = pd.Series([], dtype="float64")
        elif var.dtype == "bool":
            data[var.name] = pd.Series([], dtype="boolean")
        elif var.dtype == "string":
            data[var.name] = pd.Series([], dtype="string")
        else:
            data[var.name] = pd.Series([], dtype="datetime64[us, UTC]")
    return pd.DataFrame(data)


def features_schema() -> pa.Schema:
    """Arrow schema of the export (catalogue order and types, with the pandas metadata that
    makes ``pd.read_parquet`` restore the nullable dtypes)."""
    return pa.Schema.from_pandas(_empty_typed_frame(), preserve_index=False)


def _column(values: list[Any], arrow_type: pa.DataType, name: str) -> pa.Array:
    try:
        if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
            values = [v if v is None or isinstance(v, str) else str(v) for v in values]
        elif pa.types.is_floating(arrow_type):
            values = [None if v is None else _number(v) for v in values]
        elif pa.types.is_boolean(arrow_type):
            values = [None if v is None else bool(v) for v in values]
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise UsageError(f"Features variable {name!r} has a value of an unexpected type: {exc}") from None


def _number(value: Any) -> float:
    if isinstance(value, str):
        raise ValueError(f"text {value!r} where a number is expected")
    return float(value)


def documents_table(docs: list[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Arrow table (``schema``) of Features documents' ``value``; unknown fields are ignored."""
    values = [d.get("value") or {} for d in docs]
    arrays = [_column([v.get(f.name) for v in values], f.type, f.name) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def export_query(batch: str, min_effectif: float | None, since: datetime | None) -> dict[str, Any]:
    """The Features filter of an export (dotted paths: the embedded server cannot match a
    whole sub-document ``_id``)."""
    query: dict[str, Any] = {"_id.batch": batch}
    if min_effectif is not None:
        query["value.effectif"] = {"$gte": min_effectif}
    if since is not None:
        query["value.periode"] = {"$gte": since if since.tzinfo else since.replace(tzinfo=UTC)}
    return query


def export_features(db: Database, batch: str, out: Path | str, *, min_effectif: float | None = None,
                    since: datetime | None = None, collection: str = FEATURES,
                    chunk_rows: int = CHUNK_ROWS) -> ExportSummary:
    """Write the Features of ``batch`` (filtered) to the Parquet file ``out`` (see module docstring).

    Raises :class:`UsageError` when the collection holds no Features of ``batch`` at all, or
    when a stored value does not fit its catalogue type (naming the variable). The file is
    written to ``out`` + ``.part`` and renamed at the end, so a failed export leaves no
    half-written file under the requested name.
    """
    started = time.monotonic()
    if db[collection].find_one({"_id.batch": batch}, {"_id": 1}) is None:
        raise UsageError(f"no {collection} document for batch {batch}",
                         f"compute them first: sf features --until-batch {batch}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    schema = features_schema()
    rows = 0
    cursor = db[collection].find(export_query(batch, min_effectif, since)) \
        .sort([("_id.siret", 1), ("_id.periode", 1)]).batch_size(2_000)
    try:
        with paused_gc(), pq.ParquetWriter(partial, schema) as writer:  # bulk BSON decoding
            chunk: list[Mapping[str, Any]] = []
            for doc in cursor:
                chunk.append(doc)
                if len(chunk) >= chunk_rows:
                    writer.write_table(documents_table(chunk, schema))
                    rows += len(chunk)
                    chunk = []
            if chunk or rows == 0:
                writer.write_table(documents_table(chunk, schema))
                rows += len(chunk)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)
    return ExportSummary(batch=batch, path=str(out), rows=rows, columns=len(schema),
                         seconds=time.monotonic() - started)


__all__ = [
    "CHUNK_ROWS",
    "ExportSummary",
    "documents_table",
    "export_features",
    "export_query",
    "features_schema",
]
