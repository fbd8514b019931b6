"""delai: payment delays granted by URSSAF (docs/importers.md §3.4).

File ``Sigfaible_delais.csv[.gz]``: ``;``-separated, strict quotes, exact header (v2022),
dates ``DD/MM/YYYY``. v2022 layout: key = SIRET of the account at ``Date_creation``
(admin_urssaf mapping; no SIRET → line *filtered*); HEAD layout (a ``Siret`` column): key =
that column, header case-insensitive.

Per line: an invalid ``Date_creation`` rejects the line (no lookup); then the lookup; then
``Date_echeance`` (error), ``Duree_delai`` (int, empty → None; an invalid value is an error
here — deviation: the original ignored it and stored 0), ``Annee_creation`` (int, error),
``Montant_global_echeancier`` (``,`` decimal accepted, error). Any error → no tuple.
"""

from __future__ import annotations

from datetime import datetime

from sf.importers.convert import comma_float, parse_date, parse_int
from sf.importers.records import SourceRecord
from sf.importers.table import FILTERED, Emitted, Line
from sf.importers.urssaf import UrssafParser, account_siret

__all__ = ["COLUMNS", "PARSER", "DelaiRecord"]


class DelaiRecord(SourceRecord):
    """Stored delai (original names); ``duree_delai`` in days, ``montant_echeancier`` in euros."""

    numero_compte: str
    numero_contentieux: str
    date_creation: datetime
    date_echeance: datetime
    duree_delai: int | None = None
    denomination: str
    indic_6m: str
    annee_creation: int | None = None
    montant_echeancier: float | None = None
    stade: str
    action: str


COLUMNS = ("Numero_compte_externe", "Numero_structure", "Date_creation", "Date_echeance", "Duree_delai",
           "Denomination_premiere_ligne", "Indic_6M", "Annee_creation", "Montant_global_echeancier",
           "Code_externe_stade", "Code_externe_action")


def _date(text: str) -> datetime:
    return parse_date(text, "02/01/2006")


def row(line: Line) -> Emitted:
    """The SIRET and record of one line: an invalid ``Date_creation`` rejects it before the lookup."""
    compte = line["Numero_compte_externe"]
    date_creation = _date(line["Date_creation"])
    siret = account_siret(line, compte, date_creation)
    if siret is None:
        return FILTERED
    return siret, DelaiRecord.build(
        numero_compte=compte,
        numero_contentieux=line["Numero_structure"],
        date_creation=date_creation,
        date_echeance=line.convert(_date, line["Date_echeance"]),
        # Deviation: the original ignored a bad duration and stored Go's 0, which silently
        # turns it into "0 days"; here the line is rejected.
        duree_delai=line.convert(parse_int, line["Duree_delai"]),
        denomination=line["Denomination_premiere_ligne"],
        indic_6m=line["Indic_6M"],
        annee_creation=line.convert(parse_int, line["Annee_creation"]),
        montant_echeancier=line.convert(comma_float, line["Montant_global_echeancier"]),
        stade=line["Code_externe_stade"],
        action=line["Code_externe_action"],
    )


PARSER = UrssafParser("delai", columns=COLUMNS, row=row)
