"""Delivery folder → batch file types (docs/importers.md §5): our own folder fixture and the
original's integrated prepare-import golden (opensignauxfaibles HEAD)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sf.importers.delivery import detect_file_type, scan_delivery
from sf.importers.reading import FatalFileError

from ..conftest import DATA

PREPARE_HEAD = DATA / "osf" / "prepare-import" / "head"


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


def test_delivery_folder_fixture(tmp_path: Path) -> None:
    """A folder with every kind of entry (regular files, a small ``.gz``, upload-server files
    with their ``.info`` sidecar, an unsupported file); the expected batch was written by hand
    from the naming and completeness rules (docs/importers.md §5)."""
    fixture = json.loads((DATA / "delivery" / "folder_2203.json").read_text(encoding="utf-8"))
    folder = tmp_path / fixture["batch"]
    folder.mkdir()
    for name, content in fixture["files"].items():
        _touch(folder, name, content.encode())
    for name, info in fixture["uploads"].items():
        _touch(folder, name)
        _touch(folder, name + ".info", json.dumps(info).encode())
    scan = scan_delivery(folder, f"/{fixture['batch']}/")
    expected = fixture["expected"]
    assert scan.files == expected["files"]
    assert sorted(scan.complete_types) == expected["complete_types"]
    assert scan.unrecognised == expected["unrecognised"]
    assert scan.notes == expected["notes"]


def test_prepare_import_head_end_to_end_golden(tmp_path: Path) -> None:
    golden = json.loads((PREPARE_HEAD / "end_to_end_golden.txt").read_text(encoding="utf-8"))
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
