"""Reading a batch's Features from MongoDB into the DataFrame the pure model functions take.

``load_feature_table(db, batch, ...)`` streams the Features documents of one batch
(``{"_id": {"batch", "siret", "periode"}, "value": {...}}``, see :mod:`sf.features.compute`)
in chunks, with a projection on the wanted variables only, and returns one row per
(establishment, month) with the columns ``siret``, ``siren``, ``periode`` (``datetime64[ns, UTC]``,
first day of the month) and the requested catalogue variables, typed from the catalogue:

- ``float`` → ``float64`` (NaN = absent), ``bool`` → pandas nullable ``boolean``,
- ``string`` → ``object`` (``str`` or ``None``), ``datetime`` → ``datetime64[ns, UTC]``.

A variable absent from a document (the Features writer omits absent values) is missing in
that row; a variable absent from every document is a column of missing values, so the
table always has the requested columns.

``load_model_table(db, batch, columns=...)`` reads the same way and also computes the derived
variables of :mod:`sf.model.trends` (changes and slopes over 3/6/12 months, the naive debt
score) from each SIRET's earlier months.

``model_variables()`` is the default list of model inputs (catalogue features minus dates,
identifiers, labels, free text and over-fine location codes); ``in_scope(table)`` marks the
rows a model is trained, evaluated and scored on (establishments not already in, or past,
insolvency proceedings: the target's "strong signals", :mod:`sf.features.target`).

Failure modes: ``ValueError`` for an unknown variable name, and for a stored value that does
not fit its catalogue type (naming the variable, the SIRET and the month).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype
from pymongo.database import Database
from sf.engine.bulk import paused_gc
from sf.engine.collections import FEATURES
from sf.engine.documents import unflatten
from sf.features.catalogue import CATALOGUE, VARIABLES

from .errors import ModelInputError, ModelOptionError
from .scoring import NON_FEATURE_COLUMNS
from .trends import LOOKBACK_MONTHS, add_derived, derived_in, source_columns

ID_COLUMNS: tuple[str, ...] = ("siret", "siren", "periode")
# Kinds of pandas.api.types.infer_dtype for which np.array(values, float64) is exact.
_NUMERIC_KINDS = frozenset({"floating", "integer", "mixed-integer-float", "boolean", "empty"})
DEFAULT_CHUNK = 20_000
# Above this many variables, read whole documents rather than a projection (see load_feature_table).
MAX_PROJECTED = 40

# Location codes too fine to be model inputs (thousands of communes, coordinates, full APE
# sub-classes): a model keyed on them would learn places, not difficulties, and would not
# generalise to an establishment of an unseen commune. The NAF section and APE division remain.
EXCLUDED_FROM_MODEL: frozenset[str] = frozenset({
    "code_commune", "latitude", "longitude", "departement", "code_ape", "code_ape_niveau3", "code_ape_niveau4",
})


def model_variables() -> list[str]:
    """Default model inputs, in catalogue order: every catalogue feature that is not a date, not in
    :data:`sf.model.scoring.NON_FEATURE_COLUMNS` (identifiers, proceedings state, labels,
    names, region) and not in :data:`EXCLUDED_FROM_MODEL`."""
    return [v.name for v in CATALOGUE
            if v.role == "feature" and v.dtype != "datetime" and v.name not in NON_FEATURE_COLUMNS
            and v.name not in EXCLUDED_FROM_MODEL]


def _wanted(columns: Iterable[str] | None) -> list[str]:
    names = [v.name for v in CATALOGUE if v.name not in ID_COLUMNS] if columns is None else list(dict.fromkeys(columns))
    unknown = [c for c in names if c not in VARIABLES]
    if unknown:
        raise ModelOptionError(f"unknown Features variable(s): {', '.join(unknown)} (not in sf.features.catalogue)")
    return [c for c in names if c not in ID_COLUMNS]


def periode_filter(periode: datetime | None = None, since: datetime | None = None,
                   before: datetime | None = None) -> dict[str, Any]:
    """Condition on ``_id.periode``: equal to ``periode``, or within ``[since, before)``."""
    if periode is not None:
        return {"_id.periode": periode}
    bounds: dict[str, Any] = {}
    if since is not None:
        bounds["$gte"] = since
    if before is not None:
        bounds["$lt"] = before
    return {"_id.periode": bounds} if bounds else {}


def _documents(db: Database, query: dict[str, Any], projection: dict[str, int], chunk: int
               ) -> Iterator[list[dict[str, Any]]]:
    """Lists of at most ``chunk`` documents (nested ``value`` whatever the server)."""
    cursor = db[FEATURES].find(query, projection, batch_size=min(chunk, 10_000))
    buffer: list[dict[str, Any]] = []
    for doc in cursor:
        buffer.append(unflatten(doc))
        if len(buffer) >= chunk:
            yield buffer
            buffer = []
    if buffer:
        yield buffer


def _typed(name: str, raw: list[Any], sirets: list[str], periodes: list[Any]) -> Any:
    """Column ``name`` with its catalogue dtype; ``ValueError`` naming the first bad value's row."""
    dtype = VARIABLES[name].dtype

    def bad(i: int, what: str) -> ModelInputError:
        return ModelInputError(f"Features variable {name!r}: value {raw[i]!r} of siret {sirets[i]} at "
                               f"{pd.Timestamp(periodes[i]):%Y-%m} is not {what}")

    if dtype in ("float", "bool"):
        kind = infer_dtype(raw, skipna=True)
        if kind in _NUMERIC_KINDS and (dtype == "float" or kind in ("boolean", "empty")):
            out = np.array(raw, dtype=np.float64)  # fast path: None → NaN, True → 1.0
            return out if dtype == "float" else pd.arrays.BooleanArray(out == 1.0, np.isnan(out))
        out = np.full(len(raw), np.nan)
        for i, v in enumerate(raw):
            if v is None:
                continue
            if isinstance(v, (bool, int, float)):
                out[i] = float(v)
            else:
                raise bad(i, "a number" if dtype == "float" else "a boolean")
        if dtype == "float":
            return out
        if not np.isin(out[~np.isnan(out)], (0.0, 1.0)).all():
            i = int(np.flatnonzero(~np.isnan(out) & (out != 0.0) & (out != 1.0))[0])
            raise bad(i, "a boolean")
        return pd.arrays.BooleanArray(out == 1.0, np.isnan(out))
    if dtype == "string":
        # An explicit object Series: pandas >= 3 would otherwise infer its "str" dtype (NaN for None).
        return pd.Series([None if v is None else str(v) for v in raw], dtype=object)
    for i, v in enumerate(raw):  # datetime
        if v is not None and not isinstance(v, datetime):
            raise bad(i, "a date")
    return _utc_ns(raw)


