"""Size guard: a RawData document must stay well below MongoDB's 16 MiB limit.

The size is that of the document's BSON encoding (``bson.encode`` from PyMongo). The default
threshold is 12 MiB, leaving room for a few more batches before the hard limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import bson

from .errors import DocumentTooLargeError

DEFAULT_MAX_DOCUMENT_BYTES = 12 * 1024 * 1024


def document_size(doc: Mapping[str, Any]) -> int:
    """Number of bytes of the BSON encoding of ``doc``."""
    return len(bson.encode(doc))


def check_document_size(doc: Mapping[str, Any], limit_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
                        key: str | None = None) -> int:
    """Return the BSON size of ``doc``; raise :class:`DocumentTooLargeError` naming ``key``
    (default: ``doc["_id"]``) if it is over ``limit_bytes``."""
    size = document_size(doc)
    if size > limit_bytes:
        raise DocumentTooLargeError(key if key is not None else doc.get("_id"), size, limit_bytes)
    return size
