"""effectif_ent: monthly headcount per company (docs/importers.md §3.7).

File ``Sigfaible_effectif_siren.csv[.gz]``: same wide layout as effectif with ``siren``
(key, case-insensitive, required) instead of ``siret``; ``;``-separated, strict quotes.
Each non-empty ``eff…`` cell: non-digits removed, parsed as a float then truncated to an
int (error recorded when nothing is left); a value > 0 emits a tuple (v2022). Errors do
not prevent the other columns' tuples (line rejected, tuples stored).
An invalid ``eff…`` column name makes the file fatal (see ``sf.importers.effectif``).
"""

from __future__ import annotations

from datetime import datetime

from sf.importers.convert import effectif_float
from sf.importers.effectif import headcounts, periods
from sf.importers.records import SourceRecord
from sf.importers.table import Emitted, Line, TableParser

__all__ = ["COLUMNS", "PARSER", "EffectifEntRecord"]

COLUMNS = ("siren",)


class EffectifEntRecord(SourceRecord):
    """Stored headcount of one company for one month (``effectif``, as in the original)."""

    periode: datetime
    effectif: int


def _headcount(cell: str) -> int:
    return int(effectif_float(cell))


def row(line: Line) -> Emitted:
    """One record per period column with a headcount > 0 (see ``effectif.headcounts``)."""
    siren = line["siren"]
    return [(siren, EffectifEntRecord.build(periode=start, effectif=value))
            for start, value in headcounts(line, _headcount)]


PARSER = TableParser("effectif_ent", scope="entreprise", columns=COLUMNS, row=row, setup=periods,
                     keeps_records_with_errors=True)
