"""Per-entity feature columns aligned on a month axis, with the original's absent/null distinction.

A :class:`Columns` holds, for one entity (an établissement or an entreprise) and a contiguous
month axis of length ``n``, one array per variable; with ``rows=E`` it holds ``E`` entities at
once (arrays of shape ``(E, n)``, one row per entity: the chunk-wide form the feature job uses
so that numpy works on a whole chunk instead of one small array per entity):

* numeric and boolean variables are ``float64`` arrays, NaN meaning *absent* (booleans are
  1.0/0.0);
* strings and dates are ``object`` arrays, None meaning *absent*.

``nulls[name]`` is a boolean mask of the months where the original writes an explicit
``null`` instead of leaving the key out; only parity mode documents use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

_NUMERIC = (bool, int, float, np.integer, np.floating, np.bool_)
_PLAIN_NUMBERS = (int, float)  # exact types: a bool is stored as 1.0/0.0 by the general path too
_FLOAT = np.dtype(np.float64)


@dataclass(slots=True)
class Columns:
    """Variables of one entity (``rows`` None) or of ``rows`` entities over ``n`` months; see
    the module docstring."""

    n: int
    values: dict[str, np.ndarray] = field(default_factory=dict)
    nulls: dict[str, np.ndarray] = field(default_factory=dict)
    #: None: arrays of shape ``(n,)``; an int E: arrays of shape ``(E, n)``.
    rows: int | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of every array: ``(n,)`` or ``(rows, n)``."""
        return (self.n,) if self.rows is None else (self.rows, self.n)

    def num(self, name: str) -> np.ndarray:
        """The float column ``name``, created all-absent if missing."""
        arr = self.values.get(name)
        if arr is None:
            arr = np.full(self.shape, np.nan)
            self.values[name] = arr
        return arr

    def obj(self, name: str) -> np.ndarray:
        """The object column ``name``, created all-absent if missing."""
        arr = self.values.get(name)
        if arr is None:
            arr = np.full(self.shape, None, dtype=object)
            self.values[name] = arr
        return arr

    def null_mask(self, name: str) -> np.ndarray:
        """The null mask of ``name``, created all-False if missing."""
        mask = self.nulls.get(name)
        if mask is None:
            mask = np.zeros(self.shape, dtype=bool)
            self.nulls[name] = mask
        return mask

    def set_null(self, name: str, where: np.ndarray | slice | int) -> None:
        """Mark ``name`` as explicitly null at ``where`` (value made absent there; the column is
        created all-absent if missing, so every null mask has its values array)."""
        arr = self.values.get(name)
        if arr is None:
            self.num(name)
        else:
            arr[where] = None if arr.dtype == object else np.nan
        self.null_mask(name)[where] = True

    def put(self, name: str, where: np.ndarray | slice | int, value: object) -> None:
        """Assign ``value`` at ``where``; None means explicit null (the original's ``null``)."""
        arr = self.values.get(name)
        if arr is not None and arr.dtype == _FLOAT and type(value) in _PLAIN_NUMBERS:
            # The usual case (a number into an existing float column), without the dispatch below.
            arr[where] = value
            mask = self.nulls.get(name)
            if mask is not None:
                mask[where] = False
            return
        if value is None:
            if name not in self.values:
                self.num(name)
            self.set_null(name, where)
            return
        if isinstance(value, _NUMERIC) and (arr is None or arr.dtype != object):
            self.num(name)[where] = float(value)
        else:
            if arr is None:
                arr = self.obj(name)
            elif arr.dtype != object:
                arr = self._to_object(name)
            # A number in an object column is stored as in a float one: a float, NaN absent. So
            # a value does not depend on whether another entity of the chunk (or an earlier
            # text value) made the column an object one.
            arr[where] = object_value(value) if isinstance(value, _NUMERIC) else value
        mask = self.nulls.get(name)
        if mask is not None:
            mask[where] = False

    def _to_object(self, name: str) -> np.ndarray:
        new = self.values[name] = as_object(self.values[name])
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
            has = np.zeros(self.shape, dtype=bool)
        elif arr.dtype == object:
            has = np.not_equal(arr, None)
        else:
            has = ~np.isnan(arr)
        mask = self.nulls.get(name)
        return has | mask if mask is not None else has

    def crop(self, start: int) -> Columns:
        """The months ``[start, n)`` as a new :class:`Columns` (views, not copies)."""
        return Columns(self.n - start, {k: v[..., start:] for k, v in self.values.items()},
                       {k: m[..., start:] for k, m in self.nulls.items()}, self.rows)

    def row(self, e: int) -> Columns:
        """Entity ``e`` of a multi-row :class:`Columns`, as a one-entity one (views)."""
        return Columns(self.n, {k: v[e] for k, v in self.values.items()},
                       {k: m[e] for k, m in self.nulls.items()})


