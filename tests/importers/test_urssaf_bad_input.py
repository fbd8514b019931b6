"""Bad input for the URSSAF parsers: every line ends valid, rejected (with its reason) or
filtered, and unreadable files are fatal with a message naming the file and the reason."""

from __future__ import annotations

import gzip
import importlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf.importers.perimeter import AccountMapping, Perimeter
from sf.importers.reading import FatalFileError
from sf.importers.records import ParseContext
from sf.importers.tracker import FileReport, track, track_file

from ..conftest import DATA

ALWAYS = datetime(9999, 1, 2, tzinfo=UTC)
MAPPING = AccountMapping({
    "111982477292496174": [("00000000000000", ALWAYS)],
    "636043216536562844": [("11111111111111", ALWAYS)],
})
COTISATION_HEADER = "Urssaf_gestion;Dep;Compte;periode;mer;enc_direct;cotis_due\n"
DEBIT_HEADER = ("Urssaf_gestion;Dep;num_cpte;Siren;Dt_immat;Etat_cpte;Cd_pro_col;Periode;Num_Ecn;Num_Hist_Ecn;"
                "Dt_trt_ecn;Mt_PO;Mt_PP;Cd_op_ecn;Motif_ecn;Recours_en_cours\n")
DELAI_HEADER = ("Urssaf_gestion;Dep;Numero_compte_externe;Numero_structure;Date_creation;Date_echeance;"
                "Duree_delai;Denomination_premiere_ligne;Indic_6M;Annee_creation;Montant_global_echeancier;"
                "Code_externe_stade;Code_externe_action\n")
CCSF_HEADER = "Urssaf_gestion;Dep;Compte;Date_de_traitement;Code_externe_stade;Code_externe_action\n"


def ctx(perimeter: Perimeter | None = None, mapping: AccountMapping | None = MAPPING) -> ParseContext:
    return ParseContext(batch_key="1910", perimeter=perimeter, mapping=(lambda: mapping) if mapping else None)


def run(file_type: str, path: Path | str, context: ParseContext | None = None) -> tuple[list, FileReport]:
    context = context or ctx()
    parser = importlib.import_module(f"sf.importers.{file_type}").PARSER
    report, tuples = track_file(parser, str(path), context)
    items = list(tuples)
    assert report.lines_read == report.lines_valid + report.lines_rejected + report.lines_filtered
    return items, report


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_directory_given_as_a_file_is_named_so(tmp_path: Path) -> None:
    items, report = run("cotisation", tmp_path)
    assert items == [] and report.is_fatal and report.fatal_error == f"{tmp_path}: is a directory, not a file"


def test_absent_file_is_fatal(tmp_path: Path) -> None:
    items, report = run("cotisation", tmp_path / "missing.csv")
    assert items == [] and report.is_fatal and report.lines_read == 0
    assert str(tmp_path / "missing.csv") in report.fatal_error and "file not found" in report.fatal_error
    assert report.summary.endswith("0 lignes traitées, 1 erreurs fatales, 0 lignes rejetées, 0 lignes filtrées, "
                                   "0 lignes valides")
    assert report.to_event()["headFatal"] == [f"Fatal: {report.fatal_error}"]


def test_empty_file_is_fatal(tmp_path: Path) -> None:
    _, report = run("debit", write(tmp_path, "empty.csv", ""))
    assert report.is_fatal and "empty file" in report.fatal_error


@pytest.mark.parametrize("file_type,header,missing", [
    ("cotisation", COTISATION_HEADER.replace("cotis_due", "cotisdue"), "cotis_due"),
    ("debit", DEBIT_HEADER.replace("Mt_PP", "mt_pp"), "Mt_PP"),  # exact case in v2022
    ("delai", DELAI_HEADER.replace("Indic_6M;", ""), "Indic_6M"),
    ("ccsf", CCSF_HEADER.replace("Compte;", ""), "Compte"),
    ("procol", "Siret;Siren;Cat_v2;Lib_actx_stdx\n", "dt_effet"),
    ("effectif", "compte;rais_soc;eff201011\n", "siret"),
    ("effectif_ent", "compte;rais_soc;eff201011\n", "siren"),
])
def test_missing_required_column_is_fatal(tmp_path: Path, file_type: str, header: str, missing: str) -> None:
    path = write(tmp_path, "f.csv", header + "1;2;3\n")
    items, report = run(file_type, path)
    assert items == [] and report.is_fatal and report.lines_read == 0
    assert report.fatal_error == f"{path}: Colonne {missing} non trouvée. Abandon."


def test_utf8_bom_hides_first_required_column(tmp_path: Path) -> None:
    """No BOM stripping (as in the original): a BOM before a required column is fatal."""
    path = write(tmp_path, "bom.csv", "\ufeffCompte;periode;enc_direct;cotis_due\n111982477292496174;1022;1;1\n")
    _, report = run("cotisation", path)
    assert report.is_fatal and "Colonne Compte non trouvée" in report.fatal_error


