"""Conformance of the URSSAF parsers with the original's goldens (tests/data/osf, docs/importers.md §6).

* v2022 unit goldens: in-memory mapping of MANIFEST.md, no filter; tuples compared field by
  field in emission order, reports compared on counts, messages and summary; the same run
  on a gzipped copy must give the same result (summary with the ``.gz`` name).
* HEAD unit goldens: the inputs carry a ``Siret`` column (layout detected from the header,
  no mapping); stored records keep the v2022 shape, so HEAD's ``periode_debut/periode_fin``
  are compared with ``periode.start/end`` and HEAD-only derived fields are ignored.
* v2022 end-to-end golden: URSSAF entries of ``test-import.golden.txt`` (real mapping,
  batch dates 2019-01-01 → 2019-02-01), compared modulo hashes, and the per-file reports.
"""

from __future__ import annotations

import gzip
import importlib
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf.importers.identity import record_hash
from sf.importers.perimeter import AccountMapping, load_account_mapping
from sf.importers.records import ParseContext
from sf.importers.tracker import FileReport, track

from ..conftest import DATA
from . import osf_goldens as G

TESTDATA = DATA / "osf"
ALWAYS = datetime(9999, 1, 2, tzinfo=UTC)

UNIT_MAPPING = AccountMapping({
    "111982477292496174": [("00000000000000", ALWAYS)],
    "636043216536562844": [("11111111111111", ALWAYS)],
    "450359886246036238": [("22222222222222", ALWAYS)],
})


def parser_of(file_type: str):
    return importlib.import_module(f"sf.importers.{file_type}").PARSER


def run(file_type: str, path: Path, ctx: ParseContext, report_path: str) -> tuple[list, FileReport]:
    report = FileReport(file_type=file_type, path=report_path, batch_key=ctx.batch_key)
    tuples = list(track(parser_of(file_type).parse(str(path), ctx), report, ctx.perimeter))
    assert report.lines_read == report.lines_valid + report.lines_rejected + report.lines_filtered
    return tuples, report


def check_event(report: FileReport, event: dict, source: Path | None = None) -> None:
    """Our event against the golden's; with ``source`` (the golden's input), its headRejected
    is first put in our convention (lines of the file, one entry per line)."""
    ours = report.to_event()
    if source is not None:
        event = {**event, "headRejected": G.file_line_messages(event["headRejected"], source)}
    for field in G.EVENT_FIELDS:
        assert ours[field] == event[field], field


#: (file type, input, unit golden) in each golden folder; effectif and effectif_ent have no HEAD golden.
UNIT_GOLDENS = [
    ("cotisation", "cotisationTestData.csv", "expectedCotisation.json"),
    ("debit", "debitTestData.csv", "expectedDebit.json"),
    ("debit", "debitCorrompuTestData.csv", "expectedDebitCorrompu.json"),
    ("delai", "delaiTestData.csv", "expectedDelai.json"),
    ("ccsf", "ccsfTestData.csv", "expectedCcsf.json"),
    ("procol", "procolTestData.csv", "expectedProcol.json"),
    ("effectif", "effectifTestData.csv", "expectedEffectif.json"),
    ("effectif_ent", "effectifEntTestData.csv", "expectedEffectifEnt.json"),
]


def unit_goldens(version: str, file_types: set[str]) -> list[tuple[str, str, str]]:
    """``(file type, input, golden)`` paths under ``<file type>/<version>/`` for ``file_types``."""
    return [(t, f"{t}/{version}/{source}", f"{t}/{version}/{golden}")
            for t, source, golden in UNIT_GOLDENS if t in file_types]


V2022_UNIT = unit_goldens("990c4d74", {t for t, _, _ in UNIT_GOLDENS})


