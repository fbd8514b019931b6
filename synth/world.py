"""Simulation of one block of synthetic companies over the whole history (pure numpy).

A *block* is a fixed group of ``BLOCK_COMPANIES`` consecutive companies with its own
random streams ``numpy.random.default_rng([seed, block, stream])``; everything about a
company depends only on the seed and its block, never on how blocks are grouped into
chunks for writing. :func:`block_sizes` draws the population (company sizes and number
of establishments) and :func:`simulate_block` the rest: attributes, latent chain, lives of
the establishments, headcounts, contributions and debts, payment delays, CCSF, short-time
work, insolvency proceedings and yearly accounts. The generative rules are documented in
``sf.synth.deliveries``; the chain and its oracle in ``sf.synth.chain``.

Time is counted in *steps*: step ``k`` is the month ``calendar.first_month + k`` (absolute
month number ``year * 12 + month - 1``). Steps ``0 … calendar.observed - 1`` are delivered;
the following ``HORIZON`` steps are simulated only to realise the 18-month outcome.

Failure modes: ValueError for inconsistent arguments (empty block, bad calendar).
"""

from __future__ import annotations

import calendar as _cal
from dataclasses import dataclass, field

import numpy as np
from sf.synth import ids
from sf.synth import reference as ref
from sf.synth.chain import (
    CLOSED,
    CRITICAL,
    FAILED,
    HEALTHY,
    HORIZON,
    N_TRANSIENT,
    ChainTables,
    risk_class,
    size_class,
    step_states,
)

__all__ = [
    "BLOCK_COMPANIES",
    "PHASE_GONE",
    "PHASE_LIQUIDATION",
    "PHASE_OBSERVATION",
    "PHASE_PLAN",
    "Calendar",
    "World",
    "block_sizes",
    "simulate_block",
]

#: Companies per random-stream block (fixed: changing it changes every output).
BLOCK_COMPANIES = 1024

# Streams of a block.
_POPULATION, _ATTRIBUTES, _CHAIN, _SIGNALS = 0, 1, 2, 3

# Phases: the latent state while in bonis (0–3), then the phase of the proceedings.
PHASE_LIQUIDATION = 4   # liquidation judgment pronounced, establishments about to close
PHASE_OBSERVATION = 5   # redressement / sauvegarde observation period
PHASE_PLAN = 6          # continuation plan adopted: the company survives
PHASE_GONE = 7          # company closed (voluntarily, or its establishments all closed after liquidation)
_PHASES = 8

# Monthly drift of log-headcount by phase, and its noise.
_DRIFT = np.array([0.002, -0.008, -0.02, -0.04, -0.10, -0.03, -0.005, 0.0])
_DRIFT_SD = 0.025
# Probability that the contributions of a period are not (fully) paid, by phase.
_UNPAID = np.array([0.008, 0.08, 0.35, 0.75, 1.0, 0.05, 0.08, 0.0])
# Monthly probability that an open debt is repaid in full / in part, by phase.
_REPAY_FULL = np.array([0.6, 0.3, 0.1, 0.02, 0.0, 0.0, 0.02, 0.3])
_REPAY_PART = np.array([0.2, 0.2, 0.15, 0.05, 0.0, 0.0, 0.1, 0.1])
# Payment-delay request (per month with open debt), by phase.
_DELAI = np.array([0.02, 0.05, 0.08, 0.04, 0.0, 0.0, 0.0, 0.0])
# Short-time-work request (per month), by phase.
_AP_DEMAND = np.array([0.0015, 0.02, 0.035, 0.02, 0.0, 0.03, 0.01, 0.0])
# CCSF request (per month, company level), by phase.
_CCSF = np.array([0.0, 0.0, 0.012, 0.012, 0.0, 0.0, 0.0, 0.0])
#: Share of companies that always pay URSSAF first: their difficulties never show as debts.
URSSAF_FIRST_SHARE = 0.2
#: Share of cotisation lines missing at random, of headcount cells missing at random.
MISSING_COTISATION = 0.01
MISSING_EFFECTIF = 0.01
BIRTH_SHARE = 0.10
TRANSFER_SHARE = 0.02
LATE_SITE_SHARE = 0.15
PART_OUVRIERE = 0.3
AP_HOURLY_ALLOWANCE = 8.6
HOURS_PER_MONTH = 151.67


