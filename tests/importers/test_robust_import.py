"""``sf import`` on bad input: bad values are rejected lines, a fatal file stores nothing.

* NaN, inf and numbers out of their source's range are *rejected* lines with their reason,
  the same in check and import (the original — and this engine before — called them valid
  in check and crashed the import on them), and the rest of the file is imported.
* A fatal file stores nothing, whatever made it fatal and however far it was read: its
  records and its rejected lines reach ImportedData and Quarantine only once the file has
  been read to its end. Every cause of FatalFileError the readers and parsers raise is here.
"""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook
from sf.engine.batches import make_batch
from sf.importers import cotisation, file_stage
from sf.importers.driver import run_batch
from sf.importers.perimeter import load_account_mapping, load_perimeter
from sf.importers.records import ParseContext
from sf.synth.deliveries import generate

from .test_counts import valid_lines

KEY = "2312"
NAMES = {"admin_urssaf": "Sigfaible_etablissement_utf8.csv", "cotisation": "Sigfaible_cotisdues.csv",
         "debit": "Sigfaible_debits.csv", "apconso": "consommation_ap.csv", "effectif": "Sigfaible_effectif_siret.csv",
         "diane": f"Diane_{KEY}.txt", "filter": f"filter_{KEY}.csv"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("robust") / "out"
    generate(out, establishments=600, months=1, seed=11, broken_rate=0.0)
    return out / KEY


def batch_of(folder: Path, files: dict[str, Path | str], *, mapping: bool = True):
    """A batch of ``files`` plus the delivery's filter (and account mapping)."""
    paths = {"filter": [str(folder / NAMES["filter"])]}
    if mapping:
        paths["admin_urssaf"] = [str(folder / NAMES["admin_urssaf"])]
    paths.update({t: [str(p)] for t, p in files.items()})
    return make_batch(KEY, files=paths, date_debut=dt.date(2023, 9, 1), date_fin=dt.date(2023, 12, 1),
                      check_files=False)


def stored(db, tuple_type: str) -> int:
    return db["ImportedData"].count_documents({f"value.batch.{KEY}.{tuple_type}": {"$exists": True}})


def with_lines(source: Path, target: Path, changes: dict[int, str]) -> Path:
    """``source`` with its file lines ``changes`` (1-based) replaced."""
    lines = source.read_text(encoding="utf-8").split("\n")
    for number, text in changes.items():
        lines[number - 1] = text
    target.write_text("\n".join(lines), encoding="utf-8")
    return target


def set_cell(line: str, header: str, column: str, value: str, sep: str = ";") -> str:
    names = [name.strip('"') for name in header.split(sep)]
    cells = line.split(sep)
    cells[names.index(column)] = value
    return sep.join(cells)


# -- bad values -----------------------------------------------------------------------------------


def test_nan_inf_and_out_of_range_values_are_rejected_in_check_and_import_alike(db, folder, tmp_path):
    debit_source = folder / NAMES["debit"]
    lines = debit_source.read_text().split("\n")
    debit = with_lines(debit_source, tmp_path / NAMES["debit"], {
        2: set_cell(lines[1], lines[0], "Mt_PO", "NaN"),
        3: set_cell(lines[2], lines[0], "Mt_PP", "inf"),
        4: set_cell(lines[3], lines[0], "Mt_PO", "1e300")})
    apconso_source = folder / NAMES["apconso"]
    rows = apconso_source.read_text().split("\n")
    apconso = with_lines(apconso_source, tmp_path / NAMES["apconso"],
                         {2: set_cell(rows[1], rows[0], "MONTANTS", "NaN", ",")})
    batch = batch_of(folder, {"debit": debit, "apconso": apconso})

    checked = run_batch(batch)
    imported = run_batch(batch, db=db)
    counts = [[(r.file_type, r.lines_read, r.lines_valid, r.lines_rejected, r.lines_filtered) for r in result.reports]
              for result in (checked, imported)]
    assert counts[0] == counts[1]
    reports = {r.file_type: r for r in imported.reports}
    assert not any(r.is_fatal for r in imported.reports)
    # Each bad line is rejected under its line number, with the field and the reason.
    debit_errors = [e for e in reports["debit"].first_errors if "valeur" in e]
    assert debit_errors == ["Line 2: part_ouvriere: valeur non numérique (NaN)",
                            "Line 3: part_patronale: valeur infinie (inf)",
                            f"Line 4: part_ouvriere: valeur hors limites {1e300 / 100!r} (montant en euros au-delà de "
                            "±1 000 milliards)"]  # the file's cents, in euros
    assert reports["apconso"].first_errors[0] == "Line 2: montant: valeur non numérique (NaN)"
    # The rest of each file is stored; the bad lines are in Quarantine with their lines.
    assert stored(db, "debit") > 0 and stored(db, "apconso") > 0
    quarantined = {(q["type"], q["line"]) for q in db["Quarantine"].find()}
    assert {("debit", 2), ("debit", 3), ("debit", 4), ("apconso", 2)} <= quarantined
    assert imported.lines_quarantined == sum(r.lines_rejected for r in imported.reports)


def test_cotisation_fast_path_sends_out_of_range_amounts_to_rejection(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(cotisation.PARSER, "block_bytes", 4096)
    source = folder / NAMES["cotisation"]
    lines = source.read_text().split("\n")
    batch = batch_of(folder, {"cotisation": source})
    ctx = ParseContext(batch_key=KEY, date_debut=batch.param.date_debut, date_fin=batch.param.date_fin,
                       perimeter=load_perimeter([folder / NAMES["filter"]]))
    mapping = load_account_mapping([folder / NAMES["admin_urssaf"]], ctx.perimeter)
    ctx.mapping = lambda: mapping
    valid = valid_lines("cotisation", source, ctx)
    bad = {n: set_cell(lines[n - 1], lines[0], "cotis_due", value)
           for n, value in ((valid[10], "1e13"), (valid[11], "NaN"), (valid[-5], "-1e13"))}
    path = with_lines(source, tmp_path / NAMES["cotisation"], bad)
    clean = run_batch(batch).reports[-1]
    report = run_batch(batch_of(folder, {"cotisation": path})).reports[-1]
    assert clean.lines_rejected == 0
    assert [int(e.split(":")[0].removeprefix("Line ")) for e in report.first_errors] == sorted(bad)
    assert [e.split(": ", 1)[1] for e in report.first_errors] == [
        "du: valeur hors limites 10000000000000.0 (montant en euros au-delà de ±1 000 milliards)",
        "du: valeur non numérique (NaN)",
        "du: valeur hors limites -10000000000000.0 (montant en euros au-delà de ±1 000 milliards)"]
    assert (report.lines_valid, report.lines_rejected) == (clean.lines_valid - 3, 3)
    assert report.lines_read == clean.lines_read == report.lines_valid + report.lines_rejected + report.lines_filtered


# -- a fatal file stores nothing ------------------------------------------------------------------

Breaker = Callable[[Path, Path], tuple[str, Path | str]]


def _gzip_cut(fraction: float) -> Breaker:
    def make(folder: Path, tmp: Path) -> tuple[str, Path]:
        data = gzip.compress((folder / NAMES["debit"]).read_bytes())
        path = tmp / (NAMES["debit"] + ".gz")
        path.write_bytes(data[:int(len(data) * fraction)])
        return "debit", path
    return make


def _gzip_corrupt(folder: Path, tmp: Path) -> tuple[str, Path]:
    data = bytearray(gzip.compress((folder / NAMES["debit"]).read_bytes()))
    for i in range(len(data) * 2 // 3, len(data) * 2 // 3 + 40):
        data[i] ^= 0x5A
    path = tmp / (NAMES["debit"] + ".gz")
    path.write_bytes(bytes(data))
    return "debit", path


def _bad_bytes(folder: Path, tmp: Path) -> tuple[str, Path]:
    data = (folder / NAMES["debit"]).read_bytes().split(b"\n")
    data[2] += b";extra"  # a rejected line before the failure: not quarantined either
    data[150] = b"\xff\xfe" + data[150]
    path = tmp / NAMES["debit"]
    path.write_bytes(b"\n".join(data))
    return "debit", path


def _text(type_: str, name: str, content: str) -> Breaker:
    def make(folder: Path, tmp: Path) -> tuple[str, Path]:
        path = tmp / name
        path.write_text(content, encoding="utf-8")
        return type_, path
    return make


def _missing_column(folder: Path, tmp: Path) -> tuple[str, Path]:
    text = (folder / NAMES["debit"]).read_text().replace("Mt_PO", "Montant_PO", 1)
    path = tmp / NAMES["debit"]
    path.write_text(text)
    return "debit", path


def _plain_as_gzip(folder: Path, tmp: Path) -> tuple[str, Path]:
    path = tmp / (NAMES["debit"] + ".gz")
    shutil.copy(folder / NAMES["debit"], path)
    return "debit", path


def _absent(folder: Path, tmp: Path) -> tuple[str, Path]:
    return "debit", tmp / "gone.csv"


def _directory(folder: Path, tmp: Path) -> tuple[str, Path]:
    return "debit", folder


def _diane_utf8(folder: Path, tmp: Path) -> tuple[str, Path]:
    path = tmp / NAMES["diane"]
    path.write_text((folder / NAMES["diane"]).read_text(encoding="utf-16"), encoding="utf-8")
    return "diane", path


def _diane_cut(folder: Path, tmp: Path) -> tuple[str, Path]:
    data = (folder / NAMES["diane"]).read_bytes()
    path = tmp / (NAMES["diane"] + ".gz")
    path.write_bytes(gzip.compress(data)[:len(gzip.compress(data)) * 3 // 4])
    return "diane", path


def _diane_without_years(folder: Path, tmp: Path) -> tuple[str, Path]:
    path = tmp / NAMES["diane"]
    path.write_text("Numéro Siren;Nom de l'entreprise\n123456789;A\n", encoding="utf-16")
    return "diane", path


def _effectif_bad_period(folder: Path, tmp: Path) -> tuple[str, Path]:
    text = (folder / NAMES["effectif"]).read_text()
    header, rest = text.split("\n", 1)
    path = tmp / NAMES["effectif"]
    path.write_text(header.replace(";eff", ";eff2x", 1) + "\n" + rest)
    return "effectif", path


def _workbook(rows: list[list], sheets: int = 1) -> Breaker:
    def make(folder: Path, tmp: Path) -> tuple[str, Path]:
        book = Workbook()
        for row in rows:
            book.active.append(row)
        for index in range(1, sheets):
            book.create_sheet(f"S{index}")
        path = tmp / "Ellisphère-Tête de groupe-x.xlsx"
        book.save(path)
        return "ellisphere", path
    return make


def _sheet_cut(folder: Path, tmp: Path) -> tuple[str, Path]:
    """A workbook whose sheet XML is cut two thirds in: rows are read, then the XML fails."""
    whole = tmp / "whole.xlsx"
    _workbook([_GROUP] + [_ROW] * 300)(folder, tmp)[1].rename(whole)
    path = tmp / "Ellisphère-Tête de groupe-cut.xlsx"
    with zipfile.ZipFile(whole) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            target.writestr(item, data[:len(data) * 2 // 3] if item.filename.endswith("sheet1.xml") else data)
    return "ellisphere", path


_GROUP = ["GRP Code", "GRP Personne PouM", "GRP SIREN 9", "GRP RefID", "GRP Raison Sociale", "GRP Adresse",
          "Niveau de détention", "% Financier", "FIL Code", "FIL Personne PouM", "FIL SIREN 9", "FIL RefID"]
_ROW = ["1", "M", "525343432", "1", "G", "ici", 1, 90.2, "2", "P", "151515151", "R"]

#: Every way a file can be fatal: (id, breaker, read part of it before failing).
FATAL_CAUSES: list[tuple[str, Breaker, bool]] = [
    ("truncated gzip", _gzip_cut(0.8), True),
    ("corrupt gzip data", _gzip_corrupt, True),
    ("bytes invalid in the encoding", _bad_bytes, True),
    ("truncated gzip of a UTF-16 Diane", _diane_cut, True),
    ("xlsx sheet cut short", _sheet_cut, True),
    ("absent file", _absent, False),
    ("a directory", _directory, False),
    ("not a gzip file", _plain_as_gzip, False),
    ("empty file", _text("debit", "d.csv", ""), False),
    ("unreadable header", _text("debit", "d.csv", 'num_cpte;"Num_Ecn\n1;2\n'), False),
    ("missing required column", _missing_column, False),
    ("Diane not UTF-16", _diane_utf8, False),
    ("Diane without yearly column", _diane_without_years, False),
    ("effectif period column unreadable", _effectif_bad_period, False),
    ("xlsx not a workbook", _text("ellisphere", "g.xlsx", "PK\x03\x04 not really"), False),
    ("xlsx with several sheets", _workbook([_GROUP, _ROW], sheets=2), False),
    ("xlsx missing a column", _workbook([_GROUP[:-2], _ROW[:-2], _ROW[:-2]]), False),
    ("xlsx without header", _workbook([]), False),
]


@pytest.mark.parametrize(("breaker", "partial"), [(b, p) for _, b, p in FATAL_CAUSES],
                         ids=[name for name, _, _ in FATAL_CAUSES])
def test_a_fatal_file_stores_nothing(db, folder, tmp_path, monkeypatch, breaker, partial):
    monkeypatch.setattr(file_stage, "SPILL_RECORDS", 16)  # the spool file is used as well
    file_type, path = breaker(folder, tmp_path)
    result = run_batch(batch_of(folder, {file_type: path}), db=db)
    (report,) = [r for r in result.reports if r.file_type == file_type]
    assert report.is_fatal, report
    if partial:  # the failure came after records and rejected lines were read
        assert report.lines_read > 20
    tuple_type = "compte" if file_type == "admin_urssaf" else file_type
    assert stored(db, tuple_type) == 0
    assert db["Quarantine"].count_documents({"file": str(path)}) == 0


def test_the_same_files_unbroken_are_stored(db, folder):
    """The control of the test above: its query finds the records of a healthy file."""
    result = run_batch(batch_of(folder, {"debit": folder / NAMES["debit"], "diane": folder / NAMES["diane"]}), db=db)
    assert not result.fatal_reports and stored(db, "debit") > 0 and stored(db, "diane") > 0


def test_a_mapping_that_cannot_be_loaded_fails_every_urssaf_file_and_stores_none(db, folder, tmp_path):
    source = folder / NAMES["admin_urssaf"]
    lines = source.read_text().split("\n")
    broken = with_lines(source, tmp_path / NAMES["admin_urssaf"],
                        {40: set_cell(lines[39], lines[0], "Date_disp_siret", "x")})
    batch = batch_of(folder, {"admin_urssaf": broken, "debit": folder / NAMES["debit"],
                              "cotisation": folder / NAMES["cotisation"]})
    result = run_batch(batch, db=db)
    assert {r.file_type for r in result.fatal_reports} == {"admin_urssaf", "debit", "cotisation"}
    assert all("mapping" in r.fatal_error for r in result.fatal_reports if r.file_type != "admin_urssaf")
    assert stored(db, "debit") == stored(db, "cotisation") == stored(db, "compte") == 0
    no_mapping = run_batch(batch_of(folder, {"debit": folder / NAMES["debit"]}, mapping=False), db=db)
    assert "no admin_urssaf mapping found" in no_mapping.fatal_reports[0].fatal_error and stored(db, "debit") == 0


def test_a_good_file_after_a_fatal_one_is_stored_in_full(db, folder, tmp_path, monkeypatch):
    monkeypatch.setattr(file_stage, "SPILL_RECORDS", 16)
    _, truncated = _gzip_cut(0.8)(folder, tmp_path)
    batch = make_batch(KEY, files={"filter": [str(folder / NAMES["filter"])],
                                   "admin_urssaf": [str(folder / NAMES["admin_urssaf"])],
                                   "debit": [str(truncated), str(folder / NAMES["debit"])]},
                       date_debut=dt.date(2023, 9, 1), date_fin=dt.date(2023, 12, 1))
    result = run_batch(batch, db=db)
    fatal, good = [r for r in result.reports if r.file_type == "debit"]
    assert fatal.is_fatal and fatal.lines_read > 20 and not good.is_fatal

    def debit_documents() -> list[dict]:
        return sorted(({"_id": d["_id"], "debit": d["value"]["batch"][KEY]["debit"]} for d in
                       db["ImportedData"].find({f"value.batch.{KEY}.debit": {"$exists": True}})),
                      key=lambda d: d["_id"])

    with_fatal = debit_documents()
    db["ImportedData"].delete_many({})
    run_batch(batch_of(folder, {"debit": folder / NAMES["debit"]}), db=db)
    assert with_fatal == debit_documents() and len(with_fatal) > 0


class _Recorder:
    """Stands for both writers: records what a stage hands over, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def add_prepared(self, record) -> None:
        self.calls.append(("record", record[1], record[4]))

    def add_block(self, block) -> None:
        self.calls.append(("block", tuple(block.keys)))

    def add(self, path, file_type, line, reasons) -> None:
        self.calls.append(("rejected", path, file_type, line, tuple(reasons)))


def _feed(stage: file_stage.FileStage) -> None:
    from sf.importers.columnar import RecordBlock
    from sf.importers.debit import DebitRecord
    from sf.importers.records import Tuple

    record = DebitRecord.model_construct(numero_compte="1", numero_ecart_negatif="2",
                                         date_traitement=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), part_ouvriere=1.0,
                                         part_patronale=2.0, code_procedure_collective="0",
                                         periode=None, code_operation_ecart_negatif="1",
                                         code_motif_ecart_negatif="0", recours_en_cours=False)
    for n in range(10):
        stage.add(Tuple("debit", f"{n:014d}", "etablissement", record))
        if n % 3 == 0:
            stage.reject(n + 2, [f"reason {n}"])
        if n % 4 == 0:
            stage.add(RecordBlock("debit", "etablissement", 2, 0, [f"b{n}", f"c{n}"], [{}, {}], ["h", "i"]))


def test_a_spilled_stage_hands_over_the_same_items_in_the_same_order():
    calls = []
    for spill in (1_000, 3, 1):
        recorder = _Recorder()
        stage = file_stage.FileStage("/f.csv", "debit", spill_records=spill)
        _feed(stage)
        assert (stage._spool is not None) == (spill < 1_000)
        stage.commit(recorder, recorder)
        calls.append(recorder.calls)
        assert stage._spool is None  # the spool is closed (and, being anonymous, gone)
    assert calls[0] == calls[1] == calls[2] and len(calls[0]) == 10 + 4 + 3


def test_a_discarded_stage_hands_over_nothing():
    recorder = _Recorder()
    with file_stage.FileStage("/f.csv", "debit", spill_records=2) as stage:
        _feed(stage)
    with pytest.raises(RuntimeError, match="already closed"):
        stage.commit(recorder, recorder)
    assert recorder.calls == []
