"""diane parser: conformance with the v2022 goldens, deviations, and bad input."""

from __future__ import annotations

import codecs
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf.importers.diane import (
    COLUMNS,
    PARSER,
    Diane,
    DianeLayout,
    detect_encoding,
    open_diane,
)
from sf.importers.reading import FatalFileError

from . import osf_goldens as G

INPUT = G.data("diane/990c4d74/dianeTestData.txt")
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
PLAIN = {"Nom de l'entreprise", "Numéro Siren", "Statut juridique ", "Procédure collective", "Nombre d’ES",
         "Nombre de filiales", "Taille de la Composition du Groupe"}


def stored_shape(go_json: dict) -> dict:
    """A Go JSON diane tuple as the original stored it in MongoDB: its BSON tags are
    ``omitempty``, so nulls, ``procedure_collective: false`` and the zero time are absent."""
    return {k: v for k, v in go_json.items() if v is not None and v is not False and v != GO_ZERO_TIME}


def go_csv_line(fields: list[str]) -> str:
    """Go ``encoding/csv`` Writer: quote a field holding ``,``, ``"``, CR/LF or starting with
    a space (or equal to ``\\.``), doubling its quotes."""
    out = []
    for field in fields:
        if field == "\\." or (field and (any(c in field for c in ',"\r\n') or field[0].isspace())):
            field = '"' + field.replace('"', '""') + '"'
        out.append(field)
    return ",".join(out) + "\n"


def write_diane(tmp_path: Path, header: list[str], rows: list[list[str]], *, name: str = "diane.txt",
                encoding: str = "utf-16-le", bom: bytes = codecs.BOM_UTF16_LE) -> Path:
    text = "\r\n".join(";".join(f'"{cell}"' for cell in line) for line in [header, *rows]) + "\r\n"
    path = tmp_path / name
    path.write_bytes(bom + text.encode(encoding))
    return path


def synthetic(years: tuple[int, ...] = (2016, 2017)) -> tuple[list[str], dict[tuple[str, int | None], int]]:
    """A minimal export header: Marquée, the plain columns, each yearly column for ``years``;
    returns the header and ``{(column, year or None): index}``."""
    header = ["Marquée"]
    where: dict[tuple[str, int | None], int] = {}
    for column, _, _ in COLUMNS:
        if column in PLAIN:
            where[(column, None)] = len(header)
            header.append(column)
        else:
            for year in years:
                where[(column, year)] = len(header)
                header.append(f"{column} {year}")
    return header, where


def company(header: list[str], where: dict, values: dict[tuple[str, int | None], str]) -> list[str]:
    row = [""] * len(header)
    for place, value in values.items():
        row[where[place]] = value
    return row


# -- conformance ----------------------------------------------------------------------------------


def diane_event_differences(report, event):
    """The golden's event against ours, once its counts of projected lines (company × year:
    3 companies × 6 years) are brought to counts of the file's lines (3 companies)."""
    assert "18 lignes traitées, 0 erreurs fatales, 0 lignes rejetées, 0 lignes filtrées, 18 lignes valides" in \
        event["summary"]
    summary = event["summary"].replace("18 lignes traitées", "3 lignes traitées").replace("18 lignes valides",
                                                                                         "3 lignes valides")
    counts = {name: 3 for name in ("linesParsed", "linesValid") if name in event}
    return G.event_differences(report, {**event, **counts, "summary": summary})


def test_v2022_unit_golden_field_by_field():
    expected = G.load_json("diane/990c4d74/expectedDiane.json")
    tuples, report = G.run(PARSER, INPUT, report_path="testData/dianeTestData.txt")
    assert len(tuples) == 18
    for ours, theirs in zip(G.documents(tuples), expected["tuples"], strict=True):
        assert G.differences(ours, stored_shape(theirs)) == {}
    assert diane_event_differences(report, expected["events"][0]["event"]) == {}
    assert all(isinstance(t.record, Diane) and t.scope == "entreprise" for t in tuples)
    assert [t.key for t in tuples] == [t["numero_siren"] for t in expected["tuples"]]
    assert len({t.key for t in tuples}) == 3


def test_v2022_parse_file_golden():
    lines = G.data("e2e/990c4d74/test-parseFile.golden.txt").read_text(encoding="utf-8").splitlines()
    expected = [json.loads(line) for line in lines if line.strip()]
    tuples, _ = G.run(PARSER, INPUT)
    for ours, theirs in zip(G.documents(tuples), expected, strict=True):
        assert G.differences(ours, stored_shape(theirs)) == {}


def test_v2022_end_to_end_golden_modulo_hash():
    assert len(G.e2e_entries("diane")) == 18
    G.check_e2e_golden(PARSER, INPUT, "diane", compare_event=diane_event_differences)


