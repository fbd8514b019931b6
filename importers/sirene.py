"""sirene: INSEE establishment registry with geocoding (docs/importers.md §3.11).

Input ``StockEtablissement_utf8_geo.csv``: CSV, ``,`` separator, lazy quotes (v2022), the
columns of :data:`COLUMNS` required (case-insensitive), others ignored. The 2022
and HEAD test inputs share this layout.

Per line (v2022 rules unless stated):

* ``siege`` = ParseBool(``etablissementSiege``); an unparsable value is an error.
* ``indrep`` and ``type_voie`` through the INSEE abbreviation tables (unknown → missing).
* ``code_postal`` kept when longer than 2 characters.
* ``departement``: from ``codeCommuneEtablissement`` when it is an INSEE commune code
  (``^[0-9][0-9AB][0-9]{3}$``: 3 characters for ``97x``/``98x`` overseas codes, else 2, so
  Corsica gives ``2A``/``2B``); otherwise from the postal code as v2022 did (first 2
  characters, ``200``/``201`` → ``2A``, other ``20`` → ``2B``); otherwise missing, without
  error. **Deviation** from v2022, which used the postal code only and reported "Code postal
  est manquant ou de format incorrect" when it was missing: the postal code is not the
  département (cedex codes, communes served from a neighbouring département) and
  non-diffusible establishments have no postal code (docs/importers.md §7 item 12, fixed in HEAD #545).
* activity: when ``activitePrincipaleEtablissement`` is set, nomenclature ``NAFRev2`` →
  ``ape`` = code without dots if it matches ``^[0-9]{4}[A-Z]$``; any other nomenclature →
  ``code_activite``/``nomen_activite`` raw (v2022; HEAD filters such lines out and keeps the
  dotted code).
* ``date_creation``: ``YYYY-MM-DD``, anything else → missing, without error (v2022).
* ``longitude``/``latitude``: float; empty → missing **without error** (deviation from
  v2022, which reported an error; fixed upstream in 2025-06, docs/importers.md §7 item 12); an unparsable
  value is an error and the field is missing.
* The tuple is emitted even when the line has errors (the line is then counted rejected),
  as in the original.

Stored shape follows v2022 (every field omitted when empty; ``siege`` stored only when
true, as the original's ``omitempty`` did). Key: ``siren + nic`` (etablissement).
"""

from __future__ import annotations

import re
from datetime import datetime

from sf.importers.convert import parse_bool, parse_date, parse_float
from sf.importers.records import SourceRecord
from sf.importers.table import Emitted, Line, TableParser

__all__ = [
    "INDICE_REPETITION",
    "COLUMNS",
    "PARSER",
    "TYPE_VOIE",
    "Sirene",
    "departement_from_commune",
    "departement_from_postal_code",
]

COLUMNS = (
    "siren", "nic", "etablissementSiege", "complementAdresseEtablissement", "numeroVoieEtablissement",
    "indiceRepetitionEtablissement", "typeVoieEtablissement", "libelleVoieEtablissement",
    "libelleCommuneEtablissement", "libelleCommuneEtrangerEtablissement", "distributionSpecialeEtablissement",
    "codeCommuneEtablissement", "codeCedexEtablissement", "libelleCedexEtablissement",
    "codePaysEtrangerEtablissement", "libellePaysEtrangerEtablissement", "codePostalEtablissement",
    "activitePrincipaleEtablissement", "nomenclatureActivitePrincipaleEtablissement", "dateCreationEtablissement",
    "longitude", "latitude",
)

TYPE_VOIE: dict[str, str] = {
    "ALL": "ALLÉE", "AV": "AVENUE", "BD": "BOULEVARD", "CAR": "CARREFOUR", "CHE": "CHEMIN", "CHS": "CHAUSSÉE",
    "CITE": "CITÉ", "COR": "CORNICHE", "CRS": "COURS", "DOM": "DOMAINE", "DSC": "DESCENTE", "ECA": "ECART",
    "ESP": "ESPLANADE", "FG": "FAUBOURG", "GR": "GRANDE RUE", "HAM": "HAMEAU", "HLE": "HALLE", "IMP": "IMPASSE",
    "LD": "LIEU DIT", "LOT": "LOTISSEMENT", "MAR": "MARCHÉ", "MTE": "MONTÉE", "PAS": "PASSAGE", "PL": "PLACE",
    "PLN": "PLAINE", "PLT": "PLATEAU", "PRO": "PROMENADE", "PRV": "PARVIS", "QUA": "QUARTIER", "QUAI": "QUAI",
    "RES": "RÉSIDENCE", "RLE": "RUELLE", "ROC": "ROCADE", "RPT": "ROND POINT", "RTE": "ROUTE", "RUE": "RUE",
    "SEN": "SENTE - SENTIER", "SQ": "SQUARE", "TPL": "TERRE-PLEIN", "TRA": "TRAVERSE", "VLA": "VILLA",
    "VLGE": "VILLAGE",
}

