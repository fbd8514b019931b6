"""apdemande parser: conformance with the v2022 and HEAD goldens, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf.importers.apdemande import PARSER, COLUMNS, APDemande, parse_dares_date
from sf.importers.convert import ConversionError
from sf.importers.reading import FatalFileError

from . import osf_goldens as G

INPUT_2022 = G.data("apdemande/990c4d74/apdemandeTestData.csv")
INPUT_HEAD = G.data("apdemande/head/apdemandeTestData.csv")
INPUT_HEAD_E2E = G.data("apdemande/head/tests_testData_apdemandeTestData.csv")
HEADER = ",".join(f'"{c}"' for c in ("ID_DA", "ETAB_SIRET", "EFF_ENT", "EFF_ETAB", "DATE_STATUT", "DATE_DEB",
                                     "DATE_FIN", "HTA", "MTA", "EFF_AUTO", "MOTIF_RECOURS_SE", "PERIMETRE_AP",
                                     "S_HEURE_CONSOM_TOT", "S_EFF_CONSOM_TOT", "S_MONTANT_CONSOM_TOT",
                                     "RECOURS_ANTERIEUR"))
GOOD = '"a","12345678901234",559.0,0.0,"2012-02-11","2017-08-09",2017-09-09,42.5,"1,5",9.0,"3","2",4.0,3.0,"2,25","3"'


def write(tmp_path: Path, text: str) -> Path:
    return G.write_file(tmp_path, "demande_ap.csv", text)


def head_view(item) -> dict:
    """Our record in HEAD's field names (HEAD split ``periode`` and renamed two fields)."""
    document = G.to_json(item.record.to_document())
    periode = document.pop("periode")
    document["periode_debut"], document["periode_fin"] = periode["start"], periode["end"]
    document["heures_consommees"] = document.pop("heure_consommee")
    document["montant_consomme"] = document.pop("montant_consommee")
    return document


# -- conformance ----------------------------------------------------------------------------------


def test_v2022_unit_golden_field_by_field():
    G.check_unit_golden(PARSER, INPUT_2022, "apdemande/990c4d74/expectedApdemande.json",
                        report_path="testData/apdemandeTestData.csv", count=3)


def test_stored_types_follow_the_go_struct():
    tuples, _ = G.run(PARSER, INPUT_2022)
    for item in tuples:
        record = item.record
        assert isinstance(record, APDemande) and item.scope == "etablissement"
        for name in ("effectif_entreprise", "effectif", "effectif_autorise", "motif_recours_se",
                     "effectif_consomme", "perimetre"):
            assert type(getattr(record, name)) is int, name
        for name in ("hta", "mta", "heure_consommee", "montant_consommee"):
            assert type(getattr(record, name)) is float, name


def test_v2022_end_to_end_golden_modulo_hash():
    G.check_e2e_golden(PARSER, INPUT_2022, "apdemande")


def test_head_unit_golden_field_by_field():
    expected = G.load_json("apdemande/head/expectedApdemande.json")
    tuples, report = G.run(PARSER, INPUT_HEAD, report_path="testData/apdemandeTestData.csv")
    for ours, theirs in zip(tuples, expected["tuples"], strict=True):
        assert G.differences(head_view(ours), theirs) == {}
    head = expected["reports"][0]
    assert (report.lines_read, report.lines_rejected, report.lines_filtered, report.lines_valid) == (
        head["lines_parsed"], head["lines_rejected"], head["lines_skipped"], head["lines_valid"])
    assert report.summary == head["summary"]


def test_head_table_dump_and_csv_output():
    # HEAD's end-to-end input has blank lines between the rows: skipped, not counted.
    tuples, report = G.run(PARSER, INPUT_HEAD_E2E)
    assert (report.lines_read, report.lines_valid) == (3, 3)
    ours = sorted([G.cell20(t.record.id_demande), G.cell20(t.key), G.cell20(t.record.date_statut),
                   G.cell20(t.record.periode.start), G.cell20(t.record.periode.end), G.cell20(t.record.hta),
                   G.cell20(t.record.mta), G.cell20(t.record.effectif_autorise),
                   G.cell20(t.record.motif_recours_se)] for t in tuples)
    rows = G.stg_rows("apdemande/head/test-import.sql.stg_apdemande.golden.txt")
    assert ours == sorted([r["id_demande"], r["siret"], r["date_statut"], r["periode_debut"], r["periode_fin"],
                           r["heures"], r["montant"], r["effectif"], r["motif_recours"]] for r in rows)
    csv_rows = G.csv_rows("apdemande/head/test-import.apdemande.golden.txt")
    for item, row in zip(tuples, csv_rows, strict=True):
        r = item.record
        assert row == {
            "id_demande": r.id_demande, "siret": item.key, "effectif_entreprise": G.csv_cell(r.effectif_entreprise),
            "effectif": G.csv_cell(r.effectif), "date_statut": G.csv_cell(r.date_statut),
            "période_début": G.csv_cell(r.periode.start), "période_fin": G.csv_cell(r.periode.end),
            "heures_autorisées": G.csv_cell(r.hta), "montants_autorisés": G.csv_cell(r.mta),
            "effectif_autorisé": G.csv_cell(r.effectif_autorise), "motif_recours_se": G.csv_cell(r.motif_recours_se),
            "heure_consommee": G.csv_cell(r.heure_consommee), "montant_consomme": G.csv_cell(r.montant_consommee),
            "effectif_consomme": G.csv_cell(r.effectif_consomme), "perimetre": G.csv_cell(r.perimetre)}


