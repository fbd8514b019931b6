"""The embedded store side by side with the previous one (nx-27017), in one run: the store's speed.

Runs the relevant parts of the existing benchmarks against both stores, each stage first on
the new store (:mod:`sf.store`, started with ``sf.engine.embedded.start_embedded``: raw BSON in
SQLite, private Unix socket) and then on the previous one (nx-27017, JSON text in SQLite, TCP
on 127.0.0.1, started by ``benchmarks/legacy_store.py``; ``pip install -e ".[bench]"``), each
on a fresh server and data folder:

* ``compaction`` (``benchmarks/compaction.py``): RawData of N establishments × 24 months,
  one new month staged; the BSON floor (decode what the job reads + encode what it writes),
  the whole-document floor (decode + encode the complete histories the job touches), then the
  job end to end on a local Dask cluster of 1 worker, and of 2 workers for the next month;
* ``growth`` (same module): cost per entity of one new month with 24 and 96 months of
  history, in-process, one range;
* ``features`` (``benchmarks/features.py``, its ``db`` stage): ``features_range`` over 4
  ranges, Features read / written;
* ``import`` (``benchmarks/import.py``): ``run_batch`` of a synthetic cotisation file;
* ``demo``: the ``sf demo`` command, timed from outside (the previous store through
  ``SF_MONGODB_URI``).

Prints one table (figures, new vs old, job vs floor, 2 workers vs 1, 96 vs 24 months) and
writes every figure as JSON with ``--json-out``. Never a test.

Usage::

    python benchmarks/store.py                                   # sizes of BENCHMARKS.md
    python benchmarks/store.py --new-sizes 2000 --old-sizes 2000 --skip demo
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cloudpickle
import psutil
from pymongo import MongoClient

HERE = Path(__file__).resolve().parent


def _load(name: str, filename: str):
    """Import a sibling benchmark script as a module (``import.py`` is not an importable name).

    Its functions are pickled by value for the Dask workers, which cannot import it by name.
    """
    spec = importlib.util.spec_from_file_location(name, HERE / filename)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    cloudpickle.register_pickle_by_value(module)
    return module


bench_compaction = _load("sfbench_compaction", "compaction.py")
bench_features = _load("sfbench_features", "features.py")
bench_import = _load("sfbench_import", "import.py")
legacy_store = _load("sfbench_legacy_store", "legacy_store.py")

STORES = ("new", "old")


@contextmanager
def server(kind: str) -> Iterator[tuple[str, psutil.Process]]:
    """A fresh server of ``kind`` ("new": sf.store, "old": nx-27017): its URI and its process."""
    if kind == "new":
        from sf.engine.embedded import start_embedded

        running = start_embedded("memory")  # a throw-away data folder, removed by stop()
        uri = running.uri
    else:
        running = legacy_store.start_legacy()
        uri = running.uri
    try:
        yield uri, psutil.Process(running.process.pid)
    finally:
        running.stop()


def cpu_s(process: psutil.Process) -> float:
    """User + system CPU seconds of the server process so far."""
    times = process.cpu_times()
    return times.user + times.system


def children_cpu_s() -> float:
    """User + system CPU seconds of this process's finished (waited-for) descendants so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def log(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:6.0f} s] {message}", file=sys.stderr, flush=True)


# --- stages ---------------------------------------------------------------------------------------

def compaction_stage(kind: str, establishments: int, templates: int, parts_per_worker: int,
                     with_floor: bool) -> dict[str, Any]:
    """Fill, stage one month, (floors,) job on 1 worker, next month on 2 workers."""
    c = bench_compaction
    months = 24
    first_year = 2024 - (months + 11) // 12
    out: dict[str, Any] = {"establishments": establishments, "months": months}
    with server(kind) as (uri, process):
        client: MongoClient = MongoClient(uri, tz_aware=True)
        db = client[f"sfbench_{uuid.uuid4().hex[:8]}"]
        try:
            t0 = time.perf_counter()
            filled = c.fill(db, establishments, months, templates, first_year, extra=3)
            out["fill_s"] = time.perf_counter() - t0
            out["mean_document_bytes"] = filled["mean_document_bytes"]
            keys = filled["batch_keys"]
            c.stage(db, establishments, templates, months, first_year, keys[months])
            if with_floor:
                out["floor"] = c.floor_and_pure(db, with_whole_documents=True)
            for workers, month in ((1, months), (2, months + 1)):
                if workers == 2:
                    c.stage(db, establishments, templates, month, first_year, keys[month])
                cpu0 = cpu_s(process)
                job = c.run_job(uri, db, workers, parts_per_worker)
                job["server_cpu_s"] = cpu_s(process) - cpu0
                out[f"job_{workers}"] = job
        finally:
            client.close()
    return out


