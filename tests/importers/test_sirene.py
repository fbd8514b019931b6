"""sirene parser: conformance with the v2022 and HEAD goldens, deviations, and bad input."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf.importers.reading import FatalFileError
from sf.importers.sirene import (
    PARSER,
    COLUMNS,
    Sirene,
    departement_from_commune,
    departement_from_postal_code,
)

from . import osf_goldens as G

INPUT_2022 = G.data("sirene/990c4d74/sireneTestData.csv")
INPUT_HEAD = G.data("sirene/head/sireneTestData.csv")

# v2022 derived the département from the postal code; the test rows have postal codes and
# commune codes of different départements, so ``departement`` is the one field that differs.
V2022_DEPARTEMENT = ["64", "08", "83"]
OUR_DEPARTEMENT = ["73", "94", "63"]


def write(tmp_path: Path, rows: list[dict[str, str]]) -> Path:
    """A sirene CSV with the required columns, ``rows`` giving the non-empty cells."""
    lines = [",".join(COLUMNS)]
    lines += [",".join(row.get(column, "") for column in COLUMNS) for row in rows]
    path = tmp_path / "StockEtablissement_utf8_geo.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


BASE = {"siren": "123456789", "nic": "00012", "etablissementSiege": "true", "codePostalEtablissement": "75001",
        "codeCommuneEtablissement": "75101", "activitePrincipaleEtablissement": "62.01Z",
        "nomenclatureActivitePrincipaleEtablissement": "NAFRev2", "dateCreationEtablissement": "2001-02-03",
        "longitude": "2.35", "latitude": "48.85"}


# -- conformance ----------------------------------------------------------------------------------


def test_v2022_unit_golden_field_by_field():
    expected = G.load_json("sirene/990c4d74/expectedSirene.json")
    tuples, report = G.run(PARSER, INPUT_2022, report_path="testData/sireneTestData.csv")
    for ours, theirs, v2022, our_dep in zip(G.documents(tuples), expected["tuples"], V2022_DEPARTEMENT,
                                            OUR_DEPARTEMENT, strict=True):
        assert G.differences(ours, theirs) == {"departement": (our_dep, v2022)}
    assert G.event_differences(report, expected["events"][0]["event"], INPUT_2022) == {}
    assert [t.key for t in tuples] == ["95652057344947", "96979276956291", "49788833327462"]


def test_v2022_end_to_end_golden_modulo_hash_and_departement():
    tuples, report = G.run(PARSER, INPUT_2022, report_path="/../lib/sirene/testData/sireneTestData.csv",
                           ctx=G.ParseContext(batch_key="1910"))
    # Put back the original's département (see the deviation test) to compare everything else.
    as_v2022 = [replace(t, record=t.record.model_copy(
        update={"departement": V2022_DEPARTEMENT[OUR_DEPARTEMENT.index(t.record.departement)]})) for t in tuples]
    assert G.unmatched_e2e(as_v2022, "sirene") == ([], [])
    assert G.event_differences(report, G.e2e_event("sirene"), INPUT_2022) == {}


def test_deviation_departement_comes_from_the_commune_code():
    """Original (v2022): département = first 2 characters of the postal code (64 for postal
    code 64276 in commune 73187), and "Code postal est manquant ou de format incorrect" when
    there is none. Ours: from the INSEE commune code (73), as HEAD does since #545; the
    postal code is only a fallback, and its absence is no error."""
    tuples, _ = G.run(PARSER, INPUT_2022)
    assert [t.record.departement for t in tuples] == OUR_DEPARTEMENT
    assert [departement_from_postal_code(t.record.code_postal) for t in tuples] == V2022_DEPARTEMENT
    assert departement_from_commune("2A004") == "2A" and departement_from_commune("97411") == "974"
    assert departement_from_commune("") is None and departement_from_postal_code("20090") == "2A"
    assert departement_from_postal_code("20200") == "2B" and departement_from_postal_code("75") is None


def head_view(item) -> dict:
    """Our record in HEAD's JSON names (HEAD adds ``est_actif``; the rest is shared)."""
    return G.to_json(item.record.to_document())


