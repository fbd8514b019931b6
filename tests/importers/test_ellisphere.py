"""ellisphere parser: conformance with the v2022 goldens, and bad input."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from openpyxl import Workbook
from sf.importers.ellisphere import PARSER, Ellisphere, cell_raw, cell_text
from sf.importers.reading import FatalFileError

from . import osf_goldens as G

INPUT = G.data("ellisphere/990c4d74/ellisphereTestData.excel")
HEADER = ["GRP Code", "GRP Personne PouM", "GRP SIREN 9", "GRP RefID", "GRP Raison Sociale", "GRP Adresse",
          "GRP Code Postal", "GRP Ville", "GRP Pays", "Niveau de détention", "% Financier", "Tranche % Financier",
          "FIL Code", "FIL Personne PouM", "FIL SIREN 9", "FIL RefID", "FIL Raison Sociale", "FIL Adresse",
          "FIL Code Postal", "FIL Ville", "FIL Pays"]
ROW = [1234567, "M", "525343432", 1234567, "GROUPE A", "ici", 12345, "VILLE", "FRANCE", 1, 90.2, "A", "1000000", "P",
       "151515151", "AKES38748", "FILIALE", "rue", 12345, "VILLE", "FRANCE"]


def workbook(tmp_path: Path, rows: list[list], *, sheets: int = 1, name: str = "groupe.xlsx") -> Path:
    book = Workbook()
    book.active.title = "Feuille1"
    for row in rows:
        book.active.append(row)
    for index in range(1, sheets):
        book.create_sheet(f"Feuille{index + 1}")
    path = tmp_path / name
    book.save(path)
    return path


def header_event_differences(report, event):
    """The golden's event against ours, once the header row is taken out of the original's
    counts: it counted the header as a line, always rejected (``Line 1: strconv.ParseInt:
    parsing "Niveau de détention"…``); here the header is not a data line."""
    header_message = 'Line 1: strconv.ParseInt: parsing "Niveau de détention": invalid syntax'
    assert event["headRejected"] == [header_message] and "7 lignes traitées" in event["summary"]
    assert "1 lignes rejetées" in event["summary"] and "6 lignes valides" in event["summary"]
    summary = event["summary"].replace("7 lignes traitées", "6 lignes traitées").replace("1 lignes rejetées",
                                                                                         "0 lignes rejetées")
    counts = {name: event[name] - 1 for name in ("linesParsed", "linesRejected") if name in event}
    return G.event_differences(report, {**event, **counts, "headRejected": [], "summary": summary})


def test_v2022_unit_golden_field_by_field():
    tuples = G.check_unit_golden(PARSER, INPUT, "ellisphere/990c4d74/expectedEllisphere.json",
                                 report_path="testData/ellisphereTestData.excel", count=6,
                                 compare_event=header_event_differences)
    assert [t.key for t in tuples] == [f"15151515{n}" for n in range(1, 7)]
    assert all(isinstance(t.record, Ellisphere) and t.scope == "entreprise" for t in tuples)
    assert all(type(t.record.niveau_detention) is int and type(t.record.part_financiere) is float for t in tuples)


def test_v2022_end_to_end_golden_modulo_hash():
    G.check_e2e_golden(PARSER, INPUT, "ellisphere", compare_event=header_event_differences)


def test_cell_text_and_raw_follow_the_go_reader():
    assert [cell_text(v) for v in (1234567, 1234567.0, 90.2, 1e20, None, True, "x")] == [
        "1234567", "1234567", "90.2", "100000000000000000000", "", "TRUE", "x"]
    assert [cell_raw(v) for v in (1, 90.2, 2.0, None, False)] == ["1", "90.2", "2.0", "", "0"]


def test_written_workbook_and_gzipped_copy(tmp_path):
    path = workbook(tmp_path, [HEADER, ROW, ROW[:10] + [52] + ROW[11:]])
    tuples, report = G.run(PARSER, path)
    assert (report.lines_read, report.lines_rejected, report.lines_valid) == (2, 0, 2)  # the header is no line
    assert tuples[0].record.to_document() == {
        "code_groupe": "1234567", "siren_groupe": "525343432", "refid_groupe": "1234567",
        "raison_sociale_groupe": "GROUPE A", "adresse_groupe": "ici", "personne_pou_m_groupe": "M",
        "niveau_detention": 1, "part_financiere": 90.2, "code_filiere": "1000000", "refid_filiere": "AKES38748",
        "personne_pou_m_filiere": "P"}
    assert tuples[1].record.part_financiere == 52.0
    gz = tmp_path / "groupe.xlsx.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    zipped, _ = G.run(PARSER, gz)
    assert G.documents(zipped) == G.documents(tuples)


def test_empty_rows_are_skipped_and_empty_numbers_reject(tmp_path):
    empty_level = ROW[:9] + [None] + ROW[10:]
    path = workbook(tmp_path, [HEADER, ROW, [None] * 5, empty_level, ROW[:10] + ["n/a"] + ROW[11:]])
    tuples, report = G.run(PARSER, path)
    assert len(tuples) == 1
    assert report.first_errors == ['Line 4: strconv.ParseInt: parsing "": invalid syntax',
                                   'Line 5: strconv.ParseFloat: parsing "n/a": invalid syntax']
    assert report.lines_read == 3


def test_short_row_and_invalid_siren(tmp_path):
    path = workbook(tmp_path, [HEADER, ROW[:11], ROW[:14] + [151515151.0] + ROW[15:],
                               ROW[:14] + ["15151515"] + ROW[15:]])
    tuples, report = G.run(PARSER, path)
    assert report.first_errors == ["Line 2: siren invalide : ", "Line 4: siren invalide : 15151515"]
    assert [t.key for t in tuples] == ["151515151"]


@pytest.mark.parametrize("missing", ["FIL SIREN 9", "% Financier", "GRP Code"])
def test_a_missing_column_fails_the_file(tmp_path, missing):
    """Original: columns were positional, so a workbook without a column rejected every line
    (or read the wrong cells). Ours: the header names the columns; one missing is fatal."""
    header = [name for name in HEADER if name != missing]
    rows = [[cell for name, cell in zip(HEADER, ROW, strict=False) if name != missing]] * 3
    path = workbook(tmp_path, [header, *rows])
    with pytest.raises(FatalFileError, match=f"Colonne {re.escape(missing)} non trouvée. Abandon."):
        PARSER.parse(str(path), G.ParseContext(batch_key=""))
    _, report = G.run(PARSER, path)
    assert report.is_fatal and report.lines_read == 0


def test_columns_are_found_by_name_in_any_order(tmp_path):
    order = list(reversed(range(len(HEADER))))
    path = workbook(tmp_path, [[HEADER[i].upper() for i in order], [ROW[i] for i in order]])
    tuples, report = G.run(PARSER, path)
    plain, _ = G.run(PARSER, workbook(tmp_path, [HEADER, ROW], name="plain.xlsx"))
    assert report.lines_valid == 1 and G.documents(tuples) == G.documents(plain)


def test_empty_sheet_is_fatal(tmp_path):
    with pytest.raises(FatalFileError, match="empty sheet"):
        PARSER.parse(str(workbook(tmp_path, [])), G.ParseContext(batch_key=""))


def test_several_sheets_is_fatal(tmp_path):
    path = workbook(tmp_path, [HEADER, ROW], sheets=3)
    with pytest.raises(FatalFileError, match="the source has 3 sheets, should have only 1"):
        PARSER.parse(str(path), G.ParseContext(batch_key=""))
    _, report = G.run(PARSER, path)
    assert report.is_fatal and report.lines_read == 0


@pytest.mark.parametrize("content", [b"", b"GRP Code;GRP Personne PouM\n", b"PK\x03\x04garbage"])
def test_not_a_workbook_is_fatal(tmp_path, content):
    path = tmp_path / "groupe.xlsx"
    path.write_bytes(content)
    with pytest.raises(FatalFileError, match="not a readable xlsx workbook"):
        PARSER.parse(str(path), G.ParseContext(batch_key=""))


def test_missing_file_is_fatal(tmp_path):
    with pytest.raises(FatalFileError, match="file not found"):
        PARSER.parse(str(tmp_path / "absent.xlsx"), G.ParseContext(batch_key=""))


def test_gzip_prefix_on_a_plain_workbook_is_fatal(tmp_path):
    path = workbook(tmp_path, [HEADER, ROW])
    with pytest.raises(FatalFileError, match="not a valid gzip file"):
        PARSER.parse(f"gzip:{path}", G.ParseContext(batch_key=""))