def _assert_unit(file_type: str, input_path: Path, expected_file: str, report_path: str) -> None:
    expected = json.loads((TESTDATA / expected_file).read_text(encoding="utf-8"))
    ctx = ParseContext(batch_key="", mapping=lambda: UNIT_MAPPING)
    tuples, report = run(file_type, input_path, ctx, report_path)
    assert len(tuples) == len(expected["tuples"])
    for ours, theirs in zip(tuples, expected["tuples"]):
        document = G.to_json(ours.record.to_document())
        assert G.same(document, theirs), (document, theirs)
        assert ours.type == file_type
        # The fast constructor built a record the pydantic model itself accepts unchanged.
        model = type(ours.record)
        assert model.model_validate(ours.record.model_dump()) == ours.record
        assert model.model_construct(**ours.record.model_dump()).to_document() == ours.record.to_document()
    expected_event = expected["events"][0]["event"]
    expected_summary = expected_event["summary"].replace(
        "testData/" + Path(expected_event["summary"].split(":")[0]).name, report_path)
    assert report.summary == expected_summary
    expected_event = {**expected_event,
                      "headRejected": G.file_line_messages(expected_event["headRejected"], input_path)}
    for field in ("linesParsed", "linesRejected", "linesSkipped", "linesValid", "isFatal", "headRejected",
                  "headFatal"):
        assert report.to_event()[field] == expected_event[field], field
    assert expected["events"][0]["parserCode"] == file_type


@pytest.mark.parametrize("file_type,input_file,expected_file", V2022_UNIT,
                         ids=[Path(e[1]).name for e in V2022_UNIT])
def test_v2022_unit_golden(file_type: str, input_file: str, expected_file: str) -> None:
    path = TESTDATA / input_file
    _assert_unit(file_type, path, expected_file, "testData/" + path.name)


@pytest.mark.parametrize("file_type,input_file,expected_file", V2022_UNIT,
                         ids=[Path(e[1]).name for e in V2022_UNIT])
def test_v2022_unit_golden_gzipped(file_type: str, input_file: str, expected_file: str, tmp_path: Path) -> None:
    source = TESTDATA / input_file
    target = tmp_path / (source.name + ".gz")
    with source.open("rb") as raw, gzip.open(target, "wb") as packed:
        shutil.copyfileobj(raw, packed)
    _assert_unit(file_type, target, expected_file, "testData/" + target.name)


def test_v2022_unit_golden_gzip_prefix_without_extension(tmp_path: Path) -> None:
    """Upload-server files have no extension: the ``gzip:`` prefix alone triggers gunzip."""
    source = TESTDATA / "debit/990c4d74/debitCorrompuTestData.csv"
    target = tmp_path / "083fe617e80f2e30a21598d38a854bc6"
    with source.open("rb") as raw, gzip.open(target, "wb") as packed:
        shutil.copyfileobj(raw, packed)
    ctx = ParseContext(batch_key="", mapping=lambda: UNIT_MAPPING)
    report = FileReport("debit", "gzip:" + str(target), "")
    tuples = list(track(parser_of("debit").parse("gzip:" + str(target), ctx), report))
    assert len(tuples) == 3 and report.lines_read == 5 and report.lines_rejected == 2
    assert report.summary.startswith(str(target) + ": ")  # prefix removed in the summary


def test_v2022_admin_urssaf_golden() -> None:
    expected = json.loads((TESTDATA / "admin_urssaf/990c4d74/expectedComptes.json").read_text(encoding="utf-8"))
    mapping_file = TESTDATA / "admin_urssaf/990c4d74/comptesTestData.csv"
    mapping = load_account_mapping([mapping_file], None)
    ctx = ParseContext(batch_key="", date_debut=datetime(2018, 12, 1, tzinfo=UTC),
                       date_fin=datetime(2019, 1, 1, tzinfo=UTC), mapping=lambda: mapping)
    tuples, report = run("admin_urssaf", mapping_file, ctx, "testData/comptesTestData.csv")
    assert [G.to_json(t.record.to_document()) for t in tuples] == expected["tuples"]
    assert all(t.type == "compte" and t.key == t.record.siret for t in tuples)
    check_event(report, closed_account_filtered(expected["events"][0]["event"]))


