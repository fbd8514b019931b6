"""procol: insolvency proceedings per establishment (docs/importers.md §3.8).

File ``Sigfaible_pcoll.csv[.gz]``: ``;``-separated, lazy quotes (v2022), header
case-insensitive; required ``dt_effet`` (``DDMonYYYY``, e.g. ``24FEB2014``, month any
case), ``lib_actx_stdx``, ``siret`` (key).

``lib_actx_stdx`` is lowercased and split on ``_``: the first token containing
``liquidation``, ``redressement`` or ``sauvegarde`` is ``action_procol``; the other tokens,
re-joined with ``_``, are ``stade_procol`` (``Solde_procedure_redressement`` →
``redressement`` / ``solde_procedure``). No such token → both empty, no error (as in the
original). An invalid date rejects the line.
"""

from __future__ import annotations

import re
from datetime import datetime

from sf.importers.convert import parse_date
from sf.importers.records import SourceRecord
from sf.importers.table import Emitted, Line, TableParser

__all__ = ["COLUMNS", "PARSER", "ProcolRecord", "split_action_stade"]

COLUMNS = ("dt_effet", "lib_actx_stdx", "siret")

_ACTION = re.compile(r"liquidation|redressement|sauvegarde")


class ProcolRecord(SourceRecord):
    """Stored procol: ``action_procol`` (liquidation, redressement, sauvegarde) and
    ``stade_procol`` (ouverture, solde_procedure, plan_continuation…)."""

    date_effet: datetime
    action_procol: str
    stade_procol: str


def split_action_stade(label: str) -> tuple[str, str]:
    """``(action_procol, stade_procol)`` of a ``lib_actx_stdx`` label."""
    tokens = label.lower().split("_")
    for position, token in enumerate(tokens):
        if _ACTION.search(token):
            return token, "_".join(tokens[:position] + tokens[position + 1:])
    return "", ""


def row(line: Line) -> Emitted:
    """The SIRET and record of one line: an invalid ``dt_effet`` rejects it."""
    action, stade = split_action_stade(line["lib_actx_stdx"])
    return line["siret"], ProcolRecord.build(date_effet=parse_date(line["dt_effet"], "02Jan2006"),
                                             action_procol=action, stade_procol=stade)


PARSER = TableParser("procol", scope="etablissement", columns=COLUMNS, row=row, lazy_quotes=True)
