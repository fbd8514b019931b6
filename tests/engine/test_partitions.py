from hypothesis import given, strategies as st

from sf.engine.partitions import KeyRange, key_ranges, split_sorted_keys

sirens = st.text(alphabet="0123456789", min_size=9, max_size=9)
entity_keys = st.builds(lambda siren, nic, is_siret: siren + nic if is_siret else siren,
                        sirens, st.text(alphabet="0123456789", min_size=5, max_size=5), st.booleans())


@given(st.lists(entity_keys, max_size=300), st.integers(min_value=1, max_value=12))
def test_ranges_cover_every_key_once_and_keep_companies_whole(keys, parts):
    ranges = split_sorted_keys(sorted(set(keys)), parts)
    assert 1 <= len(ranges) <= parts
    assert ranges[0].lo is None and ranges[-1].hi is None
    for key in keys:
        owners = [r for r in ranges if r.contains(key)]
        assert len(owners) == 1
        # the company's SIREN and any of its establishments land in the same range
        assert owners[0].contains(key[:9]) and owners[0].contains(key[:9] + "99999")


def test_ranges_are_balanced_on_spread_keys():
    keys = sorted(f"{i:09d}{j:05d}" for i in range(0, 1000) for j in range(3))
    sizes = [sum(r.contains(k) for k in keys) for r in split_sorted_keys(keys, 4)]
    assert len(sizes) == 4 and max(sizes) - min(sizes) <= 3


def test_range_filters_on_the_server(db):
    db["RawData"].insert_many([{"_id": k, "value": {"key": k}} for k in
                               ("000000001", "00000000100012", "500000000", "50000000000001", "900000000")])
    ranges = key_ranges([(db["RawData"], "value.key")], 3)
    found = [sorted(d["_id"] for d in db["RawData"].find(r.filter("value.key"))) for r in ranges]
    assert sorted(sum(found, [])) == sorted(d["_id"] for d in db["RawData"].find())
    owners = {}
    for index, part in enumerate(found):
        for key in part:
            assert owners.setdefault(key[:9], index) == index, "a company is split across ranges"
    assert KeyRange(None, None).filter("value.key") == {}


def test_more_ranges_when_a_range_would_hold_too_many_keys(db):
    db["RawData"].insert_many([{"_id": f"{i:09d}", "value": {"key": f"{i:09d}"}} for i in range(50)])
    assert len(key_ranges([(db["RawData"], "value.key")], 2, max_keys_per_range=10)) == 5
    assert len(key_ranges([(db["RawData"], "value.key")], 2, max_keys_per_range=None)) == 2
