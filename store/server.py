"""The store's server process: MongoDB's wire protocol on a Unix socket or TCP.

Run ``python -m sf.store.server --data-dir DIR (--socket PATH | --host H --port P)
[--auth-file F] [--parent-pid N]``. It prints one line ``ready <uri>`` on standard output once
it accepts connections (the URI carries no password), serves one thread per client
connection, exits on SIGTERM after the running transaction has finished, exits when the
process ``--parent-pid`` dies, and ignores SIGINT when ``--parent-pid`` is given (the parent
handles Ctrl-C and stops it).

Privacy: data files are created 0600 (the process umask is 0077), a Unix socket is created
0600 and only inside a directory that its owner alone may enter (0700), and a TCP server
should be given ``--auth-file`` (SCRAM-SHA-256, see :mod:`.auth`).

:func:`start_server` runs the same server in a thread of the calling process (tests, tools);
:func:`spawn` starts it as a child process and waits until it is ready.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import socketserver
import stat
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import bson

from . import wire
from .commands import Engine, decode_command
from .errors import StoreError
from .storage import Store


def _process(engine: Engine, request: wire.Request, client) -> bytes | None:
    """Run one request and return the framed reply (None when the client wants none)."""
    try:
        cmd = decode_command(request.body, request.sequences)
        if request.opcode == wire.OP_QUERY:
            if "$query" in cmd and isinstance(cmd["$query"], dict):
                cmd = cmd["$query"]
            db = request.database or "admin"
        else:
            db = cmd.get("$db")
            if not isinstance(db, str):
                raise StoreError(40571, "OP_MSG requests require a $db argument")
        reply = engine.run(db, cmd, client)
    except StoreError as exc:
        reply = exc.to_reply()
    except bson.errors.InvalidBSON as exc:
        reply = StoreError(22, f"invalid BSON in the request: {exc}", "InvalidBSON").to_reply()
    except Exception as exc:  # a bug: report it to the client and the log, never as success
        traceback.print_exc(file=sys.stderr)
        reply = {"ok": 0.0, "errmsg": f"internal error: {type(exc).__name__}: {exc}", "code": 1,
                 "codeName": "InternalError"}
    if request.more_to_come:
        return None
    try:
        data = wire.encode_reply(reply)
    except Exception as exc:
        data = wire.encode_reply({"ok": 0.0, "errmsg": f"cannot encode the reply: {exc}", "code": 1,
                                  "codeName": "InternalError"})
    return wire.frame_reply(request, data)


class _Handler(socketserver.BaseRequestHandler):
    server: _ServerMixin

    def setup(self) -> None:
        if self.request.family in (socket.AF_INET, socket.AF_INET6):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        engine = self.server.engine
        peer = f"{self.client_address[0]}:{self.client_address[1]}" if isinstance(self.client_address, tuple) \
            else "unix"
        client = engine.new_client(peer)
        stream = self.request.makefile("rb", buffering=1 << 16)
        try:
            while True:
                request = wire.read_request(stream)
                if request is None:
                    return
                reply = _process(engine, request, client)
                if reply is not None:
                    self.request.sendall(reply)
        except (EOFError, ConnectionError, wire.ProtocolError, OSError):
            return
        finally:
            stream.close()
            engine.store.close_thread()


class _ServerMixin:
    engine: Engine
    daemon_threads = True
    allow_reuse_address = True


class _UnixServer(_ServerMixin, socketserver.ThreadingUnixStreamServer):
    pass


class _TCPServer(_ServerMixin, socketserver.ThreadingTCPServer):
    pass


def _check_private_dir(directory: Path) -> None:
    info = directory.stat()
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"the socket's directory {directory} must belong to you with mode 0700 "
                         f"(chmod 700 {directory})")


def unix_uri(path: str | Path) -> str:
    """The ``mongodb://`` URI of a Unix socket path."""
    return "mongodb://" + quote(str(path), safe="")


