"""SIREN perimeter ("filter") and the admin_urssaf URSSAF account → SIRET mapping (docs/importers.md §2).

* :class:`Perimeter` — the set of SIRENs an import keeps; a key (SIRET or SIREN) is kept iff
  its first 9 characters are in the set.
* :class:`AccountMapping` — for each URSSAF account, the SIRETs it designated over time,
  each with the date its designation ended (``closing``), sorted by closing date.

Both loaders read files and raise FatalFileError (naming the file, line and reason) when a
file is unusable: in the original, a bad filter or mapping aborted every dependent file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sf.importers.convert import ConversionError, go_time_string, urssaf_date
from sf.importers.reading import (
    FatalFileError,
    GoCsvReader,
    Header,
    open_text,
    strip_scheme,
)

__all__ = [
    "NOT_CLOSED",
    "AccountMapping",
    "Perimeter",
    "load_account_mapping",
    "load_perimeter",
    "no_siret_message",
]

_SIREN = re.compile(r"[0-9]{9}")
_SIRET = re.compile(r"[0-9]{14}")

#: Closing date used for an empty ``date_disp_siret``: UrssafToDate("9990101") = 2899-01-01.
NOT_CLOSED: datetime = urssaf_date("9990101")


@dataclass(frozen=True)
class Perimeter:
    """A set of 9-digit SIRENs. ``contains(key)`` is true iff ``key[:9]`` is in the set;
    keys shorter than 9 characters are never contained (v2022 semantics)."""

    sirens: frozenset[str] = field(default_factory=frozenset)

    def contains(self, key: str) -> bool:
        return len(key) >= 9 and key[:9] in self.sirens

    __contains__ = contains

    def __len__(self) -> int:
        return len(self.sirens)


def _filter_rows(path: str | Path) -> Iterator[tuple[int, str]]:
    """(physical line, first ``;`` column) of each non-blank line of a filter file."""
    with open_text(path) as stream:
        for number, line in enumerate(stream, start=1):
            line = line.rstrip("\n").rstrip("\r")
            if line == "":
                continue
            yield number, line.split(";", 1)[0]


def load_perimeter(paths: Iterable[str | Path]) -> Perimeter:
    """Union of the SIRENs of every filter file (docs/importers.md §2.1).

    Format: ``;``-separated, no header, SIREN in the first column (gzip accepted). A literal
    ``siren`` in the first column of the first line is tolerated as a header (files written
    by prepare-import since 2024). Any other value that is not exactly 9 digits raises
    FatalFileError ``line N: Format de siren incorrect trouvé : <value>``.
    """
    sirens: set[str] = set()
    for path in paths:
        display, _ = strip_scheme(path)
        first = True
        for number, value in _filter_rows(path):
            if first and value.strip().lower() == "siren":
                first = False
                continue
            first = False
            if not _SIREN.fullmatch(value):
                raise FatalFileError(display, f"line {number}: Format de siren incorrect trouvé : {value}")
            sirens.add(value)
    return Perimeter(frozenset(sirens))


def no_siret_message(compte: str, moment: datetime) -> str:
    """The original's lookup-failure message, e.g. ``Pas de siret associé au compte X à la
    période 2018-12-01 00:00:00 +0000 UTC``."""
    return f"Pas de siret associé au compte {compte} à la période {go_time_string(moment)}"


class AccountMapping:
    """URSSAF account → list of ``(siret, closing)`` sorted by ``closing`` ascending.

    Build it with :func:`load_account_mapping`, or directly from a dict for tests (lists
    are sorted on construction).
    """

    def __init__(self, accounts: Mapping[str, Sequence[tuple[str, datetime]]] | None = None) -> None:
        self._accounts: dict[str, list[tuple[str, datetime]]] = {
            compte: sorted(entries, key=lambda entry: entry[1]) for compte, entries in (accounts or {}).items()
        }

    def siret_for(self, compte: str, moment: datetime) -> str | None:
        """First SIRET of ``compte`` whose closing date is strictly after ``moment``; None when
        the account is unknown or closed at ``moment``."""
        entries = self._accounts.get(compte)
        if entries is None:
            return None
        for siret, closing in entries:
            if moment < closing:
                return siret
        return None

    def accounts(self) -> list[str]:
        """Every account number, sorted ascending (the admin_urssaf parser's line order)."""
        return sorted(self._accounts)

    def entries(self, compte: str) -> list[tuple[str, datetime]]:
        """The ``(siret, closing)`` list of an account (empty when unknown)."""
        return list(self._accounts.get(compte, ()))

    def first_entries(self) -> list[tuple[str, str | None, datetime | None, int]]:
        """``(compte, siret, closing, count)`` of every account, in no particular order:
        its entry with the earliest closing date (None, None for an account without
        entries) and how many SIRETs it designated; used by the column-wise fast path."""
        return [(compte, *(entries[0] if entries else (None, None)), len(entries))
                for compte, entries in self._accounts.items()]

    def __len__(self) -> int:
        return len(self._accounts)

    def __contains__(self, compte: object) -> bool:
        return compte in self._accounts


MAPPING_COLUMNS = ("compte", "siret", "date_disp_siret")


def _read_mapping_file(path: str | Path, perimeter: Perimeter | None) -> dict[str, list[tuple[str, datetime]]]:
    accounts: dict[str, list[tuple[str, datetime]]] = {}
    with GoCsvReader(path, sep=";", lazy_quotes=False) as reader:
        header = Header(reader.header, case_insensitive=True, path=reader.path)
        columns = header.require(*MAPPING_COLUMNS)
        i_compte, i_siret, i_closing = (columns[name] for name in MAPPING_COLUMNS)
        for record in reader:
            if record.error is not None:
                raise FatalFileError(reader.path, f"Line {record.number}: {record.error}")
            assert record.fields is not None
            row = record.fields
            raw_closing = row[i_closing] or "9990101"
            try:
                closing = urssaf_date(raw_closing)
            except ConversionError as exc:
                raise FatalFileError(reader.path, f"Line {record.number}: {exc}") from exc
            siret = row[i_siret]
            if not _SIRET.fullmatch(siret):
                continue  # provisional SIRETs with letters: dropped, as in the original
            if perimeter is not None and not perimeter.contains(siret):
                continue
            accounts.setdefault(row[i_compte], []).append((siret, closing))
    return accounts


def load_account_mapping(paths: Iterable[str | Path], perimeter: Perimeter | None) -> AccountMapping:
    """Load the admin_urssaf mapping (docs/importers.md §2.2).

    Each file: ``;``-separated, not lazy, header case-insensitive, gzip-aware; required
    columns ``compte``, ``siret``, ``date_disp_siret`` (empty = not closed = 2899-01-01).
    Rows whose SIRET is not 14 digits or outside ``perimeter`` are dropped. A later file
    replaces (does not merge) the list of an account it also contains.
    Raises FatalFileError when a file is unreadable, lacks a column, has any CSV error or an
    unparsable closing date (the whole mapping fails, as in the original), or when ``paths``
    is empty (``no admin_urssaf mapping found``).
    """
    merged: dict[str, list[tuple[str, datetime]]] = {}
    seen = False
    for path in paths:
        seen = True
        merged.update(_read_mapping_file(path, perimeter))
    if not seen:
        raise FatalFileError("admin_urssaf", "no admin_urssaf mapping found")
    return AccountMapping(merged)
