"""Counts are true, for every parser: ``read = valid + rejected + filtered`` = the data lines
of the file, every rejected line is reported once, under its line number in the file.

Each synthetic delivery file (``sf synth``, no broken lines of its own) gets bad lines
inserted in the middle and at the end — a wrong field count, numbers no source can hold
(NaN, inf, out of their range), an invalid key or date — plus blank lines, which are not
data lines. The parser then has to report exactly the clean file's rejected lines (moved
down by the insertions) and the inserted ones. bdf, paydex and ellisphere, which synth does
not write, get small files of their own format.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook
from sf.importers.admin_urssaf import monthly_series
from sf.importers.perimeter import load_account_mapping, load_perimeter
from sf.importers.records import ParseContext, ParsedLine
from sf.importers.registry import FILE_TYPES, load_parser
from sf.synth.deliveries import generate
from sf.importers.tracker import FileReport, track

KEY = "2312"
SYNTH = {
    "admin_urssaf": "Sigfaible_etablissement_utf8.csv", "apconso": "consommation_ap.csv",
    "apdemande": "demande_ap.csv", "ccsf": "Sigfaible_ccsf.csv", "cotisation": "Sigfaible_cotisdues.csv",
    "debit": "Sigfaible_debits.csv", "delai": "Sigfaible_delais.csv", "diane": f"Diane_{KEY}.txt",
    "effectif": "Sigfaible_effectif_siret.csv", "effectif_ent": "Sigfaible_effectif_siren.csv",
    "procol": "Sigfaible_pcoll.csv", "sirene": "StockEtablissement_utf8_geo.csv", "sirene_ul": "sireneUL.csv",
}
SEPARATOR = {"apconso": ",", "apdemande": ",", "sirene": ",", "sirene_ul": ","}


def _set(column: str, value: str) -> Callable[[list[str], list[str]], None]:
    """A change of one cell (column found by name, any case) of a valid line."""
    def change(header: list[str], row: list[str]) -> None:
        row[[name.lower() for name in header].index(column.lower())] = value
    return change


def _first_filled(prefix: str, value: str) -> Callable[[list[str], list[str]], None]:
    """Set the first non-empty cell of a column whose name starts with ``prefix``."""
    def change(header: list[str], row: list[str]) -> None:
        index = next(i for i, name in enumerate(header) if name.startswith(prefix) and row[i].strip())
        row[index] = value
    return change


#: Per type: changes of a valid line, each of which must make it rejected.
BAD_CELLS: dict[str, list[Callable[[list[str], list[str]], None]]] = {
    "admin_urssaf": [_set("siret", "1234567890123A")],
    "apconso": [_set("MONTANTS", "NaN"), _set("HEURES", "inf"), _set("EFFECTIFS", "2000000.0")],
    "apdemande": [_set("MTA", "NaN"), _set("EFF_AUTO", "1e7"), _set("HTA", "-inf")],
    "ccsf": [_set("Date_de_traitement", "abc")],
    "cotisation": [_set("cotis_due", "NaN"), _set("enc_direct", "1e13"), _set("cotis_due", "-Inf")],
    "debit": [_set("Mt_PO", "NaN"), _set("Mt_PP", "1e300")],
    "delai": [_set("Montant_global_echeancier", "inf"), _set("Duree_delai", "99999")],
    "diane": [_first_filled("Effectif consolidé", "99999999"), _first_filled("Chiffre d'affaires net", "NaN")],
    "effectif": [_first_filled("eff2", "9999999")],
    "effectif_ent": [_first_filled("eff2", "9999999")],
    "procol": [_set("Dt_effet", "31FOO2014")],
    "sirene": [_set("longitude", "NaN"), _set("latitude", "91")],
    "sirene_ul": [_set("siren", "12345678")],
}


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ParseContext]:
    out = tmp_path_factory.mktemp("counts") / "out"
    generate(out, establishments=1500, months=1, seed=5, broken_rate=0.0)
    folder = out / KEY
    perimeter = load_perimeter([folder / f"filter_{KEY}.csv"])
    mapping = load_account_mapping([folder / SYNTH["admin_urssaf"]], perimeter)
    ctx = ParseContext(batch_key=KEY, date_debut=dt.datetime(2014, 1, 1, tzinfo=dt.UTC),
                       date_fin=dt.datetime(2023, 12, 1, tzinfo=dt.UTC), perimeter=perimeter,
                       mapping=lambda: mapping)
    return folder, ctx


def run(file_type: str, path: Path, ctx: ParseContext) -> tuple[FileReport, dict[int, list[str]]]:
    """Parse as the driver does (fast path when the parser has one): report and rejected lines."""
    parser = load_parser(file_type)
    parse = getattr(parser, "parse_blocks", None) or parser.parse
    report = FileReport(file_type, str(path), ctx.batch_key)
    rejected: dict[int, list[str]] = {}

    def keep(number: int, reasons: list[str]) -> None:
        assert number not in rejected, f"line {number} rejected twice"
        rejected[number] = reasons

    for _ in track(parse(str(path), ctx), report, ctx.perimeter, on_rejected=keep):
        pass
    assert not report.is_fatal, report.fatal_error
    return report, rejected


def valid_lines(file_type: str, path: Path, ctx: ParseContext) -> list[int]:
    """Numbers of the valid lines (per-line path, one tracker call per line)."""
    report = FileReport(file_type, str(path), ctx.batch_key)
    valid = []
    line: ParsedLine
    for line in load_parser(file_type).parse(str(path), ctx):
        before = report.lines_valid
        list(track([line], report, ctx.perimeter))
        if report.lines_valid > before:
            valid.append(line.number)
    return valid


def encoding_of(file_type: str) -> str:
    return "utf-16" if file_type == "diane" else "utf-8"


def data_lines(text: str) -> int:
    """Records of a file without multi-line fields: its non-blank lines but the header."""
    return sum(1 for line in text.split("\n") if line.strip("\r")) - 1


def render(row: list[str], sep: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=sep, lineterminator="").writerow(row)
    return buffer.getvalue()


@pytest.mark.parametrize("file_type", sorted(SYNTH))
def test_counts_add_up_to_the_file_lines_and_rejections_name_their_line(file_type, delivery, tmp_path):
    folder, ctx = delivery
    source = folder / SYNTH[file_type]
    encoding, sep = encoding_of(file_type), SEPARATOR.get(file_type, ";")
    clean_report, clean_rejected = run(file_type, source, ctx)
    assert clean_report.lines_read == data_lines(source.read_text(encoding=encoding)) > 0

    lines = source.read_text(encoding=encoding).split("\n")
    newline = "\r" if lines[0].endswith("\r") else ""
    header = next(csv.reader([lines[0].rstrip("\r")], delimiter=sep))
    template_number = valid_lines(file_type, source, ctx)[0]
    template = next(csv.reader([lines[template_number - 1].rstrip("\r")], delimiter=sep))
    bad = []
    for change in BAD_CELLS[file_type]:
        row = list(template)
        change(header, row)
        bad.append(render(row, sep))
    if file_type != "admin_urssaf":  # a CSV error in admin_urssaf fails the whole account mapping
        bad.append(render(template + ["extra"], sep))  # wrong number of fields

    # Insert after the template line and at the end, with blank lines that count for nothing.
    middle = min(template_number, len(lines) - 1)
    body = lines[:middle] + ["" + newline] + [b + newline for b in bad] + lines[middle:]
    while body and body[-1] == "":
        body.pop()
    end = len(body)
    body += [b + newline for b in bad] + ["", ""]
    text = "\n".join(body)
    broken = tmp_path / source.name
    broken.write_text(text, encoding=encoding)
    shift = 1 + len(bad)  # lines inserted before every clean line after ``middle``
    inserted = {middle + 2 + i for i in range(len(bad))} | {end + 1 + i for i in range(len(bad))}

    report, rejected = run(file_type, broken, ctx)
    assert report.lines_read == report.lines_valid + report.lines_rejected + report.lines_filtered
    assert report.lines_read == data_lines(text) == clean_report.lines_read + 2 * len(bad)
    expected = {n if n <= middle else n + shift for n in clean_rejected} | inserted
    assert set(rejected) == expected
    assert report.lines_rejected == len(expected)
    assert (report.lines_valid, report.lines_filtered) == (clean_report.lines_valid, clean_report.lines_filtered)
    # One report entry per rejected line (up to 200), numbered by the file's line.
    numbers = [int(entry.split(":", 1)[0].removeprefix("Line ")) for entry in report.first_errors]
    assert numbers == sorted(expected)[:200]
    assert all(text.split("\n")[n - 1].strip() for n in rejected)  # a rejected line is never blank


# -- the sources synth does not write ------------------------------------------------------------

def test_bdf_paydex_and_ellisphere_counts(tmp_path):
    ctx = ParseContext(batch_key=KEY)
    cases = {
        "bdf": ("b.csv", ["D1;ANNEE;ARRETE_BILAN;DENOM;CP;REGION;SECTEUR;POIDS_FRNG;TX_MARGE;DELAI_FRS;"
                          "POIDS_DFISC_SOC;POIDS_FIN_CT;POIDS_FRAIS_FIN",
                          "000111225;2015;31DEC2014;S;75000;IDF;SECT;1.5;2;3;4;5;6",
                          "",
                          "000111226;2015;31DEC2014;S;75000;IDF;SECT;NaN;2;3;4;5;6",
                          "000111227;2015;31DEC2014;S;75000;IDF;SECT;1;2;99999;4;5;6",
                          "000111228;3015;31DEC2014;S;75000;IDF;SECT;1;2;3;4;5;6",
                          "000111229;2015;31DEC2014;S;75000;IDF;SECT;1;2;3;4;5;6"], {4, 5, 6}),
        "paydex": ("p.csv", ["SIREN;NB_JOURS;NB_JOURS_LIB;DATE_VALEUR", "000000001;2;2 jours;15/12/2018",
                             "000000001;99999;;15/12/2018", "", "000000002;-3;;15/12/2018",
                             "000000003;-40000;;15/12/2018"], {3, 6}),
    }
    for file_type, (name, rows, bad) in cases.items():
        path = tmp_path / name
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        report, rejected = run(file_type, path, ctx)
        assert set(rejected) == bad, (file_type, report.first_errors)
        assert report.lines_read == data_lines(path.read_text()) == report.lines_valid + report.lines_rejected

    header = ["GRP Code", "GRP Personne PouM", "GRP SIREN 9", "GRP RefID", "GRP Raison Sociale", "GRP Adresse",
              "Niveau de détention", "% Financier", "FIL Code", "FIL Personne PouM", "FIL SIREN 9", "FIL RefID"]
    good = ["1", "M", "525343432", "1", "G", "ici", 1, 90.2, "2", "P", "151515151", "R"]
    book = Workbook()
    for row in [header, good, [None] * 3, good[:7] + [float("nan")] + good[8:], good[:7] + [250.0] + good[8:], good]:
        book.active.append(row)
    path = tmp_path / "groupe.xlsx"
    book.save(path)
    report, rejected = run("ellisphere", path, ctx)
    assert set(rejected) == {4, 5} and report.lines_read == 4 == report.lines_valid + report.lines_rejected


def test_every_parser_is_covered():
    assert set(SYNTH) | {"bdf", "paydex", "ellisphere"} == set(FILE_TYPES)


# -- admin_urssaf: line by line, the records of the month-by-month lookup -------------------------


def _month_by_month(mapping, series) -> set[tuple[str, str, dt.datetime]]:
    """The original's records: for every account and month, the SIRET the mapping designates."""
    return {(siret, compte, month) for compte in mapping.accounts() for month in series
            if (siret := mapping.siret_for(compte, month)) is not None}