@dataclass
class RunningServer:
    """A server serving in a thread of this process (see :func:`start_server`)."""

    uri: str
    server: socketserver.BaseServer
    thread: threading.Thread
    engine: Engine
    socket_path: Path | None = None

    def stop(self) -> None:
        """Stop accepting, wait for the running transaction, remove the socket file."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
        with self.engine.store.writer_lock:
            pass
        if self.socket_path is not None and self.socket_path.exists():
            self.socket_path.unlink()


def bind(engine: Engine, *, socket_path: str | Path | None = None, host: str | None = None,
         port: int = 0) -> tuple[socketserver.BaseServer, str, Path | None]:
    """Bind the listening socket: ``(server, uri, socket_path)``.

    Raises ValueError when the socket's directory is not private, OSError when binding fails.
    """
    if socket_path is not None:
        path = Path(socket_path).absolute()
        _check_private_dir(path.parent)
        if path.exists():
            path.unlink()  # a stale socket of a previous run (the directory is ours alone)
        old = os.umask(0o177)
        try:
            server: socketserver.BaseServer = _UnixServer(str(path), _Handler)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        uri = unix_uri(path)
    else:
        server = _TCPServer((host or "127.0.0.1", port), _Handler)
        bound_host, bound_port = server.server_address[:2]
        uri = f"mongodb://{bound_host}:{bound_port}/"
        path = None
    server.engine = engine  # type: ignore[attr-defined]
    return server, uri, path


def start_server(data_dir: str | Path, *, socket_path: str | Path | None = None, host: str | None = None,
                 port: int = 0, credentials: tuple[str, str] | None = None) -> RunningServer:
    """Serve ``data_dir`` in a daemon thread of this process; returns once it accepts connections."""
    engine = Engine(Store(data_dir), credentials)
    server, uri, path = bind(engine, socket_path=socket_path, host=host, port=port)
    thread = threading.Thread(target=server.serve_forever, name="sf-store", daemon=True)
    thread.start()
    return RunningServer(uri, server, thread, engine, path)


@dataclass
class ServerProcess:
    """A server child process started by :func:`spawn` (``uri`` from its ``ready`` line)."""

    uri: str
    process: subprocess.Popen

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the running transaction finishes), then SIGKILL after ``timeout`` seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn(data_dir: str | Path, *, socket_path: str | Path | None = None, host: str | None = None, port: int = 0,
          auth_file: str | Path | None = None, parent_pid: int | None = None, timeout: float = 30.0,
          stderr: Any = None) -> ServerProcess:
    """Start ``python -m sf.store.server`` and wait for its ``ready`` line.

    ``parent_pid`` defaults to this process (the server exits when it dies). Raises
    RuntimeError with the server's last error line if it does not start within ``timeout``.
    """
    args = [sys.executable, "-m", "sf.store.server", "--data-dir", str(data_dir)]
    if socket_path is not None:
        args += ["--socket", str(socket_path)]
    else:
        args += ["--host", host or "127.0.0.1", "--port", str(port)]
    if auth_file is not None:
        args += ["--auth-file", str(auth_file)]
    args += ["--parent-pid", str(parent_pid if parent_pid is not None else os.getpid())]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr if stderr is not None else subprocess.PIPE,
                               text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    line = lines[0] if lines else ""
    if not line.startswith("ready "):
        process.kill()
        _, err = process.communicate()
        tail = (err or line or "no output").strip().splitlines()[-1:]
        raise RuntimeError(f"the store server did not start: {tail[0] if tail else 'no output'}")
    return ServerProcess(line.split(" ", 1)[1].strip(), process)


def _watch_parent(parent_pid: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            stop.set()
            return
        except PermissionError:
            pass
        if os.getppid() != parent_pid:
            stop.set()
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sf.store.server",
                                     description="Serve an sf store directory over MongoDB's wire protocol.")
    parser.add_argument("--data-dir", required=True, help="directory of the SQLite files (created 0700)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", help="Unix socket path (its directory must be mode 0700)")
    where.add_argument("--host", help="TCP host to listen on (with --port)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    parser.add_argument("--auth-file", help='JSON {"user": ..., "password": ...}, mode 0600: require SCRAM-SHA-256')
    parser.add_argument("--parent-pid", type=int, help="exit when this process dies; ignore SIGINT")
    args = parser.parse_args(argv)

    os.umask(0o077)  # every file the server creates (SQLite db, WAL, shm) is private
    # Decoded documents are trees without cycles; the cyclic collector, triggered every 700
    # allocations, would otherwise walk them again and again during bulk decoding.
    gc.freeze()
    gc.set_threshold(200_000, 20, 100)
    credentials = None
    try:
        if args.auth_file:
            from .auth import load_credentials
            credentials = load_credentials(args.auth_file)
        engine = Engine(Store(args.data_dir), credentials)
        server, uri, path = bind(engine, socket_path=args.socket, host=args.host, port=args.port)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    if args.host and not credentials and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving {args.host} without --auth-file: anyone who reaches this port can read "
              f"and write every database", file=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.parent_pid:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        threading.Thread(target=_watch_parent, args=(args.parent_pid, stop), daemon=True).start()
    else:
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, name="sf-store", daemon=True)
    serving.start()
    print(f"ready {uri}", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    engine.store.writer_lock.acquire()  # the running transaction ends; no new one starts
    if path is not None and path.exists():
        path.unlink()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
