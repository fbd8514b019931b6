"""A plain wheel (not only the editable install) must contain every subpackage of `sf`."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


FOLDERS = ("store", "engine", "importers", "compaction", "features", "model", "reports", "synth", "cli")


def test_wheel_contains_every_subpackage_and_the_console_script(tmp_path: Path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("sf-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in FOLDERS:
        assert f"sf/{package}/__init__.py" in names, package
    assert "sf/engine/embedded.py" in names and "sf/cli/app.py" in names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "sf = sf.cli.app:main" in entry_points
    packages_on_disk = {p.parent.relative_to(ROOT).as_posix()
                        for folder in FOLDERS
                        for p in (ROOT / folder).glob("**/__init__.py")}
    for folder in packages_on_disk:  # sub-subpackages must be listed in pyproject too
        assert f"sf/{folder}/__init__.py" in names, f"{folder} is missing from the wheel: list it in pyproject.toml"