def test_head_unit_golden_with_documented_differences():
    """HEAD: keeps ``ape`` dotted (``52.21Z``; ours and v2022: ``5221Z``), adds ``est_actif``
    (not stored here), and filters the line whose activity is in an old nomenclature
    (NAFRev1; ours keeps it with ``code_activite``/``nomen_activite`` like v2022). Both
    reject the line with ``NOT_VALID`` coordinates and still store it without them."""
    expected = G.load_json("sirene/head/expectedSirene.json")
    tuples, report = G.run(PARSER, INPUT_HEAD, report_path="testData/sireneTestData.csv")
    ours = {t.key: head_view(t) for t in tuples}
    theirs = {t["siren"] + t["nic"]: t for t in expected["tuples"]}
    assert set(ours) - set(theirs) == {"12121212300001"}
    assert ours["12121212300001"]["code_activite"] == "28.41X" and ours["12121212300001"]["nomen_activite"] == "NAFRev1"
    for key, head in theirs.items():
        diff = G.differences(ours[key], head)
        assert diff.pop("est_actif") == (None, True)
        our_ape, head_ape = diff.pop("ape")
        assert our_ape == head_ape.replace(".", "")
        assert diff == {}
    head_report = expected["reports"][0]
    assert report.first_errors == G.file_line_messages(head_report["head_rejected"], INPUT_HEAD)
    assert (report.lines_read, report.lines_rejected, report.lines_filtered, report.lines_valid) == (5, 1, 0, 4)
    assert (head_report["lines_parsed"], head_report["lines_rejected"], head_report["lines_skipped"],
            head_report["lines_valid"]) == (5, 1, 1, 3)


def test_head_import_log_differs_only_by_the_nomenclature_filter():
    """HEAD: 5 parsed, 1 rejected, 1 skipped (the NAFRev1 line), 3 valid. Ours keeps that
    line (v2022 rule), so 0 skipped and 4 valid; the rejected line is the same."""
    _, report = G.run(PARSER, INPUT_HEAD)
    row = G.head_import_log("sirene")
    assert G.log_counts(row) == ("5", "1", "1", "3", "false")
    assert G.report_counts(report) == ("5", "1", "0", "4", "false")
    # HEAD numbers data records: its "Line 5" is line 6 of the file.
    assert row["head_rejected"] == "[Line 5: strconv.Par" and report.first_errors[0].startswith("Line 6: strconv.Par")


@pytest.mark.parametrize(("golden", "reader", "names"), [
    ("sirene/head/test-import.sql.stg_sirene.golden.txt", "stg",
     {"siret": "key", "numero_voie": "numero_voie", "commune_etranger": "commune_etranger",
      "distribution_special": "distribution_speciale", "code_pays_etranger": "code_pays_etranger",
      "pays_etranger": "pays_etranger", "departement": "departement", "date_creation": "date_creation",
      "nomenclature_activit": "nomen_activite"}),
    ("sirene/head/test-import.sirene.golden.txt", "csv",
     {"nic": "nic", "numéro_voie": "numero_voie", "commune_étranger": "commune_etranger",
      "distribution_speciale": "distribution_speciale", "code_pays_étranger": "code_pays_etranger",
      "pays_étranger": "pays_etranger", "département": "departement", "création": "date_creation"}),
])
def test_head_table_and_csv_outputs(golden, reader, names):
    """Same differences as the HEAD unit golden, plus HEAD's 0 for empty coordinates."""
    tuples, _ = G.run(PARSER, INPUT_HEAD)
    ours = {t.key: t for t in tuples}
    rows = G.stg_rows(golden) if reader == "stg" else G.csv_rows(golden)
    fmt = G.cell20 if reader == "stg" else G.csv_cell
    shared = ("siren", "complement_adresse", "indrep", "type_voie", "voie", "commune", "code_commune",
              "code_cedex", "cedex", "code_postal", "code_activite")
    for row in rows:
        key = row.get("siret") or row["siren"] + row["nic"]
        item = ours[key]
        document = item.record.to_document()
        for head_name in (*shared, *names):
            if head_name not in row:
                continue
            ours_name = names.get(head_name, head_name)
            value = item.key if ours_name == "key" else document.get(ours_name)
            expected = row[head_name]
            if value is None and expected in ("", "NULL"):
                continue
            assert fmt(value) == expected, (key, head_name)
        assert fmt(bool(document.get("siege"))) == row["siege"]
        assert document["ape"] == row["ape"].replace(".", "")
        assert row["est_actif"] == "true" and "est_actif" not in document
        for axis in ("longitude", "latitude"):
            if axis in document:
                assert fmt(document[axis]) == row[axis]
            else:  # HEAD stores 0 for a missing coordinate, we store nothing
                assert key == "23232323400001" and row[axis] == "0"


