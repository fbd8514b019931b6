"""The synthetic generator's building blocks: identifiers, latent chain and oracle, one block's world."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sf.synth import ids
from sf.synth.chain import (
    CLOSED,
    FAILED,
    HEALTHY,
    HORIZON,
    N_CLASSES,
    N_TRANSIENT,
    chain_tables,
    company_transition,
    step_states,
)
from sf.synth.truth import truth_table
from sf.synth.world import (
    BLOCK_COMPANIES,
    Calendar,
    block_sizes,
    simulate_block,
)

TABLES = chain_tables()


# ---- identifiers -----------------------------------------------------------------------------

@given(st.lists(st.integers(min_value=0, max_value=ids.SIREN_CAPACITY - 1), min_size=1, max_size=50, unique=True),
       st.integers(min_value=0, max_value=2**31))
def test_sirens_are_unique_luhn_valid_strings_outside_the_reserved_range(indexes, seed):
    sirens = [ids.siren_from_index(i, seed) for i in indexes]
    assert len(set(sirens)) == len(sirens)
    for siren in sirens:
        assert len(siren) == 9 and siren.isdigit() and ids.is_luhn_valid(siren)
        assert not siren.startswith("9"), "the 9… range is reserved for unknown-key broken lines"


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=9998), st.integers(0, 1000))
def test_sirets_extend_their_siren_and_pass_luhn(index, site, seed):
    siren = ids.siren_from_index(index, seed)
    siret = ids.siret(siren, site)
    assert len(siret) == 14 and siret.startswith(siren) and ids.is_luhn_valid(siret)


def test_leading_zeros_happen_and_identifiers_stay_strings():
    sirens = [ids.siren_from_index(i, 5) for i in range(2000)]
    assert any(s.startswith("0") for s in sirens)
    accounts = {ids.account_number("117", i, v, 5) for i in range(500) for v in (0, 1)}
    assert len(accounts) == 1000 and all(len(a) == 18 and a.isdigit() for a in accounts)
    demands = {ids.demand_id(i, n, 5)[:9] for i in range(300) for n in range(16)}
    assert len(demands) == 300 * 16, "demands must be unique in their first 9 characters"


def test_unknown_keys_never_collide_with_the_population():
    rng = np.random.default_rng(0)
    assert all(ids.unknown_siren(rng).startswith("9") for _ in range(100))
    assert all(ids.unknown_account(rng).startswith(ids.UNKNOWN_URSSAF_CODE) for _ in range(100))


def test_identifier_capacity_is_checked():
    with pytest.raises(ValueError):
        ids.siren_from_index(ids.SIREN_CAPACITY, 1)
    with pytest.raises(ValueError):
        ids.demand_id(0, 16, 1)


# ---- chain and oracle ------------------------------------------------------------------------

def test_transition_matrices_are_stochastic_with_absorbing_exits():
    for klass in range(N_CLASSES):
        matrix = company_transition(klass)
        assert np.all(matrix >= 0) and np.allclose(matrix.sum(axis=1), 1.0)
        assert matrix[FAILED, FAILED] == 1.0 and matrix[CLOSED, CLOSED] == 1.0
        assert matrix[HEALTHY, FAILED] > 0, "some failures come without warning"


def test_oracle_is_a_probability_increasing_towards_failure():
    oracle = TABLES.oracle
    assert oracle.shape == (N_CLASSES, N_TRANSIENT)
    assert np.all((oracle > 0) & (oracle < 1))
    assert np.all(np.diff(oracle, axis=1) > 0), "healthy < drifting < distressed < critical in every class"


def test_most_companies_never_fail_a_few_percent_a_year():
    for klass in range(N_CLASSES):
        matrix = company_transition(klass)
        yearly = TABLES.initial[klass] @ np.linalg.matrix_power(matrix, 12)[:N_TRANSIENT, FAILED]
        assert 0.005 < yearly < 0.06
    assert TABLES.initial[:, HEALTHY].min() > 0.6


def test_oracle_equals_monte_carlo_of_the_establishment_process():
    """Simulate the process described in sf.synth.chain (company step, then closure of the
    open establishment by the new state's hazard) and compare with (Q^18)[s, F]."""
    rng = np.random.default_rng(2024)
    n = 60_000
    for klass in (0, 13):
        for start in range(N_TRANSIENT):
            state = np.full(n, start, dtype=np.int64)
            open_site = np.ones(n, dtype=bool)
            hit = np.zeros(n, dtype=bool)
            for _ in range(HORIZON):
                live = open_site & ~hit
                nxt = step_states(TABLES, np.full(n, klass), state, rng.random(n)).astype(np.int64)
                hit |= live & (nxt == FAILED)
                transient = nxt < N_TRANSIENT
                closes = live & ((nxt == CLOSED) | (transient & (rng.random(n) < TABLES.site_closure[np.minimum(nxt, 3)])))
                open_site &= ~closes
                state = np.where(live, nxt, state)
            expected = TABLES.oracle[klass, start]
            se = np.sqrt(expected * (1 - expected) / n)
            assert abs(hit.mean() - expected) < 4 * se + 1e-4, (klass, start, hit.mean(), expected)


# ---- one block -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world():
    calendar = Calendar.for_batches("2312", 24, 24)
    size, sites = block_sizes(99, 0)
    return simulate_block(99, 0, sites, size, calendar, TABLES, 0)


def test_calendar_keys_and_steps():
    cal = Calendar.for_batches("2312", 36, 24)
    assert cal.batches[0] == "2101" and cal.batches[-1] == "2312" and list(cal.batches) == sorted(cal.batches)
    assert cal.year_month(cal.data_step(0)) == (2020, 12)
    assert cal.year_month(cal.data_step(35)) == (2023, 11)
    with pytest.raises(ValueError):
        Calendar.for_batches("2313", 3, 0)
    with pytest.raises(ValueError):
        Calendar.for_batches("2312", 0, 0)


def test_block_is_deterministic(world):
    size, sites = block_sizes(99, 0)
    again = simulate_block(99, 0, sites, size, world.calendar, TABLES, 0)
    assert again.siret == world.siret
    assert np.array_equal(again.state, world.state) and np.array_equal(again.effectif, world.effectif)
    assert again.debt_events == world.debt_events and again.procol_events == world.procol_events


def test_population_is_heavy_tailed_and_multi_site(world):
    assert len(world.siren) == BLOCK_COMPANIES
    assert world.n_sites.max() >= 5 and (world.n_sites == 1).mean() > 0.5
    assert world.size.max() > 20 * np.median(world.size)


def _per_state(world, values: np.ndarray) -> list[float]:
    """Mean of a (site, step) quantity over open site-months, by company latent state."""
    T = world.calendar.observed
    steps = np.arange(T)
    state = world.state[world.site_company][:, :T]
    open_ = (world.open_from[:, None] <= steps) & (steps < world.open_to[:, None])
    return [float(values[open_ & (state == s)].mean()) for s in range(N_TRANSIENT)]


def test_signals_get_stronger_with_distress(world):
    T = world.calendar.observed
    n_e = world.n_establishments
    debt_created = np.zeros((n_e, T))
    d_site, d_step = world.debts[0], world.debts[1]
    np.add.at(debt_created, (d_site, d_step), 1.0)
    growth = np.zeros((n_e, T))
    eff = world.effectif[:, :T].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth[:, 1:] = np.where((eff[:, 1:] > 0) & (eff[:, :-1] > 0), np.log(eff[:, 1:] / eff[:, :-1]), 0.0)
    requests = np.zeros((n_e, T))
    for e, _n, k, *_rest in world.ap_demands:
        requests[e, k] += 1
    debts = _per_state(world, debt_created)
    assert debts[0] < debts[1] < debts[2] < debts[3]
    headcount = _per_state(world, growth)
    assert headcount[0] > headcount[2] and headcount[0] > headcount[3]
    short_time = _per_state(world, requests)
    assert short_time[0] < short_time[1] and short_time[0] < short_time[2]


def test_truth_rows_stop_at_the_opening_judgment(world):
    table = truth_table(world, TABLES).to_pandas()
    assert set(table["latent_state"].astype(str)) <= {"healthy", "drifting", "distressed", "critical"}
    assert table["oracle_p18"].between(0, 1).all()
    failed = table[table["procol_date"].notna()]
    months_ahead = ((failed["procol_date"].dt.year - failed["periode"].dt.year) * 12
                    + failed["procol_date"].dt.month - failed["periode"].dt.month)
    assert (months_ahead >= 1).all(), "no row in or after the month of the opening judgment"
    assert (failed["outcome_18"] == (months_ahead <= HORIZON)).all()
    assert (table.loc[table["procol_date"].isna(), "outcome_18"] == False).all()


def test_realised_outcomes_agree_with_the_oracle(world):
    """Loose statistical check on one block (rows of one site are correlated)."""
    table = truth_table(world, TABLES).to_pandas()
    grouped = table.groupby(table["latent_state"].astype(str)).agg(oracle=("oracle_p18", "mean"),
                                                                   outcome=("outcome_18", "mean"))
    for state in ("healthy", "drifting"):
        assert abs(grouped.loc[state, "outcome"] - grouped.loc[state, "oracle"]) < 0.5 * grouped.loc[state, "oracle"] + 0.01
    assert grouped.loc["healthy", "outcome"] < grouped.loc["distressed", "outcome"] < grouped.loc["critical", "outcome"]


@settings(max_examples=5, deadline=None)
@given(st.integers(min_value=0, max_value=10**6))
def test_block_sizes_depend_only_on_seed_and_block(seed):
    a = block_sizes(seed, 3)
    b = block_sizes(seed, 3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[1].min() >= 1 and a[0].min() >= 1
