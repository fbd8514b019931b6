"""Import throughput benchmark: parse + validate + hash of a synthetic cotisation file.

What it measures (one process, one file, no database):

* ``pyarrow``: merely reading the same file with ``pyarrow.csv.read_csv`` (all columns as
  strings), single-threaded and with pyarrow's default thread pool — the bar to compare to;
* ``parse``: sf's full per-line work up to what the import writes: Go-compatible CSV
  reading (``GoCsvReader``), conversion/validation of every cell with the Go converters,
  account → SIRET mapping lookup, the tracker's checks and counts (``track``), the stored
  document (``to_document``) and its dedupe hash (``record_hash``); also measured without
  the last two steps, to show where the time goes;
* ``reader``: the Go-compatible CSV reader alone (lines split into fields, no conversion);
* peak memory (max RSS of the child process) for two file sizes, to show it stays flat.

Each measurement runs in a fresh child process so that RSS and caches do not leak between
them. Usage::

    python benchmarks/import.py                 # 1,000,000 lines (and 250,000 for memory)
    python benchmarks/import.py --lines 2000000 --keep /tmp/cotisation.csv

The full ``sf import`` throughput (parsing + writing ImportedData through the I/O driver)
is not measured here: it needs the I/O driver and is to be added next to this script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HEADER = "Urssaf_gestion;Dep;Compte;periode;mer;enc_direct;cotis_due\n"
ACCOUNTS = 200_000


def account(index: int) -> str:
    return f"{(index * 7919 + 123456789) % 10**18:018d}"


def siret(index: int) -> str:
    return f"{(index * 104729 + 987654321) % 10**14:014d}"


def write_cotisation(path: Path, lines: int, seed: int = 2022) -> None:
    """A cotisation file shaped like the real extract: 200,000 accounts, monthly periods over
    2015–2024 (``YYQM``), amounts with ``.``/``,`` decimals and a few empty cells."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        buffer = []
        for _ in range(lines):
            index = rng.randrange(ACCOUNTS)
            year = rng.randrange(15, 25)
            quarter = rng.randrange(1, 5)
            month = rng.randrange(0, 4)
            paid = rng.randrange(0, 500_000) / 100
            due = rng.randrange(0, 500_000) / 100
            paid_text = "" if rng.random() < 0.02 else (f"{paid:.2f}".replace(".", ",") if rng.random() < 0.5
                                                        else f"{paid:.2f}")
            buffer.append(f"{rng.randrange(100, 999)};{rng.randrange(1, 96):02d};{account(index)};"
                          f"{year}{quarter}{month};{rng.randrange(0, 9)};{paid_text};{due:.2f}\n")
            if len(buffer) == 10_000:
                out.write("".join(buffer))
                buffer.clear()
        out.write("".join(buffer))


def _max_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_pyarrow(path: str, threads: bool) -> dict:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = HEADER.strip().split(";")
    start = time.perf_counter()
    table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(use_threads=threads),
                           parse_options=pacsv.ParseOptions(delimiter=";"),
                           convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "lines": table.num_rows, "max_rss_mib": _max_rss_mib()}


def child_parse(path: str, with_hash: bool = True) -> dict:
    import gc

    from sf.importers.cotisation import PARSER
    from sf.importers.identity import record_hash
    from sf.importers.perimeter import AccountMapping
    from sf.importers.records import ParseContext
    from sf.importers.tracker import FileReport, track

    always = datetime(9999, 1, 2, tzinfo=UTC)
    mapping = AccountMapping({account(i): [(siret(i), always)] for i in range(ACCOUNTS)})
    ctx = ParseContext(batch_key="2401", mapping=lambda: mapping)
    report = FileReport(file_type="cotisation", path=path, batch_key="2401")
    hashes = 0
    gc.collect()
    gc.freeze()  # the mapping is long-lived: keep the cyclic GC from rescanning it
    start = time.perf_counter()
    if with_hash:
        for item in track(PARSER.parse(path, ctx), report):
            record_hash(item.type, item.record.to_document())
            hashes += 1
    else:
        for _ in track(PARSER.parse(path, ctx), report):
            pass
    seconds = time.perf_counter() - start
    assert report.lines_read == report.lines_valid + report.lines_rejected + report.lines_filtered
    return {"seconds": seconds, "lines": report.lines_read, "valid": report.lines_valid,
            "rejected": report.lines_rejected, "hashes": hashes, "max_rss_mib": _max_rss_mib()}


