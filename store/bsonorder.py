"""MongoDB's comparison and sort order of BSON values, and an order-preserving byte encoding.

MongoDB compares values of different types by a fixed type order (docs: "Comparison/Sort
Order"): MinKey < null < numbers < string/symbol < object < array < binary < ObjectId <
boolean < date < timestamp < regex < code < code with scope < MaxKey (DBRef is an object).
Within a type:

- numbers compare by exact value across int32, int64, double and Decimal128 (``2**53 + 1``
  as int64 is greater than the double ``2.0**53``); NaN equals NaN and is below every other
  number; ``-0.0 == 0``;
- strings by the binary order of their UTF-8 bytes, or by a :class:`Collation`;
- objects field by field: field type, then field name, then value; a prefix is smaller;
- arrays element by element (type, then value); a prefix is smaller;
- binary data by length, then subtype, then bytes; ObjectIds by their 12 bytes;
  booleans false < true; dates by signed milliseconds; timestamps as unsigned (time, inc);
  regexes by pattern then flags.

Inputs are the Python values :mod:`.codec` decodes to. ``bool`` is tested before numbers:
``true`` is a boolean, never the number 1. A value of a type BSON cannot hold raises
:class:`StoreError` (BadValue).

:func:`encode_key` maps each value to bytes such that byte order is this order and equal
bytes mean equal values (``1``, ``1.0``, ``Int64(1)`` and ``Decimal128("1")`` encode the
same); encodings are self-delimiting, so concatenations compare field by field (compound keys).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bson.binary import Binary
from bson.code import Code
from bson.datetime_ms import DatetimeMS
from bson.dbref import DBRef
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp

from .errors import BAD_VALUE, StoreError

# Canonical type ranks (MongoDB's canonicalizeBSONType); the numbers leave room between types.
RANK_MINKEY = 1
RANK_NULL = 5
RANK_NUMBER = 10
RANK_STRING = 15
RANK_OBJECT = 20
RANK_ARRAY = 25
RANK_BINARY = 30
RANK_OBJECTID = 35
RANK_BOOL = 40
RANK_DATE = 45
RANK_TIMESTAMP = 47
RANK_REGEX = 50
RANK_CODE = 60
RANK_CODE_WITH_SCOPE = 65
RANK_MAXKEY = 127


def type_rank(value: Any) -> int:
    """The canonical type rank of ``value`` (lower sorts first); raises StoreError for non-BSON."""
    t = type(value)
    rank = _RANK_BY_TYPE.get(t)
    if rank is not None:
        if rank == RANK_CODE and value.scope is not None:
            return RANK_CODE_WITH_SCOPE
        return rank
    # Subclasses (SON, OrderedDict, RawBSONDocument-like mappings, IntEnum...).
    if t is bool:
        return RANK_BOOL
    if isinstance(value, Code):
        return RANK_CODE if value.scope is None else RANK_CODE_WITH_SCOPE
    if isinstance(value, Mapping):
        return RANK_OBJECT
    if isinstance(value, (list, tuple)):
        return RANK_ARRAY
    if isinstance(value, (bytes, bytearray)):
        return RANK_BINARY
    if isinstance(value, (int, float)):
        return RANK_NUMBER
    if isinstance(value, str):
        return RANK_STRING
    if isinstance(value, datetime.datetime):
        return RANK_DATE
    if isinstance(value, re.Pattern):
        return RANK_REGEX
    raise StoreError(BAD_VALUE, f"cannot compare a value of Python type {t.__name__} (not a BSON value)")


_RANK_BY_TYPE: dict[type, int] = {
    MinKey: RANK_MINKEY,
    type(None): RANK_NULL,
    int: RANK_NUMBER,
    Int64: RANK_NUMBER,
    float: RANK_NUMBER,
    Decimal128: RANK_NUMBER,
    str: RANK_STRING,
    dict: RANK_OBJECT,
    DBRef: RANK_OBJECT,
    list: RANK_ARRAY,
    tuple: RANK_ARRAY,
    bytes: RANK_BINARY,
    Binary: RANK_BINARY,
    ObjectId: RANK_OBJECTID,
    bool: RANK_BOOL,
    datetime.datetime: RANK_DATE,
    DatetimeMS: RANK_DATE,
    Timestamp: RANK_TIMESTAMP,
    Regex: RANK_REGEX,
    Code: RANK_CODE,
    MaxKey: RANK_MAXKEY,
}


# --- BSON type codes ($type) ----------------------------------------------------------

# The type aliases of ``$type`` (docs: "$type ... Available Types"); "number" is all four numbers.
TYPE_ALIASES: dict[str, int] = {
    "double": 1, "string": 2, "object": 3, "array": 4, "binData": 5, "undefined": 6,
    "objectId": 7, "bool": 8, "date": 9, "null": 10, "regex": 11, "dbPointer": 12,
    "javascript": 13, "symbol": 14, "javascriptWithScope": 15, "int": 16, "timestamp": 17,
    "long": 18, "decimal": 19, "minKey": -1, "maxKey": 127,
}
TYPE_NAMES: dict[int, str] = {code: name for name, code in TYPE_ALIASES.items()}
NUMBER_TYPES = frozenset({1, 16, 18, 19})


def bson_type(value: Any) -> int:
    """The BSON type code of a decoded value (int32 16, int64 18, double 1, ...).

    A Python ``int`` outside the int32 range is written as int64 by ``bson``, so it is 18.
    Symbols decode to ``str`` and undefined to ``None``, so they report string and null.
    """
    t = type(value)
    if t is bool:
        return 8
    if t is int:
        return 16 if -2**31 <= value < 2**31 else 18
    code = _TYPE_BY_CLASS.get(t)
    if code is not None:
        if code == 13 and value.scope is not None:
            return 15
        return code
    rank = type_rank(value)  # subclasses: fall back on the rank
    return {RANK_OBJECT: 3, RANK_ARRAY: 4, RANK_BINARY: 5, RANK_STRING: 2, RANK_DATE: 9,
            RANK_REGEX: 11, RANK_NUMBER: 18 if isinstance(value, int) else 1,
            RANK_CODE: 13, RANK_CODE_WITH_SCOPE: 15}[rank]


_TYPE_BY_CLASS: dict[type, int] = {
    float: 1, str: 2, dict: 3, DBRef: 3, list: 4, tuple: 4, bytes: 5, Binary: 5, ObjectId: 7,
    datetime.datetime: 9, DatetimeMS: 9, type(None): 10, Regex: 11, Code: 13, Timestamp: 17,
    Int64: 18, Decimal128: 19, MinKey: -1, MaxKey: 127,
}


# --- small accessors -------------------------------------------------------------------

def is_number(value: Any) -> bool:
    """True for int32/int64/double/Decimal128 values (never for booleans)."""
    return type(value) is not bool and isinstance(value, (int, float, Decimal128))


def is_nan(value: Any) -> bool:
    """True for a double or Decimal128 NaN."""
    if type(value) is float:
        return value != value
    if type(value) is Decimal128:
        return value.to_decimal().is_nan()
    return False


def datetime_millis(value: datetime.datetime | DatetimeMS) -> int:
    """Milliseconds since the epoch of a BSON date (naive datetimes are UTC)."""
    if type(value) is DatetimeMS:
        return int(value)
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return (value - _EPOCH) // _MILLISECOND  # floor, as seconds * 1000 + microseconds // 1000


_EPOCH = datetime.datetime(1970, 1, 1)
_MILLISECOND = datetime.timedelta(milliseconds=1)


def regex_flags(value: Regex | re.Pattern) -> str:
    """The BSON flags string of a regex (letters in alphabetical order, as BSON stores them)."""
    if isinstance(value, re.Pattern):
        value = Regex.from_native(value)
    flags = value.flags
    if isinstance(flags, str):
        return "".join(sorted(flags))
    letters = ""
    for letter, bit in (("i", re.IGNORECASE), ("l", re.LOCALE), ("m", re.MULTILINE),
                        ("s", re.DOTALL), ("u", re.UNICODE), ("x", re.VERBOSE)):
        if flags & bit:
            letters += letter
    return letters


def _regex_pattern(value: Regex | re.Pattern) -> str:
    pattern = value.pattern
    return pattern.decode() if isinstance(pattern, bytes) else pattern


def _binary_parts(value: bytes) -> tuple[int, bytes]:
    subtype = value.subtype if isinstance(value, Binary) else 0
    return subtype, bytes(value)


def _object_items(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, DBRef):
        return list(value.as_doc().items())
    return list(value.items())


def _to_decimal(value: Any) -> decimal.Decimal:
    if type(value) is Decimal128:
        return value.to_decimal()
    return decimal.Decimal(value)  # exact for int and float


# --- comparison ------------------------------------------------------------------------

def compare_numbers(a: Any, b: Any) -> int:
    """Compare two numbers by exact value (NaN == NaN, NaN below everything)."""
    ta, tb = type(a), type(b)
    if ta is not Decimal128 and tb is not Decimal128:
        if a == b:
            return 0
        if a < b:
            return -1
        if a > b:
            return 1
        # One side is NaN.
        a_nan, b_nan = a != a, b != b
        return 0 if a_nan and b_nan else (-1 if a_nan else 1)
    da, db = _to_decimal(a), _to_decimal(b)
    a_nan, b_nan = da.is_nan(), db.is_nan()
    if a_nan or b_nan:
        return 0 if a_nan and b_nan else (-1 if a_nan else 1)
    return (da > db) - (da < db)


def compare(a: Any, b: Any, collation: Collation | None = None) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to or after ``b`` in MongoDB's order."""
    ra, rb = type_rank(a), type_rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra == RANK_NUMBER:
        return compare_numbers(a, b)
    if ra == RANK_STRING:
        if collation is not None:
            ka, kb = collation.key(a), collation.key(b)
            return (ka > kb) - (ka < kb)
        return (a > b) - (a < b)  # code point order == UTF-8 byte order
    if ra == RANK_OBJECT:
        return _compare_objects(_object_items(a), _object_items(b), collation)
    if ra == RANK_ARRAY:
        for x, y in zip(a, b):
            c = compare(x, y, collation)
            if c:
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    if ra in (RANK_NULL, RANK_MINKEY, RANK_MAXKEY):
        return 0
    if ra == RANK_BOOL:
        return (a > b) - (a < b)
    if ra == RANK_DATE:
        ma, mb = datetime_millis(a), datetime_millis(b)
        return (ma > mb) - (ma < mb)
    if ra == RANK_BINARY:
        ka = (len(a), *_binary_parts(a))
        kb = (len(b), *_binary_parts(b))
        return (ka > kb) - (ka < kb)
    if ra == RANK_OBJECTID:
        ka, kb = a.binary, b.binary
        return (ka > kb) - (ka < kb)
    if ra == RANK_TIMESTAMP:
        ka, kb = (a.time, a.inc), (b.time, b.inc)
        return (ka > kb) - (ka < kb)
    if ra == RANK_REGEX:
        ka = (_utf8(_regex_pattern(a)), regex_flags(a))
        kb = (_utf8(_regex_pattern(b)), regex_flags(b))
        return (ka > kb) - (ka < kb)
    if ra == RANK_CODE:
        return (str(a) > str(b)) - (str(a) < str(b))
    if ra == RANK_CODE_WITH_SCOPE:
        c = (str(a) > str(b)) - (str(a) < str(b))
        return c or _compare_objects(list(a.scope.items()), list(b.scope.items()), collation)
    raise AssertionError(ra)  # pragma: no cover - every rank is handled above


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _compare_objects(a: list[tuple[str, Any]], b: list[tuple[str, Any]], collation: Collation | None) -> int:
    for (ka, va), (kb, vb) in zip(a, b):
        ra, rb = type_rank(va), type_rank(vb)
        if ra != rb:
            return -1 if ra < rb else 1
        if ka != kb:  # field names compare as binary strings, never by collation
            return -1 if ka < kb else 1
        c = compare(va, vb, collation)
        if c:
            return c
    return (len(a) > len(b)) - (len(a) < len(b))


