"""Shared fixtures: a fresh database on the embedded store (default) or a real MongoDB.

Set ``SF_TEST_MONGODB_URI=mongodb://host:27017/`` to run every store-level test against a
real MongoDB instead of the embedded store (sf.store); the tests are the same.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from pymongo import MongoClient
from pymongo.database import Database

from sf.engine.collections import ensure_collections
from sf.engine.embedded import start_embedded

ROOT = Path(__file__).resolve().parents[1]
#: Every input and expected output a test reads lives here (sources and licences: tests/data/README.md).
DATA = ROOT / "tests" / "data"

# CI runs with a fixed seed so a red build can be reproduced; locally examples vary.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    """URI of the server the store tests use: SF_TEST_MONGODB_URI, or one in-memory embedded server."""
    configured = os.environ.get("SF_TEST_MONGODB_URI")
    if configured:
        yield configured
        return
    server = start_embedded("memory")
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture
def db(mongo_uri: str) -> Iterator[Database]:
    """A fresh, empty database with sf's collections and indexes; dropped after the test."""
    client: MongoClient = MongoClient(mongo_uri, tz_aware=True, serverSelectionTimeoutMS=5000)
    name = f"sftest_{uuid.uuid4().hex[:12]}"
    database = client[name]
    ensure_collections(database)
    try:
        yield database
    finally:
        client.drop_database(name)
        client.close()


@pytest.fixture
def sf_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running the `sf` console script in a subprocess, isolated in tmp_path.

    Embedded default with SF_HOME in tmp_path; with SF_TEST_MONGODB_URI, that server and a
    database of its own.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
    env["SF_HOME"] = str(tmp_path / "sfhome")
    if os.environ.get("SF_TEST_MONGODB_URI"):
        env["SF_MONGODB_URI"] = os.environ["SF_TEST_MONGODB_URI"]
        env["SF_DB"] = f"sftest_{uuid.uuid4().hex[:12]}"
    return env


@pytest.fixture
def run_sf(sf_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_sf(["batch", "list"])`` runs `sf` as a user would: a new process, in ``sf_env``."""

    def run(args: list[str], timeout: float = 120, env: dict[str, str] | None = None,
            **kwargs) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sf.cli", *args], env=env or sf_env, capture_output=True,
                              text=True, timeout=timeout, **kwargs)

    return run


@pytest.fixture
def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
