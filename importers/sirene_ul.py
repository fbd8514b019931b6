"""sirene_ul: INSEE legal units (``StockUniteLegale``, docs/importers.md §3.12).

Input ``sireneUL.csv``: CSV, ``,`` separator, lazy quotes; required columns (matched
case-insensitively): ``siren, denominationUniteLegale, prenom1UniteLegale …
prenom4UniteLegale, nomUniteLegale, nomUsageUniteLegale, categorieJuridiqueUniteLegale,
dateCreationUniteLegale``. HEAD-era files add activity and status columns; they are read
with the same rules (extra columns ignored).

Per line: values copied raw; ``dateCreationUniteLegale`` ``YYYY-MM-DD`` else missing
(``invalid_date`` → missing, no error, as the original). No line error exists besides the
key check (SIREN of 9 digits, done by the tracker). HEAD's filtering of legal units whose
activity is coded in an old nomenclature is not reproduced: it would drop the company
name of ceased companies.

Stored shape follows v2022: ``raison_sociale`` and ``statut_juridique`` always stored (even
empty), the other texts only when non-empty. Key: ``siren`` (entreprise).
"""

from __future__ import annotations

from datetime import datetime

from sf.importers.convert import parse_date
from sf.importers.records import SourceRecord
from sf.importers.table import Emitted, Line, TableParser

__all__ = ["COLUMNS", "PARSER", "SireneUL"]

COLUMNS = ("siren", "denominationUniteLegale", "prenom1UniteLegale", "prenom2UniteLegale", "prenom3UniteLegale",
           "prenom4UniteLegale", "nomUniteLegale", "nomUsageUniteLegale", "categorieJuridiqueUniteLegale",
           "dateCreationUniteLegale")


class SireneUL(SourceRecord):
    """One legal unit of the INSEE registry (stored names of v2022)."""

    siren: str | None = None
    raison_sociale: str
    prenom1_unite_legale: str | None = None
    prenom2_unite_legale: str | None = None
    prenom3_unite_legale: str | None = None
    prenom4_unite_legale: str | None = None
    nom_unite_legale: str | None = None
    nom_usage_unite_legale: str | None = None
    statut_juridique: str
    date_creation: datetime | None = None


def _creation(text: str) -> datetime:
    return parse_date(text, "2006-01-02")


def row(line: Line) -> Emitted:
    """The SIREN and record of one line; an unparsable creation date is missing, without
    error (as in the original), so no line is rejected here."""
    siren = line["siren"]
    creation = line.try_convert(_creation, line["dateCreationUniteLegale"])  # the original ignores bad dates
    return siren, SireneUL.build(
        siren=siren or None,
        raison_sociale=line["denominationUniteLegale"],
        prenom1_unite_legale=line["prenom1UniteLegale"] or None,
        prenom2_unite_legale=line["prenom2UniteLegale"] or None,
        prenom3_unite_legale=line["prenom3UniteLegale"] or None,
        prenom4_unite_legale=line["prenom4UniteLegale"] or None,
        nom_unite_legale=line["nomUniteLegale"] or None,
        nom_usage_unite_legale=line["nomUsageUniteLegale"] or None,
        statut_juridique=line["categorieJuridiqueUniteLegale"],
        date_creation=creation,
    )


PARSER = TableParser("sirene_ul", scope="entreprise", columns=COLUMNS, row=row, sep=",", lazy_quotes=True,
                     encoding="utf-8-sig")
