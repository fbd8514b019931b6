"""Expert corrections of Scores: rules a regional analyst writes to correct the model's behaviour
(for instance during a crisis), applied by ``sf score --corrections FILE``.

**File format: JSON Lines.** One rule per line, a JSON object; blank lines and lines starting
with ``#`` are comments. Chosen because every rule has its own line, so an error names the
exact line of the faulty rule (TOML via ``tomllib`` only reports parse errors, not the line
of a rule that parses but is wrong), it needs nothing beyond the standard library, and one
line = one rule keeps a diff of the file readable. Example::

    # Crise sanitaire : l'activité partielle est massive et aidée, elle ne signale pas une défaillance.
    {"id": "covid-apart", "author": "J. Martin (DREETS Bretagne)", "reason": "activité partielle aidée (crise sanitaire)", "from": "2020-03", "to": "2021-06", "action": "multiply", "theme": "apart", "factor": 0.3}
    {"id": "hotels-cap", "author": "J. Martin", "reason": "fonds de solidarité", "sectors": ["I"], "from": "2020-03", "to": "2021-06", "when": ["ratio_dette < 2"], "action": "cap", "level": "moderate"}
    {"id": "grosse-dette", "author": "A. Leroy", "reason": "dette URSSAF très lourde", "when": ["ratio_dette >= 5", "effectif >= 10"], "action": "raise", "level": "high"}

Keys of a rule (any other key is an error, so a typo cannot silently disable a rule):

``id``, ``author``, ``reason``  required non-empty strings; ids are unique in the file.
``from``, ``to``                optional months ``"YYYY-MM"``, inclusive: the rule applies to
                                Scores whose month (``periode``) lies in the range.
``sectors``                     optional list of NAF prefixes: a section letter (``"I"``,
                                matched with Features ``code_naf``) or the start of an APE code
                                (``"56"``, ``"56.1"``, ``"5610A"``, dots ignored, matched with
                                ``code_ape``); the rule applies when one matches.
``when``                        optional list of conditions, all must hold: ``"VARIABLE OP
                                VALUE"`` with OP one of ``< <= > >= == != in``, VARIABLE a
                                Features catalogue variable (numeric variables take a number,
                                flags ``true``/``false`` with ``==``/``!=``, text variables a
                                JSON string, ``in`` a JSON list). A missing value never
                                satisfies a condition.
``action``                      ``"multiply"`` (with ``theme`` and ``factor`` >= 0: that theme's
                                contribution, in log-odds, is multiplied by ``factor`` and the
                                score and level follow), ``"cap"`` (with ``level``
                                ``"moderate"`` or ``"none"``: the alert level is lowered to at
                                most that) or ``"raise"`` (with ``level`` ``"moderate"`` or
                                ``"high"``: the level is raised to at least that). Cap and
                                raise change the level only, never the score.

**Application** (:func:`apply_corrections`, after the model's calibrated score): first every
``multiply`` rule in file order (they commute: each adds ``(factor - 1) x contribution`` to the
log-odds), then the level is re-derived from the model's thresholds for the rows they changed,
then ``cap``/``raise`` rules in file order (a later one overrides an earlier one). A rule is
recorded on a Score when it *changed* it (a multiply of a non-zero contribution by a factor
other than 1, a cap or raise that moved the level). Such a Score gains ``score_before``,
``alert_before`` (the model's own) and ``corrections``: ``[{"id", "author", "reason"}, ...]`` in
the order applied, author and reason included so a Score read later (alert list, fiche)
explains itself. Scores no rule changed carry none of the three fields.

Failure modes: :class:`CorrectionFileError` (exit code 2) naming the file and line for a line
that is not a JSON object, an unknown or missing key, a bad month, sector, condition, unknown
variable, unknown theme or level, a duplicate id; with a model, a theme the model has no
variable of. :class:`~sf.model.errors.ModelInputError` when the Features lack a column a rule
needs.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sf.features.catalogue import VARIABLES

from .errors import ModelInputError, ModelOptionError
from .themes import THEMES
from .training import TrainedModel, alert_levels

ACTIONS: tuple[str, ...] = ("multiply", "cap", "raise")
#: Levels an action may name, per action ("none" = no alert).
ACTION_LEVELS: dict[str, tuple[str, ...]] = {"cap": ("moderate", "none"), "raise": ("moderate", "high")}
_RANK: dict[str | None, int] = {None: 0, "moderate": 1, "high": 2}
_REQUIRED = ("id", "author", "reason", "action")
_ACTION_KEYS = {"multiply": {"theme", "factor"}, "cap": {"level"}, "raise": {"level"}}
_SCOPE_KEYS = {"from", "to", "sectors", "when"}
_ALL_KEYS = set(_REQUIRED) | _SCOPE_KEYS | {"theme", "factor", "level"}
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_SECTION = re.compile(r"^[A-U]$")
_APE_PREFIX = re.compile(r"^\d{2}(\d{1,2}[A-Z]?)?$")
_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|!=|<|>|\bin\b)\s*(.+?)\s*$")
_ORDERING = ("<", "<=", ">", ">=")
#: Columns of the Scores frame :func:`apply_corrections` adds.
CORRECTION_COLUMNS: tuple[str, ...] = ("score_before", "alert_before", "corrections")


class CorrectionFileError(ModelOptionError):
    """A correction file that cannot be used (exit code 2); the message names file and line."""


@dataclass(frozen=True)
class Condition:
    """``variable op value``; :meth:`holds` is False where the variable is missing."""

    variable: str
    op: str
    value: Any

    def text(self) -> str:
        return f"{self.variable} {self.op} {json.dumps(self.value, ensure_ascii=False)}"

    def holds(self, column: pd.Series) -> np.ndarray:
        present = column.notna().to_numpy()
        if self.op == "in":
            result = column.isin(self.value).to_numpy()
        elif self.op in ("==", "!="):
            values = column.astype(object) if isinstance(self.value, str) else column
            equal = (values == self.value).to_numpy(dtype=bool, na_value=False)
            result = equal if self.op == "==" else ~equal
        else:
            numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                result = {"<": numbers < self.value, "<=": numbers <= self.value, ">": numbers > self.value,
                          ">=": numbers >= self.value}[self.op]
        return np.asarray(result, dtype=bool) & present


@dataclass(frozen=True)
class Rule:
    """One correction rule (see the module docstring); ``line`` is its line in the file."""

    id: str
    author: str
    reason: str
    line: int
    action: str
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    sectors: tuple[str, ...] = ()
    when: tuple[Condition, ...] = ()
    theme: str | None = None
    factor: float | None = None
    level: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The rule as written (JSON-ready), for the model card and the Journal."""
        data: dict[str, Any] = {"id": self.id, "author": self.author, "reason": self.reason, "line": self.line}
        if self.start is not None:
            data["from"] = f"{self.start:%Y-%m}"
        if self.end is not None:
            data["to"] = f"{self.end:%Y-%m}"
        if self.sectors:
            data["sectors"] = list(self.sectors)
        if self.when:
            data["when"] = [c.text() for c in self.when]
        data["action"] = self.action
        if self.action == "multiply":
            data.update(theme=self.theme, factor=self.factor)
        else:
            data["level"] = self.level
        return data

    def describe(self) -> str:
        """Short text of the action: ``"× 0.3 apart"``, ``"cap moderate"``, ``"raise high"``."""
        return f"× {self.factor:g} {self.theme}" if self.action == "multiply" else f"{self.action} {self.level}"

    def columns(self) -> list[str]:
        """Features columns the rule reads (sector codes and condition variables)."""
        names = [c.variable for c in self.when]
        if any(_SECTION.match(s) for s in self.sectors):
            names.append("code_naf")
        if any(not _SECTION.match(s) for s in self.sectors):
            names.append("code_ape")
        return names

    def applies(self, scores: pd.DataFrame, context: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the rows of ``scores`` (aligned with ``context``) in the rule's scope."""
        mask = np.ones(len(scores), dtype=bool)
        if self.start is not None or self.end is not None:
            months = pd.to_datetime(scores["periode"], utc=True).dt.tz_localize(None).dt.to_period("M")
            if self.start is not None:
                mask &= (months >= self.start.to_period("M")).to_numpy()
            if self.end is not None:
                mask &= (months <= self.end.to_period("M")).to_numpy()
        if self.sectors:
            in_sector = np.zeros(len(scores), dtype=bool)
            for sector in self.sectors:
                if _SECTION.match(sector):
                    in_sector |= (context["code_naf"].astype(object) == sector).to_numpy(dtype=bool, na_value=False)
                else:
                    codes = context["code_ape"].astype(object).where(context["code_ape"].notna(), "")
                    in_sector |= codes.map(lambda c: str(c).replace(".", "").startswith(sector)).to_numpy(dtype=bool)
            mask &= in_sector
        for condition in self.when:
            mask &= condition.holds(context[condition.variable])
        return mask


@dataclass(frozen=True)
class Corrections:
    """The rules of one correction file, with the file's path and SHA-256."""

    path: str
    sha256: str
    rules: tuple[Rule, ...]

    def columns(self) -> list[str]:
        """Features columns the rules read, each once, in first-use order."""
        return list(dict.fromkeys(c for rule in self.rules for c in rule.columns()))

    def check_model(self, model: TrainedModel) -> None:
        """:class:`CorrectionFileError` naming the line of a ``multiply`` rule on a theme the model
        has no variable of (the rule could never change anything)."""
        model_themes = set(model.themes.values())
        for rule in self.rules:
            if rule.action == "multiply" and rule.theme not in model_themes:
                raise CorrectionFileError(
                    f"{self.path}:{rule.line}: rule {rule.id!r}: model {model.version} has no variable of theme "
                    f"{rule.theme!r} (its themes: {', '.join(t for t in THEMES if t in model_themes)})")

    def record(self, counts: list[dict[str, Any]], *, batch: str, applied_by: str | None = None,
               applied_at: datetime | None = None) -> dict[str, Any]:
        """The entry written next to the model (model card) and in the Journal: file, hash, who,
        when, the rules and how many Scores each matched and changed."""
        return {"batch": batch, "file": self.path, "sha256": self.sha256,
                "applied_by": applied_by or current_user(),
                "applied_at": (applied_at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "rules": [{**rule.as_dict(), **count} for rule, count in zip(self.rules, counts)]}


def current_user() -> str:
    """Login name of the person running the command ("unknown" when the system has none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return "unknown"


# ----------------------------------------------------------------------------- parsing

def load_corrections(path: str | Path, model: TrainedModel | None = None) -> Corrections:
    """Read and check the correction file ``path`` (with ``model``: also its themes).

    :class:`CorrectionFileError` for an unreadable file or any bad rule (file and line named).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise CorrectionFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise CorrectionFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    corrections = Corrections(str(path), hashlib.sha256(raw).hexdigest(), tuple(parse_corrections(text, str(path))))
    if model is not None:
        corrections.check_model(model)
    return corrections


def parse_corrections(text: str, source: str = "<corrections>") -> list[Rule]:
    """The rules of a correction file's ``text``; ``source`` names it in errors.

    :class:`CorrectionFileError` ``"SOURCE:LINE: ..."`` for the first bad line; an empty file
    (no rule) is an error too: ``--corrections`` with nothing to apply is a mistake.
    """
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        rule = _parse_line(stripped, f"{source}:{number}", number)
        if rule.id in seen:
            raise CorrectionFileError(f"{source}:{number}: rule id {rule.id!r} already used on line {seen[rule.id]}")
        seen[rule.id] = number
        rules.append(rule)
    if not rules:
        raise CorrectionFileError(f"{source}: no rule (only blank lines and # comments)")
    return rules


def _parse_line(line: str, where: str, number: int) -> Rule:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorrectionFileError(f"{where}: not a JSON object ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise CorrectionFileError(f"{where}: a rule is a JSON object {{...}}, got {type(data).__name__}")
    name = data.get("id")
    label = f"{where}: rule {name!r}" if isinstance(name, str) and name.strip() else where

    def fail(message: str) -> CorrectionFileError:
        return CorrectionFileError(f"{label}: {message}")

    unknown = sorted(set(data) - _ALL_KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(_ALL_KEYS))}")
    for key in _REQUIRED:
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise fail(f"{key!r} is required and must be a non-empty string")
    action = data["action"]
    if action not in ACTIONS:
        raise fail(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    extra = sorted(({"theme", "factor", "level"} - _ACTION_KEYS[action]) & set(data))
    if extra:
        raise fail(f"action {action!r} takes {' and '.join(sorted(_ACTION_KEYS[action]))}, not {', '.join(extra)}")
    start, end = _month(data.get("from"), "from", fail), _month(data.get("to"), "to", fail)
    if start is not None and end is not None and start > end:
        raise fail(f"'from' {start:%Y-%m} is after 'to' {end:%Y-%m}")
    theme = factor = level = None
    if action == "multiply":
        theme, factor = data.get("theme"), data.get("factor")
        if theme not in THEMES:
            raise fail(f"unknown theme {theme!r}; expected one of {', '.join(THEMES)}")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor < 0:
            raise fail(f"'factor' must be a number >= 0, got {factor!r}")
        factor = float(factor)
    else:
        level = data.get("level")
        if level not in ACTION_LEVELS[action]:
            raise fail(f"action {action!r} needs 'level' one of {', '.join(ACTION_LEVELS[action])}, got {level!r}")
    return Rule(id=data["id"].strip(), author=data["author"].strip(), reason=data["reason"].strip(), line=number,
                action=action, start=start, end=end, sectors=_sectors(data.get("sectors"), fail),
                when=tuple(_condition(c, fail) for c in _list(data.get("when"), "when", fail)), theme=theme,
                factor=factor, level=level)


def _list(value: Any, key: str, fail: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list) or not value:
        raise fail(f"{key!r} must be a non-empty JSON list")
    return value


def _month(value: Any, key: str, fail: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    match = _MONTH.match(value) if isinstance(value, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise fail(f"{key!r} must be a month \"YYYY-MM\", got {value!r}")
    return pd.Timestamp(int(match.group(1)), int(match.group(2)), 1)


def _sectors(value: Any, fail: Any) -> tuple[str, ...]:
    sectors = []
    for item in _list(value, "sectors", fail):
        code = item.replace(".", "").strip().upper() if isinstance(item, str) else None
        if code is None or not (_SECTION.match(code) or _APE_PREFIX.match(code)):
            raise fail(f"sector {item!r} is neither a NAF section letter (A … U) nor the start of an APE code "
                       "(e.g. \"56\", \"56.1\", \"5610A\")")
        sectors.append(code)
    return tuple(sectors)


def _condition(value: Any, fail: Any) -> Condition:
    match = _CONDITION.match(value) if isinstance(value, str) else None
    if match is None:
        raise fail(f"condition {value!r} is not \"VARIABLE OP VALUE\" with OP one of < <= > >= == != in")
    name, op, literal = match.groups()
    variable = VARIABLES.get(name)
    if variable is None or variable.role != "feature":
        raise fail(f"condition {value!r}: unknown variable {name!r} (not a variable of the Features catalogue)")
    try:
        operand = json.loads(literal)
    except json.JSONDecodeError:
        raise fail(f"condition {value!r}: {literal!r} is not a JSON value (text goes in double quotes)") from None
    dtype = variable.dtype
    operands = operand if op == "in" else [operand]
    if op == "in" and (not isinstance(operand, list) or not operand):
        raise fail(f"condition {value!r}: 'in' takes a non-empty JSON list")
    if dtype == "datetime":
        raise fail(f"condition {value!r}: date variable {name!r} cannot be compared; use from/to for periods")
    if dtype == "string":
        if op in _ORDERING or not all(isinstance(v, str) for v in operands):
            raise fail(f"condition {value!r}: text variable {name!r} takes ==, != or in with quoted text")
    elif dtype == "bool":
        if op not in ("==", "!=") or not isinstance(operand, bool):
            raise fail(f"condition {value!r}: flag {name!r} takes == or != with true or false")
    elif not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in operands):
        raise fail(f"condition {value!r}: numeric variable {name!r} takes a number")
    return Condition(name, op, operand)


# ----------------------------------------------------------------------------- applying

def apply_corrections(scores: pd.DataFrame, context: pd.DataFrame, corrections: Corrections,
                      thresholds: dict[str, float]) -> tuple[pd.DataFrame, list[dict[str, int]]]:
    """Apply ``corrections`` to ``scores`` (the frame :func:`sf.model.scoring.score` returns).

    ``context`` holds the Features columns the rules read (:meth:`Corrections.columns`), row
    for row with ``scores`` (same length and order); ``thresholds`` are the model's. Returns a
    copy of ``scores`` with :data:`CORRECTION_COLUMNS` added (None where no rule changed the
    row) and, per rule in file order, ``{"matched": n, "changed": n}``. ``ModelInputError`` when
    ``context`` lacks a column a rule needs.
    """
    missing = [c for c in corrections.columns() if c not in context.columns]
    if missing:
        raise ModelInputError(f"{corrections.path}: the Features to score have no column(s) {', '.join(missing)} "
                              "that the corrections read")
    if len(context) != len(scores):
        raise ModelInputError(f"corrections: {len(context)} context rows for {len(scores)} scores")
    n = len(scores)
    before = scores["score"].to_numpy(dtype=float)
    alert_before = scores["alert"].to_numpy(dtype=object)
    reasons = [dict(r) for r in scores["reasons"]]
    top = [[dict(v) for v in t] for t in scores["top_variables"]]
    logit = np.log(np.clip(before, 1e-15, 1 - 1e-15) / np.clip(1 - before, 1e-15, 1))
    fired: list[list[Rule]] = [[] for _ in range(n)]
    counts = [{"matched": 0, "changed": 0} for _ in corrections.rules]
    masks = [rule.applies(scores, context) for rule in corrections.rules]
    rescored = np.zeros(n, dtype=bool)
    for rule, mask, count in zip(corrections.rules, masks, counts):
        if rule.action != "multiply":
            continue
        count["matched"] = int(mask.sum())
        for i in np.flatnonzero(mask):
            contribution = float(reasons[i].get(rule.theme, 0.0) or 0.0)
            if contribution == 0.0 or rule.factor == 1.0:
                continue
            logit[i] += (rule.factor - 1.0) * contribution
            reasons[i][rule.theme] = round(rule.factor * contribution, 4)
            for variable in top[i]:
                if variable.get("theme") == rule.theme:
                    variable["contribution"] = round(rule.factor * float(variable["contribution"]), 4)
            rescored[i] = True
            fired[i].append(rule)
            count["changed"] += 1
    score = before.copy()
    alert = alert_before.copy()
    if rescored.any():
        # Only the rows a multiply changed are recomputed: the others keep the model's exact values.
        score[rescored] = 1.0 / (1.0 + np.exp(-logit[rescored]))
        alert[rescored] = alert_levels(score[rescored], thresholds)
    for rule, mask, count in zip(corrections.rules, masks, counts):
        if rule.action == "multiply":
            continue
        count["matched"] = int(mask.sum())
        target = None if rule.level == "none" else rule.level
        for i in np.flatnonzero(mask):
            current = alert[i]
            new = (target if _RANK[current] > _RANK[target] else current) if rule.action == "cap" \
                else (target if _RANK[current] < _RANK[target] else current)
            if new != current:
                alert[i] = new
                fired[i].append(rule)
                count["changed"] += 1
    out = scores.copy()
    out["score"] = score
    out["alert"] = pd.Series(alert, index=scores.index, dtype=object)
    out["reasons"] = reasons
    out["top_variables"] = top
    changed = [bool(f) for f in fired]
    out["score_before"] = pd.Series([float(b) if c else None for b, c in zip(before, changed)],
                                    index=scores.index, dtype=object)
    out["alert_before"] = pd.Series([a if c else None for a, c in zip(alert_before, changed)],
                                    index=scores.index, dtype=object)
    out["corrections"] = pd.Series([[{"id": r.id, "author": r.author, "reason": r.reason} for r in f] if f else None
                                    for f in fired], index=scores.index, dtype=object)
    return out, counts


def corrections_in_words(corrections: list[dict[str, Any]] | None) -> str:
    """``"Corrigé : <reason> (<author>)."`` per correction recorded on a Score ("" if none)."""
    if not corrections:
        return ""
    return " ".join(f"Corrigé : {c.get('reason', '')} ({c.get('author', '')})." for c in corrections)