def test_wrong_encoding_mid_file_is_fatal_and_keeps_counts(tmp_path: Path) -> None:
    good = "".join(f"1;2;111982477292496174;1022;9;{i};4\n" for i in range(3))
    path = tmp_path / "latin1.csv"
    path.write_bytes((COTISATION_HEADER + good).encode() + "1;2;111982477292496174;1022;9;é;4\n".encode("latin-1"))
    items, report = run("cotisation", path)
    assert report.is_fatal and str(path) in report.fatal_error
    assert "line 5" in report.fatal_error and "utf-8" in report.fatal_error
    assert report.lines_read == 3 and len(items) == 3


def test_truncated_gzip_is_fatal_and_keeps_counts(tmp_path: Path) -> None:
    lines = "".join(f"1;2;111982477292496174;1022;9;{i};{i * 7 % 13}\n" for i in range(200_000))
    packed = gzip.compress((COTISATION_HEADER + lines).encode(), compresslevel=1)
    path = tmp_path / "Sigfaible_cotisdues.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    items, report = run("cotisation", path)
    assert report.is_fatal and str(path) in report.fatal_error and "truncated gzip" in report.fatal_error
    assert 0 < report.lines_read < 200_000 and len(items) == report.lines_valid


def test_not_gzip_is_fatal(tmp_path: Path) -> None:
    path = write(tmp_path, "Sigfaible_ccsf.csv.gz", CCSF_HEADER)
    _, report = run("ccsf", path)
    assert report.is_fatal and "not a valid gzip file" in report.fatal_error


def test_no_mapping_is_fatal_for_v2022_layout(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", COTISATION_HEADER + "1;2;111982477292496174;1022;9;4;4\n")
    _, report = run("cotisation", path, ctx(mapping=None))
    assert report.is_fatal and report.fatal_error == f"{path}: no admin_urssaf mapping found"


def test_wrong_field_counts_are_rejected_with_go_message(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", COTISATION_HEADER + "1;2;111982477292496174;1022;9;4\n\n"
                 "1;2;111982477292496174;1022;9;4;4;extra\n1;2;111982477292496174;1022;9;4;4\n")
    items, report = run("cotisation", path)
    assert report.first_errors == ["Line 2: wrong number of fields", "Line 4: wrong number of fields"]
    assert (report.lines_read, report.lines_rejected, report.lines_valid, len(items)) == (3, 2, 1, 1)


def test_unparsable_cotisation_values(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", COTISATION_HEADER
                 + "1;2;111982477292496174;10a2;9;4;4\n"      # bad period
                 + "1;2;111982477292496174;1022;9;1 234;4\n"  # space in amount
                 + "1;2;111982477292496174;1022;9;12,5;\n")   # comma decimal ok, empty → None
    items, report = run("cotisation", path)
    assert report.first_errors == ["Line 2: valeur non autorisée",
                                   'Line 3: strconv.ParseFloat: parsing "1 234": invalid syntax']
    assert len(items) == 1 and items[0].record.to_document()["encaisse"] == 12.5
    assert "du" not in items[0].record.to_document()


def test_unparsable_debit_values(tmp_path: Path) -> None:
    row = "939;27;111982477292496174;000000000;20150708;{etat};0;201712;659;9;{date};{po};864497;3;74;{rec}\n"
    path = write(tmp_path, "d.csv", DEBIT_HEADER
                 + row.format(etat="5", date="990505", po="", rec="0")       # empty amount (Go crashed)
                 + row.format(etat="x", date="990505", po="1", rec="0")
                 + row.format(etat="5", date="99-05", po="1", rec="2")
                 + row.format(etat="", date="990505", po="1", rec="1"))
    items, report = run("debit", path)
    assert report.first_errors == [
        "Line 2: Mt_PO: valeur manquante",
        'Line 3: strconv.Atoi: parsing "x": invalid syntax',
        "Line 4: valeur non autorisée pour une conversion en date: 99-05; "
        'strconv.ParseBool: parsing "2": invalid syntax',
    ]
    assert report.lines_rejected == 3 and len(items) == 1
    assert "etat_compte" not in items[0].record.to_document()  # empty → None, not 0


def test_unparsable_delai_values_and_duree_deviation(tmp_path: Path) -> None:
    row = "217;63;111982477292496174;585;{creation};04/01/2001;{duree};d;lhm;5647;5065,79;s;a\n"
    path = write(tmp_path, "d.csv", DELAI_HEADER
                 + row.format(creation="1/1/2000", duree="456")
                 + row.format(creation="01/01/2000", duree="4.5")
                 + row.format(creation="01/01/2000", duree=""))
    items, report = run("delai", path)
    assert report.first_errors[0].startswith('Line 2: parsing time "1/1/2000" as "02/01/2006": cannot parse')
    # Deviation: the original stored duree_delai = 0 for "4.5" without error; we reject it.
    assert report.first_errors[1] == 'Line 3: strconv.Atoi: parsing "4.5": invalid syntax'
    assert len(items) == 1
    document = items[0].record.to_document()
    assert "duree_delai" not in document and document["montant_echeancier"] == 5065.79


def test_delai_date_decides_the_mapping_entry(tmp_path: Path) -> None:
    """delai looks the account up at Date_creation: closed before → filtered (e2e golden)."""
    mapping = AccountMapping({"450359886246036238": [("22222222222222", datetime(2011, 8, 1, tzinfo=UTC))]})
    row = "619;12;450359886246036238;460;{creation};31/01/2019;127;m;uzt;4902;29140.29;d;p\n"
    path = write(tmp_path, "d.csv", DELAI_HEADER + row.format(creation="23/01/2019")
                 + row.format(creation="23/01/2010"))
    items, report = run("delai", path, ctx(mapping=mapping))
    assert (report.lines_filtered, report.lines_valid, report.first_errors) == (1, 1, [])
    assert items[0].key == "22222222222222"


def test_unparsable_ccsf_and_procol_dates(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", CCSF_HEADER + "1;2;111982477292496174;1180230;DEBUT;CCSF\n"
                 + "1;2;111982477292496174;abc;DEBUT;CCSF\n")
    _, report = run("ccsf", path)
    assert report.first_errors == ['Line 2: parsing time "20180230": day out of range',
                                   "Line 3: valeur non autorisée pour une conversion en date: abc"]
    path = write(tmp_path, "p.csv", "Siret;Dt_effet;Lib_actx_stdx\n01234567891011;31FOO2014;Ouverture_sauvegarde\n"
                 "01234567891011;1MAY2014;Ouverture_sauvegarde\n01234567891011;01may2014;inconnu\n")
    items, report = run("procol", path)
    assert len(report.first_errors) == 2 and report.lines_rejected == 2
    assert items[0].record.to_document() == {"date_effet": datetime(2014, 5, 1, tzinfo=UTC),
                                             "action_procol": "", "stade_procol": ""}


def test_effectif_line_with_errors_keeps_valid_cells(tmp_path: Path) -> None:
    path = write(tmp_path, "e.csv", "compte;siret;eff201011;eff201012;eff201013;base\n"
                 "123;01234567891011;1 234;abc;0;x\n")
    items, report = run("effectif", path)
    assert report.first_errors == ['Line 2: strconv.Atoi: parsing "": invalid syntax']
    assert report.lines_rejected == 1 and [t.record.effectif for t in items] == [1234]


def test_effectif_invalid_siret_is_rejected_only_without_other_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "e.csv", "compte;siret;eff201011;eff201012\n1;0123;5;6\n1;0123;5;x\n")
    items, report = run("effectif", path)
    # one message per line although two tuples carry the invalid key (the original repeated it)
    assert report.first_errors == ["Line 2: siret invalide : 0123", 'Line 3: strconv.Atoi: parsing "": invalid syntax']
    assert items == [] and report.lines_rejected == 2


