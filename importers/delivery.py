"""Delivery folder → file types of a batch (docs/importers.md §5, prepare-import).

:func:`detect_file_type` maps a file name to its batch file type (first matching rule
wins, as in prepare-import 2022, extended with the lowercase names of HEAD);
:func:`scan_delivery` lists a delivery folder, resolves upload-server files (no extension,
type and gzip flag from the ``<file>.info`` JSON sidecar) and computes ``complete_types``.

Pure apart from listing the folder and reading ``.info`` sidecars and file sizes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sf.importers.reading import FatalFileError

__all__ = [
    "COMPLETE_THRESHOLDS",
    "DEFAULT_COMPLETE_TYPES",
    "DeliveryScan",
    "detect_file_type",
    "scan_delivery",
]


def _exact(*names: str) -> Callable[[str], bool]:
    """Match one of ``names`` (case-insensitive: 2022 capitalised, HEAD lowercase), each
    optionally followed by ``.gz``."""
    wanted = {name.lower() for name in names} | {name.lower() + ".gz" for name in names}
    return lambda filename: filename.lower() in wanted


_PAYDEX = re.compile(r"E_[0-9]{12}_Retro-Paydex_[0-9]{8}\.csv")
_ELLISPHERE = re.compile(r"Ellisphère-Tête de groupe-[^.]*\.xlsx")

# Order matters: first match wins (prepare-import 2022 ``filetypes.go`` order).
_RULES: list[tuple[str, Callable[[str], bool]]] = [
    ("apconso", lambda n: n == "consommation_ap.csv"),
    ("apdemande", lambda n: n == "demande_ap.csv"),
    ("admin_urssaf", _exact("Sigfaible_etablissement_utf8.csv")),
    ("effectif_ent", _exact("Sigfaible_effectif_siren.csv")),
    ("procol", _exact("Sigfaible_pcoll.csv")),
    ("cotisation", _exact("Sigfaible_cotisdues.csv")),
    ("delai", _exact("Sigfaible_delais.csv")),
    ("ccsf", _exact("Sigfaible_ccsf.csv")),
    ("sirene_ul", lambda n: n == "sireneUL.csv"),
    ("sirene", lambda n: n == "StockEtablissement_utf8_geo.csv"),
    ("debit", lambda n: "_debits" in n),
    ("diane", lambda n: n.startswith(("Diane", "diane"))),
    ("effectif", lambda n: "effectif_" in n),
    ("filter", lambda n: n.startswith("filter")),
    ("paydex", lambda n: _PAYDEX.fullmatch(n) is not None),
    ("ellisphere", lambda n: _ELLISPHERE.fullmatch(n) is not None),
]

#: Stock types always delivered complete (they replace previous data at compaction).
DEFAULT_COMPLETE_TYPES = ("apconso", "apdemande", "effectif", "effectif_ent", "sirene", "sirene_ul")

#: Types delivered complete when their (single) gzipped file reaches this size in bytes.
COMPLETE_THRESHOLDS = {"cotisation": 143_813_078, "delai": 1_666_199, "procol": 1_646_193, "debit": 254_781_489}


def detect_file_type(filename: str) -> str | None:
    """Batch file type of a delivery file name (no directory), or None when unrecognised.

    Examples: ``Sigfaible_cotisdues.csv.gz`` → ``cotisation``; ``Sigfaibles_debits2.csv`` →
    ``debit``; ``sigfaible_pcoll.csv.gz`` (HEAD) → ``procol``; ``coco.csv`` → None.
    """
    for file_type, rule in _RULES:
        if rule(filename):
            return file_type
    return None


@dataclass
class DeliveryScan:
    """Result of :func:`scan_delivery`.

    ``files``: type → batch paths in name order (``gzip:`` prefixed for compressed uploads
    without extension); ``unrecognised``: paths of files with no type (``.info`` sidecars
    excluded); ``complete_types``: stock types of this delivery; ``notes``: human-readable
    remarks (files marked complete, complete detection impossible).
    """

    files: dict[str, list[str]] = field(default_factory=dict)
    unrecognised: list[str] = field(default_factory=list)
    complete_types: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    gzipped_sizes: dict[str, int] = field(default_factory=dict)


def _read_info(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FatalFileError(str(path), f"unreadable upload metadata ({exc})") from exc
    if not isinstance(data, dict):
        raise FatalFileError(str(path), "upload metadata is not a JSON object")
    return data


def scan_delivery(directory: Path, path_prefix: str = "") -> DeliveryScan:
    """Classify the regular files of a delivery folder.

    Input: the folder (e.g. ``<data>/1802``) and the prefix to put before each file name in
    the batch paths (e.g. ``"/1802/"``). A file whose name has no dot is an upload-server
    file: its type comes from ``<name>.info`` (``MetaData["goup-path"] == "bdf"`` → bdf,
    else the type of ``MetaData["filename"]``); if that original name ends in ``.gz`` the
    path gets the ``gzip:`` prefix and the size is ``Size`` from the sidecar. A regular
    ``.gz`` file's gzipped size is its size on disk.
    ``complete_types``: every type of :data:`DEFAULT_COMPLETE_TYPES` present, then every
    type of :data:`COMPLETE_THRESHOLDS` whose single gzipped file reaches its threshold
    (with several files of such a type nothing is marked and a note says why; the original
    panicked).
    Raises FatalFileError when the folder cannot be listed or a sidecar is unreadable.
    """
    directory = Path(directory)
    try:
        entries = sorted(p for p in directory.iterdir() if p.is_file())
    except OSError as exc:
        raise FatalFileError(str(directory), f"cannot list delivery folder ({exc.strerror or exc})") from exc
    scan = DeliveryScan()
    names = {entry.name for entry in entries}
    for entry in entries:
        name = entry.name
        if name.endswith(".info") and name[: -len(".info")] in names:
            continue  # sidecar of an upload, read with its data file
        original = name
        gzipped_size: int | None = None
        if "." not in name and f"{name}.info" in names:
            info = _read_info(directory / f"{name}.info")
            metadata = info.get("MetaData") or {}
            original = str(metadata.get("filename", ""))
            file_type = "bdf" if metadata.get("goup-path") == "bdf" else detect_file_type(original)
            if original.endswith(".gz"):
                size = info.get("Size")
                if not isinstance(size, int):
                    raise FatalFileError(str(directory / f"{name}.info"), "no Size for a gzipped upload")
                gzipped_size = size
        else:
            file_type = detect_file_type(name)
            if name.endswith(".gz"):
                gzipped_size = entry.stat().st_size
        scheme = "gzip:" if gzipped_size is not None and not name.endswith(".gz") else ""
        batch_path = scheme + path_prefix + name
        if file_type is None:
            if not name.endswith(".info"):
                scan.unrecognised.append(path_prefix + name)
            continue
        scan.files.setdefault(file_type, []).append(batch_path)
        if gzipped_size is not None:
            scan.gzipped_sizes[batch_path] = gzipped_size
    for file_type in DEFAULT_COMPLETE_TYPES:
        if file_type in scan.files:
            scan.complete_types.append(file_type)
    for file_type, threshold in COMPLETE_THRESHOLDS.items():
        paths = scan.files.get(file_type)
        if not paths:
            continue
        if len(paths) != 1:
            scan.notes.append(f"{file_type}: {len(paths)} files, 'complete' detection needs exactly one; "
                              "not marked complete")
            continue
        size = scan.gzipped_sizes.get(paths[0], 0)
        if size >= threshold:
            name = paths[0].rsplit("/", 1)[-1]
            scan.notes.append(f'Info: file "{name}" was marked as "complete" because it\'s a gzipped file '
                              f"which size reached the threshold of {threshold} bytes")
            scan.complete_types.append(file_type)
    return scan
