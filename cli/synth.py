"""`sf synth`: write synthetic monthly deliveries (and the ground truth) for demos and benchmarks."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sf.engine.errors import UsageError

from .common import console, err_console, json_option, print_json, silent_option


def synth(out: Path = typer.Option(..., "--out", "-o", help="Folder to write OUT/<YYMM>/… into."),
          establishments: int = typer.Option(2_000, "--establishments", "-n", min=1, help="Number of establishments."),
          months: int = typer.Option(24, "--months", "-m", min=1, help="Number of monthly batches."),
          seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same files."),
          end_batch: str = typer.Option("2312", "--end-batch", help="Key of the last monthly batch (YYMM)."),
          broken_rate: float = typer.Option(1 / 2000, "--broken-rate", min=0.0, max=0.5,
                                            help="Share of deliberately broken lines per file (0 to disable)."),
          history_months: int = typer.Option(24, "--history-months", min=0,
                                             help="Months of history the first batch carries for flux files."),
          json_output: bool = json_option("Print the summary as JSON."),
          silent: bool = silent_option()) -> None:
    """Generate realistic delivery folders, one per monthly batch, plus truth.parquet.

    Companies have several establishments; some drift into difficulty (debts, falling
    headcount, short-time work, delays) and some end in insolvency proceedings. Broken lines
    are written at --broken-rate so imports show rejections. See the README's generator notes.

    Example:

        sf synth --establishments 2000 --months 24 --seed 1 --out ./deliveries
    """
    from sf.synth.deliveries import generate

    try:
        from sf.engine.batches import check_batch_key
        check_batch_key(end_batch)
    except ValueError as exc:
        raise UsageError(f"--end-batch: {exc}") from None
    with Progress(TextColumn("[bold]synth"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, disable=silent or json_output) as progress:
        task = progress.add_task("synth", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            summary = generate(out, establishments=establishments, months=months, seed=seed, end_batch=end_batch,
                               broken_rate=broken_rate, progress=advance, history_months=history_months)
        except FileExistsError:
            raise UsageError(f"--out {out}: the folder exists and is not empty", "choose a new folder") from None
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if json_output:
        print_json(summary.to_dict())
        return
    console.print(f"Wrote {summary.months} monthly deliveries ({', '.join([summary.batches[0], '…', summary.batches[-1]])}) "
                  f"under {out}: {summary.companies:,} companies, {summary.establishments:,} establishments, "
                  f"{summary.failures:,} insolvency openings; truth.parquet has {summary.truth_rows:,} rows "
                  f"({summary.truth_positive_rows:,} with an opening within 18 months).")
