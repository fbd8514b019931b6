"""admin_urssaf: URSSAF account ↔ SIRET history, stored as ``compte`` tuples (docs/importers.md §3.1).

Each line of the file (``compte;siret;date_disp_siret``, plus columns not used) says that
an URSSAF account designated a SIRET until a closing date. The batch's account mapping
(``ctx.mapping()``, every admin_urssaf file of the batch, see ``sf.importers.perimeter``)
decides which line designates the account at each month ``p`` of ``[date_debut,
date_fin)``; a line emits ``compte{siret, numero_compte, periode=p}`` for the months it
designates. Counted per line of the file, numbered by its line in the file:

* *rejected*: a CSV error, a SIRET that is not 14 digits (``siret invalide : …``);
* *filtered*: a SIRET outside the perimeter, or a line that designates no month of the
  period — the account was closed before ``date_debut`` (or the line is superseded by a
  later admin_urssaf file of the batch);
* *valid*: the line designates at least one month.

Deviations from the original, which iterated the accounts of the mapping instead of the
file's lines: it counted accounts, not lines (a 2,983-line file read as 2,222 "lines"),
left lines outside the perimeter or with a provisional SIRET out of every count, numbered
accounts in sorted order instead of file lines, and counted a closed account as rejected
with one ``Pas de siret associé …`` message per month. The stored records are the same.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta

from sf.importers.convert import urssaf_date
from sf.importers.perimeter import MAPPING_COLUMNS, AccountMapping, Perimeter
from sf.importers.reading import FatalFileError
from sf.importers.records import ParseContext, SourceRecord
from sf.importers.table import FILTERED, Emitted, FileHeader, Line, TableParser
from sf.importers.urssaf import resolve_mapping

__all__ = ["PARSER", "CompteRecord", "designated_months", "monthly_series"]

_SIRET = re.compile(r"[0-9]{14}")


class CompteRecord(SourceRecord):
    """Stored ``compte``: the SIRET an URSSAF account designates during one month."""

    siret: str
    numero_compte: str
    periode: datetime


def _add_one_month(moment: datetime) -> datetime:
    """Go ``t.AddDate(0, 1, 0)``: same day next month, overflow normalised (Jan 31 → Mar 3)."""
    year, month = divmod(moment.year * 12 + moment.month, 12)
    return moment.replace(year=year, month=month + 1, day=1) + timedelta(days=moment.day - 1)


def monthly_series(debut: datetime, fin: datetime) -> list[datetime]:
    """``debut``, ``debut`` + 1 month, … while strictly before ``fin`` (Go
    ``GenereSeriePeriode``)."""
    series: list[datetime] = []
    moment = debut
    while moment < fin:
        series.append(moment)
        moment = _add_one_month(moment)
    return series


def designated_months(mapping: AccountMapping, compte: str, siret: str, closing: datetime,
                      series: list[datetime]) -> list[datetime] | None:
    """The months of ``series`` (ascending) at which ``mapping`` designates the entry
    ``(siret, closing)`` of ``compte``; None when the mapping has no such entry.

    ``AccountMapping.siret_for`` picks the first entry, by ascending closing date, closing
    strictly after the month: so entry ``i`` designates the months in ``[closing of entry
    i-1, closing of entry i)`` — the same months, line by line, as asking month by month.
    """
    entries = mapping.entries(compte)
    try:
        position = entries.index((siret, closing))
    except ValueError:
        return None
    first = bisect_left(series, entries[position - 1][1]) if position else 0
    stop = bisect_left(series, closing)
    return series[first:stop]


@dataclass(frozen=True)
class _Batch:
    """What the rows need of the batch: the account mapping, the months of the batch
    period and the perimeter (None: no filter)."""

    mapping: AccountMapping
    series: list[datetime]
    perimeter: Perimeter | None


def _batch(file: FileHeader, ctx: ParseContext) -> _Batch:
    """FatalFileError when the batch has no ``date_debut``/``date_fin`` or no usable mapping.
    Checked once the header is read, like every parser's setup: a file that is also
    unreadable or lacks a column reports that first (it used to report the batch first)."""
    if ctx.date_debut is None or ctx.date_fin is None:
        raise FatalFileError(file.path, "date_debut et date_fin du batch requises pour les comptes")
    mapping = resolve_mapping(ctx, file.path)
    return _Batch(mapping, monthly_series(ctx.date_debut, ctx.date_fin), ctx.perimeter)


def row(line: Line) -> Emitted:
    """One ``compte`` record per month the line designates (see the module docstring)."""
    batch: _Batch = line.file
    compte, siret = line["compte"], line["siret"]
    closing = urssaf_date(line["date_disp_siret"] or "9990101")
    if not _SIRET.fullmatch(siret):
        line.errors.append(f"siret invalide : {siret}")
        return None
    if batch.perimeter is not None and not batch.perimeter.contains(siret):
        return FILTERED
    months = designated_months(batch.mapping, compte, siret, closing, batch.series)
    if not months:  # closed before the period, or superseded by a later file
        return FILTERED
    return [(siret, CompteRecord.build(siret=siret, numero_compte=compte, periode=periode)) for periode in months]


PARSER = TableParser("admin_urssaf", scope="etablissement", tuple_type="compte", columns=MAPPING_COLUMNS, row=row,
                     setup=_batch)