def _utc_ns(values: list[Any]) -> Any:
    """Dates as a ``datetime64[ns, UTC]`` array (pandas picks the resolution from the input otherwise)."""
    return pd.to_datetime(pd.Series(values, dtype=object), utc=True).astype("datetime64[ns, UTC]").array


def _frame(docs: list[dict[str, Any]], names: list[str]) -> pd.DataFrame:
    values = [d.get("value") or {} for d in docs]
    ids = [d["_id"] for d in docs]
    sirets = [str(i["siret"]) for i in ids]
    periodes = [i["periode"] for i in ids]
    data: dict[str, Any] = {
        "siret": pd.Series(sirets, dtype=object),
        "siren": pd.Series([str(v.get("siren") or s[:9]) for v, s in zip(values, sirets)], dtype=object),
        "periode": _utc_ns(periodes),
    }
    for name in names:
        data[name] = _typed(name, [v.get(name) for v in values], sirets, periodes)
    return pd.DataFrame(data)


def empty_table(columns: Iterable[str] | None = None) -> pd.DataFrame:
    """A table with no row and the columns and dtypes :func:`load_feature_table` would give."""
    return _frame([], _wanted(columns))


def load_feature_table(db: Database, batch: str, *, columns: Iterable[str] | None = None,
                       periode: datetime | None = None, since: datetime | None = None,
                       before: datetime | None = None, sirets: Iterable[str] | None = None,
                       chunk: int = DEFAULT_CHUNK) -> pd.DataFrame:
    """The Features of ``batch`` as a typed DataFrame (see the module docstring).

    ``columns``: catalogue variables to read (default: every catalogue variable); ``periode``
    (one month) or ``since``/``before`` (``[since, before)``) restrict the months read;
    ``sirets`` restricts the establishments. Rows are sorted by ``siret`` then ``periode``.
    Returns an empty table (with the columns) when nothing matches. ``ValueError`` as in the
    module docstring.
    """
    names = _wanted(columns)
    query: dict[str, Any] = {"_id.batch": batch, **periode_filter(periode, since, before)}
    if sirets is not None:
        query["_id.siret"] = {"$in": sorted(set(sirets))}
    # A projection on the wanted variables only: Features documents carry ~400 variables and
    # most reads (scoring, alerts) need a handful. Dotted paths come back flat from the embedded
    # server, nested ones from MongoDB; unflatten() normalises both.
    # With many variables the whole "value" is cheaper: the embedded server applies a projection
    # path by path (300 dotted paths made a read ten times slower than the whole documents).
    if columns is None or len(names) > MAX_PROJECTED:
        projection = {"_id": 1, "value": 1}
    else:
        projection = {"_id": 1, "value.siren": 1, **{f"value.{n}": 1 for n in names}}
    frames: list[pd.DataFrame] = []
    with paused_gc():  # bulk BSON decoding
        for docs in _documents(db, query, projection, chunk):
            frames.append(_frame(docs, names))
    if not frames:
        return empty_table(names)
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return table.sort_values(["siret", "periode"], kind="stable", ignore_index=True)


