"""Running one task per key range on Dask: a local cluster by default, or an existing one.

``run_partitions`` submits ``task(*args, key_range)`` for every range, shows a progress bar
fed by task completion, calls ``on_done`` in the driver for each finished range (the place
to checkpoint it in the Journal), and returns the results and the failures. A failed range
never stops the others: the caller decides what a failure means for the run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .errors import SfError
from .partitions import KeyRange, key_ranges
from .settings import Settings

_CLIENTS: dict[str, Any] = {}


def worker_database(uri: str, db_name: str) -> Any:
    """The database ``db_name`` through one MongoClient per worker process and URI, reused by
    every task that runs in that process (opening a client per task would cost a handshake
    and a connection pool each time)."""
    from pymongo import MongoClient

    client = _CLIENTS.get(uri)
    if client is None:
        client = _CLIENTS[uri] = MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=10_000)
    return client[db_name]


def sum_stats(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Add up the per-range stats dicts of a run.

    Numbers are added; a dict of numbers (e.g. records added per type) is added key by key;
    other values inside a dict (e.g. error messages per company) are merged.
    """
    total: dict[str, Any] = {}
    for stats in results.values():
        for name, value in stats.items():
            if isinstance(value, dict):
                bucket = total.setdefault(name, {})
                for sub, item in value.items():
                    is_number = isinstance(item, (int, float)) and not isinstance(item, bool)
                    bucket[sub] = bucket.get(sub, 0) + item if is_number else item
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                total[name] = total.get(name, 0) + value
    return {name: round(value, 4) if isinstance(value, float) else value for name, value in total.items()}


class ClusterUnreachable(SfError):
    """The Dask scheduler given by --scheduler / SF_DASK_SCHEDULER does not answer."""

    exit_code = 4


@contextmanager
def dask_client(settings: Settings, workers: int | None = None, scheduler: str | None = None,
                connect_timeout_s: float | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: on ``scheduler`` (or ``SF_DASK_SCHEDULER``) if given, else on a
    ``LocalCluster`` of ``workers`` single-threaded processes (default: one per core).

    Raises :class:`ClusterUnreachable` when a given scheduler does not answer in
    ``connect_timeout_s`` seconds (default ``settings.dask_connect_timeout_s``,
    ``SF_DASK_CONNECT_TIMEOUT_S``).
    """
    from distributed import Client, LocalCluster

    address = scheduler or settings.dask_scheduler
    if address:
        try:
            timeout = connect_timeout_s if connect_timeout_s is not None else settings.dask_connect_timeout_s
            client = Client(address, timeout=f"{timeout}s")
        except (OSError, TimeoutError) as exc:
            raise ClusterUnreachable(f"cannot reach the Dask scheduler at {address}: {exc}",
                                     "check --scheduler / SF_DASK_SCHEDULER, or unset it for a local cluster") from None
        try:
            yield client
        finally:
            client.close()
        return
    n_workers = workers or settings.workers or os.cpu_count() or 1
    # One thread per process: the tasks are pure Python (GIL-bound) and each holds its own
    # MongoClient; processes give real parallelism.
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.run(quiet_task_failures)
        yield client


class _NoComputeFailed(logging.Filter):
    """Drops the worker's "Compute Failed … Traceback" record of a failed task."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Compute Failed")


def quiet_task_failures() -> None:
    """Run on each local worker: a failed task is reported once, by the command's own error
    (which names the range and the first error), not also as a worker traceback on the
    terminal. Idempotent."""
    worker_logger = logging.getLogger("distributed.worker")
    if not any(isinstance(f, _NoComputeFailed) for f in worker_logger.filters):
        worker_logger.addFilter(_NoComputeFailed())


@dataclass
class PartitionOutcome:
    """What ``run_partitions`` returns: results of finished ranges, errors of failed ones."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    ranges: int = 0

    def failure_message(self) -> str | None:
        """``"2 of 8 range(s) failed, first <range>: <error>"``, or None when all succeeded."""
        if not self.errors:
            return None
        first_range, first_error = next(iter(sorted(self.errors.items())))
        return f"{len(self.errors)} of {self.ranges} range(s) failed, first {first_range}: {first_error}"


def run_partitions(client: Any, task: Callable[..., Any], ranges: Sequence[KeyRange], *args: Any,
                   label: str = "partitions", on_done: Callable[[KeyRange, Any], None] | None = None,
                   silent: bool = False) -> PartitionOutcome:
    """Run ``task(*args, key_range)`` on the cluster for every range (see module docstring)."""
    from distributed import as_completed

    outcome = PartitionOutcome(ranges=len(ranges))
    futures = {client.submit(task, *args, key_range, key=f"{label}-{key_range.name}", pure=False): key_range
               for key_range in ranges}
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=Console(stderr=True), disable=silent, transient=False)
    with progress:
        bar = progress.add_task(label, total=len(futures))
        for future in as_completed(futures):
            key_range = futures[future]
            if future.status == "error":
                exc = future.exception()
                outcome.errors[key_range.name] = f"{type(exc).__name__}: {exc}"
            else:
                result = future.result()
                outcome.results[key_range.name] = result
                if on_done is not None:
                    on_done(key_range, result)
            progress.advance(bar)
    return outcome


def run_over_ranges(store: Any, task: Callable[..., Any], *args: Any, sources: Sequence[tuple[Any, str]],
                    partitions: int | None = None, workers: int | None = None, scheduler: str | None = None,
                    label: str, on_done: Callable[[KeyRange, Any], None] | None = None,
                    silent: bool = False) -> PartitionOutcome:
    """The usual job: a Dask client for ``store.settings``, SIREN-aligned ranges over the keys of
    ``sources`` (``[(collection, key_field)]``; at least 4 per worker unless ``partitions``),
    and ``task(*args, key_range)`` run on each with :func:`run_partitions`."""
    with dask_client(store.settings, workers=workers, scheduler=scheduler) as client:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        ranges = key_ranges(sources, partitions or n_workers * 4)
        return run_partitions(client, task, ranges, *args, label=label, on_done=on_done, silent=silent)


@dataclass
class JobTotals:
    """What :func:`run_job` returns: how many ranges ran and their summed stats."""

    partitions: int
    totals: dict[str, Any]


def run_job(store: Any, run: Any, task: Callable[..., Any], *args: Any, sources: Sequence[tuple[Any, str]],
            label: str, failure: type[SfError], hint: str, checkpoint: bool = True,
            partitions: int | None = None, workers: int | None = None, scheduler: str | None = None,
            silent: bool = False) -> JobTotals:
    """The skeleton of every Dask job: ``task(*args, key_range)`` over the ranges of ``sources``
    (:func:`run_over_ranges`), each finished range checkpointed in the Journal ``run`` (unless
    ``checkpoint`` is false, e.g. a dry run), the per-range stats summed (:func:`sum_stats`).

    ``task`` returns a stats dict. Raises ``failure(message, hint)`` naming the failed ranges
    and the first error when any range failed; the finished ranges stay checkpointed.
    """

    def on_done(key_range: KeyRange, stats: dict[str, Any]) -> None:
        if checkpoint:
            run.checkpoint(key_range.name, stats)

    outcome = run_over_ranges(store, task, *args, sources=sources, partitions=partitions, workers=workers,
                              scheduler=scheduler, label=label, on_done=on_done, silent=silent)
    if outcome.errors:
        raise failure(outcome.failure_message(), hint)
    return JobTotals(partitions=outcome.ranges, totals=sum_stats(outcome.results))
