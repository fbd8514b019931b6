"""The one skeleton of every source parser: a parser declares its columns and a row function.

A parser module is its record model, its columns and its row function, bound by::

    PARSER = TableParser("paydex", scope="entreprise", columns=COLUMNS, row=row, sep=";")

:class:`TableParser` does the rest, once for all parsers:

* **reading**: the file is opened with Go ``encoding/csv`` semantics (``sf.importers.reading``:
  gzip, strict decoding, line numbers of the file) — or by the parser's own ``reader`` (the
  Ellisphère workbook) — and its header read;
* **header checks**: the declared ``columns`` are located by the ``header`` rule
  (case-insensitive by default); a missing one is FatalFileError ``Colonne X non trouvée.
  Abandon.`` (first missing in the declared order); ``optional`` columns are located when
  present; then ``setup(file, ctx)`` computes what the rows need from the header and the
  batch (account mapping, period columns…) and may raise FatalFileError. All of this happens
  when ``parse`` is called, before the first line;
* **the error branch**: a record the CSV reader rejects (wrong field count, bare quote) is a
  line rejected with the reader's Go message; the row function never sees it;
* **conversion errors**: the row function gets a :class:`Line` (the record's cells by
  declared column name) and converts with ``line.convert(converter, text)``, which records
  the ConversionError's message and gives None; a ConversionError raised by the row
  function itself rejects the line at once (the messages recorded so far, then its own).

What a row function returns:

* ``(key, record)`` — one stored record (``Tuple(tuple_type, key, scope, record)``);
* a list of ``(key, record)`` — several records (or none);
* ``None`` — no record;
* :data:`FILTERED` — the line is outside the batch (unmapped URSSAF account, perimeter):
  counted filtered, its errors ignored.

A line with recorded errors is rejected and its records dropped, unless the parser keeps
records with errors (``keeps_records_with_errors``: effectif, effectif_ent, sirene, diane
store them, as the original did). The tracker (``sf.importers.tracker``) then checks keys,
ranges and the perimeter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import KW_ONLY, dataclass
from operator import itemgetter
from typing import Any, Final, Protocol

from sf.importers.convert import ConversionError
from sf.importers.reading import GoCsvReader, Header
from sf.importers.records import ParseContext, ParsedLine, Scope, SourceRecord, Tuple

__all__ = ["FILTERED", "Emitted", "FileHeader", "HeaderRule", "Line", "Reader", "Row", "TableFile", "TableParser",
           "case_insensitive"]

#: Row data of a reader: ``(number, physical_line, fields, error)`` (``GoCsvReader.rows``).
Row = tuple[int, int, list[Any] | None, str | None]


class _Filtered:
    def __repr__(self) -> str:
        return "FILTERED"


#: What a row function returns for a line outside the batch (counted filtered).
FILTERED: Final = _Filtered()

Emitted = tuple[str, SourceRecord] | list[tuple[str, SourceRecord]] | _Filtered | None


class Reader(Protocol):
    """An open table: ``header`` (column names), ``path`` (display path), ``rows()`` and
    ``close()``. ``GoCsvReader`` and ``BlockCsvReader`` are readers."""

    header: list[str]
    path: str

    def rows(self) -> Iterator[Row]: ...

    def close(self) -> None: ...


#: ``rule(names, path)``: the Header that locates columns in the header ``names``.
HeaderRule = Callable[[list[str], str], Header]


def case_insensitive(names: list[str], path: str) -> Header:
    """The default header rule: names matched case-insensitively, first occurrence wins."""
    return Header(names, case_insensitive=True, path=path)


class Line(dict[str, Any]):
    """One record given to a row function: its cells by declared column name (``line["SIREN"]``;
    an optional column absent from the header is absent here), plus ``fields`` (every cell,
    in file order), ``file`` (what the parser's ``setup`` returned for this file) and
    ``errors`` (messages recorded so far). The skeleton numbers the lines, not the rows."""

    __slots__ = ("errors", "fields", "file")

    fields: list[Any]
    file: Any
    errors: list[str]

    def convert(self, converter: Callable[[Any], Any], text: Any, *, label: str | None = None,
                message: str | None = None) -> Any:
        """``converter(text)``, or None when it raises ConversionError, whose message is then
        recorded (prefixed ``<label>: `` when given; replaced by ``message`` when given)."""
        try:
            return converter(text)
        except ConversionError as exc:
            if message is not None:
                self.errors.append(message)
            elif label is not None:
                self.errors.append(f"{label}: {exc}")
            else:
                self.errors.append(str(exc))
            return None

    @staticmethod
    def try_convert(converter: Callable[[Any], Any], text: Any) -> Any:
        """``converter(text)``, or None when it raises ConversionError, recording nothing (for
        the values the original dropped silently when unparsable)."""
        try:
            return converter(text)
        except ConversionError:
            return None


@dataclass(frozen=True)
class FileHeader:
    """What ``setup`` sees of a file: its display ``path``, header ``names`` and the
    ``positions`` of the declared and found optional columns."""

    path: str
    names: list[str]
    positions: dict[str, int]


RowFunction = Callable[[Line], Emitted]
Setup = Callable[[FileHeader, ParseContext], Any]


@dataclass
class TableParser:
    """A source parser from its declaration (see the module docstring).

    ``file_type``: the batch file type; ``columns``: required columns, in the order their
    absence is reported; ``row``: the row function; ``scope`` and ``tuple_type`` (default
    ``file_type``) of the stored records; ``sep``, ``lazy_quotes`` and ``encoding`` (a codec
    name, or a function of the path giving it) of the CSV file; ``header``: the rule
    locating columns; ``optional``: columns located when present; ``setup(file, ctx)``: the
    per-file state given to rows as ``line.file``; ``reader(path)``: opens a non-CSV table;
    ``keeps_records_with_errors``: see the module docstring.
    """

    file_type: str
    _: KW_ONLY
    scope: Scope
    columns: Sequence[str]
    row: RowFunction
    tuple_type: str = ""
    sep: str = ";"
    lazy_quotes: bool = False
    encoding: str | Callable[[str], str] = "utf-8"
    header: HeaderRule = case_insensitive
    optional: Sequence[str] = ()
    setup: Setup | None = None
    reader: Callable[[str], Reader] | None = None
    keeps_records_with_errors: bool = False

    def __post_init__(self) -> None:
        self.tuple_type = self.tuple_type or self.file_type

    def open_csv(self, path: str) -> Reader:
        """The CSV reader of ``path`` (header read); FatalFileError when unreadable."""
        encoding = self.encoding if isinstance(self.encoding, str) else self.encoding(path)
        return GoCsvReader(path, sep=self.sep, lazy_quotes=self.lazy_quotes, encoding=encoding)

    def open(self, path: str, ctx: ParseContext, reader: Reader | None = None) -> TableFile:
        """Open ``path`` (or take ``reader``, already open on it), check its header and run
        ``setup``. FatalFileError when the file cannot be read, a column is missing or
        ``setup`` refuses the file; the reader is closed before raising."""
        if reader is None:
            reader = self.reader(path) if self.reader is not None else self.open_csv(path)
        try:
            header = self.header(reader.header, reader.path)
            positions = header.require(*self.columns)
            for column in self.optional:
                index = header.index(column)
                if index is not None:
                    positions[column] = index
            file = FileHeader(reader.path, reader.header, positions)
            state = self.setup(file, ctx) if self.setup is not None else None
        except BaseException:
            reader.close()
            raise
        return TableFile(self, reader, positions, state)

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
        """One ParsedLine per record of ``path``. FatalFileError (raised by this call) when
        the file cannot be opened, lacks a column or is refused by ``setup``; (raised while
        iterating) when it turns out unreadable (truncated gzip, bad bytes)."""
        return self.open(path, ctx).lines()


class TableFile:
    """A file being parsed: its ``reader``, the ``positions`` of its columns, the ``state``
    made by ``setup``, and :attr:`line`, the function turning one reader row into a
    ParsedLine (the fast path of cotisation uses it for the lines it does not convert)."""

    def __init__(self, parser: TableParser, reader: Reader, positions: dict[str, int], state: Any) -> None:
        self.parser = parser
        self.reader = reader
        self.positions = positions
        self.state = state
        self.line: Callable[[Row], ParsedLine] = _line_function(parser, positions, state)

    def lines(self) -> Iterator[ParsedLine]:
        """One ParsedLine per row; closes the reader when exhausted or closed."""
        line = self.line
        try:
            for row in self.reader.rows():
                yield line(row)
        finally:
            self.reader.close()


def _line_function(parser: TableParser, positions: dict[str, int], state: Any) -> Callable[[Row], ParsedLine]:
    """The per-row work, with everything per-file looked up once."""
    names = tuple(positions)
    indexes = tuple(positions.values())
    cells: Callable[[list[Any]], tuple[Any, ...]]
    if len(indexes) == 1:
        only = indexes[0]
        cells = lambda fields: (fields[only],)  # noqa: E731 - itemgetter of one index is no tuple
    elif indexes:
        cells = itemgetter(*indexes)
    else:
        cells = lambda fields: ()  # noqa: E731
    row_function = parser.row
    tuple_type = parser.tuple_type
    scope = parser.scope
    keep = parser.keeps_records_with_errors

    def line(item: Row) -> ParsedLine:
        number, _, fields, error = item
        if fields is None:
            return ParsedLine(number, errors=[error or "invalid CSV record"])
        current = Line(zip(names, cells(fields)))  # noqa: B905 - same length by construction
        current.fields = fields
        current.file = state
        errors: list[str] = []
        current.errors = errors
        try:
            emitted = row_function(current)
        except ConversionError as exc:
            errors.append(str(exc))
            return ParsedLine(number, errors=errors)
        if emitted is FILTERED:
            return ParsedLine(number, filtered=True)
        if emitted is None or (errors and not keep):
            return ParsedLine(number, errors=errors)
        if type(emitted) is tuple:
            return ParsedLine(number, [Tuple(tuple_type, emitted[0], scope, emitted[1])], errors)
        return ParsedLine(number, [Tuple(tuple_type, key, scope, record)
                                   for key, record in emitted], errors)  # type: ignore[union-attr]

    return line
