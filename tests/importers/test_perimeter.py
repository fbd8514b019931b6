"""SIREN perimeter and admin_urssaf account mapping (docs/importers.md §2)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf.importers.perimeter import (
    NOT_CLOSED,
    AccountMapping,
    Perimeter,
    load_account_mapping,
    load_perimeter,
    no_siret_message,
)
from sf.importers.reading import FatalFileError

from ..conftest import DATA

TESTDATA = DATA / "osf"
COMPTES = TESTDATA / "admin_urssaf" / "990c4d74" / "comptesTestData.csv"


def d(y: int, m: int, day: int = 1) -> datetime:
    return datetime(y, m, day, tzinfo=UTC)


def test_perimeter_semantics() -> None:
    perimeter = Perimeter(frozenset({"111111111"}))
    assert perimeter.contains("111111111") and perimeter.contains("11111111100012")
    assert not perimeter.contains("11111111") and not perimeter.contains("222222222") and "111111111" in perimeter


def test_load_perimeter_union_header_and_gzip(tmp_path: Path) -> None:
    """HEAD filter golden (sorted by its test): a ``siren`` header line then SIRENs."""
    golden = (TESTDATA / "filter" / "head" / "test_golden.txt").read_text(encoding="utf-8").split()
    sirens = [line for line in golden if line != "siren"]
    first = tmp_path / "filter_siren_2002.csv"
    first.write_text("siren\n" + "\n".join(sirens[:3]) + "\n\n", encoding="utf-8")
    second = tmp_path / "filter2.csv.gz"
    second.write_bytes(gzip.compress(("\r\n".join(sirens[3:]) + ";extra column\r\n").encode()))
    assert load_perimeter([first, second]).sirens == frozenset(sirens)
    assert load_perimeter([]).sirens == frozenset()


def test_load_perimeter_rejects_bad_sirens(tmp_path: Path) -> None:
    path = tmp_path / "filter.csv"
    path.write_text("111111111\n1234\n", encoding="utf-8")
    with pytest.raises(FatalFileError) as caught:
        load_perimeter([path])
    assert str(caught.value) == f"{path}: line 2: Format de siren incorrect trouvé : 1234"
    path.write_text("111111111\nsiren\n", encoding="utf-8")  # header tolerated on line 1 only
    with pytest.raises(FatalFileError, match="siren"):
        load_perimeter([path])


def test_load_account_mapping_from_test_data() -> None:
    mapping = load_account_mapping([COMPTES], None)
    assert mapping.accounts() == ["111982477292496174", "450359886246036238", "636043216536562844"]
    assert mapping.entries("450359886246036238") == [("22222222222222", d(2011, 8, 1))]
    assert mapping.entries("111982477292496174") == [("00000000000000", NOT_CLOSED)]
    assert NOT_CLOSED == d(2899, 1, 1)
    assert mapping.siret_for("450359886246036238", d(2011, 7, 31)) == "22222222222222"
    assert mapping.siret_for("450359886246036238", d(2011, 8, 1)) is None  # strict: date < closing
    assert mapping.siret_for("unknown", d(2011, 1, 1)) is None
    assert no_siret_message("450359886246036238", d(2018, 12, 1)) == (
        "Pas de siret associé au compte 450359886246036238 à la période 2018-12-01 00:00:00 +0000 UTC")


def test_mapping_applies_the_perimeter_and_sorts_by_closing(tmp_path: Path) -> None:
    path = tmp_path / "Sigfaible_etablissement_utf8.csv"
    path.write_text("COMPTE;SIRET;DATE_DISP_SIRET\n"
                    "A;11111111100002;\n"
                    "A;11111111100001;1150101\n"
                    "A;1111111110000X;\n"        # provisional SIRET: dropped
                    "B;22222222200001;\n", encoding="utf-8")  # outside the perimeter: dropped
    mapping = load_account_mapping([path], Perimeter(frozenset({"111111111"})))
    assert mapping.accounts() == ["A"]
    assert mapping.siret_for("A", d(2014, 12, 31)) == "11111111100001"
    assert mapping.siret_for("A", d(2015, 1, 1)) == "11111111100002"


def test_later_mapping_file_replaces_an_account(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv.gz"
    first.write_text("compte;siret;date_disp_siret\nA;11111111100001;\nB;22222222200001;\n", encoding="utf-8")
    second.write_bytes(gzip.compress(b"compte;siret;date_disp_siret\nA;33333333300001;\n"))
    mapping = load_account_mapping([first, second], None)
    assert mapping.entries("A") == [("33333333300001", NOT_CLOSED)]
    assert mapping.entries("B") == [("22222222200001", NOT_CLOSED)]


@pytest.mark.parametrize("content,reason", [
    ("compte;siret\nA;11111111100001\n", "Colonne date_disp_siret non trouvée. Abandon."),
    ("compte;siret;date_disp_siret\nA;11111111100001;x\n",
     "Line 2: valeur non autorisée pour une conversion en date: x"),
    ("compte;siret;date_disp_siret\nA;11111111100001\n", "Line 2: wrong number of fields"),
])
def test_unusable_mapping_file_is_fatal(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FatalFileError) as caught:
        load_account_mapping([path], None)
    assert str(caught.value) == f"{path}: {reason}"


def test_no_mapping_file() -> None:
    with pytest.raises(FatalFileError, match="no admin_urssaf mapping found"):
        load_account_mapping([], None)
    assert len(AccountMapping()) == 0