def values_equal(a: Any, b: Any, collation: Collation | None = None) -> bool:
    """MongoDB equality (``$eq`` between two whole values)."""
    return compare(a, b, collation) == 0


# --- order-preserving byte encoding ----------------------------------------------------

def encode_key(value: Any) -> bytes:
    """Order-preserving, self-delimiting bytes of ``value`` (simple binary collation).

    ``encode_key(a) < encode_key(b)`` iff ``compare(a, b) < 0``, equal bytes iff
    ``compare(a, b) == 0``; concatenations of encodings compare field by field.
    """
    out = bytearray()
    _encode(value, out, None)
    return bytes(out)


def sort_key(value: Any, collation: Collation | None = None) -> bytes:
    """A key for ``sorted`` that orders values as :func:`compare` does under ``collation``."""
    out = bytearray()
    _encode(value, out, collation)
    return bytes(out)


def key_end(key: bytes, pos: int = 0) -> int:
    """The end of the :func:`encode_key` encoding that starts at ``key[pos]`` (encodings are
    self-delimiting: a compound index key is its fields' encodings one after the other).
    Raises ValueError on bytes that are not such an encoding."""
    rank = key[pos]
    return _body_end(rank, key, pos + 1)


def _escaped_end(key: bytes, pos: int) -> int:
    while True:
        pos = key.index(b"\x00", pos)
        if key[pos + 1] == 0:
            return pos + 2
        pos += 2  # an escaped 0x00 (0x00 0xFF)


