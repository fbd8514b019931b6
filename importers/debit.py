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

from collections.abc import Iterator
from datetime import datetime

from sf.importers.convert import (
    ConversionError,
    Periode,
    parse_bool,
    parse_float,
    parse_int,
    urssaf_date,
    urssaf_period,
)
from sf.importers.reading import GoCsvReader
from sf.importers.records import ParseContext, ParsedLine, SourceRecord, Tuple
from sf.importers.urssaf import ZERO_TIME, open_urssaf

__all__ = ["PARSER", "DebitParser", "DebitRecord"]


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


def _cents(value: str, column: str, errors: list[str]) -> float:
    """Euros from a cents amount; appends the error and returns 0.0 when invalid/empty."""
    try:
        amount = parse_float(value)
    except ConversionError as exc:
        errors.append(str(exc))
        return 0.0
    if amount is None:
        errors.append(f"{column}: valeur manquante")
        return 0.0
    return amount / 100


class DebitParser:
    """Parser of debit files (module instance: ``PARSER``)."""

    file_type = "debit"
    tuple_type = "debit"

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
        """One ParsedLine per record; FatalFileError when the file cannot be read, a column
        is missing or (v2022 layout) the batch has no usable account mapping."""
        with GoCsvReader(path, sep=";", lazy_quotes=False) as reader:
            urssaf = open_urssaf(reader, ctx, COLUMNS)
            idx, i_siret, mapping = urssaf.positions, urssaf.siret_index, urssaf.mapping
            construct = DebitRecord.from_converted
            for record in reader:
                row = record.fields
                if row is None:
                    yield ParsedLine(record.number, [], [record.error or ""])
                    continue
                errors: list[str] = []
                compte = row[idx["num_cpte"]]
                periode: Periode | None
                try:
                    periode = urssaf_period(row[idx["Periode"]])
                    start = periode.start
                except ConversionError as exc:
                    errors.append(str(exc))
                    periode, start = None, ZERO_TIME
                if mapping is not None:
                    siret = mapping.siret_for(compte, start)
                    if siret is None:
                        yield ParsedLine(record.number, filtered=True)
                        continue
                else:
                    siret = row[i_siret]  # type: ignore[index]
                date_traitement = None
                try:
                    date_traitement = urssaf_date(row[idx["Dt_trt_ecn"]])
                except ConversionError as exc:
                    errors.append(str(exc))
                part_ouvriere = _cents(row[idx["Mt_PO"]], "Mt_PO", errors)
                part_patronale = _cents(row[idx["Mt_PP"]], "Mt_PP", errors)
                numero_historique = etat_compte = None
                try:
                    numero_historique = parse_int(row[idx["Num_Hist_Ecn"]])
                except ConversionError as exc:
                    errors.append(str(exc))
                try:
                    etat_compte = parse_int(row[idx["Etat_cpte"]])
                except ConversionError as exc:
                    errors.append(str(exc))
                recours = False
                try:
                    recours = parse_bool(row[idx["Recours_en_cours"]])
                except ConversionError as exc:
                    errors.append(str(exc))
                if errors:
                    yield ParsedLine(record.number, [], errors)
                    continue
                item = construct({
                    "numero_compte": compte,
                    "numero_ecart_negatif": row[idx["Num_Ecn"]],
                    "date_traitement": date_traitement,
                    "part_ouvriere": part_ouvriere,
                    "part_patronale": part_patronale,
                    "numero_historique": numero_historique,
                    "etat_compte": etat_compte,
                    "code_procedure_collective": row[idx["Cd_pro_col"]],
                    "periode": periode,
                    "code_operation_ecart_negatif": row[idx["Cd_op_ecn"]],
                    "code_motif_ecart_negatif": row[idx["Motif_ecn"]],
                    "recours_en_cours": recours,
                })
                yield ParsedLine(record.number, [Tuple("debit", siret, "etablissement", item)])


PARSER = DebitParser()
