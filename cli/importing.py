"""`sf check` and `sf import`: parse a batch's files, report per file, and store the records."""

from __future__ import annotations

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from sf.importers.driver import BatchRunResult, report_document
from sf.importers.tracker import FileReport

from .common import break_lock_option, console, err_console, json_option, print_json, silent_option, store_of


def _parser_list(values: list[str]) -> list[str] | None:
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return names or None


def _print_reports(result: BatchRunResult, title: str) -> None:
    table = Table("type", "file", "read", "valid", "rejected", "filtered", "first error", title=title)
    for r in result.reports:
        first = r.fatal_error and f"FATAL: {r.fatal_error}" or (r.first_errors[0] if r.first_errors else "")
        table.add_row(r.file_type, r.display_path.rsplit("/", 1)[-1], f"{r.lines_read:,}", f"{r.lines_valid:,}",
                      f"{r.lines_rejected:,}", f"{r.lines_filtered:,}", first[:90])
    console.print(table)


def empty_file_notes(result: BatchRunResult) -> list[str]:
    """One note per file read to its end without a single data line (empty or header only):
    not an error (a month can have nothing to deliver), but worth a look."""
    return [f"{r.display_path} ({r.file_type}) holds no data line (empty or header only)"
            for r in result.reports if r.lines_read == 0 and not r.fatal_error]


def _run(ctx: typer.Context, batch_key: str, parsers: list[str], no_filter: bool, json_output: bool, silent: bool,
         write: bool, break_lock: bool = False) -> BatchRunResult:
    from sf.importers.operations import import_batch, unreadable_files

    command = "import" if write else "check"
    with store_of(ctx) as store, \
            Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                     console=err_console, disable=silent or json_output, transient=True) as progress:
        task = progress.add_task("starting")

        def show(report: FileReport) -> None:
            progress.update(task, description=f"{report.file_type} {report.display_path.rsplit('/', 1)[-1]}: "
                                              f"{report.lines_read:,} lines")

        result = import_batch(store.db, batch_key, parsers=_parser_list(parsers), no_filter=no_filter, write=write,
                              break_lock=break_lock, on_progress=show)
    notes = empty_file_notes(result)
    if json_output:
        print_json({"batch": batch_key, "totals": result.totals(),
                    "files": [report_document(r) for r in result.reports], "notes": notes})
    else:
        _print_reports(result, f"{command} {batch_key}")
        t = result.totals()
        written = (f", {t['records_written']:,} records into {t['documents_touched']:,} ImportedData documents, "
                   f"{t['lines_quarantined']:,} lines quarantined") if write else ""
        console.print(f"{t['files']} file(s): {t['lines_read']:,} lines read, {t['lines_valid']:,} valid, "
                      f"{t['lines_rejected']:,} rejected, {t['lines_filtered']:,} filtered{written}.")
    for note in notes:
        err_console.print(f"Note: {note}", markup=False, highlight=False, soft_wrap=True)
    failure = unreadable_files(result)
    if failure is not None:
        raise failure
    return result


def check(ctx: typer.Context,
          batch: str = typer.Option(..., "--batch", "-b", help="Batch key."),
          parsers: list[str] = typer.Option([], "--parsers", "-p", help="Only these types (repeat or comma-separate)."),
          no_filter: bool = typer.Option(False, "--no-filter", help="Allow a batch without a filter file."),
          json_output: bool = json_option("Print the reports as JSON."),
          silent: bool = silent_option()) -> None:
    """Parse and validate every file of a batch without storing records; print a report per file.

    Counts per file: lines read = valid + rejected + filtered. Exit code 3 if a file cannot be read.

    Example:

        sf check --batch 2401 --parsers cotisation,debit
    """
    _run(ctx, batch, parsers, no_filter, json_output, silent, write=False)


def import_(ctx: typer.Context,
            batch: str = typer.Option(..., "--batch", "-b", help="Batch key."),
            parsers: list[str] = typer.Option([], "--parsers", "-p", help="Only these types (repeat or comma-separate)."),
            no_filter: bool = typer.Option(False, "--no-filter", help="Allow a batch without a filter file."),
            json_output: bool = json_option("Print the reports as JSON."),
            silent: bool = silent_option(),
            break_lock: bool = break_lock_option()) -> None:
    """Parse a batch's files and upsert their records into ImportedData (rejected lines into Quarantine).

    Re-running (after a crash, or on the same files) converges to the same ImportedData.
    Exit code 3 if a file cannot be read; the other files are still imported.

    Example:

        sf import --batch 2401
    """
    _run(ctx, batch, parsers, no_filter, json_output, silent, write=True, break_lock=break_lock)