def _body_end(rank: int, key: bytes, pos: int) -> int:
    if rank == RANK_NUMBER:
        tag = key[pos]
        if tag == _NUM_POS:
            return key.index(b"\x00", pos + 3) + 1
        if tag == _NUM_NEG:
            return key.index(b"\xff", pos + 3) + 1
        return pos + 1
    if rank in (RANK_STRING, RANK_CODE):
        return _escaped_end(key, pos)
    if rank in (RANK_NULL, RANK_MINKEY, RANK_MAXKEY):
        return pos
    if rank == RANK_BOOL:
        return pos + 1
    if rank in (RANK_DATE, RANK_TIMESTAMP):
        return pos + 8
    if rank == RANK_OBJECTID:
        return pos + 12
    if rank == RANK_BINARY:
        return pos + 5 + int.from_bytes(key[pos:pos + 4], "big")
    if rank == RANK_REGEX:
        return _escaped_end(key, _escaped_end(key, pos))
    if rank == RANK_ARRAY:
        while key[pos] != 0:
            pos = key_end(key, pos)
        return pos + 1
    if rank in (RANK_OBJECT, RANK_CODE_WITH_SCOPE):
        if rank == RANK_CODE_WITH_SCOPE:
            pos = _escaped_end(key, pos)
        while key[pos] != 0:
            pos = _body_end(key[pos], key, _escaped_end(key, pos + 1))
        return pos + 1
    raise ValueError(f"not a key encoding: rank {rank} at {pos - 1}")


