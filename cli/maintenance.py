"""Maintenance of RawData: `sf purge`, `sf prune-entities`, `sf validate`, `sf rawdata show`."""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import typer
from rich.table import Table

from sf.engine.errors import BadInputError, UsageError
from sf.engine.journal import journal_run

from .common import (
    ValidatedCollection, break_lock_option, console, dry_run_option, json_option, partitions_option, print_json,
    scheduler_option, silent_option, store_of, to_jsonable, workers_option,
)

rawdata_app = typer.Typer(help="Look at RawData histories.\n\nExample:\n\n    sf rawdata show 01234567891011 --at-batch 2401", no_args_is_help=True, rich_markup_mode=None)


class ViolationsFound(BadInputError):
    """`sf validate` found records that violate their schema (exit code 3)."""


def _confirm_destructive(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question.rstrip('?')}: confirmation needed", "add --yes (or try --dry-run first)")
    typer.confirm(question, abort=True)


def purge(ctx: typer.Context,
          since_batch: str = typer.Option(..., "--since-batch", help="Remove every batch entry ≥ KEY (string order)."),
          key: Optional[str] = typer.Option(None, "--key", help="Only this SIREN (company and its establishments) or SIRET."),
          workers: Optional[int] = workers_option(),
          scheduler: Optional[str] = scheduler_option(),
          partitions: Optional[int] = partitions_option(),
          dry_run: bool = dry_run_option("Count what would be removed, write nothing."),
          yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
          json_output: bool = json_option("Print the summary as JSON."),
          silent: bool = silent_option(),
          break_lock: bool = break_lock_option()) -> None:
    """Remove batches ≥ KEY from RawData, to re-import and re-compact them.

    Each document keeps its entries < KEY, with its live state and index.algo2 recomputed; a
    document left with no entry is deleted. Journaled and restartable: running it again
    finishes an interrupted purge and otherwise changes nothing. ImportedData is not touched.

    Example:

        sf purge --since-batch 2402 --dry-run

        sf purge --since-batch 2402 --yes && sf import --batch 2402 && sf compact --since-batch 2402
    """
    from sf.compaction.purge import key_prefix_range, run_purge

    if key is not None:
        key_prefix_range(key)  # usage error before asking anything
    if not dry_run:
        scope = f"of {key}" if key else "of every entity"
        _confirm_destructive(f"Remove the RawData entries ≥ {since_batch} {scope}?", yes)
    args = {"since_batch": since_batch, "key": key, "workers": workers, "scheduler": scheduler, "dry_run": dry_run}
    with store_of(ctx) as store, journal_run(store.db, "purge", args, batch=since_batch, destructive=not dry_run,
                                             break_lock=break_lock) as run:
        summary = run_purge(store, run, since_batch, key=key, workers=workers, scheduler=scheduler,
                            partitions=partitions, dry_run=dry_run, silent=silent or json_output)
        run.counts = summary.as_dict()
    data = summary.as_dict()
    if json_output:
        print_json(data)
        return
    removed = ", ".join(f"{b} ×{n}" for b, n in sorted(data.get("entries_removed", {}).items())) or "none"
    console.print(f"{'Dry run: ' if dry_run else ''}purge ≥ {since_batch}{' of ' + key if key else ''} in "
                  f"{summary.partitions} range(s): {data.get('documents_read', 0):,} documents read, "
                  f"{data.get('rewritten', 0):,} rewritten, {data.get('deleted', 0):,} deleted (no entry left), "
                  f"{data.get('unchanged', 0):,} unchanged; entries removed per batch: {removed}; "
                  f"{summary.seconds:.1f} s.")


