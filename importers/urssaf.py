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

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sf.importers.convert import Periode, urssaf_period
from sf.importers.perimeter import AccountMapping
from sf.importers.reading import FatalFileError, Header
from sf.importers.records import ParseContext, SourceRecord
from sf.importers.table import FILTERED, Emitted, FileHeader, Line, RowFunction, TableParser

__all__ = ["NO_MAPPING", "ZERO_TIME", "UrssafParser", "account_siret", "period_row", "period_siret", "resolve_mapping", "urssaf_header"]

#: Go's zero ``time.Time`` (0001-01-01 UTC): the lookup date the original used when a
#: line's period could not be parsed (it precedes every closing date).
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)

NO_MAPPING = "no admin_urssaf mapping found"


def urssaf_header(names: list[str], path: str) -> Header:
    """The header rule of the URSSAF extracts: HEAD layout (case-insensitive) when the header
    has a ``siret`` column (any case), else v2022 (exact names)."""
    probe = Header(names, case_insensitive=True, path=path)
    if "siret" in probe:
        return probe
    return Header(names, case_insensitive=False, path=path)


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


def _mapping(file: FileHeader, ctx: ParseContext) -> AccountMapping | None:
    """The per-file state of an URSSAF parser: the account mapping in the v2022 layout, None
    in HEAD's (the file has its ``siret`` column)."""
    return None if "siret" in file.positions else resolve_mapping(ctx, file.path)


def period_siret(line: Line, compte: str, column: str) -> tuple[Periode | None, str | None]:
    """The period of ``column`` (None, its error recorded, when invalid) and the key of the
    line at the period's start — at Go's zero date when the period is invalid, as the
    original looked it up (see :func:`account_siret`)."""
    periode: Periode | None = line.convert(urssaf_period, line[column])
    return periode, account_siret(line, compte, periode.start if periode is not None else ZERO_TIME)


def period_row(compte_column: str, period_column: str,
               record: Callable[[Line, str, Periode | None], SourceRecord]) -> RowFunction:
    """The row function of an extract keyed by account and period (cotisation, debit): the
    account of ``compte_column``, the period of ``period_column`` and the line's key at the
    period's start (:func:`period_siret`: an invalid period is an error and the lookup then
    uses Go's zero date, as the original did); a line without a key is filtered, otherwise
    its record is ``record(line, compte, periode)``."""

    def row(line: Line) -> Emitted:
        compte = line[compte_column]
        periode, siret = period_siret(line, compte, period_column)
        if siret is None:
            return FILTERED
        return siret, record(line, compte, periode)

    return row


def account_siret(line: Line, compte: str, moment: datetime) -> str | None:
    """The key of an URSSAF line: its ``siret`` cell (HEAD layout), or the SIRET the account
    ``compte`` designates at ``moment`` (v2022 layout; None when it designates none: the
    line is then filtered)."""
    mapping: AccountMapping | None = line.file
    if mapping is None:
        return line["siret"]  # type: ignore[no-any-return]
    return mapping.siret_for(compte, moment)


class UrssafParser(TableParser):
    """A parser of an URSSAF extract (cotisation, debit, delai, ccsf): ``;``-separated, its
    ``columns`` located by :func:`urssaf_header`, the ``siret`` column when present, the
    account mapping (v2022 layout) as ``line.file`` — FatalFileError before the first line
    when the batch has no usable mapping. Rows find their key with :func:`account_siret`."""

    def __init__(self, file_type: str, *, columns: Sequence[str], row: RowFunction, lazy_quotes: bool = False) -> None:
        super().__init__(file_type, scope="etablissement", columns=columns, row=row, lazy_quotes=lazy_quotes,
                         header=urssaf_header, optional=("siret",), setup=_mapping)
