"""`sf demo`: the whole chain on synthetic data, for real, in a few minutes.

synth → batch add --from-dir (each month) → import (each batch) → compact → features →
train → score → alerts, through the same library functions the commands call, each step
journaled as its command is, on a database of its own (``sf_demo`` by default, emptied
first) so the user's data is never touched. Models go to ``WORKDIR/models``.

Why the defaults (1,000 establishments, 6 monthly batches, 48 months of history in the first
delivery): the trainer's forward-in-time protocol with its default options needs at least 18
labelled months (6 train + 6 validation + 6 test, validation and test on companies held out
of training) and a month is labelled only when its 18-month horizon is observed, so the
Features must span at least 36 months; 54 give the model three years of training months.
Importing 54 monthly deliveries would take most of the time budget on the embedded server;
`sf synth` delivers an initial stock of history with the first batch (as a first real
delivery does), so 6 monthly batches after 48 months of history give the 54 months, and the
training options are the production ones (no shortened horizon or windows). On 2 idle cores
the default run takes about 80 s.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import typer
from sf.engine.errors import UsageError
from sf.features.target import HORIZON

from .common import console, err_console, json_option, print_json, settings_of, workers_option

DEMO_DB = "sf_demo"
#: Labelled months the default training protocol needs: TrainingOptions' minimum training,
#: validation and test windows (6 + 6 + 6; sf.model.training is not imported here: it is heavy).
LABELLED_MONTHS_NEEDED = 18
#: Months of Features the default training protocol needs: the labelled ones + the horizon.
MONTHS_NEEDED = LABELLED_MONTHS_NEEDED + HORIZON


def _step(summary: list[dict[str, Any]], name: str, started: float, **counts: Any) -> None:
    seconds = round(time.monotonic() - started, 1)
    summary.append({"step": name, "seconds": seconds, **counts})
    details = ", ".join(f"{k.replace('_', ' ')} {v:,}" if isinstance(v, int) else f"{k.replace('_', ' ')} {v}"
                        for k, v in counts.items())
    err_console.print(f"[bold]{name}[/bold] ({seconds:.1f} s): {details}")


def _prepare_workdir(workdir: Path) -> Path:
    """``WORKDIR/deliveries`` ready for sf synth: a previous demo's output is removed, anything
    else in the way is refused (UsageError)."""
    deliveries = workdir / "deliveries"
    if deliveries.exists():
        if not (deliveries / "summary.json").is_file():
            raise UsageError(f"--workdir {workdir}: {deliveries} exists and was not written by sf demo",
                             "choose another --workdir")
        shutil.rmtree(deliveries)
    models = workdir / "models"
    if models.exists():
        shutil.rmtree(models)
    workdir.mkdir(parents=True, exist_ok=True)
    return deliveries


def demo(ctx: typer.Context,
         establishments: int = typer.Option(1_000, "--establishments", "-n", min=50, help="Synthetic establishments."),
         months: int = typer.Option(6, "--months", "-m", min=1, help="Monthly batches to import."),
         history: int = typer.Option(48, "--history", min=0,
                                     help="Months of history delivered with the first batch."),
         seed: int = typer.Option(1, "--seed", help="Random seed of sf synth."),
         workdir: Path | None = typer.Option(None, "--workdir", help="Folder for deliveries and models "
                                                                          "[default: SF_HOME/demo]."),
         db_name: str = typer.Option(DEMO_DB, "--demo-db", help="Database the demo fills (emptied first)."),
         workers: int | None = workers_option("Dask worker processes."),
         json_output: bool = json_option("Print the step summary as JSON.")) -> None:
    """Run the whole chain on synthetic data: synth, batch add, import, compact, features, train, score, alerts.

    Everything is real: the same functions as the commands, on the configured server (the
    embedded one by default), in a database of its own (default sf_demo, emptied first).
    The Features must span at least 36 months for the default training protocol (18 labelled
    months + 18 months of horizon): --months + --history must reach 36. Each step prints its
    counts; the end shows the top 10 alerts.

    Example:

        sf demo

        sf demo --establishments 5000 --months 12 --history 42 --workdir ./demo
    """
    if months + history < MONTHS_NEEDED:
        raise UsageError(f"--months {months} + --history {history} gives {months + history} months of "
                         f"Features; training needs {MONTHS_NEEDED} ({LABELLED_MONTHS_NEEDED} labelled + {HORIZON} of horizon)",
                         f"raise --history to {MONTHS_NEEDED - months}")
    settings = settings_of(ctx).with_overrides(db_name=db_name)
    workdir = workdir if workdir is not None else settings.home / "demo"
    summary = run_demo(settings, workdir=workdir, establishments=establishments, months=months, history=history,
                       seed=seed, workers=workers)
    if json_output:
        print_json({k: v for k, v in summary.items() if k != "alerts_frame"})
        return
    from .alerts import print_alerts

    print_alerts(summary["alerts_frame"], "table", summary["last_batch"])
    console.print(f"Demo finished in {summary['seconds']:.0f} s. Explore it with: "
                  f"sf --db {db_name} alerts --batch {summary['last_batch']}   "
                  f"(model in {summary['model_dir']})")


def run_demo(settings: Any, *, workdir: Path, establishments: int, months: int, history: int, seed: int,
             workers: int | None) -> dict[str, Any]:
    """Run every step (see the module docstring); returns the step summaries, the alert list
    (``alerts_frame``), the last batch and the model folder."""
    from sf.compaction.operations import compact
    from sf.engine.collections import ensure_collections
    from sf.engine.connection import open_store
    from sf.engine.operations import declare_batch
    from sf.features.operations import compute_features
    from sf.importers.operations import import_batch, unreadable_files
    from sf.model.alerts import alert_list
    from sf.importers.delivery_dates import define_batch
    from sf.model.operations import score_establishments, train_model
    from sf.synth.deliveries import generate

    from .batch import scan_folder

    t_start = time.monotonic()
    steps: list[dict[str, Any]] = []
    deliveries = _prepare_workdir(workdir)

    t = time.monotonic()
    synth = generate(deliveries, establishments=establishments, months=months, seed=seed,
                     history_months=history)
    _step(steps, "sf synth", t, establishments=synth.establishments, companies=synth.companies,
          batches=len(synth.batches), failures=synth.failures, truth_rows=synth.truth_rows)
    batches = list(synth.batches)

    with open_store(settings) as store:
        store.client.drop_database(settings.db_name)
        ensure_collections(store.db)

        t = time.monotonic()
        files = 0
        for key in batches:
            scan = scan_folder(deliveries / key)
            # Dates as sf batch add: the first month of history comes from the effectif header.
            batch, _ = define_batch(store.db, key, files=scan.files, complete_types=scan.complete_types)
            files += declare_batch(store.db, batch, args={"key": key, "from_dir": deliveries / key})
        _step(steps, "sf batch add --from-dir", t, batches=len(batches), files=files)

        t = time.monotonic()
        totals = {"lines_read": 0, "lines_valid": 0, "lines_rejected": 0, "lines_filtered": 0}
        for key in batches:
            result = import_batch(store.db, key)
            failure = unreadable_files(result)
            if failure is not None:
                raise failure
            for k in totals:
                totals[k] += result.totals()[k]
        _step(steps, "sf import", t, **totals)

        t = time.monotonic()
        c = compact(store, workers=workers, silent=True).as_dict()
        _step(steps, "sf compact", t, entities_read=c.get("entities_read", 0), created=c.get("created", 0),
              changed=c.get("changed", 0))

        last = batches[-1]
        t = time.monotonic()
        features = compute_features(store, last, workers=workers, silent=True)
        f = features.as_dict()
        _step(steps, "sf features", t, batch=last, months=_months(features.first_period, features.last_period),
              companies=f.get("companies", 0), rows=f.get("rows", 0))

        t = time.monotonic()
        model_dir = workdir / "models" / last
        trained = train_model(store.db, last, out_dir=model_dir)
        d = trained.as_dict()
        _step(steps, "sf train", t, rows=d["rows_in_scope"], variables=d["variables"], chosen=d["chosen"],
              auc_pr_test=_round(d["auc_pr"][d["chosen"]]["test"]),
              auc_pr_test_other=_round(next(v["test"] for k, v in d["auc_pr"].items() if k != d["chosen"])),
              baseline_auc_pr_test=_round(d["baseline_auc_pr"]["test"]),
              positive_rate_test=_round(d["positive_rate"]["test"]))

        t = time.monotonic()
        s = score_establishments(store.db, last, trained.model).as_dict()
        _step(steps, "sf score", t, periode=s["periode"][:7], scored=s["scored"], out_of_scope=s["out_of_scope"],
              high=s["alerts"]["high"], moderate=s["alerts"]["moderate"])

        t = time.monotonic()
        alerts = alert_list(store.db, last, top=10)
        _step(steps, "sf alerts --top 10", t, listed=len(alerts))
    return {"steps": steps, "last_batch": last, "model_dir": str(model_dir), "train": d, "score": s,
            "alerts": alerts.drop(columns=["periode"]).to_dict("records"), "alerts_frame": alerts,
            "seconds": round(time.monotonic() - t_start, 1), "database": settings.db_name}


def _months(first, last) -> int:
    """Months from ``first`` to ``last`` (month starts), both included: a Features run's period."""
    return (last.year - first.year) * 12 + last.month - first.month + 1


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
