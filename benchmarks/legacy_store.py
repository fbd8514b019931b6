"""The previous embedded store, nx-27017 (JSON text in SQLite), for side-by-side benchmarks only.

Before :mod:`sf.store`, the engine started nx-27017 (``pip install ".[bench]"``) in a child
process for each command; this module keeps that way of starting it so that
``benchmarks/store.py`` can measure both stores in one run. It is never imported by the
package.

:func:`start_legacy` starts ``python benchmarks/legacy_store.py --data-dir DIR --port 0`` and
returns an :class:`sf.engine.embedded.EmbeddedServer` whose ``uri`` is ``mongodb://127.0.0.1:PORT/`` (TCP, no
credentials: the benchmark's own throw-away data). The child prints its port on its first
line, serves until SIGTERM, and exits by itself if its parent dies. Raises ``RuntimeError``
if nx-27017 is not installed or the server does not start within 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sf.engine.embedded import EmbeddedServer, _read_first_line

_START_TIMEOUT_S = 30.0


def start_legacy(data_dir: str | Path | None = None, log_file: Path | None = None) -> EmbeddedServer:
    """Start nx-27017 serving ``data_dir`` (None: a temporary folder removed by ``stop``)."""
    cleanup: list[Path] = []
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="sf-legacy-"))
        cleanup.append(Path(data_dir))
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--data-dir", str(data_dir), "--port", "0",
           "--log-file", str(log_file or os.devnull), "--parent-pid", str(os.getpid())]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = _read_first_line(process, _START_TIMEOUT_S)
    if not line.strip().isdigit():
        process.kill()
        _, err = process.communicate()
        for path in cleanup:
            shutil.rmtree(path, ignore_errors=True)
        tail = (err or line).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"nx-27017 did not start: {tail[0]}")
    # The same handle as sf.store's: ``uri``, ``process`` and ``stop()`` (which also removes a temporary folder).
    return EmbeddedServer(uri=f"mongodb://127.0.0.1:{int(line)}/", process=process, data_dir=str(data_dir),
                          _cleanup=cleanup)


async def _serve(data_dir: str, host: str, port: int) -> None:
    """Serve nx-27017 on ``host:port`` (0 = a free port); print the port once bound."""
    from nx_27017.handler import NeoSQLiteHandler
    from nx_27017.server import handle_client

    handler = NeoSQLiteHandler(data_dir=data_dir)
    server = await asyncio.start_server(lambda r, w: handle_client(r, w, handler), host, port)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def _watch_parent(parent_pid: int) -> None:
    """Exit as soon as the parent benchmark is gone, so a killed run leaves no server behind."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> None:
    """The child process: ``--data-dir DIR [--host H] [--port P] [--log-file F] [--parent-pid PID]``."""
    parser = argparse.ArgumentParser(prog="python benchmarks/legacy_store.py")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log-file", default=os.devnull)
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)
    # nx-27017 logs every fallback it takes; keep that out of the benchmark's output.
    logging.basicConfig(filename=args.log_file, level=logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()
    try:
        asyncio.run(_serve(args.data_dir, args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
