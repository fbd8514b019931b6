"""URSSAF payment delays (docs/features.md §2.5; raw ``delai``).

A delay with ``duree_delai > 0`` covers the months ``m(date_creation) <= p < m(date_echeance)``
of the axis; when several cover a month, the last one processed wins (as the original).
``delai_deviation_remboursement`` compares the current debt to a linear repayment and exists
only when the debt columns exist (the établissement has cotisation and debit records).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .columns import Columns
from .months import month_index, month_start, record_date

_DAY = 86400.0


def delais(records: dict[str, dict[str, Any]], axis: np.ndarray, debts: Columns | None, where: str) -> Columns:
    """Delay columns over ``axis``; ``debts`` holds ``montant_part_*`` (or None)."""
    n = len(axis)
    cols = Columns(n)
    m0 = int(axis[0])
    starts = np.array([month_start(int(m)).timestamp() for m in axis])
    dette = None
    if debts is not None and "montant_part_ouvriere" in debts.values:
        dette = debts.values["montant_part_ouvriere"] + debts.values["montant_part_patronale"]
    for h, r in records.items():
        w = f"{where} delai {h}"
        duree = r.get("duree_delai")
        if duree is None or duree <= 0:
            continue
        creation = record_date(r, "date_creation", w)
        echeance = record_date(r, "date_echeance", w)
        lo = max(month_index(creation), m0) - m0
        hi = min(month_index(echeance), m0 + n) - m0
        if lo >= hi:
            continue
        sl = slice(lo, hi)
        restants = np.round((echeance.timestamp() - starts[sl]) / _DAY)
        montant = r.get("montant_echeancier")
        cols.num("delai_nb_jours_restants")[sl] = restants
        cols.put("delai_nb_jours_total", sl, float(duree))
        cols.put("delai_montant_echeancier", sl, None if montant is None else float(montant))
        deviation = cols.num("delai_deviation_remboursement")
        if dette is not None and montant:
            deviation[sl] = (dette[sl] - float(montant) * restants / float(duree)) / float(montant)
        else:
            deviation[sl] = np.nan
    return cols
