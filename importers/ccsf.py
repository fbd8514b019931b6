"""ccsf: CCSF debt-rescheduling procedures per URSSAF account (docs/importers.md §3.5).

File ``Sigfaible_ccsf.csv[.gz]``: ``;``-separated, strict quotes, exact header (v2022).
Columns ``Compte``, ``Date_de_traitement`` (URSSAF date ``YYYYMMDD - 19000000``),
``Code_externe_stade``, ``Code_externe_action``. v2022 layout: key = SIRET of the account
at the processing date (admin_urssaf mapping; no SIRET → line *filtered*); HEAD layout (a
``Siret`` column): key = that column, header case-insensitive.

Per line: an invalid date rejects the line (no lookup); otherwise lookup and tuple.
The account number is not stored (as in the original, whose schema forbids it).
"""

from __future__ import annotations

from datetime import datetime

from sf.importers.convert import urssaf_date
from sf.importers.records import SourceRecord
from sf.importers.table import FILTERED, Emitted, Line
from sf.importers.urssaf import UrssafParser, account_siret

__all__ = ["COLUMNS", "PARSER", "CcsfRecord"]


class CcsfRecord(SourceRecord):
    """Stored ccsf: ``stade`` (DEBUT, REFUS, APPROB, FIN, REJ) and ``action`` (CCSF)."""

    date_traitement: datetime
    stade: str
    action: str


COLUMNS = ("Compte", "Date_de_traitement", "Code_externe_stade", "Code_externe_action")


def row(line: Line) -> Emitted:
    """The SIRET and record of one line: an invalid date rejects it before the lookup."""
    date_traitement = urssaf_date(line["Date_de_traitement"])
    siret = account_siret(line, line["Compte"], date_traitement)
    if siret is None:
        return FILTERED
    return siret, CcsfRecord.build(date_traitement=date_traitement, stade=line["Code_externe_stade"],
                                   action=line["Code_externe_action"])


PARSER = UrssafParser("ccsf", columns=COLUMNS, row=row)
