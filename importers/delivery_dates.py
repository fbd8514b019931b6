"""A batch's period from its delivery: ``date_debut`` and ``date_fin_effectif`` (README, "The
monthly flow, month by month").

The cheapest reliable dated source of a delivery is its headcount files (``effectif``, else
``effectif_ent``): their header names every month they cover (``eff201801`` … ``eff202312``,
``effYYYYQM`` with M the month within quarter Q), and a column holds a cell for every
establishment declared that month. prepare-import already read ``date_fin_effectif`` there
(the last ``eff…`` column with at least one value); we read ``date_debut`` the same way (the
first such column). Other files (cotisation, debit, …) hold dates too but only in their rows,
so dating a delivery from them would mean reading hundreds of megabytes at ``sf batch add``.

:func:`choose_batch_dates` applies the rules, first match wins:

* ``date_debut``: explicit value → the previous batch's (a monthly delivery does not restate
  the history: the series start stays the first batch's) → the delivery's first headcount
  month → 2014-01-01 (prepare-import's fixed default) with a warning;
* ``date_fin_effectif``: explicit value → the delivery's last headcount month → the previous
  batch's → none (features then use ``date_fin``) with a warning.

Every choice comes with a sentence naming its source (file and column, or batch), for the
console and the Journal. :func:`define_batch` builds a batch definition with these dates
(``sf batch add``, ``sf demo``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePath

from pymongo.database import Database
from sf.engine.batches import DEFAULT_DATE_DEBUT, Batch, make_batch, previous_batch
from sf.engine.errors import UsageError
from sf.importers.effectif import period_columns
from sf.importers.reading import READ_ERRORS, FatalFileError, GoCsvReader, read_failure, strip_scheme

__all__ = ["BatchDates", "HeadcountMonths", "choose_batch_dates", "define_batch", "delivery_headcount_months",
           "header_first_month", "headcount_months"]

#: Before any batch key (YY ≥ 00): lets make_batch check a definition whose date_debut is not known yet.
_PLACEHOLDER_DEBUT = date(1900, 1, 1)

#: File types whose header names the months they hold, in order of preference.
HEADCOUNT_TYPES = ("effectif", "effectif_ent")


@dataclass(frozen=True)
class HeadcountMonths:
    """First and last month holding at least one headcount in a headcount file (or files)."""

    first: datetime
    last: datetime
    first_source: str  # "<file name>, column <eff…>"
    last_source: str


def _name(path: str) -> str:
    return PurePath(strip_scheme(path)[0]).name


def _open(path: str) -> GoCsvReader:
    # Lazy quotes as prepare-import's perimeter and date_fin_effectif reader.
    return GoCsvReader(path, sep=";", lazy_quotes=True)


def header_first_month(path: str) -> tuple[datetime, str] | None:
    """First month named by a headcount file's header (its header line only) and the
    ``"<file>, column <name>"`` it was read from; None when the header has no ``eff…`` column.

    The month may hold no value (an empty leading column): this is a lower bound of the
    first headcount month, read without scanning the file. Raises FatalFileError when the
    file cannot be opened or its header is unreadable or has an invalid ``eff…`` name.
    """
    with _open(path) as reader:
        columns = period_columns(reader.header, reader.path)
        if not columns:
            return None
        index, start = min(columns, key=lambda column: column[1])
        return start, f"{_name(path)}, column {reader.header[index]}"


def headcount_months(path: str) -> HeadcountMonths | None:
    """First and last month of a headcount file that hold at least one non-empty cell.

    Reads lines until both the earliest and the latest ``eff…`` columns of the header have
    been seen filled (usually the first lines); a file whose last columns are empty
    everywhere (delivery lag) is read to the end, as prepare-import did. Lines with a wrong
    number of fields are ignored. None when no ``eff…`` cell holds anything (or there is no
    such column). Raises FatalFileError when the file cannot be read.
    """
    with _open(path) as reader:
        columns = sorted(period_columns(reader.header, reader.path), key=lambda column: column[1])
        if not columns:
            return None
        width = len(reader.header)
        lo, hi = len(columns), -1  # positions in ``columns`` of the earliest/latest filled month
        try:
            for _number, _physical, fields, error in reader.rows():
                if error is not None or fields is None or len(fields) != width:
                    continue
                for position in range(lo):
                    if fields[columns[position][0]].strip():
                        lo = position
                        break
                for position in range(len(columns) - 1, hi, -1):
                    if fields[columns[position][0]].strip():
                        hi = position
                        break
                if lo == 0 and hi == len(columns) - 1:
                    break
        except READ_ERRORS as exc:
            raise read_failure(reader.path, exc) from exc
        if hi < 0:
            return None
        header = reader.header
        return HeadcountMonths(first=columns[lo][1], last=columns[hi][1],
                               first_source=f"{_name(path)}, column {header[columns[lo][0]]}",
                               last_source=f"{_name(path)}, column {header[columns[hi][0]]}")


def delivery_headcount_months(files: Mapping[str, Sequence[str]]) -> HeadcountMonths | None:
    """:func:`headcount_months` over the ``effectif`` files of a batch (all of them: e.g. a
    mainland and an overseas file), else over its ``effectif_ent`` files; None when neither
    type is listed or none holds a headcount. FatalFileError from a file that cannot be read."""
    for file_type in HEADCOUNT_TYPES:
        found = [months for path in files.get(file_type, ()) if (months := headcount_months(path)) is not None]
        if found:
            first = min(found, key=lambda m: m.first)
            last = max(found, key=lambda m: m.last)
            return HeadcountMonths(first.first, last.last, first.first_source, last.last_source)
    return None


@dataclass
class BatchDates:
    """Dates chosen for a batch (None: the batch's default) with one sentence per date saying
    where it comes from (``notes``) and the sentences the user must see as warnings."""

    date_debut: date | None
    date_fin_effectif: date | None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _day(value: datetime | date) -> str:
    return value.strftime("%Y-%m-%d")


def choose_batch_dates(files: Mapping[str, Sequence[str]], previous: Batch | None, *,
                       date_debut: date | None = None, date_fin_effectif: date | None = None) -> BatchDates:
    """Apply the rules of the module docstring to a batch's ``files`` (type → paths, as
    stored) given the ``previous`` batch (None for the first) and the explicit dates.

    The headcount files are read only when a date is still to be found. Raises
    FatalFileError when a headcount file that must be read cannot be.
    """
    months = None
    if (date_debut is None and previous is None) or date_fin_effectif is None:
        months = delivery_headcount_months(files)
    dates = BatchDates(date_debut, date_fin_effectif)
    if date_debut is not None:
        dates.notes.append(f"date_debut {_day(date_debut)}: given with --date-debut")
    elif previous is not None:
        dates.date_debut = previous.param.date_debut.date()
        dates.notes.append(f"date_debut {_day(dates.date_debut)}: from the previous batch {previous.key} "
                           "(a monthly delivery does not restate the history)")
    elif months is not None:
        dates.date_debut = months.first.date()
        dates.notes.append(f"date_debut {_day(dates.date_debut)}: first month with a headcount "
                           f"({months.first_source})")
    else:
        dates.warnings.append(f"date_debut {_day(DEFAULT_DATE_DEBUT)} (the default): no previous batch and no "
                              "headcount file (effectif, effectif_ent) with a month of data in the delivery; "
                              "give --date-debut if the data start later")
    if date_fin_effectif is not None:
        dates.notes.append(f"date_fin_effectif {_day(date_fin_effectif)}: given with --date-fin-effectif")
    elif months is not None:
        dates.date_fin_effectif = months.last.date()
        dates.notes.append(f"date_fin_effectif {_day(dates.date_fin_effectif)}: last month with a headcount "
                           f"({months.last_source})")
    elif previous is not None and previous.param.date_fin_effectif is not None:
        dates.date_fin_effectif = previous.param.date_fin_effectif.date()
        dates.notes.append(f"date_fin_effectif {_day(dates.date_fin_effectif)}: from the previous batch "
                           f"{previous.key} (no headcount in this delivery)")
    else:
        dates.warnings.append("date_fin_effectif not set: no headcount in the delivery nor in a previous batch; "
                              "features will use date_fin")
    return dates


def define_batch(db: Database, key: str, *, files: Mapping[str, Sequence[str]] | None = None,
                 complete_types: Sequence[str] | None = None, date_debut: date | None = None,
                 date_fin: date | None = None, date_fin_effectif: date | None = None, name: str | None = None,
                 stock_absent: str = "keep") -> tuple[Batch, BatchDates]:
    """The definition of batch ``key`` (not saved) with its dates chosen by
    :func:`choose_batch_dates` from its files and the batch before it in ``db``.

    Arguments as :func:`sf.engine.batches.make_batch`, whose checks run first (bad key,
    unknown type, missing file: :class:`UsageError`). A headcount file that cannot be read,
    or dates that leave no month before ``date_fin``, are a :class:`UsageError` naming the
    file or the source of each date.
    """
    paths = {file_type: list(values) for file_type, values in (files or {}).items()}
    # Key, files and options first, before any file is read; date_debut is a placeholder unless
    # given (the 2014 default would refuse a batch before 2014 the delivery dates correctly).
    checked = make_batch(key, files=paths, complete_types=list(complete_types or []),
                         date_debut=date_debut or _PLACEHOLDER_DEBUT, date_fin=date_fin,
                         date_fin_effectif=date_fin_effectif, name=name, stock_absent=stock_absent)
    try:
        dates = choose_batch_dates(checked.files, previous_batch(db, key), date_debut=date_debut,
                                   date_fin_effectif=date_fin_effectif)
    except FatalFileError as exc:
        raise UsageError(f"batch {key}: cannot read the months of a headcount file: {exc}",
                         "fix the file, or give both --date-debut and --date-fin-effectif") from None
    try:
        batch = make_batch(key, files=paths, complete_types=list(complete_types or []),
                           date_debut=dates.date_debut, date_fin=date_fin, date_fin_effectif=dates.date_fin_effectif,
                           name=name, stock_absent=stock_absent)
    except UsageError as exc:
        raise UsageError(f"batch {key}: {exc.message}", "; ".join(dates.notes) or None) from None
    return batch, dates
