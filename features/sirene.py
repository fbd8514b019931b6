"""Registry variables (docs/features.md §2.10–2.11): location, region, sector, age, legal form.

Établissement (raw ``sirene``): the **last record** of the state is used (the original takes
the last key of the map; dict order here is the order records were added, deterministic).
Entreprise (raw ``sirene_ul``): same rule. Values do not depend on the month except ``age``.

The computation is chunk-wide: :func:`sirene_rows` and :func:`sirene_ul_rows` give one
:class:`Columns` with one row per entity of a chunk; :func:`sirene` and :func:`sirene_ul` are
the one-entity rows of them. Month-independent columns are read-only broadcast views (one
value per row); ``age``/``age_entreprise`` and the null masks are ordinary arrays.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from .columns import _NUMERIC, Columns, object_value
from .months import month_index, optional_date
from .state import NafTable

_APE = re.compile(r"^[0-9]{4}[A-Z]$")
#: The original's lower bound of creation dates (1901-01-01 UTC): an earlier date gives no age.
_MIN_CREATION_YEAR = 1901
#: The NAF variables, in the order the per-établissement code of the original sets them.
_NAF_NAMES = ("code_naf", "libelle_naf", "code_ape_niveau2", "code_ape_niveau3", "code_ape_niveau4",
              "libelle_ape2", "libelle_ape3", "libelle_ape4", "libelle_ape5")
_NONE_TYPE = type(None)
_STR = {str}

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


def _creation_years(records: list[dict[str, Any]], rows: list[int], wheres: list[str], source: str) -> list[int | None]:
    """Calendar year (UTC) of each record's ``date_creation``, None when absent or null.

    Raises :class:`FeatureInputError` naming ``wheres[row] + " " + source`` if it is not a date.
    """
    years: list[int | None] = []
    for row, record in zip(rows, records):
        value = record.get("date_creation")
        if value is None:
            years.append(None)
        elif isinstance(value, datetime):
            years.append(month_index(value) // 12)  # the UTC year
        else:
            optional_date(record, "date_creation", f"{wheres[row]} {source}")  # raises
    return years


def _put_rows(cols: Columns, name: str, rows: list[int], values: list[Any]) -> None:
    """Put ``values[i]`` on every month of row ``rows[i]`` of ``cols`` (None: explicit null);
    the other rows get nothing (absent, not null). Nothing is created when ``rows`` is empty.

    As :meth:`Columns.put` on one row: numbers are stored as floats and a column holding only
    numbers and nulls is a float one. A column where some row holds a non-number (a string) is
    an object one, where numbers are Python floats and NaN is None (absent) — what
    :func:`merge_columns` gives when a float row meets an object column.

    The column is a **read-only** view of the per-row values broadcast over the months
    (``np.broadcast_to``): materialising ``E × n`` object references, and freeing them, was
    most of the cost of the whole computation. Readers (``merge_columns``, ``row``, ``crop``,
    ``frame_from_columns``) are unaffected; a writer gets numpy's "assignment destination is
    read-only" error and must copy first. Null masks are ordinary (writable) arrays.
    """
    if not rows:
        return
    shape = cols.shape
    count = shape[0]
    kinds = set(map(type, values))
    nulls = _NONE_TYPE in kinds
    kinds.discard(_NONE_TYPE)
    if kinds == _STR:  # the common case, decided without the generic checks below
        numbers, objects = False, True
    else:
        numbers = any(issubclass(kind, _NUMERIC) for kind in kinds)
        objects = any(not issubclass(kind, _NUMERIC) for kind in kinds)
    null_rows = [row for row, value in zip(rows, values) if value is None] if nulls else []
    if objects:
        if numbers:
            values = [object_value(v) if isinstance(v, _NUMERIC) else v for v in values]
        if len(rows) == count:
            per_row = np.fromiter(values, dtype=object, count=count)
        else:
            per_row = np.full(count, None, dtype=object)
            per_row[rows] = np.fromiter(values, dtype=object, count=len(values))
    else:
        if nulls:
            values = [np.nan if v is None else v for v in values]
        if len(rows) == count:
            per_row = np.array(values, dtype=float)
        else:
            per_row = np.full(count, np.nan)
            per_row[rows] = np.array(values, dtype=float)
    cols.values[name] = np.broadcast_to(per_row[:, None], shape)
    if nulls:
        mask = np.zeros(shape, dtype=bool)
        mask[null_rows] = True
        cols.nulls[name] = mask


def _put_ages(cols: Columns, name: str, rows: list[int], years: list[int | None], axis_years: np.ndarray) -> None:
    """``cols[name]`` = calendar year of the month minus ``years[i]`` on row ``rows[i]``
    (absent where None and on the other rows)."""
    per_row = np.full(cols.shape[0], np.nan)
    per_row[rows] = np.array([np.nan if y is None else y for y in years], dtype=float)
    cols.values[name] = np.subtract(np.asarray(axis_years)[None, :], per_row[:, None], dtype=float)


def sirene(records: dict[str, dict[str, Any]], siret: str, axis_years: np.ndarray, mode: str,
           naf: NafTable | None, where: str) -> Columns:
    """Établissement registry columns over the axis (``axis_years`` = calendar year of each month).

    One établissement's row of :func:`sirene_rows`; raises :class:`FeatureInputError` if
    ``date_creation`` is not a date.
    """
    return sirene_rows([records], [siret], axis_years, mode, naf, [where]).row(0)


def sirene_rows(records_by_row: list[dict[str, dict[str, Any]] | None], sirets: list[str],
                axis_years: np.ndarray, mode: str, naf: NafTable | None, wheres: list[str]) -> Columns:
    """Registry columns of many établissements at once: row ``e`` from ``records_by_row[e]``
    (its ``sirene`` records; None or empty: nothing, every column absent on that row).

    Returns a :class:`Columns` with ``rows=len(records_by_row)`` over the months of
    ``axis_years`` (calendar year of each month); row ``e`` is what the per-établissement
    computation gives, except that a column is an object one as soon as one row holds a
    non-number (see :func:`_put_rows`). Every variable but ``age`` is one value per row, the
    same on every month. Raises :class:`FeatureInputError` naming ``wheres[e]`` if the
    ``date_creation`` of row ``e`` is not a date.
    """
    cols = Columns(len(axis_years), rows=len(records_by_row))
    rows, records = _last_records(records_by_row)
    if not rows:
        return cols
    _put_rows(cols, "siren", rows, [sirets[e][:9] for e in rows])
    # One pass over the records, then column by column (list comprehensions, no per-row calls).
    latitudes, longitudes, communes, departements, apes, raisons = zip(*[
        (r.get("latitude"), r.get("longitude"), r.get("code_commune"), r.get("departement"), r.get("ape"),
         r.get("raison_sociale")) for r in records])
    for name, values in (("latitude", latitudes), ("longitude", longitudes), ("code_commune", communes),
                         ("departement", departements)):
        _put_rows(cols, name, rows, [value or None for value in values])
    regions = REGIONS if mode == "parity" else REGIONS_FIXED
    region_rows, region_departements = _select(rows, departements, [bool(d) for d in departements])
    _put_rows(cols, "region", region_rows, [regions.get(d, "") for d in region_departements])
    valid = {ape for ape in {ape for ape in apes if isinstance(ape, str)} if _APE.match(ape)}
    ape_rows, valid_apes = _select(rows, apes, [isinstance(ape, str) and ape in valid for ape in apes])
    _put_rows(cols, "code_ape", ape_rows, valid_apes)
    naf_of = {ape: _naf_fields(ape, naf) for ape in valid}
    row_fields = [naf_of[ape] for ape in valid_apes]
    for name in _NAF_NAMES:
        if all(name in fields for fields in naf_of.values()):
            _put_rows(cols, name, ape_rows, [fields[name] for fields in row_fields])
        else:
            found_rows, found = _select(ape_rows, row_fields, [name in fields for fields in row_fields])
            _put_rows(cols, name, found_rows, [fields[name] for fields in found])
    _put_rows(cols, "raison_sociale", rows, [value or None for value in raisons])
    years = _creation_years(records, rows, wheres, "sirene")
    _put_rows(cols, "date_creation_etablissement", rows, years)
    dated_rows, dated = _select(rows, years, [year is not None for year in years])
    if dated_rows:
        # Before 1901 (the original's lower bound) the age is null.
        _put_ages(cols, "age", dated_rows, [y if y >= _MIN_CREATION_YEAR else None for y in dated], axis_years)
        old = [e for e, year in zip(dated_rows, dated) if year < _MIN_CREATION_YEAR]
        if old:
            cols.null_mask("age")[old] = True
    return cols


def _last_records(records_by_row: list[dict[str, dict[str, Any]] | None]) -> tuple[list[int], list[dict[str, Any]]]:
    """``(rows, records)``: the rows that have a record and the last record of each.

    The original takes the last key of the map; dict order here is the order records were
    added (deterministic). None records are skipped.
    """
    rows: list[int] = []
    records: list[dict[str, Any]] = []
    for e, by_hash in enumerate(records_by_row):
        if by_hash:
            for record in reversed(by_hash.values()):
                if record is not None:
                    rows.append(e)
                    records.append(record)
                    break
    return rows, records


def _select(rows: list[int], values: Sequence[Any], keep: list[bool]) -> tuple[list[int], list[Any]]:
    """The ``rows`` and ``values`` where ``keep`` is true (the inputs themselves when all are)."""
    if all(keep):
        return rows, list(values)
    kept = [i for i, k in enumerate(keep) if k]
    return [rows[i] for i in kept], [values[i] for i in kept]


def _naf_fields(ape: str, naf: NafTable | None) -> dict[str, Any]:
    """NAF variables of a valid APE code (labels missing from the table left out)."""
    fields: dict[str, Any] = {}
    if naf is not None:
        section = naf.n5to1.get(ape)
        if section is not None:
            fields["code_naf"] = section
            if naf.n1.get(section) is not None:
                fields["libelle_naf"] = naf.n1[section]
    else:
        found = naf_section(ape)
        if found is not None:
            fields["code_naf"], fields["libelle_naf"] = found
    for level in (2, 3, 4):
        fields[f"code_ape_niveau{level}"] = ape[:level]
    if naf is not None:
        for level, table in ((2, naf.n2), (3, naf.n3), (4, naf.n4), (5, naf.n5)):
            label = table.get(ape[:level])
            if label is not None:
                fields[f"libelle_ape{level}"] = label
    return fields


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
    ``date_creation_entreprise``, ``age_entreprise``.

    One entreprise's row of :func:`sirene_ul_rows`; raises :class:`FeatureInputError` if
    ``date_creation`` is not a date.
    """
    return sirene_ul_rows([records], axis_years, [where]).row(0)


