"""The server's BSON timestamps: ``Timestamp(seconds, increment)`` with one process-wide
increment counter, so that no two are equal (mongod's logical clock gives unique ones too).

Inserts and replacements fill ``Timestamp(0, 0)`` top-level fields from it and
``$currentDate: {$type: "timestamp"}`` takes its values from it, so two of them never give
the same timestamp, even within one second. Thread-safe; pure (no I/O but the system clock).
"""

from __future__ import annotations

import itertools
import threading
import time

from bson.timestamp import Timestamp

_lock = threading.Lock()
_increments = itertools.count(1)


def next_timestamp(seconds: int | None = None) -> Timestamp:
    """``Timestamp(seconds, increment)`` for ``seconds`` (default: now) with the next value of
    one process-wide increment counter: never equal to another timestamp given before (until
    2**32 increments), and increasing as long as ``seconds`` does not go back."""
    if seconds is None:
        seconds = int(time.time())
    with _lock:
        return Timestamp(seconds, next(_increments) % 2**32 or 1)
