"""Pass rate of MongoDB's CRUD specification tests on a server (unified format, events ignored).

Runs every test of ``tests/data/mongodb-crud-unified/`` with ``tests/store/unified_runner.py``
and prints how many of the applicable ones pass, then the failing tests grouped by spec file.
The target is a MongoDB URI, or one of:

- ``store``: a fresh ``python -m sf.store.server`` in a temporary directory (the new store);
- ``nx``: today's embedded nx-27017 server, in memory (``sf.engine.embedded``);
- ``mongomock``: mongomock's in-process fake client (not a server; PyMongo's API).

Usage::

    python benchmarks/crud_spec.py store
    python benchmarks/crud_spec.py mongodb://localhost:27017/ --failures
    python benchmarks/crud_spec.py nx --json-out /tmp/nx.json

Exit status 0 whatever the rate (it is a measurement, not a test; the test is
``tests/store/test_crud_spec.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

RUNNER_PATH = Path(__file__).resolve().parents[1] / "tests" / "store" / "unified_runner.py"


def _load_runner():
    """The runner module, loaded from its file (tests/ is not an installed package)."""
    spec = importlib.util.spec_from_file_location("unified_runner", RUNNER_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _store_server() -> Iterator[str]:
    """Start sf.store.server on a Unix socket in a temporary directory; yield its URI."""
    with tempfile.TemporaryDirectory(prefix="crudspec-") as data_dir:
        process = subprocess.Popen(
            [sys.executable, "-m", "sf.store.server", "--data-dir", data_dir,
             "--socket", os.path.join(data_dir, "store.sock"), "--parent-pid", str(os.getpid())],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            words = process.stdout.readline().split()
            if words[:1] != ["ready"]:
                raise SystemExit(f"sf.store.server did not start (printed {words!r})")
            yield words[1]
        finally:
            process.terminate()
            process.wait(timeout=30)


def _run(runner, target: str) -> list:
    if target == "store":
        with _store_server() as uri:
            return list(runner.run_all(uri))
    if target == "nx":
        from sf.engine.embedded import start_embedded

        server = start_embedded("memory")
        try:
            return list(runner.run_all(server.uri))
        finally:
            server.stop()
    if target == "mongomock":
        import mongomock
        import mongomock.store

        shared = mongomock.store.ServerStore()  # one fake server for all the clients of a run

        def factory(uri, **kwargs):
            return mongomock.MongoClient(uri, _store=shared, **kwargs)

        info = runner.ServerInfo(runner._version(mongomock.SERVER_VERSION), "single", False, False)
        return list(runner.run_all("mongodb://localhost/", client_factory=factory, server=info))
    return list(runner.run_all(target))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="a mongodb:// URI, or store, nx, mongomock")
    parser.add_argument("--failures", action="store_true", help="print each failure's detail")
    parser.add_argument("--json-out", type=Path, help="write every verdict to this JSON file")
    args = parser.parse_args(argv)

    runner = _load_runner()
    results = _run(runner, args.target)
    passed, applicable = runner.pass_rate(results)
    print(f"{args.target}: {passed}/{applicable} applicable CRUD spec tests pass "
          f"({passed / max(applicable, 1):.1%}); {len(results) - applicable} not applicable")
    asserting = [r for r in results
                 if r.status != "not applicable" and not runner.asserts_only_events(r.test)]
    print(f"  without the {applicable - len(asserting)} that assert only events (pass when no "
          f"error): {sum(r.status == 'passed' for r in asserting)}/{len(asserting)}")

    by_file: dict[str, list] = defaultdict(list)
    for result in results:
        if result.status == "failed":
            by_file[result.test.file].append(result)
    for file, failures in sorted(by_file.items()):
        print(f"  {file}: {len(failures)} failing")
        if args.failures:
            for result in failures:
                print(f"    - {result.test.description}\n      {result.detail[:600]}")
    if args.json_out:
        args.json_out.write_text(json.dumps(
            [{"test": r.test.id, "status": r.status, "detail": r.detail} for r in results],
            indent=1))


if __name__ == "__main__":
    main()
