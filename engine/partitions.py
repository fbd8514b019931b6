"""Cutting the entity key space into contiguous ranges for parallel work.

A range is ``KeyRange(lo, hi)``: every key ``k`` with ``lo <= k < hi`` (``lo=None``: no lower
bound, ``hi=None``: no upper bound), compared as strings. Cuts are made on 9-digit SIREN
boundaries, so a company's SIREN document and all its establishments' SIRET documents fall
in the same range: every SIRET ``s`` sorts between ``s[:9]`` and the next SIREN.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pymongo.collection import Collection


@dataclass(frozen=True)
class KeyRange:
    """Keys ``lo <= k < hi`` (None = unbounded). ``name`` labels checkpoints and errors."""

    lo: str | None
    hi: str | None

    @property
    def name(self) -> str:
        return f"{self.lo or '-inf'}..{self.hi or '+inf'}"

    def contains(self, key: str) -> bool:
        return (self.lo is None or key >= self.lo) and (self.hi is None or key < self.hi)

    def filter(self, field: str) -> dict:
        """The MongoDB filter selecting this range on ``field``."""
        bounds = {}
        if self.lo is not None:
            bounds["$gte"] = self.lo
        if self.hi is not None:
            bounds["$lt"] = self.hi
        return {field: bounds} if bounds else {}


def split_sorted_keys(keys: Sequence[str], parts: int) -> list[KeyRange]:
    """Cut sorted ``keys`` into at most ``parts`` ranges of similar size on SIREN boundaries.

    The ranges cover the whole key space (first ``lo`` and last ``hi`` are None), so a key
    that appears later still belongs to exactly one range.
    """
    if parts < 1:
        raise ValueError("parts must be >= 1")
    boundaries: list[str] = []
    for i in range(1, parts):
        siren = keys[i * len(keys) // parts][:9] if keys else None
        if siren and (not boundaries or siren > boundaries[-1]) and siren > keys[0][:9]:
            boundaries.append(siren)
    edges: list[str | None] = [None, *boundaries, None]
    return [KeyRange(lo, hi) for lo, hi in zip(edges, edges[1:])]


def key_ranges(collections: Iterable[tuple[Collection, str]], parts: int,
               max_keys_per_range: int | None = 10_000) -> list[KeyRange]:
    """Ranges of similar size over the keys found in ``(collection, key_field)`` pairs.

    At least ``parts`` ranges, and more if needed so that no range holds more than about
    ``max_keys_per_range`` keys: a task's memory grows with its range, not with the run.
    Reads the keys only (a projection on one field); for tens of millions of documents a
    sample would do, but exact cuts keep partitions even and this is a small cost next to
    the job itself.
    """
    keys: set[str] = set()
    for collection, field in collections:
        for doc in collection.find({}, {field: 1, "_id": 1 if field == "_id" else 0}):
            value = _get(doc, field)
            if isinstance(value, str):
                keys.add(value)
    if max_keys_per_range:
        parts = max(parts, -(-len(keys) // max_keys_per_range))
    return split_sorted_keys(sorted(keys), parts)


def _get(doc: dict, dotted: str):
    """Value at a dotted path; also accepts the flat ``{"a.b": v}`` form some servers return."""
    if dotted in doc:
        return doc[dotted]
    value = doc
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
