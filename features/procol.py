"""Collective proceedings (docs/features.md §2.7; raw ``procol``): ``etat_proc_collective``,
``date_proc_collective``, ``tag_failure``.

Each event is mapped by :func:`procol_to_human`; events are applied in date order to every
month ``>= m(date_effet)``. ``tag_failure`` stays true after a later ``fin_procedure``
(quirk Q8, kept in both modes: it is a feature, and the fixed target does not use it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from .columns import Columns
from .months import month_index, record_date

IN_BONIS = "in_bonis"


def procol_to_human(action: str | None, stade: str | None) -> str | None:
    """State after a proceeding event (``common/procolToHuman.ts``); None = event ignored."""
    if action == "liquidation" and stade != "abandon_procedure":
        return "liquidation"
    if stade in ("abandon_procedure", "fin_procedure"):
        return IN_BONIS
    if action == "redressement" and stade == "plan_continuation":
        return "continuation"
    if action == "sauvegarde" and stade == "plan_continuation":
        return "sauvegarde"
    if action == "sauvegarde":
        return "plan_sauvegarde"
    if action == "redressement":
        return "plan_redressement"
    return None


def procol_events(records: dict[str, dict[str, Any]], where: str) -> list[tuple[datetime, str]]:
    """``[(date_effet, state)]`` sorted by date (stable: record order breaks ties)."""
    events = []
    for h, r in records.items():
        state = procol_to_human(r.get("action_procol"), r.get("stade_procol"))
        if state is not None:
            events.append((record_date(r, "date_effet", f"{where} procol {h}"), state))
    events.sort(key=lambda e: e[0])
    return events


def defaillances(events: list[tuple[datetime, str]], axis: np.ndarray) -> Columns:
    """Proceeding columns over ``axis``; ``etat_proc_collective`` defaults to in_bonis."""
    n = len(axis)
    cols = Columns(n)
    etat = cols.obj("etat_proc_collective")
    etat[:] = IN_BONIS
    date = cols.obj("date_proc_collective")
    tag = cols.num("tag_failure")
    m0 = int(axis[0])
    for when, state in events:
        lo = min(max(month_index(when) - m0, 0), n)
        etat[lo:] = state
        date[lo:] = when
        if state != IN_BONIS:
            tag[lo:] = 1.0
    return cols
