"""Yearly accounts of the entreprise: Banque de France ratios (docs/features.md §2.12; raw ``bdf``) and Diane
accounts (§2.13; raw ``diane``).

Availability (quirk Q13, point-in-time by design): a balance sheet closed in month M is usable
from ``M + 8`` for 13 months (BdF) or 14 months (Diane); ``<field>_past_1/2`` are this sheet's
values written 12 and 24 months later. Sheets are applied in record order, a later one
overwriting an earlier one on overlapping months. Diane fills ``poids_frng``, ``dette_fiscale``
and ``frais_financier`` only where no value (or explicit null) is present for the month.

The axis passed in is the period series in parity mode (values written outside it are lost,
as in the original); in fixed mode it includes the history months.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .columns import Columns
from .months import record_month

BDF_RATIOS = ("poids_frng", "taux_marge", "delai_fournisseur", "dette_fiscale", "financier_court_terme",
              "frais_financier")
BDF_FIELDS = ("arrete_bilan_bdf", "annee_bdf") + BDF_RATIOS
#: Diane fields transmitted to Features (validation schema ``diane.schema.json`` minus the
#: identity fields the original omits: marquee, nom_entreprise, numero_siren,
#: statut_juridique, procedure_collective).
DIANE_FIELDS = (
    "exercice_diane", "arrete_bilan_diane", "couverture_ca_fdr", "interets", "excedent_brut_d_exploitation",
    "produits_financiers", "produit_exceptionnel", "charge_exceptionnelle", "charges_financieres", "ca",
    "concours_bancaire_courant", "valeur_ajoutee", "dette_fiscale_et_sociale", "effectif_consolide",
    "frais_de_RetD", "conces_brev_et_droits_sim", "nombre_etab_secondaire", "nombre_filiale",
    "taille_compo_groupe", "nombre_mois", "equilibre_financier", "independance_financiere", "endettement",
    "autonomie_financiere", "degre_immo_corporelle", "financement_actif_circulant", "liquidite_generale",
    "liquidite_reduite", "rotation_stocks", "credit_client", "credit_fournisseur", "ca_par_effectif",
    "taux_interet_financier", "taux_interet_sur_ca", "endettement_global", "taux_endettement",
    "capacite_remboursement", "capacite_autofinancement", "couverture_ca_besoin_fdr", "poids_bfr_exploitation",
    "exportation", "efficacite_economique", "productivite_potentiel_production", "productivite_capital_financier",
    "productivite_capital_investi", "taux_d_investissement_productif", "rentabilite_economique", "performance",
    "rendement_brut_fonds_propres", "rentabilite_nette", "rendement_capitaux_propres",
    "rendement_ressources_durables", "taux_marge_commerciale", "taux_valeur_ajoutee", "part_salaries",
    "part_etat", "part_preteur", "part_autofinancement", "ca_exportation", "achat_marchandises",
    "achat_matieres_premieres", "production", "marge_commerciale", "consommation",
    "autres_achats_charges_externes", "charge_personnel", "impots_taxes", "subventions_d_exploitation",
    "autres_produits_charges_reprises", "dotation_amortissement", "resultat_expl", "operations_commun",
    "resultat_avant_impot", "participation_salaries", "impot_benefice", "benefice_ou_perte",
)
DIANE_NO_PAST = ("arrete_bilan_diane", "exercice_diane")
YEAR_LAGS = (1, 2)
#: ``name -> (name_past_1, name_past_2)`` for every Diane field (empty for DIANE_NO_PAST), and
#: the columns a Diane / BdF sheet can write: built once instead of per sheet and field.
_DIANE_PASTS = {name: () if name in DIANE_NO_PAST else tuple(f"{name}_past_{k}" for k in YEAR_LAGS)
                for name in DIANE_FIELDS}
_DIANE_COLUMNS = tuple(column for name in DIANE_FIELDS for column in (name, *_DIANE_PASTS[name]))
_BDF_COLUMNS = BDF_FIELDS[1:] + tuple(f"{name}_past_{k}" for k in YEAR_LAGS for name in BDF_RATIOS)
BDF_VALIDITY, DIANE_VALIDITY = 13, 14
#: Months from the closing month to the first month a sheet is usable (m(arrete) + 1 + 7).
AVAILABILITY_DELAY = 8


def _allocate(cols: Columns, names: tuple[str, ...]) -> None:
    """Create the missing float columns among ``names``, all absent, as rows of one array.

    A yearly sheet writes dozens of columns: one allocation instead of one per column, and
    every write then takes the fast path of :meth:`Columns.put`. A column left all absent
    gives the same Features as a column never created.
    """
    missing = [name for name in names if name not in cols.values]
    if missing:
        cols.values.update(zip(missing, np.full((len(missing), *cols.shape), np.nan)))


def _window(first: int, length: int, n: int) -> slice | None:
    """Axis positions ``[first, first + length)`` clipped to ``[0, n)``; None when empty.

    A sheet writes the same value on every month of its window, so one slice assignment per
    field replaces the per-month loop of the original (same result: later sheets still
    overwrite earlier ones, field by field)."""
    lo, hi = max(first, 0), min(first + length, n)
    return slice(lo, hi) if lo < hi else None


def bdf(records: dict[str, dict[str, Any]], axis: np.ndarray, cols: Columns, where: str) -> None:
    """Write BdF fields into ``cols`` (the entreprise columns over ``axis``).

    ``exercice_bdf = annee_bdf − 1`` on the sheet's months; the caller initialises it to 0.
    """
    m0, n = int(axis[0]), len(axis)
    if records:
        _allocate(cols, _BDF_COLUMNS)
    for r, first in sheets(records, "bdf", m0, where):
        write_bdf_sheet(r, first, n, cols)


def sheets(records: dict[str, dict[str, Any]], source: str, m0: int,
           where: str) -> Iterator[tuple[dict[str, Any], int]]:
    """``(sheet, first)`` for each yearly sheet of ``source`` ("bdf" or "diane") among
    ``records``: ``first`` is the axis position (axis starting at month ``m0``) from which the
    sheet is available, its ``arrete_bilan_<source>`` month + AVAILABILITY_DELAY. A Diane sheet
    without a closing date is skipped; a BdF one, like a malformed date, raises
    FeatureInputError naming ``where`` and the record."""
    closing_field = f"arrete_bilan_{source}"
    for h, r in records.items():
        if source == "diane" and not r.get(closing_field):
            continue
        yield r, record_month(r, closing_field, f"{where} {source} {h}") + AVAILABILITY_DELAY - m0


def write_bdf_sheet(r: dict[str, Any], first: int, n: int, cols: Columns) -> None:
    """Write one BdF sheet ``r``, available from axis position ``first`` of an ``n``-month axis:
    its fields and ``exercice_bdf`` on its window, its ratios' ``_past_k`` on the windows k
    years later."""
    inside = _window(first, BDF_VALIDITY, n)
    if inside is not None:
        for name in BDF_FIELDS:
            if name in r:
                cols.put(name, inside, r[name])
        if r.get("annee_bdf"):
            cols.put("exercice_bdf", inside, r["annee_bdf"] - 1)
    for name in BDF_RATIOS:
        if name not in r:
            continue
        for k in YEAR_LAGS:
            later = _window(first + 12 * k, BDF_VALIDITY, n)
            if later is not None:
                cols.put(f"{name}_past_{k}", later, r[name])


def poids_frng(r: dict[str, Any]) -> float | None:
    """``couverture_ca_fdr / 360 × 100`` (poidsFrng.ts), None if the input is missing."""
    v = r.get("couverture_ca_fdr")
    return None if v is None else v / 360 * 100


def dette_fiscale(r: dict[str, Any]) -> float | None:
    """``dette_fiscale_et_sociale / valeur_ajoutee × 100`` (detteFiscale.ts)."""
    d, va = r.get("dette_fiscale_et_sociale"), r.get("valeur_ajoutee")
    return None if d is None or va is None or va == 0 else d / va * 100


def frais_financier(r: dict[str, Any]) -> float | None:
    """``interets / (EBE + produits_financiers + produit_exceptionnel − charge_exceptionnelle
    − charges_financieres) × 100`` (fraisFinancier.ts), None if any input is missing."""
    names = ("interets", "excedent_brut_d_exploitation", "produits_financiers", "produit_exceptionnel",
             "charge_exceptionnelle", "charges_financieres")
    values = [r.get(k) for k in names]
    if any(v is None for v in values):
        return None
    interets, ebe, pf, pe, ce, cf = values
    denominator = ebe + pf + pe - ce - cf
    return None if denominator == 0 else interets / denominator * 100


def taux_marge(r: dict[str, Any]) -> float | None:
    """``EBE / valeur_ajoutee × 100`` (tauxMarge.ts: tested there, not wired into Features)."""
    ebe, va = r.get("excedent_brut_d_exploitation"), r.get("valeur_ajoutee")
    return None if ebe is None or va is None or va == 0 else ebe / va * 100


_RECOMPUTED = (("poids_frng", poids_frng), ("dette_fiscale", dette_fiscale), ("frais_financier", frais_financier))
_BDF_PAST_FROM_DIANE = ("taux_marge", "poids_frng", "dette_fiscale", "financier_court_terme", "frais_financier")


def diane(records: dict[str, dict[str, Any]], axis: np.ndarray, cols: Columns, where: str) -> None:
    """Write Diane fields, their ``_past_k`` and the recomputed BdF ratios into ``cols``."""
    m0, n = int(axis[0]), len(axis)
    if any(r.get("arrete_bilan_diane") for r in records.values()):
        _allocate(cols, _DIANE_COLUMNS)
    for r, first in sheets(records, "diane", m0, where):
        inside = _window(first, DIANE_VALIDITY, n)
        lagged = [(k, later) for k in YEAR_LAGS if (later := _window(first + 12 * k, DIANE_VALIDITY, n)) is not None]
        # Only the schema's fields: an unknown key would be an undocumented Features column.
        for name, value in r.items():
            pasts = _DIANE_PASTS.get(name)
            if pasts is None:
                continue
            if value is None:
                if inside is not None:
                    cols.delete(name, inside)
                continue
            if inside is not None:
                cols.put(name, inside, value)
            for k, later in lagged if pasts else ():
                cols.put(pasts[k - 1], later, value)
        if inside is None:
            continue
        derive_bdf_from_diane(r, inside, n, cols)


def derive_bdf_from_diane(r: dict[str, Any], inside: slice, n: int, cols: Columns) -> None:
    """After Diane sheet ``r`` is written on its window ``inside`` of an ``n``-month axis:
    recompute the BdF ratios the window still lacks from the sheet (``_RECOMPUTED``), then copy
    the window's BdF ratios (``_BDF_PAST_FROM_DIANE``, from BdF or recomputed) to their
    ``_past_k`` k years later, nulls included."""
    for name, formula in _RECOMPUTED:
        missing = ~cols.present(name)[inside]
        if missing.any():
            value = formula(r)
            if value is not None:
                cols.put(name, np.flatnonzero(missing) + inside.start, value)
    for name in _BDF_PAST_FROM_DIANE:
        if name not in cols.values:
            continue
        present = np.flatnonzero(cols.present(name)[inside]) + inside.start
        if len(present) == 0:
            continue
        arr = cols.values[name]
        for k in YEAR_LAGS:
            target = present + 12 * k
            keep = target < n
            if not keep.any():
                continue
            source, target = present[keep], target[keep]
            if arr.dtype == object:
                for j, t in zip(source.tolist(), target.tolist()):
                    cols.put(f"{name}_past_{k}", t, arr[j])
                continue
            values = arr[source]
            known = ~np.isnan(values)
            past = f"{name}_past_{k}"
            if known.any():
                cols.num(past)[target[known]] = values[known]
                mask = cols.nulls.get(past)
                if mask is not None:
                    mask[target[known]] = False
            if (~known).any():
                cols.set_null(past, target[~known])
