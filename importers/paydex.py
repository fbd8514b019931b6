"""paydex: Altares supplier-payment delays per company (docs/importers.md §3.17).

Input ``E_<12 digits>_Retro-Paydex_<8 digits>.csv``: CSV, ``;`` separator, strict quotes,
header ``SIREN;NB_JOURS;NB_JOURS_LIB;DATE_VALEUR``; required ``SIREN, NB_JOURS,
DATE_VALEUR`` (case-insensitive, order free). A leading UTF-8 byte-order mark (Altares
stock files have one) is accepted; the original failed on it (``Colonne SIREN non
trouvée``).

Per line: ``DATE_VALEUR`` ``DD/MM/YYYY`` else error ``invalid date: <value>``;
``NB_JOURS`` integer else error ``invalid int: <value>`` — an empty ``NB_JOURS`` is that
error too (the original crashed on a nil pointer). Any error rejects the line (no tuple).

Key: ``SIREN`` (entreprise, not stored). Output: tuples ``paydex`` holding :class:`Paydex`.
"""

from __future__ import annotations

from datetime import datetime

from sf.importers.convert import ConversionError, parse_date, parse_int
from sf.importers.records import SourceRecord
from sf.importers.table import Emitted, Line, TableParser

__all__ = ["COLUMNS", "PARSER", "Paydex"]

COLUMNS = ("SIREN", "NB_JOURS", "DATE_VALEUR")


class Paydex(SourceRecord):
    """Average supplier-payment delay of a company at a value date."""

    date_valeur: datetime
    nb_jours: int


def _date(text: str) -> datetime:
    return parse_date(text, "02/01/2006")


def _days(text: str) -> int:
    days = parse_int(text)
    if days is None:
        raise ConversionError("empty")  # replaced by the line's own message
    return days


def row(line: Line) -> Emitted:
    """The SIREN and record of one line (rejected on any conversion error)."""
    date_valeur, nb_jours = line["DATE_VALEUR"], line["NB_JOURS"]
    return line["SIREN"], Paydex.build(
        date_valeur=line.convert(_date, date_valeur, message=f"invalid date: {date_valeur}"),
        nb_jours=line.convert(_days, nb_jours, message=f"invalid int: {nb_jours}"),
    )


PARSER = TableParser("paydex", scope="entreprise", columns=COLUMNS, row=row, encoding="utf-8-sig")
