"""Go ``encoding/csv`` emulation, file access and header lookup (docs/importers.md §1.1–1.3)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sf.importers.reading import FatalFileError, GoCsvReader, Header, is_gzipped, open_text, strip_scheme


def read_all(tmp_path: Path, text: str, *, sep: str = ";", lazy: bool = False, name: str = "f.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with GoCsvReader(path, sep=sep, lazy_quotes=lazy) as reader:
        return reader.header, list(reader)


def test_blank_lines_crlf_and_missing_final_newline(tmp_path: Path) -> None:
    header, records = read_all(tmp_path, "a;b\r\n1;2\r\n\r\n\n3;4\r\n5;6")
    assert header == ["a", "b"]
    assert [(r.number, r.physical_line, r.fields) for r in records] == [
        (2, 2, ["1", "2"]), (5, 5, ["3", "4"]), (6, 6, ["5", "6"])]  # numbered by file line


def test_lone_carriage_return_is_data(tmp_path: Path) -> None:
    _, records = read_all(tmp_path, "a;b\nx\ry;2\r\r\n")
    assert records[0].fields == ["x\ry", "2\r"]  # Go only normalises \r\n


def test_wrong_field_count(tmp_path: Path) -> None:
    _, records = read_all(tmp_path, "a;b;c\n1;2\n1;2;3;4\n1;2;3\n")
    assert [r.error for r in records] == ["wrong number of fields", "wrong number of fields", None]
    assert [r.number for r in records] == [2, 3, 4]
    assert records[0].fields is None and records[2].fields == ["1", "2", "3"]


def test_bare_quote_v2022_message(tmp_path: Path) -> None:
    """debitCorrompuTestData: the line ``\\",`` is reported at column 1 (Go 1.14)."""
    _, records = read_all(tmp_path, 'a;b\n1;2\n\\",\n3;4\n')
    assert records[1].error == 'parse error, column 1: bare " in non-quoted-field' and records[1].number == 3
    assert records[2].fields == ["3", "4"]  # reading resumes on the next line


def test_bare_quote_column_counts_runes(tmp_path: Path) -> None:
    _, records = read_all(tmp_path, 'a;b\néé;xé"y\n')
    assert records[0].error == 'parse error, column 5: bare " in non-quoted-field'


def test_quoted_fields(tmp_path: Path) -> None:
    _, records = read_all(tmp_path, 'a;b\n"x;y";"say ""hi"""\n"";"multi\nline"\n7;8\n')
    assert [(r.number, r.physical_line, r.fields) for r in records] == [
        (2, 2, ["x;y", 'say "hi"']), (3, 3, ["", "multi\nline"]), (5, 5, ["7", "8"])]


def test_quoted_field_with_crlf_inside(tmp_path: Path) -> None:
    _, records = read_all(tmp_path, 'a;b\r\n"multi\r\nline";2\r\n')
    assert records[0].fields == ["multi\nline", "2"]


def test_extraneous_quote(tmp_path: Path) -> None:
    _, records = read_all(tmp_path, 'a;b\n"a"b;c\n"ab\ncd"x;y\n1;2\n')
    assert records[0].error == 'parse error, column 2: extraneous or missing " in quoted-field'
    # A record spanning lines is numbered by its first line; the message names the other.
    assert records[1].number == 3
    assert records[1].error == 'parse error on line 4, column 2: extraneous or missing " in quoted-field'
    assert records[2].fields == ["1", "2"] and records[2].physical_line == 5


def test_unterminated_quote_at_end_of_file(tmp_path: Path) -> None:
    _, records = read_all(tmp_path, 'a;b\n1;"open\n')
    assert records[0].error == 'parse error on line 3, column 0: extraneous or missing " in quoted-field'
    _, lazy = read_all(tmp_path, 'a;b\n1;"open\n', lazy=True)
    assert lazy[0].fields == ["1", "open\n"]


def test_lazy_quotes_keep_quotes(tmp_path: Path) -> None:
    _, records = read_all(tmp_path, 'a;b\nx"y;2\n"a"b";c\n', lazy=True)
    assert [r.fields for r in records] == [['x"y', "2"], ['a"b', "c"]]


def test_comma_separator(tmp_path: Path) -> None:
    header, records = read_all(tmp_path, 'A,B\n"1,5",2\n', sep=",")
    assert header == ["A", "B"] and records[0].fields == ["1,5", "2"]


