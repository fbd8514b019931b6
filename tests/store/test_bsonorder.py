"""MongoDB's comparison order (docs "Comparison/Sort Order") and its byte encoding.

Vectors come from MongoDB's documentation; properties check that ``encode_key``,
``sort_key`` and ``compare`` agree and that ``compare`` is a total order.
"""

from __future__ import annotations

import datetime
import decimal
import math

import pytest
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
from hypothesis import assume, given, strategies as st

from sf.store.bsonorder import Collation, compare, encode_key, sort_key, type_rank
from sf.store.errors import StoreError

# One value of each type, in MongoDB's documented order: MinKey, Null, Numbers, Symbol/String,
# Object, Array, BinData, ObjectId, Boolean, Date, Timestamp, Regular Expression, MaxKey.
TYPE_ORDER = [
    MinKey(),
    None,
    5,
    "a",
    {"a": 1},
    [1],
    b"\x00",
    ObjectId("000000000000000000000000"),
    False,
    datetime.datetime(1970, 1, 1),
    Timestamp(0, 0),
    Regex("a"),
    MaxKey(),
]


def sign(x: int) -> int:
    return (x > 0) - (x < 0)


@pytest.mark.parametrize("i", range(len(TYPE_ORDER) - 1))
def test_type_order_of_the_documentation(i: int) -> None:
    lower, higher = TYPE_ORDER[i], TYPE_ORDER[i + 1]
    assert type_rank(lower) < type_rank(higher)
    assert compare(lower, higher) == -1 and compare(higher, lower) == 1
    assert encode_key(lower) < encode_key(higher)


@pytest.mark.parametrize("a, b, expected", [
    # Numbers compare by value whatever their type.
    (1, 1.0, 0), (1, Int64(1), 0), (1, Decimal128("1"), 0), (Decimal128("1.000"), 1.0, 0),
    (-0.0, 0, 0), (Decimal128("-0"), 0.0, 0), (Decimal128("0E+10"), Int64(0), 0),
    (1, 1.5, -1), (Int64(-3), -2.5, -1), (Decimal128("2.5"), 2, 1),
    # Decimal128("0.1") is not the double 0.1 (docs: "Decimal128 ... double: not equal").
    (Decimal128("0.1"), 0.1, -1), (Decimal128("0.3"), 0.1 + 0.2, -1),
    # int64 beyond 2**53 is compared exactly with doubles.
    (Int64(2**53 + 1), float(2**53), 1), (Int64(2**63 - 1), 2.0**63, -1), (Int64(2**53), float(2**53), 0),
    # NaN equals NaN and is below every other number, including -inf.
    (math.nan, math.nan, 0), (math.nan, Decimal128("NaN"), 0), (math.nan, -math.inf, -1),
    (Decimal128("NaN"), Decimal128("-Infinity"), -1), (math.inf, Decimal128("Infinity"), 0),
    (-math.inf, Int64(-2**63), -1), (math.inf, Decimal128("9.999999999999999999999999999999999E+6144"), 1),
    # A boolean is never a number.
    (True, 1, 1), (False, 0, 1), (True, False, 1),
    # Strings by binary order: uppercase before lowercase.
    ("B", "a", -1), ("a", "ab", -1), ("é", "z", 1),
    # Objects: field type, then name, then value; a prefix is smaller.
    ({"a": 1}, {"a": 1.0}, 0), ({"a": 1}, {"b": 0}, -1), ({"b": 1}, {"a": "x"}, -1),
    ({"a": 1}, {"a": 1, "b": 0}, -1), ({}, {"a": MinKey()}, -1), ({"a": 2}, {"a": 1, "b": 5}, 1),
    # Arrays element by element; a prefix is smaller.
    ([1, 2], [1, 3], -1), ([1, 2], [1, 2, 0], -1), ([], [None], -1), ([2], [1, 9], 1), ([1, "a"], [1, 2], 1),
    # BinData by length, then subtype, then bytes.
    (b"\xff", b"\x00\x00", -1), (Binary(b"\x00", 5), b"\x01", 1), (b"\x01", b"\x02", -1),
    # Dates by milliseconds; a date is not a timestamp.
    (datetime.datetime(2020, 1, 1), DatetimeMS(1577836800000), 0),
    (DatetimeMS(-1), datetime.datetime(1970, 1, 1), -1),
    (datetime.datetime(9999, 1, 1), Timestamp(0, 1), -1),
    (Timestamp(1, 5), Timestamp(2, 0), -1), (Timestamp(2**32 - 1, 0), Timestamp(1, 0), 1),
    (ObjectId("0000000000000000000000ff"), ObjectId("000000000000000000000100"), -1),
    (Regex("a", "i"), Regex("a"), 1), (Regex("a", "i"), Regex("b"), -1),
    (MinKey(), MinKey(), 0), (MaxKey(), MaxKey(), 0), (None, None, 0),
    (DBRef("c", 1), {"$ref": "c", "$id": 1}, 0), (Code("a"), Code("a", {}), -1), (Code("b"), Regex("a"), 1),
])
def test_comparison_vectors(a, b, expected) -> None:
    assert compare(a, b) == expected
    assert compare(b, a) == -expected
    assert sign((encode_key(a) > encode_key(b)) - (encode_key(a) < encode_key(b))) == expected