@dataclass(frozen=True)
class Calendar:
    """Months of a generation: ``first_month`` (absolute month of step 0), ``pre`` steps of
    history before the first batch's data month, the batch keys (YYMM) in order."""

    first_month: int
    pre: int
    batches: tuple[str, ...]

    @property
    def observed(self) -> int:
        """Number of delivered steps (history + one per batch)."""
        return self.pre + len(self.batches)

    @property
    def total(self) -> int:
        """Number of simulated steps (delivered + outcome horizon)."""
        return self.observed + HORIZON

    def data_step(self, batch: int) -> int:
        """Step of the data month of batch number ``batch`` (the month before its key)."""
        return self.pre + batch

    def year_month(self, step: int) -> tuple[int, int]:
        """(year, month 1–12) of a step."""
        year, month0 = divmod(self.first_month + step, 12)
        return year, month0 + 1

    @staticmethod
    def for_batches(end_batch: str, months: int, pre: int) -> Calendar:
        """Calendar of ``months`` monthly batches ending with ``end_batch`` (YYMM), with
        ``pre`` months of history before the first batch's data month."""
        if len(end_batch) != 4 or not end_batch.isdigit() or not 1 <= int(end_batch[2:]) <= 12:
            raise ValueError(f"end batch must be YYMM, got {end_batch!r}")
        if months < 1:
            raise ValueError(f"months must be >= 1, got {months}")
        if pre < 0:
            raise ValueError(f"history months must be >= 0, got {pre}")
        end = (2000 + int(end_batch[:2])) * 12 + int(end_batch[2:]) - 1
        first_batch = end - months + 1
        if first_batch < 2000 * 12 + 1:
            raise ValueError("batches must start after 2000-01")
        keys = []
        for absolute in range(first_batch, end + 1):
            year, month0 = divmod(absolute, 12)
            keys.append(f"{year % 100:02d}{month0 + 1:02d}")
        return Calendar(first_month=first_batch - 1 - pre, pre=pre, batches=tuple(keys))


