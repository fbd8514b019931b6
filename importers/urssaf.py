"""Helpers shared by the URSSAF parsers (cotisation, debit, delai, ccsf, admin_urssaf).

Two layouts of the same extracts exist (docs/importers.md §2.2, §3.2–3.5):

* **v2022**: no SIRET in the file; each line's URSSAF account is re-keyed to a SIRET through
  the admin_urssaf mapping at a date of the line; a failed lookup makes the line
  *filtered*. Header matching is exact (case-sensitive).
* **HEAD**: the file carries a ``Siret`` column used directly as the key (no mapping);
  header matching is case-insensitive.

The layout is detected from the header (a ``siret`` column, any case), never from a flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sf.importers.perimeter import AccountMapping
from sf.importers.reading import FatalFileError, Header
from sf.importers.records import ParseContext

__all__ = ["NO_MAPPING", "ZERO_TIME", "UrssafFile", "UrssafLayout", "detect_layout", "open_urssaf",
           "resolve_mapping"]

#: Go's zero ``time.Time`` (0001-01-01 UTC): the lookup date the original used when a
#: line's period could not be parsed (it precedes every closing date).
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)

NO_MAPPING = "no admin_urssaf mapping found"


@dataclass(frozen=True)
class UrssafLayout:
    """Header of an URSSAF extract: ``siret_index`` is the position of the SIRET column in
    the HEAD layout, None in the v2022 layout (key via the account mapping)."""

    header: Header
    siret_index: int | None

    @property
    def has_siret(self) -> bool:
        return self.siret_index is not None


def detect_layout(names: list[str], path: str) -> UrssafLayout:
    """HEAD layout when the header has a ``siret`` column (any case), else v2022."""
    probe = Header(names, case_insensitive=True, path=path)
    siret_index = probe.index("siret")
    if siret_index is not None:
        return UrssafLayout(probe, siret_index)
    return UrssafLayout(Header(names, case_insensitive=False, path=path), None)


def resolve_mapping(ctx: ParseContext, path: str) -> AccountMapping:
    """The batch's account mapping for the file ``path``.

    Raises FatalFileError naming ``path``: ``no admin_urssaf mapping found`` when the
    context has none, or the loader's own failure (unreadable mapping file…), as the
    original reported a fatal error for every file of the mapping-dependent parsers.
    """
    if ctx.mapping is None:
        raise FatalFileError(path, NO_MAPPING)
    try:
        return ctx.mapping()
    except FatalFileError as exc:
        if exc.reason == NO_MAPPING:
            raise FatalFileError(path, NO_MAPPING) from exc
        raise FatalFileError(path, f"admin_urssaf mapping unusable: {exc}") from exc


@dataclass(frozen=True)
class UrssafFile:
    """What an URSSAF parser needs once the header is read: the layout, the positions of its
    required columns, and the account mapping (v2022 layout only, None in HEAD's)."""

    layout: UrssafLayout
    positions: dict[str, int]
    mapping: AccountMapping | None

    @property
    def siret_index(self) -> int | None:
        return self.layout.siret_index


class OpenedCsv(Protocol):
    """A reader whose header is read: ``GoCsvReader`` or ``BlockCsvReader``."""

    header: list[str]
    path: str


def open_urssaf(reader: OpenedCsv, ctx: ParseContext, columns: tuple[str, ...]) -> UrssafFile:
    """Detect the layout of the file ``reader`` has opened, require ``columns`` and, for the
    v2022 layout, load the account mapping. Raises FatalFileError naming the file for a
    missing column or an unusable mapping, before any line is read."""
    layout = detect_layout(reader.header, reader.path)
    positions = layout.header.require(*columns)
    mapping = None if layout.has_siret else resolve_mapping(ctx, reader.path)
    return UrssafFile(layout, positions, mapping)

