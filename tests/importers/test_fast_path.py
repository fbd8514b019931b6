"""The column-wise import fast path gives exactly what the per-line path gives.

* ``BlockCsvReader.rows()`` == ``GoCsvReader.rows()`` on random files (quotes, multi-line
  quoted fields, wrong field counts, blank lines, CRLF, lone CR, non-ASCII, bad bytes,
  truncated gzip), including the FatalFileError message;
* ``CotisationParser.parse_blocks`` + ``track`` == ``parse`` + ``track`` + ``to_document``
  + ``record_hash``: same tuples (type, key, document, hash) in the same order, same report
  (counts, first errors, fatal error) and same rejected-line hook calls, on random files
  mixing good and broken lines (bad periods, wrong field counts, quotes, unknown accounts,
  accounts with several SIRETs, invalid SIRETs, empty and exotic amounts), both layouts,
  with and without a perimeter, with tiny blocks so that block boundaries fall anywhere;
* the column-wise canonical texts equal ``identity``'s (floats, strings, hashes).
"""

from __future__ import annotations

import gzip
import itertools
import math
from datetime import UTC, datetime
from json.encoder import encode_basestring
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sf.importers.block_reading import BlockCsvReader
from sf.importers.columnar import (
    RecordBlock,
    float_texts,
    hash_texts,
    keys_in_perimeter,
    record_texts,
    string_texts,
)
from sf.importers.cotisation import CotisationParser
from sf.importers.identity import canonical_text, canonical_value, record_hash
from sf.importers.perimeter import AccountMapping, Perimeter
from sf.importers.reading import FatalFileError, GoCsvReader
from sf.importers.records import ParseContext
from sf.importers.tracker import FileReport, track

_counter = itertools.count()


def _write(directory: Path, data: bytes, *, gz: bool = False) -> str:
    path = directory / f"f{next(_counter)}.csv{'.gz' if gz else ''}"
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


def _go_rows(path: str, lazy: bool) -> tuple[list, str | None]:
    rows: list = []
    try:
        with GoCsvReader(path, sep=";", lazy_quotes=lazy) as reader:
            rows.append(reader.header)
            rows.extend(reader.rows())
    except FatalFileError as exc:
        return rows, str(exc)
    return rows, None


def _block_rows(path: str, lazy: bool, block_bytes: int) -> tuple[list, str | None]:
    rows: list = []
    try:
        with BlockCsvReader(path, sep=";", lazy_quotes=lazy, block_bytes=block_bytes) as reader:
            rows.append(reader.header)
            rows.extend(reader.rows())
    except FatalFileError as exc:
        return rows, str(exc)
    return rows, None


# -- the reader -----------------------------------------------------------------------------

_CELLS = st.sampled_from(["", "a", "12", "x y", "é", '"q"', '"a;b"', '"multi\nline"', '"un\r\nterminated', 'b"are',
                          '"x""y"', '"z"w', "\r", "  "])
_LINE = st.lists(_CELLS, min_size=1, max_size=4).map(";".join)
_ENDING = st.sampled_from(["\n", "\r\n", "\n\n", "\r\r\n"])


@st.composite
def csv_bytes(draw) -> bytes:
    lines = draw(st.lists(st.tuples(_LINE, _ENDING), max_size=25))
    text = "a;b;c\n" + "".join(line + ending for line, ending in lines)
    if draw(st.booleans()):
        text = text.rstrip("\n")
    data = text.encode("utf-8")
    if draw(st.integers(0, 9)) == 0 and len(data) > 8:  # an invalid UTF-8 byte somewhere
        at = draw(st.integers(6, len(data) - 1))
        data = data[:at] + b"\xff" + data[at:]
    return data


@settings(max_examples=150)
@given(data=csv_bytes(), lazy=st.booleans(), block_bytes=st.sampled_from([1, 7, 40, 1 << 16]))
def test_block_reader_rows_equal_go_reader_rows(tmp_path_factory, data: bytes, lazy: bool, block_bytes: int) -> None:
    path = _write(tmp_path_factory.mktemp("r"), data)
    assert _block_rows(path, lazy, block_bytes) == _go_rows(path, lazy)


@settings(max_examples=40)
@given(data=csv_bytes(), cut=st.integers(1, 40), block_bytes=st.sampled_from([5, 64, 1 << 16]))
def test_truncated_gzip_fails_at_the_same_line(tmp_path_factory, data: bytes, cut: int, block_bytes: int) -> None:
    directory = tmp_path_factory.mktemp("gz")
    packed = gzip.compress(data * 50)
    path = directory / "t.csv.gz"
    path.write_bytes(packed[:max(len(packed) - cut, 11)])
    assert _block_rows(str(path), True, block_bytes) == _go_rows(str(path), True)


def test_block_reader_yields_blocks_for_simple_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, b"a;b;c\n1;2;3\r\n\n4;5\n6;7;8\n")
    with BlockCsvReader(path, sep=";", lazy_quotes=False) as reader:
        items = list(reader.items())
    assert len(items) == 1
    block = items[0]
    assert block.columns[0].to_pylist() == ["1", "6"] and block.columns[2].to_pylist() == ["3", "8"]
    assert block.numbers.tolist() == [2, 5] and block.physical.tolist() == [2, 5]  # lines of the file
    assert block.bad == [(1, (4, 4, None, "wrong number of fields"))]


