"""The range every stored number must lie in, per source field, with its reason.

Go's ``ParseFloat`` — and so the original — accepts ``NaN``, ``inf`` and ``1e300``; such a
cell is never a real amount or headcount, and a NaN cannot even be stored by every
backend. So a record whose number lies outside its range is not stored and its line is
*rejected* with the reason, in ``sf check`` and ``sf import`` alike (the tracker applies
:func:`violations` to every record, whatever the parser), and the rest of the file goes on.

One table, :data:`RULES`, states the range of each field that has a natural one; every
other number of a record gets :data:`ANY_FLOAT` or :data:`ANY_INT`. The bounds are wide on
purpose: they catch values that cannot be true (a NaN, a headcount of ten million, a delay
of a thousand years), not values that are merely unusual.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sf.importers.records import SourceRecord

__all__ = ["ANY_FLOAT", "ANY_INT", "RULES", "Bound", "column_within", "record_violations", "violations"]


@dataclass(frozen=True)
class Bound:
    """``low <= value <= high`` (both finite, so NaN and ±inf are always outside)."""

    low: float
    high: float
    reason: str

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high  # False for NaN


#: Euro amounts (contributions, debts, short-time-work allowances, schedules): the largest
#: French company's yearly figures are in the tens of billions; 1,000 billion € is beyond any.
AMOUNT_EUR = Bound(-1e12, 1e12, "montant en euros au-delà de ±1 000 milliards")
#: Diane amounts are in thousands of euros: the same ±1,000 billion €.
AMOUNT_KEUR = Bound(-1e9, 1e9, "montant en k€ au-delà de ±1 000 milliards d'euros")
#: Headcounts: the largest French employer has a few hundred thousand employees.
HEADCOUNT = Bound(0, 1e6, "effectif négatif ou supérieur à un million")
#: Durations in days (payment delays, supplier/customer credit): at most 100 years.
DAYS = Bound(0, 36_500, "durée en jours négative ou supérieure à 100 ans")
#: Days relative to a due date or ratios in days (paydex delays, Diane credit periods): early
#: payments and odd accounts make them negative; beyond ±100 years they are not real.
SIGNED_DAYS = Bound(-36_500, 36_500, "nombre de jours au-delà de ±100 ans")
#: Hours of short-time work: a million employees × 2,000 hours is already far beyond reality.
HOURS = Bound(0, 2e9, "nombre d'heures négatif ou supérieur à 2 milliards")
#: Calendar years of accounts.
YEAR = Bound(1900, 2200, "année hors de 1900..2200")
#: Months covered by a set of accounts (an exercise is at most a few years long).
MONTHS = Bound(0, 120, "nombre de mois négatif ou supérieur à 120")
LONGITUDE = Bound(-180, 180, "longitude hors de -180..180")
LATITUDE = Bound(-90, 90, "latitude hors de -90..90")
#: A share held in a company, in percent.
PERCENT_SHARE = Bound(0, 100, "part détenue hors de 0..100 %")
#: Counts of establishments, subsidiaries, group members.
COUNT = Bound(0, 1e7, "nombre négatif ou supérieur à dix millions")

#: Any other float: finite, and no ratio or amount of these sources reaches 10^12.
ANY_FLOAT = Bound(-1e12, 1e12, "valeur non finie ou au-delà de ±10^12")
#: Any other integer (codes, counters): what a 64-bit BSON integer and a reader can hold.
ANY_INT = Bound(-1e15, 1e15, "entier au-delà de ±10^15")

_DIANE_AMOUNTS = (
    "dette_fiscale_et_sociale", "frais_de_RetD", "conces_brev_et_droits_sim", "concours_bancaire_courant",
    "ca", "ca_exportation", "achat_marchandises", "achat_matieres_premieres", "production", "marge_commerciale",
    "consommation", "autres_achats_charges_externes", "valeur_ajoutee", "charge_personnel", "impots_taxes",
    "subventions_d_exploitation", "excedent_brut_d_exploitation", "autres_produits_charges_reprises",
    "dotation_amortissement", "resultat_expl", "operations_commun", "produits_financiers", "charges_financieres",
    "interets", "resultat_avant_impot", "produit_exceptionnel", "charge_exceptionnelle", "participation_salaries",
    "impot_benefice", "benefice_ou_perte", "ca_par_effectif", "capacite_autofinancement")

#: (stored record type, field) → its range. Fields not listed get ANY_FLOAT / ANY_INT.
RULES: dict[tuple[str, str], Bound] = {
    ("apconso", "heure_consomme"): HOURS,
    ("apconso", "montant"): AMOUNT_EUR,
    ("apconso", "effectif"): HEADCOUNT,
    ("apdemande", "effectif_entreprise"): HEADCOUNT,
    ("apdemande", "effectif"): HEADCOUNT,
    ("apdemande", "effectif_autorise"): HEADCOUNT,
    ("apdemande", "effectif_consomme"): HEADCOUNT,
    ("apdemande", "hta"): HOURS,
    ("apdemande", "heure_consommee"): HOURS,
    ("apdemande", "mta"): AMOUNT_EUR,
    ("apdemande", "montant_consommee"): AMOUNT_EUR,
    ("bdf", "annee_bdf"): YEAR,
    ("bdf", "delai_fournisseur"): SIGNED_DAYS,
    ("cotisation", "encaisse"): AMOUNT_EUR,
    ("cotisation", "du"): AMOUNT_EUR,
    ("debit", "part_ouvriere"): AMOUNT_EUR,
    ("debit", "part_patronale"): AMOUNT_EUR,
    ("delai", "duree_delai"): DAYS,
    # No YEAR for delai's annee_creation: the original's own test data holds 5647, 9941…
    ("delai", "montant_echeancier"): AMOUNT_EUR,
    ("diane", "exercice_diane"): YEAR,
    ("diane", "effectif_consolide"): HEADCOUNT,
    ("diane", "nombre_etab_secondaire"): COUNT,
    ("diane", "nombre_filiale"): COUNT,
    ("diane", "taille_compo_groupe"): COUNT,
    ("diane", "nombre_mois"): MONTHS,
    ("diane", "rotation_stocks"): SIGNED_DAYS,
    ("diane", "credit_client"): SIGNED_DAYS,
    ("diane", "credit_fournisseur"): SIGNED_DAYS,
    **{("diane", name): AMOUNT_KEUR for name in _DIANE_AMOUNTS},
    ("effectif", "effectif"): HEADCOUNT,
    ("effectif_ent", "effectif"): HEADCOUNT,
    ("ellisphere", "part_financiere"): PERCENT_SHARE,
    ("paydex", "nb_jours"): SIGNED_DAYS,
    ("sirene", "longitude"): LONGITUDE,
    ("sirene", "latitude"): LATITUDE,
}


def _numeric_kind(annotation: Any) -> type | None:
    """float or int when the field holds one (``float | None`` included), else None."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for option in options:
        if option is float:
            return float
        if option is int:
            return int
    return None


