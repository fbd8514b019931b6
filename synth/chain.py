"""The latent monthly Markov chain of the synthetic generator and its exact oracle.

Company states (one value per company and month):

====  ============  =======================================================================
code  name          meaning
====  ============  =======================================================================
0     healthy       pays on time, headcount stable or growing
1     drifting      first difficulties: occasional unpaid contributions, headcount eroding
2     distressed    recurrent unpaid contributions, payment-delay requests, short-time work
3     critical      cessation of payments in all but name: most contributions unpaid
4     failed        absorbing: the month of the opening judgment of insolvency proceedings
5     closed        absorbing: voluntary closure (cessation amiable), no proceedings
====  ============  =======================================================================

Transitions happen between consecutive months with the probabilities of
:func:`company_transition`. Heterogeneity comes from a *risk class* (sector group × size
class): its multiplier scales the entry into difficulty (healthy → drifting) and the sudden
failure of a healthy company (healthy → failed, "failure without warning").

Establishments: while its company is in a transient state, an open establishment closes
at the start of a month with probability ``SITE_CLOSURE[s']`` where ``s'`` is the company's
state in that month (sites of companies in difficulty close more often). When the company
fails, every establishment open in that month receives the judgment; when it closes
voluntarily, every establishment closes.

Oracle. For an establishment open in month ``t`` whose company is in transient state
``s``, the probability that the establishment receives an opening judgment in one of the
months ``t+1 … t+18`` is ``(Q^18)[s, FAILED]`` where ``Q`` is the 6×6 chain on
{four transient states with the establishment open, failure reached, establishment gone}:

    Q[s, s'] = P[s, s'] · (1 − c[s'])           s' transient
    Q[s, F]  = P[s, F]
    Q[s, G]  = P[s, X] + Σ_{s'} P[s, s'] · c[s']

F and G are absorbing, so the matrix power gives the probability of reaching F within
18 steps before G. This is exact for the generator's process (the signals are noisy
functions of the path and never feed back into the hazard).

Everything here is pure numpy; failure modes: ValueError on out-of-range classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sf.features.target import HORIZON as TARGET_HORIZON

__all__ = [
    "CLOSED",
    "CRITICAL",
    "DISTRESSED",
    "DRIFTING",
    "FAILED",
    "HEALTHY",
    "HORIZON",
    "N_CLASSES",
    "N_TRANSIENT",
    "SECTOR_GROUPS",
    "SECTOR_RISK",
    "SITE_CLOSURE",
    "SIZE_LIMITS",
    "SIZE_RISK",
    "STATE_NAMES",
    "ChainTables",
    "chain_tables",
    "company_transition",
    "risk_class",
    "site_chain",
    "size_class",
    "step_states",
]

HEALTHY, DRIFTING, DISTRESSED, CRITICAL, FAILED, CLOSED = range(6)
N_TRANSIENT = 4
STATE_NAMES: tuple[str, ...] = ("healthy", "drifting", "distressed", "critical", "failed", "closed")

#: Sector groups of the NAF codes used by the generator and their risk multipliers
#: (hospitality and construction fail more often than industry and business services).
SECTOR_GROUPS: tuple[str, ...] = (
    "industrie", "construction", "commerce", "transport", "hebergement_restauration", "services",
)
SECTOR_RISK: tuple[float, ...] = (0.75, 1.35, 1.0, 1.1, 1.55, 0.85)

#: Size classes by the company's initial headcount: < 10, 10–49, ≥ 50 employees.
SIZE_LIMITS: tuple[int, int] = (10, 50)
SIZE_RISK: tuple[float, ...] = (1.3, 1.0, 0.65)
N_CLASSES = len(SECTOR_GROUPS) * len(SIZE_RISK)

#: Monthly closure probability of an open establishment, by its company's state that month.
SITE_CLOSURE: tuple[float, ...] = (0.0008, 0.0015, 0.003, 0.006)

#: Oracle horizon in months: the target's (``sf.features.target.HORIZON``).
HORIZON = TARGET_HORIZON

# Base monthly transition probabilities (off-diagonal); the diagonal completes each row.
# Calibrated so that about 2.5 % of companies a year enter insolvency proceedings (1.3 %
# in the safest class, 4.4 % in the riskiest), about 7 % of them straight from "healthy".
_BASE: dict[tuple[int, int], float] = {
    (HEALTHY, DRIFTING): 0.011, (HEALTHY, FAILED): 0.0002, (HEALTHY, CLOSED): 0.0015,
    (DRIFTING, HEALTHY): 0.05, (DRIFTING, DISTRESSED): 0.035, (DRIFTING, FAILED): 0.0008,
    (DRIFTING, CLOSED): 0.002,
    (DISTRESSED, HEALTHY): 0.012, (DISTRESSED, DRIFTING): 0.04, (DISTRESSED, CRITICAL): 0.05,
    (DISTRESSED, FAILED): 0.004, (DISTRESSED, CLOSED): 0.003,
    (CRITICAL, DISTRESSED): 0.05, (CRITICAL, FAILED): 0.10, (CRITICAL, CLOSED): 0.004,
}
_SCALED = {(HEALTHY, DRIFTING), (HEALTHY, FAILED)}


def size_class(headcount: np.ndarray | int) -> np.ndarray:
    """Size class 0/1/2 of initial company headcounts (< 10, 10–49, ≥ 50)."""
    return np.searchsorted(np.asarray(SIZE_LIMITS), np.asarray(headcount), side="right")


def risk_class(sector_group: np.ndarray | int, size: np.ndarray | int) -> np.ndarray:
    """Risk class index ``sector_group * 3 + size_class``."""
    sector = np.asarray(sector_group)
    size_arr = np.asarray(size)
    if np.any((sector < 0) | (sector >= len(SECTOR_GROUPS))) or np.any((size_arr < 0) | (size_arr >= len(SIZE_RISK))):
        raise ValueError("sector group or size class out of range")
    return sector * len(SIZE_RISK) + size_arr


def _multiplier(klass: int) -> float:
    if not 0 <= klass < N_CLASSES:
        raise ValueError(f"risk class {klass} outside [0, {N_CLASSES})")
    sector, size = divmod(klass, len(SIZE_RISK))
    return SECTOR_RISK[sector] * SIZE_RISK[size]


def company_transition(klass: int) -> np.ndarray:
    """6×6 monthly transition matrix of a company of risk class ``klass`` (rows sum to 1)."""
    m = _multiplier(klass)
    matrix = np.zeros((6, 6))
    for (src, dst), p in _BASE.items():
        matrix[src, dst] = p * m if (src, dst) in _SCALED else p
    for state in range(N_TRANSIENT):
        matrix[state, state] = 1.0 - matrix[state].sum()
    matrix[FAILED, FAILED] = 1.0
    matrix[CLOSED, CLOSED] = 1.0
    return matrix


def site_chain(company: np.ndarray) -> np.ndarray:
    """Chain of one establishment: transient company states with the site open, then
    "failure reached" (index 4) and "gone" (index 5), both absorbing (see module doc)."""
    closure = np.asarray(SITE_CLOSURE)
    chain = np.zeros((6, 6))
    transient = company[:N_TRANSIENT, :N_TRANSIENT]
    chain[:N_TRANSIENT, :N_TRANSIENT] = transient * (1.0 - closure)[None, :]
    chain[:N_TRANSIENT, FAILED] = company[:N_TRANSIENT, FAILED]
    chain[:N_TRANSIENT, CLOSED] = company[:N_TRANSIENT, CLOSED] + transient @ closure
    chain[FAILED, FAILED] = 1.0
    chain[CLOSED, CLOSED] = 1.0
    return chain


def _quasi_stationary(company: np.ndarray) -> np.ndarray:
    """Distribution over transient states of a long-lived company (Perron left eigenvector
    of the transient block): the state of companies already alive when history starts."""
    transient = company[:N_TRANSIENT, :N_TRANSIENT]
    values, vectors = np.linalg.eig(transient.T)
    vector = np.abs(vectors[:, int(np.argmax(values.real))].real)
    return vector / vector.sum()


@dataclass(frozen=True)
class ChainTables:
    """Per risk class: cumulative transition rows (for sampling), initial distribution,
    oracle by state, and the matrices themselves."""

    transition: np.ndarray   # (classes, 6, 6)
    cumulative: np.ndarray   # (classes, 6, 6) cumulative sums along the last axis
    initial: np.ndarray      # (classes, 4) quasi-stationary distribution
    oracle: np.ndarray       # (classes, 4) P(opening judgment within HORIZON months | state)
    site_closure: np.ndarray  # (4,)


def chain_tables(horizon: int = HORIZON) -> ChainTables:
    """Compute every table of the chain (deterministic, no randomness)."""
    transition = np.stack([company_transition(k) for k in range(N_CLASSES)])
    cumulative = np.cumsum(transition, axis=2)
    cumulative[:, :, -1] = 1.0  # guard against rounding: sampling must always land
    initial = np.stack([_quasi_stationary(transition[k]) for k in range(N_CLASSES)])
    oracle = np.stack([
        np.linalg.matrix_power(site_chain(transition[k]), horizon)[:N_TRANSIENT, FAILED]
        for k in range(N_CLASSES)
    ])
    return ChainTables(transition, cumulative, initial, oracle, np.asarray(SITE_CLOSURE))


def step_states(tables: ChainTables, klass: np.ndarray, state: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Next states of companies in ``state`` (any of the 6) given uniforms in [0, 1):
    inverse-CDF sampling on the class's transition row. Absorbing states stay."""
    rows = tables.cumulative[klass, state]  # (n, 6)
    nxt = (uniform[:, None] >= rows).sum(axis=1)
    return np.minimum(nxt, 5).astype(np.int8)
