"""What every command shares: the settings in the Typer context, opening the store, output."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, Literal

import typer
from bson import ObjectId
from pymongo.errors import PyMongoError
from rich.console import Console

from sf.engine.batches import FILE_TYPES, check_batch_key
from sf.engine.connection import Store, open_store
from sf.engine.errors import UsageError, store_failure
from sf.engine.settings import Settings, load_settings

console = Console()
err_console = Console(stderr=True)


# --- options several commands share (one definition each) -----------------------------------
# Enumerated options are annotated with the library's ``Literal`` type (StockAbsent, Mode, …):
# Typer (>= 0.19) then shows and checks the choices (exit 2 naming the option), values stay
# strings. Typer does not take ``list[Literal[...]]``: a repeatable enumerated option uses a
# str Enum (:data:`FileTypeChoice`), whose members are strings too.

#: The delivery file types (``sf.engine.batches.FILE_TYPES``) as choices of a repeatable option.
FileTypeChoice = enum.Enum("FileTypeChoice", {name: name for name in FILE_TYPES}, type=str)
#: The collections ``sf validate`` checks.
ValidatedCollection = Literal["ImportedData", "RawData"]

def json_option(help_text: str = "Print the result as JSON.") -> Any:
    """``--json``: print the command's result as JSON on standard output instead of text."""
    return typer.Option(False, "--json", help=help_text)


def silent_option() -> Any:
    """``--silent``: no progress bar or spinner (for logs and scripts)."""
    return typer.Option(False, "--silent", help="No progress display.")


def break_lock_option() -> Any:
    """``--break-lock``: take over the run lock left by a run that died."""
    return typer.Option(False, "--break-lock", help="Break a lock left by a dead run.")


def workers_option(help_text: str = "Local Dask worker processes [default: SF_WORKERS or one per core].") -> Any:
    """``--workers N``: size of the local Dask cluster (None: ``SF_WORKERS``, else one per core)."""
    return typer.Option(None, "--workers", min=1, help=help_text)


def scheduler_option() -> Any:
    """``--scheduler ADDRESS`` (or ``SF_DASK_SCHEDULER``): run on an existing Dask scheduler."""
    return typer.Option(None, "--scheduler", envvar="SF_DASK_SCHEDULER", help="Address of an existing Dask scheduler.")


def partitions_option() -> Any:
    """``--partitions N``: how many key ranges a Dask job splits the data into."""
    return typer.Option(None, "--partitions", min=1, help="Number of key ranges [default: 4 per worker].")


def dry_run_option(help_text: str = "Compute and report, write nothing.") -> Any:
    """``--dry-run``: do the work and report it, write nothing."""
    return typer.Option(False, "--dry-run", help=help_text)


def check_key(option: str, key: str) -> None:
    """UsageError (exit 2) naming ``option`` when ``key`` is not a batch key ``YYMM[_suffix]``."""
    try:
        check_batch_key(key)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def settings_of(ctx: typer.Context) -> Settings:
    """Settings set up by the root callback (environment overridden by global options)."""
    root = ctx.find_root()
    if isinstance(root.obj, Settings):
        return root.obj
    return load_settings()


@contextmanager
def store_of(ctx: typer.Context) -> Iterator[Store]:
    """Open the store for a command (starting the embedded server if needed).

    Says on stderr which runs of dead processes were closed on opening. A store lost during
    the command, or its disk full, becomes one :class:`StoreFailed` line (exit code 4).
    """
    settings = settings_of(ctx)
    with open_store(settings) as store:
        for run in store.recovered:
            err_console.print(f"Note: run {run['_id']} (`sf {run.get('command')}`, pid {run.get('pid')}, started "
                              f"{run.get('started_at'):%Y-%m-%d %H:%M:%S}) was left unfinished; its process is gone, "
                              f"so it is marked failed and any lock it held is released.", markup=False, highlight=False,
                              soft_wrap=True)
        try:
            yield store
        except PyMongoError as exc:
            where = str(settings.embedded_data_dir) if settings.embedded else store.display_uri
            failure = store_failure(exc, where)
            if failure is None:
                raise
            raise failure from None


def to_jsonable(value: Any) -> Any:
    """Dates as ISO strings, ObjectIds as strings, recursively; for ``--json`` output."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, ObjectId):
        return str(value)
    return value


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on standard output (no colours, for scripts)."""
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")


def day(value: datetime | None) -> str:
    """``2024-01-01`` for a date, empty for None (table cells)."""
    return value.date().isoformat() if value else ""
