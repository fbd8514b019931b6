"""Delivery folder → batch file types (spec §5), against the prepare-import goldens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sf.importers.delivery import detect_file_type, scan_delivery
from sf.importers.reading import FatalFileError

ROOT = Path(__file__).resolve().parents[2]
PREPARE = ROOT / ".." / "shared" / "osf-testdata" / "prepare-import"


@pytest.mark.parametrize("name,file_type", [
    ("consommation_ap.csv", "apconso"),
    ("demande_ap.csv", "apdemande"),
    ("Sigfaible_etablissement_utf8.csv", "admin_urssaf"),
    ("Sigfaible_etablissement_utf8.csv.gz", "admin_urssaf"),
    ("Sigfaible_effectif_siren.csv.gz", "effectif_ent"),
    ("Sigfaible_pcoll.csv", "procol"),
    ("sigfaible_pcoll.csv.gz", "procol"),            # HEAD lowercase names
    ("Sigfaible_cotisdues.csv.gz", "cotisation"),
    ("Sigfaible_delais.csv", "delai"),
    ("Sigfaible_ccsf.csv", "ccsf"),
    ("sireneUL.csv", "sirene_ul"),
    ("StockEtablissement_utf8_geo.csv", "sirene"),
    ("Sigfaible_debits.csv", "debit"),
    ("Sigfaibles_debits2.csv", "debit"),
    ("diane_req_2002.csv", "diane"),
    ("Diane_export.txt", "diane"),
    ("Sigfaible_effectif_siret.csv", "effectif"),
    ("effectif_dom.csv", "effectif"),
    ("filter_siren_2002.csv", "filter"),
    ("E_202011095813_Retro-Paydex_20201207.csv", "paydex"),
    ("Ellisphère-Tête de groupe-20201231.xlsx", "ellisphere"),
    ("coco.csv", None),
    ("E_2020110958_Retro-Paydex_20201207.csv", None),
    ("StockEtablissementHistorique_utf8.csv", None),  # HEAD sirene_histo: no parser here
])
def test_detect_file_type(name: str, file_type: str | None) -> None:
    assert detect_file_type(name) == file_type


def _touch(folder: Path, name: str, content: bytes = b"") -> None:
    (folder / name).write_bytes(content)


def test_prepare_import_2022_end_to_end_golden(tmp_path: Path) -> None:
    """Folder of prepare-import's end-to-end test (PI-2022); the filter file, which the
    original generated from the effectif file, is provided here."""
    golden = json.loads((PREPARE / "abeff7a" / "end_to_end_golden.txt").read_text(encoding="utf-8"))
    stderr = (PREPARE / "abeff7a" / "end_to_end_golden_err.txt").read_text(encoding="utf-8")
    folder = tmp_path / "1802"
    folder.mkdir()
    for name in ("Sigfaibles_effectif_siret.csv", "Sigfaibles_debits.csv", "filter_siren_1802.csv",
                 "E_202011095813_Retro-Paydex_20201207.csv", "unsupported.csv"):
        _touch(folder, name)
    _touch(folder, "abcdef")
    _touch(folder, "abcdef.info", json.dumps({"MetaData": {"filename": "FICHIER_SF_2020_02.csv",
                                                            "goup-path": "bdf"}}).encode())
    _touch(folder, "083fe617e80f2e30a21598d38a854bc6")
    _touch(folder, "083fe617e80f2e30a21598d38a854bc6.info",
           json.dumps({"Size": 1646193, "MetaData": {"filename": "Sigfaible_pcoll.csv.gz",
                                                     "goup-path": "urssaf"}}).encode())
    scan = scan_delivery(folder, "/1802/")
    assert scan.files == golden["files"]
    assert sorted(scan.complete_types) == sorted(golden["complete_types"])
    assert [f"unsupported: {path}" for path in scan.unrecognised] == [
        line for line in stderr.splitlines() if line.startswith("unsupported: ")]
    assert [note for note in scan.notes if note.startswith("Info: ")] == [
        line for line in stderr.splitlines() if line.startswith("Info: ")]


def test_prepare_import_head_end_to_end_golden(tmp_path: Path) -> None:
    golden = json.loads((PREPARE / "head" / "end_to_end_golden.txt").read_text(encoding="utf-8"))
    folder = tmp_path / "1802"
    folder.mkdir()
    for paths in golden["files"].values():
        for path in paths:
            _touch(folder, path.split("/", 1)[1])
    scan = scan_delivery(folder, "1802/")
    assert scan.files == golden["files"] and scan.unrecognised == []
    # A small .gz procol is not a complete stock; effectif and sirene_ul always are.
    assert scan.complete_types == ["effectif", "sirene_ul"]


def test_complete_detection_needs_a_single_file(tmp_path: Path) -> None:
    _touch(tmp_path, "Sigfaible_debits.csv.gz", b"x")
    _touch(tmp_path, "Sigfaibles_debits2.csv.gz", b"x")
    scan = scan_delivery(tmp_path)
    assert scan.files["debit"] == ["Sigfaible_debits.csv.gz", "Sigfaibles_debits2.csv.gz"]
    assert "debit" not in scan.complete_types and "exactly one" in scan.notes[0]


def test_unreadable_sidecar_and_missing_folder(tmp_path: Path) -> None:
    _touch(tmp_path, "abcdef")
    _touch(tmp_path, "abcdef.info", b"{not json")
    with pytest.raises(FatalFileError, match="unreadable upload metadata"):
        scan_delivery(tmp_path)
    with pytest.raises(FatalFileError, match="cannot list delivery folder"):
        scan_delivery(tmp_path / "absent")
