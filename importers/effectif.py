"""effectif: monthly headcount per establishment (docs/importers.md §3.6).

File ``Sigfaible_effectif_siret.csv`` (any name containing ``effectif_``): ``;``-separated,
strict quotes, wide layout ``compte;siret;rais_soc;ape_ins;dep;eff201011;…;base;UR_EMET``.
Required columns (case-insensitive): ``siret`` (key), ``compte``. Period columns: every
header name starting with ``eff`` (case-sensitive), period = ``UrssafToPeriod(name[3:9])``
start (``eff201631`` = July 2016).

Per line and period column: an empty cell is skipped; otherwise every non-digit is removed
and the rest parsed as an integer (error recorded when nothing is left); a value > 0 emits
a tuple (zeros are dropped, v2022). Errors do not prevent the other columns' tuples: such
a line is rejected AND its tuples are stored, as in the original.

Deviation: an ``eff…`` header whose period cannot be parsed (shorter than ``effYYYYQM`` or
not numeric) makes the file fatal (the original crashed on short names and used year 1 for
the others).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sf.importers.convert import ConversionError, effectif_int, urssaf_period
from sf.importers.reading import FatalFileError
from sf.importers.records import SourceRecord
from sf.importers.table import Emitted, FileHeader, Line, TableParser

__all__ = ["COLUMNS", "PARSER", "EffectifRecord", "period_columns", "periods"]

COLUMNS = ("siret", "compte")


class EffectifRecord(SourceRecord):
    """Stored headcount of one establishment for one month."""

    numero_compte: str
    periode: datetime
    effectif: int


def period_columns(names: list[str], path: str) -> list[tuple[int, datetime]]:
    """``(column index, period start)`` of every ``eff…`` column of a headcount header.

    Raises FatalFileError naming the column when its period is not ``effYYYYQM``/``effYYQM``.
    """
    columns: list[tuple[int, datetime]] = []
    for index, name in enumerate(names):
        if not name.startswith("eff"):
            continue
        code = name[3:9]
        try:
            if len(code) != 6:
                raise ConversionError("valeur non autorisée")
            start = urssaf_period(code).start
        except ConversionError as exc:
            raise FatalFileError(path, f"colonne de période invalide {name!r} (attendu effAAAATM): {exc}") from exc
        columns.append((index, start))
    return columns


def periods(file: FileHeader, ctx: Any) -> list[tuple[int, datetime]]:
    """The per-file state of the headcount parsers: :func:`period_columns` of the header."""
    return period_columns(file.names, file.path)


def headcounts(line: Line, converter: Callable[[str], int]) -> Iterator[tuple[datetime, int]]:
    """``(period start, headcount)`` of every period cell of ``line`` (``line.file`` is
    :func:`periods`) holding a headcount > 0; empty cells are skipped, a cell ``converter``
    refuses is an error of the line that does not prevent the others."""
    for index, start in line.file:
        cell = line.fields[index]
        if cell:
            value = line.convert(converter, cell)
            if value is not None and value > 0:
                yield start, value


def row(line: Line) -> Emitted:
    """One record per period column with a headcount > 0 (see :func:`headcounts`)."""
    siret, compte = line["siret"], line["compte"]
    return [(siret, EffectifRecord.build(numero_compte=compte, periode=start, effectif=value))
            for start, value in headcounts(line, effectif_int)]


PARSER = TableParser("effectif", scope="etablissement", columns=COLUMNS, row=row, setup=periods,
                     keeps_records_with_errors=True)
