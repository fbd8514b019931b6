"""Documents per second of the ``sf.store`` server on the engine's hot paths (not a test).

Starts ``python -m sf.store.server`` in a child process on a Unix socket in a temporary
directory, and times through PyMongo (documents read as ``RawBSONDocument`` so that the
figures are the server's, not the client's decoding):

- ``insert_many`` of small documents;
- ``insert_many`` of ~50 KB history-like documents;
- full scans (no filter, no projection: stored bytes go out as they are);
- ``find`` by ``_id`` ``$in`` and by ``_id`` range with an include projection;
- unordered ``bulk_write`` of ``UpdateOne($set, upsert=True)``: existing and new documents;
- Features-shaped documents (60 doubles, ``_id`` {batch, siret, periode}, the engine's index
  batch/siret/periode): ``insert_many``, the reads of ``sf score`` (``{_id.batch, _id.periode}``
  and ``find_one`` of a batch sorted by ``_id.periode``) and the deletes of ``features_range``
  (``_id.batch`` + a SIRET range holding nothing).

Usage: ``python benchmarks/store_speed.py [--small 20000] [--large 2000] [--features 1500]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient, UpdateOne

RAW = CodecOptions(document_class=RawBSONDocument)


def history(i: int) -> dict:
    """A ~50 KB document shaped like a compacted history (24 monthly batches)."""
    months = {f"{2000 + m // 12}{m % 12 + 1:02d}": {
        "effectif": {"value": i % 97, "date": m, "siret": f"{i:014d}", "flags": [True, False, None]},
        "cotisation": [{"periode": f"{m}", "montant": float(m * i % 1000) / 7, "ok": bool(m % 2)}
                       for _ in range(6)],
        "apconso": {"heures": m * 1.5, "effectif": m, "texte": "x" * 200},
        "debit": [{"part_ouvriere": float(k), "part_patronale": float(k) / 3, "numero": str(k)} for k in range(12)],
    } for m in range(24)}
    return {"_id": f"{i:014d}", "key": f"{i:014d}", "scope": "etablissement", "batches": months}


def rate(label: str, n: int, seconds: float, nbytes: int | None = None) -> None:
    extra = f", {nbytes / seconds / 1e6:7.1f} MB/s" if nbytes else ""
    print(f"{label:<58} {n:>7} docs {seconds:7.2f} s {n / seconds:>10,.0f} docs/s{extra}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=20000)
    parser.add_argument("--large", type=int, default=2000)
    parser.add_argument("--features", type=int, default=1500, help="establishments × 20 periods")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o700)
        server = subprocess.Popen([sys.executable, "-m", "sf.store.server", "--data-dir", str(Path(tmp) / "data"),
                                   "--socket", str(Path(tmp) / "s.sock"), "--parent-pid", str(os.getpid())],
                                  stdout=subprocess.PIPE, text=True)
        try:
            uri = server.stdout.readline().split(" ", 1)[1].strip()  # type: ignore[union-attr]
            client: MongoClient = MongoClient(uri)
            db = client["bench"]
            run(db, args.small, args.large)
            features(db, args.features)
        finally:
            server.terminate()
            server.wait()


def run(db, n_small: int, n_large: int) -> None:
    small = db["small"]
    docs = [{"_id": i, "siret": f"{i:014d}", "n": i, "ok": True} for i in range(n_small)]
    t = time.perf_counter()
    for start in range(0, n_small, 1000):
        small.insert_many(docs[start:start + 1000], ordered=False)
    rate("insert_many small documents (batches of 1000)", n_small, time.perf_counter() - t)

    large = db["large"]
    big = [history(i) for i in range(n_large)]
    size = len(bson.encode(big[0]))
    t = time.perf_counter()
    for start in range(0, n_large, 200):
        large.insert_many(big[start:start + 200], ordered=False)
    rate(f"insert_many {size // 1000} KB documents (batches of 200)", n_large, time.perf_counter() - t,
         size * n_large)

    # Baseline of the same run: merely BSON-decoding and re-encoding the large documents in
    # this process (what any update of a whole document costs at least).
    encoded = [bson.encode(d) for d in big]
    t = time.perf_counter()
    for data in encoded:
        bson.encode(bson.decode(data))
    rate("baseline: bson decode + encode of the large documents", n_large, time.perf_counter() - t,
         size * n_large)

    raw_small, raw_large = small.with_options(codec_options=RAW), large.with_options(codec_options=RAW)
    t = time.perf_counter()
    n = sum(1 for _ in raw_small.find())
    rate("full scan, small documents, no projection", n, time.perf_counter() - t)
    t = time.perf_counter()
    n = sum(1 for _ in raw_large.find())
    rate("full scan, large documents, no projection", n, time.perf_counter() - t, size * n)

    ids = [f"{i:014d}" for i in range(n_large)]
    t = time.perf_counter()
    n = 0
    for start in range(0, n_large, 100):
        n += sum(1 for _ in raw_large.find({"_id": {"$in": ids[start:start + 100]}}))
    rate("find _id $in (100 per query), large, no projection", n, time.perf_counter() - t, size * n)
    t = time.perf_counter()
    n = 0
    projection = {"key": 1, "batches.200001.effectif": 1, "batches.200112.apconso.heures": 1}
    for start in range(0, n_large, 100):
        n += sum(1 for _ in raw_large.find({"_id": {"$in": ids[start:start + 100]}}, projection))
    rate("find _id $in (100 per query), large, include projection", n, time.perf_counter() - t, size * n)
    t = time.perf_counter()
    n = 0
    for start in range(0, n_large, 250):
        n += sum(1 for _ in raw_large.find({"_id": {"$gte": ids[start], "$lt": ids[min(start + 250, n_large - 1)]}},
                                           projection))
    rate("find _id range (250 per query), large, include projection", n, time.perf_counter() - t, size * n)

    t = time.perf_counter()
    ops = [UpdateOne({"_id": f"{i:014d}"}, {"$set": {"batches.202401": {"effectif": {"value": i}}, "seen": True}},
                     upsert=True) for i in range(n_large)]
    for start in range(0, n_large, 1000):
        large.bulk_write(ops[start:start + 1000], ordered=False)
    rate("bulk UpdateOne $set upsert, existing large documents", n_large, time.perf_counter() - t, size * n_large)
    t = time.perf_counter()
    ops = [UpdateOne({"_id": -i - 1}, {"$set": {"v": i, "s": "new"}}, upsert=True) for i in range(n_small)]
    for start in range(0, n_small, 5000):
        small.bulk_write(ops[start:start + 5000], ordered=False)
    rate("bulk UpdateOne $set upsert, new small documents", n_small, time.perf_counter() - t)
    t = time.perf_counter()
    ops = [UpdateOne({"_id": i}, {"$set": {"n": i + 1}}) for i in range(n_small)]
    for start in range(0, n_small, 5000):
        small.bulk_write(ops[start:start + 5000], ordered=False)
    rate("bulk UpdateOne $set, existing small documents", n_small, time.perf_counter() - t)



def features(db, sirets: int, periods: int = 20) -> None:
    """The engine's Features accesses on ``sirets`` × ``periods`` documents."""
    import datetime
    import random

    coll = db["Features"]
    coll.create_index([("_id.batch", 1), ("_id.siret", 1), ("_id.periode", 1)])
    months = [datetime.datetime(2022 + m // 12, m % 12 + 1, 1) for m in range(periods)]
    rng = random.Random(1)
    docs = [{"_id": {"batch": "2312", "siret": f"{s:014d}", "periode": p}, **{f"f{i}": rng.random() for i in range(60)}}
            for s in range(sirets) for p in months]
    t = time.perf_counter()
    for start in range(0, len(docs), 2000):
        coll.insert_many(docs[start:start + 2000], ordered=False)
    rate("Features: insert_many (batches of 2000), indexed", len(docs), time.perf_counter() - t)
    t = time.perf_counter()
    n = 0
    for p in months[-3:]:
        n += sum(1 for _ in coll.find({"_id.batch": "2312", "_id.periode": p}, {"f1": 1, "f2": 1}))
    rate("Features: 3 finds {_id.batch, _id.periode} (sf score)", n, time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(3):
        coll.find_one({"_id.batch": "2312"}, {"_id": 1}, sort=[("_id.periode", -1)])
    rate("Features: 3 find_one batch sorted by _id.periode", 3, time.perf_counter() - t)
    t = time.perf_counter()
    for k in range(5):
        coll.delete_many({"_id.batch": "2312",
                          "_id.siret": {"$gte": f"{sirets + 10 * k:014d}", "$lt": f"{sirets + 10 * k + 10:014d}"}})
    rate("Features: 5 delete_many of empty SIRET ranges", 5, time.perf_counter() - t)


if __name__ == "__main__":
    main()

