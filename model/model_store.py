"""Saving and loading trained models: a skops file plus a model card (docs/features.md §5.1).

A saved model is a directory holding:

- ``model.skops``: the fitted scikit-learn pipeline, in skops' pickle-free format;
- ``model_card.json``: everything else needed to score and explain (variables and their themes,
  windows, thresholds, calibration, reference row, metrics, training size, ``sf`` version), plus
  the SHA-256 of ``model.skops`` so a card cannot be paired with another model file;
- ``model_card.md``: the same card for people.

``sf score --corrections FILE`` adds to both cards the expert corrections in force per batch
(:func:`record_corrections`: rules, file, SHA-256, who applied them and when); the model file
and its hash are not touched.

Loading only accepts the types listed in ``TRUSTED_TYPES`` (the scikit-learn and numpy pieces our
pipelines are made of); a file that needs any other type is refused with the list of those types.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import skops.io as sio
from sf.features.target import HORIZON

from .errors import ModelFileError
from .themes import THEME_LABELS
from .training import TrainedModel, Windows

MODEL_FILE = "model.skops"
CARD_JSON = "model_card.json"
CARD_MD = "model_card.md"

# The types of our two pipelines that skops does not trust by default (scikit-learn estimators,
# numpy arrays and ufuncs it trusts itself), read from skops.io.get_untrusted_types on saved
# models with scikit-learn 1.9 / skops 0.16. Anything else in a model file is refused.
TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    # HistGradientBoostingClassifier keeps a functools.partial of check_array as its input
    # validator; skops checks the wrapped function separately, so trusting both is needed and safe.
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _card_json(model: TrainedModel, model_sha256: str) -> dict[str, Any]:
    card = dict(model.card)
    card.update({
        "version": model.version, "kind": model.kind, "sf_version": model.sf_version,
        "until_batch": model.until_batch, "feature_columns": model.feature_columns,
        "categorical_columns": model.categorical_columns, "themes": model.themes,
        "thresholds": model.thresholds, "calibration_params": list(model.calibration),
        "windows": model.windows.to_dict(), "metrics": model.metrics, "training_size": model.training_size,
        "reference": model.reference, "logistic_centre": model.logistic_centre,
        "model_file": MODEL_FILE, "model_sha256": model_sha256,
    })
    return card


def _fmt(value: Any) -> str:
    return "–" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


def _threshold_lines(card: dict[str, Any]) -> list[str]:
    """One line per alert level: threshold, goal and validation figures (older cards: the rule)."""
    choice = card.get("threshold_choice")
    if not choice:
        rule = card.get("threshold_rule", {})
        return [f"- alert threshold {level}: {card['thresholds'][level]:.4f} ({rule.get(level, '')})"
                for level in ("high", "moderate")]
    return [f"- alert threshold {level}: {c['threshold']:.4f} — {c['purpose']}; goal "
            f"{c['goal_alerts_per_region_month'][0]:g}–{c['goal_alerts_per_region_month'][1]:g} alerts per region "
            f"and month; on validation {c['alerts_per_region_month']:.1f} per region and month, precision "
            f"{_fmt(c['precision'])}, recall {_fmt(c['recall'])}" for level, c in choice.items()]


def _warning_lines(card: dict[str, Any]) -> list[str]:
    warnings = card.get("warnings") or []
    return (["## Warnings", ""] + [f"- **{w}**" for w in warnings] + [""]) if warnings else []


def _naive_lines(card: dict[str, Any]) -> list[str]:
    comparison = card.get("naive_comparison")
    if not comparison:
        return []
    k = comparison["k"]
    lines = ["", f"## Model against the naive ranking ({comparison['naive']})", "",
             f"| window | AUC-PR model | AUC-PR naive | top {k} per region and month: model | naive | model beats naive |",
             "|---|---|---|---|---|---|"]
    for name in ("validation", "test"):
        c = comparison.get(name)
        if c:
            top = f"top{k}_region_month"
            beats = "yes" if all(c["model_beats_naive"].values()) else "**no**"
            lines.append(f"| {name} | {_fmt(c['model']['auc_pr'])} | {_fmt(c['naive']['auc_pr'])} | "
                         f"{_fmt(c['model'][top])} | {_fmt(c['naive'][top])} | {beats} |")
    return lines


def card_markdown(card: dict[str, Any]) -> str:
    """Human-readable model card from the JSON card."""
    lines = [f"# Model {card['version']}", "",
             f"- kind: **{card['kind']}** (chosen on {card['metrics']['selection']})",
             f"- sf version: {card['sf_version']}; trained until batch {card['until_batch']}"
             + (f" at {card['trained_at']}" if card.get("trained_at") else ""),
             f"- target: outcome within {card.get('horizon_months', HORIZON)} months",
             f"- calibration: Platt on the validation window (slope {card['calibration_params'][0]:.4f}, "
             f"intercept {card['calibration_params'][1]:.4f})",
             *_threshold_lines(card), "", *_warning_lines(card),
             "## Windows and training data", "", "| window | months | rows | positives | siret | siren |",
             "|---|---|---|---|---|---|"]
    for name, window in card["windows"].items():
        size = card["training_size"][name]
        lines.append(f"| {name} | {window['start'][:7]} … {window['end'][:7]} | {size['rows']} | {size['positives']} "
                     f"| {size['siret']} | {size['siren']} |")
    lines += ["", "## Metrics (calibrated probabilities)", "",
              "| model | window | rows | positive rate | AUC-PR | ROC AUC | Brier | high: precision / recall "
              "| moderate: precision / recall |", "|---|---|---|---|---|---|---|---|---|"]
    for kind, windows in card["metrics"]["candidates"].items():
        for name, m in windows.items():
            levels = [f"{_fmt(m[level]['precision'])} / {_fmt(m[level]['recall'])}" if level in m else "–"
                      for level in ("high", "moderate")]
            lines.append(f"| {kind}{' (chosen)' if kind == card['kind'] else ''} | {name} | {m['rows']} | "
                         f"{_fmt(m['positive_rate'])} | {_fmt(m['auc_pr'])} | {_fmt(m['roc_auc'])} | "
                         f"{_fmt(m['brier'])} | {levels[0]} | {levels[1]} |")
    lines += _naive_lines(card)
    lines += ["", "## Variables", "", "| variable | theme | type |", "|---|---|---|"]
    for variable in card["variables"]:
        lines.append(f"| {variable['name']} | {THEME_LABELS.get(variable['theme'], variable['theme'])} "
                     f"| {variable['type']} |")
    lines += ["", f"Explanations: {card['explanation']['method']} ({card['explanation']['unit']}).", ""]
    lines += corrections_markdown(card.get("corrections") or [])
    return "\n".join(lines)


def corrections_markdown(entries: list[dict[str, Any]]) -> list[str]:
    """Lines of the card's "Expert corrections in force" section (none when ``entries`` is empty)."""
    if not entries:
        return []
    lines = ["## Expert corrections in force", "",
             "Rules of `sf score --corrections FILE` applied to the Scores of these batches "
             "(sf.model.corrections); matched / changed = Scores in the rule's scope / Scores it changed.", ""]
    for entry in entries:
        lines += [f"### Batch {entry['batch']}: {entry['file']}", "",
                  f"- applied by {entry['applied_by']} at {entry['applied_at']}; file SHA-256 `{entry['sha256']}`", "",
                  "| rule | author | reason | scope | action | matched | changed |", "|---|---|---|---|---|---|---|"]
        for rule in entry["rules"]:
            scope = [f"{rule.get('from', '…')} → {rule.get('to', '…')}"] if "from" in rule or "to" in rule else []
            scope += [f"sectors {', '.join(rule['sectors'])}"] if rule.get("sectors") else []
            scope += rule.get("when", [])
            action = (f"multiply {rule['theme']} × {rule['factor']:g}" if rule["action"] == "multiply"
                      else f"{rule['action']} {rule['level']}")
            cells = [rule["id"], rule["author"], rule["reason"], "; ".join(scope) or "all", action,
                     str(rule.get("matched", "")), str(rule.get("changed", ""))]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return lines


