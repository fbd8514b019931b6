"""admin_urssaf: URSSAF account ↔ SIRET history, stored as ``compte`` tuples (docs/importers.md §3.1).

This parser does not read lines itself: it iterates the batch's account mapping
(``ctx.mapping()``, loaded from every admin_urssaf file of the batch, see
``sf.importers.perimeter``), accounts sorted ascending, each account being one "line".
For each month ``p`` of ``[date_debut, date_fin)`` it emits ``compte{siret, numero_compte,
periode=p}`` with the SIRET designated at ``p``; a month without SIRET adds the error
``Pas de siret associé au compte … à la période …`` (the line is then rejected) while the
other months' tuples of the account are still emitted.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from sf.importers.perimeter import no_siret_message
from sf.importers.reading import FatalFileError, strip_scheme
from sf.importers.records import ParseContext, ParsedLine, SourceRecord, Tuple
from sf.importers.urssaf import resolve_mapping

__all__ = ["PARSER", "AdminUrssafParser", "CompteRecord", "monthly_series"]


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


class AdminUrssafParser:
    """Parser of admin_urssaf files (module instance: ``PARSER``); tuples of type ``compte``."""

    file_type = "admin_urssaf"
    tuple_type = "compte"

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
        """One ParsedLine per account of the mapping. FatalFileError when the batch has no
        ``date_debut``/``date_fin`` or no usable mapping."""
        display, _ = strip_scheme(path)
        if ctx.date_debut is None or ctx.date_fin is None:
            raise FatalFileError(display, "date_debut et date_fin du batch requises pour les comptes")
        mapping = resolve_mapping(ctx, display)
        periods = monthly_series(ctx.date_debut, ctx.date_fin)
        construct = CompteRecord.from_converted
        for number, compte in enumerate(mapping.accounts(), start=1):
            tuples: list[Tuple] = []
            errors: list[str] = []
            for periode in periods:
                siret = mapping.siret_for(compte, periode)
                if siret is None:
                    errors.append(no_siret_message(compte, periode))
                    siret = ""  # kept like the original; dropped by the key check
                tuples.append(Tuple("compte", siret, "etablissement",
                                    construct({"siret": siret, "numero_compte": compte, "periode": periode})))
            yield ParsedLine(number, tuples, errors)


PARSER = AdminUrssafParser()
