"""Block-wise Go-compatible CSV reading: the columnar fast path's reader.

:class:`BlockCsvReader` reads a delivery file by blocks of complete lines (about
``block_bytes`` bytes each) and yields, in file order, either

* a :class:`CsvBlock` — a *simple* block (no ``"`` at all, valid in the file's encoding, no
  ``\\r`` other than in ``\\r\\n``) split column-wise by ``pyarrow.csv``: the records whose
  field count matches the header, as ``pyarrow`` string columns, plus the records with a
  wrong field count as ready-made error rows; or
* a plain row ``(number, physical_line, fields, error)`` exactly as
  :meth:`sf.importers.reading.GoCsvReader.rows` yields it, for every record of a block that
  is not simple (quotes, bad bytes, lone ``\\r``) — the per-line Go tokenizer then applies,
  including quoted fields spanning lines across a block boundary.

Both paths give the same records, numbers, physical lines, Go error messages and
FatalFileError messages (truncated gzip, undecodable bytes: same line and byte offset) as
``GoCsvReader``; ``tests/importers/test_fast_path.py`` checks it on random files.
Memory is bounded by one block, whatever the file size.

Supported encodings for simple blocks: ``utf-8`` and ``utf-8-sig`` (a block holding a BOM
is not simple: the line-wise reader strips a BOM at the start of every line). Any other
byte-splittable encoding works but every block takes the per-line path; UTF-16/32 are
refused (ValueError) — use ``GoCsvReader``.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sf.importers.reading import (
    ERR_FIELD_COUNT,
    READ_ERRORS,
    Closing,
    FatalFileError,
    _open_binary,
    _strip_terminator,
    _tokenize,
    read_failure,
    read_header,
    strip_scheme,
)

__all__ = ["BLOCK_BYTES", "BlockCsvReader", "CsvBlock", "Row"]

#: Default block size: about 40,000 cotisation lines; bounds the reader's memory.
BLOCK_BYTES = 2 << 20

Row = tuple[int, int, list[str] | None, str | None]

_BOM = codecs.BOM_UTF8


class _ReadFailed(Exception):
    """The byte stream failed (gzip/OS error); the reader turns it into a FatalFileError
    naming the line it was about to read, as ``LineSource`` does."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _ByteLines:
    """Complete lines of a binary stream, one at a time or by blocks, sharing one buffer.

    A read failure is kept until the complete lines read before it are consumed, then
    raised as :class:`_ReadFailed`; the partial line before a failure is dropped (a line
    reader loses it too). At a clean end of file a last line without ``\\n`` is returned.
    """

    def __init__(self, binary: io.BufferedIOBase, block_bytes: int) -> None:
        self._binary = binary
        self._block_bytes = block_bytes
        self._read = getattr(binary, "read1", binary.read)
        self._buf = b""
        self._pos = 0
        self._eof = False
        self._error: BaseException | None = None

    def _fill(self) -> bool:
        """Append about one block of bytes to the buffer; False when nothing was added."""
        if self._eof:
            return False
        chunks: list[bytes] = []
        size = 0
        try:
            while size < self._block_bytes:
                data = self._read(self._block_bytes - size)
                if not data:
                    self._eof = True
                    break
                chunks.append(data)
                size += len(data)
        except READ_ERRORS as exc:
            self._error = exc
            self._eof = True
        if not chunks:
            return False
        self._buf = self._buf[self._pos:] + b"".join(chunks)
        self._pos = 0
        return True

    def _end(self) -> bytes | None:
        """What is left at end of input: the failure, a last unterminated line, or None."""
        if self._error is not None:
            raise _ReadFailed(self._error)
        if self._pos < len(self._buf):
            rest = self._buf[self._pos:]
            self._pos = len(self._buf)
            return rest
        return None

    def _through_newline(self, find: Callable[[bytes, bytes, int], int]) -> bytes | None:
        """The buffer from the current position through the ``\\n`` that ``find`` (``bytes.find``:
        the first, ``bytes.rfind``: the last) finds in it, reading more while there is none."""
        while True:
            i = find(self._buf, b"\n", self._pos)
            if i >= 0:
                piece = self._buf[self._pos:i + 1]
                self._pos = i + 1
                return piece
            if not self._fill():
                return self._end()

    def next_line(self) -> bytes | None:
        """The next line with its ``\\n`` (None at end of file)."""
        return self._through_newline(bytes.find)

    def next_block(self) -> bytes | None:
        """The next run of complete lines (at least one, about a block), None at end."""
        if len(self._buf) - self._pos < self._block_bytes:
            self._fill()
        return self._through_newline(bytes.rfind)