def test_effectif_invalid_period_column_is_fatal(tmp_path: Path) -> None:
    """Deviation: the original crashed on ``eff`` names shorter than 9 characters."""
    path = write(tmp_path, "e.csv", "compte;siret;eff2010;effectif_moyen\n1;01234567891011;5;6\n")
    _, report = run("effectif", path)
    assert report.is_fatal and "eff2010" in report.fatal_error


def test_perimeter_filters_cotisation_lines(tmp_path: Path) -> None:
    """v2022 extra test: with filter {111111111} only one line is valid, none rejected."""
    source = DATA / "osf" / "cotisation" / "990c4d74"
    items, report = run("cotisation", source / "cotisationTestData.csv", ctx(perimeter=Perimeter(frozenset({"111111111"}))))
    assert (report.lines_valid, report.lines_rejected, report.lines_filtered) == (1, 0, 2)
    assert [t.key for t in items] == ["11111111111111"]


def test_account_absent_from_mapping_is_filtered_not_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", COTISATION_HEADER + "1;2;999;1022;9;4;4\n1;2;999;bad;9;x;4\n")
    items, report = run("cotisation", path)
    assert items == [] and report.lines_filtered == 2 and report.first_errors == []


def test_parse_raises_fatal_before_first_line_when_used_directly(tmp_path: Path) -> None:
    parser = importlib.import_module("sf.importers.debit").PARSER
    with pytest.raises(FatalFileError, match="Colonne num_cpte non trouvée"):
        next(iter(parser.parse(str(write(tmp_path, "d.csv", "a;b\n1;2\n")), ctx())))


def test_track_on_directly_created_report(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", COTISATION_HEADER + '1;2;111982477292496174;1022;9;4;"4"\n')
    report = FileReport("cotisation", str(path), "1910")
    parser = importlib.import_module("sf.importers.cotisation").PARSER
    items = list(track(parser.parse(str(path), ctx()), report))
    assert len(items) == 1 and items[0].record.du == 4.0  # quoted field read like Go
