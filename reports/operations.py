"""The report step as a library operation: ``sf report`` calls :func:`write_ops_report`."""

from __future__ import annotations

from pathlib import Path

from pymongo.database import Database
from sf.engine.journal import journal_run
from sf.engine.staleness import stale_outputs

from .ops_report import OpsReport, gather_ops_report
from .ops_report_page import render_ops_report


def write_ops_report(db: Database, batch_key: str, out: Path) -> OpsReport:
    """Write the operations report of batch ``batch_key`` as one self-contained HTML page
    ``out`` (:func:`~.ops_report.gather_ops_report`, :func:`~.ops_report_page.render_ops_report`),
    with a warning for each output of the batch made stale by a later change of RawData.

    Output: the :class:`~.ops_report.OpsReport` shown (``summary()`` holds its headline figures).

    Journal: one run ``report`` (args ``batch, out``; no lock: it changes no data) whose
    counts are the headline figures. The run is not attached to the batch (its ``batch`` is
    empty): the report lists the batch's runs, and must not list itself or earlier reports.
    Failure modes: :class:`~sf.engine.errors.UsageError` for an undefined batch or a batch
    with nothing to report; ``OSError`` when ``out`` cannot be written; each leaves a failed run.
    """
    with journal_run(db, "report", {"batch": batch_key, "out": out}) as run:
        data = gather_ops_report(db, batch_key)
        data.warnings.extend(
            f"{s.collection} du lot {s.batch} (calculés le {s.made_at:%Y-%m-%d %H:%M}) périmés : RawData a changé "
            f"depuis ({s.cause}) ; relancer {s.remedy}." for s in stale_outputs(db, batch_key))
        Path(out).write_text(render_ops_report(data), encoding="utf-8")
        run.counts = data.summary()
    return data
