"""effectif: monthly headcount per establishment (docs/importers.md §3.6).

File ``Sigfaible_effectif_siret.csv`` (any name containing ``effectif_``): ``;``-separated,
strict quotes, wide layout ``compte;siret;rais_soc;ape_ins;dep;eff201011;…;base;UR_EMET``.
Required columns (case-insensitive): ``siret`` (key), ``compte``. Period columns: every
header name starting with ``eff`` (case-sensitive), period = ``UrssafToPeriod(name[3:9])``
start (``eff201631`` = July 2016).

Per line and period column: an empty cell is skipped; otherwise every non-digit is removed
and the rest parsed as an integer (error recorded when nothing is left); a value > 0 emits
a tuple (zeros are dropped, v2022). Errors do not prevent the other columns' tuples: such
a line is rejected AND its tuples are stored, as in the original.

Deviation: an ``eff…`` header whose period cannot be parsed (shorter than ``effYYYYQM`` or
not numeric) makes the file fatal (the original crashed on short names and used year 1 for
the others).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sf.importers.convert import ConversionError, effectif_int, urssaf_period
from sf.importers.reading import FatalFileError, GoCsvReader, Header
from sf.importers.records import ParseContext, ParsedLine, SourceRecord, Tuple

__all__ = ["PARSER", "EffectifParser", "EffectifRecord", "period_columns"]


class EffectifRecord(SourceRecord):
    """Stored headcount of one establishment for one month."""

    numero_compte: str
    periode: datetime
    effectif: int


def period_columns(names: list[str], path: str) -> list[tuple[int, datetime]]:
    """``(column index, period start)`` of every ``eff…`` column of a headcount header.

    Raises FatalFileError naming the column when its period is not ``effYYYYQM``/``effYYQM``.
    """
    columns: list[tuple[int, datetime]] = []
    for index, name in enumerate(names):
        if not name.startswith("eff"):
            continue
        code = name[3:9]
        try:
            if len(code) != 6:
                raise ConversionError("valeur non autorisée")
            start = urssaf_period(code).start
        except ConversionError as exc:
            raise FatalFileError(path, f"colonne de période invalide {name!r} (attendu effAAAATM): {exc}") from exc
        columns.append((index, start))
    return columns


class EffectifParser:
    """Parser of effectif files (module instance: ``PARSER``)."""

    file_type = "effectif"
    tuple_type = "effectif"

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
        """One ParsedLine per record; FatalFileError when the file cannot be read, a
        required column is missing or a period column name is invalid."""
        with GoCsvReader(path, sep=";", lazy_quotes=False) as reader:
            header = Header(reader.header, case_insensitive=True, path=reader.path)
            i_siret, i_compte = header.require("siret", "compte").values()
            periods = period_columns(reader.header, reader.path)
            construct = EffectifRecord.from_converted
            for record in reader:
                row = record.fields
                if row is None:
                    yield ParsedLine(record.number, [], [record.error or ""])
                    continue
                siret = row[i_siret]
                compte = row[i_compte]
                tuples: list[Tuple] = []
                errors: list[str] = []
                for index, start in periods:
                    cell = row[index]
                    if cell == "":
                        continue
                    try:
                        value = effectif_int(cell)
                    except ConversionError as exc:
                        errors.append(str(exc))
                        continue
                    if value > 0:
                        item = construct({"numero_compte": compte, "periode": start, "effectif": value})
                        tuples.append(Tuple("effectif", siret, "etablissement", item))
                yield ParsedLine(record.number, tuples, errors)


PARSER = EffectifParser()