def test_stored_types_follow_the_go_struct():
    tuples, _ = G.run(PARSER, INPUT)
    ints = {"exercice_diane", "effectif_consolide", "nombre_etab_secondaire", "nombre_filiale",
            "taille_compo_groupe", "nombre_mois"}
    for item in tuples:
        for name, value in item.record.to_document().items():
            if name in ints:
                assert type(value) is int, name
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                assert type(value) is float, name


def test_v2022_intermediate_projection_is_byte_identical():
    reader, layout = open_diane(INPUT)
    with reader:
        text = go_csv_line(layout.header_row())
        for record in reader:
            for year, values in layout.project(record.fields):
                text += go_csv_line([str(year), *(value or "" for value in values)])
    assert text == G.data("diane/990c4d74/expectedDianeConvert.csv").read_text(encoding="utf-8")


def test_gzipped_and_big_endian_copies_give_the_same_records(tmp_path):
    plain, _ = G.run(PARSER, INPUT)
    gz = tmp_path / "diane.txt.gz"
    gz.write_bytes(gzip.compress(INPUT.read_bytes()))
    big = tmp_path / "diane_be.txt"
    big.write_bytes(codecs.BOM_UTF16_BE + INPUT.read_bytes()[2:].decode("utf-16-le").encode("utf-16-be"))
    for path in (gz, f"gzip:{gz}", big):
        tuples, report = G.run(PARSER, path)
        assert G.documents(tuples) == G.documents(plain) and report.lines_valid == 3


# -- deviations --------------------------------------------------------------------------------------


def test_deviation_field_missing_a_year_is_empty_not_marquee(tmp_path):
    """Original: a yearly field without a column for some year took the value of column 0
    (``Marquée``) for that year. Ours: the field is missing for that year."""
    header, where = synthetic()
    gone = where.pop(("Effectif consolidé", 2016))
    del header[gone]
    where = {place: (index if index < gone else index - 1) for place, index in where.items()}
    row = company(header, where, {("Numéro Siren", None): "123456789", ("Effectif consolidé", 2017): "12"})
    row[0] = "42"  # Marquée
    tuples, report = G.run(PARSER, write_diane(tmp_path, header, [row]))
    by_year = {t.record.exercice_diane: t.record.to_document() for t in tuples}
    assert "effectif_consolide" not in by_year[2016]  # original: 42
    assert by_year[2017]["effectif_consolide"] == 12 and report.lines_valid == 1  # one company line


def test_deviation_non_contiguous_year_columns_stay_in_their_field(tmp_path):
    """Original: a yearly column separated from its group by another field was attached to
    the field just before it. Ours: grouped by name wherever it is."""
    layout = DianeLayout.from_header(["Marquée", "CA kEUR 2017", "Nom", "CA kEUR 2016", "Autre 2016"])
    assert layout.names == ("Marquée", "CA kEUR", "Nom", "Autre")
    assert layout.sources == (0, {2017: 1, 2016: 3}, 2, {2016: 4})
    assert list(layout.project(["m", "b17", "n", "b16", "a16"])) == [
        (2016, ["m", "b16", "n", "a16"]), (2017, ["m", "b17", "n", None])]


def test_deviation_unconvertible_values_are_reported(tmp_path):
    """Original: a value it could not convert silently became null. Ours: null too, but the
    line reports it (and counts as rejected) while its tuple is still stored."""
    header, where = synthetic()
    row = company(header, where, {("Numéro Siren", None): "123456789", ("Nombre d’ES", None): "3,5",
                                  ("Chiffre d'affaires net (H.T.) kEUR", 2017): "n.d.",
                                  ("Date de clôture", 2017): "2017-12-31", ("Bénéfice ou perte kEUR", 2017): "-1,5"})
    tuples, report = G.run(PARSER, write_diane(tmp_path, header, [row]))
    # One entry for the company's line (line 2 of the file), each cell named with its year.
    assert report.first_errors == [
        'Line 2: Nombre d’ES: strconv.Atoi: parsing "3,5": invalid syntax; '
        'Date de clôture 2017: parsing time "2017-12-31" as "02/01/2006": cannot parse "2017-12-31" as "02/01/2006"; '
        'Chiffre d\'affaires net (H.T.) kEUR 2017: strconv.ParseFloat: parsing "n.d.": invalid syntax',
    ]
    assert len(tuples) == 2 and report.lines_rejected == 1
    last = tuples[1].record.to_document()
    assert last["benefice_ou_perte"] == -1.5 and not {"ca", "arrete_bilan_diane", "nombre_etab_secondaire"} & set(last)


