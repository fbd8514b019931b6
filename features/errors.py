"""Errors of the feature computation."""

from __future__ import annotations


class FeatureInputError(ValueError):
    """A record or parameter cannot be used; ``where`` names the entity, type and hash."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason
