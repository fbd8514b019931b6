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

from collections.abc import Iterator
from datetime import datetime

from sf.importers.convert import ConversionError, urssaf_date
from sf.importers.reading import GoCsvReader
from sf.importers.records import ParseContext, ParsedLine, SourceRecord, Tuple
from sf.importers.urssaf import open_urssaf

__all__ = ["PARSER", "CcsfParser", "CcsfRecord"]


class CcsfRecord(SourceRecord):
    """Stored ccsf: ``stade`` (DEBUT, REFUS, APPROB, FIN, REJ) and ``action`` (CCSF)."""

    date_traitement: datetime
    stade: str
    action: str


COLUMNS = ("Compte", "Date_de_traitement", "Code_externe_stade", "Code_externe_action")


class CcsfParser:
    """Parser of ccsf files (module instance: ``PARSER``)."""

    file_type = "ccsf"
    tuple_type = "ccsf"

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
        """One ParsedLine per record; FatalFileError when the file cannot be read, a column
        is missing or (v2022 layout) the batch has no usable account mapping."""
        with GoCsvReader(path, sep=";", lazy_quotes=False) as reader:
            urssaf = open_urssaf(reader, ctx, COLUMNS)
            i_compte, i_date, i_stade, i_action = urssaf.positions.values()
            i_siret, mapping = urssaf.siret_index, urssaf.mapping
            construct = CcsfRecord.from_converted
            for record in reader:
                row = record.fields
                if row is None:
                    yield ParsedLine(record.number, [], [record.error or ""])
                    continue
                try:
                    date_traitement = urssaf_date(row[i_date])
                except ConversionError as exc:
                    yield ParsedLine(record.number, [], [str(exc)])
                    continue
                if mapping is not None:
                    siret = mapping.siret_for(row[i_compte], date_traitement)
                    if siret is None:
                        yield ParsedLine(record.number, filtered=True)
                        continue
                else:
                    siret = row[i_siret]  # type: ignore[index]
                item = construct({"date_traitement": date_traitement, "stade": row[i_stade], "action": row[i_action]})
                yield ParsedLine(record.number, [Tuple("ccsf", siret, "etablissement", item)])


PARSER = CcsfParser()
