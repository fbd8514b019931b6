"""Paydex (spec §2.14; raw ``paydex``): ``paydex_nb_jours`` of the month of ``date_valeur`` and
the same value written 3, 6 and 12 months later as ``_past_3/6/12``. No forward fill (Q14).

Parity: when the company has paydex records every month starts with the four keys set to null.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# _NUMERIC: the types Columns.put stores as float; the inline path below must agree with it.
from .columns import _NUMERIC, Columns
from .months import record_month

PAYDEX_LAGS = (3, 6, 12)
_NAMES = ("paydex_nb_jours",) + tuple(f"paydex_nb_jours_past_{k}" for k in PAYDEX_LAGS)
_SHIFTS = tuple(zip(_NAMES, (0,) + PAYDEX_LAGS))
_FLOAT = np.dtype(np.float64)


def paydex(records: dict[str, dict[str, Any]], axis: np.ndarray, where: str) -> Columns:
    """Paydex columns over ``axis`` (nulls marked where the original writes null).

    Records are applied in order (a later one overwrites an earlier one on the same month; a
    None ``nb_jours`` writes a null). Raises :class:`FeatureInputError` if a ``date_valeur``
    is not a date.
    """
    n = len(axis)
    cols = Columns(n)
    if not records:
        return cols
    # The four columns start all null (one allocation each for values and masks, rows as views).
    cols.values.update(zip(_NAMES, np.full((len(_NAMES), n), np.nan)))
    cols.nulls.update(zip(_NAMES, np.ones((len(_NAMES), n), dtype=bool)))
    m0 = int(axis[0])
    values, nulls = cols.values, cols.nulls
    for h, r in records.items():
        m = record_month(r, "date_valeur", f"{where} paydex {h}") - m0
        value = r.get("nb_jours")
        for name, lag in _SHIFTS:
            j = m + lag
            if 0 <= j < n:
                arr = values[name]
                # Columns.put inlined for a number or None into the float column (the usual case).
                if arr.dtype == _FLOAT and (value is None or isinstance(value, _NUMERIC)):
                    if value is None:
                        arr[j] = np.nan
                        nulls[name][j] = True
                    else:
                        arr[j] = float(value)
                        nulls[name][j] = False
                else:
                    cols.put(name, j, value)
    return cols