def block_sizes(seed: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Initial headcount and number of establishments of the ``BLOCK_COMPANIES`` companies
    of a block (stream 0, nothing else drawn from it)."""
    rng = np.random.default_rng([seed, block, _POPULATION])
    size = np.clip(np.rint(np.exp(rng.normal(np.log(18.0), 1.2, BLOCK_COMPANIES))), 1, 20_000).astype(np.int64)
    extra = rng.poisson((size / 40.0) ** 0.8)
    sites = 1 + np.minimum(extra, 299)
    return size, sites


@dataclass
class World:
    """Everything simulated for one block. Arrays indexed by company ``c`` (``n_c``) or by
    establishment ``e`` (``n_e``, grouped by company, siège first) and step ``k``."""

    calendar: Calendar
    # companies
    company_index: np.ndarray          # global company index
    siren: list[str]
    size: np.ndarray                   # initial headcount
    klass: np.ndarray                  # risk class
    activity: np.ndarray               # index in ref.ACTIVITIES
    legal: np.ndarray                  # index in ref.LEGAL_FORMS
    name: list[str]                    # denomination (or "NOM PRENOM" for individuals)
    surname: list[str]
    first_name: list[str]
    creation: list[tuple[int, int, int]]
    birth_step: np.ndarray             # first step of existence (0 for pre-existing companies)
    urssaf_first: np.ndarray           # bool
    diane_covered: np.ndarray          # bool
    state: np.ndarray                  # (n_c, K) int8: −1 before birth, 0–3, FAILED, CLOSED
    phase: np.ndarray                  # (n_c, K) int8: −1 before birth, 0–3, PHASE_*
    fail_step: np.ndarray              # opening judgment step or −1
    procol_events: list[tuple[int, int, int, str]]  # (company, step, day, label) by step
    first_site: np.ndarray             # index of the company's first establishment
    n_sites: np.ndarray
    # establishments
    site_company: np.ndarray
    site_number: np.ndarray
    site_global: np.ndarray            # global establishment index
    siret: list[str]
    territory: np.ndarray
    street: list[tuple[str, str, str]]  # (number, type code, street name)
    commune: list[str]
    postal_number: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    site_creation: list[tuple[int, int, int]]
    open_from: np.ndarray
    open_to: np.ndarray                # first step closed (K when open to the end)
    quarterly: np.ndarray              # pays contributions quarterly
    accounts: list[tuple[str, str]]    # (first account, account after transfer or "")
    transfer_step: np.ndarray          # −1 when no transfer
    effectif: np.ndarray               # (n_e, K) int32, 0 when closed
    effectif_missing: np.ndarray       # (n_e, K) bool: cell left empty in every delivery
    wage: np.ndarray                   # contributions per head and month (€)
    # URSSAF flows
    cotisations: tuple[np.ndarray, ...] = ()
    #   arrays (site, step written, period first step, due €, paid €); a quarterly
    #   declaration has first step < step written
    debts: tuple[np.ndarray, ...] = ()
    #   arrays (site, created step, period first step, quarterly 0/1), indexed by debt number
    debt_events: list[tuple[int, int, int, int, int, int, int, str]] = field(default_factory=list)
    #   (debt, step, day, hist number, po cents, pp cents, operation code, motif), sorted by step;
    #   an event of step k is treated (dated) in the month of step k + 1
    delais: list[tuple[int, int, int, int, float]] = field(default_factory=list)
    #   (site, step, day, months, amount €)
    ccsf: list[tuple[int, int, int, str]] = field(default_factory=list)
    #   (company, step, day, stade) on the siège's account
    ap_demands: list[tuple[int, int, int, int, int, int, int, float, int, int, int]] = field(default_factory=list)
    #   (site, number, step, day, months, eff_etab, eff_ent, hta, eff_auto, motif, perimetre)
    ap_consumptions: list[tuple[int, int, float, int]] = field(default_factory=list)
    #   (demand, step, hours, effectif)
    diane: dict[tuple[int, int], dict[str, float]] = field(default_factory=dict)
    #   (company, year) -> figures

    @property
    def n_companies(self) -> int:
        return len(self.siren)

    @property
    def n_establishments(self) -> int:
        return len(self.siret)

    def account_at(self, site: int, step: int) -> str:
        """URSSAF account of ``site`` in force at ``step``."""
        first, second = self.accounts[site]
        transfer = int(self.transfer_step[site])
        return second if transfer >= 0 and step >= transfer else first

    def month_day(self, step: int, day: int) -> tuple[int, int, int]:
        """(year, month, day) of ``day`` in the month of ``step``, clipped to the month."""
        year, month = self.calendar.year_month(step)
        return year, month, min(day, _cal.monthrange(year, month)[1])


def _pick(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    return rng.choice(len(weights), size=n, p=weights)


def _past_date(rng: np.random.Generator, first_month: int, mean_years: float) -> tuple[int, int, int]:
    """A date before ``first_month`` (absolute), roughly exponential in age."""
    months_back = 1 + int(rng.exponential(mean_years * 12))
    absolute = max(first_month - months_back, 1950 * 12)
    year, month0 = divmod(absolute, 12)
    return year, month0 + 1, int(rng.integers(1, 29))


def simulate_block(seed: int, block: int, sites_per_company: np.ndarray, size: np.ndarray,
                   calendar: Calendar, tables: ChainTables, first_site_global: int) -> World:
    """Simulate the companies of one block.

    ``sites_per_company`` and ``size`` come from :func:`block_sizes` (possibly truncated:
    the last block of a generation holds fewer companies, and its last company fewer
    establishments, so the total matches the requested number); ``first_site_global`` is
    the global index of the block's first establishment.
    """
    n_c = len(sites_per_company)
    if n_c == 0 or len(size) != n_c:
        raise ValueError("a block needs at least one company and one size per company")
    K = calendar.total
    observed = calendar.observed
    attrs = np.random.default_rng([seed, block, _ATTRIBUTES])
    chain = np.random.default_rng([seed, block, _CHAIN])
    sig = np.random.default_rng([seed, block, _SIGNALS])

    company_index = block * BLOCK_COMPANIES + np.arange(n_c)
    siren = [ids.siren_from_index(int(i), seed) for i in company_index]

    # ---- company attributes -------------------------------------------------------------
    activity = _pick(attrs, ref.ACTIVITY_WEIGHTS, n_c)
    group = np.array([ref.ACTIVITIES[a].group for a in activity])
    klass = risk_class(group, size_class(size))
    legal = _pick(attrs, ref.LEGAL_FORM_WEIGHTS, n_c)
    legal[size >= 250] = 4   # large companies are SA
    legal[(legal == 3) & (size >= 20)] = 1  # individual entrepreneurs stay small
    surname_idx = attrs.integers(0, len(ref.SURNAMES), n_c)
    first_idx = attrs.integers(0, len(ref.FIRST_NAMES), n_c)
    word_idx = attrs.integers(0, 100, n_c)
    style = attrs.integers(0, 4, n_c)
    surname = [ref.SURNAMES[i] for i in surname_idx]
    first_name = [ref.FIRST_NAMES[i] for i in first_idx]
    names = []
    for c in range(n_c):
        words = ref.ACTIVITY_WORDS[group[c]]
        word = words[word_idx[c] % len(words)]
        if legal[c] == 3:
            names.append(f"{surname[c]} {first_name[c]}")
        elif style[c] == 0:
            names.append(f"{word} {surname[c]}")
        elif style[c] == 1:
            names.append(f"{surname[c]} {word}")
        elif style[c] == 2:
            names.append(f"{surname[c]} ET FILS" if size[c] < 250 else f"GROUPE {surname[c]}")
        else:
            names.append(f"ETS {surname[c]}, {word}")
    birth = np.zeros(n_c, dtype=np.int64)
    born_later = attrs.random(n_c) < BIRTH_SHARE
    birth[born_later] = attrs.integers(1, max(observed, 2), born_later.sum())
    creation = []
    for c in range(n_c):
        if birth[c] > 0:
            year, month = calendar.year_month(int(birth[c]))
            creation.append((year, month, int(attrs.integers(1, 29))))
        else:
            creation.append(_past_date(attrs, calendar.first_month, 12.0))
    urssaf_first = attrs.random(n_c) < URSSAF_FIRST_SHARE
    diane_covered = attrs.random(n_c) < np.where(size >= 10, 0.7, 0.25)
    home = _pick(attrs, ref.TERRITORY_WEIGHTS, n_c)

    # ---- establishments ----------------------------------------------------------------
    n_sites = sites_per_company.astype(np.int64)
    first_site = np.concatenate(([0], np.cumsum(n_sites)[:-1]))
    n_e = int(n_sites.sum())
    site_company = np.repeat(np.arange(n_c), n_sites)
    site_number = np.arange(n_e) - first_site[site_company]
    site_global = first_site_global + np.arange(n_e)
    sirets = [ids.siret(siren[c], int(j)) for c, j in zip(site_company, site_number)]
    other_place = attrs.random(n_e) < 0.3
    territory = np.where(other_place & (site_number > 0), _pick(attrs, ref.TERRITORY_WEIGHTS, n_e), home[site_company])
    street_no = attrs.integers(1, 120, n_e)
    street_type = attrs.integers(0, len(ref.STREET_TYPES), n_e)
    street_name = attrs.integers(0, len(ref.STREETS), n_e)
    street = [(str(int(a)), ref.STREET_TYPES[b], ref.STREETS[s]) for a, b, s in zip(street_no, street_type, street_name)]
    commune_pick = attrs.integers(0, len(ref.COMMUNES) + 3, n_e)
    commune = [ref.TERRITORIES[t].town if p >= len(ref.COMMUNES) else ref.COMMUNES[p]
               for t, p in zip(territory, commune_pick)]
    postal_number = attrs.integers(0, 1000, n_e)
    lon = np.array([ref.TERRITORIES[t].lon for t in territory]) + attrs.normal(0, 0.15, n_e)
    lat = np.array([ref.TERRITORIES[t].lat for t in territory]) + attrs.normal(0, 0.1, n_e)
    # Sites open with their company, except a share of secondary sites opened later.
    open_from = birth[site_company].copy()
    late = (site_number > 0) & (attrs.random(n_e) < LATE_SITE_SHARE)
    open_from[late] = open_from[late] + attrs.integers(1, max(observed, 2), late.sum())
    open_from = np.minimum(open_from, observed - 1)
    site_creation = []
    for e in range(n_e):
        c = site_company[e]
        if late[e]:
            year, month = calendar.year_month(int(open_from[e]))
            site_creation.append((year, month, int(attrs.integers(1, 29))))
        else:
            site_creation.append(creation[c])
    # Initial headcounts: the company's size split across its sites, the siège weighing double.
    weights = attrs.gamma(np.where(site_number == 0, 2.0, 1.0))
    totals = np.bincount(site_company, weights=weights, minlength=n_c)
    share = weights / totals[site_company]
    initial_eff = np.maximum(1.0, np.rint(size[site_company] * share))
    initial_eff[late] = attrs.integers(2, 12, late.sum())
    quarterly = initial_eff < 11
    wage = np.array([ref.ACTIVITIES[activity[c]].contributions_per_head for c in site_company])
    wage = wage * np.exp(attrs.normal(0, 0.15, n_e))
    has_transfer = attrs.random(n_e) < TRANSFER_SHARE
    transfer_draw = attrs.integers(0, max(observed, 1), n_e)
    urssaf_codes = [ref.TERRITORIES[t].urssaf for t in territory]
    accounts = []
    for e in range(n_e):
        first = ids.account_number(urssaf_codes[e], int(site_global[e]), 0, seed)
        second = ids.account_number(urssaf_codes[e], int(site_global[e]), 1, seed) if has_transfer[e] else ""
        accounts.append((first, second))

    # ---- latent chain -------------------------------------------------------------------
    uniforms = chain.random((n_c, K))
    init_u = chain.random(n_c)
    state = np.full((n_c, K), -1, dtype=np.int8)
    initial_cdf = np.cumsum(tables.initial[klass], axis=1)
    initial_state = np.minimum((init_u[:, None] >= initial_cdf).sum(axis=1), N_TRANSIENT - 1).astype(np.int8)
    for k in range(K):
        if k == 0:
            alive0 = birth == 0
            state[alive0, 0] = initial_state[alive0]
        else:
            prev = state[:, k - 1]
            alive = prev >= 0
            state[alive, k] = step_states(tables, klass[alive], prev[alive].astype(np.int64), uniforms[alive, k])
            state[birth == k, k] = HEALTHY
    failed = state == FAILED
    fail_step = np.where(failed.any(axis=1), failed.argmax(axis=1), -1)

    # ---- proceedings after the opening judgment ------------------------------------------
    phase = state.copy()
    phase[state == CLOSED] = PHASE_GONE
    liquidation_close = np.full(n_c, -1, dtype=np.int64)
    procol_events: list[tuple[int, int, int, str]] = []
    action_u = chain.random(n_c)
    delays = chain.integers(0, 1000, (n_c, 6))
    for c in np.nonzero(fail_step >= 0)[0]:
        kf = int(fail_step[c])
        day = 1 + delays[c, 0] % 28
        if action_u[c] < 0.68:
            procol_events.append((c, kf, day, "Ouverture_liquidation"))
            liquidation_close[c] = kf + 1 + delays[c, 1] % 3
            procol_events.append((c, kf + 12 + delays[c, 2] % 19, 1 + delays[c, 3] % 28,
                                  "Cloture_insuffisance_actif_liquidation"))
            phase[c, kf:] = PHASE_LIQUIDATION
            phase[c, liquidation_close[c]:] = PHASE_GONE
        else:
            action = "redressement" if action_u[c] < 0.96 else "sauvegarde"
            procol_events.append((c, kf, day, f"Ouverture_{action}"))
            decision = kf + 6 + delays[c, 1] % 7
            phase[c, kf:] = PHASE_OBSERVATION
            if action == "sauvegarde" or delays[c, 4] % 100 < 45:
                procol_events.append((c, decision, 1 + delays[c, 3] % 28, f"Plan_continuation_{action}"))
                phase[c, decision:] = PHASE_PLAN
            else:
                procol_events.append((c, decision, 1 + delays[c, 3] % 28, "Ouverture_liquidation"))
                liquidation_close[c] = decision + 1 + delays[c, 5] % 3
                procol_events.append((c, decision + 12 + delays[c, 2] % 19, 1 + delays[c, 0] % 28,
                                      "Cloture_insuffisance_actif_liquidation"))
                phase[c, decision:] = PHASE_LIQUIDATION
                phase[c, liquidation_close[c]:] = PHASE_GONE
    procol_events = [event for event in procol_events if event[1] < K]
    procol_events.sort(key=lambda event: (event[1], event[0]))

    # ---- lives of the establishments ----------------------------------------------------
    closure_u = chain.random((n_e, K))
    open_to = np.full(n_e, K, dtype=np.int64)
    is_open = np.zeros(n_e, dtype=bool)
    closure_table = np.append(tables.site_closure, [0.0, 0.0])
    for k in range(K):
        company_state = state[site_company, k]
        transient = (company_state >= 0) & (company_state < N_TRANSIENT)
        if k > 0:
            hazard = closure_table[np.clip(company_state, 0, 5)]
            close = is_open & ((transient & (closure_u[:, k] < hazard)) | (company_state == CLOSED))
            liq = liquidation_close[site_company] == k
            close |= is_open & liq
            open_to[close] = k
            is_open &= ~close
        opening = (open_from == k) & transient & (open_to == K)
        is_open |= opening
    never_opened = (open_to == K) & ~is_open
    open_to[never_opened] = open_from[never_opened]  # a site whose company was gone before it opened
    transfer_step = np.full(n_e, -1, dtype=np.int64)
    for e in np.nonzero(has_transfer)[0]:
        lo, hi = int(open_from[e]) + 1, min(int(open_to[e]), observed)
        if hi - lo >= 3:
            step = lo + int(transfer_draw[e]) % (hi - lo)
            step -= (calendar.first_month + step) % 3  # transfers happen at the start of a quarter
            if step > open_from[e]:
                transfer_step[e] = step
    for e in np.nonzero(transfer_step < 0)[0]:
        if accounts[e][1]:
            accounts[e] = (accounts[e][0], "")

    # ---- headcount ----------------------------------------------------------------------
    effectif = np.zeros((n_e, K), dtype=np.int32)
    log_eff = np.log(initial_eff)
    noise = sig.normal(0.0, _DRIFT_SD, (n_e, K))
    site_phase = phase[site_company]  # (n_e, K)
    for k in range(K):
        open_k = (open_from <= k) & (k < open_to)
        started = open_from == k
        moving = open_k & ~started
        ph = np.clip(site_phase[:, k], 0, _PHASES - 1)
        log_eff = np.where(moving, log_eff + _DRIFT[ph] + noise[:, k], log_eff)
        effectif[:, k] = np.where(open_k, np.maximum(1, np.rint(np.exp(log_eff))), 0)
    effectif_missing = sig.random((n_e, K)) < MISSING_EFFECTIF

    world = World(
        calendar=calendar, company_index=company_index, siren=siren, size=size, klass=klass,
        activity=activity, legal=legal, name=names, surname=surname, first_name=first_name,
        creation=creation, birth_step=birth, urssaf_first=urssaf_first, diane_covered=diane_covered,
        state=state, phase=phase, fail_step=fail_step, procol_events=procol_events,
        first_site=first_site, n_sites=n_sites,
        site_company=site_company, site_number=site_number, site_global=site_global, siret=sirets,
        territory=territory, street=street, commune=commune, postal_number=postal_number, lon=lon, lat=lat,
        site_creation=site_creation, open_from=open_from, open_to=open_to, quarterly=quarterly,
        accounts=accounts, transfer_step=transfer_step, effectif=effectif,
        effectif_missing=effectif_missing, wage=wage,
    )
    _simulate_urssaf(world, sig, liquidation_close)
    _simulate_ccsf(world, sig)
    _simulate_activite_partielle(world, sig)
    _simulate_accounts(world, sig)
    return world


def _simulate_urssaf(world: World, rng: np.random.Generator, liquidation_close: np.ndarray) -> None:
    """Contributions due and paid, debts (écarts négatifs) and their history, payment delays.

    Dues of a period are ``headcount × contributions per head`` (± 2 %); monthly payers
    declare every month, establishments that started with fewer than 11 employees every
    quarter. Whether a period is paid depends on the company's phase (``_UNPAID``), never
    for "URSSAF first" companies while in bonis; an unpaid period is either not paid at all
    (40 %) or paid for 10–80 %. The unpaid amount becomes a debt, treated in the following
    month. Each month an open debt may be repaid in full or in part (``_REPAY_*``, more
    likely while a payment delay runs), is frozen during proceedings, and is written off
    6–12 months after a liquidation has closed the establishment. A payment delay may be
    granted on the debt outstanding at the end of a month (``_DELAI``). Only delivered
    months are simulated.
    """
    cal = world.calendar
    T = cal.observed
    n_e = world.n_establishments
    site_company = world.site_company
    steps = np.arange(T)
    open_mask = (world.open_from[:, None] <= steps) & (steps < world.open_to[:, None])
    due_month = world.effectif[:, :T] * world.wage[:, None] * (1.0 + rng.normal(0, 0.02, (n_e, T)))
    cumulative = np.concatenate([np.zeros((n_e, 1)), np.cumsum(due_month, axis=1)], axis=1)
    unpaid_u = rng.random((n_e, T))
    share_u = rng.random((n_e, T))
    absent_u = rng.random((n_e, T))
    missing_u = rng.random((n_e, T))
    creation_days = rng.integers(5, 21, (n_e, T))
    in_bonis_first = world.urssaf_first[site_company]
    site_phase = world.phase[site_company][:, :T].astype(np.int64)
    last_open = np.clip(world.open_to - 1, 0, T - 1)
    quarter_end = (cal.first_month + steps) % 3 == 2
    everyone = np.arange(n_e)

    cot_site, cot_step, cot_start, cot_due, cot_paid = [], [], [], [], []
    debt_site, debt_step, debt_start, debt_po, debt_pp, debt_motif = [], [], [], [], [], []
    for k in range(T):
        monthly = ~world.quarterly & open_mask[:, k]
        writers = monthly
        if quarter_end[k]:
            writers = writers | (world.quarterly & open_mask[:, max(k - 2, 0):k + 1].any(axis=1))
        if not writers.any():
            continue
        e = everyone[writers]
        start = np.where(world.quarterly[e], max(k - 2, 0), k)
        due = cumulative[e, k + 1] - cumulative[e, start]
        ph = site_phase[e, np.minimum(k, last_open[e])]
        p_unpaid = np.where(ph >= 0, _UNPAID[np.clip(ph, 0, _PHASES - 1)], 0.0)
        p_unpaid = np.where(in_bonis_first[e] & (ph < PHASE_LIQUIDATION), 0.0, p_unpaid)
        unpaid = np.where(unpaid_u[e, k] < p_unpaid,
                          np.where((absent_u[e, k] < 0.4) | (ph == PHASE_LIQUIDATION), 1.0, 0.2 + 0.7 * share_u[e, k]),
                          0.0)
        due = np.round(due, 2)
        paid = np.round(due * (1.0 - unpaid), 2)
        delivered = (missing_u[e, k] >= MISSING_COTISATION) & (due > 0)
        cot_site.append(e[delivered]); cot_step.append(np.full(int(delivered.sum()), k))
        cot_start.append(start[delivered]); cot_due.append(due[delivered]); cot_paid.append(paid[delivered])
        owed = np.rint((due - paid) * 100).astype(np.int64)
        new = owed > 0
        if new.any():
            po = np.rint(owed[new] * PART_OUVRIERE).astype(np.int64)
            debt_site.append(e[new]); debt_step.append(np.full(int(new.sum()), k)); debt_start.append(start[new])
            debt_po.append(po); debt_pp.append(owed[new] - po)
            debt_motif.append(np.where(unpaid[new] >= 1.0, 24, 25))

    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    world.cotisations = (cat(cot_site, np.int64), cat(cot_step, np.int64), cat(cot_start, np.int64),
                         cat(cot_due, float), cat(cot_paid, float))
    d_site, d_step, d_start = cat(debt_site, np.int64), cat(debt_step, np.int64), cat(debt_start, np.int64)
    po, pp, motif = cat(debt_po, np.int64), cat(debt_pp, np.int64), cat(debt_motif, np.int64)
    n_d = len(d_site)
    world.debts = (d_site, d_step, d_start, world.quarterly[d_site].astype(np.int64))
    events: list[tuple[int, int, int, int, int, int, int, str]] = [
        (d, int(d_step[d]), int(creation_days[d_site[d], d_step[d]]), 1, int(po[d]), int(pp[d]), 1, str(motif[d]))
        for d in range(n_d)
    ]

    # Debt histories and payment delays, month by month.
    hist = np.ones(n_d, dtype=np.int64)
    open_debt = np.zeros(n_d, dtype=bool)
    liq_close = liquidation_close[site_company[d_site]]
    write_off = np.where(liq_close >= 0, liq_close + rng.integers(6, 13, n_d), -1)
    repay_u = rng.random((n_d, T))
    part_u = rng.random((n_d, T))
    event_days = rng.integers(1, 21, (n_d, T))
    outstanding = np.zeros(n_e)
    delai_until = np.full(n_e, -1, dtype=np.int64)
    delai_u = rng.random((n_e, T))
    delai_months = rng.choice(np.array([3, 6, 9, 12, 18, 24]), size=(n_e, T), p=[0.2, 0.3, 0.15, 0.2, 0.1, 0.05])
    delai_days = rng.integers(1, 29, (n_e, T))
    for k in range(T):
        active = open_debt.copy()
        open_debt |= d_step == k
        if active.any():
            idx = np.nonzero(active)[0]
            site = d_site[idx]
            company_phase = site_phase[site, k]
            closed_site = world.open_to[site] <= k
            ph = np.where(closed_site & (company_phase < PHASE_LIQUIDATION), PHASE_GONE, company_phase)
            ph = np.clip(ph, 0, _PHASES - 1)
            helped = (delai_until[site] >= k) & (ph < CRITICAL)
            full_p = np.where(helped, np.maximum(_REPAY_FULL[ph], 0.15), _REPAY_FULL[ph])
            part_p = np.where(helped, np.maximum(_REPAY_PART[ph], 0.6), _REPAY_PART[ph])
            u = repay_u[idx, k]
            written_off = write_off[idx] == k
            full = (u < full_p) & ~written_off
            part = ~full & (u < full_p + part_p) & ~written_off
            for j in np.nonzero(full | part | written_off)[0]:
                d = int(idx[j])
                hist[d] += 1
                if full[j] or written_off[j]:
                    po[d] = pp[d] = 0
                    open_debt[d] = False
                else:
                    keep = 0.3 + 0.4 * part_u[d, k]
                    po[d] = int(po[d] * keep)
                    pp[d] = int(pp[d] * keep)
                events.append((d, k, int(event_days[d, k]), int(hist[d]), int(po[d]), int(pp[d]),
                               3 if written_off[j] else 2, str(motif[d])))
        outstanding[:] = 0.0
        if open_debt.any():
            np.add.at(outstanding, d_site[open_debt], (po[open_debt] + pp[open_debt]) / 100.0)
        # Payment-delay requests, decided on the debt left at the end of the month.
        ph_k = site_phase[:, k]
        grant = ((outstanding > 0) & (delai_until < k) & (world.open_to > k) & (ph_k >= 0)
                 & (delai_u[:, k] < _DELAI[np.clip(ph_k, 0, _PHASES - 1)]))
        for e in np.nonzero(grant)[0]:
            months = int(delai_months[e, k])
            world.delais.append((int(e), k, int(delai_days[e, k]), months, round(float(outstanding[e]), 2)))
            delai_until[e] = k + months
    events.sort(key=lambda event: (event[1], event[0], event[3]))
    world.debt_events = events


def _simulate_ccsf(world: World, rng: np.random.Generator) -> None:
    """CCSF (tax and social-security debt rescheduling commission): requested by companies
    in distress (``_CCSF``) on the siège's account, at most once in 24 months; decided 1–3
    months later (approved 65 %, refused 30 %, rejected 5 %); an approved plan ends 6–12
    months after approval. Events after the siège closed are not recorded."""
    T = world.calendar.observed
    request_u = rng.random((world.n_companies, T))
    for c in range(world.n_companies):
        siege = int(world.first_site[c])
        phase = world.phase[c, :T]
        probability = np.where(phase >= 0, _CCSF[np.clip(phase, 0, _PHASES - 1)], 0.0)
        cooldown_until = -1
        for k in np.nonzero(request_u[c] < probability)[0]:
            k = int(k)
            if k <= cooldown_until or not world.open_from[siege] <= k < world.open_to[siege]:
                continue
            u = rng.random()
            delays = rng.integers(0, 1000, 4)
            decided = k + 1 + int(delays[1]) % 3
            events = [(k, 1 + int(delays[0]) % 28, "DEBUT")]
            if u < 0.65:
                events.append((decided, 1 + int(delays[2]) % 28, "APPROB"))
                events.append((decided + 6 + int(delays[3]) % 7, 1 + int(delays[0]) % 28, "FIN"))
            elif u < 0.95:
                events.append((decided, 1 + int(delays[2]) % 28, "REFUS"))
            else:
                events.append((decided, 1 + int(delays[2]) % 28, "REJ"))
            for step, day, stade in events:
                if step < world.open_to[siege] and step < T:
                    world.ccsf.append((c, step, day, stade))
            cooldown_until = k + 24
    world.ccsf.sort(key=lambda event: (event[1], event[0]))


def _simulate_activite_partielle(world: World, rng: np.random.Generator) -> None:
    """Short-time work (activité partielle): an establishment asks for it with a phase-
    dependent monthly probability (``_AP_DEMAND``) when no authorisation is running; the
    authorisation covers the 3 or 6 following months for part of the staff; hours are
    then consumed in 85 % of the authorised months while the establishment is open."""
    K = world.calendar.observed
    n_e = world.n_establishments
    site_phase = np.clip(world.phase[world.site_company][:, :K], -1, _PHASES - 1)
    request_u = rng.random((n_e, K))
    company_eff = np.zeros((world.n_companies, K), dtype=np.int64)
    np.add.at(company_eff, world.site_company, world.effectif[:, :K])
    for e in range(n_e):
        lo, hi = int(world.open_from[e]), int(min(world.open_to[e], K))
        if hi <= lo:
            continue
        ph = site_phase[e, lo:hi]
        probability = np.where(ph >= 0, _AP_DEMAND[np.clip(ph, 0, _PHASES - 1)], 0.0)
        busy_until = -1
        number = 0
        for offset in np.nonzero(request_u[e, lo:hi] < probability)[0]:
            k = lo + int(offset)
            if k <= busy_until or number >= 16:
                continue
            months = 3 if rng.random() < 0.6 else 6
            eff = int(world.effectif[e, k])
            eff_auto = max(1, round(eff * (0.3 + 0.7 * rng.random())))
            hta = round(eff_auto * months * HOURS_PER_MONTH * (0.2 + 0.4 * rng.random()), 1)
            if world.phase[world.site_company[e], k] == HEALTHY:
                motif = int(rng.choice([3, 5, 1], p=[0.5, 0.3, 0.2]))
            else:
                motif = int(rng.choice([1, 2, 4, 5], p=[0.8, 0.05, 0.05, 0.1]))
            perimetre = int(rng.choice([1, 2, 3, 4], p=[0.8, 0.1, 0.05, 0.05]))
            demand = len(world.ap_demands)
            world.ap_demands.append((e, number, k, int(rng.integers(1, 29)), months, eff,
                                     int(company_eff[world.site_company[e], k]), hta, eff_auto, motif, perimetre))
            for month in range(k + 1, min(k + 1 + months, hi)):
                if rng.random() < 0.85:
                    hours = round(hta / months * (0.3 + 0.7 * rng.random()), 2)
                    world.ap_consumptions.append((demand, month, hours,
                                                  max(1, round(eff_auto * (0.4 + 0.6 * rng.random())))))
            busy_until = k + months
            number += 1


def _simulate_accounts(world: World, rng: np.random.Generator) -> None:
    """Yearly accounts (Diane) of covered companies: figures of year ``y`` are driven by
    the mean distress ``z`` (0 healthy … 3 critical) of the company over the simulated
    months of ``y`` — margin −4.5 points, current ratio −0.25 and debt ratio +40 points per
    unit of ``z`` — plus noise; about a quarter of the fields are left empty."""
    cal = world.calendar
    K = cal.total
    first_year = cal.year_month(0)[0]
    last_year = cal.year_month(cal.observed - 1)[0]
    company_eff = np.zeros((world.n_companies, K), dtype=np.int64)
    np.add.at(company_eff, world.site_company, world.effectif)
    steps_by_year: dict[int, list[int]] = {}
    for k in range(cal.observed):
        steps_by_year.setdefault(cal.year_month(k)[0], []).append(k)
    for c in np.nonzero(world.diane_covered)[0]:
        activity = ref.ACTIVITIES[world.activity[c]]
        for year in range(first_year, last_year + 1):
            steps = steps_by_year.get(year, [])
            if not steps:
                continue
            states = world.phase[c, steps]
            if (states < 0).all() or states[-1] >= FAILED or states[-1] < 0:
                continue  # not born yet, or failed/closed before the year's end: no accounts
            z = float(np.clip(states[states >= 0], 0, 3).mean())
            eff = int(company_eff[c, steps[-1]])
            if eff <= 0:
                continue
            turnover = eff * activity.turnover_per_head * float(np.exp(rng.normal(0, 0.25)))
            margin = 0.07 - 0.045 * z + rng.normal(0, 0.04)
            personnel = eff * activity.contributions_per_head * 12 / 0.42 / 1000.0
            ebe = turnover * margin
            result = ebe * 0.6 - turnover * 0.01 * (1 + z)
            debt_ratio = max(5.0, 60 + 40 * z + rng.normal(0, 25))
            world.diane[(int(c), year)] = {
                "effectif": float(eff),
                "ca": round(turnover, 0),
                "ebe": round(ebe, 0),
                "resultat": round(result, 0),
                "personnel": round(personnel, 0),
                "valeur_ajoutee": round(personnel + ebe, 0),
                "dettes_fiscales": round(personnel * (0.2 + 0.08 * z) * float(np.exp(rng.normal(0, 0.2))), 0),
                "liquidite": round(max(0.1, 1.6 - 0.25 * z + rng.normal(0, 0.3)), 2),
                "endettement": round(debt_ratio, 2),
                "autonomie": round(max(-50.0, 45 - 12 * z + rng.normal(0, 12)), 2),
                "rentabilite_nette": round(100 * result / max(turnover, 1.0), 2),
                "capacite_remboursement": round(max(0.0, 3 + 2.5 * z + rng.normal(0, 1.5)), 2),
                "frais_financiers": round(turnover * (0.005 + 0.006 * z), 0),
                "credit_clients": round(max(0.0, 55 + 10 * z + rng.normal(0, 15)), 0),
                "credit_fournisseurs": round(max(0.0, 60 + 18 * z + rng.normal(0, 15)), 0),
            }
