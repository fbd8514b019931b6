"""Compaction benchmark: one new month over synthetic RawData histories.

What it builds (in a fresh database of the chosen backend):

* ``Admin``: one batch per month of history (``YYMM``), ``effectif`` complete (stock), each
  batch's ``serie_periode`` from the first history month to its own month (one new
  ``reporder`` month per batch);
* ``RawData``: ``--establishments`` etablissements × ``--months`` compacted months. Histories
  are built by the compaction pure functions (``compact_entity`` over all the monthly
  deliveries) for ``--templates`` template entities, then replicated under new SIRETs (each
  copy gets its own key and its own ``reporder`` records). Per entity and month the deliveries
  look like the real sources: ``effectif`` as a stock of the last 24 months (one new record,
  one deleted), one ``cotisation`` and two ``debit`` records (flux), an ``apconso`` record for
  one entity in five every fourth month, a ``delai`` now and then;
* ``ImportedData``: the next month's delivery of every entity.

What it measures, all in the same run:

1. ``floor``: for the new month, the time to merely BSON-decode what the job reads
   (ImportedData documents + the RawData head projection) and BSON-encode what it writes
   (the ``$set`` updates); also the *whole-document floor*, decode + encode of the complete
   RawData documents (what any compaction that reads and rewrites histories must pay,
   docs/README.md §1.1); and the *pure compute* (``compact_increment`` on the decoded documents);
2. the job itself: ``compact_range`` over SIREN-aligned key ranges on a local Dask cluster
   of 1 worker (month M+1), then of 2 workers (month M+2): entities/s, records/s, peak RSS
   per worker (``resource.getrusage`` max RSS inside the worker, with its idle baseline);
3. growth: the same new-month compaction, in-process (one range), on ``--growth-establishments``
   entities with 24 and with ``--long-months`` (96) months of history: cost per entity.

Usage::

    python benchmarks/compaction.py --establishments 20000
    python benchmarks/compaction.py --establishments 100000 --mongodb-uri mongodb://localhost:27017/

Prints a table and, with ``--json-out FILE``, writes every figure as JSON. Never a test.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

from sf.compaction import BatchInfo, compact_entity, reporder_value
from sf.compaction.incremental import HEAD_PROJECTION, EntityHead, compact_increment
from sf.compaction.job import clear_staged, compact_range, plan_compaction
from sf.engine.batches import make_batch, save_batch
from sf.engine.collections import IMPORTED_DATA, RAW_DATA, ensure_collections
from sf.engine.documents import unflatten
from sf.engine.partitions import KeyRange, key_ranges
from sf.engine.settings import load_settings

RAW = CodecOptions(document_class=RawBSONDocument, tz_aware=True)
EFFECTIF_WINDOW = 24


# --- synthetic deliveries ----------------------------------------------------------------------

def month_start(index: int, first_year: int) -> datetime:
    """First day of the ``index``-th month after January of ``first_year``."""
    from sf.importers.convert import add_months

    return add_months(first_year, 1, index)


def batch_key(moment: datetime) -> str:
    return f"{moment.year % 100:02d}{moment.month:02d}"


def record_hash(type_name: str, record: dict[str, Any]) -> str:
    return hashlib.md5(f"{type_name}|{sorted(record.items())!r}".encode()).hexdigest()


def delivery(template: int, month: int, first_year: int) -> dict[str, dict[str, dict[str, Any]]]:
    """What template entity ``template`` receives in history month ``month`` (0-based)."""
    rng = random.Random(template * 100_003 + month)
    compte = f"{template * 7919 % 10**18:018d}"
    now = month_start(month, first_year)
    types: dict[str, dict[str, dict[str, Any]]] = {}

    def add(type_name: str, record: dict[str, Any]) -> None:
        types.setdefault(type_name, {})[record_hash(type_name, record)] = record

    size = 5 + template % 40
    for back in range(EFFECTIF_WINDOW):  # stock: the last 24 months, as the effectif file
        periode = month_start(month - back, first_year)
        add("effectif", {"numero_compte": compte, "periode": periode,
                         "effectif": size + random.Random(template * 7 + month - back).randrange(3)})
    previous = month_start(month - 1, first_year)
    due = round(rng.uniform(500, 20_000), 2)
    add("cotisation", {"numero_compte": compte, "periode": {"start": previous, "end": now},
                       "encaisse": round(due * rng.uniform(0.5, 1), 2), "du": due})
    for n in range(2):
        add("debit", {"numero_compte": compte, "numero_ecart_negatif": f"{month:03d}{n}",
                      "date_traitement": now, "part_ouvriere": round(rng.uniform(0, 5000), 2),
                      "part_patronale": round(rng.uniform(0, 9000), 2), "numero_historique": n + 1,
                      "etat_compte": 1, "code_procedure_collective": "in_bonis",
                      "periode": {"start": previous, "end": now}, "code_operation_ecart_negatif": "1",
                      "code_motif_ecart_negatif": "0", "recours_en_cours": False})
    if template % 5 == 0 and month % 4 == 0:
        add("apconso", {"id_conso": f"{template}-{month}", "heure_consomme": rng.uniform(10, 500),
                        "montant": rng.uniform(100, 9000), "effectif": size, "periode": previous})
    if rng.random() < 0.03:
        add("delai", {"numero_compte": compte, "numero_contentieux": f"{month}", "date_creation": now,
                      "date_echeance": month_start(month + 6, first_year), "duree_delai": 180,
                      "denomination": "SOCIETE", "indic_6m": "SUP", "annee_creation": now.year,
                      "montant_echeancier": rng.uniform(1000, 50_000), "stade": "APPROB", "action": "DEBUT"})
    return types


def siret_of(index: int) -> str:
    return f"{index + 1:09d}00015"


def batch_infos(months: int, first_year: int, extra: int) -> dict[str, tuple[datetime, BatchInfo]]:
    """Batch key → (month, BatchInfo) for the history months and ``extra`` new ones."""
    start = month_start(0, first_year)
    out = {}
    for m in range(months + extra):
        moment = month_start(m, first_year)
        serie = tuple(month_start(i, first_year) for i in range(m + 1))
        out[batch_key(moment)] = (moment, BatchInfo(complete_types=frozenset({"effectif"}), serie_periode=serie))
    assert min(k for k in out) == batch_key(start)
    return out


def build_templates(templates: int, months: int, first_year: int,
                    infos: dict[str, BatchInfo]) -> list[dict[str, Any]]:
    docs = []
    keys = list(infos)
    for t in range(templates):
        key = siret_of(t)
        values = [{"key": key, "scope": "etablissement", "batch": {keys[m]: delivery(t, m, first_year)}}
                  for m in range(months)]
        docs.append(compact_entity(None, values, {k: infos[k] for k in keys[:months]}))
    return docs


def replicate(template: dict[str, Any], key: str) -> dict[str, Any]:
    """A copy of ``template`` for entity ``key``: records shared, reporder rebuilt for ``key``."""
    value = template["value"]
    batches = {}
    for b, entry in value["batch"].items():
        reporder = entry.get("reporder")
        if reporder:
            entry = {**entry, "reporder": {m: {"periode": r["periode"], "siret": key,
                                               "random_order": reporder_value(key, r["periode"])}
                                           for m, r in reporder.items()}}
        batches[b] = entry
    return {"_id": key, "value": {**value, "key": key, "batch": batches}}


def fill(db, establishments: int, months: int, templates: int, first_year: int, extra: int) -> dict[str, Any]:
    """Admin + RawData (+ nothing staged). Returns timings and sizes."""
    ensure_collections(db)
    specs = batch_infos(months, first_year, extra)
    for key, (moment, _) in specs.items():
        end = month_start((moment.year - first_year) * 12 + moment.month, first_year)
        save_batch(db, make_batch(key, complete_types=["effectif"], date_debut=month_start(0, first_year).date(),
                                  date_fin=end.date(), check_files=False))
    infos = {k: info for k, (_, info) in specs.items()}
    t0 = time.perf_counter()
    built = build_templates(min(templates, establishments), months, first_year, infos)
    t_build = time.perf_counter() - t0
    sizes = [len(bson.encode(d)) for d in built]
    t0 = time.perf_counter()
    chunk = []
    for i in range(establishments):
        chunk.append(replicate(built[i % len(built)], siret_of(i)))
        if len(chunk) == 500:
            db[RAW_DATA].insert_many(chunk, ordered=False)
            chunk = []
    if chunk:
        db[RAW_DATA].insert_many(chunk, ordered=False)
    return {"templates_built_s": round(t_build, 2), "insert_s": round(time.perf_counter() - t0, 2),
            "mean_document_bytes": round(sum(sizes) / len(sizes)), "batch_keys": list(specs),
            "template_count": len(built)}


def stage(db, establishments: int, templates: int, month: int, first_year: int, key: str) -> int:
    """ImportedData of history month ``month`` (batch ``key``) for every entity; returns records staged."""
    per_template = [delivery(t, month, first_year) for t in range(min(templates, establishments))]
    records = 0
    chunk = []
    for i in range(establishments):
        types = per_template[i % len(per_template)]
        records += sum(len(r) for r in types.values())
        siret = siret_of(i)
        chunk.append({"_id": f"{key}:{siret}", "value": {"key": siret, "scope": "etablissement", "batch": {key: types}}})
        if len(chunk) == 1000:
            db[IMPORTED_DATA].insert_many(chunk, ordered=False)
            chunk = []
    if chunk:
        db[IMPORTED_DATA].insert_many(chunk, ordered=False)
    return records


# --- measurements ------------------------------------------------------------------------------

def floor_and_pure(db, with_whole_documents: bool = True) -> dict[str, float]:
    """Decode/encode floors and pure compute for the month staged in ImportedData (see module doc)."""
    plan = plan_compaction(db)
    raw_db = db.client.get_database(db.name, codec_options=RAW)
    t0 = time.perf_counter()
    imported_raw = list(raw_db[IMPORTED_DATA].find())
    heads_raw = list(raw_db[RAW_DATA].find({}, HEAD_PROJECTION))
    t_fetch = time.perf_counter() - t0
    gc.disable()
    try:
        t0 = time.perf_counter()
        imported = [bson.decode(r.raw, codec_options=RAW_DECODE) for r in imported_raw]
        heads = [unflatten(bson.decode(r.raw, codec_options=RAW_DECODE)) for r in heads_raw]
        t_decode = time.perf_counter() - t0
        by_key = {doc["_id"]: doc for doc in heads}
        t0 = time.perf_counter()
        updates = []
        records = 0
        for doc in imported:
            value = doc["value"]
            head = EntityHead.from_document(by_key[value["key"]])
            increment = compact_increment(head, [value], plan.batches, run_batches=list(plan.run_batches),
                                          max_document_bytes=None)
            records += increment.added + increment.deleted
            if increment.changed:
                updates.append({"q": {"_id": value["key"]}, "u": {"$set": increment.set_fields}})
        t_compute = time.perf_counter() - t0
        t0 = time.perf_counter()
        written = [bson.encode(u) for u in updates]
        t_encode = time.perf_counter() - t0
    finally:
        gc.enable()
    out = {"entities": len(imported), "records_added_or_deleted": records, "fetch_s": t_fetch,
           "decode_read_s": t_decode, "pure_compute_s": t_compute, "encode_written_s": t_encode,
           "floor_s": t_decode + t_encode,
           "bytes_read": sum(len(r.raw) for r in imported_raw) + sum(len(r.raw) for r in heads_raw),
           "bytes_written": sum(len(w) for w in written)}
    if with_whole_documents:
        whole = list(raw_db[RAW_DATA].find())
        gc.disable()
        try:
            t0 = time.perf_counter()
            decoded = [bson.decode(r.raw, codec_options=RAW_DECODE) for r in whole]
            t_whole_decode = time.perf_counter() - t0
            t0 = time.perf_counter()
            for d in decoded:
                bson.encode(d)
            t_whole_encode = time.perf_counter() - t0
        finally:
            gc.enable()
        out.update(whole_documents_bytes=sum(len(r.raw) for r in whole),
                   whole_floor_s=t_whole_decode + t_whole_encode)
    return out


RAW_DECODE = CodecOptions(tz_aware=True, tzinfo=UTC)


def timed_range(uri: str, db_name: str, plan: Any, dry_run: bool, key_range: KeyRange) -> dict[str, Any]:
    """``compact_range`` plus its duration, the worker's pid, its max RSS (``getrusage``) and the
    peak RSS seen during the task by a sampling thread (psutil, every 5 ms), minus the RSS at
    the task's start (run on a Dask worker)."""
    import threading

    import psutil

    process = psutil.Process()
    start_rss = process.memory_info().rss
    peak = [start_rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        stats = compact_range(uri, db_name, plan, dry_run, key_range)
    finally:
        done.set()
        sampler.join()
    stats["task_s"] = time.perf_counter() - t0
    stats["pid"] = os.getpid()
    stats["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stats["task_peak_rss_mb"] = max(peak[0], process.memory_info().rss) / 2**20
    stats["task_rss_growth_mb"] = (stats["task_peak_rss_mb"] * 2**20 - start_rss) / 2**20
    return stats


def _warm_up() -> None:
    """Import what a compaction task imports (pymongo, sf.compaction), on each worker."""
    import sf.compaction.job  # noqa: F401


def idle_rss() -> dict[str, Any]:
    return {"pid": os.getpid(), "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_job(uri: str, db, workers: int, parts_per_worker: int) -> dict[str, Any]:
    """Compact what ImportedData holds on a local cluster of ``workers`` processes."""
    from sf.engine.cluster import dask_client, run_partitions

    settings = load_settings({"SF_MONGODB_URI": uri, "SF_DB": db.name})
    plan = plan_compaction(db)
    ranges = key_ranges([(db[IMPORTED_DATA], "value.key")], workers * parts_per_worker)
    with dask_client(settings, workers=workers) as client:
        client.run(_warm_up)  # imports out of the timing, as the cluster's start is
        baseline = client.run(idle_rss)
        client.run(gc.collect)
        cpu0 = client.run(time.process_time)
        t0 = time.perf_counter()
        outcome = run_partitions(client, timed_range, ranges, uri, db.name, plan, False, label=f"compact×{workers}",
                                 silent=True)
        wall = time.perf_counter() - t0
        cpu1 = client.run(time.process_time)
    if outcome.errors:
        raise RuntimeError(f"ranges failed: {outcome.errors}")
    clear_staged(db, plan.staged_batches)
    results = list(outcome.results.values())
    peak: dict[int, float] = {}
    for r in results:
        peak[r["pid"]] = max(peak.get(r["pid"], 0.0), r["maxrss_mb"])
    entities = sum(r["entities_read"] for r in results)
    records = sum(sum(r["added"].values()) + sum(r["deleted"].values()) for r in results)
    return {"workers": workers, "ranges": len(ranges), "entities_per_range": round(entities / len(ranges)),
            "wall_s": wall, "worker_cpu_s": sum(cpu1[w] - cpu0[w] for w in cpu1), "entities": entities, "records": records, "entities_per_s": entities / wall,
            "records_per_s": records / wall, "peak_rss_mb_per_worker": sorted(round(v) for v in peak.values()),
            "task_peak_rss_mb": round(max(r["task_peak_rss_mb"] for r in results)),
            "task_rss_growth_mb": round(max(r["task_rss_growth_mb"] for r in results), 1),
            "idle_rss_mb_per_worker": sorted(round(v["maxrss_mb"]) for v in baseline.values()),
            "incremental": sum(r["incremental"] for r in results),
            "whole_document": sum(r["whole_document"] for r in results),
            "task_s_sum": sum(r["task_s"] for r in results),
            "bytes_read": sum(r["bytes_read"] for r in results),
            "bytes_written": sum(r["bytes_written"] for r in results)}


def growth(client: MongoClient, uri: str, establishments: int, templates: int, months_list: list[int],
           server_cpu: Any = None) -> list[dict]:
    """Cost per entity of one new month, in-process (one range), for each history length.

    ``server_cpu``: an optional callable giving the server's CPU seconds so far; the rows then
    also hold the CPU per entity of this process plus the server's (``job_cpu_us_per_entity``)."""
    rows = []
    for months in months_list:
        first_year = 2024 - (months + 11) // 12
        db = client[f"sfbench_{uuid.uuid4().hex[:8]}"]
        try:
            built = fill(db, establishments, months, templates, first_year, extra=1)
            new_key = built["batch_keys"][months]
            stage(db, establishments, templates, months, first_year, new_key)
            measured = floor_and_pure(db, with_whole_documents=True)
            plan = plan_compaction(db)
            cpu0 = time.process_time() + (server_cpu() if server_cpu else 0.0)
            t0 = time.perf_counter()
            stats = compact_range(uri, db.name, plan, False, KeyRange(None, None))
            job_s = time.perf_counter() - t0
            job_cpu = time.process_time() + (server_cpu() if server_cpu else 0.0) - cpu0
            rows.append({"months": months, "establishments": establishments,
                         "mean_document_bytes": built["mean_document_bytes"],
                         "job_us_per_entity": 1e6 * job_s / establishments,
                         "job_cpu_us_per_entity": 1e6 * job_cpu / establishments,
                         "pure_us_per_entity": 1e6 * measured["pure_compute_s"] / establishments,
                         "floor_us_per_entity": 1e6 * measured["floor_s"] / establishments,
                         "whole_floor_us_per_entity": 1e6 * measured["whole_floor_s"] / establishments,
                         "bytes_read_per_entity": round(measured["bytes_read"] / establishments),
                         "incremental": stats["incremental"]})
        finally:
            client.drop_database(db.name)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--establishments", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--templates", type=int, default=200, help="distinct histories, replicated under new keys")
    parser.add_argument("--growth-establishments", type=int, default=2_000)
    parser.add_argument("--long-months", type=int, default=96)
    parser.add_argument("--parts-per-worker", type=int, default=4)
    parser.add_argument("--mongodb-uri", default=None, help="a real MongoDB (default: the embedded server)")
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()

    from sf.engine.embedded import start_embedded

    server = None
    tmp = None
    uri = args.mongodb_uri
    if uri is None:
        tmp = tempfile.mkdtemp(prefix="sfbench-")
        server = start_embedded(tmp)
        uri = server.uri
    client: MongoClient = MongoClient(uri, tz_aware=True)
    db = client[f"sfbench_{uuid.uuid4().hex[:8]}"]
    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                          "platform": platform.platform()},
                              "backend": "embedded sf.store" if server else "mongodb", "args": vars(args)}
    try:
        first_year = 2024 - (args.months + 11) // 12
        t0 = time.perf_counter()
        report["fill"] = fill(db, args.establishments, args.months, args.templates, first_year, extra=3)
        keys = report["fill"]["batch_keys"]
        print(f"filled {args.establishments} × {args.months} months in {time.perf_counter() - t0:.0f} s, "
              f"mean document {report['fill']['mean_document_bytes']} B", file=sys.stderr)

        stage(db, args.establishments, args.templates, args.months, first_year, keys[args.months])
        report["floor"] = floor_and_pure(db)
        report["one_worker"] = run_job(uri, db, 1, args.parts_per_worker)
        print("1 worker done", file=sys.stderr)
        stage(db, args.establishments, args.templates, args.months + 1, first_year, keys[args.months + 1])
        report["two_workers"] = run_job(uri, db, 2, args.parts_per_worker)
        print("2 workers done", file=sys.stderr)
        report["growth"] = growth(client, uri, args.growth_establishments, args.templates,
                                  [args.months, args.long_months])
    finally:
        client.drop_database(db.name)
        client.close()
        if server is not None:
            server.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    print_report(report)
    if args.json_out:
        with open(args.json_out, "w") as out:
            json.dump(report, out, indent=2, default=str)