def merge_columns(into: Columns, other: Columns, rows: int | np.ndarray | None = None) -> None:
    """Copy the columns of ``other`` into ``into``; ``other`` wins where it has a value or a null.

    ``rows`` selects the rows of a multi-row ``into`` that ``other`` covers: an int for a
    one-entity ``other``, an index array for a multi-row one; None when both have the same shape.
    A numeric column meeting an object one becomes an object column (NaN → None).
    """
    for name, arr in other.values.items():
        target = into.values.get(name)
        if target is None and name not in into.nulls:
            # New column: ``other``'s rows as they are (absent stays absent).
            target = into.obj(name) if arr.dtype == object else into.num(name)
            target[slice(None) if rows is None else rows] = arr
            if name in other.nulls:
                into.null_mask(name)[slice(None) if rows is None else rows] = other.nulls[name]
            continue
        target = _target_for(into, name, arr)
        if target.dtype == object and arr.dtype != object:
            arr = as_object(arr)
        present = other.present(name)
        _assign(target, rows, present, arr)
        mask = other.nulls.get(name)
        if mask is not None:
            _assign(into.null_mask(name), rows, present, mask)
        elif name in into.nulls:
            _assign(into.nulls[name], rows, present, False)


def object_value(value: object) -> float | None:
    """A number as an object column holds it: a Python float, NaN as None (absent)."""
    number = float(value)  # type: ignore[arg-type]
    return None if number != number else number


def as_object(arr: np.ndarray) -> np.ndarray:
    """An object copy of a float column: numbers as Python floats, NaN as None (absent)."""
    out = arr.astype(object)
    out[np.isnan(arr)] = None
    return out


def _target_for(into: Columns, name: str, arr: np.ndarray) -> np.ndarray:
    """The column ``name`` of ``into``, ready to receive the values of ``arr``: created if
    missing, turned into an object column if ``arr`` is one."""
    target = into.values.get(name)
    if target is None:
        return into.obj(name) if arr.dtype == object else into.num(name)
    if target.dtype != object and arr.dtype == object:
        return into._to_object(name)
    return target


def _assign(target: np.ndarray, rows: int | np.ndarray | None, where: np.ndarray, source: np.ndarray | bool) -> None:
    """``target[rows][where] = source[where]`` (``rows`` None: all of ``target``)."""
    value = source if isinstance(source, bool) else source[where]
    if rows is None:
        target[where] = value
    elif isinstance(rows, int | np.integer):
        target[rows][where] = value  # a view of the row
    else:
        block = target[rows]  # a copy (fancy indexing): write it back
        block[where] = value
        target[rows] = block


def update_row(cols: Columns, e: int, write: Callable[[Columns], None]) -> None:
    """Run ``write`` on a one-entity view of row ``e`` of the multi-row ``cols`` (see
    :meth:`Columns.row`): writes into existing columns land in ``cols`` directly, and the
    columns and null masks ``write`` creates or replaces (a float column turned into an object
    one) are copied back into row ``e``."""
    row = cols.row(e)
    views, masks = dict(row.values), dict(row.nulls)
    write(row)
    for name, arr in row.values.items():
        if views.get(name) is not arr:
            target = _target_for(cols, name, arr)
            target[e] = as_object(arr) if target.dtype == object and arr.dtype != object else arr
    for name, mask in row.nulls.items():
        if masks.get(name) is not mask:
            cols.null_mask(name)[e] = mask


def stack_columns(blocks: list[Columns], n: int) -> Columns:
    """One multi-row :class:`Columns` whose row i is ``blocks[i]`` (one-entity blocks of ``n`` months)."""
    out = Columns(n, rows=len(blocks))
    names: dict[str, bool] = {}
    for block in blocks:
        for name, arr in block.values.items():
            names[name] = names.get(name, False) or arr.dtype == object
    for name, is_object in names.items():
        absent = np.full(n, None, dtype=object) if is_object else np.full(n, np.nan)
        parts = []
        for block in blocks:
            arr = block.values.get(name)
            if arr is None:
                arr = absent
            elif is_object and arr.dtype != object:
                arr = as_object(arr)
            parts.append(arr)
        out.values[name] = np.stack(parts)
    null_names = dict.fromkeys(name for block in blocks for name in block.nulls)  # ordered: reproducible
    none = np.zeros(n, dtype=bool)
    for name in null_names:
        out.nulls[name] = np.stack([block.nulls.get(name, none) for block in blocks])
    return out
