"""debit: URSSAF negative gaps (unpaid contributions) per account (docs/importers.md §3.3).

Files whose name contains ``_debits``: ``;``-separated, strict quotes, exact header (v2022).
Amounts ``Mt_PO``/``Mt_PP`` are in cents in the file and stored in euros. v2022 layout: key
= SIRET of the account at the start of ``Periode`` (admin_urssaf mapping; no SIRET → line
*filtered*); HEAD layout (a ``Siret`` column): key = that column, header case-insensitive.

Per line, in the original's order: period (error recorded, lookup with Go's zero date when
invalid), mapping lookup, ``Dt_trt_ecn`` (URSSAF date), ``Mt_PO``, ``Mt_PP`` (an empty
amount is an error here; the original crashed), ``Num_Hist_Ecn`` and ``Etat_cpte`` (int or
None), ``Recours_en_cours`` (bool). Any error → no tuple.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sf.importers.convert import (
    ConversionError,
    Periode,
    parse_bool,
    parse_float,
    parse_int,
    urssaf_date,
)
from sf.importers.records import SourceRecord
from sf.importers.table import Line
from sf.importers.urssaf import UrssafParser, period_row

__all__ = ["COLUMNS", "PARSER", "DebitRecord"]


class DebitRecord(SourceRecord):
    """Stored debit (original names). Codes are kept as strings; amounts in euros."""

    numero_compte: str
    numero_ecart_negatif: str
    date_traitement: datetime
    part_ouvriere: float
    part_patronale: float
    numero_historique: int | None = None
    etat_compte: int | None = None
    code_procedure_collective: str
    periode: Periode
    code_operation_ecart_negatif: str
    code_motif_ecart_negatif: str
    recours_en_cours: bool


COLUMNS = ("num_cpte", "Num_Ecn", "Dt_trt_ecn", "Mt_PO", "Mt_PP", "Num_Hist_Ecn", "Etat_cpte", "Cd_pro_col",
           "Periode", "Cd_op_ecn", "Motif_ecn", "Recours_en_cours")


def _euros(column: str) -> Callable[[str], float]:
    """Converter of the cents amounts of ``column`` to euros; empty is an error here."""

    def convert(text: str) -> float:
        amount = parse_float(text)
        if amount is None:
            raise ConversionError(f"{column}: valeur manquante")
        return amount / 100

    return convert


_PART_OUVRIERE, _PART_PATRONALE = _euros("Mt_PO"), _euros("Mt_PP")


def _record(line: Line, compte: str, periode: Periode | None) -> DebitRecord:
    return DebitRecord.build(
        numero_compte=compte,
        numero_ecart_negatif=line["Num_Ecn"],
        date_traitement=line.convert(urssaf_date, line["Dt_trt_ecn"]),
        part_ouvriere=line.convert(_PART_OUVRIERE, line["Mt_PO"]),
        part_patronale=line.convert(_PART_PATRONALE, line["Mt_PP"]),
        numero_historique=line.convert(parse_int, line["Num_Hist_Ecn"]),
        etat_compte=line.convert(parse_int, line["Etat_cpte"]),
        code_procedure_collective=line["Cd_pro_col"],
        periode=periode,
        code_operation_ecart_negatif=line["Cd_op_ecn"],
        code_motif_ecart_negatif=line["Motif_ecn"],
        recours_en_cours=line.convert(parse_bool, line["Recours_en_cours"]),
    )


PARSER = UrssafParser("debit", columns=COLUMNS, row=period_row("num_cpte", "Periode", _record))
