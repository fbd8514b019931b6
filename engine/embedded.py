"""Starting the embedded store (:mod:`sf.store`) for a command, or finding one already served.

When no ``SF_MONGODB_URI`` is configured, each `sf` command starts the store in a child
process for its own duration (:func:`start_embedded`), talks to it with the real PyMongo
driver, and stops it at the end; the data stays in SQLite files under ``SF_HOME/store``
(one ``<db>.sqlite3`` per database, mode 0600). ``sf db serve`` runs it in the foreground
over TCP with credentials instead, and writes ``SF_HOME/server.json`` (mode 0600) with the
URI other `sf` commands and ``mongosh`` must use (:func:`write_server_file`).

Why a child process: the store then has its own interpreter and GIL, the command's Dask
workers (other processes) reach it like a real MongoDB, and the command's own work is not
slowed by it. The child listens on a Unix socket in a folder only the user can open (mode
0700), so no other local user can reach the data; it watches its parent and exits if the
parent dies, so a killed `sf` command never leaves a server behind; it ignores Ctrl-C, which
the command itself handles (it stops the child once its own clean-up is written).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from .errors import DatabaseUnreachable, disk_nearly_full
from .settings import DEFAULT_EMBEDDED_START_TIMEOUT_S

SERVER_FILE = "server.json"
STORE_DIR = "store"
# A Unix socket path is limited to 107 bytes on Linux; longer SF_HOMEs use a private temporary folder.
_MAX_SOCKET_PATH = 100


@dataclass
class EmbeddedServer:
    """A running embedded store started by this process (see :func:`start_embedded`)."""

    uri: str
    process: subprocess.Popen[str]
    data_dir: str
    _cleanup: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the store (it commits nothing half: every command is one transaction) and wait."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for path in self._cleanup:
            shutil.rmtree(path, ignore_errors=True)


def socket_folder(home: Path | None) -> tuple[Path, bool]:
    """A folder (mode 0700) for the store's Unix socket: ``home/run`` when its path is short
    enough, else a new private temporary folder. Returns it and whether to delete it after."""
    if home is not None:
        folder = (home / "run").resolve()
        if len(str(folder / "store-0000000.sock")) <= _MAX_SOCKET_PATH:
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
            return folder, False
    return Path(tempfile.mkdtemp(prefix="sf-store-")), True


def start_embedded(data_dir: str | Path, log_file: Path | None = None, home: Path | None = None,
                   timeout_s: float = DEFAULT_EMBEDDED_START_TIMEOUT_S) -> EmbeddedServer:
    """Start the store in a child process serving ``data_dir`` on a private Unix socket.

    ``data_dir`` "memory" gives a throw-away store in a temporary folder (tests). Returns once
    the store accepts connections. Raises :class:`DatabaseUnreachable` if it does not start
    within ``timeout_s`` seconds (``Settings.embedded_start_timeout_s``,
    ``SF_EMBEDDED_START_TIMEOUT_S``; the message carries the last line it printed).
    """
    cleanup: list[Path] = []
    if str(data_dir) == "memory":
        data_dir = Path(tempfile.mkdtemp(prefix="sf-memory-"))
        cleanup.append(Path(data_dir))
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    folder, temporary = socket_folder(home)
    if temporary:
        cleanup.append(folder)
    socket_path = folder / f"store-{os.getpid()}.sock"
    log_path = log_file or Path(os.devnull)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "sf.store.server", "--data-dir", str(data_dir), "--socket", str(socket_path),
           "--parent-pid", str(os.getpid())]
    with open(log_path, "ab") as log:
        # A session of its own: Ctrl-C in a terminal or a SIGTERM sent to the command's process
        # group reaches the command, which records the interruption, not the store it needs to.
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
    line = _read_first_line(process, timeout_s)
    if not line.startswith("ready"):
        process.kill()
        process.wait()
        for path in cleanup:
            shutil.rmtree(path, ignore_errors=True)
        detail = line.strip() or _last_line(log_path) or f"no ready line within {timeout_s:g} s"
        if disk_nearly_full(data_dir):
            raise DatabaseUnreachable(f"the embedded store did not start: the disk of {data_dir} is full ({detail})",
                                      "free some space on that disk, then run the command again")
        raise DatabaseUnreachable(f"the embedded store did not start: {detail}",
                                  f"see {log_path}" if log_file is not None else None)
    uri = f"mongodb://{quote(str(socket_path), safe='')}/"
    return EmbeddedServer(uri=uri, process=process, data_dir=str(data_dir), _cleanup=cleanup)


def _read_first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """Read the child's first stdout line, giving up after ``timeout`` seconds."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def read_server_file(home: Path) -> dict | None:
    """Return ``{"uri", "pid", "data_dir", …}`` of a ``sf db serve`` still alive under ``home``.

    A file left by a server that is gone (killed) is removed, so it misleads no later command.
    """
    path = home / SERVER_FILE
    try:
        info = json.loads(path.read_text())
        uri, pid = info["uri"], int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        path.unlink(missing_ok=True)
        return None
    return {**info, "uri": uri, "pid": pid}


def write_server_file(home: Path, info: dict) -> Path:
    """Announce a foreground server (``info`` holds at least ``uri``; credentials included) to
    other `sf` commands of the same ``SF_HOME``, readable by the user only (mode 0600)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / SERVER_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({**info, "pid": os.getpid()}, handle)
    os.chmod(path, 0o600)
    return path
