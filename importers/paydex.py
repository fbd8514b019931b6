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

from collections.abc import Iterator
from datetime import datetime

from sf.importers.convert import ConversionError, parse_date, parse_int
from sf.importers.csv_source import csv_lines, fast_constructor
from sf.importers.records import ParseContext, ParsedLine, SourceRecord, Tuple

__all__ = ["PARSER", "REQUIRED_COLUMNS", "Paydex", "PaydexParser"]

REQUIRED_COLUMNS = ("SIREN", "NB_JOURS", "DATE_VALEUR")


class Paydex(SourceRecord):
    """Average supplier-payment delay of a company at a value date."""

    date_valeur: datetime
    nb_jours: int


_new_paydex = fast_constructor(Paydex)


def _row(number: int, fields: list[str], at: dict[str, int]) -> ParsedLine:
    errors: list[str] = []
    raw_date = fields[at["DATE_VALEUR"]]
    try:
        date_valeur: datetime | None = parse_date(raw_date, "02/01/2006")
    except ConversionError:
        date_valeur = None
        errors.append(f"invalid date: {raw_date}")
    raw_days = fields[at["NB_JOURS"]]
    try:
        nb_jours = parse_int(raw_days)
    except ConversionError:
        nb_jours = None
    if nb_jours is None:
        errors.append(f"invalid int: {raw_days}")
    if errors:
        return ParsedLine(number, errors=errors)
    record = _new_paydex(date_valeur=date_valeur, nb_jours=nb_jours)
    return ParsedLine(number, tuples=[Tuple("paydex", fields[at["SIREN"]], "entreprise", record)])


class PaydexParser:
    """Parser of Altares paydex files (see module docstring)."""

    file_type = "paydex"

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
        """One ParsedLine per CSV record; FatalFileError (raised by this call) when the file
        cannot be read or a required column is missing."""
        return csv_lines(path, sep=";", lazy_quotes=False, required=REQUIRED_COLUMNS, row_parser=_row)


PARSER = PaydexParser()
