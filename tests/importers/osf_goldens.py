"""Helpers to compare parser output with the original's goldens (``tests/data/osf``).

Used by the conformance tests of apconso, apdemande, sirene, sirene_ul, bdf, diane, paydex
and ellisphere. Not a test module; load it with :func:`load` below from a test file::

    G = importlib.util.module_from_spec(...)  # see any tests/importers/test_<source>.py

Formats handled:

* v2022 unit goldens ``expected*.json``: ``{"tuples": [...], "events": [{..., "event": {...}}]}``;
* v2022 end-to-end golden ``e2e/990c4d74/test-import.golden.txt``: mongo-shell text
  (``ObjectId(..)``, ``ISODate(..)``, ``NumberLong(..)``, ``undefined``) with the ImportedData
  documents, then the Journal reports;
* HEAD unit goldens (``{"tuples": [...], "reports": [...]}``), HEAD table dumps
  (``test-import.sql.stg_*.golden.txt``: tab-separated, every cell padded/truncated to 20
  characters, ``NULL`` for nulls) and HEAD CSV outputs (``==== x.csv ====`` then CSV).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from sf.importers.identity import record_hash
from sf.importers.records import ParseContext, Parser, Tuple
from sf.importers.tracker import FileReport, track

from ..conftest import DATA

TESTDATA = DATA / "osf"
E2E_IMPORT = TESTDATA / "e2e" / "990c4d74" / "test-import.golden.txt"

#: The v2022 inputs of the original's end-to-end import (batch 1910), by file type.
E2E_FILES = {
    "admin_urssaf": "admin_urssaf/990c4d74/comptesTestData.csv", "apconso": "apconso/990c4d74/apconsoTestData.csv",
    "apdemande": "apdemande/990c4d74/apdemandeTestData.csv", "bdf": "bdf/990c4d74/bdfTestData.csv",
    "ccsf": "ccsf/990c4d74/ccsfTestData.csv", "cotisation": "cotisation/990c4d74/cotisationTestData.csv",
    "debit": "debit/990c4d74/debitTestData.csv", "delai": "delai/990c4d74/delaiTestData.csv",
    "diane": "diane/990c4d74/dianeTestData.txt", "effectif": "effectif/990c4d74/effectifTestData.csv",
    "effectif_ent": "effectif_ent/990c4d74/effectifEntTestData.csv",
    "ellisphere": "ellisphere/990c4d74/ellisphereTestData.excel", "paydex": "paydex/990c4d74/paydexTestData.csv",
    "procol": "procol/990c4d74/procolTestData.csv", "sirene": "sirene/990c4d74/sireneTestData.csv",
    "sirene_ul": "sirene_ul/990c4d74/sireneULTestData.csv",
}


def data(relative: str) -> Path:
    """Path of a file of tests/data/osf (``"paydex/990c4d74/paydexTestData.csv"``)."""
    return TESTDATA / relative


def load_json(relative: str) -> Any:
    return json.loads(data(relative).read_text(encoding="utf-8"))


def to_json(value: Any) -> Any:
    """A stored value as the Go goldens print it (dates RFC 3339 UTC, nested dicts)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


MASKED_DATE = "_______ Date _______"
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T00:00:00Z")


def same(ours: Any, expected: Any) -> bool:
    """Semantic equality: numbers compared numerically (Go prints ``214`` for 214.0), bools
    and strings strictly, dicts key by key. A date the e2e golden masks
    (``ISODate("_______ Date _______")``) matches any date."""
    if expected == MASKED_DATE:
        return isinstance(ours, str) and _RFC3339.fullmatch(ours) is not None
    if isinstance(expected, bool) or isinstance(ours, bool):
        return type(ours) is type(expected) and ours == expected
    if isinstance(expected, (int, float)) and isinstance(ours, (int, float)):
        return float(ours) == float(expected)
    if isinstance(expected, dict) and isinstance(ours, dict):
        return ours.keys() == expected.keys() and all(same(ours[k], expected[k]) for k in expected)
    return type(ours) is type(expected) and ours == expected


