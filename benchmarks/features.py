"""Features throughput benchmark: rows/s, peak memory per worker, 2-worker speed-up, DB share.

Input. A base population of RawData documents made by the real chain at a small size
(``sf synth`` deliveries → import → compaction on an embedded server, 24 monthly batches),
cached as a BSON file (``--cache``), then replicated under new SIRENs (copy ``c`` of company
``i`` gets SIREN ``cccciiiii``) up to ``--establishments``. Copies have identical contents, so
the population is as realistic as the synthetic generator, not more varied than the base.

Measurements (``--months`` of the batch period, fixed mode, 24 months of history for lags):

* ``compute``: the computation itself in one process, no database — state rebuild
  (``company_state_from_rawdata``), features (``compute_companies_features``, 1,000 companies
  per call) and conversion to documents (``to_feature_documents``), each timed; rows/s;
* ``memory``: peak RSS of a worker process computing N and N/4 establishments (streamed by
  chunks, so it should not grow with N);
* ``speed-up``: the same computation split in 2 Dask workers vs 1 (wall time);
* ``db``: the real task ``features_range`` on a server (embedded by default, or
  ``--mongodb-uri``) at ``--db-establishments``: seconds reading RawData, computing, and
  writing Features, reported separately.

Usage::

    python benchmarks/features.py                          # 100,000 establishments × 24 months
    python benchmarks/features.py --establishments 20000 --db-establishments 2000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import bson

HERE = Path(__file__).resolve().parent


# --- base population ----------------------------------------------------------------------------

def build_base(cache: Path, establishments: int, seed: int) -> None:
    """Run synth → import → compact on an in-memory embedded server; dump RawData to ``cache``."""
    from pymongo import MongoClient
    from sf.compaction.job import clear_staged, compact_range, plan_compaction
    from sf.engine.batches import make_batch, save_batch
    from sf.engine.collections import ensure_collections
    from sf.engine.embedded import start_embedded
    from sf.engine.partitions import key_ranges
    from sf.importers.delivery import scan_delivery
    from sf.importers.driver import run_batch
    from sf.synth.deliveries import generate

    work = Path(tempfile.mkdtemp(prefix="sf-bench-features-"))
    server = start_embedded("memory")
    try:
        summary = generate(work / "deliveries", establishments=establishments, months=24, seed=seed,
                           end_batch="2312", broken_rate=0.0, progress=None)
        db = MongoClient(server.uri, tz_aware=True)["bench"]
        ensure_collections(db)
        for key in summary.batches:
            folder = work / "deliveries" / key
            scan = scan_delivery(folder, path_prefix=f"{folder.resolve()}/")
            batch = make_batch(key, files=scan.files, complete_types=scan.complete_types,
                               date_debut=date(2014, 1, 1))
            save_batch(db, batch)
            run_batch(batch, db=db)
        plan = plan_compaction(db)
        for key_range in key_ranges([(db["ImportedData"], "value.key")], 2):
            compact_range(server.uri, "bench", plan, False, key_range)
        clear_staged(db, plan.staged_batches)
        cache.parent.mkdir(parents=True, exist_ok=True)
        with cache.open("wb") as out:
            for doc in db["RawData"].find().sort("_id", 1):
                out.write(bson.encode(doc))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def load_base(cache: Path) -> list[tuple[str, list[dict]]]:
    """``[(siren, [RawData values])]`` of the cached base, in key order."""
    from sf.features.job import group_by_company

    docs = bson.decode_all(cache.read_bytes(), bson.CodecOptions(tz_aware=True))
    return list(group_by_company(docs))


def replicate(base: list[tuple[str, list[dict]]], copy: int) -> list[tuple[str, list[dict]]]:
    """Copy ``copy`` of the base companies under SIRENs ``cccciiiii`` (values shared, keys renamed)."""
    out = []
    for i, (_, values) in enumerate(base):
        siren = f"{copy:04d}{i:05d}"
        out.append((siren, [dict(v, key=siren + v["key"][9:]) for v in values]))
    return out


def count_establishments(base: list[tuple[str, list[dict]]]) -> int:
    return sum(1 for _, values in base for v in values if v.get("scope") == "etablissement")


# --- the pure computation ------------------------------------------------------------------------

def plan_for(months: int):
    from datetime import UTC, datetime

    from sf.features.job import FeaturesPlan
    from sf.features.months import month_start
    from sf.features.state import FeatureParams

    end = 2023 * 12 + 11  # date_fin 2023-12-01 (batch 2312), months before it
    periods = tuple(month_start(m) for m in range(end - months, end))
    params = FeatureParams(batch="2312", date_fin_effectif=datetime(2023, 12, 1, tzinfo=UTC), mode="fixed")
    return FeaturesPlan(batch="2312", periods=periods, params=params)


def compute_copies(cache: str, months: int, copies: list[int], chunk_companies: int = 250) -> dict[str, Any]:
    """Worker task: compute copies of the base in chunks; timings, counts and peak RSS."""
    import gc

    from sf.features.job import FeaturesStats, compute_chunk

    base = load_base(Path(cache))
    plan = plan_for(months)
    stats = FeaturesStats()
    started = time.perf_counter()
    chunk: list = []
    gc.disable()
    try:
        for c in copies:
            chunk.extend(replicate(base, c))
            while len(chunk) >= chunk_companies:
                compute_chunk(chunk[:chunk_companies], plan, stats)
                chunk = chunk[chunk_companies:]
                gc.collect()
        if chunk:
            compute_chunk(chunk, plan, stats)
    finally:
        gc.enable()
    result = stats.as_dict()
    result["wall_s"] = time.perf_counter() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def child_compute(cache: Path, months: int, copies: int) -> dict[str, Any]:
    """:func:`compute_copies` in a fresh process (so its peak RSS is its own)."""
    code = (f"import sys, json; sys.path.insert(0, {str(HERE)!r}); import features as b; "
            f"print(json.dumps(b.compute_copies({str(cache)!r}, {months}, list(range({copies})))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def dask_compute(cache: Path, months: int, copies: int, workers: int) -> float:
    """Wall seconds to compute ``copies`` copies split over ``workers`` Dask worker processes."""
    from distributed import Client, LocalCluster

    parts = [list(range(copies))[k::workers] for k in range(workers)]
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(lambda: sys.path.insert(0, str(HERE)))
        import features as module
        warm = client.map(module.compute_copies, [str(cache)] * workers, [months] * workers, [[0]] * workers,
                          pure=False)
        client.gather(warm)  # imports and first-call costs out of the timing
        t0 = time.perf_counter()
        futures = client.map(module.compute_copies, [str(cache)] * workers, [months] * workers, parts, pure=False)
        client.gather(futures)
        return time.perf_counter() - t0


# --- with the database ---------------------------------------------------------------------------

def db_run(cache: Path, months: int, copies: int, mongodb_uri: str | None) -> dict[str, Any]:
    """Load ``copies`` copies into RawData, then run ``features_range`` over 4 ranges in-process."""
    from pymongo import MongoClient
    from sf.engine.batches import make_batch, save_batch
    from sf.engine.collections import RAW_DATA, ensure_collections
    from sf.engine.embedded import start_embedded
    from sf.engine.partitions import key_ranges
    from sf.engine.cluster import sum_stats
    from sf.features.job import features_range, plan_features

    server = None if mongodb_uri else start_embedded("memory")
    uri = mongodb_uri or server.uri
    name = f"sfbench_features_{os.getpid()}"
    client = MongoClient(uri, tz_aware=True)
    try:
        db = client[name]
        ensure_collections(db)
        base = load_base(cache)
        for c in range(copies):
            db[RAW_DATA].insert_many([{"_id": v["key"], "value": v} for _, values in replicate(base, c)
                                      for v in values], ordered=False)
        plan = plan_for(months)
        first = plan.periods[0]
        save_batch(db, make_batch("2312", date_debut=first.date(), date_fin=date(2023, 12, 1),
                                  date_fin_effectif=date(2023, 12, 1), check_files=False))
        plan = plan_features(db, "2312")
        t0 = time.perf_counter()
        ranges = key_ranges([(db[RAW_DATA], "_id")], 4)
        results = {r.name: features_range(uri, name, plan, r) for r in ranges}
        wall = time.perf_counter() - t0
        totals = sum_stats(results)
        totals.pop("failed", None)
        totals["wall_s"] = round(wall, 3)
        totals["backend"] = "mongodb" if mongodb_uri else "embedded sf.store"
        return totals
    finally:
        client.drop_database(name)
        client.close()
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--establishments", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--base-establishments", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "sf-bench-features-base.bson")
    parser.add_argument("--db-establishments", type=int, default=2_000)
    parser.add_argument("--speedup-establishments", type=int, default=20_000)
    parser.add_argument("--mongodb-uri", default=None)
    parser.add_argument("--skip", nargs="*", default=[], choices=["memory", "speedup", "db"])
    args = parser.parse_args()

    if not args.cache.exists():
        t0 = time.perf_counter()
        build_base(args.cache, args.base_establishments, args.seed)
        print(f"built base RawData ({args.base_establishments} establishments asked) in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
    base = load_base(args.cache)
    per_copy = count_establishments(base)
    copies = max(1, round(args.establishments / per_copy))
    report: dict[str, Any] = {
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "base": {"companies": len(base), "establishments": per_copy, "rawdata_docs": sum(len(v) for _, v in base)},
        "establishments": copies * per_copy, "months": args.months,
    }
    full = child_compute(args.cache, args.months, copies)
    compute_only = full["compute_s"]
    report["compute"] = {
        **{k: full[k] for k in ("companies", "establishments", "rows", "state_s", "compute_s", "convert_s", "wall_s",
                                "peak_rss_mb")},
        "rows_per_s_compute": round(full["rows"] / compute_only),
        "rows_per_s_state_compute": round(full["rows"] / (full["state_s"] + compute_only)),
        "rows_per_s_state_compute_convert": round(full["rows"] / (full["state_s"] + compute_only + full["convert_s"])),
    }
    print(json.dumps(report, indent=1), file=sys.stderr)
    if "memory" not in args.skip:
        quarter = child_compute(args.cache, args.months, max(1, copies // 4))
        report["memory"] = {"establishments": [quarter["establishments"], full["establishments"]],
                            "peak_rss_mb": [round(quarter["peak_rss_mb"]), round(full["peak_rss_mb"])]}
    if "speedup" not in args.skip:
        sp_copies = max(2, round(args.speedup_establishments / per_copy))
        one = dask_compute(args.cache, args.months, sp_copies, 1)
        two = dask_compute(args.cache, args.months, sp_copies, 2)
        report["speedup"] = {"establishments": sp_copies * per_copy, "one_worker_s": round(one, 2),
                             "two_workers_s": round(two, 2), "speedup": round(one / two, 2)}
    if "db" not in args.skip:
        db_copies = max(1, round(args.db_establishments / per_copy))
        report["db"] = db_run(args.cache, args.months, db_copies, args.mongodb_uri)
        report["db"]["establishments"] = db_copies * per_copy
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
