"""Short-time work (activité partielle, docs/features.md §2.8; raw ``apdemande``, ``apconso``).

Computed only when the établissement has both demands and consumptions (as the original).
Demands are keyed by the first 9 characters of ``id_demande`` and consumptions linked by the
first 9 of ``id_conso`` (quirk Q10: one demand kept per key, the last one iterated);
``apart_heures_autorisees`` is the demand's total ``hta`` on each of its months
``[m(start), m(end) + 1)``.

The months returned in ``months_with_data`` are those where the original emits an "apart"
document; ``ratio_apart`` (computed in :mod:`sf.features.company`) exists only there in
parity mode.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .columns import Columns
from .months import month_index, period_months, record_date, record_month


def apart(apconso: dict[str, dict[str, Any]], apdemande: dict[str, dict[str, Any]],
          axis: np.ndarray, where: str) -> tuple[Columns, np.ndarray]:
    """``(columns, months_with_data)`` over ``axis`` (the mask is all False without data)."""
    n = len(axis)
    m0 = int(axis[0])
    cols = Columns(n)
    touched: set[int] = set()
    autorisees: dict[int, float | None] = {}
    conso: dict[int, float] = {}
    motif: dict[int, Any] = {}
    cumul: dict[int, float] = {}
    demand_of_key: dict[str, str] = {}
    span_of_key: dict[str, tuple[int, int]] = {}
    for h, d in apdemande.items():
        demand_of_key[str(d.get("id_demande", ""))[:9]] = h
    for h, d in apdemande.items():
        w = f"{where} apdemande {h}"
        first, _ = period_months(d, w)
        last = record_month(d["periode"], "end", w)
        span = (first, last + 1)
        span_of_key[str(d.get("id_demande", ""))[:9]] = span
        for m in range(*span):
            autorisees[m] = d.get("hta")
            touched.add(m)
    linked: dict[str, list[str]] = {key: [] for key in demand_of_key}
    for h, c in apconso.items():
        key = str(c.get("id_conso", ""))[:9]
        if key in linked:
            linked[key].append(h)
    for key, hashes in linked.items():
        if not hashes:
            continue
        hashes.sort(key=lambda h: record_date(apconso[h], "periode", f"{where} apconso {h}"))
        demand = apdemande[demand_of_key[key]]
        for h in hashes:
            m = month_index(apconso[h]["periode"])
            touched.add(m)
            hours = apconso[h].get("heure_consomme")
            if hours is not None:
                conso[m] = conso.get(m, 0.0) + float(hours)
            if demand.get("motif_recours_se") is not None:
                motif[m] = demand["motif_recours_se"]
        running = 0.0
        for m in range(*span_of_key[key]):
            running += conso.get(m, 0.0) or 0.0
            cumul[m] = running
    mask = np.zeros(n, dtype=bool)
    for name, values in (("apart_heures_autorisees", autorisees), ("apart_heures_consommees", conso),
                         ("apart_motif_recours", motif), ("apart_heures_consommees_cumulees", cumul)):
        for m, v in values.items():
            if m0 <= m < m0 + n:
                cols.put(name, m - m0, v)
    for m in touched | set(cumul):
        if m0 <= m < m0 + n:
            mask[m - m0] = True
    return cols, mask
