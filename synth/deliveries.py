"""``sf synth``: realistic synthetic delivery folders with a known ground truth.

``generate(out_dir, establishments, months, seed)`` writes ``months`` monthly delivery
folders ``out_dir/<YYMM>/`` (batch keys in string order, the last one ``end_batch``) in
the real v2022 source formats, a ground-truth file ``out_dir/truth.parquet``, a summary
``out_dir/summary.json`` and a human-readable ``out_dir/README.txt``. Same seed, same
arguments → byte-identical output, whatever ``chunk_companies``.

Generative process
==================

Population. Companies (SIREN, Luhn-valid, leading zeros possible) are drawn until the
requested number of establishments is reached. Initial headcount is log-normal (median
18, σ = 1.2, capped at 20,000: most companies are small, a few are very large); the
number of establishments is ``1 + Poisson((headcount / 40) ^ 0.8)`` (≈ 1.8 on average,
hundreds for the largest). Each establishment (SIRET = SIREN + NIC, Luhn-valid) gets a
share of the headcount (the siège weighs double), an address in a département (mostly
the siège's, incl. Corsica and overseas), one URSSAF account (18 digits; 2 % move to a
new account at the start of a quarter, the old one being closed in admin_urssaf). An
activity (29 NAF rev. 2 codes in six sector groups) sets contributions per head and
turnover per head; a legal form, a name, a creation date complete the picture. 10 % of
companies are created during the history; 15 % of secondary establishments open later.

Latent process (``chain``). Each company follows a monthly Markov chain healthy →
drifting → distressed → critical, with recoveries, two absorbing exits — failure (the
month of the opening judgment) and voluntary closure — and a direct healthy → failure
jump (failure without warning, ≈ 7 % of failures). The risk class (sector group ×
size class) multiplies the entry into difficulty and the sudden failure: hospitality
×1.55, construction ×1.35, transport ×1.1, trade ×1.0, services ×0.85, industry ×0.75;
fewer than 10 employees ×1.3, 50 or more ×0.65. About 2.5 % of companies a year enter
proceedings (1.3 % in the safest class, 4.4 % in the riskiest); most never fail.
Establishments close independently with a monthly probability rising with the
company's state (0.08 % healthy … 0.6 % critical), and all close at a voluntary closure.
Companies alive when the history starts begin in the chain's quasi-stationary
distribution (≈ 80 % healthy, 13 % drifting, 5 % distressed, 2 % critical).

Oracle. ``oracle_p18`` = probability that an establishment open in month t receives an
opening judgment in months t+1 … t+18 given its company's state in t, computed exactly
as ``(Q^18)[state, failure]`` on the establishment chain (``chain``); no estimate.

Signals (``world``), all noisy functions of the state path, none feeding back:

* headcount: log-random walk with monthly drift +0.2 % healthy, −0.8 % drifting, −2 %
  distressed, −4 % critical, −3 % in observation, −10 % in liquidation; noise σ = 2.5 %;
  1 % of cells missing at random; the data month's cell is missing for 30 % of rows
  (late declarations), filled in the next delivery;
* contributions (cotisation): due = headcount × contributions per head ± 2 %, monthly, or
  quarterly for establishments that started with fewer than 11 employees; unpaid with
  probability 0.8 % healthy, 8 % drifting, 35 % distressed, 75 % critical (never for the
  20 % of companies that pay URSSAF first — their failures come without URSSAF warning);
  an unpaid period is not paid at all (40 %) or paid for 10–80 %; 1 % of lines missing;
* debts (debit): each unpaid amount is a debt (``Num_Ecn`` 101, 30 % part ouvrière,
  amounts in cents) treated the following month; each month it is repaid in full / in
  part with probability 60 % / 20 % healthy … 2 % / 5 % critical (at least 15 % / 60 %
  while a payment delay runs), frozen during proceedings, written off (operation 3)
  6–12 months after a liquidation closed the establishment. Every change is a new
  history line (``Num_Hist_Ecn`` + 1); every monthly file carries the current line of
  every open debt;
* payment delays (delai): granted on the outstanding debt with monthly probability 2 %
  healthy, 5 % drifting, 8 % distressed, 4 % critical, for 3–24 months;
* CCSF: 1.2 % a month for distressed or critical companies (at most once in 24 months),
  approved 65 %, refused 30 %, rejected 5 %;
* short-time work (apdemande/apconso): requests with monthly probability 0.15 % healthy
  (mostly weather or exceptional motives), 2 % drifting, 3.5 % distressed, 2 % critical,
  3 % in observation; 3 or 6 months for 30–100 % of the staff; hours consumed in 85 %
  of the authorised months;
* yearly accounts (Diane, 70 % of companies with ≥ 10 employees, 25 % of the others):
  margin, current ratio, debt ratio, repayment capacity… shift with the year's mean
  state (margin −4.5 points per state step) with large noise; a year is missing when the
  company failed or closed before its end;
* proceedings (procol): the opening judgment is ``Ouverture_liquidation`` (68 %),
  ``Ouverture_redressement`` (28 %) or ``Ouverture_sauvegarde`` (4 %), one line per
  establishment open that month. Liquidation closes the establishments 1–3 months later
  (headcount stops, sirene état F, sirene_ul état C, account closed in admin_urssaf),
  then ``Cloture_insuffisance_actif_liquidation`` 12–30 months later. Redressement leads
  after 6–12 months to ``Plan_continuation_redressement`` (45 %; the company survives)
  or to ``Ouverture_liquidation``; sauvegarde to ``Plan_continuation_sauvegarde``.

Deliveries. Batch ``YYMM`` holds data up to the month before ``YYMM``. The first batch
also carries ``history_months`` (default 24) months of history for the flux files
(cotisation, debit, delai, ccsf, procol) — an initial stock — and every stock file
(effectif, effectif_ent, admin_urssaf, sirene, sirene_ul, apdemande, apconso) is
re-delivered in full each month with that month's changes. Diane comes with the first
batch and every 12th. ``filter_<YYMM>.csv`` lists the SIRENs having an establishment
with at least 10 employees in the last 100 monthly columns of that batch's effectif file
(prepare-import 2022 rule); URSSAF lines of the others are filtered at import.

Broken lines (``formats``): after a clean line of a company inside the batch's
perimeter, with probability ``broken_rate`` (default 1 in 2,000), an extra corrupted
copy: wrong field count or impossible date (rejected by the import) or an unknown
SIREN/SIRET/account (filtered: accounts are absent from admin_urssaf, SIRENs from the
filter; imported with ``--no-filter`` the unknown SIREN/SIRET lines are valid records of
entities that exist nowhere else). Counts per file are in ``summary.json`` with, per file,
the counts an import with the batch's filter must report (``FileStats.expected_report``);
admin_urssaf, filter and Diane files get none (one bad admin_urssaf or filter line aborts
the import).

Streaming. Companies are simulated by blocks of 1,024 with their own random streams
(``numpy.random.default_rng([seed, block, stream])``), a few blocks at a time; lines are
appended to the monthly files and truth rows written as one parquet row group per block,
so memory is O(chunk × months), not O(establishments × months).

Failure modes: ValueError for invalid arguments; FileExistsError when ``out_dir`` exists
and is not empty; OSError from the file system.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from sf.synth.chain import chain_tables
from sf.synth.formats import (
    EXPECTED_OUTCOME,
    SOURCES,
    BlockFormatter,
    FileLines,
    diane_years,
    file_header,
    has_diane,
)
from sf.synth.truth import TRUTH_SCHEMA, truth_table
from sf.synth.world import (
    BLOCK_COMPANIES,
    Calendar,
    block_sizes,
    simulate_block,
)

__all__ = ["DEFAULT_BROKEN_RATE", "FileStats", "SynthSummary", "generate", "plan_blocks"]

DEFAULT_BROKEN_RATE = 1 / 2000
DEFAULT_HISTORY_MONTHS = 24
DEFAULT_CHUNK_COMPANIES = 2 * BLOCK_COMPANIES


@dataclass
class FileStats:
    """What was written to one delivery file: data records (header excluded, broken lines
    included), broken lines by kind, and clean lines of companies outside the batch's
    perimeter."""

    file_type: str
    lines: int = 0
    broken: dict[str, int] = field(default_factory=dict)
    out_of_perimeter: int = 0
    closed_accounts: int = 0    # admin_urssaf: rows with a closing date, inside the perimeter (information)
    records_per_line: int = 1   # Diane: one record per company and fiscal year

    @property
    def broken_total(self) -> int:
        return sum(self.broken.values())

    def expected_report(self) -> dict[str, int]:
        """Line counts a v2022 import should report for this file with the batch's filter:
        broken lines of kinds ``field_count``/``bad_date`` are rejected, ``unknown_key``
        lines and lines outside the perimeter filtered, the rest valid.

        admin_urssaf: every row designates its SIRET for some month of the batch's period
        (``date_debut`` is before the history, like prepare-import's 2014-01-01, so even a
        closed account's row does), so only rows outside the perimeter are filtered.
        Diane: one line per company (``records_per_line`` records each)."""
        if self.file_type in ("admin_urssaf", "diane"):
            return {"parsed": self.lines, "rejected": 0, "filtered": self.out_of_perimeter,
                    "valid": self.lines - self.out_of_perimeter}
        rejected = sum(n for kind, n in self.broken.items() if EXPECTED_OUTCOME[kind] == "rejected")
        filtered = self.out_of_perimeter + sum(n for kind, n in self.broken.items()
                                               if EXPECTED_OUTCOME[kind] == "filtered")
        return {"parsed": self.lines, "rejected": rejected, "filtered": filtered,
                "valid": self.lines - rejected - filtered}


@dataclass
class SynthSummary:
    """Summary of a generation. ``files[batch][file name]`` gives the :class:`FileStats`."""

    out_dir: str
    seed: int
    establishments: int
    companies: int
    months: int
    end_batch: str
    history_months: int
    broken_rate: float
    batches: list[str]
    failures: int = 0                 # companies with an opening judgment in a delivered month
    failures_after_last_batch: int = 0  # … in the 18 months after the last delivery (truth only)
    truth_rows: int = 0
    truth_positive_rows: int = 0
    files: dict[str, dict[str, FileStats]] = field(default_factory=dict)

    def totals_by_type(self) -> dict[str, FileStats]:
        """Stats summed over batches, by file type."""
        totals: dict[str, FileStats] = {}
        for per_file in self.files.values():
            for stats in per_file.values():
                total = totals.setdefault(stats.file_type, FileStats(stats.file_type))
                total.lines += stats.lines
                total.out_of_perimeter += stats.out_of_perimeter
                total.closed_accounts += stats.closed_accounts
                for kind, n in stats.broken.items():
                    total.broken[kind] = total.broken.get(kind, 0) + n
        return totals

    def to_dict(self) -> dict:
        """Plain-dict form; ``summary.json`` holds it without ``out_dir`` (so the output of
        a seed is byte-identical wherever it is written)."""
        return asdict(self)

    @staticmethod
    def from_dict(data: dict, out_dir: str | Path = "") -> SynthSummary:
        """Inverse of :meth:`to_dict` (``out_dir`` supplies the path when absent)."""
        files = {batch: {name: FileStats(**stats) for name, stats in per_file.items()}
                 for batch, per_file in data["files"].items()}
        return SynthSummary(**{"out_dir": str(out_dir), **data, "files": files})

    @staticmethod
    def load(out_dir: str | Path) -> SynthSummary:
        """Read ``summary.json`` of a generated folder."""
        path = Path(out_dir) / "summary.json"
        return SynthSummary.from_dict(json.loads(path.read_text(encoding="utf-8")), out_dir)


def plan_blocks(seed: int, establishments: int) -> list[tuple[int, np.ndarray, np.ndarray, int]]:
    """The blocks of a generation: ``(block, sites per company, size, first global
    establishment index)``; the last block is cut so the total is exactly ``establishments``."""
    plan = []
    remaining = establishments
    block = 0
    offset = 0
    while remaining > 0:
        size, sites = block_sizes(seed, block)
        cumulative = np.cumsum(sites)
        if cumulative[-1] >= remaining:
            n = int(np.searchsorted(cumulative, remaining)) + 1
            sites = sites[:n].copy()
            size = size[:n]
            sites[-1] -= int(cumulative[n - 1] - remaining)
        plan.append((block, sites, size, offset))
        offset += int(sites.sum())
        remaining -= int(sites.sum())
        block += 1
    return plan


def _validate(establishments: int, months: int, broken_rate: float, history_months: int, chunk_companies: int) -> None:
    if establishments < 1:
        raise ValueError(f"establishments must be >= 1, got {establishments}")
    if establishments > 50_000_000:
        raise ValueError(f"establishments must be <= 50,000,000 (identifier capacity), got {establishments}")
    if months < 1:
        raise ValueError(f"months must be >= 1, got {months}")
    if not 0.0 <= broken_rate < 1.0:
        raise ValueError(f"broken rate must be in [0, 1), got {broken_rate}")
    if history_months < 0:
        raise ValueError(f"history months must be >= 0, got {history_months}")
    if chunk_companies < 1:
        raise ValueError(f"chunk size must be >= 1 company, got {chunk_companies}")


class _Files:
    """Delivery files of a generation: created with their header, then appended to."""

    def __init__(self, out_dir: Path, cal: Calendar) -> None:
        self.out_dir = out_dir
        self.cal = cal
        self.paths: dict[tuple[int, str], Path] = {}
        for j, key in enumerate(cal.batches):
            folder = out_dir / key
            folder.mkdir(parents=True)
            for file_type, source in SOURCES.items():
                if file_type == "diane" and not has_diane(cal, j):
                    continue
                path = folder / source.file_name(key)
                header = file_header(file_type, cal, j)
                with open(path, "w", encoding=source.encoding, newline="") as stream:
                    if file_type == "diane":
                        stream.write("\ufeff")  # Diane exports start with a BOM
                    if header is not None:
                        stream.write(header + source.newline)
                self.paths[(j, file_type)] = path

    def append(self, j: int, file_type: str, lines: list[str]) -> None:
        if not lines:
            return
        source = SOURCES[file_type]
        with open(self.paths[(j, file_type)], "a", encoding=source.encoding, newline="") as stream:
            stream.write(source.newline.join(lines) + source.newline)


def generate(out_dir: Path, establishments: int, months: int, seed: int, end_batch: str = "2312",
             broken_rate: float = DEFAULT_BROKEN_RATE, progress: Callable[[int, int], None] | None = None,
             *, history_months: int = DEFAULT_HISTORY_MONTHS,
             chunk_companies: int = DEFAULT_CHUNK_COMPANIES) -> SynthSummary:
    """Generate the delivery folders, ``truth.parquet``, ``summary.json`` and ``README.txt``.

    Inputs: output folder (created; must be absent or empty), number of establishments,
    number of monthly batches ending with ``end_batch`` (YYMM), seed, probability of a
    broken line after a clean one (0 disables), optional ``progress(done, total)``
    callback (establishments), months of history delivered with the first batch, and the
    number of companies simulated at once (memory/speed trade-off; output unchanged).
    Output: a :class:`SynthSummary` (also written to ``summary.json``).
    """
    _validate(establishments, months, broken_rate, history_months, chunk_companies)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: output folder is not empty")
    cal = Calendar.for_batches(end_batch, months, history_months)
    tables = chain_tables()
    plan = plan_blocks(seed, establishments)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = _Files(out_dir, cal)
    summary = SynthSummary(
        out_dir=str(out_dir), seed=seed, establishments=establishments,
        companies=sum(len(sites) for _, sites, _, _ in plan), months=months, end_batch=end_batch,
        history_months=history_months, broken_rate=broken_rate, batches=list(cal.batches),
    )
    stats: dict[tuple[int, str], FileStats] = {}
    for j, key in enumerate(cal.batches):
        summary.files[key] = {}
        for file_type, source in SOURCES.items():
            if (j, file_type) in files.paths:
                stats[(j, file_type)] = summary.files[key].setdefault(source.file_name(key), FileStats(file_type))
        if (j, "diane") in stats:
            stats[(j, "diane")].records_per_line = len(diane_years(cal, j))
    blocks_per_chunk = max(1, chunk_companies // BLOCK_COMPANIES)
    done = 0
    with pq.ParquetWriter(out_dir / "truth.parquet", TRUTH_SCHEMA) as truth_writer:
        for start in range(0, len(plan), blocks_per_chunk):
            chunk = plan[start:start + blocks_per_chunk]
            worlds = [simulate_block(seed, block, sites, size, cal, tables, offset)
                      for block, sites, size, offset in chunk]
            formatters = [BlockFormatter(world, seed, block, broken_rate)
                          for world, (block, _, _, _) in zip(worlds, chunk)]
            for j in range(len(cal.batches)):
                merged: dict[str, list[str]] = {}
                filter_sirens: list[str] = []
                for formatter in formatters:
                    per_file, sirens = formatter.batch(j)
                    filter_sirens.extend(sirens)
                    for file_type, content in per_file.items():
                        _account(stats[(j, file_type)], content)
                        merged.setdefault(file_type, []).extend(content.lines)
                for file_type, lines in merged.items():
                    files.append(j, file_type, lines)
                files.append(j, "filter", filter_sirens)
                stats[(j, "filter")].lines += len(filter_sirens)
            for world in worlds:
                table = truth_table(world, tables)
                truth_writer.write_table(table, row_group_size=max(1, table.num_rows))
                summary.truth_rows += table.num_rows
                summary.truth_positive_rows += int(np.asarray(table.column("outcome_18")).sum())
                _count_failures(summary, world, cal)
            done += sum(world.n_establishments for world in worlds)
            if progress is not None:
                progress(done, establishments)
    document = summary.to_dict()
    del document["out_dir"]
    (out_dir / "summary.json").write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    (out_dir / "README.txt").write_text(_readme(summary), encoding="utf-8")
    return summary


def _account(stats: FileStats, content: FileLines) -> None:
    stats.lines += len(content.lines)
    stats.out_of_perimeter += content.out_of_perimeter
    stats.closed_accounts += content.closed_in_perimeter
    for kind, n in content.broken.items():
        stats.broken[kind] = stats.broken.get(kind, 0) + n


def _count_failures(summary: SynthSummary, world, cal: Calendar) -> None:
    fail = world.fail_step
    for c in np.nonzero(fail >= 0)[0]:
        lo, hi = int(world.first_site[c]), int(world.first_site[c] + world.n_sites[c])
        concerned = ((world.open_from[lo:hi] <= fail[c]) & (fail[c] < world.open_to[lo:hi])).any()
        if not concerned:
            continue
        if fail[c] < cal.observed:
            summary.failures += 1
        else:
            summary.failures_after_last_batch += 1


def _readme(summary: SynthSummary) -> str:
    totals = summary.totals_by_type()
    lines = [
        "Synthetic Signaux Faibles deliveries (sf synth)",
        "",
        f"seed {summary.seed}; {summary.establishments} establishments of {summary.companies} companies;",
        (f"{summary.months} monthly batches {summary.batches[0]} … {summary.batches[-1]}; the first batch also "
         f"carries {summary.history_months} months of history for the flux files."),
        (f"Companies entering insolvency proceedings: {summary.failures} within the deliveries, "
         f"{summary.failures_after_last_batch} in the 18 months after (known only to truth.parquet)."),
        f"truth.parquet: {summary.truth_rows} establishment-months, {summary.truth_positive_rows} with outcome_18.",
        "",
        f"Broken lines (rate {summary.broken_rate:g} after a clean line of a company inside the batch's perimeter):",
        "field_count and bad_date lines are rejected by the import, unknown_key lines filtered;",
        "admin_urssaf, filter and Diane files carry none.",
        "",
        f"{'file type':<14}{'lines':>12}{'field_count':>13}{'bad_date':>10}{'unknown_key':>13}{'outside perimeter':>19}",
    ]
    for file_type, total in sorted(totals.items()):
        lines.append(f"{file_type:<14}{total.lines:>12}{total.broken.get('field_count', 0):>13}"
                     f"{total.broken.get('bad_date', 0):>10}{total.broken.get('unknown_key', 0):>13}"
                     f"{total.out_of_perimeter:>19}")
    lines += ["", "Files with broken lines:"]
    for batch, per_file in summary.files.items():
        for name, stats in per_file.items():
            if stats.broken:
                detail = ", ".join(f"{kind} {n}" for kind, n in sorted(stats.broken.items()))
                lines.append(f"  {batch}/{name}: {detail}")
    lines += ["", "Per-batch and per-file counts, with the line counts an import should report: summary.json.",
              "Generative process: docstring of sf.synth.deliveries.", ""]
    return "\n".join(lines)

