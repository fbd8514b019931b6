"""Fixtures of the store tests: the ``sf.store`` server on a Unix socket, and PyMongo clients.

- ``store_server`` (session): one server in a thread of the test process, its data and socket
  in a private (0700) temporary directory;
- ``store_client``: a ``MongoClient`` connected to it (closed after the test);
- ``store_db``: a fresh database on it, dropped after the test;
- ``spawn_store``: starts ``python -m sf.store.server`` as a child process (for tests that
  kill the server or check the process itself); every child is killed at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from sf.store.server import RunningServer, start_server


def private_dir(path: Path) -> Path:
    """``path`` created with mode 0700 (the server refuses a socket in a shared directory)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


@pytest.fixture(scope="session")
def store_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One ``sf.store`` server for the test session, on a Unix socket."""
    base = private_dir(tmp_path_factory.mktemp("store"))
    server = start_server(base / "data", socket_path=base / "store.sock")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def store_client(store_server: RunningServer) -> Iterator[MongoClient]:
    """A PyMongo client of the session's store server."""
    client: MongoClient = MongoClient(store_server.uri, serverSelectionTimeoutMS=5000)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def store_db(store_client: MongoClient) -> Iterator[Database]:
    """A fresh, empty database on the store server, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield store_client[name]
    finally:
        store_client.drop_database(name)


@dataclass
class StoreProcess:
    """A server child process: its ``uri`` (from its ``ready`` line) and ``process``."""

    uri: str
    process: subprocess.Popen


@pytest.fixture
def spawn_store(tmp_path: Path) -> Iterator[Callable[..., StoreProcess]]:
    """``spawn_store(data_dir, *server_args)`` starts a server process and waits for ``ready``.

    Without ``--host``, it listens on a socket in a private directory under ``tmp_path``.
    """
    children: list[subprocess.Popen] = []

    def spawn(data_dir: Path, *args: str) -> StoreProcess:
        if "--host" not in args and "--socket" not in args:
            sock_dir = private_dir(tmp_path / f"sock{len(children)}")
            args = ("--socket", str(sock_dir / "s.sock"), *args)
        process = subprocess.Popen([sys.executable, "-m", "sf.store.server", "--data-dir", str(data_dir), *args],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        children.append(process)
        line = process.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("ready "):
            process.kill()
            raise RuntimeError(f"server did not start: {line!r} {process.stderr.read()}")  # type: ignore[union-attr]
        return StoreProcess(line.split(" ", 1)[1].strip(), process)

    try:
        yield spawn
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
