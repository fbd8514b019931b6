"""Properties of compaction (docs/compaction.md §3), checked with hypothesis against a brute-force reference.

The reference below replays the deliveries batch after batch with sets, written from the rules of
docs/compaction.md §3.2 and independently of `sf.compaction`:

* a delivered entity: each delivered type gains the delivered hashes; each complete type of the
  batch becomes exactly the delivered set (empty if the type is not delivered);
* an absent entity: nothing, unless the batch's policy is "delete", then each complete type
  becomes empty.

Properties:
1. Replay: the state rebuilt from RawData up to each batch equals the reference's state.
2. Path independence: one run per batch, runs of several batches, all at once, or a
   re-compaction from any since-batch after re-importing the later batches: identical RawData.
3. Idempotence: compacting again with nothing new, or the same run again, changes nothing.
Plus: the incremental form (`compact_increment` + `$set`) builds exactly the same documents,
`compact_batch` folded month after month gives the same entries, and the stored live state
always equals the state rebuilt from the entries.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import bson
from bson.codec_options import CodecOptions
from hypothesis import given, settings
from hypothesis import strategies as st
from sf.compaction import (
    BatchInfo,
    EntityHead,
    compact_batch,
    compact_entity,
    compact_increment,
    live_state_of,
    rebuild_state,
    reporder_value,
)

TYPES = ("apconso", "effectif", "bdf")
HASHES = tuple(f"h{i}" for i in range(5))
BATCH_KEYS = ("2001", "2002", "2002_1", "2003", "2004", "2005")
KEYS = {"etablissement": "01234567891011", "entreprise": "000000001"}
CODEC = CodecOptions(tz_aware=True, tzinfo=UTC)
EXAMPLES = settings(max_examples=120, deadline=None)


def month(index: int) -> datetime:
    """Month ``index`` counted from 2019-10."""
    year, m = divmod(9 + index, 12)
    return datetime(2019 + year, m + 1, 1, tzinfo=UTC)


def record(type_name: str, record_hash: str) -> dict[str, Any]:
    # The same hash always carries the same record, as real hashes of record contents do.
    return {"type": type_name, "hash": record_hash, "date": datetime(2020, 1, 1, tzinfo=UTC)}


@dataclass
class Scenario:
    scope: str
    key: str
    keys: list[str]                                 # batch keys, sorted
    batches: dict[str, BatchInfo]
    deliveries: dict[str, dict[str, frozenset[str]]]  # batch -> type -> hashes; absent batch: not delivered
    splits: dict[str, int]                          # batch -> number of ImportedData values it is split into

    def values(self, batch_keys: list[str]) -> list[dict[str, Any]]:
        """ImportedData values delivering ``batch_keys``, each batch split over several values."""
        values: list[dict[str, Any]] = []
        for batch_key in batch_keys:
            if batch_key not in self.deliveries:
                continue
            parts: list[dict[str, Any]] = [{} for _ in range(self.splits[batch_key])]
            for i, (type_name, hashes) in enumerate(sorted(self.deliveries[batch_key].items())):
                for j, h in enumerate(sorted(hashes)):
                    parts[(i + j) % len(parts)].setdefault(type_name, {})[h] = record(type_name, h)
            values.extend({"key": self.key, "scope": self.scope, "batch": {batch_key: part}} for part in parts)
        return values


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    keys = sorted(draw(st.sets(st.sampled_from(BATCH_KEYS), min_size=1, max_size=5)))
    batches: dict[str, BatchInfo] = {}
    for batch_key in keys:
        start = draw(st.integers(0, 5))
        length = draw(st.integers(0, 4))
        batches[batch_key] = BatchInfo(
            complete_types=draw(st.frozensets(st.sampled_from(TYPES))),
            stock_absent=draw(st.sampled_from(["keep", "delete"])),
            serie_periode=tuple(month(i) for i in range(start, start + length)),
        )
    scope = draw(st.sampled_from(sorted(KEYS)))
    deliveries: dict[str, dict[str, frozenset[str]]] = {}
    splits: dict[str, int] = {}
    for batch_key in keys:
        if draw(st.integers(0, 3)) == 0:
            continue  # entity absent from this batch
        deliveries[batch_key] = draw(st.dictionaries(st.sampled_from(TYPES), st.frozensets(st.sampled_from(HASHES)),
                                                     max_size=3))
        splits[batch_key] = draw(st.integers(1, 2))
    return Scenario(scope, KEYS[scope], keys, batches, deliveries, splits)


# --- the brute-force reference ------------------------------------------------------------------

def reference_replay(s: Scenario) -> tuple[dict[str, dict[str, set[str]]], dict[str, bool]]:
    """State after each batch, and whether the entity was touched by it (delivered or changed)."""
    state: dict[str, set[str]] = {}
    after: dict[str, dict[str, set[str]]] = {}
    touched: dict[str, bool] = {}
    for batch_key in s.keys:
        info = s.batches[batch_key]
        before = copy.deepcopy(state)
        delivery = s.deliveries.get(batch_key)
        if delivery is not None:
            for type_name, hashes in delivery.items():
                state[type_name] = state.get(type_name, set()) | set(hashes)
            for type_name in info.complete_types:
                state[type_name] = set(delivery.get(type_name, ()))
        elif info.stock_absent == "delete":
            for type_name in info.complete_types:
                state[type_name] = set()
        state = {t: h for t, h in state.items() if h}
        after[batch_key] = copy.deepcopy(state)
        touched[batch_key] = delivery is not None or state != before
    return after, touched


def data_hashes(rebuilt: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    return {t: set(records) for t, records in rebuilt.items() if t != "reporder"}


def month_keys(months: tuple[datetime, ...]) -> set[str]:
    return {m.strftime("%Y-%m-%d") for m in months}


def roundtrip(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """What MongoDB gives back after storing ``doc``."""
    return None if doc is None else bson.decode(bson.encode(doc), codec_options=CODEC)


def compact_in_runs(s: Scenario, runs: list[list[str]]) -> dict[str, Any] | None:
    """Compact run after run, each run with its batches; an entity is visited when it has a
    document or imported data, as the I/O shell does (visiting an entity that nothing changes
    must be harmless)."""
    doc: dict[str, Any] | None = None
    for run in runs:
        values = s.values(run)
        if doc is None and not values:
            continue
        doc = roundtrip(compact_entity(doc, values, s.batches, since_batch=run[0], run_batches=run))
    return doc


def cut(keys: list[str], cuts: set[int]) -> list[list[str]]:
    runs, current = [], []
    for i, batch_key in enumerate(keys):
        if i in cuts and current:
            runs.append(current)
            current = []
        current.append(batch_key)
    runs.append(current)
    return runs


def apply_set(doc: dict[str, Any], set_fields: dict[str, Any]) -> None:
    """MongoDB's ``$set`` with dotted paths, for plain documents."""
    for path, value in set_fields.items():
        *parents, last = path.split(".")
        target = doc
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = copy.deepcopy(value)


