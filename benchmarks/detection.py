"""Detection benchmark: synth → import → compact → features → train → score → evaluate, per seed.

For each seed, runs the whole chain with the same functions as the commands (through
``sf demo``'s ``run_demo``, on its own database under ``WORKDIR/seed<N>``), then
``sf evaluate --truth`` on the model's test window, and prints the model / naive ranking /
oracle figures with the verdict of each detection target:

- the model beats the naive "has URSSAF debt" ranking on AUC-PR and on the precision of the
  top 5 per region and month;
- AUC-PR ≥ 0.85 × the oracle's; top-5 per region and month ≥ 0.85 × the oracle's;
- expected calibration error < 0.02.

``--reuse`` keeps a seed's store when ``WORKDIR/seed<N>`` already holds one with Features
(from an earlier run of this script): only ``sf train`` and ``sf evaluate --truth`` are run
again, with the current code — the way to iterate on training without the ~15-minute chain.

Usage (from the repository root)::

    python benchmarks/detection.py --seeds 1 2 --establishments 8000 --months 6 --history 36 --workdir /tmp/det
    python benchmarks/detection.py --seeds 1 2 --workdir /tmp/det --reuse     # retrain and evaluate only

``--months`` monthly batches are imported one by one; ``--history`` months of history come
with the first delivery. The default training protocol (company split, no embargo) needs 36
months of Features (18 labelled + 18 of horizon). The test window holds the held-out
companies only (30 % of SIRENs). Prints Markdown for BENCHMARKS.md (``## Detection``), or JSON
with ``--json``.
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
from sf.engine.collections import FEATURES
from sf.engine.connection import open_store
from sf.engine.settings import load_settings
from sf.model import model_store
from sf.model.runs import evaluate_batch, train_batch

# Detection targets (issue 16): model/oracle ratios at least this, calibration error below ECE_TARGET.
ORACLE_SHARE = 0.85
ECE_TARGET = 0.02
TOP = "top5_region_month"


def _fmt(value: Any) -> str:
    return "–" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def verdicts(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each target's figures and whether it is met, from the evaluation metrics of one seed."""
    model, naive, oracle = metrics["model"], metrics["baseline"], metrics.get("oracle")

    def top(m: dict[str, Any]) -> float | None:
        return m[TOP]["mean_precision"]

    def above(a: float | None, b: float | None, share: float = 1.0) -> bool | None:
        return None if a is None or b is None else (a > b if share == 1.0 else a >= share * b)

    result = {
        "model > naive: AUC-PR": {"value": model["auc_pr"], "target": naive["auc_pr"],
                                  "met": above(model["auc_pr"], naive["auc_pr"])},
        "model > naive: top 5 per region and month": {"value": top(model), "target": top(naive),
                                                      "met": above(top(model), top(naive))},
        "ECE < 0.02": {"value": model.get("ece"), "target": ECE_TARGET,
                       "met": None if model.get("ece") is None else model["ece"] < ECE_TARGET},
    }
    if oracle is not None:
        result[f"AUC-PR >= {ORACLE_SHARE} x oracle"] = {
            "value": model["auc_pr"], "target": ORACLE_SHARE * oracle["auc_pr"],
            "met": above(model["auc_pr"], oracle["auc_pr"], ORACLE_SHARE)}
        result[f"top 5 per region and month >= {ORACLE_SHARE} x oracle"] = {
            "value": top(model), "target": ORACLE_SHARE * top(oracle), "met": above(top(model), top(oracle), ORACLE_SHARE)}
    return result


