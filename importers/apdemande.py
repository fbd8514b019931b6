"""apdemande: short-time work requests per establishment (DARES, docs/importers.md §3.10).

Input ``demande_ap.csv``: CSV, ``,`` separator, lazy quotes. Required columns (matched
case-insensitively, order free): ``ID_DA, ETAB_SIRET, EFF_ENT, EFF_ETAB, DATE_STATUT,
DATE_DEB, DATE_FIN, HTA, MTA, EFF_AUTO, MOTIF_RECOURS_SE, PERIMETRE_AP, S_HEURE_CONSOM_TOT,
S_EFF_CONSOM_TOT, S_MONTANT_CONSOM_TOT``. The original did not declare ``MTA``,
``S_EFF_CONSOM_TOT`` and ``S_MONTANT_CONSOM_TOT`` and crashed (``log.Fatal``) when one was
absent; here a missing one is a fatal file error like the others.

Per line:

* empty ``ETAB_SIRET`` → error ``invalidLine: siret unspecified`` (HEAD wording; v2022
  said ``invalidLine``), no tuple;
* ``EFF_ENT, EFF_ETAB, EFF_AUTO, S_EFF_CONSOM_TOT``: float truncated to int;
  ``HTA, S_HEURE_CONSOM_TOT``: float (dot); ``MTA, S_MONTANT_CONSOM_TOT``: float with a
  decimal comma accepted; ``MOTIF_RECOURS_SE, PERIMETRE_AP``: integers;
  empty numeric cells give a missing field (kept distinct from 0);
* ``DATE_STATUT, DATE_DEB, DATE_FIN``: ``YYYY-MM-DD``, or ``YYYY-MM-DD 00:00:00`` (the form
  DARES delivered between 2025-06 and 2025-09, docs/importers.md §3.10 HEAD);
* any conversion error rejects the line (every message kept, no tuple).

``MOTIF_RECOURS_SE`` is stored as given, like v2022 (its golden holds the value 8); HEAD
rejects values outside 1–7 because of a PostgreSQL-specific failure.

Key: ``ETAB_SIRET`` (scope etablissement, not stored). Output: tuples ``apdemande`` holding
:class:`APDemande` with ``periode = {start: DATE_DEB, end: DATE_FIN}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sf.importers.convert import (
    ConversionError,
    Periode,
    comma_float,
    int_from_float,
    parse_date,
    parse_float,
    parse_int,
)
from sf.importers.csv_source import csv_lines, fast_constructor
from sf.importers.records import ParseContext, ParsedLine, SourceRecord, Tuple

__all__ = ["PARSER", "REQUIRED_COLUMNS", "APDemande", "ApdemandeParser", "parse_dares_date"]

REQUIRED_COLUMNS = ("ID_DA", "ETAB_SIRET", "EFF_ENT", "EFF_ETAB", "DATE_STATUT", "DATE_DEB", "DATE_FIN", "HTA",
                    "MTA", "EFF_AUTO", "MOTIF_RECOURS_SE", "PERIMETRE_AP", "S_HEURE_CONSOM_TOT",
                    "S_EFF_CONSOM_TOT", "S_MONTANT_CONSOM_TOT")

EMPTY_SIRET = "invalidLine: siret unspecified"


class APDemande(SourceRecord):
    """One short-time work request (stored names of v2022)."""

    id_demande: str
    effectif_entreprise: int | None = None
    effectif: int | None = None
    date_statut: datetime
    periode: Periode
    hta: float | None = None
    mta: float | None = None
    effectif_autorise: int | None = None
    motif_recours_se: int | None = None
    heure_consommee: float | None = None
    montant_consommee: float | None = None
    effectif_consomme: int | None = None
    perimetre: int | None = None


_new_apdemande = fast_constructor(APDemande)


_MIDNIGHT = " 00:00:00"


def parse_dares_date(s: str) -> datetime:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD 00:00:00`` → UTC midnight; ConversionError otherwise
    (the message is the one for the plain ``2006-01-02`` layout)."""
    try:
        return parse_date(s, "2006-01-02")
    except ConversionError:
        if s.endswith(_MIDNIGHT):
            return parse_date(s, "2006-01-02 15:04:05")
        raise


_CONVERSIONS: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("effectif_entreprise", "EFF_ENT", int_from_float),
    ("effectif", "EFF_ETAB", int_from_float),
    ("date_statut", "DATE_STATUT", parse_dares_date),
    ("debut", "DATE_DEB", parse_dares_date),
    ("fin", "DATE_FIN", parse_dares_date),
    ("hta", "HTA", parse_float),
    ("mta", "MTA", comma_float),
    ("effectif_autorise", "EFF_AUTO", int_from_float),
    ("motif_recours_se", "MOTIF_RECOURS_SE", parse_int),
    ("heure_consommee", "S_HEURE_CONSOM_TOT", parse_float),
    ("effectif_consomme", "S_EFF_CONSOM_TOT", int_from_float),
    ("montant_consommee", "S_MONTANT_CONSOM_TOT", comma_float),
    ("perimetre", "PERIMETRE_AP", parse_int),
)


def _row(number: int, fields: list[str], at: dict[str, int]) -> ParsedLine:
    siret = fields[at["ETAB_SIRET"]]
    if siret == "":
        return ParsedLine(number, errors=[EMPTY_SIRET])
    values: dict[str, Any] = {}
    errors: list[str] = []
    for name, column, converter in _CONVERSIONS:
        try:
            values[name] = converter(fields[at[column]])
        except ConversionError as exc:
            errors.append(str(exc))
    if errors:
        return ParsedLine(number, errors=errors)
    periode = Periode.model_construct(start=values.pop("debut"), end=values.pop("fin"))
    record = _new_apdemande(id_demande=fields[at["ID_DA"]], periode=periode, **values)
    return ParsedLine(number, tuples=[Tuple("apdemande", siret, "etablissement", record)])


class ApdemandeParser:
    """Parser of ``demande_ap.csv`` files (see module docstring)."""

    file_type = "apdemande"

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
        """One ParsedLine per CSV record; FatalFileError (raised by this call) when the file
        cannot be read or a required column is missing."""
        return csv_lines(path, sep=",", lazy_quotes=True, required=REQUIRED_COLUMNS, row_parser=_row)


PARSER = ApdemandeParser()
