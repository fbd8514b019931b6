"""paydex parser: conformance with the v2022 goldens, deviations, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf.importers.paydex import PARSER, Paydex
from sf.importers.reading import FatalFileError

from . import osf_goldens as G

INPUT = G.data("paydex/990c4d74/paydexTestData.csv")


def write(tmp_path: Path, data: str | bytes) -> Path:
    return G.write_file(tmp_path, "E_202011095813_Retro-Paydex_20201207.csv", data)


def test_v2022_unit_golden_field_by_field():
    tuples = G.check_unit_golden(PARSER, INPUT, "paydex/990c4d74/expectedPaydex.json",
                                 report_path="testData/paydexTestData.csv", count=5)
    assert [t.key for t in tuples] == ["000000001"] * 3 + ["000000002"] * 2
    assert all(isinstance(t.record, Paydex) and type(t.record.nb_jours) is int for t in tuples)


def test_v2022_end_to_end_golden_modulo_hash():
    G.check_e2e_golden(PARSER, INPUT, "paydex")


def test_v2022_missing_nb_jours_column_is_fatal(tmp_path):
    path = write(tmp_path, "SIREN;NB_JOURS_LIB;DATE_VALEUR\n000000001;2 jours;15/12/2018\n")
    _, report = G.run(PARSER, path, report_path="testData/paydexTestData.csv")
    assert report.to_event()["headFatal"] == ["Fatal: " + str(path) + ": Colonne NB_JOURS non trouvée. Abandon."]
    assert report.lines_read == 0


def test_v2022_column_order_is_free(tmp_path):
    path = write(tmp_path, "DATE_VALEUR;NB_JOURS;SIREN\n15/12/2018;2;000000001\n")
    tuples, _ = G.run(PARSER, path)
    assert tuples[0].key == "000000001"
    assert tuples[0].record.to_document() == {"date_valeur": datetime(2018, 12, 15, tzinfo=UTC), "nb_jours": 2}


def test_deviation_utf8_bom_is_accepted(tmp_path):
    """Original: the BOM stays in the first column name → ``Fatal: Colonne SIREN non
    trouvée. Abandon.`` on Altares stock files (docs/importers.md §7 item 15). Ours: the BOM is dropped."""
    path = write(tmp_path, "\ufeffSIREN;NB_JOURS;NB_JOURS_LIB;DATE_VALEUR\r\n000000001;2;2 jours;15/12/2018\r\n")
    tuples, report = G.run(PARSER, path)
    assert report.lines_valid == 1 and not report.is_fatal and tuples[0].key == "000000001"


def test_deviation_empty_nb_jours_is_a_line_error(tmp_path):
    """Original: nil-pointer crash of the whole process. Ours: the line is rejected."""
    path = write(tmp_path, "SIREN;NB_JOURS;NB_JOURS_LIB;DATE_VALEUR\n000000001;;;15/12/2018\n"
                           "000000001;2,5;;1/12/2018\n000000002;3;;15/12/2018\n")
    tuples, report = G.run(PARSER, path)
    assert report.first_errors == ["Line 2: invalid int: ", "Line 3: invalid date: 1/12/2018; invalid int: 2,5"]
    assert [t.key for t in tuples] == ["000000002"]


def test_latin1_increment_file_is_a_fatal_encoding_error(tmp_path):
    """Altares monthly increments were ISO-8859-15: decoding is strict, the error names the line."""
    path = write(tmp_path, "SIREN;NB_JOURS;NB_JOURS_LIB;DATE_VALEUR\n000000001;2;2 jours écoulés;15/12/2018\n"
                 .encode("iso-8859-15"))
    _, report = G.run(PARSER, path)
    assert report.is_fatal and "line 2" in report.fatal_error and "utf-8" in report.fatal_error.lower()


def test_bare_quote_is_rejected(tmp_path):
    path = write(tmp_path, 'SIREN;NB_JOURS;NB_JOURS_LIB;DATE_VALEUR\n000000001;2;2 "jours";15/12/2018\n')
    tuples, report = G.run(PARSER, path)
    assert tuples == [] and report.lines_rejected == 1
    assert 'bare " in non-quoted-field' in report.first_errors[0]


def test_empty_file_is_fatal(tmp_path):
    with pytest.raises(FatalFileError, match="empty file"):
        PARSER.parse(str(write(tmp_path, "")), G.ParseContext(batch_key=""))
