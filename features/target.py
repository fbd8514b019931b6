"""Training target (docs/features.md §3): ``outcome``, ``time_til_outcome``, ``time_til_default``,
``time_til_failure``.

Parity (``cibleApprentissage.ts``, ``lookAhead.ts``, quirk Q9), per établissement and inside the
period series: an event is ``tag_failure or tag_default``; ``time_til_outcome(p)`` counts the
months to the next event (0 on an event month); months after the last event get ``−k`` (k
months since it); ``outcome = time_til_outcome <= 18`` (so also true up to 18 months *after*
the last event); no event at all leaves ``outcome`` false and no ``time_til_*``.

Fixed (the 2021+ definition, docs/features.md §3.3 and §7.1 items 4–5): the label is the **company's**
entry into insolvency proceedings, from the proceeding records of all its établissements and
of the SIREN itself, whatever their date (the label looks ahead by definition; only the
features must be point in time):

* an event month is the month of a proceeding event whose state is not ``in_bonis``;
* ``time_til_outcome(p)`` = 0 while the company is in proceedings at p (latest event of some
  établissement ≤ p is not ``in_bonis``), else the months to the next event month ≥ p, else
  −(months since the last event), absent if the company never had one;
* ``outcome(p) = 0 <= time_til_outcome(p) <= 18``; rows with ``time_til_outcome <= 0`` are the
  "strong signals" that training should drop.

``time_til_default`` (tag_default, URSSAF) and ``time_til_failure`` (tag_failure) are the
original's backward counters in both modes (informational columns).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from .months import month_index
from .procol import IN_BONIS

#: The horizon in months: an insolvency opening within it makes ``outcome`` true. The one
#: definition of "18 months" (the model's labels, the synthetic truth and the demo use it).
HORIZON = 18


def months_to_next(event: np.ndarray) -> np.ndarray:
    """Backward counter: months from i to the next True at or after i (NaN if none), along
    the last axis (one entity per row)."""
    n = event.shape[-1]
    idx = np.where(event, np.arange(n), n)
    nxt = np.minimum.accumulate(idx[..., ::-1], axis=-1)[..., ::-1]
    out = (nxt - np.arange(n)).astype(float)
    out[nxt == n] = np.nan
    return out


def months_since_last(event: np.ndarray) -> np.ndarray:
    """Forward counter: months since the last True at or before i (NaN if none), along the last axis."""
    n = event.shape[-1]
    idx = np.where(event, np.arange(n), -1)
    np.maximum.accumulate(idx, axis=-1, out=idx)
    out = (np.arange(n) - idx).astype(float)
    out[idx < 0] = np.nan
    return out


def look_ahead(event: np.ndarray, n_months: int, past: bool) -> tuple[np.ndarray, np.ndarray]:
    """``lookAhead`` of the original: ``(time_til_outcome, outcome)`` (NaN where not set).

    ``past=True`` walks backwards (time to the next event), ``past=False`` forwards (time
    since the last event, positive here).
    """
    t = months_to_next(event) if past else months_since_last(event)
    outcome = np.where(np.isnan(t), np.nan, (t <= n_months).astype(float))
    return t, outcome


def parity_target(tag_failure: np.ndarray, tag_default: np.ndarray, n_months: int = HORIZON) -> dict[str, np.ndarray]:
    """Target columns of établissements over the series (tags: 1.0 = true, NaN = absent; one
    établissement per row)."""
    failure = tag_failure == 1.0
    default = tag_default == 1.0
    event = failure | default
    t_back, o_back = look_ahead(event, n_months, past=True)
    t_fwd, o_fwd = look_ahead(event, n_months, past=False)
    time_til_outcome = np.where(np.isnan(t_back), -t_fwd, t_back)
    outcome = np.where(np.isnan(t_back), o_fwd, o_back)
    outcome = np.where(np.isnan(outcome), 0.0, outcome)  # base record: outcome false
    return {
        "outcome": outcome,
        "time_til_outcome": time_til_outcome,
        "time_til_default": months_to_next(default),
        "time_til_failure": months_to_next(failure),
    }


def fixed_target(events_by_entity: list[list[tuple[datetime, str]]], serie: np.ndarray,
                 n_months: int = HORIZON) -> dict[str, np.ndarray]:
    """Company-level ``outcome`` and ``time_til_outcome`` over the series (see module docstring)."""
    n = len(serie)
    openings = sorted({month_index(d) for events in events_by_entity for d, s in events if s != IN_BONIS})
    in_proc = np.zeros(n, dtype=bool)
    for events in events_by_entity:
        state = np.full(n, IN_BONIS, dtype=object)
        for when, s in events:  # sorted by date: the latest event <= p wins
            lo = int(np.searchsorted(serie, month_index(when)))
            state[lo:] = s
        in_proc |= state != IN_BONIS
    t = np.full(n, np.nan)
    if openings:
        ev = np.array(openings)
        nxt = np.searchsorted(ev, serie, side="left")
        has_next = nxt < len(ev)
        t[has_next] = ev[nxt[has_next]] - serie[has_next]
        prev = np.searchsorted(ev, serie, side="right") - 1
        only_past = ~has_next & (prev >= 0)
        t[only_past] = -(serie[only_past] - ev[prev[only_past]])
    t[in_proc] = 0.0
    outcome = ((t >= 0) & (t <= n_months)).astype(float)
    return {"outcome": outcome, "time_til_outcome": t}
