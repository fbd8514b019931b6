"""Prototype, for numbers only: a compaction ``$set`` applied by splicing the stored BSON bytes,
against what a store does today (decode the whole document, apply, encode it again).

Builds 20 RawData histories of 24 and of 96 months (``benchmarks/compaction.py``), computes the
``$set`` of one new month for each (``compact_increment``), and times both ways per document,
checking that they give the same bytes. Not used by the package: it measures the fix proposed
for ``sf.store`` in BENCHMARKS.md ("Embedded store"). Usage: ``python benchmarks/raw_set_splice.py``.

:func:`splice_set` walks the elements of each enclosing document by their length prefixes,
replaces or appends the target element, and fixes the enclosing lengths: its cost follows the
path and the size of the new values, not the size of the document (plus one copy of the bytes).
It handles the element types RawData holds and raises ``ValueError`` on others; paths through
arrays (``a.0.b``) are out of its scope.
"""

from __future__ import annotations

import gc
import struct
import sys
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import bson
from bson.codec_options import CodecOptions

sys.path.insert(0, str(Path(__file__).resolve().parent))
import store as bench  # noqa: E402  (loads benchmarks/compaction.py as a module)

from sf.compaction.incremental import EntityHead, compact_increment  # noqa: E402

OPTS = CodecOptions(tz_aware=True, tzinfo=UTC)
# Sizes of fixed-width BSON values by element type.
FIXED = {0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16, 0x06: 0, 0x7F: 0, 0xFF: 0}


def value_size(buf: bytearray, kind: int, pos: int) -> int:
    """Size in bytes of the value of type ``kind`` starting at ``pos``."""
    if kind in FIXED:
        return FIXED[kind]
    n = struct.unpack_from("<i", buf, pos)[0]
    if kind in (0x03, 0x04):  # document, array: the length includes itself
        return n
    if kind in (0x02, 0x0D, 0x0E):  # string, code, symbol: int32 + bytes
        return 4 + n
    if kind == 0x05:  # binary: int32 + subtype + bytes
        return 5 + n
    raise ValueError(f"BSON type {kind:#x} not handled by the prototype")


def element(name: str, value: Any) -> bytes:
    """The encoded element ``name: value`` (type byte, name, value)."""
    return bson.encode({name: value}, codec_options=OPTS)[4:-1]


def nested(parts: list[str], value: Any) -> Any:
    for part in reversed(parts):
        value = {part: value}
    return value


def set_path(buf: bytearray, start: int, parts: list[str], value: Any) -> int:
    """Set ``parts`` inside the document at ``start``; returns the size change (lengths fixed up)."""
    end = start + struct.unpack_from("<i", buf, start)[0]
    name = parts[0].encode()
    i = start + 4
    while i < end - 1:
        kind = buf[i]
        j = buf.index(0, i + 1)
        v = j + 1
        size = value_size(buf, kind, v)
        if buf[i + 1:j] == name:
            if len(parts) > 1 and kind == 0x03:
                delta = set_path(buf, v, parts[1:], value)
            else:  # last part, or a non-document on the path: replaced, as $set does
                new = element(parts[0], nested(parts[1:], value))
                delta = len(new) - (v + size - i)
                buf[i:v + size] = new
            break
        i = v + size
    else:  # absent: appended at the end, as MongoDB and a dict update do
        new = element(parts[0], nested(parts[1:], value))
        delta = len(new)
        buf[end - 1:end - 1] = new
    struct.pack_into("<i", buf, start, struct.unpack_from("<i", buf, start)[0] + delta)
    return delta


def splice_set(raw: bytes, fields: dict[str, Any]) -> bytes:
    """``raw`` with the ``$set`` document ``fields`` (dotted paths through sub-documents) applied."""
    buf = bytearray(raw)
    for path, value in fields.items():
        set_path(buf, 0, path.split("."), value)
    return bytes(buf)


def apply_set(doc: dict, fields: dict[str, Any]) -> dict:
    """The reference: ``$set`` on the decoded document."""
    for path, value in fields.items():
        parts = path.split(".")
        target = doc
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return doc


def measure(months: int, templates: int = 20, repeat: int = 5) -> str:
    c = bench.bench_compaction
    first_year = 2024 - (months + 11) // 12
    specs = c.batch_infos(months, first_year, 1)
    keys = list(specs)
    infos = {k: info for k, (_, info) in specs.items()}
    built = c.build_templates(templates, months, first_year, infos)
    raws = [bson.encode(c.replicate(t, c.siret_of(n)), codec_options=OPTS) for n, t in enumerate(built)]
    sets = []
    for n, raw in enumerate(raws):
        doc = bson.decode(raw, codec_options=OPTS)
        value = doc["value"]
        head = EntityHead.from_document({"_id": doc["_id"], "value": {
            k: value[k] for k in ("key", "scope", "state", "state_batch", "index") if k in value}})
        new = {"key": doc["_id"], "scope": "etablissement", "batch": {keys[months]: c.delivery(n, months, first_year)}}
        sets.append(compact_increment(head, [new], infos, run_batches=[keys[months]],
                                      max_document_bytes=None).set_fields)
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(repeat):
            full = [bson.encode(apply_set(bson.decode(r, codec_options=OPTS), s), codec_options=OPTS)
                    for r, s in zip(raws, sets)]
        t_full = (time.perf_counter() - t0) / repeat / len(raws)
        t0 = time.perf_counter()
        for _ in range(repeat):
            spliced = [splice_set(r, s) for r, s in zip(raws, sets)]
        t_splice = (time.perf_counter() - t0) / repeat / len(raws)
    finally:
        gc.enable()
    identical = sum(a == b for a, b in zip(full, spliced))
    set_kb = sum(len(bson.encode(s, codec_options=OPTS)) for s in sets) / len(sets) / 1000
    return (f"{months} months: document {sum(map(len, raws)) / len(raws) / 1000:.1f} kB, $set {set_kb:.1f} kB; "
            f"decode + apply + encode {t_full * 1e6:,.0f} µs/document, splice {t_splice * 1e6:,.0f} µs/document "
            f"({t_full / t_splice:.0f}× less); byte-identical results {identical}/{len(raws)}")


if __name__ == "__main__":
    for history in (24, 96):
        print(measure(history))
