"""apconso parser: conformance with the v2022 and HEAD goldens, and bad input."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sf.importers.apconso import PARSER, APConso
from sf.importers.reading import FatalFileError

from . import osf_goldens as G

INPUT_2022 = G.data("apconso/990c4d74/apconsoTestData.csv")
INPUT_HEAD = G.data("apconso/head/apconsoTestData.csv")
HEADER = '"ID_DA","ETAB_SIRET","HEURES","MONTANTS","EFFECTIFS","MOIS"'


def write(tmp_path: Path, text: str, name: str = "consommation_ap.csv") -> Path:
    return G.write_file(tmp_path, name, text)


# -- conformance ----------------------------------------------------------------------------------


def test_v2022_unit_golden_field_by_field_with_the_go_struct_types():
    tuples = G.check_unit_golden(PARSER, INPUT_2022, "apconso/990c4d74/expectedApconso.json",
                                 report_path="testData/apconsoTestData.csv", count=3)
    for item in tuples:
        record = item.record
        assert isinstance(record, APConso) and item.type == "apconso" and item.scope == "etablissement"
        assert type(record.heure_consomme) is float and type(record.montant) is float
        assert type(record.effectif) is int
        assert record.periode.tzinfo is not None and record.periode.utcoffset().total_seconds() == 0


def test_v2022_end_to_end_golden_modulo_hash():
    assert len(G.e2e_entries("apconso")) == 3
    G.check_e2e_golden(PARSER, INPUT_2022, "apconso")


def test_head_table_dump():
    tuples, report = G.run(PARSER, INPUT_HEAD)
    ours = sorted([G.cell20(t.key), G.cell20(t.record.id_conso), G.cell20(t.record.heure_consomme),
                   G.cell20(t.record.montant), G.cell20(t.record.effectif), G.cell20(t.record.periode)]
                  for t in tuples)
    rows = G.stg_rows("apconso/head/test-import.sql.stg_apconso.golden.txt")
    theirs = sorted([r["siret"], r["id_demande"], r["heures"], r["montant"], r["effectif"], r["periode"]]
                    for r in rows)
    assert ours == theirs
    assert (report.lines_read, report.lines_valid) == (3, 3)


def test_head_import_log():
    _, report = G.run(PARSER, INPUT_HEAD)
    row = G.head_import_log("apconso")
    assert G.report_counts(report) == G.log_counts(row) and row["head_rejected"] == "[]"


@pytest.mark.parametrize("golden", ["apconso/head/test-parseFile.golden.txt",
                                    "apconso/head/test-import.apconso.golden.txt"])
def test_head_csv_outputs(golden):
    tuples, _ = G.run(PARSER, INPUT_HEAD)
    ours = [{"ID": t.record.id_conso, "Siret": t.key, "HeureConsommee": G.csv_cell(t.record.heure_consomme),
             "Montant": G.csv_cell(t.record.montant), "Effectif": G.csv_cell(t.record.effectif),
             "Periode": G.csv_cell(t.record.periode)} for t in tuples]
    assert ours == G.csv_rows(golden)


def test_gzipped_input_gives_the_same_records(tmp_path):
    gz = tmp_path / "consommation_ap.csv.gz"
    gz.write_bytes(gzip.compress(INPUT_2022.read_bytes()))
    plain, _ = G.run(PARSER, INPUT_2022)
    zipped, report = G.run(PARSER, gz)
    assert G.documents(zipped) == G.documents(plain)
    assert report.lines_valid == 3


# -- bad input -------------------------------------------------------------------------------------


def test_missing_column_is_fatal(tmp_path):
    path = write(tmp_path, '"ID_DA","ETAB_SIRET","HEURES","MONTANTS","EFFECTIFS"\n"a","12345678901234",1,2,3\n')
    with pytest.raises(FatalFileError, match="Colonne MOIS non trouvée. Abandon."):
        PARSER.parse(str(path), G.ParseContext(batch_key=""))
    _, report = G.run(PARSER, path)
    assert report.is_fatal and report.lines_read == 0
    assert report.to_event()["headFatal"] == [f"Fatal: {path}: Colonne MOIS non trouvée. Abandon."]


def test_bad_values_reject_the_line_with_every_go_message(tmp_path):
    path = write(tmp_path, HEADER + '\n"a","12345678901234",1 2,3,x,"2019-13-01"\n"b","12345678901234",1,2,3.9,"2019-01-01"\n')
    tuples, report = G.run(PARSER, path)
    assert report.first_errors == [  # line 2 of the file, every message of the line in one entry
        'Line 2: strconv.ParseFloat: parsing "1 2": invalid syntax; strconv.ParseFloat: parsing "x": invalid syntax; '
        'parsing time "2019-13-01": month out of range',
    ]
    assert (report.lines_rejected, report.lines_valid) == (1, 1)
    assert [t.record.effectif for t in tuples] == [3]  # 3.9 truncated toward zero


def test_empty_numbers_are_missing_not_zero(tmp_path):
    path = write(tmp_path, HEADER + '\n"a","12345678901234",,,,"2019-01-01"\n')
    tuples, report = G.run(PARSER, path)
    assert report.lines_valid == 1
    assert tuples[0].record.to_document() == {"id_conso": "a", "periode": datetime(2019, 1, 1, tzinfo=UTC)}


def test_csv_structure_errors_and_invalid_siret(tmp_path):
    path = write(tmp_path, HEADER + '\n"a","12345678901234",1,2\n"b","1234",1,2,3,"2019-01-01"\n'
                                    '"c","12345678901234",1,2,3,"2019-0"1-01"\n')
    tuples, report = G.run(PARSER, path)
    assert tuples == []
    assert report.first_errors[:2] == ["Line 2: wrong number of fields", "Line 3: siret invalide : 1234"]
    # The column of a quote error is the CSV reader's business (Go 1.14 rune index).
    assert re.fullmatch(r'Line 4: parse error, column [0-9]+: extraneous or missing " in quoted-field',
                        report.first_errors[2])
    assert report.lines_rejected == 3


def test_header_case_and_utf8_bom_are_accepted(tmp_path):
    path = write(tmp_path, "\ufeff" + HEADER.lower() + '\n"a","12345678901234",1,2,3,"2019-01-01"\n')
    tuples, report = G.run(PARSER, path)
    assert report.lines_valid == 1 and tuples[0].key == "12345678901234"


def test_empty_and_undecodable_files_are_fatal(tmp_path):
    empty = write(tmp_path, "", "empty.csv")
    with pytest.raises(FatalFileError, match="empty file"):
        PARSER.parse(str(empty), G.ParseContext(batch_key=""))
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes((HEADER + '\n"é","12345678901234",1,2,3,"2019-01-01"\n').encode("latin-1"))
    _, report = G.run(PARSER, latin1)
    assert report.is_fatal and "invalid utf-8" in report.fatal_error.lower()


@given(rows=st.lists(st.tuples(st.text("abcdef0123456789", min_size=1, max_size=10),
                               st.floats(min_value=0, max_value=1e9, allow_nan=False),
                               st.integers(min_value=0, max_value=10**6),
                               st.dates(min_value=datetime(1900, 1, 1).date())), max_size=20))
def test_any_well_formed_line_round_trips(rows):
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        lines = [HEADER] + [f'"{i}","{n:014d}",{h!r},{h!r},{n}.0,"{d.isoformat()}"'
                            for n, (i, h, _, d) in enumerate(rows)]
        path = write(Path(directory), "\n".join(lines) + "\n")
        tuples, report = G.run(PARSER, path)
    assert report.lines_valid == len(rows) and report.lines_rejected == 0
    for n, (item, (identifier, hours, _, day)) in enumerate(zip(tuples, rows, strict=True)):
        assert item.key == f"{n:014d}"
        assert item.record.to_document() == {"id_conso": identifier, "heure_consomme": hours, "montant": hours,
                                             "effectif": n,
                                             "periode": datetime(day.year, day.month, day.day, tzinfo=UTC)}
