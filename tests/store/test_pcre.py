"""MongoDB's regexes (PCRE2 with UTF, without UCP) on Python's ``re``: ASCII ``\\d \\w \\s \\b``,
Unicode ``\\h \\v`` and caseless matching, in ``$regex`` filters and ``$regex*`` expressions."""

from __future__ import annotations

import pytest

from sf.store.expressions import evaluate
from sf.store.query import compile_filter


def matches(pattern: str, text: str, options: str = "") -> bool:
    return compile_filter({"s": {"$regex": pattern, "$options": options}})({"s": text})


def expr_matches(pattern: str, text: str, options: str = "") -> bool:
    return evaluate({"$regexMatch": {"input": text, "regex": pattern, "options": options}}, {}, {})


@pytest.mark.parametrize("check", [matches, expr_matches])
@pytest.mark.parametrize("pattern, text, expected", [
    ("^\\d$", "3", True), ("^\\d$", "\u0663", False),            # Arabic-Indic three
    ("^\\D$", "\u0663", True), ("^\\w+$", "abc_9", True), ("^\\w$", "é", False),
    ("^\\W$", "é", True), ("^a\\sb$", "a\tb", True), ("^a\\sb$", "a\u00a0b", False),
    ("^a\\Sb$", "a\u2003b", True), ("\\bé", "aé", True), ("a\\b", "aé", True), ("\\Bé", "aé", False),
    ("^[\\d]+$", "12", True), ("^[\\w-]+$", "é-a", False), ("^[\\s]$", "\u3000", False),
    ("^a\\hb$", "a\u00a0b", True), ("^a\\hb$", "a\u2003b", True), ("^a\\Hb$", "a b", False),
    ("^a\\vb$", "a\u2028b", True), ("^a\\vb$", "a\nb", True), ("^a\\Rb$", "a\r\nb", True),
    ("^[[:word:]]+$", "ab_1", True), ("^[[:word:]]$", "é", False), ("^[[:space:]]$", "\u00a0", False),
    ("\\\\d", "\\d", True), ("\\\\d", "5", False),               # an escaped backslash stays one
])
def test_character_classes_as_in_mongod(check, pattern, text, expected) -> None:
    assert check(pattern, text) is expected


@pytest.mark.parametrize("check", [matches, expr_matches])
def test_caseless_matching_stays_unicode(check) -> None:
    assert check("^été$", "ÉTÉ", "i")
    assert not check("^été$", "ÉTÉ")