# -- deviations and rules ----------------------------------------------------------------------------


def test_deviation_empty_coordinates_are_no_error(tmp_path):
    """Original (v2022): empty longitude/latitude → two ParseFloat errors, line rejected (the
    tuple stored anyway). Ours: no error, coordinates missing (fixed upstream 2025-06)."""
    tuples, report = G.run(PARSER, write(tmp_path, [{**BASE, "longitude": "", "latitude": ""}]))
    assert report.lines_valid == 1 and report.first_errors == []
    assert {"longitude", "latitude"} & tuples[0].record.to_document().keys() == set()


def test_errors_keep_the_tuple_and_reject_the_line(tmp_path):
    rows = [{**BASE, "etablissementSiege": "oui", "longitude": "\"2,35\""}, BASE]
    tuples, report = G.run(PARSER, write(tmp_path, rows))
    assert report.first_errors == ['Line 2: strconv.ParseBool: parsing "oui": invalid syntax; '
                                   'strconv.ParseFloat: parsing "2,35": invalid syntax']
    assert (report.lines_rejected, report.lines_valid) == (1, 1)
    first = tuples[0].record.to_document()
    assert "siege" not in first and "longitude" not in first and first["latitude"] == 48.85


def test_activity_address_and_dates(tmp_path):
    rows = [BASE,
            {**BASE, "nic": "00013", "activitePrincipaleEtablissement": "62.1", "typeVoieEtablissement": "XYZ",
             "indiceRepetitionEtablissement": "B", "dateCreationEtablissement": "2001-02-30",
             "etablissementSiege": "false", "codeCommuneEtablissement": "", "codePostalEtablissement": "20090"},
            {**BASE, "nic": "00014", "nomenclatureActivitePrincipaleEtablissement": "NAFRev1",
             "typeVoieEtablissement": "BD", "codeCommuneEtablissement": "97411", "codePostalEtablissement": ""}]
    tuples, report = G.run(PARSER, write(tmp_path, rows))
    assert report.lines_valid == 3
    first, second, third = (t.record.to_document() for t in tuples)
    assert first["ape"] == "6201Z" and first["siege"] is True and first["date_creation"] == datetime(2001, 2, 3,
                                                                                                      tzinfo=UTC)
    assert "ape" not in second and "type_voie" not in second and second["indrep"] == "BIS"
    assert "date_creation" not in second and "siege" not in second and second["departement"] == "2A"
    assert third["code_activite"] == "62.01Z" and third["nomen_activite"] == "NAFRev1" and "ape" not in third
    assert third["type_voie"] == "BOULEVARD" and third["departement"] == "974" and "code_postal" not in third
    assert isinstance(tuples[0].record, Sirene) and tuples[0].key == "12345678900012"


def test_invalid_siret_is_rejected_by_the_key_check(tmp_path):
    tuples, report = G.run(PARSER, write(tmp_path, [{**BASE, "nic": "12"}]))
    assert tuples == [] and report.first_errors == ["Line 2: siret invalide : 12345678912"]


# -- bad input --------------------------------------------------------------------------------------


def test_missing_column_is_fatal(tmp_path):
    path = tmp_path / "sirene.csv"
    path.write_text(",".join(c for c in COLUMNS if c != "longitude") + "\n", encoding="utf-8")
    with pytest.raises(FatalFileError, match="Colonne longitude non trouvée. Abandon."):
        PARSER.parse(str(path), G.ParseContext(batch_key=""))


def test_truncated_gzip_is_fatal_and_keeps_the_counts(tmp_path):
    import gzip

    data = gzip.compress(INPUT_2022.read_bytes() * 1)
    path = tmp_path / "sirene.csv.gz"
    path.write_bytes(data[: len(data) - 30])
    _, report = G.run(PARSER, path)
    assert report.is_fatal and "gzip" in report.fatal_error
