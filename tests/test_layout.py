"""The dependency chain of the README's layout table, checked on the imports of every module:
``store ← engine ← importers ← compaction ← features ← model ← reports ← cli``; ``synth`` is
used by ``cli`` (and tests, benchmarks) only; ``features`` imports no model or page library."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAIN = ("store", "engine", "importers", "compaction", "features", "model", "reports", "cli")
#: What each package may import besides the packages to its left in the chain.
EXTRA = {"synth": set(CHAIN[:CHAIN.index("features") + 1]), "cli": {"synth"}}
HEAVY = ("sklearn", "skops", "matplotlib")


def _imports(path: Path) -> set[str]:
    """Absolute module names imported by ``path`` (anywhere in it, including inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _allowed(package: str) -> set[str]:
    left = set(CHAIN[:CHAIN.index(package)]) if package in CHAIN else set()
    return left | EXTRA.get(package, set()) | {package}


@pytest.mark.parametrize("package", [*CHAIN, "synth"])
def test_a_package_imports_only_packages_to_its_left(package: str) -> None:
    wrong = sorted(f"{path.relative_to(ROOT)}: {name}"
                   for path in (ROOT / package).rglob("*.py")
                   for name in _imports(path)
                   if name.startswith("sf.") and name.split(".")[1] not in _allowed(package))
    assert not wrong, wrong


def test_features_import_no_model_or_page_library() -> None:
    heavy = sorted(f"{path.relative_to(ROOT)}: {name}" for path in (ROOT / "features").rglob("*.py")
                   for name in _imports(path) if name.split(".")[0] in HEAVY)
    assert not heavy, heavy
