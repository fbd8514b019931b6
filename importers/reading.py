"""Reading delivery files: gzip detection, strict decoding and Go-compatible CSV records.

The original engine read every CSV with Go's ``encoding/csv`` (Go 1.14 in v2022), whose
rejection rules (wrong field count, bare or extraneous quotes) decide which lines are
counted as rejected. Python's ``csv`` module and pandas accept those lines silently, so this
module re-implements the Go reader (docs/importers.md §1.1–1.3):

* a path may carry a lowercase scheme prefix (``^[a-z]*:``); ``gzip:`` or a ``.gz`` suffix
  means the file is gunzipped on the fly;
* ``\\r\\n`` is read as ``\\n``; blank lines are skipped and not counted;
* the header is the first record and fixes the number of fields of every later record;
* quotes follow Go's rules, error messages follow Go 1.14 (0-based rune column).

Failure modes: anything that prevents reading the file at all (missing file, not gzip,
truncated gzip, bytes invalid in the declared encoding, empty file, unreadable header,
missing required column) raises :class:`FatalFileError` naming the path and the reason.
Line-level problems are returned as :class:`CsvRecord` with ``error`` set; records are
numbered by their line in the file (header = line 1), the number every report shows.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TextIO

__all__ = [
    "CsvRecord",
    "FatalFileError",
    "GoCsvReader",
    "Header",
    "LineSource",
    "is_gzipped",
    "open_text",
    "strip_scheme",
]

_SCHEME = re.compile(r"^[a-z]*:")

ERR_FIELD_COUNT = "wrong number of fields"
ERR_BARE_QUOTE = 'bare " in non-quoted-field'
ERR_QUOTE = 'extraneous or missing " in quoted-field'


class FatalFileError(Exception):
    """A file that cannot be read at all. ``str(e)`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def strip_scheme(path: str | Path) -> tuple[str, str | None]:
    """Split ``"gzip:/a/b"`` into ``("/a/b", "gzip")``; a path without prefix gives ``(path, None)``.

    Only a lowercase ``^[a-z]*:`` prefix counts as a scheme (docs/importers.md §1.1), so a Windows drive
    letter (uppercase) is left alone.
    """
    text = str(path)
    match = _SCHEME.match(text)
    if match is None:
        return text, None
    return text[match.end():], match.group(0)[:-1]


def is_gzipped(path: str | Path) -> bool:
    """True when the batch path designates a gzip file (``gzip:`` prefix or ``.gz`` suffix)."""
    bare, scheme = strip_scheme(path)
    return scheme == "gzip" or bare.endswith(".gz")


def _io_reason(exc: BaseException) -> str:
    """A one-line reason for a low-level read failure (gzip, zlib, OS)."""
    if isinstance(exc, EOFError):
        return f"truncated gzip file ({exc})"
    if isinstance(exc, gzip.BadGzipFile):
        return f"not a valid gzip file ({exc})"
    if isinstance(exc, zlib.error):
        return f"corrupt gzip data ({exc})"
    if isinstance(exc, UnicodeDecodeError):
        bad = exc.object[exc.start:exc.end]
        return f"invalid {exc.encoding} data (bytes {bad.hex(' ')}): {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


#: Exceptions raised by gzip/decoding while reading, translated into FatalFileError.
READ_ERRORS: tuple[type[BaseException], ...] = (UnicodeDecodeError, EOFError, gzip.BadGzipFile, zlib.error, OSError)


def read_failure(path: str, exc: BaseException, line: int | None = None) -> FatalFileError:
    """Build the FatalFileError for a read failure met at physical ``line`` (1-based) if known."""
    where = f"line {line}: " if line is not None else ""
    return FatalFileError(path, where + _io_reason(exc))


def open_file(bare: str | Path) -> io.BufferedIOBase:
    """Open a plain path (no scheme) for binary reading; FatalFileError naming the path and
    saying whether it is absent, a directory or unreadable."""
    try:
        return open(bare, "rb")  # noqa: SIM115 - owned by the caller
    except IsADirectoryError as exc:
        raise FatalFileError(str(bare), "is a directory, not a file") from exc
    except FileNotFoundError as exc:
        raise FatalFileError(str(bare), "file not found") from exc
    except OSError as exc:
        raise FatalFileError(str(bare), f"cannot open file ({exc.strerror or exc})") from exc


def _open_binary(path: str | Path) -> tuple[str, io.BufferedIOBase]:
    """Open the file of a batch path for binary reading, gunzipping when required.

    Returns the display path (scheme prefix removed) and the byte stream.
    """
    bare, _ = strip_scheme(path)
    binary = open_file(bare)
    if is_gzipped(path):
        # GzipFile does not close a fileobj it was given: keep both and close both.
        return bare, _GzipStream(binary)
    return bare, binary


class _GzipStream(gzip.GzipFile):
    """GzipFile that also closes the underlying file."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        super().__init__(fileobj=raw, mode="rb")
        self._raw_file = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw_file.close()


# Codecs whose encoded newline is not the single byte 0x0A: lines cannot be split on bytes.
_WIDE_CODECS = ("utf-16", "utf-32")


class Closing:
    """``with`` support of the readers: the block returns the reader, leaving it calls ``close()``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LineSource(Closing):
    """Decoded lines of a delivery file, split on ``\n`` only, terminators kept.

    Attributes ``path`` (display path), ``line`` (physical lines read so far) and
    ``offset`` (bytes read so far, for ASCII-compatible encodings). Iterating raises
    FatalFileError naming the path and the physical line when the gzip stream is corrupt
    or truncated or a line is not valid in ``encoding`` (byte offset given when known).
    Lines are decoded one by one, so the lines before a bad one are delivered first.
    """

    def __init__(self, path: str | Path, encoding: str = "utf-8") -> None:
        try:
            codec = codecs.lookup(encoding)
        except LookupError as exc:
            raise FatalFileError(strip_scheme(path)[0], f"unknown encoding {encoding!r}") from exc
        self.path, self._binary = _open_binary(path)
        self.encoding = codec.name
        self.line = 0
        self.offset = 0
        wide = codec.name.startswith(_WIDE_CODECS)
        self._iterator = self._wide_lines() if wide else self._byte_lines()

    def _byte_lines(self) -> Iterator[str]:
        encoding = self.encoding
        path = self.path
        line = 0
        offset = 0
        try:
            for raw in self._binary:
                line += 1
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError as exc:
                    self.line = line
                    bad = raw[exc.start:exc.end]
                    raise FatalFileError(path, f"line {line} (byte offset {offset + exc.start}): invalid "
                                               f"{encoding} data (bytes {bad.hex(' ')}): {exc.reason}") from exc
                offset += len(raw)
                self.line = line
                self.offset = offset
                yield text
        except READ_ERRORS as exc:
            raise read_failure(path, exc, line + 1) from exc

    def _wide_lines(self) -> Iterator[str]:
        text = io.TextIOWrapper(self._binary, encoding=self.encoding, errors="strict",  # type: ignore[arg-type]
                                newline="\n")
        line = 0
        try:
            for decoded in text:
                line += 1
                self.line = line
                yield decoded
        except READ_ERRORS as exc:
            raise read_failure(self.path, exc, line + 1) from exc

    def __iter__(self) -> Iterator[str]:
        return self._iterator

    def __next__(self) -> str:
        return next(self._iterator)

    def close(self) -> None:
        self._binary.close()


class _CheckedText(io.TextIOBase):
    """Read-only text stream over a LineSource (what :func:`open_text` returns)."""

    def __init__(self, source: LineSource) -> None:
        self._source = source
        self._pending = ""

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._source.path

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        if self._pending:
            line, self._pending = self._pending, ""
            return line
        return next(self._source, "")

    def read(self, size: int | None = -1) -> str:
        parts = [self._pending]
        self._pending = ""
        parts.extend(self._source)
        return "".join(parts)

    def __iter__(self) -> Iterator[str]:
        if self._pending:
            line, self._pending = self._pending, ""
            yield line
        yield from self._source

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        self._source.close()
        super().close()


def open_text(path: str | Path, encoding: str = "utf-8") -> TextIO:
    """Open a delivery file as text (docs/importers.md §1.1).

    Input: a batch path, optionally prefixed ``gzip:`` (any ``^[a-z]*:`` prefix is removed),
    gunzipped when the prefix is ``gzip`` or the name ends in ``.gz``; decoded strictly with
    ``encoding`` (no BOM stripping except what the codec itself does, e.g. ``utf-16``).
    Lines keep their terminators and are split on ``\n`` only.
    Output: a text stream (iterate it or use ``readline``/``read``); close it or use ``with``.
    Failure: FatalFileError when the file is missing or unreadable, and — raised while
    reading — when the gzip stream is invalid or truncated or a line is not valid in
    ``encoding`` (the message names the physical line and byte offset).
    """
    return _CheckedText(LineSource(path, encoding))  # type: ignore[return-value]


@dataclass(slots=True)
class CsvRecord:
    """One CSV record: ``number`` and ``physical_line`` are both the 1-based line of the file
    where the record starts (header = line 1), the number every report and message uses
    (the original numbered data records instead, so that ``Line 622`` was file line 623).
    Exactly one of ``fields`` and ``error`` is set; ``error`` is Go's message.
    """

    number: int
    physical_line: int
    fields: list[str] | None
    error: str | None


def _strip_terminator(line: str) -> str:
    """Go ``readLine``: drop ``\\n``, then one ``\\r`` before it or at end of file."""
    line = line.removesuffix("\n")
    line = line.removesuffix("\r")
    return line


def _tokenize(first: str, sep: str, lazy_quotes: bool, next_line: Callable[[], str | None],
              start_line: int) -> tuple[list[str] | None, str | None, int]:
    """Go 1.14 ``encoding/csv`` ``readRecord`` for one record that contains a quote.

    ``first`` is the record's first physical line with its terminator normalised to ``\\n``
    (absent at end of file); ``next_line`` returns the following normalised line or None at
    end of file (quoted fields may span lines). Returns ``(fields, error, lines_consumed)``.
    Columns in messages are 0-based rune indexes in the current physical line, like Go 1.14.
    """
    fields: list[str] = []
    line = first
    full_line = first
    current = start_line
    consumed = 1
    buffer: list[str] = []

    def fail(kind: str, column: int) -> tuple[None, str, int]:
        # The record's own line is the report's line number: name another line only.
        if current != start_line:
            return None, f"parse error on line {current}, column {column}: {kind}", consumed
        return None, f"parse error, column {column}: {kind}", consumed

    while True:
        if not line or line[0] != '"':
            # Unquoted field.
            i = line.find(sep)
            if i >= 0:
                field = line[:i]
            else:
                field = line.removesuffix("\n")
            if not lazy_quotes:
                j = field.find('"')
                if j >= 0:
                    column = len(full_line) - len(line) + j
                    return fail(ERR_BARE_QUOTE, column)
            fields.append(field)
            if i >= 0:
                line = line[i + len(sep):]
                continue
            return fields, None, consumed
        # Quoted field.
        line = line[1:]
        buffer.clear()
        while True:
            i = line.find('"')
            if i >= 0:
                buffer.append(line[:i])
                line = line[i + 1:]
                if line.startswith('"'):
                    buffer.append('"')
                    line = line[1:]
                elif line.startswith(sep):
                    line = line[len(sep):]
                    fields.append("".join(buffer))
                    break
                elif line in ("", "\n"):
                    fields.append("".join(buffer))
                    return fields, None, consumed
                elif lazy_quotes:
                    buffer.append('"')
                else:
                    column = len(full_line) - len(line) - 1
                    return fail(ERR_QUOTE, column)
            elif line:
                # End of physical line inside quotes: the field continues on the next line.
                buffer.append(line)
                following = next_line()
                current += 1  # Go counts a line even when the read hits end of file
                if following is None:
                    line = full_line = ""
                else:
                    consumed += 1
                    line = full_line = following
            else:
                # Abrupt end of file inside a quoted field.
                if not lazy_quotes:
                    return fail(ERR_QUOTE, len(full_line))
                fields.append("".join(buffer))
                return fields, None, consumed


def read_header(reader: Any) -> list[str]:
    """The first non-blank record of a reader being opened (``GoCsvReader`` or the block
    reader: anything with ``_next_physical()``, ``_physical``, ``sep``, ``lazy_quotes`` and
    ``path``). Raises FatalFileError for an empty file or an unreadable header."""
    while True:
        line = reader._next_physical()
        if line is None:
            raise FatalFileError(reader.path, "empty file (no header line)")
        if line in ("\n", ""):
            continue
        start = reader._physical
        fields, error, _ = _tokenize(line, reader.sep, reader.lazy_quotes, reader._next_physical, start)
        if error is not None:
            raise FatalFileError(reader.path, f"unreadable header (line {start}): {error}")
        assert fields is not None
        return fields


class GoCsvReader(Closing):
    """Streaming CSV reader with Go ``encoding/csv`` semantics (docs/importers.md §1.2).

    ``GoCsvReader(path, sep=";", lazy_quotes=False)`` opens the file (gzip-aware, strict
    ``encoding``), reads the header (attribute ``header``) and iterates over
    :class:`CsvRecord` objects. Lines without a quote character take a fast path
    (``str.split``); only lines containing ``"`` go through the full tokenizer.

    Failure modes: FatalFileError at construction when the file cannot be opened, is empty
    (no header) or its header is not a valid record; FatalFileError while iterating when the
    gzip stream is truncated/corrupt or the bytes are not valid in ``encoding``. A wrong
    field count or quote error is a record with ``error`` set; reading goes on.
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: str | Path, *, sep: str, lazy_quotes: bool, encoding: str = "utf-8") -> None:
        if len(sep) != 1 or sep in '"\r\n':
            raise ValueError(f"invalid CSV separator {sep!r}")
        self.sep = sep
        self.lazy_quotes = lazy_quotes
        self._source = LineSource(path, encoding)
        self.path = self._source.path
        self._lines = iter(self._source)
        self._physical = 0  # physical lines consumed so far
        self._number = 0
        try:
            header = self._read_header()
        except BaseException:
            self.close()
            raise
        self.header: list[str] = header

    # -- low level -------------------------------------------------------------------------

    def _next_physical(self) -> str | None:
        """Next line with its terminator normalised to ``\\n`` (None at end of file)."""
        try:
            raw = next(self._lines)
        except StopIteration:
            return None
        self._physical += 1
        if raw.endswith("\n"):
            return _strip_terminator(raw) + "\n"
        return _strip_terminator(raw)

    def _read_header(self) -> list[str]:
        return read_header(self)

    # -- iteration -------------------------------------------------------------------------

    def __iter__(self) -> Iterator[CsvRecord]:
        for number, physical, fields, error in self.rows():
            yield CsvRecord(number, physical, fields, error)

    def rows(self) -> Iterator[tuple[int, int, list[str] | None, str | None]]:
        """Same as iterating the reader, as plain ``(number, physical_line, fields, error)``
        tuples (cheaper than CsvRecord objects on the hot path of large files)."""
        sep = self.sep
        lazy = self.lazy_quotes
        width = len(self.header)
        number = self._number
        physical = self._physical
        try:
            for raw in self._lines:
                physical += 1
                # Go: "\r\n" -> "\n", trailing "\r" dropped at end of file.
                if raw[-1:] == "\n":
                    raw = raw[:-2] if raw[-2:-1] == "\r" else raw[:-1]
                    has_newline = True
                else:
                    if raw[-1:] == "\r":
                        raw = raw[:-1]
                    has_newline = False
                if not raw:
                    continue  # blank line: skipped, not counted
                number += 1
                if '"' not in raw:
                    fields = raw.split(sep)
                    if len(fields) == width:
                        yield physical, physical, fields, None
                    else:
                        yield physical, physical, None, ERR_FIELD_COUNT
                    continue
                # Slow path: Go's tokenizer, which may consume further physical lines.
                start = physical
                self._physical = physical
                quoted, error, _ = _tokenize(raw + "\n" if has_newline else raw, sep, lazy,
                                             self._next_physical, start)
                physical = self._physical
                if error is None and quoted is not None and len(quoted) != width:
                    error, quoted = ERR_FIELD_COUNT, None
                yield start, start, quoted, error
        finally:
            self._number = number
            self._physical = physical

    def close(self) -> None:
        """Close the underlying file (idempotent)."""
        self._source.close()


class Header:
    """Column lookup in a CSV header (docs/importers.md §1.3).

    ``case_insensitive=True`` lowercases the header and the looked-up names (v2022 procol,
    effectif, effectif_ent, admin_urssaf mapping; every HEAD parser). When a name appears
    twice, the first occurrence wins. ``key``, when given, normalises header and looked-up
    names first (Diane: blanks collapsed, apostrophes unified).
    """

    def __init__(self, names: list[str], *, case_insensitive: bool, path: str,
                 key: Callable[[str], str] | None = None) -> None:
        self.names = list(names)
        self.case_insensitive = case_insensitive
        self.path = str(path)
        self._key = key
        self._index: dict[str, int] = {}
        for position, name in enumerate(names):
            self._index.setdefault(self._norm(name), position)

    def _norm(self, column: str) -> str:
        if self._key is not None:
            column = self._key(column)
        return column.lower() if self.case_insensitive else column

    def index(self, column: str) -> int | None:
        """Position of ``column`` in the header, or None when absent."""
        return self._index.get(self._norm(column))

    def __contains__(self, column: str) -> bool:
        return self._norm(column) in self._index

    def require(self, *columns: str) -> dict[str, int]:
        """Positions of every required column, keyed by the names given.

        Raises FatalFileError ``Colonne X non trouvée. Abandon.`` for the first missing one
        (in the order given).
        """
        positions: dict[str, int] = {}
        for column in columns:
            position = self._index.get(self._norm(column))
            if position is None:
                raise FatalFileError(self.path, f"Colonne {column} non trouvée. Abandon.")
            positions[column] = position
        return positions