def prune_entities(ctx: typer.Context,
                   delete: bool = typer.Option(False, "--delete", help="Delete them (default: only count and list)."),
                   batch: Optional[str] = typer.Option(None, "--batch", help="Take the perimeter of this batch [default: the latest batch with a filter file]."),
                   limit: int = typer.Option(20, "--limit", min=0, help="How many keys to list (0 = all)."),
                   yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation with --delete."),
                   json_output: bool = json_option(),
                   break_lock: bool = break_lock_option()) -> None:
    """Count, list, or with --delete remove, the RawData entities outside the current perimeter.

    The perimeter is the SIREN list of the filter file(s) of the latest batch that has one (or
    of --batch). An entity is outside when its SIREN (first 9 digits of its key) is not listed.
    Without --delete nothing is written.

    Example:

        sf prune-entities

        sf prune-entities --delete --yes
    """
    from sf.compaction.prune import load_batch_perimeter, perimeter_batch, prune_entities as prune

    args = {"delete": delete, "batch": batch}
    with store_of(ctx) as store:
        source = load_batch_perimeter(perimeter_batch(store.db, batch))
        if delete:
            _confirm_destructive(f"Delete the RawData entities outside the perimeter of batch {source.batch}?", yes)
        with journal_run(store.db, "prune-entities", args, batch=source.batch, destructive=delete,
                         break_lock=break_lock) as run:
            summary = prune(store.db, source, delete=delete, sample_size=limit or None)
            run.counts = {k: v for k, v in summary.as_dict().items() if k != "sample"}
    data = summary.as_dict()
    if json_output:
        print_json(data)
        return
    verb = "deleted" if delete else "would be deleted (dry run; add --delete)"
    console.print(f"Perimeter of batch {summary.perimeter_batch} ({summary.perimeter_sirens:,} SIRENs): "
                  f"{summary.outside:,} of {summary.documents:,} RawData documents are outside "
                  f"({summary.entreprises:,} entreprises, {summary.etablissements:,} etablissements); "
                  f"{summary.deleted if delete else summary.outside:,} {verb}.")
    if summary.sample:
        more = summary.outside - len(summary.sample)
        console.print(" ".join(summary.sample) + (f" … and {more:,} more (--limit 0 lists all)" if more else ""),
                      soft_wrap=True)


def validate(ctx: typer.Context,
             collection: ValidatedCollection = typer.Option(..., "--collection", help="Collection to check."),
             limit: int = typer.Option(1000, "--limit", min=0, help="How many violations to print (0 = all); all are counted."),
             workers: Optional[int] = workers_option("Local Dask workers (1 = in this process)."),
             scheduler: Optional[str] = scheduler_option(),
             partitions: Optional[int] = partitions_option(),
             json_output: bool = json_option("Print the result (counts and violations) as one JSON document."),
             jsonl: bool = typer.Option(False, "--jsonl", help="Print one JSON line per violation, as the original sfdata validate."),
             silent: bool = silent_option()) -> None:
    """List the records of ImportedData or RawData that violate their schema.

    Each record is checked against its source's pydantic model (strict); also checked: entity
    keys, null or malformed type entries (they crashed the original's compaction), unknown
    types, hashes, compact/reporder entries, and RawData's stored live state. Each violation
    names the key, batch, type, hash and the first error. Exit code 3 when there is any.

    Example:

        sf validate --collection ImportedData && sf compact
    """
    from sf.compaction.validate import iter_violation_lines, run_validation

    with store_of(ctx) as store, journal_run(store.db, "validate", {"collection": collection}) as run:
        result = run_validation(store, collection, limit=limit or None, workers=workers, scheduler=scheduler,
                                partitions=partitions, silent=silent or json_output or jsonl)
        run.counts = {"documents": result.documents, "records": result.records,
                      "violations": result.violation_count}
        if result.violations:
            run.add_report({"first_violations": [v.as_dict() for v in result.violations[:100]]})
    if json_output:
        print_json(result.as_dict())
    elif jsonl:
        for line in iter_violation_lines(result):
            sys.stdout.write(json.dumps(to_jsonable(line), ensure_ascii=False) + "\n")
    else:
        if result.violations:
            table = Table("key", "batch", "type", "hash", "error")
            for v in result.violations:
                table.add_row(v.key or "", v.batch or "", v.type or "", v.hash or "", v.error)
            console.print(table)
        console.print(f"{collection}: {result.documents:,} documents, {result.records:,} records, "
                      f"{result.violation_count:,} violation(s)"
                      + (f" ({len(result.violations or [])} shown)" if result.violation_count > len(result.violations or []) else "")
                      + ".")
    if result.violation_count:
        raise ViolationsFound(f"{result.violation_count} violation(s) in {collection}",
                              "fix or delete these entries before compacting (see sf rawdata show KEY)")


