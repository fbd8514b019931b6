"""Per-entity feature columns aligned on a month axis, with the original's absent/null distinction.

A :class:`Columns` holds, for one entity (an établissement or an entreprise) and a contiguous
month axis of length ``n``, one array per variable:

* numeric and boolean variables are ``float64`` arrays, NaN meaning *absent* (booleans are
  1.0/0.0);
* strings and dates are ``object`` arrays, None meaning *absent*.

``nulls[name]`` is a boolean mask of the months where the original writes an explicit
``null`` instead of leaving the key out; only parity mode documents use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


_NUMERIC = (bool, int, float, np.integer, np.floating, np.bool_)


@dataclass(slots=True)
class Columns:
    """Variables of one entity over ``n`` months; see the module docstring."""

    n: int
    values: dict[str, np.ndarray] = field(default_factory=dict)
    nulls: dict[str, np.ndarray] = field(default_factory=dict)

    def num(self, name: str) -> np.ndarray:
        """The float column ``name``, created all-absent if missing."""
        arr = self.values.get(name)
        if arr is None:
            arr = np.full(self.n, np.nan)
            self.values[name] = arr
        return arr

    def obj(self, name: str) -> np.ndarray:
        """The object column ``name``, created all-absent if missing."""
        arr = self.values.get(name)
        if arr is None:
            arr = np.full(self.n, None, dtype=object)
            self.values[name] = arr
        return arr

    def null_mask(self, name: str) -> np.ndarray:
        """The null mask of ``name``, created all-False if missing."""
        mask = self.nulls.get(name)
        if mask is None:
            mask = np.zeros(self.n, dtype=bool)
            self.nulls[name] = mask
        return mask

    def set_null(self, name: str, where: np.ndarray | slice | int) -> None:
        """Mark ``name`` as explicitly null at ``where`` (value made absent there)."""
        arr = self.values.get(name)
        if arr is not None:
            arr[where] = None if arr.dtype == object else np.nan
        self.null_mask(name)[where] = True

    def put(self, name: str, where: np.ndarray | slice | int, value: object) -> None:
        """Assign ``value`` at ``where``; None means explicit null (the original's ``null``)."""
        if value is None:
            if name not in self.values:
                self.num(name)
            self.set_null(name, where)
            return
        arr = self.values.get(name)
        if isinstance(value, _NUMERIC) and (arr is None or arr.dtype != object):
            self.num(name)[where] = float(value)
        else:
            if arr is None:
                arr = self.obj(name)
            elif arr.dtype != object:
                arr = self._to_object(name)
            arr[where] = value
        mask = self.nulls.get(name)
        if mask is not None:
            mask[where] = False

    def _to_object(self, name: str) -> np.ndarray:
        old = self.values[name]
        new = np.array([None if np.isnan(v) else v for v in old], dtype=object)
        self.values[name] = new
        return new

    def delete(self, name: str, where: np.ndarray | slice | int) -> None:
        """Make ``name`` absent at ``where`` (no value, no null)."""
        arr = self.values.get(name)
        if arr is not None:
            arr[where] = None if arr.dtype == object else np.nan
        mask = self.nulls.get(name)
        if mask is not None:
            mask[where] = False

    def present(self, name: str) -> np.ndarray:
        """Mask of months where ``name`` has a value or an explicit null (the JS ``in`` test)."""
        arr = self.values.get(name)
        if arr is None:
            has = np.zeros(self.n, dtype=bool)
        elif arr.dtype == object:
            has = np.array([v is not None for v in arr], dtype=bool)
        else:
            has = ~np.isnan(arr)
        mask = self.nulls.get(name)
        return has | mask if mask is not None else has

    def crop(self, start: int) -> Columns:
        """The months ``[start, n)`` as a new :class:`Columns`."""
        return Columns(self.n - start, {k: v[start:] for k, v in self.values.items()},
                       {k: m[start:] for k, m in self.nulls.items()})