def _escape(data: bytes) -> bytes:
    # 0x00 -> 0x00 0xFF, end -> 0x00 0x00: byte order of the escaped strings is that of the
    # originals, and no encoding is a prefix of another.
    return data.replace(b"\x00", b"\x00\xff") + b"\x00\x00"


def _encode(value: Any, out: bytearray, collation: Collation | None) -> None:
    rank = type_rank(value)
    out.append(rank)
    _encode_body(rank, value, out, collation)


def _encode_body(rank: int, value: Any, out: bytearray, collation: Collation | None) -> None:
    if rank == RANK_NUMBER:
        _encode_number(value, out)
    elif rank == RANK_STRING:
        out += collation.key_bytes(value) if collation is not None else _escape(_utf8(value))
    elif rank == RANK_OBJECT:
        _encode_object(_object_items(value), out, collation)
    elif rank == RANK_ARRAY:
        for item in value:
            _encode(item, out, collation)
        out.append(0)
    elif rank in (RANK_NULL, RANK_MINKEY, RANK_MAXKEY):
        pass
    elif rank == RANK_BOOL:
        out.append(1 if value else 0)
    elif rank == RANK_DATE:
        out += (datetime_millis(value) + (1 << 63)).to_bytes(8, "big")
    elif rank == RANK_BINARY:
        subtype, data = _binary_parts(value)
        out += len(data).to_bytes(4, "big")
        out.append(subtype)
        out += data
    elif rank == RANK_OBJECTID:
        out += value.binary
    elif rank == RANK_TIMESTAMP:
        out += value.time.to_bytes(4, "big") + value.inc.to_bytes(4, "big")
    elif rank == RANK_REGEX:
        out += _escape(_utf8(_regex_pattern(value))) + _escape(regex_flags(value).encode())
    elif rank == RANK_CODE:
        out += _escape(_utf8(str(value)))
    elif rank == RANK_CODE_WITH_SCOPE:
        out += _escape(_utf8(str(value)))
        _encode_object(list(value.scope.items()), out, collation)
    else:  # pragma: no cover
        raise AssertionError(rank)


