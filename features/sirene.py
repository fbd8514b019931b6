"""Registry variables (spec §2.10–2.11): location, region, sector, age, legal form.

Établissement (raw ``sirene``): the **last record** of the state is used (the original takes
the last key of the map; dict order here is the order records were added, deterministic).
Entreprise (raw ``sirene_ul``): same rule. Values do not depend on the month except ``age``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import numpy as np

from .columns import Columns
from .months import optional_date
from .state import NafTable

_APE = re.compile(r"^[0-9]{4}[A-Z]$")
_MIN_CREATION = datetime(1901, 1, 1, tzinfo=UTC)

#: 2-digit departement → region (``common/region.ts``); Corsica (2A/2B) and overseas give "".
REGIONS: dict[str, str] = {}
for _region, _deps in {
    "Auvergne-Rhône-Alpes": "01 03 07 15 26 38 42 43 63 69 73 74",
    "Hauts-de-France": "02 59 60 62 80",
    "Provence-Alpes-Côte d'Azur": "04 05 06 13 83 84",
    "Grand Est": "08 10 51 52 54 55 57 67 68 88",
    "Occitanie": "09 11 12 30 31 32 34 46 48 65 66 81 82",
    "Normandie": "14 27 50 61 76",
    "Centre-Val de Loire": "18 28 36 37 41 45",
    "Nouvelle-Aquitaine": "16 17 19 23 24 33 40 47 64 79 86 87",
    "Corse": "20",
    "Bourgogne-Franche-Comté": "21 25 39 58 70 71 89 90",
    "Bretagne": "22 29 35 56",
    "Pays de la Loire": "44 49 53 72 85",
    "Île-de-France": "75 77 78 91 92 93 94 95",
}.items():
    for _dep in _deps.split():
        REGIONS[_dep] = _region
#: Fixed mode: Corsica's departements map to their region (the original gives "").
REGIONS_FIXED = {**REGIONS, "2A": "Corse", "2B": "Corse"}

#: NAF rev. 2 sections: (first division, last division, letter, label).
NAF_SECTIONS: tuple[tuple[int, int, str, str], ...] = (
    (1, 3, "A", "Agriculture, sylviculture et pêche"),
    (5, 9, "B", "Industries extractives"),
    (10, 33, "C", "Industrie manufacturière"),
    (35, 35, "D", "Production et distribution d'électricité, de gaz, de vapeur et d'air conditionné"),
    (36, 39, "E", "Production et distribution d'eau ; assainissement, gestion des déchets et dépollution"),
    (41, 43, "F", "Construction"),
    (45, 47, "G", "Commerce ; réparation d'automobiles et de motocycles"),
    (49, 53, "H", "Transports et entreposage"),
    (55, 56, "I", "Hébergement et restauration"),
    (58, 63, "J", "Information et communication"),
    (64, 66, "K", "Activités financières et d'assurance"),
    (68, 68, "L", "Activités immobilières"),
    (69, 75, "M", "Activités spécialisées, scientifiques et techniques"),
    (77, 82, "N", "Activités de services administratifs et de soutien"),
    (84, 84, "O", "Administration publique"),
    (85, 85, "P", "Enseignement"),
    (86, 88, "Q", "Santé humaine et action sociale"),
    (90, 93, "R", "Arts, spectacles et activités récréatives"),
    (94, 96, "S", "Autres activités de services"),
    (97, 98, "T", "Activités des ménages en tant qu'employeurs ; activités indifférenciées des ménages en tant que producteurs de biens et services pour usage propre"),
    (99, 99, "U", "Activités extra-territoriales"),
)


def naf_section(code_ape: str) -> tuple[str, str] | None:
    """``(section letter, label)`` of an APE code from its 2-digit division, or None."""
    if not code_ape[:2].isdigit():
        return None
    division = int(code_ape[:2])
    for lo, hi, letter, label in NAF_SECTIONS:
        if lo <= division <= hi:
            return letter, label
    return None


def _last(records: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    last = None
    for record in records.values():
        if record is not None:
            last = record
    return last


def _year(value: datetime | None) -> int | None:
    return value.year if value is not None else None


def sirene(records: dict[str, dict[str, Any]], siret: str, axis_years: np.ndarray, mode: str,
           naf: NafTable | None, where: str) -> Columns:
    """Établissement registry columns over the axis (``axis_years`` = calendar year of each month)."""
    n = len(axis_years)
    cols = Columns(n)
    record = _last(records)
    if record is None:
        return cols
    every = slice(None)
    cols.put("siren", every, siret[:9])
    for field in ("latitude", "longitude", "code_commune", "departement"):
        cols.put(field, every, record.get(field) or None)
    departement = record.get("departement")
    if departement:
        cols.put("region", every, (REGIONS if mode == "parity" else REGIONS_FIXED).get(departement, ""))
    ape = record.get("ape")
    if isinstance(ape, str) and _APE.match(ape):
        cols.put("code_ape", every, ape)
        _naf_fields(cols, ape, naf)
    cols.put("raison_sociale", every, record.get("raison_sociale") or None)
    creation = optional_date(record, "date_creation", f"{where} sirene")
    cols.put("date_creation_etablissement", every, _year(creation))
    if creation is not None:
        if creation >= _MIN_CREATION:
            cols.num("age")[:] = axis_years - creation.year
        else:
            cols.put("age", every, None)
    return cols


def _naf_fields(cols: Columns, ape: str, naf: NafTable | None) -> None:
    every = slice(None)
    if naf is not None:
        section = naf.n5to1.get(ape)
        if section is not None:
            cols.put("code_naf", every, section)
            if naf.n1.get(section) is not None:
                cols.put("libelle_naf", every, naf.n1[section])
    else:
        found = naf_section(ape)
        if found is not None:
            cols.put("code_naf", every, found[0])
            cols.put("libelle_naf", every, found[1])
    for level in (2, 3, 4):
        cols.put(f"code_ape_niveau{level}", every, ape[:level])
    if naf is not None:
        for level, table in ((2, naf.n2), (3, naf.n3), (4, naf.n4), (5, naf.n5)):
            label = table.get(ape[:level])
            if label is not None:
                cols.put(f"libelle_ape{level}", every, label)


def raison_sociale(record: dict[str, Any]) -> str:
    """Company name: ``raison_sociale`` or ``"NOM*[NOMUSAGE/]PRENOM1 P2 P3 P4/"`` (common/raison_sociale.ts)."""
    if record.get("raison_sociale"):
        return str(record["raison_sociale"])
    usage = record.get("nom_usage_unite_legale")
    usage_part = f"{usage}/" if usage else ""
    text = (f"{record.get('nom_unite_legale')}*{usage_part}{record.get('prenom1_unite_legale')} "
            f"{record.get('prenom2_unite_legale') or ''} {record.get('prenom3_unite_legale') or ''} "
            f"{record.get('prenom4_unite_legale') or ''} ")
    return text.strip() + "/"


def sirene_ul(records: dict[str, dict[str, Any]], axis_years: np.ndarray, where: str) -> Columns:
    """Entreprise registry columns: ``raison_sociale``, ``statut_juridique``,
    ``date_creation_entreprise``, ``age_entreprise``."""
    n = len(axis_years)
    cols = Columns(n)
    record = _last(records)
    if record is None:
        return cols
    every = slice(None)
    cols.put("raison_sociale", every, raison_sociale(record))
    cols.put("statut_juridique", every, record.get("statut_juridique") or None)
    creation = optional_date(record, "date_creation", f"{where} sirene_ul")
    cols.put("date_creation_entreprise", every, _year(creation))
    if creation is not None and creation >= _MIN_CREATION:
        cols.num("age_entreprise")[:] = axis_years - creation.year
    return cols