_Checks = tuple[tuple[str, float, float, Bound], ...]
_CHECKS: dict[tuple[str, type], _Checks] = {}


def _checks(tuple_type: str, model: type[SourceRecord]) -> _Checks:
    """``(field, low, high, bound)`` of every numeric field of ``model`` stored as ``tuple_type``."""
    key = (tuple_type, model)
    checks = _CHECKS.get(key)
    if checks is None:
        found = []
        for name, info in model.model_fields.items():
            kind = _numeric_kind(info.annotation)
            if kind is not None:
                bound = RULES.get((tuple_type, name), ANY_FLOAT if kind is float else ANY_INT)
                found.append((name, bound.low, bound.high, bound))
        checks = _CHECKS[key] = tuple(found)
    return checks


def _message(name: str, value: Any, bound: Bound) -> str:
    if value != value:  # NaN
        return f"{name}: valeur non numérique (NaN)"
    if value in (math.inf, -math.inf):
        return f"{name}: valeur infinie ({value})"
    return f"{name}: valeur hors limites {value!r} ({bound.reason})"


def record_violations(tuple_type: str, record: SourceRecord) -> list[str] | tuple[()]:
    """One message per numeric field of ``record`` outside its range (empty: all good).
    Called for every record of every file: the common case returns at the first pass."""
    checks = _CHECKS.get((tuple_type, type(record))) or _checks(tuple_type, type(record))
    values = record.__dict__
    for name, low, high, _ in checks:
        value = values.get(name)
        if value is not None and not (low <= value <= high):
            return [_message(n, values[n], bound) for n, lo, hi, bound in checks
                    if values.get(n) is not None and not (lo <= values[n] <= hi)]
    return ()


def violations(tuple_type: str, document: dict[str, Any]) -> list[str]:
    """:func:`record_violations` for a stored document (every top-level number checked,
    fields without a rule against ANY_FLOAT / ANY_INT)."""
    problems: list[str] = []
    for name, value in document.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        bound = RULES.get((tuple_type, name), ANY_FLOAT if isinstance(value, float) else ANY_INT)
        if not bound.contains(value):
            problems.append(_message(name, value, bound))
    return problems


def column_within(tuple_type: str, name: str, values: pa.DoubleArray) -> np.ndarray:
    """Where a float column is within the range of ``(tuple_type, name)`` (nulls count as
    within): the fast paths send the other rows to the per-line path, which rejects them."""
    bound = RULES.get((tuple_type, name), ANY_FLOAT)
    inside = pc.and_(pc.greater_equal(values, bound.low), pc.less_equal(values, bound.high))
    return pc.fill_null(inside, True).to_numpy(zero_copy_only=False)
