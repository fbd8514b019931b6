"""Ground truth of a synthetic generation: one row per establishment and month in bonis.

Rows: every establishment ``siret`` and month ``periode`` (first day, UTC) of the delivered
history during which the establishment is open and its company is in a transient latent
state (not yet in proceedings, not closed). Columns:

* ``oracle_p18`` — exact probability, under the generator's own process and given the
  company's latent state in that month, that the establishment receives an opening
  judgment of insolvency proceedings in one of the 18 following months
  (``chain`` module docstring);
* ``outcome_18`` — whether it actually did (realised in the generator's continuation of
  18 months beyond the last delivery, so the last rows are not censored);
* ``latent_state`` — ``healthy``, ``drifting``, ``distressed`` or ``critical``;
* ``procol_date`` — date of that establishment's opening judgment (null when none within
  the simulated horizon; it may lie after the last delivery);
* ``risk_class`` — the company's risk class (sector group × size class).

Note the difference with the engine's label: ``outcome_18`` counts judgments in months
``t+1 … t+18``; the original's ``time_til_failure <= 18`` also counts month ``t`` itself.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from sf.synth.chain import HORIZON, N_TRANSIENT, STATE_NAMES, ChainTables
from sf.synth.world import World

__all__ = ["TRUTH_SCHEMA", "truth_table"]

TRUTH_SCHEMA = pa.schema([
    ("siret", pa.string()),
    ("siren", pa.string()),
    ("periode", pa.timestamp("ms", tz="UTC")),
    ("oracle_p18", pa.float64()),
    ("outcome_18", pa.bool_()),
    ("latent_state", pa.dictionary(pa.int8(), pa.string())),
    ("procol_date", pa.timestamp("ms", tz="UTC")),
    ("risk_class", pa.int8()),
])

_EPOCH_MONTH = 1970 * 12


def _month_starts(absolute_months: np.ndarray) -> np.ndarray:
    return (np.datetime64("1970-01", "M") + (absolute_months - _EPOCH_MONTH).astype("timedelta64[M]")).astype(
        "datetime64[ms]")


def truth_table(world: World, tables: ChainTables) -> pa.Table:
    """Truth rows of one block (grouped by establishment, then month)."""
    cal = world.calendar
    T = cal.observed
    steps = np.arange(T)
    company = world.site_company
    state = world.state[company][:, :T]
    in_bonis = (state >= 0) & (state < N_TRANSIENT)
    alive = in_bonis & (world.open_from[:, None] <= steps) & (steps < world.open_to[:, None])
    site_idx, step_idx = np.nonzero(alive)
    comp_idx = company[site_idx]
    row_state = state[site_idx, step_idx].astype(np.int8)
    klass = world.klass[comp_idx]
    oracle = tables.oracle[klass, row_state]
    fail = world.fail_step[comp_idx]
    receives = (fail >= 0) & (world.open_from[site_idx] <= fail) & (fail < world.open_to[site_idx])
    outcome = receives & (fail > step_idx) & (fail <= step_idx + HORIZON)

    opening_day = np.zeros(world.n_companies, dtype=np.int64)
    for c, k, day, _label in world.procol_events:
        if k == world.fail_step[c] and opening_day[c] == 0:
            opening_day[c] = day
    fail_month = _month_starts(cal.first_month + np.maximum(fail, 0))
    procol_date = fail_month + ((opening_day[comp_idx] - 1) * 86_400_000).astype("timedelta64[ms]")

    siret = np.asarray(world.siret, dtype=object)[site_idx]
    siren = np.asarray(world.siren, dtype=object)[comp_idx]
    return pa.Table.from_arrays([
        pa.array(siret, pa.string()),
        pa.array(siren, pa.string()),
        pa.array(_month_starts(cal.first_month + step_idx), pa.timestamp("ms", tz="UTC")),
        pa.array(oracle, pa.float64()),
        pa.array(outcome, pa.bool_()),
        pa.DictionaryArray.from_arrays(pa.array(row_state, pa.int8()), pa.array(STATE_NAMES[:N_TRANSIENT])),
        pa.array(procol_date, pa.timestamp("ms", tz="UTC"), mask=~receives),
        pa.array(klass.astype(np.int8), pa.int8()),
    ], schema=TRUTH_SCHEMA)
