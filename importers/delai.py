"""delai: payment delays granted by URSSAF (docs/importers.md §3.4).

File ``Sigfaible_delais.csv[.gz]``: ``;``-separated, strict quotes, exact header (v2022),
dates ``DD/MM/YYYY``. v2022 layout: key = SIRET of the account at ``Date_creation``
(admin_urssaf mapping; no SIRET → line *filtered*); HEAD layout (a ``Siret`` column): key =
that column, header case-insensitive.

Per line: an invalid ``Date_creation`` rejects the line (no lookup); then the lookup; then
``Date_echeance`` (error), ``Duree_delai`` (int, empty → None; an invalid value is an error
here — deviation: the original ignored it and stored 0), ``Annee_creation`` (int, error),
``Montant_global_echeancier`` (``,`` decimal accepted, error). Any error → no tuple.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sf.importers.convert import ConversionError, comma_float, parse_date, parse_int
from sf.importers.reading import GoCsvReader
from sf.importers.records import ParseContext, ParsedLine, SourceRecord, Tuple
from sf.importers.urssaf import open_urssaf

__all__ = ["PARSER", "DelaiParser", "DelaiRecord"]

DATE_LAYOUT = "02/01/2006"


class DelaiRecord(SourceRecord):
    """Stored delai (original names); ``duree_delai`` in days, ``montant_echeancier`` in euros."""

    numero_compte: str
    numero_contentieux: str
    date_creation: datetime
    date_echeance: datetime
    duree_delai: int | None = None
    denomination: str
    indic_6m: str
    annee_creation: int | None = None
    montant_echeancier: float | None = None
    stade: str
    action: str


COLUMNS = ("Numero_compte_externe", "Numero_structure", "Date_creation", "Date_echeance", "Duree_delai",
           "Denomination_premiere_ligne", "Indic_6M", "Annee_creation", "Montant_global_echeancier",
           "Code_externe_stade", "Code_externe_action")


class DelaiParser:
    """Parser of delai files (module instance: ``PARSER``)."""

    file_type = "delai"
    tuple_type = "delai"

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]:
        """One ParsedLine per record; FatalFileError when the file cannot be read, a column
        is missing or (v2022 layout) the batch has no usable account mapping."""
        with GoCsvReader(path, sep=";", lazy_quotes=False) as reader:
            urssaf = open_urssaf(reader, ctx, COLUMNS)
            idx, i_siret, mapping = urssaf.positions, urssaf.siret_index, urssaf.mapping
            construct = DelaiRecord.from_converted
            for record in reader:
                row = record.fields
                if row is None:
                    yield ParsedLine(record.number, [], [record.error or ""])
                    continue
                compte = row[idx["Numero_compte_externe"]]
                try:
                    date_creation = parse_date(row[idx["Date_creation"]], DATE_LAYOUT)
                except ConversionError as exc:
                    yield ParsedLine(record.number, [], [str(exc)])
                    continue
                if mapping is not None:
                    siret = mapping.siret_for(compte, date_creation)
                    if siret is None:
                        yield ParsedLine(record.number, filtered=True)
                        continue
                else:
                    siret = row[i_siret]  # type: ignore[index]
                errors: list[str] = []
                date_echeance = annee_creation = montant = None
                try:
                    date_echeance = parse_date(row[idx["Date_echeance"]], DATE_LAYOUT)
                except ConversionError as exc:
                    errors.append(str(exc))
                duree = None
                try:
                    duree = parse_int(row[idx["Duree_delai"]])
                except ConversionError as exc:
                    # Deviation: the original ignored this error and stored Go's 0, which
                    # silently turns a bad duration into "0 days"; here the line is rejected.
                    errors.append(str(exc))
                try:
                    annee_creation = parse_int(row[idx["Annee_creation"]])
                except ConversionError as exc:
                    errors.append(str(exc))
                try:
                    montant = comma_float(row[idx["Montant_global_echeancier"]])
                except ConversionError as exc:
                    errors.append(str(exc))
                if errors:
                    yield ParsedLine(record.number, [], errors)
                    continue
                item = construct({
                    "numero_compte": compte,
                    "numero_contentieux": row[idx["Numero_structure"]],
                    "date_creation": date_creation,
                    "date_echeance": date_echeance,
                    "duree_delai": duree,
                    "denomination": row[idx["Denomination_premiere_ligne"]],
                    "indic_6m": row[idx["Indic_6M"]],
                    "annee_creation": annee_creation,
                    "montant_echeancier": montant,
                    "stade": row[idx["Code_externe_stade"]],
                    "action": row[idx["Code_externe_action"]],
                })
                yield ParsedLine(record.number, [Tuple("delai", siret, "etablissement", item)])


PARSER = DelaiParser()