def test_header_problems_are_fatal(tmp_path: Path) -> None:
    with pytest.raises(FatalFileError, match="empty file"):
        read_all(tmp_path, "\n\n")
    with pytest.raises(FatalFileError, match=r"unreadable header \(line 1\): parse error, column 3"):
        read_all(tmp_path, 'a;b"c\n1;2\n')
    with pytest.raises(FatalFileError, match="file not found"):
        GoCsvReader(tmp_path / "absent.csv", sep=";", lazy_quotes=False)


def test_gzip_prefix_and_suffix(tmp_path: Path) -> None:
    packed = gzip.compress(b"a;b\n1;2\n")
    (tmp_path / "f.csv.gz").write_bytes(packed)
    (tmp_path / "upload").write_bytes(packed)
    for path in (str(tmp_path / "f.csv.gz"), "gzip:" + str(tmp_path / "upload")):
        with GoCsvReader(path, sep=";", lazy_quotes=False) as reader:
            assert [r.fields for r in reader] == [["1", "2"]]
    assert strip_scheme("gzip:/a/b") == ("/a/b", "gzip") and strip_scheme("/a/b") == ("/a/b", None)
    assert is_gzipped("gzip:/x") and is_gzipped("/x.gz") and not is_gzipped("/x.csv")
    with open_text("gzip:" + str(tmp_path / "upload")) as stream:
        assert stream.read() == "a;b\n1;2\n"


def test_open_text_errors_name_file_line_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"ok\nstill ok\nnot \xff ok\n")
    with open_text(path) as stream:
        assert stream.readline() == "ok\n"
        with pytest.raises(FatalFileError) as caught:
            list(stream)
    assert str(caught.value) == f"{path}: line 3 (byte offset 16): invalid utf-8 data (bytes ff): invalid start byte"


def test_open_text_utf16_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "diane.txt"
    path.write_bytes("a;é\r\n1;2\r\n".encode("utf-16"))
    with open_text(path, encoding="utf-16") as stream:
        assert list(stream) == ["a;é\r\n", "1;2\r\n"]


def test_utf8_bom_is_kept(tmp_path: Path) -> None:
    header, _ = read_all(tmp_path, "\ufeffa;b\n1;2\n")
    assert header[0] == "\ufeffa"


def test_header_lookup() -> None:
    exact = Header(["Compte", "periode", "Compte"], case_insensitive=False, path="f.csv")
    assert exact.require("Compte", "periode") == {"Compte": 0, "periode": 1}
    assert exact.index("compte") is None and "Compte" in exact
    with pytest.raises(FatalFileError) as caught:
        exact.require("periode", "cotis_due", "enc_direct")
    assert str(caught.value) == "f.csv: Colonne cotis_due non trouvée. Abandon."
    loose = Header(["dT_eFfeT", "lIb_aCtx_stDx", "sIret"], case_insensitive=True, path="p.csv")
    assert loose.require("dt_effet", "siret") == {"dt_effet": 0, "siret": 2}


# -- property: any table written with Go's quoting reads back identically ------------------------

FIELD = st.text(alphabet=st.sampled_from(list('ab;," \né\t')), max_size=6)


@st.composite
def tables(draw):
    width = draw(st.integers(min_value=2, max_value=5))
    rows = draw(st.lists(st.lists(FIELD, min_size=width, max_size=width), min_size=1, max_size=8))
    header = [f"c{i}" for i in range(width)]
    quote_all = draw(st.booleans())
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    final = draw(st.booleans())
    return header, rows, quote_all, newline, final


def go_write(row: list[str], sep: str, quote_all: bool) -> str:
    out = []
    for field in row:
        if quote_all or any(ch in field for ch in (sep, '"', "\n")) or field.startswith(" "):
            out.append('"' + field.replace('"', '""') + '"')
        else:
            out.append(field)
    return sep.join(out)


@given(tables(), st.sampled_from([";", ","]), st.booleans())
def test_round_trip_of_go_quoted_tables(tmp_path_factory, table, sep, lazy) -> None:
    header, rows, quote_all, newline, final = table
    lines = [go_write(header, sep, False)] + [go_write(row, sep, quote_all) for row in rows]
    text = newline.join(line.replace("\n", newline) for line in lines) + (newline if final else "")
    path = tmp_path_factory.mktemp("rt") / "t.csv"
    path.write_bytes(text.encode())
    with GoCsvReader(path, sep=sep, lazy_quotes=lazy) as reader:
        records = list(reader)
    assert [r.fields for r in records] == rows
    assert [r.number for r in records] == [r.physical_line for r in records]
    expected_line = 2
    for record, line in zip(records, lines[1:]):
        assert record.physical_line == expected_line
        expected_line += line.count("\n") + 1