# -- canonical texts ------------------------------------------------------------------------

@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none(),
                          st.integers(-10**9, 10**9).map(lambda i: i / 100)), max_size=50))
def test_float_texts_are_repr(values: list[float | None]) -> None:
    texts = float_texts(pa.array(values, pa.float64())).to_pylist()
    assert texts == [None if v is None else repr(v) for v in values]


@given(st.lists(st.text(), max_size=30))
def test_string_texts_are_json_strings(values: list[str]) -> None:
    assert string_texts(pa.array(values, pa.string())).to_pylist() == [encode_basestring(v) for v in values]


@given(st.lists(st.tuples(st.text(max_size=5), st.one_of(st.none(), st.floats(allow_nan=False)),
                          st.datetimes(timezones=st.just(UTC))), min_size=1, max_size=20))
def test_record_texts_and_hashes_equal_identity(rows) -> None:
    documents = []
    for name, amount, moment in rows:
        document = {"nom": name, "periode": {"start": moment, "end": moment}}
        if amount is not None:
            document["montant"] = amount
        documents.append(document)
    texts = record_texts("essai", {
        "nom": string_texts(pa.array([r[0] for r in rows], pa.string())),
        "montant": float_texts(pa.array([r[1] for r in rows], pa.float64())),
        "periode": pa.array([canonical_value(d["periode"]) for d in documents], pa.string())})
    assert texts.to_pylist() == [canonical_text("essai", d) for d in documents]
    assert hash_texts(texts) == [record_hash("essai", d) for d in documents]


def test_keys_in_perimeter_equals_contains() -> None:
    perimeter = Perimeter(frozenset({"123456789", "000000001"}))
    keys = ["12345678901234", "123456789", "12345678", "00000000112345", "99999999999999", ""]
    assert keys_in_perimeter(perimeter, keys).tolist() == [perimeter.contains(k) for k in keys]


# -- cotisation: fast path == per-line path ---------------------------------------------------

V2022_HEADER = "Urssaf_gestion;Dep;Compte;periode;mer;enc_direct;cotis_due"
HEAD_HEADER = "Urssaf_gestion;Dep;Compte;Siret;periode;mer;enc_direct;cotis_due"
FAR = datetime(2899, 1, 1, tzinfo=UTC)
MAPPING = AccountMapping({
    "000000000000000001": [("11111111100011", FAR)],
    "000000000000000002": [("22222222200022", datetime(2019, 3, 1, tzinfo=UTC)), ("22222222200033", FAR)],
    "000000000000000003": [("33333333300033", datetime(2018, 1, 1, tzinfo=UTC))],  # closed: filtered after
    "000000000000000004": [("4444444440004A", FAR)],  # invalid SIRET: "siret invalide"
    "00000000000000005": [("55555555500055", FAR)],  # another width: dict lookup
    "a\\b": [("66666666600066", FAR)],  # needs JSON escaping
    "é7": [("77777777700077", FAR)],
    "000000000000000008": [],
})
ACCOUNTS = [*MAPPING.accounts(), "000000000000000009", "", "12"]
PERIODS = ["1901", "1962", "2013", "201750", "199904", "1850", "1712", "abcd", "", "20191", "19", "1 01"]
AMOUNTS = ["", "0", "-0", "12.5", "12,5", "1e3", "inf", "NaN", " 1", "1.", ".5", "+3", "1_0", "abc", "00012.300", "9" * 320,
           "1,2,3", "99999999999999999999999.5", "1e400", "0,00001", "123456789012345678", "3071.61"]
SIRETS = ["11111111100011", "22222222200022", "123", "1234567890123X", "98765432100019", ""]


@st.composite
def cotisation_file(draw, head: bool) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.integers(0, 9))
        fields = ["117", "75", draw(st.sampled_from(ACCOUNTS)), draw(st.sampled_from(PERIODS)), "0",
                  draw(st.sampled_from(AMOUNTS)), draw(st.sampled_from(AMOUNTS))]
        if head:
            fields.insert(3, draw(st.sampled_from(SIRETS)))
        if kind == 0:
            fields = fields[:-1]  # wrong field count
        elif kind == 1:
            at = draw(st.integers(0, len(fields) - 1))
            fields[at] = '"' + fields[at].replace('"', '""') + draw(st.sampled_from(['"', '\n"', 'x"y"'])) 
        elif kind == 2:
            lines.append("")  # blank line
        lines.append(";".join(fields) + draw(st.sampled_from(["\n", "\n", "\r\n"])))
    text = (HEAD_HEADER if head else V2022_HEADER) + "\n" + "".join(lines)
    if draw(st.booleans()):
        text = text.rstrip("\n")
    return text.encode("utf-8")


