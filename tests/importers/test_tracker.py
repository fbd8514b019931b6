"""Generic line checks and per-file counts (docs/importers.md §1.5–1.6)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from sf.importers.effectif_ent import EffectifEntRecord
from sf.importers.perimeter import Perimeter
from sf.importers.reading import FatalFileError
from sf.importers.records import ParseContext, ParsedLine, Tuple
from sf.importers.tracker import MAX_PARSING_ERRORS, FileReport, track, track_file

RECORD = EffectifEntRecord.model_construct(periode=datetime(2019, 1, 1, tzinfo=UTC), effectif=3)


def tup(key: str, scope: str = "entreprise") -> Tuple:
    return Tuple("effectif_ent", key, scope, RECORD)  # type: ignore[arg-type]


def report() -> FileReport:
    return FileReport(file_type="effectif_ent", path="gzip:/1910/f.csv", batch_key="1910")


def test_order_of_checks_and_counts() -> None:
    lines = [
        ParsedLine(1, [tup("111111111")]),                             # valid
        ParsedLine(2, [tup("12345")]),                                 # invalid key → rejected
        ParsedLine(3, [tup("12345"), tup("111111111")], ["boom"]),     # parser error: key message suppressed
        ParsedLine(4, [tup("222222222")]),                             # outside perimeter → filtered
        ParsedLine(5, [], ["ignored"], filtered=True),                 # filtered by the parser
        ParsedLine(6, []),                                             # nothing to store: valid
        ParsedLine(7, [tup("00000000000000", "etablissement"), tup("0000000000000", "etablissement")]),
    ]
    rep = report()
    rejected: list[tuple[int, list[str]]] = []
    out = list(track(lines, rep, Perimeter(frozenset({"111111111", "000000000"})),
                     on_rejected=lambda number, reasons: rejected.append((number, reasons))))
    assert rejected == [(2, ["siren invalide : 12345"]), (3, ["boom"]), (7, ["siret invalide : 0000000000000"])]
    assert [(t.key) for t in out] == ["111111111", "111111111", "00000000000000"]
    assert rep.first_errors == ["Line 2: siren invalide : 12345", "Line 3: boom",
                                "Line 7: siret invalide : 0000000000000"]
    assert (rep.lines_read, rep.lines_valid, rep.lines_rejected, rep.lines_filtered) == (7, 2, 3, 2)
    assert rep.summary == ("/1910/f.csv: intégration terminée, 7 lignes traitées, 0 erreurs fatales, "
                           "3 lignes rejetées, 2 lignes filtrées, 2 lignes valides")
    event = rep.to_event()
    assert (event["linesParsed"], event["linesSkipped"], event["headFatal"], event["batchKey"]) == (7, 2, [], "1910")


def test_fatal_error_mid_file_keeps_counts() -> None:
    def lines() -> Iterator[ParsedLine]:
        yield ParsedLine(1, [tup("111111111")])
        raise FatalFileError("/1910/f.csv.gz", "line 3: truncated gzip file")

    rep = report()
    assert len(list(track(lines(), rep))) == 1
    assert rep.is_fatal and rep.fatal_error == "/1910/f.csv.gz: line 3: truncated gzip file"
    assert rep.lines_read == 1 and rep.lines_valid == 1
    assert "1 erreurs fatales" in rep.summary
    assert rep.to_event()["headFatal"] == ["Fatal: /1910/f.csv.gz: line 3: truncated gzip file"]


def test_track_file_catches_errors_raised_when_opening() -> None:
    class Broken:
        file_type = "effectif_ent"

        def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
            raise FatalFileError(path, "Colonne siren non trouvée. Abandon.")

    rep, tuples = track_file(Broken(), "/x.csv", ParseContext(batch_key="1910"))
    assert list(tuples) == [] and rep.is_fatal and rep.lines_read == 0 and rep.batch_key == "1910"


def test_messages_are_capped() -> None:
    rep = report()
    list(track((ParsedLine(n, [], ["a", "b"]) for n in range(1, 301)), rep))
    assert len(rep.first_errors) == MAX_PARSING_ERRORS and rep.lines_rejected == 300
    # One entry per rejected line, with all its messages.
    assert rep.first_errors[0] == "Line 1: a; b" and rep.first_errors[-1] == "Line 200: a; b"


KEYS = st.sampled_from(["111111111", "222222222", "12", "", "11111111111111", "22222222222222", "1111111111111x"])
LINES = st.lists(st.tuples(
    st.lists(st.tuples(KEYS, st.sampled_from(["entreprise", "etablissement"])), max_size=4),
    st.lists(st.sampled_from(["e1", "e2"]), max_size=2),
    st.booleans(),
), max_size=30)


@given(LINES, st.booleans())
def test_every_line_has_exactly_one_outcome(raw_lines, with_perimeter) -> None:
    perimeter = Perimeter(frozenset({"111111111"})) if with_perimeter else None
    lines = [ParsedLine(n, [tup(k, s) for k, s in tuples], errors, filtered)
             for n, (tuples, errors, filtered) in enumerate(raw_lines, start=1)]
    rep = report()
    out = list(track(lines, rep, perimeter))
    assert rep.lines_read == len(lines) == rep.lines_valid + rep.lines_rejected + rep.lines_filtered
    expected = [t for line in lines if not line.filtered for t in line.tuples
                if len(t.key) == (14 if t.scope == "etablissement" else 9) and t.key.isdigit()
                and (perimeter is None or perimeter.contains(t.key))]
    assert out == expected
    assert rep.lines_rejected == sum(1 for line in lines if not line.filtered and (
        line.errors or any(not (t.key.isdigit() and len(t.key) == (14 if t.scope == "etablissement" else 9))
                           for t in line.tuples)))
