"""Plain-data inputs of compaction: batch definitions, scopes, month series, entity keys.

Dates are timezone-aware UTC ``datetime`` objects throughout compaction; a naive datetime read
from a client without ``tz_aware=True`` is taken to be UTC (see :func:`as_utc`).

:class:`BatchInfo` is what the pure functions know of an ``Admin`` batch. The I/O shell builds
one per batch with :meth:`BatchInfo.from_admin`.

``serie_periode`` of a batch: the month starts of ``[param.date_debut, param.date_fin)``. The
original used the params of the ``--since-batch`` batch for a whole run (docs/compaction.md §2.1, §5.2 i);
we use **each batch's own params** for the months it brings, so that the result does not
depend on how batches were grouped into runs (``tests/compaction/test_properties.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, Literal, get_args

Scope = Literal["etablissement", "entreprise"]
StockAbsentPolicy = Literal["keep", "delete"]

SCOPES: tuple[str, ...] = get_args(Scope)
STOCK_ABSENT_POLICIES: tuple[str, ...] = get_args(StockAbsentPolicy)

#: Keys of a RawData batch entry that are not data types.
COMPACT = "compact"
REPORDER = "reporder"
RESERVED_ENTRY_KEYS: frozenset[str] = frozenset({COMPACT, REPORDER})

_KEY_LENGTH = {"etablissement": 14, "entreprise": 9}
_DIGITS = re.compile(r"^[0-9]+$")


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (a naive one is taken to be UTC already)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def month_key(periode: datetime) -> str:
    """ISO date of a month start, the key of a ``reporder`` entry: 2014-01-01 → ``"2014-01-01"``."""
    utc = as_utc(periode)
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"


def is_month_start(value: datetime) -> bool:
    """True if ``value`` is midnight UTC on the first day of a month."""
    utc = as_utc(value)
    return (utc.day, utc.hour, utc.minute, utc.second, utc.microsecond) == (1, 0, 0, 0, 0)


def serie_periode(date_debut: datetime, date_fin: datetime) -> tuple[datetime, ...]:
    """Month starts from ``date_debut`` (inclusive) to ``date_fin`` (exclusive), aware UTC.

    As the original's ``misc.GenereSeriePeriode``. Raises ``ValueError`` if ``date_debut`` is
    not a month start (a reporder entry is keyed by its month); an empty tuple when
    ``date_fin <= date_debut``.
    """
    start, end = as_utc(date_debut), as_utc(date_fin)
    if not is_month_start(start):
        raise ValueError(f"date_debut {start.isoformat()} is not the first day of a month at 00:00 UTC")
    months: list[datetime] = []
    year, month = start.year, start.month
    current = start
    while current < end:
        months.append(current)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        current = datetime(year, month, 1, tzinfo=UTC)
    return tuple(months)


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """What compaction needs to know of one ``Admin`` batch.

    * ``complete_types``: data types delivered as a stock ("annule et remplace") in this batch;
      any other type is a flux and only adds records.
    * ``stock_absent``: what happens to an entity absent from this batch's delivery while it
      has live records of a complete type: ``"keep"`` them (the original's behaviour, vector
      T11d) or ``"delete"`` them (its absence from the stock is the information).
    * ``serie_periode``: the months (aware UTC month starts, increasing) whose ``reporder``
      entries an etablissement touched by this batch must hold.

    Raises ``ValueError`` on an unknown policy or a malformed month series.
    """

    complete_types: frozenset[str] = frozenset()
    stock_absent: StockAbsentPolicy = "keep"
    serie_periode: tuple[datetime, ...] = field(default=())
    #: :func:`month_key` of each month of ``serie_periode`` (derived; computed once here
    #: because compaction looks them up for every entity).
    month_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "complete_types", frozenset(self.complete_types))
        if self.stock_absent not in STOCK_ABSENT_POLICIES:
            raise ValueError(f"stock_absent must be one of {STOCK_ABSENT_POLICIES}, got {self.stock_absent!r}")
        bad = RESERVED_ENTRY_KEYS & self.complete_types
        if bad:
            raise ValueError(f"complete_types cannot contain {sorted(bad)}: these are not data types")
        months = tuple(as_utc(p) for p in self.serie_periode)
        for periode in months:
            if not is_month_start(periode):
                raise ValueError(f"serie_periode: {periode.isoformat()} is not a month start")
        if any(a >= b for a, b in pairwise(months)):
            raise ValueError("serie_periode must be strictly increasing")
        object.__setattr__(self, "serie_periode", months)
        object.__setattr__(self, "month_keys", tuple(month_key(p) for p in months))

    @classmethod
    def from_admin(cls, batch: Any) -> BatchInfo:
        """Build from an engine ``Batch`` (anything with ``complete_types``, ``stock_absent``,
        ``param.date_debut`` and ``param.date_fin``). Raises ``ValueError`` naming the batch
        when its ``date_debut`` is not a month start."""
        try:
            months = serie_periode(batch.param.date_debut, batch.param.date_fin)
        except ValueError as exc:
            raise ValueError(f"batch {batch.key}: param.{exc}") from None
        return cls(
            complete_types=frozenset(batch.complete_types or ()),
            stock_absent=getattr(batch, "stock_absent", "keep") or "keep",
            serie_periode=months,
        )


def entity_key_problem(key: Any, scope: Any) -> str | None:
    """Why ``(key, scope)`` is not a valid entity identity, or None if it is.

    A SIRET (scope ``etablissement``) is a 14-digit string, a SIREN (``entreprise``) a 9-digit one.
    """
    if scope not in SCOPES:
        return f"scope must be one of {SCOPES}, got {scope!r}"
    if not isinstance(key, str) or not _DIGITS.match(key) or len(key) != _KEY_LENGTH[scope]:
        return f"key must be a {_KEY_LENGTH[scope]}-digit string for scope {scope}, got {key!r}"
    return None
