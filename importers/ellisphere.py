"""ellisphere: group structure of companies (head of group, holding level), docs/importers.md §3.16.

Input ``Ellisphère-Tête de groupe-*.xlsx``: a workbook with exactly one sheet, read with
openpyxl in read-only streaming mode (cached formula values). Its first non-empty row is
the header; the columns of :data:`COLUMNS` (``GRP Code``, ``GRP Personne PouM``, ``GRP
SIREN 9``, ``GRP RefID``, ``GRP Raison Sociale``, ``GRP Adresse``, ``Niveau de détention``,
``% Financier``, ``FIL Code``, ``FIL Personne PouM``, ``FIL SIREN 9`` — the key — and
``FIL RefID``) are found by name there; the others are ignored.

Every later non-empty row is a line: text fields take the cell's displayed text (a numeric
cell ``1234567`` gives ``"1234567"``); the detention level is ``ParseInt`` of the raw cell
and the financial share ``ParseFloat``; the first failure rejects the row with the Go
message, so an empty numeric cell rejects its row. Line numbers are sheet row numbers;
entirely empty rows are skipped and not counted.

Deviations: the original read columns by position and counted the header row as a line
(always rejected, ``strconv.ParseInt: parsing "Niveau de détention"…``), so a workbook
lacking a column rejected every line instead of failing. Here the header is not a data
line, and a missing column fails the file.

Failure modes: FatalFileError when the file is missing, is not an xlsx workbook, has a
number of sheets other than 1 (``the source has N sheets, should have only 1``), has no
header row, or its header lacks a column (``Colonne X non trouvée. Abandon.``).

Stored shape follows v2022 (texts omitted when empty). Deviation: a detention level or
share of 0 is stored (the original's ``omitempty`` dropped it). Key: ``FIL SIREN 9``
(entreprise, not stored).
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, BinaryIO

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from sf.importers.convert import ConversionError, go_quote, parse_float
from sf.importers.reading import FatalFileError, Header, is_gzipped, open_file, strip_scheme
from sf.importers.records import SourceRecord
from sf.importers.table import Emitted, Line, Row, TableParser

__all__ = ["COLUMNS", "PARSER", "Ellisphere", "cell_raw", "cell_text"]

class Ellisphere(SourceRecord):
    """Head of group of a company and the group's hold on it (stored names of v2022)."""

    code_groupe: str | None = None
    siren_groupe: str | None = None
    refid_groupe: str | None = None
    raison_sociale_groupe: str | None = None
    adresse_groupe: str | None = None
    personne_pou_m_groupe: str | None = None
    niveau_detention: int
    part_financiere: float
    code_filiere: str | None = None
    refid_filiere: str | None = None
    personne_pou_m_filiere: str | None = None



def _number_text(value: float) -> str:
    """Go ``FormatFloat(f, 'f', -1, 64)``: shortest round-trip digits, never an exponent."""
    if value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def cell_text(value: Any) -> str:
    """Displayed text of a cell value read by openpyxl (``General`` format): numbers without
    a trailing ``.0`` or exponent, booleans ``TRUE``/``FALSE``, dates ISO, empty → ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value)


def cell_raw(value: Any) -> str:
    """Raw stored text of a cell value (what the original passed to ParseInt/ParseFloat):
    ``1`` → ``"1"``, ``90.2`` → ``"90.2"``, ``2.0`` → ``"2.0"``, booleans ``1``/``0``, empty → ``""``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return cell_text(value)


def _parse_int(raw: str) -> int:
    """Go ``strconv.ParseInt(raw, 10, 64)``; ConversionError with the Go message."""
    digits = raw[1:] if raw[:1] in ("+", "-") else raw
    if not (digits.isascii() and digits.isdigit()):
        raise ConversionError(f"strconv.ParseInt: parsing {go_quote(raw)}: invalid syntax")
    value = int(raw)
    if not -(2**63) <= value < 2**63:
        raise ConversionError(f"strconv.ParseInt: parsing {go_quote(raw)}: value out of range")
    return value


def _parse_float(raw: str) -> float:
    """Go ``strconv.ParseFloat(raw, 64)`` where the empty string is an error too."""
    value = parse_float(raw)
    if value is None:
        raise ConversionError(f"strconv.ParseFloat: parsing {go_quote(raw)}: invalid syntax")
    return value