# -- header variants and rules -----------------------------------------------------------------------


def test_header_variants_are_accepted(tmp_path):
    header, where = synthetic((2017,))
    renamed = {"Statut juridique ": "Statut juridique", "Nombre d’ES": 'Nombre d"ES'}
    header = [renamed.get(name, name) for name in header]
    header = [name.replace("Conc. banc.", "Conc.  banc.") for name in header]
    row = company(header, where, {("Numéro Siren", None): "123456789", ("Statut juridique ", None): "SAS",
                                  ("Nombre d’ES", None): "2", ("Procédure collective", None): "Oui",
                                  ("Conc. banc. cour. & sold. cr. kEUR", 2017): "1,5",
                                  ("Date de clôture", 2017): "31/12/2017"})
    tuples, report = G.run(PARSER, write_diane(tmp_path, header, [row]))
    assert report.lines_valid == 1
    assert tuples[0].record.to_document() == {
        "exercice_diane": 2017, "numero_siren": "123456789", "statut_juridique": "SAS", "procedure_collective": True,
        "nombre_etab_secondaire": 2, "arrete_bilan_diane": datetime(2017, 12, 31, tzinfo=UTC),
        "concours_bancaire_courant": 1.5}


def test_invalid_siren_is_rejected_by_the_key_check(tmp_path):
    header, where = synthetic((2017,))
    rows = [company(header, where, {("Numéro Siren", None): "12345678"}),
            company(header, where, {("Numéro Siren", None): ""})]
    tuples, report = G.run(PARSER, write_diane(tmp_path, header, rows))
    assert tuples == [] and report.first_errors == ["Line 2: siren invalide : 12345678", "Line 3: siren invalide : "]


def test_wrong_field_count_is_one_rejected_line(tmp_path):
    """Original: the whole file failed. Ours: the company row is one rejected line."""
    header, where = synthetic()
    good = company(header, where, {("Numéro Siren", None): "123456789"})
    tuples, report = G.run(PARSER, write_diane(tmp_path, header, [good[:-1], good]))
    assert report.first_errors == ["Line 2: wrong number of fields"]
    assert [t.record.exercice_diane for t in tuples] == [2016, 2017]
    assert [line.number for line in PARSER.parse(str(write_diane(tmp_path, header, [good[:-1], good])),
                                                 G.ParseContext(batch_key=""))] == [2, 3]  # lines of the file


# -- bad input --------------------------------------------------------------------------------------


def test_utf8_file_is_fatal_with_a_clear_message(tmp_path):
    path = tmp_path / "diane_utf8.txt"
    path.write_bytes(INPUT.read_bytes()[2:].decode("utf-16-le").encode("utf-8"))
    with pytest.raises(FatalFileError, match="not a UTF-16 text file .*22 4d.*UTF-16LE with a byte-order mark"):
        PARSER.parse(str(path), G.ParseContext(batch_key=""))
    _, report = G.run(PARSER, path)
    assert report.is_fatal and report.lines_read == 0


def test_utf16_without_bom_is_read_as_little_endian(tmp_path):
    path = tmp_path / "diane_nobom.txt"
    path.write_bytes(INPUT.read_bytes()[2:])
    assert detect_encoding(path) == "utf-16-le"
    tuples, _ = G.run(PARSER, path)
    assert len(tuples) == 18


def test_truncated_utf16_is_fatal(tmp_path):
    path = tmp_path / "diane_cut.txt"
    path.write_bytes(INPUT.read_bytes()[:-1])
    _tuples, report = G.run(PARSER, path)
    assert report.is_fatal and "utf-16" in report.fatal_error.lower()


def test_missing_column_and_no_yearly_column_are_fatal(tmp_path):
    header, _where = synthetic()
    header = [name for name in header if not name.startswith("Performance %")]
    with pytest.raises(FatalFileError, match="Colonne Performance % non trouvée. Abandon."):
        PARSER.parse(str(write_diane(tmp_path, header, [])), G.ParseContext(batch_key=""))
    with pytest.raises(FatalFileError, match="no yearly column"):
        PARSER.parse(str(write_diane(tmp_path, ["Marquée", "Numéro Siren"], [], name="flat.txt")),
                     G.ParseContext(batch_key=""))


def test_empty_and_missing_files_are_fatal(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(codecs.BOM_UTF16_LE)
    with pytest.raises(FatalFileError, match="empty file"):
        PARSER.parse(str(empty), G.ParseContext(batch_key=""))
    with pytest.raises(FatalFileError, match="file not found"):
        PARSER.parse(str(tmp_path / "absent.txt"), G.ParseContext(batch_key=""))
