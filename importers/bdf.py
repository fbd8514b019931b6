"""bdf: Banque de France financial ratios per company and year (docs/importers.md §3.14).

Input: CSV, ``;`` separator, lazy quotes, header
``D1;ANNEE;ARRETE_BILAN;DENOM;CP;REGION;SECTEUR;POIDS_FRNG;TX_MARGE;DELAI_FRS;
POIDS_DFISC_SOC;POIDS_FIN_CT;POIDS_FRAIS_FIN``; every column but ``CP`` and ``REGION`` is
required (case-insensitive, order free).

Per line:

* SIREN = ``D1`` with every space removed (``000 111 222`` → ``000111222``);
* ``ANNEE``: integer;
* ``ARRETE_BILAN``: French or English month names replaced by their number (``31DEC2012``,
  ``31déc2012`` → 2012-12-31), then read as ``DD-MM-YYYY``;
* the six ratios: float (dot decimal); empty → missing without error;
* any conversion error rejects the line (every message kept, no tuple).

The original stored an empty ratio as an explicit null (its BSON tags had no
``omitempty``), which its own validation schema then refused; here it is omitted, like
every other missing value. Key: SIREN (entreprise), also stored as ``siren``.
"""

from __future__ import annotations

from datetime import datetime

from sf.importers.convert import ConversionError, parse_date, parse_float, parse_int
from sf.importers.records import SourceRecord
from sf.importers.table import Emitted, Line, TableParser

__all__ = ["BDF", "COLUMNS", "PARSER", "parse_arrete_bilan"]

COLUMNS = ("D1", "ANNEE", "ARRETE_BILAN", "DENOM", "SECTEUR", "POIDS_FRNG", "TX_MARGE", "DELAI_FRS",
           "POIDS_DFISC_SOC", "POIDS_FIN_CT", "POIDS_FRAIS_FIN")

# Replacement order of the original: French abbreviation, then English, month by month.
_MONTHS: tuple[tuple[str, str], ...] = (
    ("janv", "-01-"), ("JAN", "-01-"), ("févr", "-02-"), ("FEB", "-02-"), ("mars", "-03-"), ("MAR", "-03-"),
    ("avr", "-04-"), ("APR", "-04-"), ("mai", "-05-"), ("MAY", "-05-"), ("juin", "-06-"), ("JUN", "-06-"),
    ("juil", "-07-"), ("JUL", "-07-"), ("août", "-08-"), ("AUG", "-08-"), ("sept", "-09-"), ("SEP", "-09-"),
    ("oct", "-10-"), ("OCT", "-10-"), ("nov", "-11-"), ("NOV", "-11-"), ("déc", "-12-"), ("DEC", "-12-"),
)

_RATIOS: tuple[tuple[str, str], ...] = (
    ("poids_frng", "POIDS_FRNG"), ("taux_marge", "TX_MARGE"), ("delai_fournisseur", "DELAI_FRS"),
    ("dette_fiscale", "POIDS_DFISC_SOC"), ("financier_court_terme", "POIDS_FIN_CT"),
    ("frais_financier", "POIDS_FRAIS_FIN"),
)


class BDF(SourceRecord):
    """One Banque de France balance-sheet summary (stored names of v2022)."""

    siren: str
    annee_bdf: int | None = None
    arrete_bilan_bdf: datetime
    raison_sociale: str
    secteur: str
    poids_frng: float | None = None
    taux_marge: float | None = None
    delai_fournisseur: float | None = None
    dette_fiscale: float | None = None
    financier_court_terme: float | None = None
    frais_financier: float | None = None



def parse_arrete_bilan(s: str) -> datetime:
    """``31DEC2012`` / ``31déc2012`` / ``31-12-2012`` → 2012-12-31 (UTC); ConversionError
    with the Go date message otherwise."""
    text = s
    for name, number in _MONTHS:
        text = text.replace(name, number)
    parts = text.split("-")
    if len(parts) != 3 or len(parts[0]) != 2 or len(parts[1]) != 2 or len(parts[2]) != 4:
        raise ConversionError(f'parsing time "{text}" as "02-01-2006": cannot parse "{text}" as "02-01-2006"')
    try:
        return parse_date(f"{parts[2]}-{parts[1]}-{parts[0]}", "2006-01-02")
    except ConversionError as exc:
        # Name the value as read (after month replacement) and the original's layout.
        raise ConversionError(f'parsing time "{text}" as "02-01-2006": '
                              f"{str(exc).rsplit(': ', 1)[-1]}") from None


def row(line: Line) -> Emitted:
    """The SIREN and record of one line (rejected on any conversion error)."""
    siren = line["D1"].replace(" ", "")
    return siren, BDF.build(
        siren=siren,
        annee_bdf=line.convert(parse_int, line["ANNEE"]),
        arrete_bilan_bdf=line.convert(parse_arrete_bilan, line["ARRETE_BILAN"]),
        raison_sociale=line["DENOM"],
        secteur=line["SECTEUR"],
        **{name: line.convert(parse_float, line[column]) for name, column in _RATIOS},
    )


PARSER = TableParser("bdf", scope="entreprise", columns=COLUMNS, row=row, lazy_quotes=True, encoding="utf-8-sig")
