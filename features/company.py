"""Entreprise-level variables (docs/features.md §2.11–2.14) and aggregates over the SIREN (§2.15).

:func:`entreprise_rows` computes the entreprise block of many companies over the axis: base
``exercice_bdf = 0``, registry (``sirene_ul``), ``effectif_ent``, paydex, BdF, Diane. It also
returns the months where the original emits that block (quirk Q12: only months with a BdF or
Diane sheet); in fixed mode the block is used on every month.

:func:`siren_aggregates` sums over the établissements of the company, per month:
``effectif_entreprise`` (truthy headcounts), ``debit_entreprise`` (po + pp of établissements
with a truthy one) and ``nbr_etablissements_connus``; each sum is absent when no
établissement contributes, as in ``finalize.ts``.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .columns import Columns, merge_columns, stack_columns, update_row
from .effectif import headcount_rows
from .financial import bdf, diane
from .paydex import paydex
from .sirene import sirene_ul_rows
from .state import CompanyState, FeatureParams


def entreprise_rows(states: list[CompanyState], axis: np.ndarray, axis_years: np.ndarray, serie_last: int,
                    offset_effectif: int, params: FeatureParams) -> tuple[Columns, np.ndarray]:
    """``(columns, emitted)`` of the entreprises of ``states`` over ``axis``, one row per company.

    See the module docstring; ``emitted[c]`` marks the months where the original emits
    company c's block. Raises :class:`FeatureInputError` on a malformed record, naming the
    entreprise.
    """
    n = len(axis)
    cols = Columns(n, rows=len(states))
    cols.num("exercice_bdf")[:] = 0.0
    wheres = [f"entreprise {state.siren}" for state in states]

    def having(kind: str) -> list[int]:
        return [c for c, state in enumerate(states) if state.entreprise.get(kind)]

    subset = having("sirene_ul")
    if subset:
        merge_columns(cols, sirene_ul_rows([states[c].entreprise["sirene_ul"] for c in subset], axis_years,
                                           [wheres[c] for c in subset]), np.array(subset))
    subset = having("effectif_ent")
    if subset:
        merge_columns(cols, headcount_rows([states[c].entreprise["effectif_ent"] for c in subset], axis, serie_last,
                                           offset_effectif, params.mode, "effectif_ent", [wheres[c] for c in subset]),
                      np.array(subset))
    subset = having("paydex")
    if subset:
        merge_columns(cols, stack_columns([paydex(states[c].entreprise["paydex"], axis, wheres[c]) for c in subset],
                                          n), np.array(subset))
    for c, state in enumerate(states):
        if state.entreprise.get("bdf") or state.entreprise.get("diane"):
            update_row(cols, c, partial(_yearly_accounts, state.entreprise, axis, wheres[c]))
    emitted = cols.present("arrete_bilan_bdf") | cols.present("arrete_bilan_diane")
    return cols, emitted


def _yearly_accounts(records: dict, axis: np.ndarray, where: str, cols: Columns) -> None:
    """Write the BdF then the Diane columns of one entreprise (Diane completes the BdF ratios)."""
    if records.get("bdf"):
        bdf(records["bdf"], axis, cols, where)
    if records.get("diane"):
        diane(records["diane"], axis, cols, where)


def siren_aggregates(etablissements: Columns, starts: np.ndarray) -> dict[str, np.ndarray]:
    """``effectif_entreprise``, ``debit_entreprise`` (NaN = absent) and ``nbr_etablissements_connus``.

    ``etablissements``: one row per établissement, the rows of each company contiguous;
    ``starts``: the first row of each company (ascending, every company has a row). Returns
    arrays of shape ``(companies, n)``; the sums add the établissements in row order.
    """
    shape = etablissements.shape
    e = etablissements.values.get("effectif")
    e = np.full(shape, np.nan) if e is None else e
    effectif_truthy = ~np.isnan(e) & (e != 0)
    po = etablissements.values.get("montant_part_ouvriere")
    pp = etablissements.values.get("montant_part_patronale")
    po0 = np.zeros(shape) if po is None else np.nan_to_num(po)
    pp0 = np.zeros(shape) if pp is None else np.nan_to_num(pp)
    debit_truthy = (po0 != 0) | (pp0 != 0)
    counts = np.diff(np.append(starts, shape[0]))
    return {
        "effectif_entreprise": company_totals(e, effectif_truthy, starts),
        "debit_entreprise": company_totals(po0 + pp0, debit_truthy, starts),
        "nbr_etablissements_connus": np.repeat(counts.astype(float)[:, None], shape[1], axis=1),
    }


def company_totals(values: np.ndarray, counted: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per company and month, the sum of ``values`` over the rows where ``counted``; NaN where
    no row of the company is counted (``finalize.ts``: the sum is then absent).

    ``starts``: first row of each company (the rows of a company contiguous). The values are
    added in row order from 0, as a loop over the établissements would (``np.add.at`` is
    unbuffered; ``reduceat`` may add in another order and differ in the last bit).
    """
    counts = np.diff(np.append(starts, len(values)))
    total = np.zeros((len(starts),) + values.shape[1:])
    np.add.at(total, np.repeat(np.arange(len(starts)), counts), np.where(counted, values, 0.0))
    return np.where(np.logical_or.reduceat(counted, starts, axis=0), total, np.nan)
