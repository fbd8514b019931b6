"""`sf journal`: the runs recorded in the Journal collection."""

from __future__ import annotations

import typer
from rich.table import Table

from sf.engine.journal import list_runs

from .common import console, json_option, print_json, store_of


def journal(ctx: typer.Context,
            last: int = typer.Option(20, "--last", "-n", min=1, help="How many runs to show, newest first."),
            json_output: bool = json_option("Print the run documents as JSON.")) -> None:
    """List the latest runs: command, batch, state, duration, counts and error.

    Example:

        sf journal --last 5
    """
    with store_of(ctx) as store:
        runs = list_runs(store.db, last)
    if json_output:
        print_json(runs)
        return
    table = Table("started", "command", "batch", "state", "seconds", "counts", "error")
    for run in runs:
        counts = ", ".join(f"{k}={v}" for k, v in (run.get("counts") or {}).items() if not isinstance(v, (dict, list)))
        table.add_row(run["started_at"].strftime("%Y-%m-%d %H:%M:%S"), run["command"], run.get("batch") or "",
                      run["state"], f"{run['duration_s']:.1f}" if run.get("duration_s") is not None else "",
                      counts, run.get("error") or "")
    console.print(table if runs else "The Journal is empty.")