def closed_account_filtered(event: dict) -> dict:
    """The golden's event with our deviation: the account closed before the period (line 4
    of the file) is *filtered*, silently, where the original rejected it with one ``Pas de
    siret associé`` message per month."""
    assert "1 lignes rejetées, 0 lignes filtrées" in event["summary"]
    assert all("Pas de siret associé au compte 450359886246036238" in m for m in event["headRejected"])
    summary = event["summary"].replace("1 lignes rejetées, 0 lignes filtrées", "0 lignes rejetées, 1 lignes filtrées")
    counts = {name: value for name, value in (("linesRejected", 0), ("linesSkipped", 1)) if name in event}
    return {**event, **counts, "headRejected": [], "summary": summary}


def test_v2022_check_golden_admin_urssaf_many_months() -> None:
    """test-check.golden.txt: dates 2001-01-01 → 2019-02-01 give 90 messages on Line 2
    (2011-08 … 2019-01) for the account closed on 2011-08-01, one rejected line. Deviation:
    that line designates the account's SIRET from 2001-01 to 2011-07, so it is valid and
    gives those 127 months; the months after its closing are no error."""
    golden = (TESTDATA / "e2e/990c4d74/test-check.golden.txt").read_text(encoding="utf-8")
    golden_messages = re.findall(r'"(Line 2: Pas de siret associé[^"]*)"', golden)
    assert len(golden_messages) == 90
    mapping_file = TESTDATA / "admin_urssaf/990c4d74/comptesTestData.csv"
    mapping = load_account_mapping([mapping_file], None)
    ctx = ParseContext(batch_key="", date_debut=datetime(2001, 1, 1, tzinfo=UTC),
                       date_fin=datetime(2019, 2, 1, tzinfo=UTC), mapping=lambda: mapping)
    tuples, report = run("admin_urssaf", mapping_file, ctx, "x")
    assert report.first_errors == []
    assert (report.lines_read, report.lines_rejected, report.lines_valid) == (3, 0, 3)
    closed = [t.record.periode for t in tuples if t.key == "22222222222222"]
    assert len(closed) == 127 and closed[0] == datetime(2001, 1, 1, tzinfo=UTC)
    assert closed[-1] == datetime(2011, 7, 1, tzinfo=UTC)
    assert golden_messages[0].endswith("à la période 2011-08-01 00:00:00 +0000 UTC")  # where ours stop


def test_v2022_check_golden_debit_summary() -> None:
    golden = (TESTDATA / "e2e/990c4d74/test-check.golden.txt").read_text(encoding="utf-8")
    assert "5 lignes traitées, 0 erreurs fatales, 2 lignes rejetées, 0 lignes filtrées, 3 lignes valides" in golden
    mapping = load_account_mapping([TESTDATA / "admin_urssaf/990c4d74/comptesTestData.csv"], None)
    ctx = ParseContext(batch_key="", mapping=lambda: mapping)
    _, report = run("debit", TESTDATA / "debit/990c4d74/debitCorrompuTestData.csv", ctx, "x")
    assert report.summary.endswith(
        "5 lignes traitées, 0 erreurs fatales, 2 lignes rejetées, 0 lignes filtrées, 3 lignes valides")


def test_v2022_debit_corrupted_identical_lines_share_a_hash() -> None:
    ctx = ParseContext(batch_key="", mapping=lambda: UNIT_MAPPING)
    tuples, _ = run("debit", TESTDATA / "debit/990c4d74/debitCorrompuTestData.csv", ctx, "x")
    hashes = [record_hash(t.type, t.record.to_document()) for t in tuples]
    assert hashes[1] == hashes[2] and hashes[0] != hashes[1]


# -- HEAD goldens (files with a Siret column) --------------------------------------------------

