"""Column-wise records, canonical texts and hashes: the import fast path.

A parser with a fast path (``parse_blocks``) converts a whole :class:`CsvBlock` at once
with vectorised checks that accept only cells whose conversion is unambiguous (e.g. a plain
decimal ``-?[0-9]+(.[0-9]+)?`` amount), and sends every other record — any cell the
vectorised check does not accept, any key that is not a valid SIRET/SIREN — to its
per-line function, the same code as ``parse``. So every rejection message, line number
and count comes from the per-line path, and the fast path only ever handles records that
are valid or *filtered* without a message.

Its output, in file order, mixes :class:`ParsedLine` (per-line records) and
:class:`RecordBlock` (a run of error-free records, column-wise: keys, stored documents and
their :func:`sf.importers.identity.record_hash`, computed from canonical texts built
column-wise by :func:`record_texts`). ``sf.importers.tracker.track`` counts both and
``ImportedDataWriter.add_block`` stores a RecordBlock. ``tests/importers/test_fast_path.py``
checks, on random files mixing good and broken lines, that the fast path gives exactly
the tuples (type, key, document, hash) and report of the per-line path.

Parsers with a fast path: ``cotisation`` (helpers here are generic: any parser emitting at
most one record per line can reuse :func:`emit_block`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import blake2b
from itertools import repeat
from json.encoder import encode_basestring
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sf.engine.bulk import paused_gc  # re-exported: the parsers import it from here
from sf.importers.block_reading import CsvBlock, Row
from sf.importers.identity import HASH_VERSION, canonical_value
from sf.importers.perimeter import AccountMapping, Perimeter
from sf.importers.records import ParsedLine, Scope

__all__ = [
    "MappingIndex",
    "RecordBlock",
    "comma_float_column",
    "emit_block",
    "epoch_us",
    "float_texts",
    "hash_texts",
    "keys_in_perimeter",
    "mapping_index",
    "paused_gc",
    "record_texts",
    "string_texts",
    "valid_keys",
]


@dataclass(slots=True)
class RecordBlock:
    """A run of ``lines`` consecutive error-free CSV records of one file.

    ``filtered`` of them were filtered by the parser (no record); the others gave one
    record each: ``keys[i]`` (entity key, valid for ``scope``), ``documents[i]`` (the
    stored document, as ``SourceRecord.to_document`` gives it) and ``hashes[i]``
    (``record_hash(type, documents[i])``).
    """

    type: str
    scope: Scope
    lines: int
    filtered: int
    keys: list[str]
    documents: list[dict[str, Any]]
    hashes: list[str]

    def __len__(self) -> int:
        return len(self.keys)

    def select(self, keep: np.ndarray) -> RecordBlock:
        """The same block with only the records where ``keep`` is true (counts unchanged)."""
        index = np.flatnonzero(keep).tolist()
        return RecordBlock(self.type, self.scope, self.lines, self.filtered, [self.keys[i] for i in index],
                           [self.documents[i] for i in index], [self.hashes[i] for i in index])

    def tuples(self) -> Iterator[tuple[str, str, dict[str, Any], str]]:
        """``(type, key, document, hash)`` of every record."""
        for key, document, digest in zip(self.keys, self.documents, self.hashes, strict=True):
            yield self.type, key, document, digest


# -- canonical texts (the recipe of sf.importers.identity, column-wise) ------------------------

_NEEDS_ESCAPE = r'[\x00-\x1f\\"]'


def string_texts(values: pa.StringArray) -> pa.StringArray:
    """JSON texts of strings, as ``json.encoder.encode_basestring`` (non-ASCII kept)."""
    quoted = pc.binary_join_element_wise('"', values, '"', "")
    escape = pc.match_substring_regex(values, _NEEDS_ESCAPE)
    if pc.any(escape).as_py():
        rows = np.flatnonzero(escape.to_numpy(zero_copy_only=False))
        texts = [encode_basestring(values[int(i)].as_py()) for i in rows]
        quoted = pc.replace_with_mask(quoted, escape, pa.array(texts, pa.string()))
    return quoted


def float_texts(values: pa.DoubleArray) -> pa.StringArray:
    """Python ``repr`` texts of floats (null stays null).

    Arrow's shortest round-trip formatting gives the same digits as ``repr`` where both use
    fixed notation (``1e-4 <= |x|`` and no exponent in Arrow's text), except for the ``.0``
    that ``repr`` adds to integral values; other values (and NaN/inf) are formatted by
    ``repr`` itself.
    """
    texts = pc.cast(values, pa.string())
    exotic = pc.or_(pc.or_(pc.invert(pc.is_finite(values)), pc.match_substring(texts, "e")),
                    pc.and_(pc.less(pc.abs(values), 1e-4), pc.not_equal(values, 0.0)))
    texts = pc.if_else(pc.match_substring(texts, "."), texts, pc.binary_join_element_wise(texts, ".0", ""))
    if pc.any(exotic).as_py():
        mask = pc.fill_null(exotic, False)
        rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        texts = pc.replace_with_mask(texts, mask, pa.array([repr(values[int(i)].as_py()) for i in rows],
                                                           pa.string()))
    return texts


def record_texts(tuple_type: str, fields: dict[str, pa.Array | str]) -> pa.StringArray:
    """The canonical texts of ``identity.canonical_text`` for one record per row.

    ``fields`` maps each stored field name to the canonical text of its value per row
    (an array, null where the field is absent from the document, or one text for every
    row); nested documents are given as their canonical object text.
    """
    parts = [pc.binary_join_element_wise(canonical_value(name) + ":", fields[name], "")
             for name in sorted(fields)]
    body = pc.binary_join_element_wise(*parts, ",", null_handling="skip")
    suffix = '},"type":' + canonical_value(tuple_type) + ',"v":' + str(HASH_VERSION) + "}"
    return pc.binary_join_element_wise('{"record":{', body, suffix, "")


def hash_texts(texts: pa.StringArray) -> list[str]:
    """``blake2b(digest_size=16)`` hex digests of the UTF-8 texts (``record_hash``)."""
    hasher = blake2b
    return [hasher(text, digest_size=16).hexdigest() for text in texts.cast(pa.binary()).to_pylist()]


# -- conversions --------------------------------------------------------------------------------

_PLAIN_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"
#: Longer plain decimals may overflow a double (Go: "value out of range"): per-line path.
_PLAIN_MAX = 300


def comma_float_column(cells: pa.StringArray) -> tuple[pa.DoubleArray, np.ndarray]:
    """``convert.comma_float`` column-wise: ``(values, ok)``.

    ``ok[i]`` is true when cell ``i`` is empty (value null, i.e. None) or, once every ``,``
    is replaced by ``.``, a plain decimal ``-?[0-9]+(.[0-9]+)?`` of at most 300 characters, whose value Arrow parses
    with correct rounding as Python/Go do; other cells (Go exponents, ``inf``, errors…)
    are left to the per-line converter (``ok`` false, value null).
    """
    dotted = pc.replace_substring(cells, ",", ".")
    plain = pc.and_(pc.match_substring_regex(dotted, _PLAIN_DECIMAL),
                    pc.less_equal(pc.binary_length(dotted), _PLAIN_MAX))
    values = pc.cast(pc.if_else(plain, dotted, pa.scalar(None, pa.string())), pa.float64())
    ok = pc.or_(plain, pc.equal(cells, "")).to_numpy(zero_copy_only=False)
    return values, ok


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def epoch_us(moment: datetime) -> int:
    """Microseconds since 1970-01-01 UTC (naive datetimes taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICRO


_SCOPE_PATTERN = {"etablissement": "^[0-9]{14}$", "entreprise": "^[0-9]{9}$"}


def valid_keys(keys: pa.StringArray, scope: Scope) -> np.ndarray:
    """Where ``keys`` pass the tracker's key check (14 or 9 ASCII digits)."""
    return pc.match_substring_regex(keys, _SCOPE_PATTERN[scope]).to_numpy(zero_copy_only=False)


@dataclass(frozen=True)
class MappingIndex:
    """An AccountMapping as arrays: ``rows[compte]`` is an index into ``first_siret``
    (object array), ``first_closing_us`` (int64), ``first_siret_ok`` (14-digit SIRET) and
    ``entries`` (how many SIRETs the account had)."""

    rows: dict[str, int]
    first_siret: np.ndarray
    first_closing_us: np.ndarray
    first_siret_ok: np.ndarray
    entries: np.ndarray

    #: Accounts made of exactly ``width`` ASCII digits (the usual shape), as sorted
    #: integers with their rows: looked up by binary search, without a Python object per line.
    width: int = 0
    sorted_accounts: np.ndarray | None = None
    sorted_rows: np.ndarray | None = None

    def lookup(self, comptes: pa.StringArray, as_list: list[str]) -> np.ndarray:
        """Row of each account (``comptes``, also given as ``as_list``), -1 when unknown."""
        numbers = _digit_numbers(comptes, self.width) if self.sorted_accounts is not None else None
        if numbers is None:
            return np.fromiter(map(self.rows.get, as_list, repeat(-1)), dtype=np.int64, count=len(as_list))
        table, rows = self.sorted_accounts, self.sorted_rows
        assert table is not None and rows is not None
        position = np.minimum(np.searchsorted(table, numbers), len(table) - 1)
        return np.where(table[position] == numbers, rows[position], -1)


def _digit_numbers(values: pa.StringArray, width: int) -> np.ndarray | None:
    """The strings as uint64 when every one is exactly ``width`` (1..19) ASCII digits — then
    equal numbers mean equal strings — else None."""
    if len(values) == 0 or values.null_count or not 0 < width <= 19:
        return None
    lengths = pc.binary_length(values)
    if pc.min_max(lengths)["min"].as_py() != width or pc.min_max(lengths)["max"].as_py() != width:
        return None
    if not pc.all(pc.ascii_is_decimal(values)).as_py():
        return None
    return pc.cast(values, pa.uint64()).to_numpy()


_INDEXES: weakref.WeakKeyDictionary[AccountMapping, MappingIndex] = weakref.WeakKeyDictionary()


def mapping_index(mapping: AccountMapping) -> MappingIndex:
    """The (cached) MappingIndex of ``mapping``; built once per mapping object."""
    index = _INDEXES.get(mapping)
    if index is None:
        firsts = mapping.first_entries()
        closings: dict[datetime | None, int] = {}
        for _, _, closing, _ in firsts:
            if closing not in closings:
                closings[closing] = 0 if closing is None else epoch_us(closing)
        sirets = np.array([siret or "" for _, siret, _, _ in firsts] + [""], dtype=object)
        accounts = pa.array([compte for compte, _, _, _ in firsts], pa.string())
        lengths = pc.binary_length(accounts).to_numpy(zero_copy_only=False)
        width = int(np.bincount(lengths).argmax()) if len(lengths) else 0
        digits = pc.ascii_is_decimal(accounts).to_numpy(zero_copy_only=False)
        same = np.flatnonzero((lengths == width) & digits) if 0 < width <= 19 else np.array([], dtype=np.int64)
        table = pc.cast(accounts.take(pa.array(same)), pa.uint64()).to_numpy()
        order = np.argsort(table, kind="stable")
        index = MappingIndex(
            rows={compte: row for row, (compte, _, _, _) in enumerate(firsts)},
            first_siret=sirets,
            first_closing_us=np.array([closings[closing] for _, _, closing, _ in firsts] + [0], dtype=np.int64),
            first_siret_ok=valid_keys(pa.array(sirets.tolist(), pa.string()), "etablissement"),
            entries=np.array([count for _, _, _, count in firsts] + [0], dtype=np.int64),
            width=width if len(same) else 0, sorted_accounts=table[order] if len(same) else None,
            sorted_rows=same[order].astype(np.int64) if len(same) else None)
        _INDEXES[mapping] = index
    return index


_PERIMETERS: weakref.WeakKeyDictionary[Perimeter, pa.Array] = weakref.WeakKeyDictionary()


def keys_in_perimeter(perimeter: Perimeter, keys: list[str]) -> np.ndarray:
    """``perimeter.contains(key)`` for every key, vectorised."""
    sirens = _PERIMETERS.get(perimeter)
    if sirens is None:
        sirens = _PERIMETERS[perimeter] = pa.array(sorted(perimeter.sirens), pa.string())
    array = pa.array(keys, pa.string())
    inside = pc.is_in(pc.utf8_slice_codeunits(array, 0, 9), value_set=sirens)
    long_enough = pc.greater_equal(pc.utf8_length(array), 9)
    return pc.and_(inside, long_enough).to_numpy(zero_copy_only=False)


# -- emission in file order ---------------------------------------------------------------------

Built = tuple[list[str], list[dict[str, Any]], list[str]]


def emit_block(block: CsvBlock, *, fast: np.ndarray, produced: np.ndarray, build: Callable[[np.ndarray], Built],
               slow: Callable[[Row], ParsedLine], tuple_type: str, scope: Scope) -> Iterator[ParsedLine | RecordBlock]:
    """The output of one CsvBlock, in file order.

    ``fast[i]``: good record ``i`` is handled column-wise; ``produced[i]``: a fast record
    gives one record (else it is filtered); ``build(indices)`` returns keys, documents and
    hashes of the fast produced records ``indices`` (ascending); ``slow(row)`` is the
    per-line parse of a row, used for every other record and for the block's error rows.
    """
    size = len(block)
    gives = fast & produced
    built: Built = build(np.flatnonzero(gives)) if gives.any() else ([], [], [])
    keys, documents, hashes = built
    records_before = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(gives, out=records_before[1:])
    events = sorted([(position, 0, row) for position, row in block.bad]
                    + [(int(i), 1, None) for i in np.flatnonzero(~fast)], key=lambda e: (e[0], e[1]))

    def run(first: int, stop: int) -> RecordBlock:
        r0, r1 = int(records_before[first]), int(records_before[stop])
        return RecordBlock(tuple_type, scope, stop - first, (stop - first) - (r1 - r0), keys[r0:r1],
                           documents[r0:r1], hashes[r0:r1])

    cursor = 0
    for position, kind, row in events:
        if position > cursor:
            yield run(cursor, position)
            cursor = position
        if kind == 0:
            yield slow(row)  # type: ignore[arg-type]
        else:
            yield slow(block.row(position))
            cursor = position + 1
    if size > cursor:
        yield run(cursor, size)


