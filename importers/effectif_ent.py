"""effectif_ent: monthly headcount per company (docs/importers.md §3.7).

File ``Sigfaible_effectif_siren.csv[.gz]``: same wide layout as effectif with ``siren``
(key, case-insensitive, required) instead of ``siret``; ``;``-separated, strict quotes.
Each non-empty ``eff…`` cell: non-digits removed, parsed as a float then truncated to an
int (error recorded when nothing is left); a value > 0 emits a tuple (v2022). Errors do
not prevent the other columns' tuples (line rejected, tuples stored).
An invalid ``eff…`` column name makes the file fatal (see ``sf.importers.effectif``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sf.importers.convert import ConversionError, effectif_float
from sf.importers.effectif import period_columns
from sf.importers.reading import GoCsvReader, Header
from sf.importers.records import ParseContext, ParsedLine, SourceRecord, Tuple

__all__ = ["PARSER", "EffectifEntParser", "EffectifEntRecord"]


class EffectifEntRecord(SourceRecord):
    """Stored headcount of one company for one month (``effectif``, as in the original)."""

    periode: datetime
    effectif: int


class EffectifEntParser:
    """Parser of effectif_ent files (module instance: ``PARSER``)."""

    file_type = "effectif_ent"
    tuple_type = "effectif_ent"

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
        """One ParsedLine per record; FatalFileError when the file cannot be read, the
        ``siren`` column is missing or a period column name is invalid."""
        with GoCsvReader(path, sep=";", lazy_quotes=False) as reader:
            header = Header(reader.header, case_insensitive=True, path=reader.path)
            i_siren = header.require("siren")["siren"]
            periods = period_columns(reader.header, reader.path)
            construct = EffectifEntRecord.from_converted
            for record in reader:
                row = record.fields
                if row is None:
                    yield ParsedLine(record.number, [], [record.error or ""])
                    continue
                siren = row[i_siren]
                tuples: list[Tuple] = []
                errors: list[str] = []
                for index, start in periods:
                    cell = row[index]
                    if cell == "":
                        continue
                    try:
                        value = int(effectif_float(cell))
                    except ConversionError as exc:
                        errors.append(str(exc))
                        continue
                    if value > 0:
                        tuples.append(Tuple("effectif_ent", siren, "entreprise",
                                            construct({"periode": start, "effectif": value})))
                yield ParsedLine(record.number, tuples, errors)


PARSER = EffectifEntParser()
