"""Prototype, for numbers only: a compaction ``$set`` applied by splicing the stored BSON bytes,
against what a store does today (decode the whole document, apply, encode it again).

Builds 20 RawData histories of 24 and of 96 months (``benchmarks/compaction.py``), computes the
``$set`` of one new month for each (``compact_increment``), and times both ways per document,
checking that they give the same bytes. Not used by the package; the proposed fix for
``sf.store`` (see BENCHMARKS.md, "Embedded store"). Usage: ``python benchmarks/raw_set_splice.py``.

``splice_set`` walks the elements of each enclosing document by their length prefixes, replaces
or appends the target element, and fixes the enclosing lengths: its cost follows the path and
the size of the new values, not the size of the document (plus one copy of the bytes).
"""
import struct, sys, time
import bson
from bson.codec_options import CodecOptions
from datetime import UTC
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
import store as bench
from sf.compaction.incremental import HEAD_PROJECTION, EntityHead, compact_increment
from sf.compaction import BatchInfo
OPTS = CodecOptions(tz_aware=True, tzinfo=UTC)
FIXED = {0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16, 0x06: 0, 0x7F: 0, 0xFF: 0}

def value_size(buf, t, p):
    if t in FIXED: return FIXED[t]
    n = struct.unpack_from("<i", buf, p)[0]
    if t in (0x03, 0x04): return n
    if t in (0x02, 0x0D, 0x0E): return 4 + n
    if t == 0x05: return 5 + n
    raise ValueError(hex(t))

def element(name, value):
    enc = bson.encode({name: value}, codec_options=OPTS)
    return enc[4:-1]

def nested(parts, value):
    for part in reversed(parts): value = {part: value}
    return value

def set_path(buf: bytearray, start: int, parts: list, value) -> int:
    """Set ``parts`` inside the document at ``start``; returns the size change (lengths fixed up)."""
    end = start + struct.unpack_from("<i", buf, start)[0]
    name = parts[0].encode()
    i = start + 4
    while i < end - 1:
        t = buf[i]; j = buf.index(0, i + 1); v = j + 1; size = value_size(buf, t, v)
        if buf[i + 1:j] == name:
            if len(parts) > 1 and t == 0x03:
                delta = set_path(buf, v, parts[1:], value)
            else:
                new = element(parts[0], nested(parts[1:], value)); delta = len(new) - (v + size - i)
                buf[i:v + size] = new
            break
        i = v + size
    else:
        new = element(parts[0], nested(parts[1:], value)); delta = len(new)
        buf[end - 1:end - 1] = new
    struct.pack_into("<i", buf, start, struct.unpack_from("<i", buf, start)[0] + delta)
    return delta

def splice_set(raw: bytes, fields: dict) -> bytes:
    buf = bytearray(raw)
    for path, value in fields.items(): set_path(buf, 0, path.split("."), value)
    return bytes(buf)

def apply_set(doc, fields):
    for path, value in fields.items():
        parts = path.split("."); d = doc
        for p in parts[:-1]: d = d.setdefault(p, {})
        d[parts[-1]] = value
    return doc

import gc
c = bench.bench_compaction
for months in (24, 96):
    first_year = 2024 - (months + 11) // 12
    infos = c.batch_infos(months, first_year, 1)
    keys = list(infos)
    tmpl = c.build_templates(20, months, first_year, {k: i for k, (_, i) in infos.items()})
    raws = [bson.encode(c.replicate(t, c.siret_of(n)), codec_options=OPTS) for n, t in enumerate(tmpl)]
    plan_batches = {k: i for k, (_, i) in infos.items()}
    sets = []
    for n, raw in enumerate(raws):
        doc = bson.decode(raw, codec_options=OPTS)
        head = EntityHead.from_document({"_id": doc["_id"], "value": {k: doc["value"][k] for k in ("key", "scope", "state", "state_batch", "index") if k in doc["value"]}})
        value = {"key": doc["_id"], "scope": "etablissement", "batch": {keys[months]: c.delivery(n, months, first_year)}}
        inc = compact_increment(head, [value], plan_batches, run_batches=[keys[months]], max_document_bytes=None)
        sets.append(inc.set_fields)
    reps = 5; gc.collect(); gc.disable()
    t0 = time.perf_counter()
    for _ in range(reps):
        full = [bson.encode(apply_set(bson.decode(r, codec_options=OPTS), s), codec_options=OPTS) for r, s in zip(raws, sets)]
    t_full = (time.perf_counter() - t0) / reps / len(raws)
    t0 = time.perf_counter()
    for _ in range(reps):
        spliced = [splice_set(r, s) for r, s in zip(raws, sets)]
    t_splice = (time.perf_counter() - t0) / reps / len(raws)
    same = all(bson.decode(a, codec_options=OPTS) == bson.decode(b, codec_options=OPTS) for a, b in zip(full, spliced))
    bytes_eq = sum(a == b for a, b in zip(full, spliced))
    print(f"{months} months: doc {sum(map(len, raws)) / len(raws) / 1000:.1f} kB, set {sum(len(bson.encode(s, codec_options=OPTS)) for s in sets) / len(sets) / 1000:.1f} kB; "
          f"decode+apply+encode {t_full * 1e6:,.0f} µs/doc, splice {t_splice * 1e6:,.0f} µs/doc ({t_full / t_splice:.0f}× less); "
          f"same documents: {same}, byte-identical {bytes_eq}/{len(raws)}")