# --- properties ---------------------------------------------------------------------------------

@EXAMPLES
@given(scenarios())
def test_property_1_replay(s: Scenario):
    """State rebuilt from RawData up to each batch = the reference replay; reporder holds each
    month of every batch that touched the etablissement exactly once, with the hash value."""
    doc = compact_in_runs(s, [[b] for b in s.keys])
    expected, touched = reference_replay(s)
    if doc is None:
        assert all(not state for state in expected.values())
        return
    value = doc["value"]
    for batch_key in s.keys:
        assert data_hashes(rebuild_state(value, batch_key)) == expected[batch_key], batch_key
        for type_name, records in rebuild_state(value, batch_key).items():
            if type_name != "reporder":
                assert all(rec == record(type_name, h) for h, rec in records.items())
    assert value["state"] == live_state_of(value)
    assert value["state_batch"] == max(value["batch"])
    ever_effectif = any(state.get("effectif") for state in expected.values())
    assert value["index"]["algo2"] == (s.scope == "entreprise" or ever_effectif)

    placed = [(b, m) for b, entry in value["batch"].items() for m in entry.get("reporder", {})]
    assert len(placed) == len({m for _, m in placed}), "a month appears twice"
    wanted = set().union(*(month_keys(s.batches[b].serie_periode) for b in s.keys if touched[b])) \
        if s.scope == "etablissement" else set()
    assert {m for _, m in placed} == wanted
    for batch_key in s.keys:
        if touched[batch_key] and s.scope == "etablissement":
            covered = set(rebuild_state(value, batch_key).get("reporder", {}))
            assert month_keys(s.batches[batch_key].serie_periode) <= covered
    for batch_key, month_key in placed:
        rec = value["batch"][batch_key]["reporder"][month_key]
        assert rec["siret"] == s.key and rec["periode"].strftime("%Y-%m-%d") == month_key
        assert rec["random_order"] == reporder_value(s.key, rec["periode"])