def sirene_ul_rows(records_by_row: list[dict[str, dict[str, Any]] | None], axis_years: np.ndarray,
                   wheres: list[str]) -> Columns:
    """Entreprise registry columns of many entreprises at once: row ``e`` from
    ``records_by_row[e]`` (its ``sirene_ul`` records; None or empty: every column absent).

    Returns a :class:`Columns` with ``rows=len(records_by_row)``; ``age_entreprise`` depends on
    the year of the month, the others are one value per row (dtypes as in
    :func:`sirene_rows`). Raises :class:`FeatureInputError` naming ``wheres[e]`` if a
    ``date_creation`` is not a date.
    """
    cols = Columns(len(axis_years), rows=len(records_by_row))
    rows, records = _last_records(records_by_row)
    if not rows:
        return cols
    _put_rows(cols, "raison_sociale", rows, [raison_sociale(record) for record in records])
    _put_rows(cols, "statut_juridique", rows, [record.get("statut_juridique") or None for record in records])
    years = _creation_years(records, rows, wheres, "sirene_ul")
    _put_rows(cols, "date_creation_entreprise", rows, years)
    # Unlike the établissement's age, a creation before 1901 leaves the age absent, not null.
    dated = [(e, year) for e, year in zip(rows, years) if year is not None and year >= _MIN_CREATION_YEAR]
    if dated:
        _put_ages(cols, "age_entreprise", [e for e, _ in dated], [y for _, y in dated], axis_years)
    return cols