#: The columns read, by their header name (matched case-insensitively, blanks collapsed).
COLUMNS = ("GRP Code", "GRP Personne PouM", "GRP SIREN 9", "GRP RefID", "GRP Raison Sociale", "GRP Adresse",
           "Niveau de détention", "% Financier", "FIL Code", "FIL Personne PouM", "FIL SIREN 9", "FIL RefID")


def _header(names: list[str], path: str) -> Header:
    """Header rule of the workbook: names matched case-insensitively, blanks collapsed."""
    return Header(names, case_insensitive=True, path=path, key=lambda name: " ".join(name.split()))


def row(line: Line) -> Emitted:
    """The ``FIL SIREN 9`` and record of one row; the original reads the numbers in order
    and stops at the first failure (a raised ConversionError)."""
    niveau = _parse_int(cell_raw(line["Niveau de détention"]))
    part = _parse_float(cell_raw(line["% Financier"]))

    def text(column: str) -> str | None:
        return cell_text(line[column]) or None

    return cell_text(line["FIL SIREN 9"]), Ellisphere.build(
        code_groupe=text("GRP Code"), siren_groupe=text("GRP SIREN 9"), refid_groupe=text("GRP RefID"),
        raison_sociale_groupe=text("GRP Raison Sociale"), adresse_groupe=text("GRP Adresse"),
        personne_pou_m_groupe=text("GRP Personne PouM"), niveau_detention=niveau, part_financiere=part,
        code_filiere=text("FIL Code"), refid_filiere=text("FIL RefID"), personne_pou_m_filiere=text("FIL Personne PouM"),
    )


def _open_workbook(path: str) -> tuple[str, Any]:
    bare, _ = strip_scheme(path)
    try:
        source: BinaryIO
        raw = open_file(bare)
        if is_gzipped(path):
            with raw, gzip.GzipFile(fileobj=raw, mode="rb") as compressed:
                source = io.BytesIO(compressed.read())
        else:
            # A file object, not a name: openpyxl refuses names without an xlsx extension
            # (the original's test file is called ``*.excel``).
            source = raw  # owned by the read-only workbook
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise FatalFileError(bare, f"not a valid gzip file ({exc})") from exc
    except OSError as exc:
        raise FatalFileError(bare, f"cannot open file ({exc.strerror or exc})") from exc
    try:
        workbook = load_workbook(source, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        source.close()
        raise FatalFileError(bare, f"not a readable xlsx workbook ({type(exc).__name__}: {exc})") from exc
    count = len(workbook.sheetnames)
    if count != 1:
        workbook.close()
        source.close()
        raise FatalFileError(bare, f"the source has {count} sheets, should have only 1")
    return bare, (workbook, source)


def _rows(bare: str, workbook: Any, source: BinaryIO) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """``(sheet row number, cells)`` of every non-empty row; closes the workbook at the end."""
    try:
        sheet = workbook[workbook.sheetnames[0]]
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            if all(cell is None or cell == "" for cell in cells):
                continue
            yield number, tuple(cells)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, zlib.error, SyntaxError) as exc:
        # SyntaxError: the XML parsers' errors (ElementTree.ParseError, lxml's XMLSyntaxError)
        # for a sheet cut or damaged inside a readable archive.
        raise FatalFileError(bare, f"unreadable sheet ({type(exc).__name__}: {exc})") from exc
    finally:
        workbook.close()
        source.close()


class _Workbook:
    """The reader of an Ellisphère workbook: ``header`` (the displayed text of the first
    non-empty row), ``path``, ``rows()`` (later non-empty rows as ``(sheet row number, same,
    cells padded to the header's width, None)``) and ``close()``. FatalFileError at
    construction when the workbook cannot be opened, has more than one sheet or no header row."""

    def __init__(self, path: str) -> None:
        self.path, (workbook, source) = _open_workbook(path)
        self._rows = _rows(self.path, workbook, source)
        first = next(self._rows, None)
        if first is None:
            raise FatalFileError(self.path, "empty sheet (no header row)")
        self.header = [cell_text(cell) for cell in first[1]]

    def rows(self) -> Iterator[Row]:
        width = len(self.header)
        for number, cells in self._rows:
            if len(cells) < width:
                cells = cells + (None,) * (width - len(cells))
            yield number, number, list(cells), None

    def close(self) -> None:
        self._rows.close()


PARSER = TableParser("ellisphere", scope="entreprise", columns=COLUMNS, row=row, header=_header, reader=_Workbook)
