"""cotisation: URSSAF contributions due and paid per account and period (docs/importers.md §3.2).

File ``Sigfaible_cotisdues.csv[.gz]``: ``;``-separated, lazy quotes. Columns used
``Compte``, ``periode`` (``YYQM``/``YYYYQM``), ``enc_direct`` (paid), ``cotis_due`` (due),
amounts in euros with ``,`` or ``.`` decimals. v2022 layout: exact header, key = SIRET of
the account at the period start (admin_urssaf mapping; no SIRET → line *filtered*). HEAD
layout (a ``Siret`` column): key = that column, header case-insensitive.

Per line: an invalid period is an error (the lookup then uses Go's zero date, as the
original did); amount errors are errors; a tuple is emitted only for an error-free line.

Two entry points give the same results: ``parse`` (one ParsedLine per record) and
``parse_blocks`` (the column-wise fast path of ``sf.importers.columnar``: RecordBlocks for
runs of error-free lines, the per-line function for every other line).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sf.importers.block_reading import BLOCK_BYTES, BlockCsvReader, CsvBlock, Row
from sf.importers.bounds import column_within
from sf.importers.columnar import (
    Built,
    RecordBlock,
    comma_float_column,
    emit_block,
    epoch_us,
    float_texts,
    hash_texts,
    mapping_index,
    paused_gc,
    record_texts,
    string_texts,
    valid_keys,
)
from sf.importers.convert import ConversionError, Periode, comma_float, urssaf_period
from sf.importers.identity import canonical_value
from sf.importers.perimeter import AccountMapping
from sf.importers.records import ParseContext, ParsedLine, SourceRecord
from sf.importers.table import Line, TableFile
from sf.importers.urssaf import UrssafParser, period_row

__all__ = ["COLUMNS", "PARSER", "CotisationParser", "CotisationRecord"]


class CotisationRecord(SourceRecord):
    """Stored cotisation: ``encaisse`` (paid) and ``du`` (due) in euros, None when empty."""

    numero_compte: str
    periode: Periode
    encaisse: float | None = None
    du: float | None = None


COLUMNS = ("Compte", "periode", "enc_direct", "cotis_due")


def _record(line: Line, compte: str, periode: Periode | None) -> CotisationRecord:
    return CotisationRecord.build(numero_compte=compte, periode=periode,
                                  encaisse=line.convert(comma_float, line["enc_direct"]),
                                  du=line.convert(comma_float, line["cotis_due"]))


#: The per-line path (the fast path's fallback): keyed by account and period.
row = period_row("Compte", "periode", _record)


class CotisationParser(UrssafParser):
    """The cotisation parser, with the column-wise fast path ``parse_blocks``."""

    #: Bytes per block of the fast path (tests lower it to put block boundaries anywhere).
    block_bytes = BLOCK_BYTES

    def __init__(self) -> None:
        super().__init__("cotisation", columns=COLUMNS, row=row, lazy_quotes=True)

    def parse_blocks(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine | RecordBlock]:
        """Same lines as :meth:`parse` (same order, counts, messages and records), with runs
        of error-free lines given as RecordBlocks (documents and hashes computed
        column-wise). Same failure modes as :meth:`parse`."""
        reader = BlockCsvReader(path, sep=self.sep, lazy_quotes=self.lazy_quotes, block_bytes=self.block_bytes)
        return _items(self.open(path, ctx, reader), reader)


def _items(file: TableFile, reader: BlockCsvReader) -> Iterator[ParsedLine | RecordBlock]:
    """The lines of ``file``: CsvBlocks converted column-wise, every other row by the row function."""
    positions, mapping, slow = file.positions, file.state, file.line
    reader.select_columns(list(positions.values()))
    try:
        for item in reader.items():
            if isinstance(item, CsvBlock):
                yield from _fast_block(item, positions, mapping, slow)
            else:
                yield slow(item)
    finally:
        reader.close()


_PERIOD_DOCS: dict[str, tuple[int, Any, Any, str] | None] = {}


def _period(text: str) -> tuple[int, Any, Any, str] | None:
    """(start in µs, start, end, canonical text) of a valid period cell, None if invalid."""
    if text in _PERIOD_DOCS:
        return _PERIOD_DOCS[text]
    try:
        periode = urssaf_period(text)
    except ConversionError:
        found = None
    else:
        document = periode.to_document()
        found = (epoch_us(periode.start), periode.start, periode.end, canonical_value(document))
    if len(_PERIOD_DOCS) < 100_000:
        _PERIOD_DOCS[text] = found
    return found


def _fast_block(block: CsvBlock, positions: dict[str, int], mapping: AccountMapping | None,
                slow: Callable[[Row], ParsedLine]) -> Iterator[ParsedLine | RecordBlock]:
    """Column-wise conversion of a CsvBlock; every record it cannot vouch for goes to ``slow``."""
    size = len(block)
    i_compte, i_periode, i_encaisse, i_du = (positions[column] for column in COLUMNS)
    i_siret = positions.get("siret")
    compte = block.columns[i_compte]
    encoded = pc.dictionary_encode(block.columns[i_periode])
    periods = [_period(text) for text in encoded.dictionary.to_pylist()]
    period_row = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    period_ok = np.array([p is not None for p in periods] + [False], dtype=bool)
    start_us = np.array([p[0] if p else 0 for p in periods] + [0], dtype=np.int64)[period_row]
    fast = period_ok[period_row]
    encaisse, encaisse_ok = comma_float_column(block.columns[i_encaisse])
    du, du_ok = comma_float_column(block.columns[i_du])
    # Out-of-range amounts go to the per-line path too, where the tracker rejects them.
    amounts_ok = (encaisse_ok & du_ok & column_within("cotisation", "encaisse", encaisse)
                  & column_within("cotisation", "du", du))
    comptes: list[str] = compte.to_pylist()
    if mapping is not None:
        index = mapping_index(mapping)
        rows = index.lookup(compte, comptes)
        entries = index.entries[rows]
        fast &= entries <= 1  # accounts with several SIRETs: per-line lookup
        produced = (entries == 1) & (start_us < index.first_closing_us[rows])
        # A produced record needs valid amounts and key; a filtered line needs nothing more.
        fast &= ~produced | (amounts_ok & index.first_siret_ok[rows])
        sirets = index.first_siret[rows]
    else:
        siret_column = block.columns[i_siret]  # type: ignore[index]
        produced = np.ones(size, dtype=bool)
        fast &= amounts_ok & valid_keys(siret_column, "etablissement")
        sirets = np.array(siret_column.to_pylist(), dtype=object)

    def build(take: np.ndarray) -> Built:
        picked = pa.array(take)
        keys: list[str] = sirets[take].tolist()
        own = [comptes[i] for i in take.tolist()]
        paid = encaisse.take(picked)
        due = du.take(picked)
        chosen = period_row[take].tolist()
        texts = record_texts("cotisation", {
            "du": float_texts(due), "encaisse": float_texts(paid),
            "numero_compte": string_texts(compte.take(picked)),
            "periode": pa.array([p[3] if p else "" for p in periods], pa.string()).take(pa.array(chosen))})
        hashes = hash_texts(texts)
        bounds = [(p[1], p[2]) if p else (None, None) for p in periods]
        with paused_gc():  # many small acyclic dicts: no reason to let the cyclic GC scan them
            documents = [{"numero_compte": c, "periode": {"start": bounds[r][0], "end": bounds[r][1]},
                          "encaisse": e, "du": d}
                         for c, r, e, d in zip(own, chosen, paid.to_pylist(), due.to_pylist(), strict=True)]
        if paid.null_count or due.null_count:
            for document in documents:  # None is not stored (SourceRecord.to_document)
                if document["encaisse"] is None:
                    del document["encaisse"]
                if document["du"] is None:
                    del document["du"]
        return keys, documents, hashes

    yield from emit_block(block, fast=fast, produced=produced, build=build, slow=slow, tuple_type="cotisation",
                          scope="etablissement")


PARSER = CotisationParser()
