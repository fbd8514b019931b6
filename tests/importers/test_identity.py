"""The versioned record hash (sf.importers.identity)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sf.importers.identity import HASH_VERSION, canonical_text, record_hash


def test_canonical_text_is_documented_shape() -> None:
    document = {"du": 4.0, "numero_compte": "1é\"", "periode": {"start": datetime(2010, 5, 1, tzinfo=UTC),
                                                               "end": datetime(2010, 6, 1, tzinfo=UTC)},
                "n": 4, "ok": True}
    assert HASH_VERSION == 1
    assert canonical_text("cotisation", document) == (
        '{"record":{"du":4.0,"n":4,"numero_compte":"1é\\"","ok":true,'
        '"periode":{"end":{"$date":"2010-06-01T00:00:00Z"},"start":{"$date":"2010-05-01T00:00:00Z"}}},'
        '"type":"cotisation","v":1}')
    digest = record_hash("cotisation", document)
    assert len(digest) == 32 and digest == digest.lower() and int(digest, 16) >= 0


def test_typed_values_never_collide() -> None:
    base = {"a": 4}
    variants = [{"a": 4.0}, {"a": "4"}, {"a": True}, {"a": None}, {}, {"a": 4, "b": None},
                {"a": datetime(2010, 1, 1, tzinfo=UTC)}, {"a": "2010-01-01T00:00:00Z"}]
    hashes = {record_hash("t", base)} | {record_hash("t", v) for v in variants}
    assert len(hashes) == len(variants) + 1
    assert record_hash("t", base) != record_hash("u", base)


def test_timezones_and_key_order_do_not_matter() -> None:
    paris = timezone(timedelta(hours=1))
    assert record_hash("t", {"d": datetime(2010, 1, 1, 1, tzinfo=paris), "x": 1}) == \
        record_hash("t", {"x": 1, "d": datetime(2010, 1, 1, tzinfo=UTC)})


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
    | st.datetimes(timezones=st.just(UTC)),
    lambda children: st.dictionaries(st.text(max_size=3), children, max_size=3), max_leaves=8)


@given(st.dictionaries(st.text(max_size=4), VALUES, max_size=4), st.dictionaries(st.text(max_size=4), VALUES, max_size=4))
def test_equal_documents_share_a_hash_different_ones_do_not(a: dict, b: dict) -> None:
    def typed(value):  # equality that distinguishes 1, 1.0 and True like the hash must
        if isinstance(value, dict):
            return tuple(sorted((k, typed(v)) for k, v in value.items()))
        return (type(value).__name__, value if not isinstance(value, float) else repr(value))

    assert (record_hash("t", a) == record_hash("t", b)) == (typed(a) == typed(b))