def _encode_object(items: list[tuple[str, Any]], out: bytearray, collation: Collation | None) -> None:
    # Per field: type rank, then name, then value (MongoDB's field comparison order);
    # the 0 terminator sorts below every rank, so a prefix object is smaller.
    for name, item in items:
        rank = type_rank(item)
        out.append(rank)
        out += _escape(_utf8(name))
        _encode_body(rank, item, out, collation)
    out.append(0)


# Number sub-tags: NaN < -inf < negative < zero < positive < +inf.
_NUM_NAN, _NUM_NEG_INF, _NUM_NEG, _NUM_ZERO, _NUM_POS, _NUM_POS_INF = 1, 2, 3, 4, 5, 6
_EXP_BIAS = 1 << 15
_COMPLEMENT = bytes(255 - i for i in range(256))


def _encode_number(value: Any, out: bytearray) -> None:
    """Exact value as sign, decimal exponent and digits, so equal values give equal bytes.

    A finite nonzero value is ``±0.d1d2…dn × 10**e`` with ``d1 != 0`` and ``dn != 0``; the
    exponent is written biased on 2 bytes, the digits two per byte (1..100, the last pair
    padded with a zero digit) then a 0 terminator. Negative values write the complement of
    the same bytes, which reverses their order.
    """
    t = type(value)
    if t is not float and t is not Decimal128:  # int32, Int64 (any int but bool)
        if value == 0:
            out.append(_NUM_ZERO)
            return
        negative = value < 0
        digits = str(-value if negative else value)
        exponent = len(digits)
        digits = digits.rstrip("0")
    else:
        if t is float:
            if value != value:
                out.append(_NUM_NAN)
                return
            if math.isinf(value):
                out.append(_NUM_POS_INF if value > 0 else _NUM_NEG_INF)
                return
            if value == 0:
                out.append(_NUM_ZERO)
                return
            dec = decimal.Decimal(value)
        else:
            dec = value.to_decimal()
            if dec.is_nan():
                out.append(_NUM_NAN)
                return
            if dec.is_infinite():
                out.append(_NUM_POS_INF if dec > 0 else _NUM_NEG_INF)
                return
            if dec.is_zero():
                out.append(_NUM_ZERO)
                return
        sign, digit_tuple, exp = dec.as_tuple()
        negative = bool(sign)
        digits = "".join(map(str, digit_tuple)).lstrip("0")
        exponent = exp + len(digits)
        digits = digits.rstrip("0")
    body = bytearray((exponent + _EXP_BIAS).to_bytes(2, "big"))
    if len(digits) % 2:
        digits += "0"
    body += bytes(int(digits[i:i + 2]) + 1 for i in range(0, len(digits), 2))
    body.append(0)
    if negative:
        out.append(_NUM_NEG)
        out += bytes(body).translate(_COMPLEMENT)
    else:
        out.append(_NUM_POS)
        out += body


# --- collation -------------------------------------------------------------------------

