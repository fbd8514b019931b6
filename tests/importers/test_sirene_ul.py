"""sirene_ul parser: conformance with the v2022 and HEAD goldens, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf.importers.reading import FatalFileError
from sf.importers.sirene_ul import PARSER, COLUMNS, SireneUL

from . import osf_goldens as G

INPUT_2022 = G.data("sirene_ul/990c4d74/sireneULTestData.csv")
INPUT_HEAD = G.data("sirene_ul/head/sireneULTestData.csv")


def write(tmp_path: Path, text: str) -> Path:
    return G.write_file(tmp_path, "sireneUL.csv", text)


# -- conformance ----------------------------------------------------------------------------------


def test_v2022_unit_golden_field_by_field():
    tuples = G.check_unit_golden(PARSER, INPUT_2022, "sirene_ul/990c4d74/expectedSireneUL.json",
                                 report_path="testData/sireneULTestData.csv", count=4)
    assert all(isinstance(t.record, SireneUL) and t.scope == "entreprise" for t in tuples)


def test_v2022_end_to_end_golden_modulo_hash():
    G.check_e2e_golden(PARSER, INPUT_2022, "sirene_ul")


def test_v2022_header_only_file_gives_nothing(tmp_path):
    tuples, report = G.run(PARSER, write(tmp_path, ",".join(COLUMNS) + "\n"))
    assert tuples == [] and report.lines_read == 0 and not report.is_fatal


def test_v2022_renamed_siren_column_is_fatal(tmp_path):
    header = ",".join(("sirenXYZ", *COLUMNS[1:]))
    _, report = G.run(PARSER, write(tmp_path, header + "\n"))
    assert report.is_fatal and report.fatal_error.endswith("Colonne siren non trouvée. Abandon.")


def test_head_unit_golden_with_documented_differences():
    """HEAD renamed ``statut_juridique`` to ``categorie_juridique``, added ``ape``,
    ``ape_naf25`` and ``est_actif`` (not stored here), and filters the legal unit whose
    activity is coded in the old ``NAF`` nomenclature (238307776); we keep it, as v2022."""
    expected = G.load_json("sirene_ul/head/expectedSireneUL.json")
    tuples, report = G.run(PARSER, INPUT_HEAD, report_path="testData/sireneULTestData.csv")
    ours = {t.key: G.to_json(t.record.to_document()) for t in tuples}
    assert set(ours) == {t["siren"] for t in expected["tuples"]} | {"238307776"}
    for head in expected["tuples"]:
        mine = dict(ours[head["siren"]])
        mine["categorie_juridique"] = mine.pop("statut_juridique")
        theirs = {k: v for k, v in head.items() if k not in ("ape", "ape_naf25", "est_actif")}
        assert G.differences(mine, theirs) == {}
    head_report = expected["reports"][0]
    assert (head_report["lines_parsed"], head_report["lines_skipped"], head_report["lines_valid"]) == (4, 1, 3)
    assert (report.lines_read, report.lines_filtered, report.lines_valid) == (4, 0, 4)


def test_head_import_log_differs_only_by_the_nomenclature_filter():
    """HEAD: 4 parsed, 1 skipped (activity in the old NAF nomenclature), 3 valid; ours 4 valid."""
    _, report = G.run(PARSER, INPUT_HEAD)
    assert G.log_counts(G.head_import_log("sirene_ul")) == ("4", "0", "1", "3", "false")
    assert G.report_counts(report) == ("4", "0", "0", "4", "false")


@pytest.mark.parametrize(("golden", "reader"), [
    ("sirene_ul/head/test-import.sql.stg_sirene_ul.golden.txt", "stg"),
    ("sirene_ul/head/test-import.sirene_ul.golden.txt", "csv"),
])
def test_head_table_and_csv_outputs(golden, reader):
    tuples, _ = G.run(PARSER, INPUT_HEAD)
    ours = {t.key: t.record for t in tuples}
    fmt = G.cell20 if reader == "stg" else G.csv_cell
    columns = {  # HEAD column → our field (HEAD's table truncates names to 20 characters)
        "stg": {"siren": "siren", "raison_sociale": "raison_sociale", "prenom1_unite_legale": "prenom1_unite_legale",
                "nom_unite_legale": "nom_unite_legale", "nom_usage_unite_lega": "nom_usage_unite_legale",
                "categorie_juridique": "statut_juridique", "creation": "date_creation"},
        "csv": {"Siren": "siren", "RaisonSociale": "raison_sociale", "Prenom1UniteLegale": "prenom1_unite_legale",
                "NomUniteLegale": "nom_unite_legale", "NomUsageUniteLegale": "nom_usage_unite_legale",
                "CodeStatutJuridique": "statut_juridique", "Creation": "date_creation"},
    }[reader]
    rows = G.stg_rows(golden) if reader == "stg" else G.csv_rows(golden)
    assert len(rows) == 3
    for row in rows:
        record = ours[row["siren" if reader == "stg" else "Siren"]]
        for head_name, field in columns.items():
            value = getattr(record, field)
            if value is None:
                assert row[head_name] in ("", "NULL"), head_name
            else:
                assert fmt(value) == row[head_name], head_name


# -- rules and bad input -----------------------------------------------------------------------------


def test_unparsable_creation_date_is_missing_without_error(tmp_path):
    header = ",".join(COLUMNS)
    text = header + "\n123456789,ACME,,,,,,,5710,invalid_date\n123456788,,Jean,,,,DUPONT,,1000,1999-12-31\n"
    tuples, report = G.run(PARSER, write(tmp_path, text))
    assert report.lines_valid == 2 and report.first_errors == []
    assert tuples[0].record.to_document() == {"siren": "123456789", "raison_sociale": "ACME",
                                              "statut_juridique": "5710"}
    assert tuples[1].record.to_document() == {"siren": "123456788", "raison_sociale": "", "prenom1_unite_legale":
                                              "Jean", "nom_unite_legale": "DUPONT", "statut_juridique": "1000",
                                              "date_creation": datetime(1999, 12, 31, tzinfo=UTC)}


def test_invalid_siren_and_wrong_field_count_are_rejected(tmp_path):
    header = ",".join(COLUMNS)
    text = header + "\n12345678,ACME,,,,,,,5710,\n123456789,ACME\n"
    tuples, report = G.run(PARSER, write(tmp_path, text))
    assert tuples == []
    assert report.first_errors == ["Line 2: siren invalide : 12345678", "Line 3: wrong number of fields"]


def test_missing_file_is_fatal(tmp_path):
    with pytest.raises(FatalFileError, match="file not found"):
        PARSER.parse(str(tmp_path / "absent.csv"), G.ParseContext(batch_key=""))
