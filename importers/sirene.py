"""sirene: INSEE establishment registry with geocoding (docs/importers.md §3.11).

Input ``StockEtablissement_utf8_geo.csv``: CSV, ``,`` separator, lazy quotes (v2022), the
columns of :data:`REQUIRED_COLUMNS` required (case-insensitive), others ignored. The 2022
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
from collections.abc import Iterator
from datetime import datetime

from sf.importers.convert import ConversionError, parse_bool, parse_date, parse_float
from sf.importers.csv_source import csv_lines, fast_constructor
from sf.importers.records import ParseContext, ParsedLine, SourceRecord, Tuple

__all__ = [
    "INDICE_REPETITION",
    "PARSER",
    "REQUIRED_COLUMNS",
    "TYPE_VOIE",
    "Sirene",
    "SireneParser",
    "departement_from_commune",
    "departement_from_postal_code",
]

REQUIRED_COLUMNS = (
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


_new_sirene = fast_constructor(Sirene)


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


def _row(number: int, fields: list[str], at: dict[str, int]) -> ParsedLine:
    errors: list[str] = []
    values: dict[str, object] = {}
    for name, column in _TEXTS:
        text = fields[at[column]]
        if text:
            values[name] = text

    try:
        if parse_bool(fields[at["etablissementSiege"]]):
            values["siege"] = True  # false is not stored (the original's omitempty)
    except ConversionError as exc:
        errors.append(str(exc))

    indrep = INDICE_REPETITION.get(fields[at["indiceRepetitionEtablissement"]])
    if indrep:
        values["indrep"] = indrep
    type_voie = TYPE_VOIE.get(fields[at["typeVoieEtablissement"]])
    if type_voie:
        values["type_voie"] = type_voie

    code_postal = fields[at["codePostalEtablissement"]]
    if len(code_postal) > 2:
        values["code_postal"] = code_postal
    departement = (departement_from_commune(fields[at["codeCommuneEtablissement"]])
                   or departement_from_postal_code(code_postal))
    if departement:
        values["departement"] = departement

    activite = fields[at["activitePrincipaleEtablissement"]]
    if activite:
        nomenclature = fields[at["nomenclatureActivitePrincipaleEtablissement"]]
        if nomenclature == "NAFRev2":
            compact = activite.replace(".", "")
            if _APE.fullmatch(compact):
                values["ape"] = compact
        else:
            values["code_activite"] = activite
            if nomenclature:
                values["nomen_activite"] = nomenclature

    creation = fields[at["dateCreationEtablissement"]]
    if creation:
        try:
            values["date_creation"] = parse_date(creation, "2006-01-02")
        except ConversionError:
            pass  # the original ignores unparsable creation dates

    for name in ("longitude", "latitude"):
        try:
            coordinate = parse_float(fields[at[name]])
        except ConversionError as exc:
            errors.append(str(exc))
        else:
            if coordinate is not None:
                values[name] = coordinate

    key = fields[at["siren"]] + fields[at["nic"]]
    return ParsedLine(number, tuples=[Tuple("sirene", key, "etablissement", _new_sirene(**values))], errors=errors)


class SireneParser:
    """Parser of ``StockEtablissement_utf8_geo.csv`` files (see module docstring)."""

    file_type = "sirene"

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
        """One ParsedLine per CSV record; FatalFileError (raised by this call) when the file
        cannot be read or a required column is missing."""
        return csv_lines(path, sep=",", lazy_quotes=True, required=REQUIRED_COLUMNS, row_parser=_row)


PARSER = SireneParser()