def test_head_import_log():
    _, report = G.run(PARSER, INPUT_HEAD_E2E)
    row = G.head_import_log("apdemande")
    assert G.report_counts(report) == G.log_counts(row) and row["head_rejected"] == "[]"


def test_motif_recours_outside_1_to_7_is_kept_like_v2022():
    """v2022 stores motif 8 (its golden); HEAD would reject the line with
    ``property "MOTIF_RECOURS_SE" has invalid value : 8. Value ignored``. We keep v2022."""
    tuples, report = G.run(PARSER, INPUT_2022)
    assert tuples[0].record.motif_recours_se == 8 and report.lines_rejected == 0


# -- conversions ------------------------------------------------------------------------------------


def test_comma_decimals_and_float_counts(tmp_path):
    tuples, report = G.run(PARSER, write(tmp_path, HEADER + "\n" + GOOD + "\n"))
    assert report.lines_valid == 1
    record = tuples[0].record
    assert (record.mta, record.montant_consommee, record.effectif_entreprise, record.effectif) == (1.5, 2.25, 559, 0)


def test_dares_dates_accept_the_2025_midnight_suffix():
    assert parse_dares_date("2017-09-09 00:00:00") == parse_dares_date("2017-09-09") == datetime(2017, 9, 9,
                                                                                                  tzinfo=UTC)
    with pytest.raises(ConversionError, match='parsing time "09/09/2017"'):
        parse_dares_date("09/09/2017")
    with pytest.raises(ConversionError):
        parse_dares_date("2017-09-09 12:00:00")


def test_nullable_amounts_stay_missing(tmp_path):
    line = '"a","12345678901234",1,1,"2012-02-11","2017-08-09","2017-09-09",1,,1,"3","2",,,,"3"'
    tuples, report = G.run(PARSER, write(tmp_path, HEADER + "\n" + line + "\n"))
    document = tuples[0].record.to_document()
    assert report.lines_valid == 1
    assert not {"mta", "heure_consommee", "effectif_consomme", "montant_consommee"} & document.keys()


# -- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["MTA", "S_EFF_CONSOM_TOT", "S_MONTANT_CONSOM_TOT", "ETAB_SIRET"])
def test_missing_column_is_fatal_even_for_columns_the_original_crashed_on(tmp_path, column):
    names = [c for c in ("ID_DA", *COLUMNS[1:], "RECOURS_ANTERIEUR") if c != column]
    path = write(tmp_path, ",".join(names) + "\n")
    with pytest.raises(FatalFileError, match=f"Colonne {column} non trouvée. Abandon."):
        PARSER.parse(str(path), G.ParseContext(batch_key=""))


def test_empty_siret_and_bad_values_reject_the_line(tmp_path):
    empty_siret = GOOD.replace('"12345678901234"', '""')
    bad = GOOD.replace('"2012-02-11"', '"11/02/2012"').replace('"3","2"', '"trois","2"')
    tuples, report = G.run(PARSER, write(tmp_path, f"{HEADER}\n{empty_siret}\n{bad}\n{GOOD}\n"))
    assert [t.key for t in tuples] == ["12345678901234"]
    assert report.first_errors == [
        "Line 2: invalidLine: siret unspecified",
        'Line 3: parsing time "11/02/2012" as "2006-01-02": cannot parse "11/02/2012" as "2006-01-02"; '
        'strconv.Atoi: parsing "trois": invalid syntax',
    ]
    assert (report.lines_rejected, report.lines_valid) == (2, 1)


def test_wrong_field_count_is_rejected_and_reading_goes_on(tmp_path):
    tuples, report = G.run(PARSER, write(tmp_path, f'{HEADER}\n"a","12345678901234"\n{GOOD}\n'))
    assert report.first_errors == ["Line 2: wrong number of fields"]
    assert len(tuples) == 1
