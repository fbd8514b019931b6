"""csv_source: the shared CSV skeleton and the fast record constructor of the P2 parsers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sf.importers.apdemande import APDemande
from sf.importers.convert import Periode
from sf.importers.csv_source import csv_lines, fast_constructor
from sf.importers.diane import Diane
from sf.importers.paydex import Paydex
from sf.importers.reading import FatalFileError
from sf.importers.records import ParsedLine
from sf.importers.sirene import Sirene

SIRENE_FIELDS = list(Sirene.model_fields)


@given(values=st.dictionaries(st.sampled_from(SIRENE_FIELDS),
                              st.one_of(st.none(), st.text(max_size=5), st.floats(allow_nan=False), st.booleans())))
def test_fast_constructor_builds_what_model_construct_builds(values):
    fast = fast_constructor(Sirene)(**values)
    slow = Sirene.model_construct(**values)
    assert fast == slow
    assert list(fast.__dict__) == list(slow.__dict__) == SIRENE_FIELDS
    assert fast.model_fields_set == slow.model_fields_set == set(values)
    assert fast.to_document() == slow.to_document()
    assert hash(fast) == hash(slow)  # frozen models stay hashable


def test_fast_constructor_with_required_fields_and_nested_models():
    periode = Periode(start=datetime(2020, 1, 1, tzinfo=UTC), end=datetime(2020, 2, 1, tzinfo=UTC))
    fast = fast_constructor(APDemande)(id_demande="a", periode=periode, hta=1.5)
    slow = APDemande.model_construct(id_demande="a", periode=periode, hta=1.5)
    assert fast == slow and list(fast.__dict__) == list(slow.__dict__)
    assert fast.to_document()["periode"] == {"start": periode.start, "end": periode.end}
    # A required field left out is absent, as with model_construct.
    partial = fast_constructor(Paydex)(nb_jours=3)
    assert partial.__dict__ == Paydex.model_construct(nb_jours=3).__dict__ == {"nb_jours": 3}


def test_fast_constructor_refuses_unknown_fields():
    with pytest.raises(TypeError, match="unknown field"):
        fast_constructor(Diane)(exercice_diane=2017, chiffre_affaires=1.0)


def test_frozen_records_stay_frozen():
    record = fast_constructor(Paydex)(nb_jours=3, date_valeur=datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(Exception, match="frozen"):
        record.nb_jours = 4


def test_csv_lines_checks_the_header_before_iterating(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("A;B\n1;2\n", encoding="utf-8")

    def row(number: int, fields: list[str], at: dict[str, int]) -> ParsedLine:
        return ParsedLine(number, errors=[fields[at["b"]]])

    with pytest.raises(FatalFileError, match="Colonne C non trouvée"):
        csv_lines(path, sep=";", lazy_quotes=False, required=("A", "C"), row_parser=row)
    lines = list(csv_lines(path, sep=";", lazy_quotes=False, required=("a", "b"), row_parser=row))
    assert [(line.number, line.errors) for line in lines] == [(2, ["2"])]  # line 2 of the file