@dataclass(slots=True)
class CsvBlock:
    """Records of a simple block, column-wise.

    ``columns[i]``: the pyarrow string column of header position ``i`` (only the positions
    asked for), one value per *good* record (field count matching the header);
    ``numbers``/``physical``: the file lines of the good records (both the same: records are
    numbered by their line in the file);
    ``bad``: the records with a wrong field count as ``(position, row)``, ``position``
    being the number of good records before it (rows are GoCsvReader-style error rows).
    :meth:`fields` gives the full field list of a good record (for a per-line fallback).
    """

    columns: dict[int, pa.StringArray]
    numbers: np.ndarray
    physical: np.ndarray
    bad: list[tuple[int, Row]]
    sep: str
    _data: bytes = field(repr=False)
    _starts: np.ndarray = field(repr=False)
    _ends: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.numbers)

    def fields(self, index: int) -> list[str]:
        """All fields of good record ``index``, as the line reader splits them."""
        return self._data[self._starts[index]:self._ends[index]].decode("utf-8").split(self.sep)

    def row(self, index: int) -> Row:
        """Good record ``index`` as a GoCsvReader row."""
        return int(self.numbers[index]), int(self.physical[index]), self.fields(index), None


class BlockCsvReader(Closing):
    """Go ``encoding/csv`` reader producing column blocks where it can (module docstring).

    ``BlockCsvReader(path, sep=";", lazy_quotes=True, columns=[2, 3])``: opens the file,
    reads the header (attribute ``header``, same rules and errors as ``GoCsvReader``);
    iterate :meth:`items` for CsvBlock objects and rows. ``columns`` are the header
    positions wanted in blocks (default: all). Use as a context manager or call close().
    Failure modes: as GoCsvReader (FatalFileError at construction or while iterating).
    """

    def __init__(self, path: str | Path, *, sep: str, lazy_quotes: bool, encoding: str = "utf-8",
                 columns: Sequence[int] | None = None, block_bytes: int = BLOCK_BYTES) -> None:
        if len(sep) != 1 or sep in '"\r\n':
            raise ValueError(f"invalid CSV separator {sep!r}")
        try:
            codec = codecs.lookup(encoding)
        except LookupError as exc:
            raise FatalFileError(strip_scheme(path)[0], f"unknown encoding {encoding!r}") from exc
        if codec.name.startswith(("utf-16", "utf-32")):
            raise ValueError(f"BlockCsvReader cannot split {codec.name} on bytes; use GoCsvReader")
        self.sep = sep
        self.lazy_quotes = lazy_quotes
        self.encoding = codec.name
        self._simple_ok = codec.name in ("utf-8", "utf-8-sig")
        self._check_bom = codec.name == "utf-8-sig"
        self.path, self._binary = _open_binary(path)
        self._lines = _ByteLines(self._binary, block_bytes)
        self._physical = 0  # physical lines consumed
        self._offset = 0  # bytes consumed
        self._number = 0  # records read
        self._pending: list[bytes] = []  # lines of the current per-line block, reversed
        try:
            self.header = self._read_header()
        except BaseException:
            self.close()
            raise
        width = len(self.header)
        self._columns = sorted(set(range(width) if columns is None else columns))
        self._names = [f"c{i}" for i in range(width)]

    def select_columns(self, positions: Sequence[int]) -> None:
        """Restrict the columns of the next blocks to these header positions."""
        self._columns = sorted(set(positions))

    # -- per-line path (same logic as GoCsvReader.rows) -----------------------------------

    def _raw_line(self) -> str | None:
        """Next physical line, decoded strictly, terminator kept (None at end of file)."""
        if self._pending:
            raw = self._pending.pop()
        else:
            try:
                raw = self._lines.next_line()
            except _ReadFailed as exc:
                raise read_failure(self.path, exc.cause, self._physical + 1) from exc.cause
            if raw is None:
                return None
        self._physical += 1
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            bad = raw[exc.start:exc.end]
            raise FatalFileError(self.path, f"line {self._physical} (byte offset {self._offset + exc.start}): "
                                            f"invalid {self.encoding} data (bytes {bad.hex(' ')}): "
                                            f"{exc.reason}") from exc
        self._offset += len(raw)
        return text

    def _next_physical(self) -> str | None:
        raw = self._raw_line()
        if raw is None:
            return None
        if raw.endswith("\n"):
            return _strip_terminator(raw) + "\n"
        return _strip_terminator(raw)

    def _read_header(self) -> list[str]:
        return read_header(self)

    def _row(self, raw: str) -> Row | None:
        """The record starting with physical line ``raw`` (already counted), or None for a
        blank line."""
        if raw[-1:] == "\n":
            raw = raw[:-2] if raw[-2:-1] == "\r" else raw[:-1]
            has_newline = True
        else:
            if raw[-1:] == "\r":
                raw = raw[:-1]
            has_newline = False
        if not raw:
            return None
        self._number += 1
        physical = self._physical
        if '"' not in raw:
            fields = raw.split(self.sep)
            if len(fields) == len(self.header):
                return physical, physical, fields, None
            return physical, physical, None, ERR_FIELD_COUNT
        quoted, error, _ = _tokenize(raw + "\n" if has_newline else raw, self.sep, self.lazy_quotes,
                                     self._next_physical, physical)
        if error is None and quoted is not None and len(quoted) != len(self.header):
            error, quoted = ERR_FIELD_COUNT, None
        return physical, physical, quoted, error

    def _line_rows(self, block: bytes) -> Iterator[Row]:
        """Rows of a non-simple block, line by line (the tokenizer may read past it)."""
        self._pending = io.BytesIO(block).readlines()
        self._pending.reverse()
        while self._pending:
            raw = self._raw_line()
            assert raw is not None
            row = self._row(raw)
            if row is not None:
                yield row

    # -- block path -------------------------------------------------------------------------

    def _simple(self, block: bytes) -> bytes | None:
        """``block`` with ``\\r\\n`` normalised when it is simple, else None."""
        if b'"' in block or (self._check_bom and _BOM in block):
            return None
        if b"\r" in block:
            if block.count(b"\r") != block.count(b"\r\n"):
                return None
            block = block.replace(b"\r\n", b"\n")
        if not block.isascii():
            try:
                block.decode("utf-8")
            except UnicodeDecodeError:
                return None
        return block

    def _block(self, raw_size: int, block: bytes) -> CsvBlock:
        data = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(data == 10)
        if not block.endswith(b"\n"):
            ends = np.append(ends, len(block))
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        seps = np.flatnonzero(data == ord(self.sep))
        counts = np.searchsorted(seps, ends) - np.searchsorted(seps, starts)
        nonblank = ends > starts
        numbers_all = self._number + np.cumsum(nonblank)
        physical_all = self._physical + 1 + np.arange(len(ends))
        good = nonblank & (counts == len(self.header) - 1)
        bad: list[tuple[int, Row]] = []
        if good.sum() == nonblank.sum():
            payload = block
        else:
            wrong = np.flatnonzero(nonblank & ~good)
            before = np.cumsum(good)
            pieces = []
            cursor = 0
            for i in wrong.tolist():
                pieces.append(block[cursor:starts[i]])
                cursor = int(ends[i]) + 1
                line = int(physical_all[i])
                bad.append((int(before[i]), (line, line, None, ERR_FIELD_COUNT)))
            pieces.append(block[cursor:])
            payload = b"".join(pieces)
        self._number = int(numbers_all[-1])
        self._physical += len(ends)
        self._offset += raw_size
        columns = {i: pa.array([], pa.string()) for i in self._columns}
        if good.any():
            names = [self._names[i] for i in self._columns]
            table = pacsv.read_csv(
                io.BytesIO(payload),
                read_options=pacsv.ReadOptions(column_names=self._names, use_threads=False,
                                               block_size=max(1 << 20, len(payload) + 1)),
                parse_options=pacsv.ParseOptions(delimiter=self.sep, quote_char=False, escape_char=False,
                                                 newlines_in_values=False, ignore_empty_lines=True),
                convert_options=pacsv.ConvertOptions(include_columns=names,
                                                     column_types={n: pa.string() for n in names}))
            columns = {i: table.column(n).combine_chunks() for i, n in zip(self._columns, names, strict=True)}
        return CsvBlock(columns, physical_all[good], physical_all[good], bad, self.sep, block, starts[good],
                        ends[good])

    def items(self) -> Iterator[CsvBlock | Row]:
        """CsvBlock objects and rows, in file order (module docstring)."""
        while True:
            try:
                block = self._lines.next_block()
            except _ReadFailed as exc:
                raise read_failure(self.path, exc.cause, self._physical + 1) from exc.cause
            if block is None:
                return
            simple = self._simple(block) if self._simple_ok else None
            if simple is None:
                yield from self._line_rows(block)
            else:
                yield self._block(len(block), simple)

    def rows(self) -> Iterator[Row]:
        """Every record as a row (blocks expanded), like ``GoCsvReader.rows``."""
        for item in self.items():
            if isinstance(item, CsvBlock):
                bad = iter(item.bad)
                following = next(bad, None)
                for index in range(len(item)):
                    while following is not None and following[0] == index:
                        yield following[1]
                        following = next(bad, None)
                    yield item.row(index)
                while following is not None:
                    yield following[1]
                    following = next(bad, None)
            else:
                yield item

    def close(self) -> None:
        """Close the underlying file (idempotent)."""
        self._binary.close()
