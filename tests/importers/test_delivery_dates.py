"""A batch's dates from its delivery (sf.importers.delivery_dates): headcount months, the
choice between explicit dates, the previous batch and the delivery, and define_batch."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sf.engine.batches import make_batch, save_batch
from sf.engine.errors import UsageError
from sf.importers.delivery_dates import (
    choose_batch_dates,
    define_batch,
    delivery_headcount_months,
    header_first_month,
    headcount_months,
)
from sf.importers.reading import FatalFileError

HEAD = "compte;siret;rais_soc;ape_ins;dep"
TAIL = "base;UR_EMET"


def _effectif(path: Path, months: list[str], rows: list[list[str]], name: str = "Sigfaible_effectif_siret.csv") -> Path:
    """A headcount file with ``months`` eff… columns and one line per row of cells."""
    target = path / name
    lines = [";".join([HEAD, *months, TAIL])]
    for number, cells in enumerate(rows):
        lines.append(";".join([f"11{number:016d}", f"0123456789{number:04d}", "X", "5610C", "59", *cells, "1", "2"]))
    text = "\n".join(lines) + "\n"
    if name.endswith(".gz"):
        target.write_bytes(gzip.compress(text.encode()))
    else:
        target.write_text(text)
    return target


def _utc(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def test_empty_leading_and_trailing_months_are_not_data_months(tmp_path: Path):
    # eff202111 = 2021 Q1 month 1 (January); 202143 = December. Last column empty everywhere
    # (delivery lag), first column empty too.
    path = _effectif(tmp_path, ["eff202111", "eff202112", "eff202113", "eff202121"],
                     [["", "", "4", ""], ["", "7", "", ""]])
    months = headcount_months(str(path))
    assert months is not None
    assert (months.first, months.last) == (_utc(2021, 2), _utc(2021, 3))
    assert months.first_source == "Sigfaible_effectif_siret.csv, column eff202112"
    assert months.last_source == "Sigfaible_effectif_siret.csv, column eff202113"
    # The header alone gives a lower bound: its first column, filled or not.
    assert header_first_month(str(path)) == (_utc(2021, 1), "Sigfaible_effectif_siret.csv, column eff202111")


def test_columns_out_of_order_gzip_and_broken_lines(tmp_path: Path):
    path = _effectif(tmp_path, ["eff202113", "eff202111", "eff202112"],
                     [["3", "", ""], ["1", "2", "3"]], name="effectif_dom.csv.gz")
    broken = tmp_path / "broken.csv"
    broken.write_text(f"{HEAD};eff202111;eff202112;{TAIL}\nonly;three;fields\n1;2;X;A;59;;5;1;2\n")
    months = headcount_months(str(path))
    assert months is not None and (months.first, months.last) == (_utc(2021, 1), _utc(2021, 3))
    assert months.first_source.endswith("column eff202111")
    broken_months = headcount_months(str(broken))
    assert broken_months is not None and broken_months.first == broken_months.last == _utc(2021, 2)


def test_reading_stops_once_the_first_and_last_months_are_seen(tmp_path: Path):
    path = _effectif(tmp_path, ["eff202111", "eff202112"], [["1", "2"]])
    with path.open("ab") as out:
        out.write(b"\xff\xfe not utf-8;;;;;;;;\n")  # reading this line would be a FatalFileError
    months = headcount_months(str(path))
    assert months is not None and months.last == _utc(2021, 2)
    with pytest.raises(FatalFileError):
        headcount_months(str(_effectif(tmp_path, ["eff202111", "eff202112"], [["1", ""]], name="b.csv"))
                         .replace("b.csv", "absent.csv"))


def test_no_month_with_data(tmp_path: Path):
    no_column = tmp_path / "a_effectif_x.csv"
    no_column.write_text("compte;siret\n1;01234567890123\n")
    assert headcount_months(str(no_column)) is None and header_first_month(str(no_column)) is None
    assert headcount_months(str(_effectif(tmp_path, ["eff202111"], [[""]]))) is None
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEAD};eff20;{TAIL}\n")
    with pytest.raises(FatalFileError, match="eff20"):
        headcount_months(str(bad))


def test_a_delivery_takes_every_effectif_file_then_effectif_ent(tmp_path: Path):
    a = _effectif(tmp_path, ["eff202111", "eff202112"], [["", "1"]], name="Sigfaible_effectif_siret.csv")
    b = _effectif(tmp_path, ["eff202111", "eff202113"], [["1", "1"]], name="effectif_dom.csv")
    ent = _effectif(tmp_path, ["eff201911", "eff201912"], [["1", "1"]], name="Sigfaible_effectif_siren.csv")
    months = delivery_headcount_months({"effectif": [str(a), str(b)], "effectif_ent": [str(ent)]})
    assert months is not None and (months.first, months.last) == (_utc(2021, 1), _utc(2021, 3))
    assert months.first_source.startswith("effectif_dom.csv") and months.last_source.startswith("effectif_dom.csv")
    only_ent = delivery_headcount_months({"effectif_ent": [str(ent)], "debit": [str(a)]})
    assert only_ent is not None and only_ent.first == _utc(2019, 1)
    assert delivery_headcount_months({"debit": [str(a)]}) is None


def _previous(key: str, debut: date, fin_effectif: date | None) -> object:
    return make_batch(key, date_debut=debut, date_fin_effectif=fin_effectif, check_files=False)


def test_first_batch_is_dated_by_its_delivery(tmp_path: Path):
    eff = _effectif(tmp_path, ["eff202131", "eff202132", "eff202133"], [["2", "3", "4"]])
    dates = choose_batch_dates({"effectif": [str(eff)]}, None)
    assert (dates.date_debut, dates.date_fin_effectif) == (date(2021, 7, 1), date(2021, 9, 1))
    assert dates.warnings == []
    assert dates.notes == ["date_debut 2021-07-01: first month with a headcount (Sigfaible_effectif_siret.csv, "
                           "column eff202131)",
                           "date_fin_effectif 2021-09-01: last month with a headcount (Sigfaible_effectif_siret.csv, "
                           "column eff202133)"]


def test_a_monthly_batch_keeps_the_series_start_of_the_previous_one(tmp_path: Path):
    eff = _effectif(tmp_path, ["eff202133", "eff202141"], [["2", "3"]])
    previous = _previous("2110", date(2019, 3, 1), date(2021, 9, 1))
    dates = choose_batch_dates({"effectif": [str(eff)]}, previous)
    assert (dates.date_debut, dates.date_fin_effectif) == (date(2019, 3, 1), date(2021, 10, 1))
    assert "previous batch 2110" in dates.notes[0] and "column eff202141" in dates.notes[1]
    # Without headcount in this delivery, date_fin_effectif stays the previous batch's.
    no_headcount = choose_batch_dates({}, previous)
    assert no_headcount.date_fin_effectif == date(2021, 9, 1) and "previous batch 2110" in no_headcount.notes[1]
    assert no_headcount.warnings == []


def test_explicit_dates_win_and_no_file_is_read(tmp_path: Path):
    absent = str(tmp_path / "Sigfaible_effectif_siret.csv")  # reading it would raise
    dates = choose_batch_dates({"effectif": [absent]}, None, date_debut=date(2020, 1, 1),
                               date_fin_effectif=date(2021, 5, 1))
    assert (dates.date_debut, dates.date_fin_effectif) == (date(2020, 1, 1), date(2021, 5, 1))
    assert all("given with --date" in note for note in dates.notes)
    with pytest.raises(FatalFileError):
        choose_batch_dates({"effectif": [absent]}, None, date_debut=date(2020, 1, 1))


def test_nothing_dated_and_no_previous_batch_keeps_the_default_with_warnings():
    dates = choose_batch_dates({"debit": ["/not/read.csv"]}, None)
    assert (dates.date_debut, dates.date_fin_effectif) == (None, None)
    assert dates.notes == []
    assert len(dates.warnings) == 2 and "2014-01-01 (the default)" in dates.warnings[0]


def test_define_batch_reads_the_previous_batch_from_the_database(db, tmp_path: Path):
    first = _effectif(tmp_path, ["eff202131", "eff202132"], [["1", "1"]], name="Sigfaible_effectif_siret.csv")
    (tmp_path / "next").mkdir()
    second = _effectif(tmp_path / "next", ["eff202132", "eff202133"], [["1", "1"]])
    batch, dates = define_batch(db, "2109", files={"effectif": [str(first)]}, complete_types=["effectif"])
    assert batch.param.date_debut == _utc(2021, 7) and batch.param.date_fin_effectif == _utc(2021, 8)
    assert batch.files == {"effectif": [str(first.resolve())]} and batch.complete_types == ["effectif"]
    save_batch(db, batch)
    later, dates = define_batch(db, "2110", files={"effectif": [str(second)]})
    assert later.param.date_debut == _utc(2021, 7) and later.param.date_fin_effectif == _utc(2021, 9)
    assert later.param.date_fin == _utc(2021, 10)
    # A batch before 2014 (the old default's year) is dated by its delivery too.
    old = _effectif(tmp_path, ["eff201221", "eff201231"], [["1", "1"]], name="effectif_2012.csv")
    early, _ = define_batch(db, "1208", files={"effectif": [str(old)]})
    assert early.param.date_debut == _utc(2012, 4) and early.param.date_fin == _utc(2012, 8)
    # Redefining the first batch does not take itself as its previous batch.
    again, _ = define_batch(db, "2109", files={"effectif": [str(second)]})
    assert again.param.date_debut == _utc(2021, 8)


def test_define_batch_errors_name_the_file_or_the_date_sources(db, tmp_path: Path):
    bad = tmp_path / "Sigfaible_effectif_siret.csv"
    bad.write_text(f"{HEAD};effXX;{TAIL}\n")
    with pytest.raises(UsageError, match="Sigfaible_effectif_siret.csv") as caught:
        define_batch(db, "2110", files={"effectif": [str(bad)]})
    assert "--date-debut" in (caught.value.hint or "")
    late = _effectif(tmp_path, ["eff202411"], [["3"]], name="effectif_late.csv")  # data after the batch month
    with pytest.raises(UsageError, match="date_fin") as caught:
        define_batch(db, "2110", files={"effectif": [str(late)]})
    assert "column eff202411" in (caught.value.hint or "")
    with pytest.raises(UsageError, match="batch key"):
        define_batch(db, "2113", files={"effectif": [str(tmp_path / "absent.csv")]})