def print_report(r: dict[str, Any]) -> None:
    f, one, two = r["floor"], r["one_worker"], r["two_workers"]
    n = f["entities"]
    print(f"backend: {r['backend']}, {r['machine']['cpus']} cpus, Python {r['machine']['python']}")
    print(f"RawData: {r['args']['establishments']:,} establishments × {r['args']['months']} months, "
          f"mean {r['fill']['mean_document_bytes']:,} B BSON per document")
    print(f"new month: {n:,} entities, {f['records_added_or_deleted']:,} records added/deleted")
    print(f"  floor (decode read {f['bytes_read'] / 1e6:.1f} MB + encode written {f['bytes_written'] / 1e6:.1f} MB): "
          f"{f['floor_s']:.2f} s  | pure compute: {f['pure_compute_s']:.2f} s "
          f"({f['pure_compute_s'] / f['floor_s']:.2f}× floor)")
    print(f"  whole-document floor (decode+encode {f['whole_documents_bytes'] / 1e6:.0f} MB of histories): "
          f"{f['whole_floor_s']:.2f} s")
    for job in (one, two):
        print(f"  job, {job['workers']} worker(s), {job['ranges']} ranges of ~{job['entities_per_range']:,} entities: "
              f"{job['wall_s']:.2f} s = {job['entities_per_s']:,.0f} entities/s, {job['records_per_s']:,.0f} records/s; "
              f"{job['wall_s'] / f['floor_s']:.1f}× floor, {job['wall_s'] / f['whole_floor_s']:.2f}× whole-document floor; "
              f"peak RSS per worker {job['peak_rss_mb_per_worker']} MB (idle {job['idle_rss_mb_per_worker']} MB; "
              f"during a task {job['task_peak_rss_mb']} MB, +{job['task_rss_growth_mb']} MB over its start); "
              f"incremental {job['incremental']:,}, whole-document {job['whole_document']:,}")
    print(f"  speed-up 2 workers / 1: {one['wall_s'] / two['wall_s']:.2f}×")
    rows = r["growth"]
    for row in rows:
        print(f"growth: {row['months']} months ({row['establishments']:,} entities, {row['mean_document_bytes']:,} B/doc): "
              f"job {row['job_us_per_entity']:.0f} µs/entity, pure {row['pure_us_per_entity']:.0f} µs, "
              f"floor {row['floor_us_per_entity']:.0f} µs, whole-doc floor {row['whole_floor_us_per_entity']:.0f} µs, "
              f"read {row['bytes_read_per_entity']:,} B/entity")
    if len(rows) == 2:
        print(f"  cost per entity {rows[1]['months']} vs {rows[0]['months']} months: job "
              f"{rows[1]['job_us_per_entity'] / rows[0]['job_us_per_entity']:.2f}×, pure "
              f"{rows[1]['pure_us_per_entity'] / rows[0]['pure_us_per_entity']:.2f}×")


if __name__ == "__main__":
    main()
