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

from collections.abc import Callable
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
from sf.importers.records import SourceRecord
from sf.importers.table import Emitted, Line, TableParser

__all__ = ["COLUMNS", "PARSER", "APDemande", "parse_dares_date"]

COLUMNS = ("ID_DA", "ETAB_SIRET", "EFF_ENT", "EFF_ETAB", "DATE_STATUT", "DATE_DEB", "DATE_FIN", "HTA", "MTA",
           "EFF_AUTO", "MOTIF_RECOURS_SE", "PERIMETRE_AP", "S_HEURE_CONSOM_TOT", "S_EFF_CONSOM_TOT",
           "S_MONTANT_CONSOM_TOT")

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


# (field, column, converter), in the order the original converted them.
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


def row(line: Line) -> Emitted:
    """The ETAB_SIRET and record of one line (rejected on an empty SIRET or any conversion error)."""
    siret = line["ETAB_SIRET"]
    if siret == "":
        raise ConversionError(EMPTY_SIRET)
    values = {name: line.convert(converter, line[column]) for name, column, converter in _CONVERSIONS}
    periode = Periode.model_construct(start=values.pop("debut"), end=values.pop("fin"))
    return siret, APDemande.build(id_demande=line["ID_DA"], periode=periode, **values)


PARSER = TableParser("apdemande", scope="etablissement", columns=COLUMNS, row=row, sep=",", lazy_quotes=True,
                     encoding="utf-8-sig")
