"""Record identity: the versioned dedupe hash of a stored record.

The original keyed every tuple by an MD5 of a Go-reflection dump of its struct (docs/importers.md §1.7);
reproducing it is not required here. ``record_hash`` is our own documented hash:

* input: the stored type name and the stored document (``Tuple.record.to_document()``);
* canonical text: JSON-like serialisation of ``{"record": document, "type": tuple_type,
  "v": HASH_VERSION}`` with keys sorted at every level, no whitespace, and typed values:
  ``int`` as decimal (``4``), ``float`` as Python ``repr`` (``4.0``, ``nan``, ``inf`` — so
  4 and 4.0 differ), ``bool`` as ``true``/``false``, ``None`` as ``null`` (only present for
  explicitly stored nulls), ``str`` JSON-escaped (non-ASCII characters kept, text UTF-8 encoded), ``datetime`` as
  ``{"$date":"YYYY-MM-DDTHH:MM:SS[.ffffff]Z"}`` in UTC (naive datetimes are taken as UTC),
  lists in order, nested dicts recursively;
* digest: ``blake2b(digest_size=16)`` of the UTF-8 text, as 32 lowercase hex characters.

Identical documents of one type collapse to one hash; documents differing in any stored
field (or of a different type) never share one. Bump HASH_VERSION whenever this recipe
changes: hashes of different versions must never be compared.
"""

from __future__ import annotations

from datetime import UTC, datetime
from hashlib import blake2b as _blake2b
from json.encoder import encode_basestring  # C-accelerated JSON string escaping
from typing import Any

__all__ = ["HASH_VERSION", "canonical_text", "canonical_value", "record_hash"]

HASH_VERSION = 1
_VERSION_SUFFIX = ',"v":' + str(HASH_VERSION) + "}"

_UTC = UTC


_DATES: dict[datetime, str] = {}
_KEYS: dict[str, str] = {}


def _date(value: datetime) -> str:
    # Imports carry few distinct dates (months, periods): cache their text.
    text = _DATES.get(value)
    if text is None:
        moment = value.astimezone(_UTC).replace(tzinfo=None) if value.tzinfo is not None else value
        iso = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
        text = '{"$date":"' + iso + 'Z"}'
        if len(_DATES) < 100_000:
            _DATES[value] = text
    return text


def _key(key: Any) -> str:
    text = _KEYS.get(key)
    if text is None:
        text = encode_basestring(str(key))
        if len(_KEYS) < 10_000:
            _KEYS[key] = text
    return text


def _canon(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is float:
        return repr(value)
    if kind is datetime:
        return _date(value)
    if kind is int:
        return repr(value)
    if kind is dict:
        return _canon_dict(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    # Subclasses of the supported types (rare): same text as their base type.
    if isinstance(value, dict):
        return "{" + ",".join([_key(k) + ":" + _canon(value[k]) for k in sorted(value)]) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join([_canon(item) for item in value]) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, datetime):
        return _date(value)
    if isinstance(value, str):
        return encode_basestring(str(value))
    raise TypeError(f"record_hash: unsupported value of type {kind.__name__}: {value!r}")


def _canon_dict(value: dict) -> str:
    # The common leaf types are serialised inline: this runs once per stored record.
    parts = []
    for key in sorted(value):
        item = value[key]
        kind = type(item)
        if kind is str:
            text = encode_basestring(item)
        elif kind is float:
            text = repr(item)
        elif kind is datetime:
            text = _DATES.get(item) or _date(item)
        elif kind is dict:
            text = _canon_dict(item)
        else:
            text = _canon(item)
        parts.append((_KEYS.get(key) or _key(key)) + ":" + text)
    return "{" + ",".join(parts) + "}"


def canonical_value(value: Any) -> str:
    """The canonical text of one value (as it appears inside :func:`canonical_text`);
    used by the column-wise fast path (``sf.importers.columnar``) to build the same text."""
    return _canon(value)


def canonical_text(tuple_type: str, document: dict[str, Any]) -> str:
    """The canonical serialisation hashed by :func:`record_hash` (useful to debug a hash)."""
    return '{"record":' + _canon(document) + ',"type":' + _key(tuple_type) + _VERSION_SUFFIX


def record_hash(tuple_type: str, document: dict[str, Any]) -> str:
    """32 lowercase hex characters identifying ``document`` of type ``tuple_type``.

    Raises TypeError for a value type outside the documented set.
    """
    text = '{"record":' + _canon_dict(document) + ',"type":' + _key(tuple_type) + _VERSION_SUFFIX
    return _blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
