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

from datetime import datetime

from sf.importers.convert import int_from_float, parse_date, parse_float
from sf.importers.records import SourceRecord
from sf.importers.table import Emitted, Line, TableParser

__all__ = ["COLUMNS", "PARSER", "APConso"]

COLUMNS = ("ID_DA", "ETAB_SIRET", "HEURES", "MONTANTS", "EFFECTIFS", "MOIS")


class APConso(SourceRecord):
    """One month of short-time work consumed by an establishment (stored names of v2022)."""

    id_conso: str
    heure_consomme: float | None = None
    montant: float | None = None
    effectif: int | None = None
    periode: datetime


def _mois(text: str) -> datetime:
    return parse_date(text, "2006-01-02")


def row(line: Line) -> Emitted:
    """The ETAB_SIRET and record of one line (rejected on any conversion error)."""
    return line["ETAB_SIRET"], APConso.build(
        id_conso=line["ID_DA"],
        heure_consomme=line.convert(parse_float, line["HEURES"]),
        montant=line.convert(parse_float, line["MONTANTS"]),
        effectif=line.convert(int_from_float, line["EFFECTIFS"]),
        periode=line.convert(_mois, line["MOIS"]),
    )


PARSER = TableParser("apconso", scope="etablissement", columns=COLUMNS, row=row, sep=",", encoding="utf-8-sig")