def child_reader(path: str) -> dict:
    from sf.importers.reading import GoCsvReader

    start = time.perf_counter()
    with GoCsvReader(path, sep=";", lazy_quotes=True) as reader:
        lines = sum(1 for _ in reader.rows())
    return {"seconds": time.perf_counter() - start, "lines": lines, "max_rss_mib": _max_rss_mib()}


def run_child(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--small-lines", type=int, default=250_000, help="second size, for the memory check")
    parser.add_argument("--keep", type=Path, help="write the synthetic file here and keep it")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path, *rest = args.child
        if kind == "pyarrow":
            out = child_pyarrow(path, rest == ["threads"])
        elif kind == "reader":
            out = child_reader(path)
        else:
            out = child_parse(path, with_hash=rest != ["nohash"])
        print(json.dumps(out))
        return

    with tempfile.TemporaryDirectory() as tmp:
        big = args.keep or Path(tmp) / "Sigfaible_cotisdues.csv"
        small = Path(tmp) / "small_cotisdues.csv"
        write_cotisation(big, args.lines)
        write_cotisation(small, args.small_lines)
        size_mib = big.stat().st_size / 2**20
        arrow_1 = run_child("pyarrow", str(big), "single")
        arrow_n = run_child("pyarrow", str(big), "threads")
        ours = run_child("parse", str(big))
        no_hash = run_child("parse", str(big), "nohash")
        reader = run_child("reader", str(big))
        ours_small = run_child("parse", str(small))

    rate = ours["lines"] / ours["seconds"]
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}")
    print(f"file: {args.lines:,} cotisation lines, {size_mib:.1f} MiB")
    print(f"pyarrow.csv read, 1 thread : {arrow_1['seconds']:7.2f} s  "
          f"({arrow_1['lines'] / arrow_1['seconds']:,.0f} lines/s)")
    print(f"pyarrow.csv read, threads  : {arrow_n['seconds']:7.2f} s  "
          f"({arrow_n['lines'] / arrow_n['seconds']:,.0f} lines/s)")
    print(f"sf parse+validate+hash     : {ours['seconds']:7.2f} s  ({rate:,.0f} lines/s; "
          f"{ours['valid']:,} valid, {ours['rejected']:,} rejected, {ours['hashes']:,} hashes)")
    print(f"  of which parse+validate+track only (no document/hash): {no_hash['seconds']:7.2f} s  "
          f"({no_hash['lines'] / no_hash['seconds']:,.0f} lines/s, "
          f"{no_hash['seconds'] / arrow_1['seconds']:.1f}x pyarrow 1 thread)")
    print(f"  of which Go-compatible CSV reading only (GoCsvReader.rows): {reader['seconds']:7.2f} s  "
          f"({reader['seconds'] / arrow_1['seconds']:.1f}x pyarrow 1 thread)")
    print(f"ratio sf / pyarrow 1 thread: {ours['seconds'] / arrow_1['seconds']:.1f}x   "
          f"ratio sf / pyarrow threads: {ours['seconds'] / arrow_n['seconds']:.1f}x   (target: <= 4x)")
    print(f"peak RSS sf: {ours_small['max_rss_mib']:.0f} MiB for {args.small_lines:,} lines, "
          f"{ours['max_rss_mib']:.0f} MiB for {args.lines:,} lines "
          f"(pyarrow holds the table: {arrow_1['max_rss_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()
