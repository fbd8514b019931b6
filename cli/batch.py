"""`sf batch`: declare, list, show and remove the monthly batches (collection Admin)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from sf.engine.batches import FILE_TYPES, Batch, StockAbsent, get_batch, list_batches, remove_batch
from sf.engine.errors import UsageError
from sf.engine.journal import journal_run
from sf.engine.operations import declare_batch

from .common import FileTypeChoice, break_lock_option, console, day, err_console, json_option, print_json, store_of

app = typer.Typer(help="Declare and inspect batches (monthly deliveries).\n\nExample:\n\n    sf batch add 2401 --from-dir ./deliveries/2401\n\n    sf batch list", no_args_is_help=True,
                  rich_markup_mode=None)

_DATE = ["%Y-%m-%d"]


def scan_folder(folder: Path):
    """Scan a delivery folder (see :func:`sf.importers.delivery.scan_delivery`); exit 2 if
    absent or if no file of it is a delivery file."""
    from sf.importers.delivery import scan_delivery
    from sf.importers.reading import FatalFileError

    if not folder.is_dir():
        raise UsageError(f"--from-dir {folder}: not a folder")
    try:
        scan = scan_delivery(folder, path_prefix=f"{folder.resolve()}/")
    except FatalFileError as exc:
        raise UsageError(f"--from-dir {folder}: {exc}") from None
    if not scan.files:
        # Typically the parent of the monthly folders: a batch without files would be saved.
        months = sorted(p.name for p in folder.iterdir() if p.is_dir())
        raise UsageError(f"--from-dir {folder}: no delivery file recognised"
                         + (f" ({len(scan.unrecognised)} other file(s))" if scan.unrecognised else ""),
                         f"give the folder of one month, e.g. {folder / months[0]}" if months
                         else "see README, 'Importing a delivery', for the file names")
    return scan


def parse_file_options(values: list[str]) -> dict[str, list[str]]:
    """``["effectif=/a.csv", "debit=/b.csv"]`` → ``{"effectif": ["/a.csv"], ...}``; exit 2 if malformed."""
    files: dict[str, list[str]] = {}
    for value in values:
        file_type, sep, path = value.partition("=")
        if not sep or not file_type or not path:
            raise UsageError(f"--file {value!r}: expected TYPE=PATH, e.g. effectif=./Sigfaible_effectif_siret.csv")
        if file_type not in FILE_TYPES:
            raise UsageError(f"--file {value!r}: unknown file type {file_type!r}; known types: {', '.join(FILE_TYPES)}")
        files.setdefault(file_type, []).append(path)
    return files


@app.command("add")
def add(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Batch key YYMM[_suffix], e.g. 2401 or 2401_1."),
    file: list[str] = typer.Option([], "--file", "-f", metavar="TYPE=PATH", help="A delivery file and its type; repeat."),
    from_dir: Optional[Path] = typer.Option(None, "--from-dir", help="Detect files and stock types from a delivery folder's file names."),
    complete: list[FileTypeChoice] = typer.Option([], "--complete", metavar="TYPE",
                                                  help="A type delivered as a full stock in this batch; repeat."),
    date_debut: Optional[datetime] = typer.Option(None, formats=_DATE, help="Start of the period series [default: the previous batch's, else the first month with a headcount in the delivery, else 2014-01-01]."),
    date_fin: Optional[datetime] = typer.Option(None, formats=_DATE, help="End (excluded) [default: first day of the batch month]."),
    date_fin_effectif: Optional[datetime] = typer.Option(None, formats=_DATE, help="Last month with headcount data [default: read from the delivery's headcount file, else the previous batch's]."),
    name: Optional[str] = typer.Option(None, help="A readable name, e.g. 'Janvier 2024'."),
    stock_absent: StockAbsent = typer.Option("keep", help="Entities absent from a stock file: keep their records (keep) or delete them (delete)."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite an existing definition of KEY."),
    json_output: bool = json_option("Print the stored definition as JSON."),
) -> None:
    """Declare a batch: its files per type, stock types and period.

    With --from-dir, each file's type is recognised from its name as the original
    prepare-import did (Sigfaible_cotisdues.csv → cotisation, …); unrecognised files are listed.

    Dates: date_debut is the previous batch's (a monthly delivery does not restate the
    history), or for the first batch the first month holding a headcount in the delivery's
    effectif file (its eff… columns); date_fin_effectif is the last such month. Each date's
    source is printed; explicit --date-debut / --date-fin-effectif win.

    Example:

        sf batch add 2401 --file effectif=./2401/Sigfaible_effectif_siret.csv \\
            --file debit=./2401/Sigfaible_debits.csv --complete effectif --date-fin-effectif 2023-10-01

        sf batch add 2401 --from-dir ./deliveries/2401
    """
    files = parse_file_options(file)
    complete = [file_type.value for file_type in complete]
    if from_dir is not None:
        scan = scan_folder(from_dir)
        for file_type, paths in scan.files.items():
            files.setdefault(file_type, []).extend(paths)
        complete.extend(scan.complete_types)
        for note in scan.notes:
            err_console.print(f"note: {note}")
        for path in scan.unrecognised:
            err_console.print(f"unrecognised file (not added): {path}")
    from sf.importers.delivery_dates import define_batch

    with store_of(ctx) as store:
        batch, dates = define_batch(
            store.db, key, files=files, complete_types=complete,
            date_debut=date_debut.date() if date_debut else None, date_fin=date_fin.date() if date_fin else None,
            date_fin_effectif=date_fin_effectif.date() if date_fin_effectif else None,
            name=name, stock_absent=stock_absent,
        )
        files_saved = declare_batch(store.db, batch, replace=replace, args={
            "key": key, "files": file, "from_dir": from_dir, "complete": complete, "replace": replace,
            "dates": dates.notes + dates.warnings})
    for note in dates.notes:
        err_console.print(note, markup=False, highlight=False, soft_wrap=True)
    for warning in dates.warnings:
        err_console.print(f"Warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    if json_output:
        print_json(batch.to_document())
    else:
        console.print(f"Batch {batch.key} saved: {files_saved} file(s), "
                      f"period {day(batch.param.date_debut)} → {day(batch.param.date_fin)}.")


@app.command("list")
def list_(ctx: typer.Context,
          json_output: bool = json_option("Print the batches as JSON.")) -> None:
    """List batches in processing order (string order of keys).

    Example:

        sf batch list --json
    """
    with store_of(ctx) as store:
        batches = list_batches(store.db)
    if json_output:
        print_json([b.to_document() for b in batches])
        return
    table = Table("key", "name", "files", "complete types", "date_debut", "date_fin", "date_fin_effectif")
    for b in batches:
        table.add_row(b.key, b.name or "", _files_summary(b), ", ".join(b.complete_types),
                      day(b.param.date_debut), day(b.param.date_fin), day(b.param.date_fin_effectif))
    console.print(table if batches else "No batch defined yet: add one with `sf batch add`.")


def _files_summary(batch: Batch) -> str:
    return ", ".join(f"{t}×{len(p)}" if len(p) > 1 else t for t, p in sorted(batch.files.items()))


@app.command("show")
def show(ctx: typer.Context, key: str = typer.Argument(..., help="Batch key."),
         json_output: bool = json_option("Print as JSON.")) -> None:
    """Show one batch definition with every file.

    Example:

        sf batch show 2401
    """
    with store_of(ctx) as store:
        batch = get_batch(store.db, key)
    if json_output:
        print_json(batch.to_document())
        return
    console.print(f"[bold]Batch {batch.key}[/bold] {batch.name or ''}")
    console.print(f"period: {day(batch.param.date_debut)} → {day(batch.param.date_fin)}"
                  f"  date_fin_effectif: {day(batch.param.date_fin_effectif) or '-'}"
                  f"  stock_absent: {batch.stock_absent}")
    table = Table("type", "complete", "path")
    for file_type, paths in sorted(batch.files.items()):
        for path in paths:
            table.add_row(file_type, "yes" if file_type in batch.complete_types else "", path)
    console.print(table)


@app.command("remove")
def remove(ctx: typer.Context, key: str = typer.Argument(..., help="Batch key."),
           force: bool = typer.Option(False, "--force", help="Remove even if data of the batch is compacted."),
           break_lock: bool = break_lock_option()) -> None:
    """Remove a batch definition (refused if its data is already compacted, unless --force).

    Example:

        sf batch remove 2401
    """
    with store_of(ctx) as store, journal_run(store.db, "batch remove", {"key": key, "force": force}, batch=key,
                                             destructive=True, break_lock=break_lock):
        remove_batch(store.db, key, force=force)
    console.print(f"Batch {key} removed.")
