"""Errors raised by compaction, each naming the entity key and the batch involved.

All derive from :class:`sf.engine.errors.SfError`, so the CLI prints them as one line and
exits with the code of their family (2 usage, 3 bad input data, 1 failure).

* :class:`UnknownBatchError` — data for a batch key that ``Admin`` does not define (vector
  T10). The original silently dropped such data; we refuse before producing anything.
* :class:`NotReimportedError` — a re-compaction from ``--since-batch`` would have to
  recompute a stored batch that was not delivered again in this run (the original re-diffed
  the stored diff instead, which is lossy: vector T15).
* :class:`DocumentTooLargeError` — a RawData document over the configured BSON size limit.
* :class:`InvalidCompactionInputError` — an ImportedData value or a RawData document whose
  shape cannot be compacted (wrong key, scope, type entry that is not a mapping, ...).
"""

from __future__ import annotations

from sf.engine.errors import BadInputError, SfError, UsageError


class CompactionError(SfError):
    """Base class of every compaction error."""


class UnknownBatchError(CompactionError, UsageError):
    """A batch key used by imported data (or requested for this run) is not defined in Admin.

    Attributes: ``batch_key``, ``entity_key`` (None when the batch is rejected for the whole
    run) and ``where`` (``"ImportedData"`` or ``"run"``).
    """

    def __init__(self, batch_key: str, entity_key: str | None, where: str = "ImportedData") -> None:
        self.batch_key = batch_key
        self.entity_key = entity_key
        self.where = where
        subject = f"{where} of entity {entity_key}" if entity_key else where
        super().__init__(
            f"batch {batch_key!r} used by {subject} is not defined in Admin; nothing was compacted",
            "declare the batch with `sf batch add`, or remove its imported data",
        )


class NotReimportedError(CompactionError, UsageError):
    """RawData holds batch ``batch_key`` ≥ ``since_batch`` for ``entity_key``, not delivered again.

    Recomputing batches ≥ since-batch needs their deliveries: a stored entry is a diff and
    cannot stand in for the delivery it came from (vector T15).
    """

    def __init__(self, entity_key: str, batch_key: str, since_batch: str) -> None:
        self.entity_key = entity_key
        self.batch_key = batch_key
        self.since_batch = since_batch
        super().__init__(
            f"entity {entity_key}: batch {batch_key} is already compacted and is ≥ since-batch "
            f"{since_batch}, but it is not re-imported in this run; nothing was compacted",
            f"re-import batch {batch_key} too, or purge batches ≥ {since_batch} first",
        )


class DocumentTooLargeError(CompactionError):
    """The BSON encoding of the RawData document of ``key`` is ``size`` bytes > ``limit``."""

    def __init__(self, key: str | None, size: int, limit: int) -> None:
        self.key = key
        self.size = size
        self.limit = limit
        super().__init__(
            f"RawData document {key!r} would be {size} bytes of BSON, over the limit of {limit} bytes; "
            "its partition was not written",
            "raise the size limit (MongoDB's hard limit is 16 MiB) or prune this entity's history",
        )


class InvalidCompactionInputError(CompactionError, BadInputError):
    """An ImportedData value or RawData document has a shape compaction cannot use.

    ``where`` names the document (e.g. ``"ImportedData value of 01234567891011"``) and the
    message says which key is wrong and why.
    """

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")
