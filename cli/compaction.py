"""`sf compact`: merge the batches waiting in ImportedData into the RawData histories."""

from __future__ import annotations

from typing import Optional

import typer

from sf.engine.batches import StockAbsent

from .common import (
    break_lock_option, console, dry_run_option, json_option, partitions_option, print_json, scheduler_option,
    silent_option, store_of, workers_option,
)


def compact(ctx: typer.Context,
            since_batch: Optional[str] = typer.Option(None, "--since-batch", help="Recompute batches ≥ KEY (they must be re-imported)."),
            stock_absent: Optional[StockAbsent] = typer.Option(None, "--stock-absent", help="Record this choice for the run's batches (see README)."),
            workers: Optional[int] = workers_option(),
            scheduler: Optional[str] = scheduler_option(),
            partitions: Optional[int] = partitions_option(),
            max_document_mb: float = typer.Option(12.0, "--max-document-mb", min=0.001, max=16.0, help="Refuse RawData documents larger than this."),
            dry_run: bool = dry_run_option(),
            json_output: bool = json_option("Print the summary as JSON."),
            silent: bool = silent_option(),
            break_lock: bool = break_lock_option()) -> None:
    """Merge every batch waiting in ImportedData into RawData, one Dask task per key range.

    Batches are processed in string order of their keys; ImportedData is cleared only when
    every range has succeeded, so a killed or failed run can simply be run again.

    Example:

        sf compact --workers 2

        sf compact --since-batch 2402   # after re-importing 2402 and later batches
    """
    from sf.compaction.operations import compact as compact_batches

    with store_of(ctx) as store:
        summary = compact_batches(store, since_batch=since_batch, stock_absent=stock_absent, workers=workers,
                                  scheduler=scheduler, partitions=partitions, max_document_mb=max_document_mb,
                                  dry_run=dry_run, silent=silent or json_output, break_lock=break_lock)
    data = summary.as_dict()
    if json_output:
        print_json(data)
        return
    if not summary.batches:
        console.print("Nothing to compact: ImportedData is empty.")
        return
    per_type = ", ".join(f"{t} +{n}" for t, n in sorted(data.get("added", {}).items()))
    deleted = ", ".join(f"{t} -{n}" for t, n in sorted(data.get("deleted", {}).items()))
    console.print(
        f"{'Dry run: ' if dry_run else ''}compacted batch(es) {', '.join(summary.batches)} in {summary.partitions} "
        f"range(s): {data.get('entities_read', 0):,} entities read, {data.get('created', 0):,} created, "
        f"{data.get('changed', 0):,} changed, {data.get('unchanged', 0):,} unchanged; records {per_type or 'none added'}"
        f"{'; deleted ' + deleted if deleted else ''}; {summary.seconds:.1f} s.")
