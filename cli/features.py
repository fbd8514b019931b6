"""`sf features`: compute the Features of a batch from RawData, recompute one company, export.

``sf features --until-batch KEY`` (the group's default action) runs the Dask job;
``sf features --until-batch KEY --key SIREN_OR_SIRET`` recomputes one company into
``Features_debug``; ``sf features export`` writes a batch's Features to Parquet.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table
from sf.engine.errors import UsageError
from sf.features.state import Mode

from .common import (
    break_lock_option, console, day, dry_run_option, err_console, json_option, partitions_option, print_json,
    scheduler_option, silent_option, store_of, workers_option,
)

# No help= here: the group's help is the callback's docstring (with its Example block).
app = typer.Typer(rich_markup_mode=None)

#: Columns of the short table printed by --key: (header, Features variable).
DEBUG_COLUMNS = (("siret", "siret"), ("month", "periode"), ("effectif", "effectif"),
                 ("debt pp", "montant_part_patronale"), ("debt po", "montant_part_ouvriere"),
                 ("cotisation", "cotisation"), ("procol", "etat_proc_collective"), ("outcome", "outcome"),
                 ("months to", "time_til_outcome"))


@app.callback(invoke_without_command=True)
def features(ctx: typer.Context,
             until_batch: str | None = typer.Option(None, "--until-batch", "-b",
                                                       help="Batch whose state and periods are used."),
             key: str | None = typer.Option(None, "--key", help="Recompute only this company (SIREN or SIRET) "
                                               "into Features_debug and print its rows."),
             mode: Mode = typer.Option("fixed", "--mode", help="fixed (point in time, default) or parity "
                                       "(the original's output, quirks included)."),
             history_months: int = typer.Option(24, "--history-months", min=0,
                                                help="fixed mode: months read before date_debut for lags."),
             workers: int | None = workers_option(),
             scheduler: str | None = scheduler_option(),
             partitions: int | None = partitions_option(),
             chunk_companies: int = typer.Option(250, "--chunk-companies", min=1,
                                                 help="Companies computed per call (bounds memory per worker)."),
             dry_run: bool = dry_run_option(),
             json_output: bool = json_option("Print the summary as JSON."),
             silent: bool = silent_option(),
             break_lock: bool = break_lock_option()) -> None:
    """Compute the Features of a batch: one document per establishment and month of its period.

    Each company is computed from its rebuilt RawData state (all its establishments together),
    one Dask task per SIREN-aligned key range. Re-running replaces the batch's Features.
    With --key, one company is recomputed in-process into Features_debug for a person
    checking a case.

    Example:

        sf features --until-batch 2401 --workers 2

        sf features --until-batch 2401 --key 123456789

        sf features export --batch 2401 --out features.parquet --min-effectif 10
    """
    if ctx.invoked_subcommand is not None:
        return
    if until_batch is None:
        raise UsageError("missing option --until-batch", "e.g. sf features --until-batch 2401; see sf features --help")
    from sf.features.job import CompaniesSkipped
    from sf.features.operations import compute_company_features, compute_features

    with store_of(ctx) as store:
        if key is not None:
            frame, written = compute_company_features(store.db, until_batch, key, mode=mode,
                                                      history_months=history_months, dry_run=dry_run,
                                                      break_lock=break_lock)
            _print_company(frame, key, written, json_output)
            return
        summary = compute_features(store, until_batch, mode=mode, history_months=history_months, workers=workers,
                                   scheduler=scheduler, partitions=partitions, chunk_companies=chunk_companies,
                                   dry_run=dry_run, silent=silent or json_output, break_lock=break_lock)
    data = summary.as_dict()
    if json_output:
        print_json(data)
    else:
        console.print(
            f"{'Dry run: ' if dry_run else ''}features of batch {until_batch} ({mode}), "
            f"{day(summary.first_period)} → {day(summary.last_period)} ({summary.months} months), "
            f"{summary.partitions} range(s): "
            f"{data.get('companies', 0):,} companies, {data.get('establishments', 0):,} establishments, "
            f"{data.get('rows', 0):,} rows written in {summary.seconds:.1f} s "
            f"(db read {data.get('read_s', 0):.1f} s, state {data.get('state_s', 0):.1f} s, "
            f"compute {data.get('compute_s', 0):.1f} s, convert {data.get('convert_s', 0):.1f} s, "
            f"db write {data.get('write_s', 0):.1f} s; summed over workers).")
    if summary.clipped and not json_output:
        err_console.print(f"note: {summary.clipped}", markup=False, highlight=False, soft_wrap=True)
    if not data.get("rows"):
        err_console.print(f"Warning: no Features row for batch {until_batch}: no RawData entity has data in its "
                          f"period ({day(summary.first_period)} → {day(summary.last_period)}); check the batch's "
                          f"dates (sf batch list) and that its deliveries were imported and compacted.",
                          markup=False, highlight=False, soft_wrap=True)
    if data.get("companies_failed"):
        first = next(iter(data["failed"].items()))
        raise CompaniesSkipped(f"{data['companies_failed']} company(ies) skipped for unusable records, first "
                               f"{first[0]}: {first[1]}", "the Journal run lists them; every other company is written")


def _print_company(frame, key: str, written: int, json_output: bool) -> None:
    if json_output:
        rows = frame.drop(columns=[c for c in frame.columns if c.startswith("_")]).astype(object)
        print_json({"key": key, "documents_written": written,
                    "rows": [{k: v for k, v in r.items() if v is not None and v == v}
                             for r in rows.where(rows.notna(), None).to_dict("records")]})
        return
    siret = key if len(key) == 14 else None
    shown = frame if siret is None else frame[frame["siret"] == siret]
    table = Table()
    for header, _ in DEBUG_COLUMNS:
        table.add_column(header, no_wrap=True, min_width=14 if header == "siret" else None)
    fields = [name for _, name in DEBUG_COLUMNS]
    for record in shown[fields].to_dict("records"):
        table.add_row(*(_cell(record[name], month=name == "periode") for name in fields))
    console.print(table)
    console.print(f"{len(frame):,} row(s) of company {key[:9]} written to Features_debug ({written:,} documents).")


def _cell(value, month: bool = False) -> str:
    """A table cell: empty for absent values, thousands separators, dates as YYYY-MM-DD."""
    if value is None or str(value) in ("<NA>", "NaT", "nan"):
        return ""
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m") if month else value.date().isoformat()
    return str(value)


@app.command("export")
def export(ctx: typer.Context,
           batch: str = typer.Option(..., "--batch", "-b", help="Batch key of the Features to export."),
           out: Path = typer.Option(..., "--out", "-o", help="Parquet file to write."),
           min_effectif: float | None = typer.Option(None, "--min-effectif", min=0,
                                                        help="Keep rows whose establishment headcount is >= N."),
           since: datetime | None = typer.Option(None, "--since", formats=["%Y-%m-%d"],
                                                    help="Keep months from this date on (YYYY-MM-DD)."),
           debug: bool = typer.Option(False, "--debug", help="Export Features_debug instead of Features."),
           json_output: bool = json_option("Print the summary as JSON."),
           silent: bool = silent_option()) -> None:
    """Write a batch's Features to a Parquet file: one row per establishment and month, typed columns.

    Read it back with pandas in one line: pd.read_parquet("features.parquet").

    Example:

        sf features export --batch 2401 --out features.parquet --min-effectif 10 --since 2022-01-01
    """
    from sf.engine.collections import FEATURES, FEATURES_DEBUG
    from sf.features.export import export_features

    with store_of(ctx) as store:
        summary = export_features(store.db, batch, out, min_effectif=min_effectif, since=since,
                                  collection=FEATURES_DEBUG if debug else FEATURES)
    if json_output:
        print_json(summary.as_dict())
    else:
        console.print(f"Wrote {summary.rows:,} row(s) × {summary.columns} column(s) of batch {batch} to {out} "
                      f"in {summary.seconds:.1f} s.")