def differences(ours: dict[str, Any], expected: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{field: (ours, expected)}`` for every field that differs (absent = None)."""
    return {k: (ours.get(k), expected.get(k)) for k in sorted(set(ours) | set(expected))
            if not (k in ours and k in expected and same(ours[k], expected[k]))}


def drop_nulls(document: dict[str, Any]) -> dict[str, Any]:
    """A Go JSON tuple without the ``null`` fields (not stored: omitted in BSON)."""
    return {k: v for k, v in document.items() if v is not None}


def run(parser: Parser, path: Path | str, *, report_path: str | None = None,
        ctx: ParseContext | None = None) -> tuple[list[Tuple], FileReport]:
    """Parse one file through the tracker; checks the one-line-one-outcome invariant."""
    ctx = ctx or ParseContext(batch_key="")
    report = FileReport(file_type=parser.file_type, path=report_path or str(path), batch_key=ctx.batch_key)

    def lines():  # parse() itself may raise FatalFileError: the tracker records it
        yield from parser.parse(str(path), ctx)

    tuples = list(track(lines(), report, ctx.perimeter))
    assert report.lines_read == report.lines_valid + report.lines_rejected + report.lines_filtered
    return tuples, report


def documents(tuples: list[Tuple]) -> list[dict[str, Any]]:
    return [to_json(t.record.to_document()) for t in tuples]


def write_file(directory: Path, name: str, data: str | bytes) -> Path:
    """``data`` (text is written as UTF-8, newlines untouched) saved as ``directory / name``; its path."""
    path = directory / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


#: Compares our report with a golden event: ``{field: (ours, golden)}`` for each difference.
EventCompare = Callable[[FileReport, dict[str, Any]], dict[str, tuple[Any, Any]]]


def _comparer(source: Path, compare_event: EventCompare | None) -> EventCompare:
    return compare_event or (lambda report, event: event_differences(report, event, source))


def check_unit_golden(parser: Parser, source: Path, golden: str, *, report_path: str, count: int,
                      compare_event: EventCompare | None = None) -> list[Tuple]:
    """Parse ``source`` (named ``report_path`` in the report, as the golden's event names it)
    and assert that we give ``count`` tuples, that our documents equal the tuples of the v2022
    unit golden ``golden`` field by field, in order, and our event its event. ``compare_event``
    replaces the default event comparison (:func:`event_differences` with ``source``'s line
    numbers) where a parser deviates on purpose. Returns our tuples for the caller's own checks."""
    expected = load_json(golden)
    tuples, report = run(parser, source, report_path=report_path)
    assert len(tuples) == count
    for ours, theirs in zip(documents(tuples), expected["tuples"], strict=True):
        assert differences(ours, theirs) == {}
    assert _comparer(source, compare_event)(report, expected["events"][0]["event"]) == {}
    return tuples


EVENT_FIELDS = ("linesParsed", "linesRejected", "linesSkipped", "linesValid", "isFatal", "headRejected",
                "headFatal", "summary")


def record_lines(source: Path | str, encoding: str = "utf-8-sig") -> list[int]:
    """The file line (header = 1) of each data record of a golden input, in order: its
    non-blank lines after the first (no golden input has a record spanning lines)."""
    raw = Path(source).read_bytes()
    text = (gzip.decompress(raw) if str(source).endswith(".gz") else raw).decode(encoding)
    numbers = [n for n, line in enumerate(text.split("\n"), start=1) if line.strip("\r")]
    return numbers[1:]


def file_line_messages(messages: list[str], source: Path | str, encoding: str = "utf-8-sig") -> list[str]:
    """The original's ``headRejected`` in our convention: ``Line <n>`` is the line in the
    file (the original numbered data records), one entry per line with its messages joined
    by ``; ``, and the CSV reader's own line references dropped where they repeat it."""
    lines = record_lines(source, encoding)
    grouped: dict[int, list[str]] = {}
    for message in messages:
        match = re.fullmatch(r"Line ([0-9]+): (.*)", message, flags=re.DOTALL)
        assert match is not None, message
        line = lines[int(match.group(1)) - 1]
        text = re.sub(r"^record on line [0-9]+: ", "", match.group(2))
        text = re.sub(r"^record on line [0-9]+; parse error", "parse error", text)
        text = text.replace(f"parse error on line {line}, ", "parse error, ")
        grouped.setdefault(line, []).append(text)
    return [f"Line {line}: {'; '.join(texts)}" for line, texts in grouped.items()]


def event_differences(report: FileReport, event: dict[str, Any], source: Path | str | None = None,
                      encoding: str = "utf-8-sig") -> dict[str, tuple[Any, Any]]:
    """Fields of ``report``'s event that differ from the golden ``event``; with ``source``
    (the golden's input file), its ``headRejected`` is first put in our line convention."""
    ours = report.to_event()
    if source is not None and "headRejected" in event:
        event = {**event, "headRejected": file_line_messages(event["headRejected"], source, encoding)}
    return {f: (ours[f], event[f]) for f in EVENT_FIELDS if f in event and ours[f] != event[f]}


# -- v2022 end-to-end golden ---------------------------------------------------------------------

_SHELL = ((re.compile(r'ObjectId\("([^"]*)"\)'), r'"\1"'), (re.compile(r'ISODate\("([^"]*)"\)'), r'"\1"'),
          (re.compile(r"NumberLong\((-?[0-9]+)\)"), r"\1"), (re.compile(r":\s*undefined\b"), ": null"))


def _shell_to_json(text: str) -> Any:
    for pattern, replacement in _SHELL:
        text = pattern.sub(replacement, text)
    return json.loads(text)


@lru_cache(maxsize=1)
def _e2e_sections() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    text = E2E_IMPORT.read_text(encoding="utf-8")
    parts = re.split(r"^//.*$", text, flags=re.MULTILINE)
    return _shell_to_json(parts[1]), _shell_to_json(parts[2])


def e2e_entries(tuple_type: str) -> list[tuple[str, str, dict[str, Any]]]:
    """``(key, scope, record)`` of every stored ``tuple_type`` record of the v2022 e2e golden
    (batch 1910), in the golden's order (documents by key, records by hash)."""
    entries = []
    for doc in _e2e_sections()[0]:
        value = doc["value"]
        for record in value["batch"]["1910"].get(tuple_type, {}).values():
            entries.append((value["key"], value["scope"], record))
    return entries


def e2e_event(parser_code: str) -> dict[str, Any]:
    """The ``event`` of the ImportBatch Journal report of ``parser_code`` in the e2e golden."""
    matches = [r["event"] for r in _e2e_sections()[1]
               if r.get("reportType") == "ImportBatch" and r.get("parserCode") == parser_code]
    assert len(matches) == 1, parser_code
    return matches[0]


def unmatched_e2e(tuples: list[Tuple], tuple_type: str) -> tuple[list[Any], list[Any]]:
    """Compare our tuples with the e2e golden modulo hashes: identical records of one key
    collapse (as the hash dedupe does), then every golden entry must match one of ours field
    by field. Returns ``(ours not in golden, golden not in ours)``; both empty = conformant."""
    ours: list[tuple[str, str, dict[str, Any]]] = []
    seen: set[tuple[str, str]] = set()
    for item in tuples:
        document = item.record.to_document()
        identity = (item.key, record_hash(item.type, document))
        if identity not in seen:
            seen.add(identity)
            ours.append((item.key, item.scope, to_json(document)))
    missing = []
    for key, scope, record in e2e_entries(tuple_type):
        for index, (our_key, our_scope, our_record) in enumerate(ours):
            if our_key == key and our_scope == scope and same(our_record, record):
                del ours[index]
                break
        else:
            missing.append((key, scope, record))
    return ours, missing


def check_e2e_golden(parser: Parser, source: Path, parser_code: str, *,
                     compare_event: EventCompare | None = None) -> list[Tuple]:
    """Parse ``source`` as the original's end-to-end import did (batch 1910, report path
    ``/../lib/<parser_code>/testData/<file name>``) and assert that our tuples match the e2e
    golden's records of ``parser_code`` modulo hashes (:func:`unmatched_e2e`) and our event its
    Journal event (compared as in :func:`check_unit_golden`). Returns our tuples."""
    tuples, report = run(parser, source, report_path=f"/../lib/{parser_code}/testData/{source.name}",
                         ctx=ParseContext(batch_key="1910"))
    assert unmatched_e2e(tuples, parser_code) == ([], [])
    assert _comparer(source, compare_event)(report, e2e_event(parser_code)) == {}
    return tuples


# -- HEAD goldens ----------------------------------------------------------------------------------


def stg_rows(relative: str) -> list[dict[str, str]]:
    """Rows of a HEAD table dump: ``{column (≤ 20 chars): cell (≤ 20 chars, NULL for null)}``."""
    lines = [line for line in data(relative).read_text(encoding="utf-8").split("\n") if line.strip()]
    names = [cell.strip() for cell in lines[0].split("\t")]
    return [dict(zip(names, (cell.rstrip(" ") for cell in line.split("\t")), strict=True)) for line in lines[1:]]


def csv_rows(relative: str) -> list[dict[str, str]]:
    """Rows of a HEAD CSV output (after its ``==== name ====`` title line)."""
    text = data(relative).read_text(encoding="utf-8")
    body = text.split("\n", 1)[1] if text.startswith("====") else text
    return list(csv.DictReader(io.StringIO(body)))


def go_float_text(value: float) -> str:
    """Go ``FormatFloat(f, 'f', -1, 64)`` (``214``, ``311.54``)."""
    if math.isfinite(value) and value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def cell20(value: Any) -> str:
    """A value as HEAD's table dumps print it: NULL, ``YYYY-MM-DD 00:00:00``, true/false,
    Go float text; truncated to 20 characters."""
    if value is None:
        text = "NULL"
    elif isinstance(value, datetime):
        text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = go_float_text(value)
    else:
        text = str(value)
    return text[:20]


def csv_cell(value: Any) -> str:
    """A value as HEAD's CSV outputs print it: empty, ``YYYY-MM-DD``, true/false, Go float."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float_text(value)
    return str(value)


def head_import_log(parser_code: str) -> dict[str, str]:
    """The row of ``parser_code`` in HEAD's end-to-end ``import_logs`` dump (cells ≤ 20 chars)."""
    rows = [r for r in stg_rows("e2e/head/test-import.sql.import_logs.golden.txt") if r["parser"] == parser_code]
    assert len(rows) == 1, parser_code
    return rows[0]


def report_counts(report: FileReport) -> tuple[str, str, str, str, str]:
    """(lines_parsed, lines_rejected, lines_skipped, lines_valid, is_fatal) as HEAD's dump prints them."""
    return (str(report.lines_read), str(report.lines_rejected), str(report.lines_filtered), str(report.lines_valid),
            "true" if report.is_fatal else "false")


def log_counts(row: dict[str, str]) -> tuple[str, str, str, str, str]:
    return (row["lines_parsed"], row["lines_rejected"], row["lines_skipped"], row["lines_valid"], row["is_fatal"])