@EXAMPLES
@given(scenarios(), st.sets(st.integers(1, 5)), st.data())
def test_property_2_path_independence(s: Scenario, cuts: set[int], data: st.DataObject):
    one_by_one = compact_in_runs(s, [[b] for b in s.keys])
    all_at_once = compact_in_runs(s, [s.keys])
    grouped = compact_in_runs(s, cut(s.keys, cuts))
    assert all_at_once == one_by_one
    assert grouped == one_by_one
    if one_by_one is not None:
        since = data.draw(st.sampled_from(s.keys), label="since_batch")
        later = [b for b in s.keys if b >= since]
        recompacted = roundtrip(compact_entity(one_by_one, s.values(later), s.batches, since_batch=since,
                                               run_batches=later))
        assert recompacted == one_by_one


@EXAMPLES
@given(scenarios(), st.sets(st.integers(1, 5)))
def test_property_3_idempotence(s: Scenario, cuts: set[int]):
    runs = cut(s.keys, cuts)
    doc = compact_in_runs(s, runs)
    if doc is None:
        return
    assert roundtrip(compact_entity(doc, [], s.batches)) == doc
    last = runs[-1]
    again = compact_entity(doc, s.values(last), s.batches, since_batch=last[0], run_batches=last)
    assert roundtrip(again) == doc


@EXAMPLES
@given(scenarios(), st.sets(st.integers(1, 5)), st.randoms(use_true_random=False))
def test_imported_values_order_does_not_matter(s: Scenario, cuts: set[int], rnd):
    """T2 generalised: shuffling the ImportedData values of a run changes nothing."""
    values = s.values(s.keys)
    if not values:
        return
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert compact_entity(None, shuffled, s.batches) == compact_entity(None, values, s.batches)


@EXAMPLES
@given(scenarios(), st.sets(st.integers(1, 5)))
def test_incremental_equals_whole_document(s: Scenario, cuts: set[int]):
    """compact_increment + $set, run after run, from the projected head, builds the same document
    as compact_entity; after every run the stored state is the one rebuilt from the entries."""
    runs = cut(s.keys, cuts)
    doc: dict[str, Any] | None = None
    whole: dict[str, Any] | None = None
    for run in runs:
        values = s.values(run)
        if doc is None and not values:
            continue
        head = None if doc is None else EntityHead.from_document(doc)
        increment = compact_increment(head, values, s.batches, run_batches=run)
        whole = roundtrip(compact_entity(whole, values, s.batches, run_batches=run))
        if increment.changed:
            doc = doc or {"_id": increment.key}
            apply_set(doc, increment.set_fields)
            doc = roundtrip(doc)
        assert doc == whole
        if doc is not None:
            assert doc["value"]["state"] == live_state_of(doc["value"])
            assert EntityHead.from_document(doc) == increment.head
    assert doc == compact_in_runs(s, [s.keys])


@EXAMPLES
@given(scenarios())
def test_compact_batch_month_after_month(s: Scenario):
    """Folding compact_batch over the batches from an empty state gives the entries of
    compact_entity (reporder aside), and its state is the rebuilt one."""
    doc = compact_in_runs(s, [s.keys])
    state: dict[str, list[str]] = {}
    for batch_key in s.keys:
        delivery = s.deliveries.get(batch_key)
        types = None if delivery is None else {t: {h: record(t, h) for h in hashes} for t, hashes in delivery.items()}
        entry, state = compact_batch(state, batch_key, types, s.batches[batch_key])
        stored = {} if doc is None else dict(doc["value"]["batch"].get(batch_key, {}))
        stored.pop("reporder", None)
        assert (entry or {}) == stored, batch_key
        if doc is not None:
            rebuilt = live_state_of(doc["value"], batch_key)
            rebuilt.pop("reporder", None)
            assert state == rebuilt
