"""Stale Features and Scores, judged from the Journal."""

from datetime import UTC, datetime, timedelta

from bson import ObjectId

from sf.engine.staleness import stale_outputs

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def _run(db, command, minutes, state="finished", counts=None, error=None, **args):
    at = T0 + timedelta(minutes=minutes)
    db["Journal"].insert_one({"_id": ObjectId(), "command": command, "args": args, "batch": None, "state": state,
                              "started_at": at, "ended_at": at + timedelta(seconds=30), "counts": counts or {},
                              "error": error})


def _outputs(db, *batches):
    for batch in batches:
        db["Features"].insert_one({"_id": {"batch": batch, "siret": "12345678900011", "periode": T0}})
        db["Scores"].insert_one({"_id": {"batch": batch, "siret": "12345678900011"}, "score": 0.5})


def test_nothing_is_stale_when_no_change_followed(db):
    _outputs(db, "2401")
    _run(db, "compact", 0, counts={"batches": ["2401"]})
    _run(db, "features", 10, until_batch="2401")
    _run(db, "score", 20, batch="2401")
    assert stale_outputs(db) == []


def test_a_purge_after_features_and_scores_makes_both_stale(db):
    _outputs(db, "2312", "2401")
    _run(db, "features", 0, until_batch="2312")
    _run(db, "features", 1, until_batch="2401")
    _run(db, "score", 2, batch="2312")
    _run(db, "score", 3, batch="2401")
    _run(db, "purge", 10, since_batch="2401")
    _run(db, "purge", 11, since_batch="2312", dry_run=True)  # a dry run changes nothing
    stale = stale_outputs(db)
    assert [(s.collection, s.batch) for s in stale] == [("Features", "2401"), ("Scores", "2401")]
    assert "sf purge --since-batch 2401" in stale[0].message()
    assert stale[0].remedy == "sf features --until-batch 2401"
    assert stale[1].remedy == "sf features --until-batch 2401 then sf score --batch 2401"
    assert [s.batch for s in stale_outputs(db, "2312")] == []


def test_recompacting_an_older_batch_makes_later_outputs_stale_until_recomputed(db):
    _outputs(db, "2401")
    _run(db, "features", 0, until_batch="2401")
    _run(db, "score", 1, batch="2401")
    _run(db, "compact", 5, counts={"batches": ["2312"]})
    assert {s.collection for s in stale_outputs(db)} == {"Features", "Scores"}
    _run(db, "features", 10, until_batch="2401")
    (scores,) = stale_outputs(db)
    assert scores.collection == "Scores" and scores.remedy == "sf score --batch 2401"
    assert "Features recomputed" in scores.cause
    _run(db, "score", 11, batch="2401")
    assert stale_outputs(db) == []


def test_what_cannot_have_written_is_not_a_change(db):
    _outputs(db, "2401")
    _run(db, "features", 0, until_batch="2401")
    _run(db, "compact", 5, counts={"batches": []})  # nothing was waiting
    _run(db, "purge", 6, state="failed", since_batch="2301", error="LockHeld: another run holds the lock: …")
    _run(db, "compact", 7, counts={"batches": ["2402"]})  # a later batch: 2401's Features read nothing of it
    assert stale_outputs(db) == []
    _run(db, "compact", 8, state="interrupted")  # batches unknown: it may have written any range
    assert [s.collection for s in stale_outputs(db)] == ["Features"]


def test_outputs_no_longer_stored_are_not_reported(db):
    _run(db, "features", 0, until_batch="2401")
    _run(db, "purge", 5, since_batch="2401")
    assert stale_outputs(db) == []
