"""MongoDB's CRUD specification tests against the new store (``sf.store``).

One case per spec test of ``tests/data/mongodb-crud-unified/`` (run by
``tests/store/unified_runner.py``, event assertions ignored) against the session's store
server (``store_server`` of ``tests/store/conftest.py``): a test whose
``runOnRequirements`` the store (a standalone MongoDB 7.0) does not meet is skipped as *not
applicable*; a test listed in ``crud_spec_known_failures.py`` is ``xfail(strict=True)`` so a
fixed one is noticed. ``test_pass_rate`` asserts that at least 95 % of the applicable tests
pass and prints the rate. The runner's own rules are checked first, with no server.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterator

import pytest
from bson.int64 import Int64
from pymongo import MongoClient

from .crud_spec_known_failures import KNOWN_FAILURES
from .unified_runner import (
    Matcher,
    Result,
    RunnerError,
    ServerInfo,
    SpecFailure,
    SpecTest,
    exactly_equal,
    load_spec_tests,
    not_applicable,
    operation_kwargs,
    pass_rate,
    run_one,
    run_spec_test,
)

REQUIRED_PASS_RATE = 0.95
SPEC_TESTS = load_spec_tests()

# Verdicts of the per-test cases of this session, so test_pass_rate runs only the others.
_verdicts: dict[str, Result] = {}


# --- the runner's matching rules (no server) -------------------------------------------------


def _matches(expected, actual, **kw) -> bool:
    try:
        Matcher({}).match(expected, actual, **kw)
    except SpecFailure:
        return False
    return True


@pytest.mark.parametrize(("expected", "actual", "ok"), [
    ({"x": 1}, {"x": 1, "y": 1}, True),              # root documents may have extra keys
    ({"x": 1, "y": 1}, {"x": 1}, False),
    ({"x": {"y": 1}}, {"x": {"y": 1, "z": 1}}, False),  # nested ones may not
    ({"x": 1, "y": 1}, {"y": 1, "x": 1}, True),      # key order is free
    ([1, 2, 3], [1, 2, 3, 4], False),                # arrays have the same length
    ({"n": 1}, {"n": 1.0}, True),                    # flexible numerics
    ({"n": 1}, {"n": Int64(1)}, True),
    ({"n": 1}, {"n": 1.5}, False),
    ({"b": True}, {"b": 1}, False),                  # a boolean is not a number
    ({"s": "1"}, {"s": 1}, False),
    ({"a": {"$$exists": False}}, {}, True),
    ({"a": {"$$exists": False}}, {"a": None}, False),
    ({"a": {"$$exists": True}}, {"a": None}, True),
    ({"a": {"$$unsetOrMatches": 2}}, {}, True),
    ({"a": {"$$unsetOrMatches": 2}}, {"a": 3}, False),
    ({"$$unsetOrMatches": {"n": 1}}, None, True),
    ({"a": {"$$type": ["int", "long"]}}, {"a": Int64(5)}, True),
    ({"a": {"$$type": "int"}}, {"a": 5.0}, False),
    ({"a": {"$$type": "object"}}, {}, False),
    ({"upsertedIds": {}}, {"upsertedIds": {"0": 1}}, False),
])
def test_matching_rules(expected, actual, ok):
    assert _matches(expected, actual) is ok


def test_document_lists_are_root_level_only_when_asked():
    assert _matches([{"x": 1}], [{"x": 1, "y": 2}], root_elements=True)
    assert not _matches([{"x": 1}], [{"x": 1, "y": 2}])  # e.g. the values of a distinct


def test_outcome_comparison_is_exact():
    assert exactly_equal([{"_id": 1, "a": {"b": 1}}], [{"a": {"b": 1}, "_id": 1}])
    assert not exactly_equal([{"_id": 1, "x": True}], [{"_id": 1, "x": 1}])
    assert not exactly_equal([{"_id": 1, "x": 1}], [{"_id": 1, "x": Int64(1)}])
    assert not exactly_equal([{"_id": 1, "x": 1}], [{"_id": 1, "x": 1.0}])
    assert not exactly_equal([{"_id": 1}], [{"_id": 1, "x": None}])
    assert exactly_equal([{"d": datetime.datetime(2020, 1, 1)}], [{"d": datetime.datetime(2020, 1, 1)}])


def test_requirements_decide_applicability():
    server = ServerInfo(version=(7, 0, 0), topology="single", auth=False, test_commands=False)
    by_id = {t.id: t for t in SPEC_TESTS}
    assert not_applicable(by_id["aggregate: Aggregate with multiple stages"], server) is None
    assert "8.0" in not_applicable(by_id["updateOne-sort: UpdateOne with sort option"], server)
    assert "4.2.99" in not_applicable(
        by_id["aggregate: aggregate with a document comment - pre 4.4"], server)
    assert "fail points" in not_applicable(
        by_id["insertOne-errorResponse: insert operations support errorResponse assertions"],
        server)


def test_unknown_arguments_are_runner_errors():
    with pytest.raises(RunnerError):
        operation_kwargs("find", {"filter": {}, "noSuchOption": 1})
    with pytest.raises(RunnerError):
        operation_kwargs("noSuchOperation", {})
    with pytest.raises(RunnerError):
        operation_kwargs("findOneAndUpdate", {"filter": {}, "update": {}, "returnDocument": "Later"})


def test_known_failures_exist():
    assert set(KNOWN_FAILURES) <= {t.id for t in SPEC_TESTS}


# --- the spec tests against the store --------------------------------------------------------


@pytest.fixture(scope="module")
def store(store_server) -> Iterator[tuple[str, MongoClient, ServerInfo]]:
    """The session's store server (tests/store/conftest.py): (uri, the runner's client, what
    the server claims to be)."""
    client: MongoClient = MongoClient(store_server.uri, serverSelectionTimeoutMS=10_000)
    try:
        yield store_server.uri, client, ServerInfo.probe(client, store_server.uri)
    finally:
        client.close()


def _param(test: SpecTest):
    marks = ()
    if test.id in KNOWN_FAILURES:
        marks = pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[test.id])
    return pytest.param(test, id=test.id, marks=marks)


@pytest.mark.parametrize("spec_test", [_param(t) for t in SPEC_TESTS])
def test_spec(spec_test: SpecTest, store) -> None:
    uri, client, server = store
    reason = not_applicable(spec_test, server)
    if reason:
        _verdicts[spec_test.id] = Result(spec_test, "not applicable", reason)
        pytest.skip(f"not applicable: {reason}")
    _verdicts[spec_test.id] = Result(spec_test, "failed", "crashed")
    run_spec_test(spec_test, uri, client)
    _verdicts[spec_test.id] = Result(spec_test, "passed")


def _altered(test: SpecTest, change) -> SpecTest:
    altered = copy.deepcopy(test.test)
    change(altered)
    return SpecTest(test.file, test.description, test.file_spec, altered)


def test_runner_notices_a_wrong_result_or_outcome(store) -> None:
    """The runner can fail: a passing spec test with a wrong expectation does not pass."""
    uri, client, _ = store
    test = next(t for t in SPEC_TESTS if t.id == "insertOne: InsertOne with a non-existing document")
    run_spec_test(test, uri, client)
    wrong_id = _altered(test, lambda t: t["operations"][0].update(
        expectResult={"$$unsetOrMatches": {"insertedId": {"$$unsetOrMatches": 3}}}))
    wrong_doc = _altered(test, lambda t: t["outcome"][0]["documents"][1].update(x=True))
    for wrong in (wrong_id, wrong_doc):
        with pytest.raises(SpecFailure):
            run_spec_test(wrong, uri, client)


def test_pass_rate(store, capsys) -> None:
    """At least 95 % of the applicable spec tests pass (tests not run above are run here)."""
    uri, client, server = store
    results = [_verdicts.get(t.id) or run_one(t, uri, client, server) for t in SPEC_TESTS]
    passed, applicable = pass_rate(results)
    with capsys.disabled():
        print(f"\nMongoDB CRUD spec tests on sf.store: {passed}/{applicable} applicable tests pass "
              f"({passed / applicable:.1%}; {len(results) - applicable} not applicable)")
    assert passed >= REQUIRED_PASS_RATE * applicable, (
        f"{passed}/{applicable} = {passed / applicable:.1%} < {REQUIRED_PASS_RATE:.0%}")
