"""How the store turns stored BSON bytes into Python values and back, without changing them.

Documents are stored as the exact BSON bytes a client sent. When a layer needs to look
inside a document (a filter, an update, a projection), it decodes with :data:`CODEC`, which
is chosen so that ``encode(decode(raw)) == raw`` for every BSON value:

- int32 decodes to ``int`` and int64 to :class:`bson.int64.Int64` (``encode`` writes a Python
  ``int`` back as int32 when it fits, so the two stay distinct);
- datetimes are naive UTC ``datetime``s, and dates outside Python's range stay
  :class:`bson.datetime_ms.DatetimeMS` (``DATETIME_AUTO``);
- binary UUIDs stay :class:`bson.binary.Binary` (``UNSPECIFIED``), regexes stay
  :class:`bson.regex.Regex`, Decimal128, Timestamp, MinKey/MaxKey, Code, DBRef keep their types.

Beware in every pure function: ``bool`` is a subclass of ``int`` in Python, but ``true`` and
``1`` are different BSON values of different types. Test ``type(v) is bool`` before numbers.
"""

from __future__ import annotations

from typing import Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.binary import UuidRepresentation

CODEC: CodecOptions = CodecOptions(
    document_class=dict,
    tz_aware=False,
    uuid_representation=UuidRepresentation.UNSPECIFIED,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
)


def decode(raw: bytes) -> dict[str, Any]:
    """Decode one stored document (raises ``bson.errors.InvalidBSON`` on corrupt bytes)."""
    return bson.decode(raw, codec_options=CODEC)


def encode(document: dict[str, Any]) -> bytes:
    """Encode a document the store built (an update result, an upsert) back to BSON bytes.

    Raises ``bson.errors.InvalidDocument`` for values BSON cannot hold.
    """
    return bson.encode(document, check_keys=False, codec_options=CODEC)
