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
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from sf.store.server import RunningServer, ServerProcess, spawn, start_server


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
    with MongoClient(store_server.uri, serverSelectionTimeoutMS=5000) as client:  # closes it
        yield client


@pytest.fixture
def store_db(store_client: MongoClient) -> Iterator[Database]:
    """A fresh, empty database on the store server, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield store_client[name]
    finally:
        store_client.drop_database(name)


@pytest.fixture
def spawn_store(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """``spawn_store(data_dir, *server_args)`` starts a server process and waits for ``ready``
    (RuntimeError with its error line if it does not start).

    Without ``--host``, it listens on a socket in a private directory under ``tmp_path``.
    """
    children: list[ServerProcess] = []

    def start(data_dir: Path, *args: str) -> ServerProcess:
        options = dict(zip(args[::2], args[1::2]))
        socket_path = options.get("--socket")
        if "--host" not in options and socket_path is None:
            socket_path = str(private_dir(tmp_path / f"sock{len(children)}") / "s.sock")
        server = spawn(data_dir, socket_path=socket_path, host=options.get("--host"),
                       port=int(options.get("--port", 0)), auth_file=options.get("--auth-file"))
        children.append(server)
        return server

    try:
        yield start
    finally:
        for child in children:
            if child.process.poll() is None:
                child.process.kill()
            child.process.wait()
