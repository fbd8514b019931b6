"""apconso: short-time work consumption per establishment and month (DARES, docs/importers.md §3.9).

Input ``consommation_ap.csv``: CSV, ``,`` separator, strict quotes, header
``ID_DA,ETAB_SIRET,HEURES,MONTANTS,EFFECTIFS,MOIS`` (all required; names matched
case-insensitively, column order free). The 2022 and HEAD inputs share this layout.

Per line: ``MOIS`` is ``YYYY-MM-DD``; ``HEURES`` and ``MONTANTS`` are floats (dot decimal);
``EFFECTIFS`` is a float truncated to an int. Empty numeric cells give a missing field. Any
conversion error rejects the line (all messages kept, no tuple). Key: ``ETAB_SIRET``
(scope etablissement, not stored in the record).

Output: tuples of type ``apconso`` holding :class:`APConso`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sf.importers.convert import (
    ConversionError,
    int_from_float,
    parse_date,
    parse_float,
)
from sf.importers.csv_source import csv_lines, fast_constructor
from sf.importers.records import ParseContext, ParsedLine, SourceRecord, Tuple

__all__ = ["PARSER", "REQUIRED_COLUMNS", "APConso", "ApconsoParser"]

REQUIRED_COLUMNS = ("ID_DA", "ETAB_SIRET", "HEURES", "MONTANTS", "EFFECTIFS", "MOIS")


class APConso(SourceRecord):
    """One month of short-time work consumed by an establishment (stored names of v2022)."""

    id_conso: str
    heure_consomme: float | None = None
    montant: float | None = None
    effectif: int | None = None
    periode: datetime


_new_apconso = fast_constructor(APConso)


def _row(number: int, fields: list[str], at: dict[str, int]) -> ParsedLine:
    errors: list[str] = []

    def convert(column: str, converter: Callable[[str], Any]) -> Any:
        try:
            return converter(fields[at[column]])
        except ConversionError as exc:
            errors.append(str(exc))
            return None

    heures = convert("HEURES", parse_float)
    montant = convert("MONTANTS", parse_float)
    effectif = convert("EFFECTIFS", int_from_float)
    periode = convert("MOIS", lambda s: parse_date(s, "2006-01-02"))
    if errors:
        return ParsedLine(number, errors=errors)
    record = _new_apconso(id_conso=fields[at["ID_DA"]], heure_consomme=heures, montant=montant,
                          effectif=effectif, periode=periode)
    return ParsedLine(number, tuples=[Tuple("apconso", fields[at["ETAB_SIRET"]], "etablissement", record)])


class ApconsoParser:
    """Parser of ``consommation_ap.csv`` files (see module docstring)."""

    file_type = "apconso"

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
        """One ParsedLine per CSV record; FatalFileError (raised by this call) when the file
        cannot be read or a required column is missing."""
        return csv_lines(path, sep=",", lazy_quotes=False, required=REQUIRED_COLUMNS, row_parser=_row)


PARSER = ApconsoParser()