HEAD_UNIT = unit_goldens("head", {"cotisation", "debit", "delai", "ccsf", "procol"})

#: HEAD-only derived fields that the v2022 stored shape does not have.
HEAD_ONLY = {"periode_prise_en_compte", "DebitID"}


def head_as_v2022(record: dict) -> dict:
    out = {k: v for k, v in record.items() if k not in HEAD_ONLY}
    if "periode_debut" in out:
        out["periode"] = {"start": out.pop("periode_debut"), "end": out.pop("periode_fin")}
    return out


def _siret_of_clean_lines(path: Path) -> list[str]:
    """Siret column of the data lines that are well-formed (right width, no quote)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    header = [name.lower() for name in lines[0].split(";")]
    position = header.index("siret")
    return [line.split(";")[position] for line in lines[1:]
            if '"' not in line and line.count(";") == len(header) - 1]


@pytest.mark.parametrize("file_type,input_file,expected_file", HEAD_UNIT, ids=[e[1] for e in HEAD_UNIT])
def test_head_unit_golden(file_type: str, input_file: str, expected_file: str) -> None:
    expected = json.loads((TESTDATA / expected_file).read_text(encoding="utf-8"))
    path = TESTDATA / input_file

    def no_mapping():
        raise AssertionError("a file with a Siret column must not need the account mapping")

    ctx = ParseContext(batch_key="1902", mapping=no_mapping)
    tuples, report = run(file_type, path, ctx, "testData/" + path.name)
    assert len(tuples) == len(expected["tuples"])
    for ours, theirs in zip(tuples, expected["tuples"]):
        document = G.to_json(ours.record.to_document())
        assert G.same(document, head_as_v2022(theirs)), (document, theirs)
    # Keys come from the Siret column (HEAD) — the golden JSON does not print them.
    assert [t.key for t in tuples] == _siret_of_clean_lines(path)
    rep = expected["reports"][0]
    assert (report.lines_read, report.lines_rejected, report.lines_filtered, report.lines_valid) == (
        rep["lines_parsed"], rep["lines_rejected"], rep["lines_skipped"], rep["lines_valid"])
    assert report.summary == rep["summary"]
    assert report.is_fatal == rep["is_fatal"]
    # Messages: same kinds; the column of a quote error differs (HEAD Go ≥1.17 counts
    # 1-based bytes, we reproduce v2022's Go 1.14 0-based runes) — docs/importers.md §1.2.
    normalise = lambda message: re.sub(r"column \d+", "column N", message)
    assert [normalise(m) for m in report.first_errors] == [
        normalise(m) for m in G.file_line_messages(rep["head_rejected"], path)]


def test_head_debit_corrupted_quote_column_is_v2022_style() -> None:
    """Deviation from HEAD (kept on purpose): the line ``654",`` is reported at column 3
    (Go 1.14, 0-based rune index, as the v2022 golden) where HEAD says column 4."""
    ctx = ParseContext(batch_key="1902")
    _, report = run("debit", TESTDATA / "debit/head/debitCorrompuTestData.csv", ctx, "x")
    assert report.first_errors[1] == 'Line 5: parse error, column 3: bare " in non-quoted-field'


# -- v2022 end-to-end golden (URSSAF part) -------------------------------------------------------

E2E_FILES = {
    "admin_urssaf": "admin_urssaf/990c4d74/comptesTestData.csv",
    "ccsf": "ccsf/990c4d74/ccsfTestData.csv",
    "cotisation": "cotisation/990c4d74/cotisationTestData.csv",
    "debit": "debit/990c4d74/debitTestData.csv",
    "delai": "delai/990c4d74/delaiTestData.csv",
    "effectif": "effectif/990c4d74/effectifTestData.csv",
    "effectif_ent": "effectif_ent/990c4d74/effectifEntTestData.csv",
    "procol": "procol/990c4d74/procolTestData.csv",
}
URSSAF_TYPES = {"ccsf", "compte", "cotisation", "debit", "delai", "effectif", "effectif_ent", "procol"}
MASKED = {"compte", "effectif", "effectif_ent"}  # periode timestamps masked in the golden


def _golden_sections() -> tuple[list, list]:
    text = (TESTDATA / "e2e/990c4d74/test-import.golden.txt").read_text(encoding="utf-8")
    text = re.sub(r'ObjectId\("[^"]*"\)', '"oid"', text)
    text = re.sub(r'ISODate\("([^"]*)"\)', r'"\1"', text)
    text = re.sub(r"NumberLong\((-?\d+)\)", r"\1", text)
    text = text.replace(": undefined", ": null")
    parts = re.split(r"^//.*$", text, flags=re.MULTILINE)
    arrays = [json.loads(part) for part in parts if part.strip()]
    return arrays[0], arrays[1]


def _mask(type_name: str, body: dict) -> dict:
    body = G.to_json(body)
    if type_name in MASKED:
        body = {**body, "periode": "masked"}
    return body


def test_v2022_end_to_end_golden_urssaf_entries_and_reports() -> None:
    documents, journal = _golden_sections()
    expected: dict[tuple[str, str], list] = {}
    for doc in documents:
        value = doc["value"]
        for type_name, entries in value["batch"]["1910"].items():
            if type_name in URSSAF_TYPES:
                bodies = [_mask(type_name, body) for body in entries.values()]
                expected[(value["key"], type_name)] = sorted(bodies, key=lambda b: json.dumps(b, sort_keys=True))

    mapping_file = TESTDATA / E2E_FILES["admin_urssaf"]
    mapping = load_account_mapping([mapping_file], None)
    ctx = ParseContext(batch_key="1910", date_debut=datetime(2019, 1, 1, tzinfo=UTC),
                       date_fin=datetime(2019, 2, 1, tzinfo=UTC), mapping=lambda: mapping)
    ours: dict[tuple[str, str], dict[str, dict]] = {}
    reports: dict[str, FileReport] = {}
    for file_type, relative in E2E_FILES.items():
        tuples, report = run(file_type, TESTDATA / relative, ctx, f"/../lib/urssaf/testData/{Path(relative).name}")
        reports[file_type] = report
        for item in tuples:
            document = item.record.to_document()
            ours.setdefault((item.key, item.type), {})[record_hash(item.type, document)] = _mask(item.type, document)
    got = {key: sorted(bodies.values(), key=lambda b: json.dumps(b, sort_keys=True)) for key, bodies in ours.items()}
    assert got.keys() == expected.keys()
    for key, bodies in expected.items():
        assert len(got[key]) == len(bodies), key
        for mine, theirs in zip(got[key], bodies):
            assert G.same(mine, theirs), (key, mine, theirs)
    counts: dict[str, int] = {}
    for (_, type_name), bodies in got.items():
        counts[type_name] = counts.get(type_name, 0) + len(bodies)
    # Hash counts of the golden (docs/importers.md §4.2): the masked periods keep effectif at 315 distinct.
    assert counts["ccsf"] == 3 and counts["compte"] == 2 and counts["cotisation"] == 3
    assert counts["debit"] == 3 and counts["delai"] == 2 and counts["procol"] == 3

    events = {entry["parserCode"]: entry["event"] for entry in journal if entry.get("reportType") == "ImportBatch"}
    for file_type, report in reports.items():
        event = events[file_type]
        if file_type == "admin_urssaf":
            event = closed_account_filtered(event)
        mine = report.to_event()
        assert mine["summary"].replace("/../lib/urssaf/", "") == re.sub(r"^/\.\./lib/\w+/", "", event["summary"])
        assert mine["headRejected"] == event["headRejected"]
        assert mine["headFatal"] == event["headFatal"]
        assert mine["linesSkipped"] == event["linesSkipped"]
