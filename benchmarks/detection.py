"""Detection benchmark: synth → import → compact → features → train → score → evaluate.

Runs the whole chain with the same functions as the commands (through ``sf demo``'s
``run_demo``, on its own database), then ``sf evaluate --truth`` on the model's test window,
and prints the model / oracle / naive-baseline figures and the model/oracle ratios, as a
Markdown block for BENCHMARKS.md (``## Detection``) and, with ``--json``, as JSON.

Usage (from the repository root)::

    /work/venv/bin/python benchmarks/detection.py --establishments 20000 --months 36 --history 18 --workers 2

``--months`` monthly batches are imported one by one; ``--history`` months of history come
with the first delivery. ``sf demo`` (whose ``run_demo`` this calls) asks for 54 months of
Features; the default training protocol (company split, no embargo) needs 36 (18 labelled +
18 of horizon). The test window holds the held-out companies only (30 % of SIRENs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from sf.cli.demo import MONTHS_NEEDED, run_demo
from sf.engine.connection import open_store
from sf.engine.settings import load_settings
from sf.model import model_store
from sf.model.runs import evaluate_batch


def _fmt(value: Any) -> str:
    return "–" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def markdown(result: dict[str, Any]) -> str:
    """The BENCHMARKS.md block of one run."""
    m = result["metrics"]
    scorers = [s for s in ("model", "oracle", "baseline") if s in m]
    timings = ", ".join(f"{s['step']} {s['seconds']:.0f} s" for s in result["steps"])
    lines = [f"Command: `{result['command']}`", "",
             (f"Machine: {result['machine']}; total {result['seconds']:.0f} s ({timings})."), "",
             (f"Size: {result['establishments']:,} establishments, {result['months']} monthly batches + "
             f"{result['history']} months of history ({result['months'] + result['history']} months of "
             f"Features); model {result['model']} ({result['chosen']}); test window {result['window']}, "
             f"{result['rows']:,} rows, label `{result['label']}`."), "",
             "| metric | " + " | ".join(scorers) + " | model/oracle |", "|---" * (len(scorers) + 2) + "|"]
    rows = [("AUC-PR", lambda d: d["auc_pr"], "auc_pr"), ("ROC AUC", lambda d: d["roc_auc"], "roc_auc"),
            ("ECE", lambda d: d.get("ece"), "ece"),
            ("high: precision", lambda d: d["high"]["precision"], "high_precision"),
            ("high: recall", lambda d: d["high"]["recall"], "high_recall"),
            ("moderate: precision", lambda d: d["moderate"]["precision"], "moderate_precision"),
            ("moderate: recall", lambda d: d["moderate"]["recall"], "moderate_recall"),
            ("top 5 per region and month: precision", lambda d: d["top5_region_month"]["mean_precision"],
             "top5_region_month_precision")]
    for label, get, ratio in rows:
        lines.append(f"| {label} | " + " | ".join(_fmt(get(m[s])) for s in scorers)
                     + f" | {_fmt(result['ratios'].get(ratio))} |")
    lines.append(f"| positive rate | {_fmt(m['model']['positive_rate'])} | | | |")
    card = result.get("card")
    if card:
        lines += ["", "From the model card (label `outcome` of the Features, the held-out companies):", "",
                  "| window | rows | positives | AUC-PR model | AUC-PR baseline | high: precision (alerts) "
                  "| moderate: precision (alerts) |", "|---|---|---|---|---|---|---|"]
        for window in ("validation", "test"):
            w = card["windows_metrics"][window]
            lines.append(f"| {window} | {w['rows']:,} | {w['positives']:,} | {_fmt(w['auc_pr'])} | "
                         f"{_fmt(card['baseline_auc_pr'].get(window))} | "
                         + " | ".join(f"{_fmt(w[lv]['precision'])} ({w[lv]['alerts']})" for lv in ("high", "moderate"))
                         + " |")
        lines += ["", f"Hyper-parameters chosen on validation: {json.dumps(card['hyperparameters'])}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--establishments", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--history", type=int, default=18)  # 36 + 18 = 54 months of Features
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.months + args.history < MONTHS_NEEDED:
        parser.error(f"--months + --history must be >= {MONTHS_NEEDED}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sf-detection-"))
    settings = load_settings().with_overrides(db_name="sf_detection_benchmark", home=workdir / "home")
    started = time.monotonic()
    demo = run_demo(settings, workdir=workdir, establishments=args.establishments, months=args.months,
                    history=args.history, seed=args.seed, workers=args.workers)
    t = time.monotonic()
    model = model_store.load(demo["model_dir"])
    with open_store(settings) as store:
        report, summary = evaluate_batch(store.db, demo["last_batch"], model, out_dir=workdir / "report",
                                         truth_path=workdir / "deliveries" / "truth.parquet")
    steps = demo["steps"] + [{"step": "sf evaluate --truth", "seconds": round(time.monotonic() - t, 1)}]
    result = {
        "command": "python benchmarks/detection.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v not in (None, False)
            and k not in ("workdir", "json")),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                   f"{'embedded server' if settings.embedded else 'MongoDB'}",
        "establishments": args.establishments, "months": args.months, "history": args.history,
        "model": model.version, "chosen": model.kind,
        "window": f"{summary['window']['start'][:7]} … {summary['window']['end'][:7]}",
        "rows": report.rows, "label": report.label, "metrics": report.metrics, "ratios": report.ratios,
        "steps": steps, "seconds": round(time.monotonic() - started, 1), "report": str(report.report_path),
        "card": {"windows_metrics": model.metrics["candidates"][model.kind],
                 "baseline_auc_pr": model.card.get("baseline", {}).get("auc_pr", {}),
                 "hyperparameters": {k: v["chosen"] for k, v in model.metrics.get("hyperparameters", {}).items()}},
    }
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(markdown(result))


if __name__ == "__main__":
    main()
