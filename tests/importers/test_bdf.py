"""bdf parser: conformance with the v2022 goldens, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sf.importers.bdf import BDF, PARSER, parse_arrete_bilan
from sf.importers.convert import ConversionError
from sf.importers.perimeter import Perimeter
from sf.importers.reading import FatalFileError

from . import osf_goldens as G

INPUT = G.data("bdf/990c4d74/bdfTestData.csv")
HEADER = "D1;ANNEE;ARRETE_BILAN;DENOM;CP;REGION;SECTEUR;POIDS_FRNG;TX_MARGE;DELAI_FRS;POIDS_DFISC_SOC;POIDS_FIN_CT;POIDS_FRAIS_FIN"


def write(tmp_path: Path, text: str) -> Path:
    return G.write_file(tmp_path, "bdf.csv", text)


def test_v2022_unit_golden_field_by_field():
    tuples = G.check_unit_golden(PARSER, INPUT, "bdf/990c4d74/expectedBdfOutput.json",
                                 report_path="testData/bdfTestData.csv", count=3)
    for item in tuples:
        assert isinstance(item.record, BDF) and item.scope == "entreprise" and item.key == item.record.siren
        assert type(item.record.annee_bdf) is int and type(item.record.dette_fiscale) is float


def test_v2022_end_to_end_golden_modulo_hash():
    G.check_e2e_golden(PARSER, INPUT, "bdf")


def test_v2022_perimeter_test():
    """The original's test: filter {000111222, 000111224} → 1 filtered line, 2 valid."""
    ctx = G.ParseContext(batch_key="", perimeter=Perimeter(frozenset({"000111222", "000111224"})))
    tuples, report = G.run(PARSER, INPUT, report_path="testData/bdfTestData.csv", ctx=ctx)
    assert [t.key for t in tuples] == ["000111222", "000111224"]
    assert report.summary == ("testData/bdfTestData.csv: intégration terminée, 3 lignes traitées, 0 erreurs "
                              "fatales, 0 lignes rejetées, 1 lignes filtrées, 2 lignes valides")


def test_v2022_renamed_annee_column_is_fatal(tmp_path):
    path = write(tmp_path, HEADER.replace("ANNEE", "ANNEES") + "\n")
    with pytest.raises(FatalFileError, match="Colonne ANNEE non trouvée. Abandon."):
        PARSER.parse(str(path), G.ParseContext(batch_key=""))


@pytest.mark.parametrize(("text", "expected"), [
    ("31DEC2012", datetime(2012, 12, 31, tzinfo=UTC)), ("31déc2012", datetime(2012, 12, 31, tzinfo=UTC)),
    ("01janv2015", datetime(2015, 1, 1, tzinfo=UTC)), ("30sept2016", datetime(2016, 9, 30, tzinfo=UTC)),
    ("31août2017", datetime(2017, 8, 31, tzinfo=UTC)), ("29FEB2016", datetime(2016, 2, 29, tzinfo=UTC)),
    ("31-03-2014", datetime(2014, 3, 31, tzinfo=UTC)),
])
def test_arrete_bilan_month_names(text, expected):
    assert parse_arrete_bilan(text) == expected


@pytest.mark.parametrize("text", ["29FEB2015", "31/12/2012", "", "1DEC2012", "31Dec2012"])
def test_arrete_bilan_rejects(text):
    with pytest.raises(ConversionError, match='as "02-01-2006"'):
        parse_arrete_bilan(text)


def test_empty_ratio_is_missing_and_bad_values_reject(tmp_path):
    lines = [HEADER,
             "000 111 225;2015;31DEC2014;S;1;R;SECT;;1.5;;2;3;4",
             "000111226;2O15;31DEC2014;S;1;R;SECT;1,5;1;1;1;1;1",
             "000111227;2015;31DEC2014;S;1;R;SECT;1;1;1;1;1"]
    tuples, report = G.run(PARSER, write(tmp_path, "\n".join(lines) + "\n"))
    assert [t.key for t in tuples] == ["000111225"]
    document = tuples[0].record.to_document()
    assert "poids_frng" not in document and "delai_fournisseur" not in document and document["taux_marge"] == 1.5
    assert report.first_errors == ['Line 3: strconv.Atoi: parsing "2O15": invalid syntax; '
                                   'strconv.ParseFloat: parsing "1,5": invalid syntax',
                                   "Line 4: wrong number of fields"]


@given(groups=st.lists(st.text("0123456789", min_size=1, max_size=4), min_size=1, max_size=5),
       spaces=st.lists(st.sampled_from([" ", "  "]), min_size=5, max_size=5))
def test_siren_is_d1_without_spaces(groups, spaces):
    import tempfile

    d1 = "".join(group + space for group, space in zip(groups, spaces))
    with tempfile.TemporaryDirectory() as directory:
        path = write(Path(directory), f"{HEADER}\n{d1};2015;31DEC2014;S;1;R;SECT;1;1;1;1;1;1\n")
        lines = list(PARSER.parse(str(path), G.ParseContext(batch_key="")))
    assert [t.key for t in lines[0].tuples] == ["".join(groups)]