def load_model_table(db: Database, batch: str, *, columns: Iterable[str], periode: datetime | None = None,
                     since: datetime | None = None, before: datetime | None = None,
                     sirets: Iterable[str] | None = None) -> pd.DataFrame:
    """Like :func:`load_feature_table`, but ``columns`` may also name derived variables
    (:mod:`sf.model.trends`: changes and slopes over 3/6/12 months, the naive debt score).

    Their sources are read from :data:`~sf.model.trends.LOOKBACK_MONTHS` months before the first
    month asked for (``periode`` or ``since``), the derived columns are computed per SIRET from
    months ``<= p`` only, then the rows are cut back to the months asked for. The result holds
    ``siret``, ``siren``, ``periode`` and ``columns``, rows sorted by ``siret`` then ``periode``.
    Failure modes: those of :func:`load_feature_table` and :func:`sf.model.trends.add_derived`.
    """
    columns = list(dict.fromkeys(columns))
    derived = derived_in(columns)
    plain = [c for c in columns if c not in set(derived)]
    if not derived:
        return load_feature_table(db, batch, columns=plain, periode=periode, since=since, before=before,
                                  sirets=sirets)
    first = periode if periode is not None else since
    read_since = None if first is None else (pd.Timestamp(first) - pd.DateOffset(months=LOOKBACK_MONTHS)).to_pydatetime()
    read_before = before if periode is None else (pd.Timestamp(periode) + pd.DateOffset(months=1)).to_pydatetime()
    table = load_feature_table(db, batch, columns=list(dict.fromkeys([*plain, *source_columns(derived)])),
                               since=read_since, before=read_before, sirets=sirets)
    table = add_derived(table, derived)[[*ID_COLUMNS, *columns]]
    if first is not None:
        start = pd.Timestamp(first)
        start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
        table = table.loc[table["periode"] >= start].reset_index(drop=True)
    return table


def feature_month(db: Database, batch: str, *, last: bool = True) -> pd.Timestamp | None:
    """The last (or first) month that ``batch`` has Features for, as a UTC timestamp; None if none.

    A sort with a limit, not ``distinct``: the embedded server's ``distinct`` turns numeric-looking
    strings into numbers, and a sort on the indexed ``_id`` fields stays cheap on both servers.
    """
    doc = db[FEATURES].find_one({"_id.batch": batch}, {"_id": 1}, sort=[("_id.periode", -1 if last else 1)])
    if doc is None:
        return None
    stamp = pd.Timestamp(doc["_id"]["periode"])
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def feature_months(db: Database, batch: str) -> list[pd.Timestamp]:
    """The distinct months (UTC timestamps, ascending) that ``batch`` has Features for."""
    months = db[FEATURES].distinct("_id.periode", {"_id.batch": batch})
    stamps = [pd.Timestamp(m) for m in months]
    return sorted(s.tz_localize("UTC") if s.tzinfo is None else s.tz_convert("UTC") for s in stamps)


def in_scope(table: pd.DataFrame) -> pd.Series:
    """Rows a model is trained, evaluated and scored on: not already in (or past) proceedings.

    ``time_til_outcome <= 0`` marks an establishment whose company is in proceedings at the
    month or had them before (docs/features.md §3.3, :mod:`sf.features.target`): its label is
    known from the past, so keeping it would inflate every metric ("strong signals"), and an
    alert on it is useless. Without a ``time_til_outcome`` column every row is in scope.
    """
    if "time_til_outcome" not in table.columns:
        return pd.Series(True, index=table.index)
    t = pd.to_numeric(table["time_til_outcome"], errors="coerce")
    return ~(t <= 0)
