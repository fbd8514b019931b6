"""The README's variable table is the catalogue's own: it cannot drift from the code."""

from pathlib import Path

from sf.features.catalogue import CATALOGUE
from sf.features.docs import END_MARKER, START_MARKER, update_readme

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_variable_of_the_catalogue():
    text = README.read_text(encoding="utf-8")
    assert update_readme(text) == text, "README variable table is stale: run `python -m sf.features.docs README.md`"
    section = text[text.index(START_MARKER):text.index(END_MARKER)]
    for variable in CATALOGUE:
        assert f"| `{variable.name}` |" in section
