"""The single list of Features variables: name, meaning, unit, source, look-back, dtype, theme.

Used by :mod:`sf.features.compute` (column order and dtypes; a computed variable missing here
is an error) and by :func:`sf.features.docs.variables_markdown` (the README table).

* ``dtype``: ``"float"`` (float64, NaN = absent), ``"bool"`` (pandas nullable boolean),
  ``"string"`` (object), ``"datetime"`` (UTC timestamps);
* ``theme``: ``"urssaf"`` (debts, contributions, delays, CCSF), ``"effectif"`` (headcount),
  ``"apart"`` (short-time work), ``"financier"`` (BdF, Diane, paydex), ``"activite"`` (sector,
  age, region, legal form), or None for identifiers, targets and sampling columns;
* ``role``: ``"id"``, ``"feature"``, ``"target"`` or ``"sampling"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .effectif import PAST_MONTHS
from .financial import BDF_RATIOS, DIANE_FIELDS, DIANE_NO_PAST, YEAR_LAGS
from .paydex import PAYDEX_LAGS
from .urssaf import DEBT_LAGS

Theme = Literal["urssaf", "effectif", "apart", "financier", "activite"]
Dtype = Literal["float", "bool", "string", "datetime"]
Role = Literal["id", "feature", "target", "sampling"]


@dataclass(frozen=True, slots=True)
class Variable:
    """One Features variable; see the module docstring for the field vocabularies."""

    name: str
    meaning: str
    unit: str
    source: str
    lookback: str
    dtype: Dtype
    theme: Theme | None
    role: Role = "feature"


def _v(name: str, meaning: str, unit: str, source: str, lookback: str, dtype: Dtype, theme: Theme | None,
       role: Role = "feature") -> Variable:
    return Variable(name, meaning, unit, source, lookback, dtype, theme, role)


_BASE: list[Variable] = [
    _v("siret", "Establishment identifier (14 digits)", "-", "RawData key", "-", "string", None, "id"),
    _v("siren", "Company identifier (9 digits)", "-", "RawData key", "-", "string", None, "id"),
    _v("periode", "Month of the row (first day, UTC)", "date", "batch series", "-", "datetime", None, "id"),
    # headcount
    _v("effectif", "Headcount of the establishment in the month (gap: parity = value at date_fin_effectif, "
       "fixed = last known past value)", "persons", "effectif", "month p (fixed: last known <= p)", "float",
       "effectif"),
    _v("effectif_reporte", "1 if the month's headcount was missing or 0 and carried", "flag", "effectif",
       "month p", "float", "effectif"),
    *[_v(f"effectif_past_{k}", f"Headcount {k} months before, counted from the last delivered month "
         "(E(p - k + offset_effectif + 1))", "persons", "effectif", f"{k}+ months", "float", "effectif")
      for k in PAST_MONTHS],
    _v("effectif_ent", "Headcount of the company (URSSAF company file)", "persons", "effectif_ent",
       "month p (fixed: last known <= p)", "float", "effectif"),
    _v("effectif_ent_reporte", "1 if the company headcount of the month was missing or 0", "flag",
       "effectif_ent", "month p", "float", "effectif"),
    *[_v(f"effectif_ent_past_{k}", f"Company headcount {k} months before (same rule as effectif_past_{k})",
         "persons", "effectif_ent", f"{k}+ months", "float", "effectif") for k in PAST_MONTHS],
    _v("effectif_entreprise", "Sum of the establishments' headcounts of the company", "persons",
       "effectif (all establishments)", "month p", "float", "effectif"),
    _v("nbr_etablissements_connus", "Number of establishments of the company with rows", "count",
       "RawData", "-", "float", "activite"),
    # URSSAF
    _v("compte_urssaf", "URSSAF account number on the months of the account file", "-", "compte", "month p",
       "string", "urssaf"),
    _v("cotisation", "Contributions called for the month (sum of du / months of each period)", "EUR/month",
       "cotisation", "month p", "float", "urssaf"),
    _v("montant_part_ouvriere", "Outstanding employee-share debt (debit chain, day-20 rule)", "EUR", "debit",
       "month p", "float", "urssaf"),
    _v("montant_part_patronale", "Outstanding employer-share debt (debit chain, day-20 rule)", "EUR", "debit",
       "month p", "float", "urssaf"),
    *[_v(f"montant_part_{part}_past_{k}", f"{part} debt {k} month(s) before", "EUR", "debit", f"{k} months",
         "float", "urssaf") for part in ("ouvriere", "patronale") for k in DEBT_LAGS],
    _v("interessante_urssaf", "False if a debt existed in the last 6 months (URSSAF business rule)", "bool",
       "debit", "6 months", "bool", "urssaf"),
    _v("cotisation_moy12m", "Mean contributions over the 12 months [p-11, p] (all must be known)", "EUR/month",
       "cotisation", "12 months", "float", "urssaf"),
    _v("ratio_dette", "(po + pp) / cotisation_moy12m", "ratio", "debit, cotisation", "12 months", "float",
       "urssaf"),
    _v("ratio_dette_moy12m", "Mean of (po + pp) / cotisation over 12 months", "ratio", "debit, cotisation",
       "12 months", "float", "urssaf"),
    _v("tag_debit", "ratio_dette > 1 %", "bool", "debit, cotisation", "12 months", "bool", "urssaf"),
    _v("tag_default", "3rd month with ratio_dette > 1 (URSSAF default)", "bool", "debit, cotisation",
       "series", "bool", "urssaf"),
    _v("delai_nb_jours_total", "Length of the payment delay granted", "days", "delai", "month p", "float",
       "urssaf"),
    _v("delai_montant_echeancier", "Amount of the payment schedule", "EUR", "delai", "month p", "float",
       "urssaf"),
    _v("delai_nb_jours_restants", "Days from the month start to the delay's end", "days", "delai", "month p",
       "float", "urssaf"),
    _v("delai_deviation_remboursement", "(debt - linear repayment) / schedule amount", "ratio",
       "delai, debit", "month p", "float", "urssaf"),
    _v("date_ccsf", "Latest CCSF decision strictly before the month", "date", "ccsf", "all history",
       "datetime", "urssaf"),
    _v("debit_entreprise", "Sum of the establishments' debts (po + pp) of the company", "EUR",
       "debit (all establishments)", "month p", "float", "urssaf"),
    # proceedings
    _v("etat_proc_collective", "State of collective proceedings (in_bonis, plan_redressement, ...)", "-",
       "procol", "all history", "string", "urssaf"),
    _v("date_proc_collective", "Date of the latest proceeding event", "date", "procol", "all history",
       "datetime", "urssaf"),
    _v("tag_failure", "True from the first proceeding event on (stays true)", "bool", "procol",
       "all history", "bool", "urssaf"),
    # short-time work
    _v("apart_heures_autorisees", "Hours authorised by the demand covering the month (whole demand)", "hours",
       "apdemande", "month p", "float", "apart"),
    _v("apart_heures_consommees", "Short-time hours consumed in the month", "hours", "apconso", "month p",
       "float", "apart"),
    _v("apart_motif_recours", "Reason of the demand (1 conjoncture ... 5 autre)", "code", "apdemande",
       "month p", "float", "apart"),
    _v("apart_heures_consommees_cumulees", "Hours consumed since the demand's start", "hours",
       "apconso, apdemande", "demand", "float", "apart"),
    _v("apart_entreprise", "Short-time hours consumed by all establishments of the company", "hours",
       "apconso", "month p", "float", "apart"),
    _v("ratio_apart", "Hours consumed / (effectif x monthly hours) (parity 157.67, fixed 151.67)",
       "share of FTE", "apconso, effectif", "month p", "float", "apart"),
    # registry
    _v("latitude", "Latitude of the establishment", "degrees", "sirene", "-", "float", "activite"),
    _v("longitude", "Longitude of the establishment", "degrees", "sirene", "-", "float", "activite"),
    _v("code_commune", "INSEE commune code", "-", "sirene", "-", "string", "activite"),
    _v("departement", "Departement", "-", "sirene", "-", "string", "activite"),
    _v("region", "Region (13 metropolitan regions; '' otherwise)", "-", "sirene", "-", "string", "activite"),
    _v("code_ape", "APE code (NAF rev. 2 sub-class)", "-", "sirene", "-", "string", "activite"),
    _v("code_naf", "NAF section letter", "-", "sirene + NAF table", "-", "string", "activite"),
    _v("libelle_naf", "Label of the NAF section", "-", "NAF table", "-", "string", "activite"),
    *[_v(f"code_ape_niveau{k}", f"First {k} characters of the APE code", "-", "sirene", "-", "string",
         "activite") for k in (2, 3, 4)],
    *[_v(f"libelle_ape{k}", f"Label of the APE level {k}", "-", "NAF table", "-", "string", "activite")
      for k in (2, 3, 4, 5)],
    _v("date_creation_etablissement", "Year the establishment was created", "year", "sirene", "-", "float",
       "activite"),
    _v("age", "Age of the establishment (year(p) - creation year)", "years", "sirene", "-", "float",
       "activite"),
    _v("raison_sociale", "Company name", "-", "sirene_ul", "-", "string", "activite"),
    _v("statut_juridique", "Legal form (catégorie juridique)", "-", "sirene_ul", "-", "string", "activite"),
    _v("date_creation_entreprise", "Year the company was created", "year", "sirene_ul", "-", "float",
       "activite"),
    _v("age_entreprise", "Age of the company", "years", "sirene_ul", "-", "float", "activite"),
    # paydex
    _v("paydex_nb_jours", "Average supplier payment delay (>= 3 suppliers), month of valuation", "days",
       "paydex", "month p", "float", "financier"),
    *[_v(f"paydex_nb_jours_past_{k}", f"paydex_nb_jours {k} months before", "days", "paydex", f"{k} months",
         "float", "financier") for k in PAYDEX_LAGS],
    # BdF
    _v("arrete_bilan_bdf", "Closing date of the BdF balance sheet in use (usable 8 to 20 months after)",
       "date", "bdf", "8-20 months", "datetime", "financier"),
    _v("annee_bdf", "Year of the BdF balance sheet", "year", "bdf", "8-20 months", "float", "financier"),
    _v("exercice_bdf", "annee_bdf - 1 (0 when no sheet)", "year", "bdf", "8-20 months", "float", "financier"),
]

_BDF_MEANING = {
    "poids_frng": ("FRNG / CA", "%"),
    "taux_marge": ("100 x EBE / VA", "%"),
    "delai_fournisseur": ("360 x supplier debts / purchases", "days"),
    "dette_fiscale": ("100 x tax and social debts / VA", "%"),
    "financier_court_terme": ("100 x short-term bank credit / CA", "%"),
    "frais_financier": ("100 x financial charges / (EBE + non-operating result)", "%"),
}

_FINANCIAL: list[Variable] = []
for _name in BDF_RATIOS:
    _meaning, _unit = _BDF_MEANING[_name]
    _FINANCIAL.append(_v(_name, f"BdF ratio {_meaning} (Diane-derived when BdF lacks it, for poids_frng, "
                         "dette_fiscale, frais_financier)", _unit, "bdf, diane", "8-21 months", "float",
                         "financier"))
    for _k in YEAR_LAGS:
        _FINANCIAL.append(_v(f"{_name}_past_{_k}", f"{_name} of {_k} year(s) before", _unit, "bdf, diane",
                             f"{8 + 12 * _k}-{21 + 12 * _k} months", "float", "financier"))
for _name in DIANE_FIELDS:
    if _name in BDF_RATIOS:
        continue
    _dtype: Dtype = "datetime" if _name == "arrete_bilan_diane" else "float"
    _FINANCIAL.append(_v(_name, f"Diane account field '{_name}' of the sheet in use", "see Diane", "diane",
                         "8-21 months", _dtype, "financier"))
    if _name not in DIANE_NO_PAST:
        for _k in YEAR_LAGS:
            _FINANCIAL.append(_v(f"{_name}_past_{_k}", f"Diane '{_name}' of {_k} year(s) before", "see Diane",
                                 "diane", f"{8 + 12 * _k}-{21 + 12 * _k} months", _dtype, "financier"))

_TARGET: list[Variable] = [
    _v("outcome", "Target: parity = failure or URSSAF default within [-18, +18] months of the establishment; "
       "fixed = the company enters proceedings within 18 months (or is in proceedings)", "bool",
       "procol (parity: + debit)", "18 months ahead", "bool", None, "target"),
    _v("time_til_outcome", "Months until the event (0 = in it, negative = months since the last one)",
       "months", "procol (parity: + debit)", "ahead", "float", None, "target"),
    _v("time_til_default", "Months until the next tag_default month", "months", "debit, cotisation", "ahead",
       "float", None, "target"),
    _v("time_til_failure", "Months until the next tag_failure month", "months", "procol", "ahead", "float",
       None, "target"),
    _v("random_order", "Deterministic sampling value in [0, 1) per (siret, month)", "-", "reporder",
       "-", "float", None, "sampling"),
]

CATALOGUE: tuple[Variable, ...] = tuple(_BASE + _FINANCIAL + _TARGET)
VARIABLES: dict[str, Variable] = {v.name: v for v in CATALOGUE}
if len(VARIABLES) != len(CATALOGUE):  # pragma: no cover - guards the definitions above
    raise RuntimeError("duplicate variable in the catalogue")


def feature_names(theme: Theme | None = None) -> list[str]:
    """Names of the model features (role "feature"), optionally of one theme, catalogue order."""
    return [v.name for v in CATALOGUE if v.role == "feature" and (theme is None or v.theme == theme)]
