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
from collections.abc import Iterator
from datetime import datetime

from sf.importers.convert import ConversionError, parse_date
from sf.importers.reading import GoCsvReader, Header
from sf.importers.records import ParseContext, ParsedLine, SourceRecord, Tuple

__all__ = ["PARSER", "ProcolParser", "ProcolRecord", "split_action_stade"]

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


class ProcolParser:
    """Parser of procol files (module instance: ``PARSER``)."""

    file_type = "procol"
    tuple_type = "procol"

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
        """One ParsedLine per record; FatalFileError when the file cannot be read or a
        required column is missing."""
        with GoCsvReader(path, sep=";", lazy_quotes=True) as reader:
            header = Header(reader.header, case_insensitive=True, path=reader.path)
            i_date, i_label, i_siret = header.require("dt_effet", "lib_actx_stdx", "siret").values()
            construct = ProcolRecord.from_converted
            for record in reader:
                row = record.fields
                if row is None:
                    yield ParsedLine(record.number, [], [record.error or ""])
                    continue
                try:
                    date_effet = parse_date(row[i_date], "02Jan2006")
                except ConversionError as exc:
                    yield ParsedLine(record.number, [], [str(exc)])
                    continue
                action, stade = split_action_stade(row[i_label])
                item = construct({"date_effet": date_effet, "action_procol": action, "stade_procol": stade})
                yield ParsedLine(record.number, [Tuple("procol", row[i_siret], "etablissement", item)])


PARSER = ProcolParser()
