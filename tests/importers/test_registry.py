"""Registry of parsers: every batch file type has a parser declaring that type."""

from __future__ import annotations

import pytest
from sf.importers.registry import FILE_TYPES, NON_PARSED_TYPES, PARSERS, load_parser


def test_every_file_type_has_its_parser() -> None:
    assert len(FILE_TYPES) == 16 and len(set(FILE_TYPES)) == 16
    assert sorted(PARSERS) == sorted(FILE_TYPES)
    for file_type, parser in PARSERS.items():
        assert parser.file_type == file_type and callable(parser.parse)
    assert "filter" in NON_PARSED_TYPES and "filter" not in PARSERS


def test_unknown_type() -> None:
    with pytest.raises(KeyError, match="dummy n'est pas un parser reconnu."):
        load_parser("dummy")
