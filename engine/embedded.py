"""The embedded MongoDB-wire server: nx-27017 (the MongoDB wire protocol over SQLite).

When no ``SF_MONGODB_URI`` is configured, each `sf` command starts this server in a child
process for its own duration, talks to it with the real PyMongo driver, and stops it at the
end; the data stays in SQLite files under ``SF_HOME/data`` (one ``<db>.db`` per database).
``sf db serve`` runs it in the foreground instead, and writes ``SF_HOME/server.json`` so that
other `sf` commands (and ``mongosh``) use that running server rather than starting their own.

Why a child process rather than a thread: the server then has its own interpreter and GIL,
Dask workers (other processes) can reach it over TCP like a real MongoDB, and the command's
own work is not slowed by it. The child watches its parent and exits if the parent dies, so
a killed `sf` command never leaves a server behind.

Run as a module (``python -m sf.engine.embedded --data-dir DIR --port 0``) the server prints
its port on the first line of standard output, then serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import DatabaseUnreachable

SERVER_FILE = "server.json"
_START_TIMEOUT_S = 30.0


@dataclass
class EmbeddedServer:
    """A running embedded server started by this process (see :func:`start_embedded`)."""

    port: int
    process: subprocess.Popen[str]
    data_dir: str

    @property
    def uri(self) -> str:
        """The ``mongodb://`` URI of the server."""
        return f"mongodb://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        """Stop the server and wait for it (SQLite writes are committed per operation)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_embedded(data_dir: str | Path, log_file: Path | None = None, port: int = 0) -> EmbeddedServer:
    """Start nx-27017 in a child process serving ``data_dir`` ("memory" for a throw-away store).

    Returns once the server accepts connections. Raises :class:`DatabaseUnreachable` if it
    does not start (the message carries the end of its log).
    """
    if str(data_dir) != "memory":
        Path(data_dir).mkdir(parents=True, exist_ok=True)
    log_path = log_file or Path(os.devnull)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "sf.engine.embedded", "--data-dir", str(data_dir), "--port", str(port),
           "--log-file", str(log_path), "--parent-pid", str(os.getpid())]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = _read_first_line(process, _START_TIMEOUT_S)
    if not line.strip().isdigit():
        process.kill()
        _, err = process.communicate()
        tail = (err or line).strip().splitlines()[-1:] or ["no output"]
        raise DatabaseUnreachable(f"the embedded server did not start: {tail[0]}")
    return EmbeddedServer(port=int(line), process=process, data_dir=str(data_dir))


def _read_first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """Read the child's first stdout line, giving up after ``timeout`` seconds."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


def read_server_file(home: Path) -> dict | None:
    """Return ``{"port", "pid", "data_dir"}`` of a ``sf db serve`` still alive under ``home``."""
    path = home / SERVER_FILE
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


def write_server_file(home: Path, port: int, data_dir: Path) -> Path:
    """Announce a foreground server to other `sf` commands of the same ``SF_HOME``."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / SERVER_FILE
    path.write_text(json.dumps({"port": port, "pid": os.getpid(), "data_dir": str(data_dir)}))
    return path


async def serve(data_dir: str, host: str, port: int, on_ready) -> None:
    """Serve nx-27017 on ``host:port`` (0 = a free port) and call ``on_ready(port)`` once bound."""
    from nx_27017.handler import NeoSQLiteHandler
    from nx_27017.server import handle_client

    handler = NeoSQLiteHandler(data_dir=data_dir)
    server = await asyncio.start_server(lambda r, w: handle_client(r, w, handler), host, port)
    on_ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def _watch_parent(parent_pid: int) -> None:
    """Exit this process as soon as the parent `sf` command is gone (killed or crashed)."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the child process (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m sf.engine.embedded")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log-file", default=os.devnull)
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)
    # nx-27017 logs every fallback it takes; keep that out of the user's terminal.
    logging.basicConfig(filename=args.log_file, level=logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()

    def ready(port: int) -> None:
        print(port, flush=True)

    try:
        asyncio.run(serve(args.data_dir, args.host, args.port, ready))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
