"""Bulk work: pausing Python's cyclic garbage collector while many objects are built.

Decoding thousands of BSON documents, or building thousands of acyclic records, creates
objects the cyclic GC would rescan again and again while nothing cyclic is ever freed (see
docs/README.md §1.2). Every step that does bulk work wraps it in :func:`paused_gc`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for the ``with`` block; on exit (normal or by an
    exception) restore it as it was, so nesting and an already paused collector are safe."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
