"""The import driver against the test database, on the original's end-to-end inputs.

Batch 1910 with every v2022 input of ``tests/data/osf`` (as the original's ``test-import.sh``),
``--no-filter``: per-file counts must equal the original's Journal reports, and the
ImportedData documents must hold, per entity and type, as many records as the original's.
"""

import gzip
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from sf.engine.batches import make_batch
from sf.engine.errors import BadInputError, UsageError
from sf.importers.driver import run_batch

from ..conftest import DATA
from . import osf_goldens as G
from .osf_goldens import E2E_FILES

TESTDATA = DATA / "osf"

_COUNTS = re.compile(r"(\d+) lignes traitées, (\d+) erreurs fatales, (\d+) lignes rejetées, (\d+) lignes filtrées, "
                     r"(\d+) lignes valides")


def _batch(files: dict[str, list[str]], **kwargs):
    return make_batch("1910", files=files, date_debut=date(2019, 1, 1), date_fin=date(2019, 2, 1), **kwargs)


def _e2e_batch():
    return _batch({t: [str(TESTDATA / p)] for t, p in E2E_FILES.items()})


def _counts(report) -> tuple[int, ...]:
    return (report.lines_read, int(report.is_fatal), report.lines_rejected, report.lines_filtered, report.lines_valid)


#: Counts that differ from the original's on purpose: (read, fatal, rejected, filtered, valid).
DEVIATIONS = {
    # The account closed before the period is filtered, not rejected once per month.
    "admin_urssaf": {(3, 0, 1, 0, 2): (3, 0, 0, 1, 2)},
    # The header row is not a line (the original counted it, always rejected).
    "ellisphere": {(7, 0, 1, 0, 6): (6, 0, 0, 0, 6)},
    # One line per company of the file, not per company and year.
    "diane": {(18, 0, 0, 0, 18): (3, 0, 0, 0, 3)},
}


def test_reports_match_the_original_end_to_end_import(db):
    result = run_batch(_e2e_batch(), no_filter=True, db=db)
    assert [r.file_type for r in result.reports] == list(E2E_FILES)  # registry order
    for report in result.reports:
        expected = tuple(int(n) for n in _COUNTS.search(G.e2e_event(report.file_type)["summary"]).groups())
        assert _counts(report) == DEVIATIONS.get(report.file_type, {}).get(expected, expected), report.file_type
        assert report.lines_read == report.lines_valid + report.lines_rejected + report.lines_filtered


def test_imported_documents_hold_the_original_records_per_entity_and_type(db):
    run_batch(_e2e_batch(), no_filter=True, db=db)
    golden = {}
    for doc in G._e2e_sections()[0]:
        value = doc["value"]
        for type_name, records in value["batch"]["1910"].items():
            golden[(value["key"], value["scope"], type_name)] = len(records)
    ours = {}
    for doc in db["ImportedData"].find():
        value = doc["value"]
        assert doc["_id"] == f"1910:{value['key']}" and set(value["batch"]) == {"1910"}
        for type_name, records in value["batch"]["1910"].items():
            ours[(value["key"], value["scope"], type_name)] = len(records)
    assert ours == golden


def test_reimport_converges_and_check_writes_nothing(db):
    batch = _e2e_batch()
    first = run_batch(batch, no_filter=True, db=db)
    snapshot = sorted(db["ImportedData"].find(), key=lambda d: d["_id"])
    quarantined = db["Quarantine"].count_documents({})
    assert quarantined == sum(r.lines_rejected for r in first.reports) == 1
    run_batch(batch, no_filter=True, db=db)
    assert sorted(db["ImportedData"].find(), key=lambda d: d["_id"]) == snapshot
    assert db["Quarantine"].count_documents({}) == quarantined
    paydex = db["Quarantine"].find_one({"type": "paydex"})
    assert paydex["line"] == 4 and "01/15/2019" in paydex["reason"] and paydex["file"].endswith("paydexTestData.csv")

    db["ImportedData"].delete_many({})
    checked = run_batch(batch, no_filter=True, db=None)
    assert [_counts(r) for r in checked.reports] == [_counts(r) for r in first.reports]
    assert db["ImportedData"].count_documents({}) == 0


def test_filter_is_required_unless_no_filter_and_then_applied(db, tmp_path: Path):
    files = {"paydex": [str(TESTDATA / E2E_FILES["paydex"])]}
    with pytest.raises(UsageError, match="no filter file"):
        run_batch(_batch(files), db=db)
    perimeter = tmp_path / "filter_1910.csv"
    perimeter.write_text("000000001\n")
    result = run_batch(_batch(dict(files, filter=[str(perimeter)])), db=db)
    (report,) = result.reports
    assert report.lines_filtered > 0 and report.lines_read == report.lines_valid + report.lines_rejected + report.lines_filtered
    assert {d["value"]["key"] for d in db["ImportedData"].find()} == {"000000001"}
    broken = tmp_path / "filter_bad.csv"
    broken.write_text("12345\n")
    with pytest.raises(BadInputError, match="filter"):
        run_batch(_batch(dict(files, filter=[str(broken)])), db=db)


def test_fatal_files_are_reported_and_the_others_still_import(db, tmp_path: Path):
    truncated = tmp_path / "Sigfaible_pcoll.csv.gz"
    truncated.write_bytes(gzip.compress((TESTDATA / E2E_FILES["procol"]).read_bytes())[:-30])
    latin1 = tmp_path / "sireneUL.csv"
    latin1.write_bytes((TESTDATA / E2E_FILES["sirene_ul"]).read_text().replace("A", "É").encode("latin-1"))
    gone = tmp_path / "gone.csv"
    shutil.copy(TESTDATA / E2E_FILES["paydex"], gone)
    batch = _batch({"procol": [str(truncated)], "sirene_ul": [str(latin1)], "paydex": [str(gone)],
                    "apconso": [str(TESTDATA / E2E_FILES["apconso"])]})
    gone.unlink()  # deleted between `sf batch add` and `sf import`
    result = run_batch(batch, no_filter=True, db=db)
    fatal = {r.file_type: r.fatal_error for r in result.reports if r.is_fatal}
    assert set(fatal) == {"procol", "sirene_ul", "paydex"}
    assert all(str(tmp_path) in message for message in fatal.values())
    apconso = next(r for r in result.reports if r.file_type == "apconso")
    assert apconso.lines_valid == 3 and db["ImportedData"].count_documents({"value.batch.1910.apconso": {"$exists": True}}) > 0


def test_urssaf_files_without_mapping_are_fatal_with_the_reason(db):
    result = run_batch(_batch({"cotisation": [str(TESTDATA / E2E_FILES["cotisation"])]}), no_filter=True, db=db)
    (report,) = result.reports
    assert report.is_fatal and "admin_urssaf" in report.fatal_error
