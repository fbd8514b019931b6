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

from collections.abc import Iterator
from datetime import datetime

from sf.importers.convert import ConversionError, parse_date
from sf.importers.csv_source import csv_lines, fast_constructor
from sf.importers.records import ParseContext, ParsedLine, SourceRecord, Tuple

__all__ = ["PARSER", "REQUIRED_COLUMNS", "SireneUL", "SireneULParser"]

REQUIRED_COLUMNS = ("siren", "denominationUniteLegale", "prenom1UniteLegale", "prenom2UniteLegale",
                    "prenom3UniteLegale", "prenom4UniteLegale", "nomUniteLegale", "nomUsageUniteLegale",
                    "categorieJuridiqueUniteLegale", "dateCreationUniteLegale")


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


_new_sirene_ul = fast_constructor(SireneUL)


def _row(number: int, fields: list[str], at: dict[str, int]) -> ParsedLine:
    def text(column: str) -> str | None:
        return fields[at[column]] or None

    try:
        creation: datetime | None = parse_date(fields[at["dateCreationUniteLegale"]], "2006-01-02")
    except ConversionError:
        creation = None  # the original ignores unparsable creation dates
    siren = fields[at["siren"]]
    record = _new_sirene_ul(
        siren=siren or None,
        raison_sociale=fields[at["denominationUniteLegale"]],
        prenom1_unite_legale=text("prenom1UniteLegale"),
        prenom2_unite_legale=text("prenom2UniteLegale"),
        prenom3_unite_legale=text("prenom3UniteLegale"),
        prenom4_unite_legale=text("prenom4UniteLegale"),
        nom_unite_legale=text("nomUniteLegale"),
        nom_usage_unite_legale=text("nomUsageUniteLegale"),
        statut_juridique=fields[at["categorieJuridiqueUniteLegale"]],
        date_creation=creation,
    )
    return ParsedLine(number, tuples=[Tuple("sirene_ul", siren, "entreprise", record)])


class SireneULParser:
    """Parser of ``sireneUL.csv`` files (see module docstring)."""

    file_type = "sirene_ul"

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
        """One ParsedLine per CSV record; FatalFileError (raised by this call) when the file
        cannot be read or a required column is missing."""
        return csv_lines(path, sep=",", lazy_quotes=True, required=REQUIRED_COLUMNS, row_parser=_row)


PARSER = SireneULParser()