def _collect(items, path: str, ctx: ParseContext, *, blocks: bool):
    """Track ``items`` (the per-line path's tuples, or with ``blocks`` the fast path's blocks
    and tuples) as the driver does: ``(type, key, document, hash)`` of each stored record,
    the report and the rejected lines."""
    report = FileReport(file_type="cotisation", path=path, batch_key=ctx.batch_key)
    rejected: list = []
    out = []
    for item in track(items, report, ctx.perimeter, on_rejected=lambda n, r: rejected.append((n, r))):
        if type(item) is RecordBlock:
            assert blocks and item.scope == "etablissement"
            out.extend(item.tuples())
        else:
            document = item.record.to_document()
            out.append((item.type, item.key, document, record_hash(item.type, document)))
    return out, report, rejected


def _per_line(parser: CotisationParser, path: str, ctx: ParseContext):
    return _collect(parser.parse(path, ctx), path, ctx, blocks=False)


def _fast(parser: CotisationParser, path: str, ctx: ParseContext):
    return _collect(parser.parse_blocks(path, ctx), path, ctx, blocks=True)


def _same_documents(left: list, right: list) -> bool:
    """Equal tuples, with NaN amounts compared by identity of their text (NaN != NaN)."""
    return [canonical_text(t, d) + k + h for t, k, d, h in left] == [canonical_text(t, d) + k + h for t, k, d, h in right] \
        and [list(d) for _, _, d, _ in left] == [list(d) for _, _, d, _ in right]


@settings(max_examples=200)
@given(data=st.data(), head=st.booleans(), filtered=st.booleans(), block_bytes=st.sampled_from([1, 60, 200, 1 << 16]))
def test_cotisation_fast_path_equals_per_line_path(tmp_path_factory, data, head: bool, filtered: bool,
                                                   block_bytes: int) -> None:
    content = data.draw(cotisation_file(head))
    path = _write(tmp_path_factory.mktemp("c"), content)
    perimeter = Perimeter(frozenset({"111111111", "222222222", "987654321"})) if filtered else None
    ctx = ParseContext(batch_key="1902", perimeter=perimeter, mapping=lambda: MAPPING)
    parser = CotisationParser()
    parser.block_bytes = block_bytes
    slow_out, slow_report, slow_rejected = _per_line(parser, path, ctx)
    fast_out, fast_report, fast_rejected = _fast(parser, path, ctx)
    assert _same_documents(fast_out, slow_out)
    assert [(t, k, h) for t, k, _, h in fast_out] == [(t, k, h) for t, k, _, h in slow_out]
    assert fast_report == slow_report
    assert fast_report.lines_read == fast_report.lines_valid + fast_report.lines_rejected + fast_report.lines_filtered
    assert fast_rejected == slow_rejected


def test_fast_path_really_takes_blocks_and_matches(tmp_path: Path) -> None:
    lines = [f"1;2;000000000000000001;{1900 + m % 12 + 1};0;{m},5;{m}.25" for m in range(300)]
    lines[100] = "1;2;000000000000000001;abcd;0;1;2"  # bad period: per-line message
    lines[200] = '1;2;"000000000000000001";1901;0;1;2'  # quoted: block taken line by line
    path = _write(tmp_path, (V2022_HEADER + "\n" + "\n".join(lines) + "\n").encode())
    ctx = ParseContext(batch_key="1902", mapping=lambda: MAPPING)
    parser = CotisationParser()
    parser.block_bytes = 4096
    items = list(parser.parse_blocks(path, ctx))
    assert any(type(i) is RecordBlock and len(i) > 10 for i in items)
    fast_out, fast_report, _ = _fast(parser, path, ctx)
    slow_out, slow_report, _ = _per_line(parser, path, ctx)
    assert fast_out == slow_out and fast_report == slow_report
    assert fast_report.first_errors == ["Line 102: valeur non autorisée"]  # line 102 of the file
    assert fast_report.lines_valid == 299


def test_gzip_and_missing_mapping_fail_like_the_per_line_path(tmp_path: Path) -> None:
    content = (V2022_HEADER + "\n" + "1;2;000000000000000001;1901;0;1;2\n" * 2000).encode()
    packed = gzip.compress(content)
    truncated = tmp_path / "t.csv.gz"
    truncated.write_bytes(packed[:len(packed) // 2])
    ctx = ParseContext(batch_key="1902", mapping=lambda: MAPPING)
    parser = CotisationParser()
    parser.block_bytes = 1000
    fast = _fast(parser, str(truncated), ctx)
    slow = _per_line(parser, str(truncated), ctx)
    assert fast == slow and fast[1].is_fatal and "truncated gzip" in (fast[1].fatal_error or "")
    no_mapping = ParseContext(batch_key="1902")
    with pytest.raises(FatalFileError, match="no admin_urssaf mapping found"):
        next(parser.parse_blocks(str(truncated), no_mapping))


@pytest.mark.parametrize("value", [0.1, 1e-4, 9.999e-5, 1e15, 1e16, 123456789.125, -0.0, 5e-324, math.pi])
def test_float_texts_edges(value: float) -> None:
    assert float_texts(pa.array([value])).to_pylist() == [repr(value)]