def test_not_a_bson_value_is_an_error() -> None:
    with pytest.raises(StoreError):
        type_rank(object())


# --- collation ------------------------------------------------------------------------

def test_simple_locale_is_no_collation() -> None:
    assert Collation.from_spec({"locale": "simple"}) is None
    assert Collation.from_spec(None) is None


@pytest.mark.parametrize("spec, code", [
    ({"locale": "en_US", "bogus": 1}, 40415), ({"strength": 2}, 40414),
    ({"locale": "en_US", "strength": 9}, 2), ({"locale": "en_US", "caseFirst": "x"}, 2),
])
def test_invalid_collations(spec, code) -> None:
    with pytest.raises(StoreError) as err:
        Collation.from_spec(spec)
    assert err.value.code == code


def test_case_insensitive_collation() -> None:
    # Docs "Collation": strength 2 compares base characters and diacritics, not case.
    ci = Collation.from_spec({"locale": "en_US", "strength": 2})
    assert compare("PING", "ping", ci) == 0 and compare("pINg", "ping", ci) == 0
    assert compare("cafe", "café", ci) != 0
    primary = Collation.from_spec({"locale": "fr", "strength": 1})
    assert compare("cafe", "CAFÉ", primary) == 0
    default = Collation.from_spec({"locale": "en_US"})
    assert compare("a", "A", default) == -1 and compare("A", "b", default) == -1
    assert compare("B", "a") == -1  # simple binary order for contrast
    numeric = Collation.from_spec({"locale": "en_US", "numericOrdering": True})
    assert compare("a10", "a9", numeric) == 1 and compare("a10", "a9") == -1
    # Collation applies inside objects and arrays, never to field names.
    assert compare({"x": ["A"]}, {"x": ["a"]}, ci) == 0
    assert compare({"X": "a"}, {"x": "a"}, ci) == -1
    assert sort_key({"x": ["A"]}, ci) == sort_key({"x": ["a"]}, ci)


# --- properties -----------------------------------------------------------------------

int32s = st.integers(-2**31, 2**31 - 1)
int64s = st.integers(-2**63, 2**63 - 1).map(Int64)
doubles = st.floats(allow_nan=True, allow_infinity=True)
decimals = st.one_of(
    st.builds(lambda c, e: Decimal128(f"{c}E{e}"), st.integers(-(10**34 - 1), 10**34 - 1), st.integers(-6176, 6111)),
    st.builds(lambda c, e: Decimal128(f"{c}E{e}"), st.integers(-10**6, 10**6), st.integers(-20, 20)),
    st.sampled_from([Decimal128("NaN"), Decimal128("Infinity"), Decimal128("-Infinity"), Decimal128("-0")]),
)
numbers = st.one_of(int32s, int64s, doubles, decimals, st.integers(-5, 5), st.sampled_from([0.5, -0.0, 1.0, 2.0]))
scalars = st.one_of(
    numbers,
    st.none(), st.booleans(), st.just(MinKey()), st.just(MaxKey()),
    st.text(max_size=5), st.sampled_from(["", "a", "A", "\x00", "a\x00", "é"]),
    st.binary(max_size=4), st.builds(Binary, st.binary(max_size=3), st.sampled_from([0, 4, 128])),
    st.builds(ObjectId, st.binary(min_size=12, max_size=12)),
    st.builds(DatetimeMS, st.integers(-2**62, 2**62)),
    st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)),
    st.builds(Timestamp, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    st.builds(Regex, st.sampled_from(["a", "b", "a\\d"]), st.sampled_from(["", "i", "im"])),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "ab", ""]), children, max_size=3),
    ),
    max_leaves=8,
)