INDICE_REPETITION: dict[str, str] = {"B": "BIS", "T": "TER", "Q": "QUATER", "C": "QUINQUIES"}

_COMMUNE = re.compile(r"[0-9][0-9AB][0-9]{3}")
_APE = re.compile(r"[0-9]{4}[A-Z]")


class Sirene(SourceRecord):
    """One establishment of the INSEE registry (stored names of v2022)."""

    siren: str | None = None
    nic: str | None = None
    siege: bool | None = None
    complement_adresse: str | None = None
    numero_voie: str | None = None
    indrep: str | None = None
    type_voie: str | None = None
    voie: str | None = None
    commune: str | None = None
    commune_etranger: str | None = None
    distribution_speciale: str | None = None
    code_commune: str | None = None
    code_cedex: str | None = None
    cedex: str | None = None
    code_pays_etranger: str | None = None
    pays_etranger: str | None = None
    code_postal: str | None = None
    departement: str | None = None
    ape: str | None = None
    code_activite: str | None = None
    nomen_activite: str | None = None
    date_creation: datetime | None = None
    longitude: float | None = None
    latitude: float | None = None



def departement_from_commune(code_commune: str) -> str | None:
    """Département of an INSEE commune code (``97411`` → ``974``, ``2A004`` → ``2A``,
    ``73187`` → ``73``); None when the code is not a commune code."""
    if not _COMMUNE.fullmatch(code_commune):
        return None
    return code_commune[:3] if code_commune[:2] in ("97", "98") else code_commune[:2]


def departement_from_postal_code(code_postal: str) -> str | None:
    """v2022 rule: first two characters of a postal code longer than 2 characters, with
    ``200``/``201`` → ``2A`` and other ``20…`` → ``2B`` (Corsica); None otherwise."""
    if len(code_postal) <= 2:
        return None
    if code_postal[:3] in ("200", "201"):
        return "2A"
    if code_postal[:2] == "20":
        return "2B"
    return code_postal[:2]


# Text fields copied as they are (stored name, column); empty cells are not stored.
_TEXTS: tuple[tuple[str, str], ...] = (
    ("siren", "siren"), ("nic", "nic"), ("complement_adresse", "complementAdresseEtablissement"),
    ("numero_voie", "numeroVoieEtablissement"), ("voie", "libelleVoieEtablissement"),
    ("commune", "libelleCommuneEtablissement"), ("commune_etranger", "libelleCommuneEtrangerEtablissement"),
    ("distribution_speciale", "distributionSpecialeEtablissement"), ("code_commune", "codeCommuneEtablissement"),
    ("code_cedex", "codeCedexEtablissement"), ("cedex", "libelleCedexEtablissement"),
    ("code_pays_etranger", "codePaysEtrangerEtablissement"), ("pays_etranger", "libellePaysEtrangerEtablissement"),
)


def _creation(text: str) -> datetime:
    return parse_date(text, "2006-01-02")


def row(line: Line) -> Emitted:
    """The SIRET (``siren + nic``) and record of one line; the record is stored even when
    the line has errors (see the module docstring)."""
    values: dict[str, object] = {}
    for name, column in _TEXTS:
        text = line[column]
        if text:
            values[name] = text
    if line.convert(parse_bool, line["etablissementSiege"]):
        values["siege"] = True  # false is not stored (the original's omitempty)

    indrep = INDICE_REPETITION.get(line["indiceRepetitionEtablissement"])
    if indrep:
        values["indrep"] = indrep
    type_voie = TYPE_VOIE.get(line["typeVoieEtablissement"])
    if type_voie:
        values["type_voie"] = type_voie

    code_postal = line["codePostalEtablissement"]
    if len(code_postal) > 2:
        values["code_postal"] = code_postal
    departement = (departement_from_commune(line["codeCommuneEtablissement"])
                   or departement_from_postal_code(code_postal))
    if departement:
        values["departement"] = departement

    activite = line["activitePrincipaleEtablissement"]
    if activite:
        nomenclature = line["nomenclatureActivitePrincipaleEtablissement"]
        if nomenclature == "NAFRev2":
            compact = activite.replace(".", "")
            if _APE.fullmatch(compact):
                values["ape"] = compact
        else:
            values["code_activite"] = activite
            if nomenclature:
                values["nomen_activite"] = nomenclature

    creation = line["dateCreationEtablissement"]
    if creation:
        date_creation = line.try_convert(_creation, creation)  # the original ignores unparsable dates
        if date_creation is not None:
            values["date_creation"] = date_creation

    for name in ("longitude", "latitude"):
        coordinate = line.convert(parse_float, line[name])
        if coordinate is not None:
            values[name] = coordinate

    return line["siren"] + line["nic"], Sirene.build(**values)


PARSER = TableParser("sirene", scope="etablissement", columns=COLUMNS, row=row, sep=",", lazy_quotes=True,
                     encoding="utf-8-sig", keeps_records_with_errors=True)
