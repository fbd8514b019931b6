"""`sf rawdata show`: history and rebuilt state of one entity (docs/compaction.md §2.6 worked example)."""

from datetime import UTC, datetime

from sf.compaction import BatchInfo, compact_entity
from sf.compaction.entity_view import describe_entity, record_rows

KEY = "000000001"


def _doc():
    """docs/compaction.md §2.6: 2001 (paydex aa01; effectif_ent ee01, ee02; bdf bb01), 2002 (paydex aa01, aa02;
    effectif_ent ee02, ee03; bdf bb02), 2003 (effectif_ent ee02, ee03; bdf bb02); effectif_ent
    complete in every batch, bdf complete in 2003."""
    infos = {"2001": BatchInfo(frozenset({"effectif_ent"})), "2002": BatchInfo(frozenset({"effectif_ent"})),
             "2003": BatchInfo(frozenset({"effectif_ent", "bdf"}))}

    def rec(h, month):
        return {h: {"periode": datetime(2020, month, 1, tzinfo=UTC), "n": h}}

    deliveries = {"2001": {"paydex": rec("aa01", 1), "effectif_ent": {**rec("ee01", 1), **rec("ee02", 2)},
                           "bdf": rec("bb01", 1)},
                  "2002": {"paydex": {**rec("aa01", 1), **rec("aa02", 2)},
                           "effectif_ent": {**rec("ee02", 2), **rec("ee03", 3)}, "bdf": rec("bb02", 2)},
                  "2003": {"effectif_ent": {**rec("ee02", 2), **rec("ee03", 3)}, "bdf": rec("bb02", 2)}}
    values = [{"key": KEY, "scope": "entreprise", "batch": {b: t}} for b, t in deliveries.items()]
    return compact_entity(None, values, infos)


def test_history_and_state_follow_the_worked_example():
    view = describe_entity(_doc())
    assert [(line.batch, line.added, line.deleted) for line in view.history] == [
        ("2001", {"paydex": 1, "effectif_ent": 2, "bdf": 1}, {}),
        ("2002", {"paydex": 1, "effectif_ent": 1, "bdf": 1}, {"effectif_ent": 1}),
        ("2003", {}, {"bdf": 1}),
    ]
    assert {t: sorted(r) for t, r in view.state.items()} == {
        "paydex": ["aa01", "aa02"], "effectif_ent": ["ee02", "ee03"], "bdf": ["bb02"]}
    assert view.counts == {"bdf": 1, "effectif_ent": 2, "paydex": 2}
    assert view.stored_state_ok is True and view.algo2 is True and view.state_batch == "2003"


def test_state_at_an_earlier_batch_and_a_tampered_stored_state():
    doc = _doc()
    at_2001 = describe_entity(doc, "2001")
    assert [line.batch for line in at_2001.history] == ["2001"]
    assert sorted(at_2001.state["effectif_ent"]) == ["ee01", "ee02"] and at_2001.stored_state_ok is None
    doc["value"]["state"]["bdf"] = ["bb01"]
    assert describe_entity(doc).stored_state_ok is False


def test_record_rows_sorted_by_date_with_every_field():
    columns, rows = record_rows(describe_entity(_doc()).state["effectif_ent"])
    assert columns == ["hash", "periode", "n"]
    assert rows == [["ee02", "2020-02-01", "ee02"], ["ee03", "2020-03-01", "ee03"]]
