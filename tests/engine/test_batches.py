from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from sf.engine.batches import (
    Batch, batch_is_compacted, get_batch, list_batches, make_batch, previous_batch, remove_batch, save_batch,
)
from sf.engine.errors import UsageError


def test_make_batch_defaults_follow_prepare_import(tmp_path: Path):
    f = tmp_path / "eff.csv"
    f.write_text("x\n")
    batch = make_batch("2401", files={"effectif": [str(f)]}, complete_types=["effectif"])
    assert batch.param.date_debut == datetime(2014, 1, 1, tzinfo=UTC)
    assert batch.param.date_fin == datetime(2024, 1, 1, tzinfo=UTC)
    assert batch.files == {"effectif": [str(f.resolve())]}
    assert batch.stock_absent == "keep"


@pytest.mark.parametrize("key", ["2401", "2401_1", "2011_0_urssaf", "1812"])
def test_valid_keys(key: str):
    assert make_batch(key, check_files=False).key == key


@pytest.mark.parametrize("key", ["24011", "2413", "2400", "24-01", "2401_", "", "abcd"])
def test_invalid_keys_name_the_key(key: str):
    with pytest.raises(UsageError, match="batch key"):
        make_batch(key)


def test_unknown_type_missing_file_and_dates_are_usage_errors(tmp_path: Path):
    with pytest.raises(UsageError, match="files.nope"):
        make_batch("2401", files={"nope": [str(tmp_path)]}, check_files=False)
    with pytest.raises(UsageError, match="file not found"):
        make_batch("2401", files={"debit": [str(tmp_path / "absent.csv")]})
    with pytest.raises(UsageError, match="is a directory, not a file") as caught:
        make_batch("2401", files={"debit": [str(tmp_path)]})
    assert "--from-dir" in str(caught.value)
    with pytest.raises(UsageError, match="param.date_fin"):
        make_batch("2401", date_debut=date(2024, 1, 1), date_fin=date(2024, 1, 1))
    with pytest.raises(UsageError, match="complete_types"):
        make_batch("2401", complete_types=["filter"])
    with pytest.raises(UsageError, match="stock_absent"):
        make_batch("2401", stock_absent="sometimes")


def test_document_shape_is_the_original_one():
    doc = make_batch("2401", complete_types=["sirene", "effectif"], name="Janvier").to_document()
    assert doc["_id"] == {"key": "2401", "type": "batch"}
    assert doc["complete_types"] == ["effectif", "sirene"]
    assert set(doc["param"]) == {"date_debut", "date_fin", "date_fin_effectif"}
    assert Batch.from_document(doc) == make_batch("2401", complete_types=["sirene", "effectif"], name="Janvier")


def test_from_document_reads_original_admin_documents():
    original = {"_id": {"key": "1802", "type": "batch"}, "name": "Février 2018", "readonly": True,
                "files": {"effectif": ["/1802/effectif.csv.gz"], "filter": ["/1802/filter_1802.csv"]},
                "complete_types": None,
                "param": {"date_debut": datetime(2014, 1, 1), "date_fin": datetime(2018, 12, 1),
                          "date_fin_effectif": datetime(2018, 6, 1)}}
    batch = Batch.from_document(original)
    assert batch.complete_types == [] and batch.readonly
    assert batch.param.date_fin_effectif == datetime(2018, 6, 1, tzinfo=UTC)


def test_store_round_trip_and_string_order(db):
    for key in ["2402", "2401_1", "2401"]:
        save_batch(db, make_batch(key, check_files=False))
    assert [b.key for b in list_batches(db)] == ["2401", "2401_1", "2402"]
    assert get_batch(db, "2401_1").key == "2401_1"
    with pytest.raises(UsageError, match="already exists"):
        save_batch(db, make_batch("2401", check_files=False))
    save_batch(db, make_batch("2401", name="again", check_files=False), replace=True)
    assert get_batch(db, "2401").name == "again"
    assert db["Admin"].count_documents({"_id.type": "batch"}) == 3
    with pytest.raises(UsageError, match="not defined"):
        get_batch(db, "2403")


def test_remove_refuses_compacted_batches_unless_forced(db):
    save_batch(db, make_batch("2401", check_files=False))
    save_batch(db, make_batch("2402", check_files=False))
    db["RawData"].insert_one({"_id": "01234567890123", "value": {"key": "01234567890123", "scope": "etablissement",
                                                                  "batch": {"2401": {"effectif": {"h": {"effectif": 3}}}}}})
    assert batch_is_compacted(db, "2401") and not batch_is_compacted(db, "2402")
    remove_batch(db, "2402")
    with pytest.raises(UsageError, match="already compacted"):
        remove_batch(db, "2401")
    remove_batch(db, "2401", force=True)
    assert list_batches(db) == []


def test_gzip_scheme_prefix_is_kept_and_checked(tmp_path: Path):
    upload = tmp_path / "a1b2c3"
    upload.write_bytes(b"")
    batch = make_batch("2401", files={"procol": [f"gzip:{upload}"]})
    assert batch.files["procol"] == [f"gzip:{upload.resolve()}"]
    with pytest.raises(UsageError, match="file not found"):
        make_batch("2401", files={"procol": [f"gzip:{tmp_path / 'absent'}"]})


def test_previous_batch_is_the_one_processed_just_before(db):
    for key in ("2401", "2403", "2401_1", "2312"):
        save_batch(db, make_batch(key, check_files=False))
    assert previous_batch(db, "2312") is None
    assert previous_batch(db, "2401").key == "2312"
    assert previous_batch(db, "2401_1").key == "2401"  # a sub-batch comes after its batch
    assert previous_batch(db, "2402").key == "2401_1"  # KEY need not be defined
    assert previous_batch(db, "2403").key == "2401_1"  # never KEY itself
    assert previous_batch(db, "2501").key == "2403"
