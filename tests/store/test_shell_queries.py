"""The mongosh queries of the README give the answers MongoDB defines, through PyMongo and mongosh.

See ``shell_queries.py`` for the queries, the dataset and how each answer was derived. The
mongosh run needs the ``mongosh`` executable (``npm install mongosh``; found on PATH, in
``node_modules/.bin`` of the repository, or through ``SF_MONGOSH``) and is skipped without it.
"""

from __future__ import annotations

import math
import re
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson import json_util
from pymongo import MongoClient
from pymongo.database import Database

from .shell_queries import DATASET, QUERIES, ShellQuery, run_pymongo, shell_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shell_db(mongo_uri: str) -> Iterator[Database]:
    client: MongoClient = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    database = client[f"sfshell_{uuid.uuid4().hex[:10]}"]
    for name, documents in DATASET.items():
        database[name].insert_many(documents)
    try:
        yield database
    finally:
        client.drop_database(database.name)
        client.close()


def _canonical(value: Any, ordered: bool) -> Any:
    if isinstance(value, list) and not ordered:
        return sorted((_canonical(v, True) for v in value), key=repr)
    return value


@pytest.mark.parametrize("query", QUERIES, ids=[q.title for q in QUERIES])
def test_pymongo_gets_the_documented_answer(shell_db: Database, query: ShellQuery):
    assert _canonical(run_pymongo(shell_db, query), query.ordered) == _canonical(query.expected, query.ordered)


def test_there_are_at_least_twenty_queries_over_the_four_collections():
    assert len(QUERIES) >= 20
    assert {q.collection for q in QUERIES} == {"RawData", "Features", "Scores", "Journal"}


def test_the_readme_lists_every_query():
    readme = (ROOT / "README.md").read_text()
    missing = [shell_text(q) for q in QUERIES if shell_text(q) not in readme]
    assert not missing, "README lacks (regenerate its mongosh section):\n" + "\n".join(missing)


def _mongosh() -> str | None:
    candidates = [os.environ.get("SF_MONGOSH"), shutil.which("mongosh"), str(ROOT / "node_modules" / ".bin" / "mongosh")]
    return next((c for c in candidates if c and Path(c).exists()), None)


def _loose(value: Any) -> Any:
    """mongosh turns int32, int64 and doubles into JavaScript numbers: compare numbers by value."""
    if isinstance(value, dict):
        return {k: _loose(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_loose(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else value
    return value


@pytest.mark.skipif(_mongosh() is None, reason="mongosh is not installed (npm install mongosh)")
def test_mongosh_gets_the_documented_answer(shell_db: Database, mongo_uri: str):
    lines = []
    for query in QUERIES:
        text = shell_text(query)
        if query.method in ("find", "aggregate"):
            text += ".toArray()"
        lines.append(f"print(EJSON.stringify({text}, {{relaxed: false}}));")
    uri = mongo_uri.rstrip("/") + f"/{shell_db.name}"
    result = subprocess.run([_mongosh(), uri, "--quiet", "--norc", "--eval", "\n".join(lines)],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(answers) == len(QUERIES), result.stdout[-3000:]
    for query, answer in zip(QUERIES, answers):
        got = json_util.loads(answer, json_options=json_util.CANONICAL_JSON_OPTIONS.with_options(tz_aware=False))
        assert _canonical(_loose(got), query.ordered) == _canonical(_loose(query.expected), query.ordered), query.title


def test_the_readme_lists_every_known_difference_with_an_existing_test():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- store-differences:start -->")[1].split("<!-- store-differences:end -->")[0]
    cited = re.findall(r"tests/store/test_known_differences\.py::(test_\w+)", block)
    source = (ROOT / "tests" / "store" / "test_known_differences.py").read_text()
    defined = set(re.findall(r"^def (test_\w+)", source, re.MULTILINE))
    assert cited and set(cited) == defined, (set(cited) ^ defined)