def _compte_records(paths: list[Path], ctx: ParseContext) -> tuple[set, list[FileReport]]:
    records, reports = set(), []
    for path in paths:
        report = FileReport("admin_urssaf", str(path), ctx.batch_key)
        records |= {(t.key, t.record.numero_compte, t.record.periode)
                    for t in track(load_parser("admin_urssaf").parse(str(path), ctx), report, ctx.perimeter)}
        reports.append(report)
    return records, reports


def test_admin_urssaf_lines_give_the_records_of_the_month_by_month_lookup(delivery, tmp_path):
    folder, ctx = delivery
    path = folder / SYNTH["admin_urssaf"]
    mapping = ctx.mapping()
    series = monthly_series(ctx.date_debut, ctx.date_fin)
    records, (report,) = _compte_records([path], ctx)
    assert records == _month_by_month(mapping, series) and len(records) > 10_000

    # Hand-made cases: a moved account, a tie on the closing date, a duplicate line, an
    # account closed before the period, a provisional SIRET, and a second file replacing
    # an account of the first.
    first = tmp_path / "a.csv"
    first.write_text("Compte;Siret;Date_disp_siret\n"
                     "A;11111111100011;1230301\n"     # 2: A until 2023-03-01
                     "A;11111111100029;\n"            # 3: then this one
                     "B;22222222200011;1230901\n"     # 4: tie on 2023-09-01: the first wins
                     "B;22222222200029;1230901\n"     # 5: designates nothing → filtered
                     "B;22222222200011;1230901\n"     # 6: duplicate of line 4 → same months
                     "C;33333333300011;1100101\n"     # 7: closed in 2010 → filtered
                     "D;4444444440001X;\n"            # 8: provisional SIRET → rejected
                     "E;55555555500011;\n")           # 9: replaced by the second file → filtered
    second = tmp_path / "b.csv"
    second.write_text("compte;siret;date_disp_siret\nE;55555555500029;\n")
    both = load_account_mapping([first, second], None)
    small = ParseContext(batch_key=KEY, date_debut=dt.datetime(2023, 1, 1, tzinfo=dt.UTC),
                         date_fin=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), mapping=lambda: both)
    records, reports = _compte_records([first, second], small)
    assert records == _month_by_month(both, monthly_series(small.date_debut, small.date_fin))
    counts = [(r.lines_read, r.lines_valid, r.lines_rejected, r.lines_filtered) for r in reports]
    assert counts == [(8, 4, 1, 3), (1, 1, 0, 0)]
    assert reports[0].first_errors == ["Line 8: siret invalide : 4444444440001X"]