@rawdata_app.command("show")
def show(ctx: typer.Context,
         key: str = typer.Argument(..., help="SIRET or SIREN."),
         at_batch: Optional[str] = typer.Option(None, "--at-batch", help="State after this batch [default: after the last one]."),
         type_: list[str] = typer.Option([], "--type", metavar="TYPE", help="Only these types' records; repeat."),
         rows: int = typer.Option(20, "--rows", min=0, help="Records shown per type (0 = all)."),
         json_output: bool = json_option("Print history and state (with records) as JSON.")) -> None:
    """Show one entity: what each batch added and deleted, and its rebuilt state per type.

    Example:

        sf rawdata show 01234567891011 --at-batch 2402 --type effectif
    """
    from sf.compaction.entity_view import describe_entity, record_rows
    from sf.engine.batches import check_batch_key
    from sf.engine.collections import IMPORTED_DATA, RAW_DATA

    if at_batch is not None:
        try:
            check_batch_key(at_batch)
        except ValueError as exc:
            raise UsageError(f"--at-batch: {exc}") from None
    with store_of(ctx) as store:
        doc = store.db[RAW_DATA].find_one({"_id": key})
        staged = sorted(str(d["_id"]).split(":", 1)[0] for d in store.db[IMPORTED_DATA].find({"value.key": key}, {"_id": 1}))
    if doc is None:
        hint = (f"it has data waiting in ImportedData for batch(es) {', '.join(staged)}: run sf compact" if staged
                else "check the key (a SIRET has 14 digits, a SIREN 9)")
        raise UsageError(f"no RawData document for {key}", hint)
    view = describe_entity(doc, at_batch)
    if type_:
        view.state = {t: r for t, r in view.state.items() if t in type_}
    if json_output:
        print_json({**view.as_dict(), "staged_batches": staged})
        return
    _print_view(view, staged, rows, record_rows)


def _print_view(view: Any, staged: list[str], rows: int, record_rows: Any) -> None:
    check = {True: "matches the entries", False: "DIFFERS from the entries (run sf validate)", None: "not checked"}
    console.print(f"[bold]{view.key}[/bold] {view.scope}  algo2={view.algo2}  last entry={view.state_batch}  "
                  f"stored state {check[view.stored_state_ok]}"
                  + (f"  waiting in ImportedData: {', '.join(staged)}" if staged else ""))
    history = Table("batch", "added", "deleted", "reporder", title="History")
    for line in view.history:
        history.add_row(line.batch, ", ".join(f"{t} +{n}" for t, n in sorted(line.added.items())),
                        ", ".join(f"{t} -{n}" for t, n in sorted(line.deleted.items())), str(line.reporder or ""))
    console.print(history)
    label = f"after batch {view.at_batch}" if view.at_batch else "after the last batch"
    console.print(f"State {label}: " + (", ".join(f"{t} {n}" for t, n in view.counts.items()) or "empty"))
    for type_name, records in sorted(view.state.items()):
        columns, table_rows = record_rows(records)
        shown = table_rows if rows == 0 else table_rows[:rows]
        table = Table(*columns, title=f"{type_name} ({len(records)} live)")
        for row in shown:
            table.add_row(*(str(c) for c in row))
        console.print(table)
        if len(shown) < len(table_rows):
            console.print(f"… {len(table_rows) - len(shown)} more {type_name} records (--rows 0 shows all)")