_COLLATION_FIELDS = {"locale", "strength", "caseLevel", "caseFirst", "numericOrdering",
                     "alternate", "maxVariable", "backwards", "normalization", "version"}
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class Collation:
    """A parsed MongoDB collation for string comparison (never the ``simple`` locale).

    Without ICU, strings are compared by levels approximating ICU's root collation:
    level 1 (primary) ignores case and diacritics, level 2 adds diacritics, level 3 adds case
    (lowercase first unless ``caseFirst: "upper"``), levels 4-5 add the exact string.
    ``numericOrdering`` compares digit runs as numbers. The ordering of punctuation against
    letters follows code points rather than ICU's tables.
    """

    locale: str
    strength: int = 3
    case_level: bool = False
    case_first: str = "off"
    numeric_ordering: bool = False
    alternate: str = "non-ignorable"
    backwards: bool = False

    @staticmethod
    def from_spec(spec: Mapping[str, Any] | Collation | None) -> Collation | None:
        """Parse a ``collation`` document; None for no collation or ``{locale: "simple"}``
        (a :class:`Collation` is returned as it is).

        Raises StoreError for a missing locale, unknown fields or invalid values.
        """
        if spec is None or isinstance(spec, Collation):
            return spec
        if not isinstance(spec, Mapping):
            raise StoreError(14, "collation must be an object", "TypeMismatch")
        for name in spec:
            if name not in _COLLATION_FIELDS:
                raise StoreError(40415, f"BSON field 'collation.{name}' is an unknown field.")
        if "locale" not in spec:
            raise StoreError(40414, "BSON field 'collation.locale' is missing but a required field")
        locale = spec["locale"]
        if type(locale) is not str or not locale:
            raise StoreError(BAD_VALUE, f"Field 'locale' is invalid in: {dict(spec)}")
        if locale == "simple":
            if len(spec) > 1 and any(k != "locale" for k in spec):
                raise StoreError(BAD_VALUE, "Collation options other than locale are not allowed with the simple locale")
            return None
        strength = spec.get("strength", 3)
        if not is_number(strength) or strength != int(strength) or not 1 <= int(strength) <= 5:
            raise StoreError(BAD_VALUE, "Field 'strength' must be an integer 1 through 5")
        case_first = spec.get("caseFirst", "off")
        if case_first not in ("upper", "lower", "off"):
            raise StoreError(BAD_VALUE, "Field 'caseFirst' must be one of 'upper', 'lower' or 'off'")
        alternate = spec.get("alternate", "non-ignorable")
        if alternate not in ("non-ignorable", "shifted"):
            raise StoreError(BAD_VALUE, "Field 'alternate' must be 'non-ignorable' or 'shifted'")
        if alternate == "shifted":
            raise StoreError(238, "collation alternate 'shifted' is not supported by the sf embedded store",
                             "NotImplemented")
        for flag in ("caseLevel", "numericOrdering", "backwards", "normalization"):
            if flag in spec and type(spec[flag]) is not bool:
                raise StoreError(14, f"BSON field 'collation.{flag}' is the wrong type, expected type 'bool'",
                                 "TypeMismatch")
        return Collation(locale=locale, strength=int(strength), case_level=bool(spec.get("caseLevel", False)),
                         case_first=case_first, numeric_ordering=bool(spec.get("numericOrdering", False)),
                         alternate=alternate, backwards=bool(spec.get("backwards", False)))

    def to_document(self) -> dict[str, Any]:
        """The collation as the server reports it."""
        return {"locale": self.locale, "caseLevel": self.case_level, "caseFirst": self.case_first,
                "strength": self.strength, "numericOrdering": self.numeric_ordering,
                "alternate": self.alternate, "maxVariable": "punct", "normalization": False,
                "backwards": self.backwards, "version": "57.1"}

    def key(self, text: str) -> tuple[str, ...]:
        """The comparison key of a string: one component per collation level."""
        return _collation_key(self, text)

    def key_bytes(self, text: str) -> bytes:
        """:meth:`key` as self-delimiting bytes (for :func:`sort_key`)."""
        return b"".join(_escape(_utf8(part)) for part in self.key(text))


def _numeric(text: str) -> str:
    # A digit run becomes "0", its length (8 digits) and its digits without leading zeros,
    # so that "9" < "10" while staying among the digits.
    def run(match: re.Match[str]) -> str:
        digits = match.group().lstrip("0") or "0"
        return "0" + str(len(digits)).zfill(8) + digits
    return _DIGITS.sub(run, text)


@functools.lru_cache(maxsize=65536)
def _collation_key(collation: Collation, text: str) -> tuple[str, ...]:
    decomposed = unicodedata.normalize("NFD", text)
    if collation.numeric_ordering:
        decomposed = _numeric(decomposed)
    base = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    primary = base.casefold()
    parts = [primary]
    if collation.strength == 1 and collation.case_level:
        parts.append(_case_key(collation, base))
    if collation.strength >= 2:
        accents = decomposed.casefold()
        parts.append(accents[::-1] if collation.backwards else accents)
    if collation.strength >= 3:
        parts.append(_case_key(collation, decomposed))
    if collation.strength >= 4:
        parts.append(text)
    return tuple(parts)


def _case_key(collation: Collation, text: str) -> str:
    # ICU puts lowercase before uppercase unless caseFirst is "upper".
    return text if collation.case_first == "upper" else text.swapcase()