@given(values, values)
def test_encode_key_order_is_compare_order(a, b) -> None:
    c = compare(a, b)
    assert c == -compare(b, a)
    ka, kb = encode_key(a), encode_key(b)
    assert sign((ka > kb) - (ka < kb)) == c
    assert (sort_key(a) == sort_key(b)) == (c == 0)


@given(st.lists(values, min_size=3, max_size=3))
def test_compare_is_transitive(triple) -> None:
    a, b, c = sorted(triple, key=encode_key)
    assert compare(a, b) <= 0 and compare(b, c) <= 0 and compare(a, c) <= 0
    if compare(a, b) == 0 and compare(b, c) == 0:
        assert compare(a, c) == 0


@given(st.lists(values, max_size=4), st.lists(values, max_size=4))
def test_concatenated_keys_compare_field_by_field(xs, ys) -> None:
    # Compound index keys: concatenation is ordered like the tuples of values.
    n = min(len(xs), len(ys))
    xs, ys = xs[:n], ys[:n]
    expected = next((c for c in (compare(x, y) for x, y in zip(xs, ys)) if c), 0)
    kx = b"".join(map(encode_key, xs))
    ky = b"".join(map(encode_key, ys))
    assert sign((kx > ky) - (kx < ky)) == expected


@given(st.integers(-2**63, 2**63 - 1))
def test_equal_numbers_of_every_type_encode_equal(n) -> None:
    forms = [Int64(n), Decimal128(str(n)), Decimal128(f"{n}.000")]
    if -2**31 <= n < 2**31:
        forms.append(n)
    if float(n) == n:
        forms.append(float(n))
    keys = {encode_key(v) for v in forms}
    assert len(keys) == 1


@given(doubles)
def test_doubles_encode_like_their_exact_decimal128(x) -> None:
    assume(math.isfinite(x))
    exact = decimal.Decimal(x)
    assume(len(exact.as_tuple().digits) <= 34)
    assert encode_key(Decimal128(str(exact))) == encode_key(x)
    assert compare(Decimal128(str(exact)), x) == 0
    if x != 0:
        assert encode_key(x) != encode_key(-x)


@pytest.mark.parametrize("value, code", [
    # docs: "$type" / "BSON Types": the numbers and aliases of each type.
    (1.5, 1), ("s", 2), ({}, 3), (DBRef("c", 1), 3), ([], 4), (b"", 5), (Binary(b"", 4), 5),
    (ObjectId("000000000000000000000000"), 7), (False, 8), (datetime.datetime(2020, 1, 1), 9),
    (DatetimeMS(0), 9), (None, 10), (Regex("a"), 11), (Code("x"), 13), (Code("x", {}), 15),
    (1, 16), (-2**31, 16), (2**31, 18), (Int64(1), 18), (Timestamp(0, 0), 17), (Decimal128("1"), 19),
    (MinKey(), -1), (MaxKey(), 127),
])
def test_bson_type(value, code) -> None:
    from sf.store.bsonorder import TYPE_ALIASES, bson_type
    assert bson_type(value) == code
    assert code in TYPE_ALIASES.values()


@given(st.lists(values, min_size=1, max_size=4))
def test_key_end_splits_a_compound_key_into_its_fields(xs) -> None:
    from bson.code import Code

    from sf.store.bsonorder import key_end

    xs = xs + [Code("f()"), Code("g", {"a": 1})]
    parts = [encode_key(x) for x in xs]
    key = b"".join(parts)
    pos = 0
    for part in parts:
        end = key_end(key, pos)
        assert key[pos:end] == part
        pos = end
    assert pos == len(key)
