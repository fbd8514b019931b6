"""Entreprise-level variables (spec §2.11–2.14) and aggregates over the SIREN (§2.15).

:func:`entreprise_features` computes the entreprise block over the axis: base
``exercice_bdf = 0``, registry (``sirene_ul``), ``effectif_ent``, paydex, BdF, Diane. It also
returns the months where the original emits that block (quirk Q12: only months with a BdF or
Diane sheet); in fixed mode the block is used on every month.

:func:`siren_aggregates` sums over the établissements of the company, per month:
``effectif_entreprise`` (truthy headcounts), ``debit_entreprise`` (po + pp of établissements
with a truthy one) and ``nbr_etablissements_connus``; each sum is absent when no
établissement contributes, as in ``finalize.ts``.
"""

from __future__ import annotations

import numpy as np

from .columns import Columns
from .effectif import headcount_features
from .financial import bdf, diane
from .paydex import paydex
from .sirene import sirene_ul
from .state import CompanyState, FeatureParams


def entreprise_features(state: CompanyState, axis: np.ndarray, axis_years: np.ndarray, serie_last: int,
                        offset_effectif: int, params: FeatureParams) -> tuple[Columns, np.ndarray]:
    """``(columns, emitted)`` of the entreprise over ``axis``; see the module docstring."""
    n = len(axis)
    where = f"entreprise {state.siren}"
    records = state.entreprise
    cols = Columns(n)
    cols.num("exercice_bdf")[:] = 0.0
    if records.get("sirene_ul"):
        _merge(cols, sirene_ul(records["sirene_ul"], axis_years, where))
    if records.get("effectif_ent"):
        _merge(cols, headcount_features(records["effectif_ent"], axis, serie_last, offset_effectif,
                                        params.mode, "effectif_ent", where))
    if records.get("paydex"):
        _merge(cols, paydex(records["paydex"], axis, where))
    if records.get("bdf"):
        bdf(records["bdf"], axis, cols, where)
    if records.get("diane"):
        diane(records["diane"], axis, cols, where)
    emitted = cols.present("arrete_bilan_bdf") | cols.present("arrete_bilan_diane")
    return cols, emitted


def _merge(into: Columns, other: Columns) -> None:
    """Copy the columns of ``other`` into ``into`` (``other`` wins where it has a value or null)."""
    for name, arr in other.values.items():
        mask = other.nulls.get(name)
        if name not in into.values:
            into.values[name] = arr.copy()
            if mask is not None:
                into.nulls[name] = mask.copy()
            continue
        present = other.present(name)
        target = into.values[name]
        if target.dtype != object and arr.dtype == object:
            target = into.values[name] = np.array([None if np.isnan(v) else v for v in target], dtype=object)
        if target.dtype == object and arr.dtype != object:
            target[present] = [None if np.isnan(v) else v for v in arr[present]]
        else:
            target[present] = arr[present]
        if mask is not None:
            into.null_mask(name)[present] = mask[present]
        elif name in into.nulls:
            into.nulls[name][present] = False


merge_columns = _merge


def siren_aggregates(etablissements: list[Columns], n: int) -> dict[str, np.ndarray]:
    """``effectif_entreprise``, ``debit_entreprise`` (NaN = absent) and ``nbr_etablissements_connus``."""
    effectif = np.zeros(n)
    has_effectif = np.zeros(n, dtype=bool)
    debit = np.zeros(n)
    has_debit = np.zeros(n, dtype=bool)
    for cols in etablissements:
        e = cols.values.get("effectif")
        if e is not None:
            truthy = ~np.isnan(e) & (e != 0)
            effectif[truthy] += e[truthy]
            has_effectif |= truthy
        po = cols.values.get("montant_part_ouvriere")
        pp = cols.values.get("montant_part_patronale")
        if po is not None and pp is not None:
            po0, pp0 = np.nan_to_num(po), np.nan_to_num(pp)
            truthy = (po0 != 0) | (pp0 != 0)
            debit[truthy] += po0[truthy] + pp0[truthy]
            has_debit |= truthy
    return {
        "effectif_entreprise": np.where(has_effectif, effectif, np.nan),
        "debit_entreprise": np.where(has_debit, debit, np.nan),
        "nbr_etablissements_connus": np.full(n, float(len(etablissements))),
    }