def record_corrections(directory: str | Path, batch: str, entry: dict[str, Any] | None) -> None:
    """Set (``entry``) or remove (None) the corrections in force for ``batch`` in the model card of
    ``directory`` (JSON ``corrections`` list, one entry per batch, and the Markdown section).

    Only the card changes: ``model.skops`` and its hash stay as they are, so the model loads as
    before. ``ModelFileError`` when the card is missing or not valid JSON.
    """
    card_path = Path(directory) / CARD_JSON
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"model directory {directory}: {CARD_JSON} is missing") from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{card_path}: not valid JSON ({exc})") from exc
    previous = card.get("corrections") or []
    entries = sorted([e for e in previous if e.get("batch") != batch] + ([entry] if entry else []),
                     key=lambda e: e["batch"])
    if not entries and "corrections" not in card:
        return  # nothing recorded before, nothing now: leave the files untouched
    card["corrections"] = entries
    card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    (Path(directory) / CARD_MD).write_text(card_markdown(card), encoding="utf-8")


def save(model: TrainedModel, directory: str | Path) -> Path:
    """Write ``model.skops``, ``model_card.json`` and ``model_card.md`` into ``directory`` (created if
    needed, files replaced). Returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / MODEL_FILE
    sio.dump(model.estimator, model_path)
    card = _card_json(model, _sha256(model_path))
    (directory / CARD_JSON).write_text(json.dumps(card, indent=2, ensure_ascii=False, default=str) + "\n",
                                       encoding="utf-8")
    (directory / CARD_MD).write_text(card_markdown(card), encoding="utf-8")
    return directory


def load(path: str | Path) -> TrainedModel:
    """Load a model saved by :func:`save` from its directory (or its ``model.skops`` / card path).

    ``ValueError`` when a file is missing, the card does not belong to the model file (hash), or
    the model file needs types outside ``TRUSTED_TYPES`` (they are listed).
    """
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    model_path, card_path = directory / MODEL_FILE, directory / CARD_JSON
    for required in (model_path, card_path):
        if not required.is_file():
            raise ModelFileError(f"model directory {directory}: {required.name} is missing")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{card_path}: not valid JSON ({exc})") from exc
    if card.get("model_sha256") != _sha256(model_path):
        raise ModelFileError(f"{model_path}: does not match {card_path.name} (SHA-256 differs); the card belongs "
                             "to another model file")
    untrusted = [t for t in sio.get_untrusted_types(file=model_path) if t not in TRUSTED_TYPES]
    if untrusted:
        raise ModelFileError(f"{model_path}: refusing to load types outside sf's trusted list: {', '.join(untrusted)}")
    estimator = sio.load(model_path, trusted=list(sio.get_untrusted_types(file=model_path)))
    try:
        return TrainedModel(
            estimator=estimator, kind=card["kind"], feature_columns=list(card["feature_columns"]),
            categorical_columns=list(card["categorical_columns"]), themes=dict(card["themes"]),
            thresholds={k: float(v) for k, v in card["thresholds"].items()},
            calibration=(float(card["calibration_params"][0]), float(card["calibration_params"][1])),
            windows=Windows.from_dict(card["windows"]), metrics=card["metrics"],
            training_size=card["training_size"], until_batch=card["until_batch"], sf_version=card["sf_version"],
            version=card["version"], reference=card["reference"], logistic_centre=card["logistic_centre"],
            card=card)
    except KeyError as exc:
        raise ModelFileError(f"{card_path}: key {exc.args[0]!r} is missing") from exc