def markdown(run: dict[str, Any]) -> str:
    """The BENCHMARKS.md block of one multi-seed run."""
    lines = [f"Command: `{run['command']}`", "", f"Machine: {run['machine']}.", ""]
    for result in run["seeds"]:
        m = result["metrics"]
        timings = ", ".join(f"{s['step']} {s['seconds']:.0f} s" for s in result["steps"])
        lines += [f"#### Seed {result['seed']}", "",
                  f"{result['establishments']:,} establishments; model {result['model']} ({result['chosen']}); test "
                  f"window {result['window']}, {result['rows']:,} rows, label `{result['label']}`; {timings}.", "",
                  "| metric | model | naive (has URSSAF debt) | oracle | model/oracle |", "|---|---|---|---|---|"]
        scorers = [m["model"], m["baseline"], m.get("oracle")]
        rows = [("AUC-PR", lambda d: d["auc_pr"], "auc_pr"), ("ROC AUC", lambda d: d["roc_auc"], "roc_auc"),
                ("ECE", lambda d: d.get("ece"), "ece"),
                ("top 5 per region and month: precision", lambda d: d[TOP]["mean_precision"],
                 "top5_region_month_precision"),
                ("high: alerts", lambda d: d["high"]["alerts"], None),
                ("high: precision", lambda d: d["high"]["precision"], "high_precision"),
                ("moderate: alerts", lambda d: d["moderate"]["alerts"], None),
                ("moderate: precision", lambda d: d["moderate"]["precision"], "moderate_precision"),
                ("moderate: recall", lambda d: d["moderate"]["recall"], "moderate_recall")]
        for label, get, ratio in rows:
            lines.append(f"| {label} | " + " | ".join(_fmt(get(s)) if s is not None else "–" for s in scorers)
                         + f" | {_fmt(result['ratios'].get(ratio)) if ratio else ''} |")
        lines.append(f"| positive rate | {_fmt(m['model']['positive_rate'])} | | | |")
        lines += ["", "| target | value | needed | met |", "|---|---|---|---|"]
        for name, v in result["verdicts"].items():
            met = "–" if v["met"] is None else ("yes" if v["met"] else "**no**")
            lines.append(f"| {name} | {_fmt(v['value'])} | {_fmt(v['target'])} | {met} |")
        card = result["card"]
        val = card.get("naive_comparison", {}).get("validation") or {}
        if val:
            lines += ["", f"Validation (label `outcome`): model AUC-PR {_fmt(val['model']['auc_pr'])} vs naive "
                      f"{_fmt(val['naive']['auc_pr'])}; top 5 per region and month {_fmt(val['model'][TOP])} vs "
                      f"{_fmt(val['naive'][TOP])}. Thresholds: "
                      + "; ".join(f"{lv} {c['threshold']:.4f} ({c['alerts_per_region_month']:.1f} alerts per region "
                                  f"and month, validation precision {_fmt(c['precision'])})"
                                  for lv, c in card.get("threshold_choice", {}).items())
                      + (". Warnings: " + " / ".join(card["warnings"]) if card.get("warnings") else ". No warning.")]
        lines.append("")
    return "\n".join(lines)


def _last_batch_with_features(db: Any) -> str | None:
    doc = db[FEATURES].find_one({}, {"_id": 1}, sort=[("_id.batch", -1)])
    return None if doc is None else str(doc["_id"]["batch"])


def run_seed(seed: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The chain (or, with ``--reuse`` and a store already there, train + evaluate) of one seed."""
    settings = load_settings().with_overrides(db_name=f"sf_det_{seed}", home=workdir / "home")
    started = time.monotonic()
    last = None
    if args.reuse and (workdir / "home").is_dir():
        with open_store(settings) as store:
            last = _last_batch_with_features(store.db)
    if last is None:
        demo = run_demo(settings, workdir=workdir, establishments=args.establishments, months=args.months,
                        history=args.history, seed=seed, workers=args.workers)
        last, steps, model = demo["last_batch"], demo["steps"], model_store.load(demo["model_dir"])
    else:
        t = time.monotonic()
        with open_store(settings) as store:
            summary = train_batch(store.db, last, out_dir=workdir / "models" / last, sf_version="benchmark")
        model, steps = summary.model, [{"step": "sf train", "seconds": round(time.monotonic() - t, 1)}]
    t = time.monotonic()
    with open_store(settings) as store:
        report, summary = evaluate_batch(store.db, last, model, out_dir=workdir / "report",
                                         truth_path=workdir / "deliveries" / "truth.parquet")
    steps = steps + [{"step": "sf evaluate --truth", "seconds": round(time.monotonic() - t, 1)}]
    synth = workdir / "deliveries" / "summary.json"  # written by sf synth
    establishments = json.loads(synth.read_text())["establishments"] if synth.is_file() else args.establishments
    return {
        "seed": seed, "establishments": establishments, "model": model.version, "chosen": model.kind,
        "window": f"{summary['window']['start'][:7]} … {summary['window']['end'][:7]}",
        "rows": report.rows, "label": report.label, "metrics": report.metrics, "ratios": report.ratios,
        "verdicts": verdicts(report.metrics), "steps": steps, "seconds": round(time.monotonic() - started, 1),
        "report": str(report.report_path),
        "card": {k: model.card.get(k) for k in ("naive_comparison", "threshold_choice", "warnings")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--establishments", type=int, default=8_000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--history", type=int, default=36)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="retrain and evaluate a seed's existing store")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.months + args.history < MONTHS_NEEDED:
        parser.error(f"--months + --history must be >= {MONTHS_NEEDED}")
    base = args.workdir or Path(tempfile.mkdtemp(prefix="sf-detection-"))
    started = time.monotonic()
    seeds = [run_seed(seed, args, base / f"seed{seed}") for seed in args.seeds]
    run = {
        "command": "python benchmarks/detection.py " + " ".join(
            f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in vars(args).items() if v not in (None, False, True) and k not in ("workdir", "json"))
            + (" --reuse" if args.reuse else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "seeds": seeds, "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(run, indent=2, default=str) if args.json else markdown(run))


if __name__ == "__main__":
    main()
