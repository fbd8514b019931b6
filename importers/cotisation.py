"""cotisation: URSSAF contributions due and paid per account and period (spec §3.2).

File ``Sigfaible_cotisdues.csv[.gz]``: ``;``-separated, lazy quotes. Columns used
``Compte``, ``periode`` (``YYQM``/``YYYYQM``), ``enc_direct`` (paid), ``cotis_due`` (due),
amounts in euros with ``,`` or ``.`` decimals. v2022 layout: exact header, key = SIRET of
the account at the period start (admin_urssaf mapping; no SIRET → line *filtered*). HEAD
layout (a ``Siret`` column): key = that column, header case-insensitive.

Per line: an invalid period is an error (the lookup then uses Go's zero date, as the
original did); amount errors are errors; a tuple is emitted only for an error-free line.
"""

from __future__ import annotations

from collections.abc import Iterator

from sf.importers.convert import ConversionError, Periode, comma_float, urssaf_period
from sf.importers.reading import GoCsvReader
from sf.importers.records import ParseContext, ParsedLine, SourceRecord, Tuple
from sf.importers.urssaf import ZERO_TIME, detect_layout, resolve_mapping

__all__ = ["PARSER", "CotisationParser", "CotisationRecord"]


class CotisationRecord(SourceRecord):
    """Stored cotisation: ``encaisse`` (paid) and ``du`` (due) in euros, None when empty."""

    numero_compte: str
    periode: Periode
    encaisse: float | None = None
    du: float | None = None


COLUMNS = ("Compte", "periode", "enc_direct", "cotis_due")


class CotisationParser:
    """Parser of cotisation files (module instance: ``PARSER``)."""

    file_type = "cotisation"
    tuple_type = "cotisation"

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
        """One ParsedLine per record; FatalFileError when the file cannot be read, a column
        is missing or (v2022 layout) the batch has no usable account mapping."""
        with GoCsvReader(path, sep=";", lazy_quotes=True) as reader:
            layout = detect_layout(reader.header, reader.path)
            i_compte, i_periode, i_encaisse, i_du = layout.header.require(*COLUMNS).values()
            i_siret = layout.siret_index
            mapping = None if i_siret is not None else resolve_mapping(ctx, reader.path)
            construct = CotisationRecord.from_converted
            for number, _, fields, error in reader.rows():
                if fields is None:
                    yield ParsedLine(number, [], [error or ""])
                    continue
                errors: list[str] = []
                compte = fields[i_compte]
                try:
                    periode = urssaf_period(fields[i_periode])
                    start = periode.start
                except ConversionError as exc:
                    errors.append(str(exc))
                    periode = None
                    start = ZERO_TIME
                if mapping is not None:
                    siret = mapping.siret_for(compte, start)
                    if siret is None:
                        yield ParsedLine(number, filtered=True)
                        continue
                else:
                    siret = fields[i_siret]  # type: ignore[index]
                try:
                    encaisse = comma_float(fields[i_encaisse])
                except ConversionError as exc:
                    errors.append(str(exc))
                try:
                    du = comma_float(fields[i_du])
                except ConversionError as exc:
                    errors.append(str(exc))
                if errors:
                    yield ParsedLine(number, [], errors)
                    continue
                item = construct({"numero_compte": compte, "periode": periode, "encaisse": encaisse, "du": du})
                yield ParsedLine(number, [Tuple("cotisation", siret, "etablissement", item)])


PARSER = CotisationParser()