def growth_stage(kind: str, establishments: int, templates: int, long_months: int) -> list[dict[str, Any]]:
    with server(kind) as (uri, process):
        client: MongoClient = MongoClient(uri, tz_aware=True)
        try:
            # A first small run, discarded: this process's first compaction imports modules.
            bench_compaction.growth(client, uri, 20, templates, [24])
            return bench_compaction.growth(client, uri, establishments, templates, [24, long_months],
                                           server_cpu=lambda: cpu_s(process))
        finally:
            client.close()


def features_stage(kind: str, cache: Path, establishments: int) -> dict[str, Any]:
    base = bench_features.load_base(cache)
    copies = max(1, round(establishments / bench_features.count_establishments(base)))
    with server(kind) as (uri, _):
        result = bench_features.db_run(cache, 24, copies, uri)
    result["establishments"] = copies * bench_features.count_establishments(base)
    result.pop("backend", None)
    return result


def import_stage(kind: str, path: Path) -> dict[str, Any]:
    """``run_batch`` in a child process against a fresh server; ``cpu_s``: the child's CPU (the
    whole child: mapping, parsing, writing) plus the server's during it."""
    with server(kind) as (uri, process):
        cpu0 = children_cpu_s() + cpu_s(process)
        result = bench_import.run_child("import", str(path), uri)
        result["cpu_s"] = children_cpu_s() + cpu_s(process) - cpu0
        return result


