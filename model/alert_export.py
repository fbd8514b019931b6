"""The alerts of a batch as a file a front end reads (``sf alerts export``): Parquet or JSON Lines.

One row per alerted establishment (level ``high`` or ``moderate``), most at risk first, with
the key facts of :func:`sf.model.alerts.alert_table` and the explanation as stored in Scores.
:data:`EXPORT_FIELDS` is the schema (column, Arrow type, meaning; the README copies it):
Parquet files carry exactly these Arrow types; JSON Lines hold one object per line with the
same keys (``periode`` as ``"YYYY-MM-DD"``, unknown values as ``null``).

The file is written next to its destination under a temporary name, then renamed: a failed
export never leaves a truncated file under the requested name.

Failure modes: ``ModelOptionError`` for a format that is neither ``parquet`` nor ``jsonl``
(or a path whose suffix does not say which); ``OSError`` when the file cannot be written.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pymongo.database import Database

from .alerts import alert_table
from .errors import ModelOptionError
from .themes import THEME_LABELS

__all__ = ["EXPORT_FIELDS", "EXPORT_FORMATS", "EXPORT_SCHEMA", "export_alerts", "export_format", "export_records"]

_REASON = pa.struct([("theme", pa.string()), ("label", pa.string()), ("contribution", pa.float64())])
_VARIABLE = pa.struct([("name", pa.string()), ("theme", pa.string()), ("contribution", pa.float64())])

#: (column, Arrow type, meaning) of an export, in column order.
EXPORT_FIELDS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("batch", pa.string(), "batch key the scores belong to"),
    ("rang", pa.int32(), "rank in the batch's alerts, 1 = highest score"),
    ("siret", pa.string(), "establishment identifier (14 digits)"),
    ("siren", pa.string(), "company identifier (9 digits)"),
    ("raison_sociale", pa.string(), "company name"),
    ("commune", pa.string(), "town name (registry), else the INSEE commune code"),
    ("code_commune", pa.string(), "INSEE commune code"),
    ("departement", pa.string(), "département code (35, 2A, 974)"),
    ("code_region", pa.string(), "INSEE region code (53)"),
    ("region", pa.string(), "region name (Bretagne)"),
    ("secteur", pa.string(), "NAF section label, else the NAF code"),
    ("code_naf", pa.string(), "NAF section code"),
    ("effectif", pa.float64(), "establishment headcount of the month"),
    ("dette_urssaf", pa.float64(), "outstanding URSSAF debt, employee + employer shares (EUR)"),
    ("score", pa.float64(), "calibrated probability of insolvency proceedings within 18 months"),
    ("alert", pa.string(), "alert level: high or moderate"),
    ("model", pa.string(), "version of the model that scored"),
    ("periode", pa.date32(), "month the score is about (first day)"),
    ("raisons", pa.string(), "the explanation in French words"),
    ("reasons", pa.list_(_REASON), "contribution of each theme (log-odds; label in French), largest first"),
    ("top_variables", pa.list_(_VARIABLE), "variables contributing most (log-odds), most risk-increasing first"),
)
EXPORT_SCHEMA = pa.schema([(name, kind) for name, kind, _ in EXPORT_FIELDS])
EXPORT_FORMATS: dict[str, str] = {".parquet": "parquet", ".jsonl": "jsonl"}


def export_format(path: Path, fmt: str | None = None) -> str:
    """``parquet`` or ``jsonl``: ``fmt`` when given, else from the suffix of ``path``."""
    if fmt is not None:
        if fmt not in EXPORT_FORMATS.values():
            raise ModelOptionError(f"unknown export format {fmt!r}; expected parquet or jsonl")
        return fmt
    found = EXPORT_FORMATS.get(Path(path).suffix.lower())
    if found is None:
        raise ModelOptionError(f"cannot tell the export format of {path}: name it .parquet or .jsonl, "
                               "or give --format parquet|jsonl")
    return found


def _value(value: Any) -> Any:
    """NaN, NaT and numpy scalars → JSON/Arrow-friendly Python values."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def _float(value: Any) -> float | None:
    value = _value(value)
    return None if value is None else float(value)


def export_records(db: Database, batch: str) -> list[dict[str, Any]]:
    """The rows of the export of ``batch`` (keys of :data:`EXPORT_FIELDS`; ``periode`` a ``date``)."""
    table = alert_table(db, batch)
    records = []
    for row in table.to_dict("records"):
        reasons = sorted(row["reasons"].items(), key=lambda tc: -tc[1])
        records.append({
            "batch": batch, "rang": int(row["rang"]),
            **{name: (None if _value(row[name]) is None else str(row[name]))
               for name in ("siret", "siren", "raison_sociale", "commune", "code_commune", "departement",
                            "code_region", "region", "secteur", "code_naf", "alert", "model", "raisons")},
            "effectif": _float(row["effectif"]), "dette_urssaf": _float(row["dette_urssaf"]),
            "score": float(row["score"]), "periode": pd.Timestamp(row["periode"]).date(),
            "reasons": [{"theme": t, "label": THEME_LABELS.get(t, t), "contribution": float(c)} for t, c in reasons],
            "top_variables": [{"name": v.get("name"), "theme": v.get("theme"), "contribution": _float(v.get("contribution"))}
                              for v in row["top_variables"]],
        })
    return [{name: record[name] for name, _, _ in EXPORT_FIELDS} for record in records]


def _write_atomic(path: Path, write: Any) -> None:
    """``write(temporary path)`` then rename it to ``path`` (the temporary file is removed on failure)."""
    path = Path(path)
    # Not tempfile.mkstemp: its 0600 mode would stay on the export; this name is per process.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def export_alerts(db: Database, batch: str, path: Path, fmt: str | None = None) -> dict[str, Any]:
    """Write the alerts of ``batch`` to ``path``; returns ``{batch, path, format, rows}``."""
    fmt = export_format(path, fmt)
    records = export_records(db, batch)

    def parquet(target: Path) -> None:
        pq.write_table(pa.Table.from_pylist(records, schema=EXPORT_SCHEMA), target)

    def jsonl(target: Path) -> None:
        with target.open("w", encoding="utf-8") as out:
            for record in records:
                line = {**record, "periode": record["periode"].isoformat()}
                out.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")

    _write_atomic(Path(path), parquet if fmt == "parquet" else jsonl)
    return {"batch": batch, "path": str(path), "format": fmt, "rows": len(records)}
