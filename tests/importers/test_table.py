"""table: the one parser skeleton; records: the one fast record constructor (``SourceRecord.build``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sf.importers.apdemande import APDemande
from sf.importers.convert import ConversionError, Periode, parse_int
from sf.importers.diane import Diane
from sf.importers.paydex import Paydex
from sf.importers.reading import FatalFileError
from sf.importers.records import ParseContext, SourceRecord
from sf.importers.sirene import Sirene
from sf.importers.table import FILTERED, Line, TableParser

SIRENE_FIELDS = list(Sirene.model_fields)


@given(values=st.dictionaries(st.sampled_from(SIRENE_FIELDS),
                              st.one_of(st.none(), st.text(max_size=5), st.floats(allow_nan=False), st.booleans())))
def test_build_builds_what_model_construct_builds(values):
    fast = Sirene.build(**values)
    slow = Sirene.model_construct(**values)
    assert fast == slow
    assert list(fast.__dict__) == list(slow.__dict__) == SIRENE_FIELDS
    assert fast.model_fields_set == slow.model_fields_set == set(values)
    assert fast.to_document() == slow.to_document()
    assert hash(fast) == hash(slow)  # frozen models stay hashable


def test_build_with_required_fields_and_nested_models():
    periode = Periode(start=datetime(2020, 1, 1, tzinfo=UTC), end=datetime(2020, 2, 1, tzinfo=UTC))
    fast = APDemande.build(id_demande="a", periode=periode, hta=1.5)
    slow = APDemande.model_construct(id_demande="a", periode=periode, hta=1.5)
    assert fast == slow and list(fast.__dict__) == list(slow.__dict__)
    assert fast.to_document()["periode"] == {"start": periode.start, "end": periode.end}
    # A required field left out is absent, as with model_construct.
    partial = Paydex.build(nb_jours=3)
    assert partial.__dict__ == Paydex.model_construct(nb_jours=3).__dict__ == {"nb_jours": 3}


def test_build_refuses_unknown_fields():
    with pytest.raises(TypeError, match="unknown field"):
        Diane.build(exercice_diane=2017, chiffre_affaires=1.0)


def test_build_given_every_field():
    moment = datetime(2020, 1, 1, tzinfo=UTC)
    fast, slow = Paydex.build(nb_jours=3, date_valeur=moment), Paydex.model_construct(nb_jours=3, date_valeur=moment)
    assert fast == slow and list(fast.__dict__) == list(slow.__dict__) == ["date_valeur", "nb_jours"]
    assert fast.model_fields_set == slow.model_fields_set == {"nb_jours", "date_valeur"}


def test_frozen_records_stay_frozen():
    record = Paydex.build(nb_jours=3, date_valeur=datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(Exception, match="frozen"):
        record.nb_jours = 4


class _Pair(SourceRecord):
    a: str
    b: int | None = None


def _row(line: Line):
    if line["a"] == "skip":
        return FILTERED
    if line["a"] == "stop":
        line.convert(parse_int, "x")
        raise ConversionError("stopped")
    return line["a"], _Pair.build(a=line["a"], b=line.convert(parse_int, line["b"]))


def test_header_is_checked_when_parse_is_called(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("A;B\n1;2\n", encoding="utf-8")
    parser = TableParser("pair", scope="entreprise", columns=("A", "C"), row=_row)
    with pytest.raises(FatalFileError, match="Colonne C non trouvée"):
        parser.parse(str(path), ParseContext(batch_key=""))


def test_the_skeleton_handles_csv_errors_conversion_errors_and_filtered_lines(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("B;A;other\n1;k;z\n\nx;k;z\n1;k\n1;skip;z\n1;stop;z\n", encoding="utf-8")
    strict = TableParser("pair", scope="entreprise", columns=("a", "b"), row=_row)
    lines = list(strict.parse(str(path), ParseContext(batch_key="")))
    assert [(line.number, line.errors, line.filtered, len(line.tuples)) for line in lines] == [
        (2, [], False, 1),  # lines of the file: the blank line 3 is not a record
        (4, ['strconv.Atoi: parsing "x": invalid syntax'], False, 0),
        (5, ["wrong number of fields"], False, 0),
        (6, [], True, 0),
        (7, ['strconv.Atoi: parsing "x": invalid syntax', "stopped"], False, 0),
    ]
    assert lines[0].tuples[0].record == _Pair.model_construct(a="k", b=1)
    assert (lines[0].tuples[0].type, lines[0].tuples[0].key, lines[0].tuples[0].scope) == ("pair", "k", "entreprise")
    keeping = TableParser("pair", scope="entreprise", columns=("a", "b"), row=_row, keeps_records_with_errors=True)
    kept = list(keeping.parse(str(path), ParseContext(batch_key="")))
    assert len(kept[1].tuples) == 1 and kept[1].errors == lines[1].errors
    assert len(kept[4].tuples) == 0  # a raised ConversionError drops the records anyway