def demo_stage(kind: str, establishments: int) -> dict[str, Any]:
    """``sf demo --establishments N --json`` in a fresh SF_HOME; wall seconds and step times."""
    sf = Path(sys.executable).with_name("sf")
    with tempfile.TemporaryDirectory(prefix="sfbench-demo-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
        env["SF_HOME"] = home
        cmd = [str(sf), "demo", "--establishments", str(establishments), "--json"]
        cpu0 = children_cpu_s()  # sf demo, its Dask workers and (new store) its own server
        if kind == "new":
            t0 = time.perf_counter()
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            cpu = children_cpu_s() - cpu0
        else:
            with server(kind) as (uri, process):
                env["SF_MONGODB_URI"] = uri
                server_cpu0 = cpu_s(process)
                t0 = time.perf_counter()
                done = subprocess.run(cmd, env=env, capture_output=True, text=True)
                wall = time.perf_counter() - t0
                cpu = children_cpu_s() - cpu0 + cpu_s(process) - server_cpu0
    if done.returncode != 0:
        raise RuntimeError(f"sf demo failed on the {kind} store: {done.stderr.strip()[-2000:]}")
    summary = json.loads(done.stdout)
    return {"wall_s": wall, "cpu_s": cpu, "steps": {s["step"]: s["seconds"] for s in summary["steps"]}}


# --- report ---------------------------------------------------------------------------------------

def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def fmt(value: float | None, unit: str = "s", digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f} {unit}".strip()


def verdict(value: float | None, target: float, higher_is_better: bool) -> str:
    if value is None:
        return ""
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "MISSED"


def compare_row(label: str, new: float | None, old: float | None, target: float | None = None) -> list[str]:
    """A table row for the measures ``new`` and ``old`` (either may be None): the speed-up
    old/new and, with ``target`` (the minimum speed-up), its verdict."""
    speed = ratio(old, new)
    goal = ["", ""] if target is None else [f"≥ {target}×", verdict(speed, target, True)]
    return [label, fmt(new), fmt(old), fmt(speed, "×"), *goal]


def table(report: dict[str, Any]) -> list[list[str]]:
    """Rows: measure, new, old, old/new, target, verdict."""
    rows: list[list[str]] = []
    comp = report.get("compaction", {})
    for size in sorted({int(k) for store in comp.values() for k in store}):
        new = comp.get("new", {}).get(str(size))
        old = comp.get("old", {}).get(str(size))
        label = f"compaction {size:,} × 24 months"
        floor = (new or old or {}).get("floor")
        if floor:
            rows.append([f"{label}: BSON floor (decode read {floor['bytes_read'] / 1e6:.0f} MB + encode written "
                         f"{floor['bytes_written'] / 1e6:.0f} MB)", fmt(floor["floor_s"]), "", "", "", ""])
            rows.append([f"{label}: whole-document floor (decode + encode {floor['whole_documents_bytes'] / 1e6:.0f} MB)",
                         fmt(floor["whole_floor_s"]), "", "", "", ""])
        for w in (1, 2):
            n = new and new[f"job_{w}"]["wall_s"]
            o = old and old[f"job_{w}"]["wall_s"]
            rows.append(compare_row(f"{label}: job, {w} worker{'s' if w > 1 else ''}, end to end", n, o,
                                    10 if w == 1 else None))
            for key, what in (("server_cpu_s", "server CPU"), ("worker_cpu_s", "workers' CPU")):
                rows.append(compare_row(f"{label}:   {what}", new and new[f"job_{w}"][key],
                                        old and old[f"job_{w}"][key]))
        if floor:
            for store, data in (("new", new), ("old", old)):
                if data:
                    r = ratio(data["job_1"]["wall_s"], floor["floor_s"])
                    rows.append([f"{label}: job 1 worker / BSON floor ({store})", fmt(r, "×", 1), "", "",
                                 "≤ 10×" if store == "new" else "", verdict(r, 10, False) if store == "new" else ""])
                    r = ratio(data["job_1"]["wall_s"], floor["whole_floor_s"])
                    rows.append([f"{label}: job 1 worker / whole-document floor ({store})", fmt(r, "×", 2), "", "",
                                 "≤ 10×" if store == "new" else "", verdict(r, 10, False) if store == "new" else ""])
        cells = []
        for data in (new, old):
            cells.append(ratio(data["job_1"]["wall_s"], data["job_2"]["wall_s"]) if data else None)
        rows.append([f"{label}: speed-up 2 workers / 1", fmt(cells[0], "×"), fmt(cells[1], "×"), "", "≥ 1×",
                     verdict(cells[0], 1.0, True)])
    growth = report.get("growth", {})
    if growth:
        per, cpu = {}, {}
        for store in STORES:
            g = growth.get(store)
            if g:
                for row in g:
                    per[(store, row["months"])] = row["job_us_per_entity"] / 1000
                    cpu[(store, row["months"])] = row["job_cpu_us_per_entity"] / 1000
        months = sorted({m for _, m in per})
        for m in months:
            n, o = per.get(("new", m)), per.get(("old", m))
            rows.append([f"growth ({growth['establishments']:,} entities): job per entity, {m} months", fmt(n, "ms"),
                         fmt(o, "ms"), fmt(ratio(o, n), "×"), "", ""])
            n, o = cpu.get(("new", m)), cpu.get(("old", m))
            rows.append([f"growth:   CPU per entity (job + server), {m} months", fmt(n, "ms"),
                         fmt(o, "ms"), fmt(ratio(o, n), "×"), "", ""])
        if len(months) == 2:
            n = ratio(per.get(("new", months[1])), per.get(("new", months[0])))
            o = ratio(per.get(("old", months[1])), per.get(("old", months[0])))
            rows.append([f"growth: cost per entity {months[1]} / {months[0]} months", fmt(n, "×"), fmt(o, "×"), "",
                         "≤ 1.5×", verdict(n, 1.5, False)])
            n = ratio(cpu.get(("new", months[1])), cpu.get(("new", months[0])))
            o = ratio(cpu.get(("old", months[1])), cpu.get(("old", months[0])))
            rows.append([f"growth:   CPU per entity {months[1]} / {months[0]} months", fmt(n, "×"), fmt(o, "×"), "",
                         "", ""])
    feats = report.get("features", {})
    if feats:
        n, o = feats.get("new"), feats.get("old")
        docs = (n or o)["documents_written"]
        rows.append(compare_row(f"features ({(n or o)['establishments']:,} establishments): read RawData",
                                n and n["read_s"], o and o["read_s"]))
        rows.append(compare_row(f"features: write {docs:,} Features", n and n["write_s"], o and o["write_s"], 5))
        rows.append(compare_row("features: wall (4 ranges)", n and n["wall_s"], o and o["wall_s"]))
    imp = report.get("import", {})
    if imp:
        n, o = imp.get("new"), imp.get("old")
        lines = (n or o)["lines"]
        rows.append(compare_row(f"sf import (run_batch) of {lines:,} cotisation lines",
                                n and n["seconds"], o and o["seconds"], 3))
        rows.append(compare_row("sf import:   CPU (importing process + server)", n and n["cpu_s"], o and o["cpu_s"]))
    demo = report.get("demo", {})
    if demo:
        n, o = demo.get("new"), demo.get("old")
        rows.append(compare_row(f"sf demo --establishments {demo['establishments']:,} (whole command)",
                                n and n["wall_s"], o and o["wall_s"], 2))
        rows.append(compare_row("sf demo:   CPU (command, its workers, server)", n and n["cpu_s"], o and o["cpu_s"]))
        for step in (n or o)["steps"]:
            rows.append(compare_row(f"sf demo:   {step}", n and n["steps"].get(step), o and o["steps"].get(step)))
    return rows


def print_table(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['cpus']} CPUs, {m['platform']}, Python {m['python']}; "
          f"load average {m['load_before']:.1f} before, {m['load_after']:.1f} after; run {report['total_s']:.0f} s")
    print("| measure | new store (sf.store) | old store (nx-27017) | old / new | target | |")
    print("|---|---|---|---|---|---|")
    for row in table(report):
        print("| " + " | ".join(row) + " |")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--new-sizes", type=int, nargs="*", default=[2000, 10000],
                        help="establishments of the compaction stage on the new store")
    parser.add_argument("--old-sizes", type=int, nargs="*", default=[2000],
                        help="establishments of the compaction stage on the old store")
    parser.add_argument("--templates", type=int, default=200)
    parser.add_argument("--parts-per-worker", type=int, default=4)
    parser.add_argument("--growth-establishments", type=int, default=500)
    parser.add_argument("--long-months", type=int, default=96)
    parser.add_argument("--features-cache", type=Path, default=Path(tempfile.gettempdir()) / "sfbench-base400.bson",
                        help="RawData base of benchmarks/features.py (built with 400 establishments if absent)")
    parser.add_argument("--features-establishments", type=int, default=1500)
    parser.add_argument("--import-lines", type=int, default=100_000)
    parser.add_argument("--demo-establishments", type=int, default=1000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["compaction", "growth", "features", "import", "demo"])
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()

    started = time.perf_counter()
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()},
                              "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "platform": platform.platform(),
                                          "python": platform.python_version(), "load_before": os.getloadavg()[0]}}

    def each_store(stage: str, run: Callable[[str], Any], stores: tuple[str, ...] = STORES) -> dict[str, Any]:
        out = {}
        for kind in stores:
            t0 = time.perf_counter()
            out[kind] = run(kind)
            log(f"{stage} on the {kind} store: {time.perf_counter() - t0:.0f} s", started)
        return out

    if "compaction" not in args.skip:
        report["compaction"] = {"new": {}, "old": {}}
        for size in sorted(set(args.new_sizes) | set(args.old_sizes)):
            stores = tuple(k for k in STORES if size in (args.new_sizes if k == "new" else args.old_sizes))
            for kind in stores:
                t0 = time.perf_counter()
                # The floors are the same documents on either store: measured once, on the first.
                report["compaction"][kind][str(size)] = compaction_stage(
                    kind, size, args.templates, args.parts_per_worker, with_floor=kind == stores[0])
                log(f"compaction {size} on the {kind} store: {time.perf_counter() - t0:.0f} s", started)
    if "growth" not in args.skip:
        report["growth"] = {"establishments": args.growth_establishments,
                            **each_store("growth", lambda k: growth_stage(k, args.growth_establishments,
                                                                          args.templates, args.long_months))}
    if "features" not in args.skip:
        if not args.features_cache.exists():
            t0 = time.perf_counter()
            bench_features.build_base(args.features_cache, 400, 7)
            log(f"features base built in {time.perf_counter() - t0:.0f} s", started)
        report["features"] = each_store("features", lambda k: features_stage(k, args.features_cache,
                                                                            args.features_establishments))
    if "import" not in args.skip:
        with tempfile.TemporaryDirectory(prefix="sfbench-import-") as tmp:
            path = Path(tmp) / "Sigfaible_cotisdues.csv"
            bench_import.write_cotisation(path, args.import_lines)
            report["import"] = each_store("import", lambda k: import_stage(k, path))
    if "demo" not in args.skip:
        report["demo"] = {"establishments": args.demo_establishments,
                          **each_store("demo", lambda k: demo_stage(k, args.demo_establishments))}

    report["machine"]["load_after"] = os.getloadavg()[0]
    report["total_s"] = time.perf_counter() - started
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=1, default=str))
    print_table(report)


if __name__ == "__main__":
    main()
