"""`sf prune-entities`: RawData entities outside the perimeter of the latest filter file.

Scenario of the original's tests/test-prune-entities.sh (docs/compaction.md §4.3): filter {333333333,
111111111}, RawData ids 111111111, 11111111100000, 222222222, 22222222200000, 333333333 →
2 outside; after --delete only the 222… documents are gone.
"""

from datetime import date
from pathlib import Path

import pytest

from sf.compaction.prune import load_batch_perimeter, outside_keys, perimeter_batch, prune_entities
from sf.engine.batches import make_batch, save_batch
from sf.engine.errors import BadInputError, UsageError

IDS = ["111111111", "11111111100000", "222222222", "22222222200000", "333333333"]


def _batch(db, key: str, tmp_path: Path, sirens: list[str] | None) -> None:
    files = {}
    if sirens is not None:
        path = tmp_path / f"filter_{key}.csv"
        path.write_text("".join(f"{s}\n" for s in sirens))
        files["filter"] = [str(path)]
    save_batch(db, make_batch(key, files=files, date_debut=date(2018, 1, 1)))


def _rawdata(db):
    db["RawData"].insert_many([{"_id": k, "value": {"key": k, "batch": {}}} for k in IDS])


def test_outside_keys_compares_the_siren_prefix():
    assert list(outside_keys(iter(IDS), frozenset({"333333333", "111111111"}))) == ["222222222", "22222222200000"]


def test_original_scenario_count_then_delete(db, tmp_path):
    _batch(db, "1901", tmp_path, ["333333333", "111111111"])
    _rawdata(db)
    source = load_batch_perimeter(perimeter_batch(db))
    counted = prune_entities(db, source)
    assert (counted.documents, counted.outside, counted.entreprises, counted.etablissements, counted.deleted) == (5, 2, 1, 1, 0)
    assert counted.sample == ["222222222", "22222222200000"]
    assert db["RawData"].count_documents({}) == 5  # a count writes nothing

    deleted = prune_entities(db, source, delete=True, sample_size=1)
    assert deleted.deleted == 2 and deleted.sample == ["222222222"]
    assert sorted(d["_id"] for d in db["RawData"].find()) == ["111111111", "11111111100000", "333333333"]
    assert prune_entities(db, source, delete=True).deleted == 0  # running again: nothing left to do


def test_the_latest_batch_with_a_filter_defines_the_perimeter(db, tmp_path):
    _batch(db, "1901", tmp_path, ["111111111"])
    _batch(db, "1902", tmp_path, ["222222222"])
    _batch(db, "1903", tmp_path, None)  # no filter: not the current perimeter
    assert perimeter_batch(db).key == "1902"
    assert load_batch_perimeter(perimeter_batch(db, "1901")).sirens == frozenset({"111111111"})
    with pytest.raises(UsageError, match="1903 has no filter"):
        perimeter_batch(db, "1903")


def test_no_filter_empty_filter_and_bad_filter_are_refused(db, tmp_path):
    with pytest.raises(UsageError, match="no batch lists a filter"):
        perimeter_batch(db)
    _batch(db, "1901", tmp_path, [])
    with pytest.raises(UsageError, match="lists no SIREN"):
        load_batch_perimeter(perimeter_batch(db))
    _batch(db, "1902", tmp_path, ["12345"])
    with pytest.raises(BadInputError, match="filter_1902.csv.*line 1"):
        load_batch_perimeter(perimeter_batch(db))
