"""diane: Bureau van Dijk (Diane+) financial statements per company and year (docs/importers.md §3.15).

Input: a Diane+ text export, **UTF-16LE with a byte-order mark** (a big-endian BOM is
honoured too; without BOM the file is read as UTF-16LE when it looks like it, and refused
otherwise — a UTF-8 or Latin-1 re-save is a fatal error naming the first bytes), ``;``
separator, lazy quotes, one row per company. Yearly columns carry a `` YYYY`` suffix
(``Effectif consolidé 2017`` … ``2012``, years in any order within a group).

1. Projection (the original's ``preprocessDianeFile``), :class:`DianeLayout`: a column
   whose name ends with `` YYYY`` is yearly; its base name is the name without the suffix,
   double spaces collapsed (``Conc.  banc. cour.`` → ``Conc. banc. cour.``); all yearly
   columns with the same base name form one field. Years = min..max of all suffixes. Each
   company row yields one projected row per year: ``Annee`` + each field's value for that year.
   Deviations (docs/importers.md §3.15): a field lacking a year gives an empty value (the
   original silently copied column 0, ``Marquée``); and columns of one field need not be
   contiguous (the original attached a non-contiguous repeat to the wrong field).
2. Conversion of each projected line: the 79 columns of :data:`COLUMNS` are required
   (matched after collapsing blanks and unifying apostrophes, so ``Statut juridique`` with
   or without its trailing space and ``Nombre d’ES`` / ``Nombre d"ES`` / ``Nombre d'ES``
   all match); numbers accept a decimal comma; integers are Go ``Atoi``;
   ``procedure_collective`` is true iff the value is ``Oui``; ``Date de clôture`` is
   ``DD/MM/YYYY``. Empty cells give missing fields.
   Deviation: the original silently dropped a value it could not convert; here the field
   is missing too, but the line reports ``<column>: <reason>`` (so it counts as rejected)
   while its tuple is still stored.

One line of the file (a company) is one line of the report, numbered by its line in the
file, with one record per year; a cell that cannot be converted is named with its year
(``Nombre d’ES 2017: …``). Deviation: the original counted and numbered the projected
lines (company × year), so its counts were a multiple of the file's lines. A company row
the CSV reader rejects (wrong field count) is one rejected line; the original aborted the
whole file on it.

Key: ``Numéro Siren`` (entreprise; a non-9-digit value is rejected by the tracker's key
check). Stored shape follows v2022: missing values omitted, ``procedure_collective`` stored
only when true, no closing date → no ``arrete_bilan_diane``.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sf.importers.convert import comma_float, parse_date, parse_int
from sf.importers.reading import FatalFileError, GoCsvReader, Header, is_gzipped, open_file, strip_scheme
from sf.importers.records import ParseContext, SourceRecord
from sf.importers.table import Emitted, FileHeader, Line, TableParser

__all__ = ["COLUMNS", "PARSER", "Diane", "DianeLayout", "detect_encoding", "open_diane"]

# (column name as in the original, stored name, kind). Kinds: str, bool (== "Oui"), int,
# float (decimal comma accepted), date (DD/MM/YYYY).
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("Nom de l'entreprise", "nom_entreprise", "str"),
    ("Numéro Siren", "numero_siren", "str"),
    ("Statut juridique ", "statut_juridique", "str"),
    ("Procédure collective", "procedure_collective", "bool"),
    ("Effectif consolidé", "effectif_consolide", "int"),
    ("Dettes fiscales et sociales kEUR", "dette_fiscale_et_sociale", "float"),
    ("Frais de R&D : net kEUR", "frais_de_RetD", "float"),
    ("Conces., brev. et droits sim. : net kEUR", "conces_brev_et_droits_sim", "float"),
    ("Nombre d’ES", "nombre_etab_secondaire", "int"),
    ("Nombre de filiales", "nombre_filiale", "int"),
    ("Taille de la Composition du Groupe", "taille_compo_groupe", "int"),
    ("Date de clôture", "arrete_bilan_diane", "date"),
    ("Nombre de mois", "nombre_mois", "int"),
    ("Conc. banc. cour. & sold. cr. kEUR", "concours_bancaire_courant", "float"),
    ("Equilibre financier", "equilibre_financier", "float"),
    ("Indépendance fin. %", "independance_financiere", "float"),
    ("Endettement %", "endettement", "float"),
    ("Autonomie fin. %", "autonomie_financiere", "float"),
    ("Degré d'amort. des immob. corp. %", "degre_immo_corporelle", "float"),
    ("Financ. de l'actif circ. net", "financement_actif_circulant", "float"),
    ("Liquidité générale", "liquidite_generale", "float"),
    ("Liquidité réduite", "liquidite_reduite", "float"),
    ("Rotation des stocks jours", "rotation_stocks", "float"),
    ("Crédit clients jours", "credit_client", "float"),
    ("Crédit fournisseurs jours", "credit_fournisseur", "float"),
    ("C. A. par effectif (milliers/pers.) kEUR", "ca_par_effectif", "float"),
    ("Taux d'intérêt financier %", "taux_interet_financier", "float"),
    ("Intérêts / Chiffre d'affaires %", "taux_interet_sur_ca", "float"),
    ("Endettement global jours", "endettement_global", "float"),
    ("Taux d'endettement %", "taux_endettement", "float"),
    ("Capacité de remboursement", "capacite_remboursement", "float"),
    ("Capacité d'autofin. %", "capacite_autofinancement", "float"),
    ("Couv. du C.A. par le f.d.r. jours", "couverture_ca_fdr", "float"),
    ("Couv. du C.A. par bes. en fdr jours", "couverture_ca_besoin_fdr", "float"),
    ("Poids des BFR d'exploitation %", "poids_bfr_exploitation", "float"),
    ("Exportation %", "exportation", "float"),
    ("Efficacité économique (milliers/pers.) kEUR", "efficacite_economique", "float"),
    ("Prod. du potentiel de production", "productivite_potentiel_production", "float"),
    ("Productivité du capital financier", "productivite_capital_financier", "float"),
    ("Productivité du capital investi", "productivite_capital_investi", "float"),
    ("Taux d'invest. productif %", "taux_d_investissement_productif", "float"),
    ("Rentabilité économique %", "rentabilite_economique", "float"),
    ("Performance %", "performance", "float"),
    ("Rend. brut des f. propres nets %", "rendement_brut_fonds_propres", "float"),
    ("Rentabilité nette %", "rentabilite_nette", "float"),
    ("Rend. des capitaux propres nets %", "rendement_capitaux_propres", "float"),
    ("Rend. des res. durables nettes %", "rendement_ressources_durables", "float"),
    ("Taux de marge commerciale %", "taux_marge_commerciale", "float"),
    ("Taux de valeur ajoutée %", "taux_valeur_ajoutee", "float"),
    ("Part des salariés %", "part_salaries", "float"),
    ("Part de l'Etat %", "part_etat", "float"),
    ("Part des prêteurs %", "part_preteur", "float"),
    ("Part de l'autofin. %", "part_autofinancement", "float"),
    ("Chiffre d'affaires net (H.T.) kEUR", "ca", "float"),
    ("Dont exportation kEUR", "ca_exportation", "float"),
    ("Achats march. et autres approv. kEUR", "achat_marchandises", "float"),
    ("Achats de mat. prem. et autres approv. kEUR", "achat_matieres_premieres", "float"),
    ("Production de l'ex. kEUR", "production", "float"),
    ("Marge commerciale kEUR", "marge_commerciale", "float"),
    ("Consommation de l'ex. kEUR", "consommation", "float"),
    ("Autres achats et charges externes kEUR", "autres_achats_charges_externes", "float"),
    ("Valeur ajoutée kEUR", "valeur_ajoutee", "float"),
    ("Charges de personnel kEUR", "charge_personnel", "float"),
    ("Impôts, taxes et vers. assimil. kEUR", "impots_taxes", "float"),
    ("Subventions d'expl. kEUR", "subventions_d_exploitation", "float"),
    ("Excédent brut d'exploitation kEUR", "excedent_brut_d_exploitation", "float"),
    ("Autres Prod., char. et Repr. kEUR", "autres_produits_charges_reprises", "float"),
    ("Dot. d'exploit. aux amort. et prov. kEUR", "dotation_amortissement", "float"),
    ("Résultat d'expl. kEUR", "resultat_expl", "float"),
    ("Opérations en commun kEUR", "operations_commun", "float"),
    ("Produits fin. kEUR", "produits_financiers", "float"),
    ("Charges fin. kEUR", "charges_financieres", "float"),
    ("Intérêts et charges assimilées kEUR", "interets", "float"),
    ("Résultat courant avant impôts kEUR", "resultat_avant_impot", "float"),
    ("Produits except. kEUR", "produit_exceptionnel", "float"),
    ("Charges except. kEUR", "charge_exceptionnelle", "float"),
    ("Particip. des sal. aux résul. kEUR", "participation_salaries", "float"),
    ("Impôts sur le bénéf. et impôts diff. kEUR", "impot_benefice", "float"),
    ("Bénéfice ou perte kEUR", "benefice_ou_perte", "float"),
)


class Diane(SourceRecord):
    """One company-year of Diane+ accounts (stored names of v2022; amounts in kEUR)."""

    exercice_diane: int | None = None
    nom_entreprise: str | None = None
    numero_siren: str | None = None
    statut_juridique: str | None = None
    procedure_collective: bool | None = None
    effectif_consolide: int | None = None
    dette_fiscale_et_sociale: float | None = None
    frais_de_RetD: float | None = None
    conces_brev_et_droits_sim: float | None = None
    nombre_etab_secondaire: int | None = None
    nombre_filiale: int | None = None
    taille_compo_groupe: int | None = None
    arrete_bilan_diane: datetime | None = None
    nombre_mois: int | None = None
    concours_bancaire_courant: float | None = None
    equilibre_financier: float | None = None
    independance_financiere: float | None = None
    endettement: float | None = None
    autonomie_financiere: float | None = None
    degre_immo_corporelle: float | None = None
    financement_actif_circulant: float | None = None
    liquidite_generale: float | None = None
    liquidite_reduite: float | None = None
    rotation_stocks: float | None = None
    credit_client: float | None = None
    credit_fournisseur: float | None = None
    ca_par_effectif: float | None = None
    taux_interet_financier: float | None = None
    taux_interet_sur_ca: float | None = None
    endettement_global: float | None = None
    taux_endettement: float | None = None
    capacite_remboursement: float | None = None
    capacite_autofinancement: float | None = None
    couverture_ca_fdr: float | None = None
    couverture_ca_besoin_fdr: float | None = None
    poids_bfr_exploitation: float | None = None
    exportation: float | None = None
    efficacite_economique: float | None = None
    productivite_potentiel_production: float | None = None
    productivite_capital_financier: float | None = None
    productivite_capital_investi: float | None = None
    taux_d_investissement_productif: float | None = None
    rentabilite_economique: float | None = None
    performance: float | None = None
    rendement_brut_fonds_propres: float | None = None
    rentabilite_nette: float | None = None
    rendement_capitaux_propres: float | None = None
    rendement_ressources_durables: float | None = None
    taux_marge_commerciale: float | None = None
    taux_valeur_ajoutee: float | None = None
    part_salaries: float | None = None
    part_etat: float | None = None
    part_preteur: float | None = None
    part_autofinancement: float | None = None
    ca: float | None = None
    ca_exportation: float | None = None
    achat_marchandises: float | None = None
    achat_matieres_premieres: float | None = None
    production: float | None = None
    marge_commerciale: float | None = None
    consommation: float | None = None
    autres_achats_charges_externes: float | None = None
    valeur_ajoutee: float | None = None
    charge_personnel: float | None = None
    impots_taxes: float | None = None
    subventions_d_exploitation: float | None = None
    excedent_brut_d_exploitation: float | None = None
    autres_produits_charges_reprises: float | None = None
    dotation_amortissement: float | None = None
    resultat_expl: float | None = None
    operations_commun: float | None = None
    produits_financiers: float | None = None
    charges_financieres: float | None = None
    interets: float | None = None
    resultat_avant_impot: float | None = None
    produit_exceptionnel: float | None = None
    charge_exceptionnelle: float | None = None
    participation_salaries: float | None = None
    impot_benefice: float | None = None
    benefice_ou_perte: float | None = None



_YEAR_SUFFIX = re.compile(r" ([0-9]{4})$")
_BLANKS = re.compile(r"\s+")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", '"': "'", "`": "'"})


def column_key(name: str) -> str:
    """Lookup key of a column name: blanks collapsed and trimmed, apostrophes unified."""
    return _BLANKS.sub(" ", name).strip().translate(_APOSTROPHES)


@dataclass(frozen=True)
class DianeLayout:
    """Where each projected field comes from in a Diane header.

    ``names``: projected field names in order of first appearance (yearly ones without
    their year, double spaces collapsed as the original did); ``sources[i]``: the column
    index of a non-yearly field, or ``{year: column index}`` of a yearly one; ``years``:
    every year from the smallest to the largest suffix.
    """

    names: tuple[str, ...]
    sources: tuple[int | dict[int, int], ...]
    years: tuple[int, ...]

    @classmethod
    def from_header(cls, header: list[str]) -> DianeLayout:
        names: list[str] = []
        sources: list[int | dict[int, int]] = []
        yearly: dict[str, dict[int, int]] = {}
        seen_years: set[int] = set()
        for index, name in enumerate(header):
            match = _YEAR_SUFFIX.search(name)
            if match is None:
                names.append(name)
                sources.append(index)
                continue
            year = int(match.group(1))
            seen_years.add(year)
            base = name[:match.start()].replace("  ", " ")
            per_year = yearly.get(base)
            if per_year is None:
                per_year = yearly[base] = {}
                names.append(base)
                sources.append(per_year)
            per_year[year] = index
        years = tuple(range(min(seen_years), max(seen_years) + 1)) if seen_years else ()
        return cls(tuple(names), tuple(sources), years)

    def header_row(self) -> list[str]:
        """Header of the projected table: ``Annee`` then the field names."""
        return ["Annee", *self.names]

    def project(self, row: list[str]) -> Iterator[tuple[int, list[str | None]]]:
        """``(year, values)`` for each year of the layout; ``values[i]`` is field ``i``'s cell
        for that year, None when the field has no column for that year."""
        for year in self.years:
            values: list[str | None] = []
            for source in self.sources:
                if isinstance(source, int):
                    values.append(row[source])
                else:
                    index = source.get(year)
                    values.append(None if index is None else row[index])
            yield year, values


def detect_encoding(path: str | Path) -> str:
    """Python codec for a Diane export, from its first two bytes.

    ``FF FE``/``FE FF`` (BOM) → ``utf-16`` (BOM consumed, byte order honoured); no BOM and a
    zero second byte → ``utf-16-le``; an empty file → ``utf-16-le`` (the reader then reports
    the empty file). Raises FatalFileError for anything else (a UTF-8/Latin-1 file) and when
    the file cannot be opened or gunzipped.
    """
    bare, _ = strip_scheme(path)
    try:
        with open_file(bare) as raw:
            head = (gzip.GzipFile(fileobj=raw, mode="rb") if is_gzipped(path) else raw).read(2)
    except (EOFError, gzip.BadGzipFile) as exc:
        raise FatalFileError(bare, f"not a valid gzip file ({exc})") from exc
    except OSError as exc:
        raise FatalFileError(bare, f"cannot open file ({exc.strerror or exc})") from exc
    if head in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    if len(head) < 2 or head[1] == 0:
        return "utf-16-le"
    raise FatalFileError(bare, f"not a UTF-16 text file (first bytes {head.hex(' ')}): Diane exports are "
                               "UTF-16LE with a byte-order mark; was it re-saved as UTF-8 or Latin-1?")


def _layout(names: list[str], path: str) -> DianeLayout:
    """The layout of a Diane header; FatalFileError when it has no yearly column."""
    layout = DianeLayout.from_header(names)
    if not layout.years:
        raise FatalFileError(path, "no yearly column (name ending with a space and a 4-digit year)")
    return layout


def open_diane(path: str | Path) -> tuple[GoCsvReader, DianeLayout]:
    """Open a Diane export: the reader positioned after the header, and its layout.

    Raises FatalFileError (file unreadable, not UTF-16, empty, no yearly column)."""
    reader = GoCsvReader(path, sep=";", lazy_quotes=True, encoding=detect_encoding(path))
    try:
        return reader, _layout(reader.header, reader.path)
    except BaseException:
        reader.close()
        raise


def _date(value: str) -> datetime:
    return parse_date(value, "02/01/2006")


#: Converter of each kind of :data:`COLUMNS`, for a non-empty cell.
_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "bool": lambda value: True if value == "Oui" else None,
    "float": comma_float,
    "int": parse_int,
    "date": _date,
}


@dataclass(frozen=True)
class _Plan:
    """The per-file state: the layout, and for each year ``(projected field index, stored
    name, converter, label)`` of every column of :data:`COLUMNS` (the label names the cell
    in messages as the file does: a yearly column carries its year)."""

    layout: DianeLayout
    by_year: dict[int, list[tuple[int, str, Callable[[str], Any], str]]]


def _plan(file: FileHeader, ctx: ParseContext) -> _Plan:
    """FatalFileError when the header has no yearly column or lacks a column of :data:`COLUMNS`
    (matched after :func:`column_key`; ``Colonne X non trouvée. Abandon.``)."""
    layout = _layout(file.names, file.path)
    positions = Header(list(layout.names), case_insensitive=False, path=file.path, key=column_key).require(
        *(column for column, _, _ in COLUMNS))
    yearly = [not isinstance(source, int) for source in layout.sources]
    by_year = {year: [(positions[column], stored, _CONVERTERS[kind],
                       f"{column.strip()} {year}" if yearly[positions[column]] else column.strip())
                      for column, stored, kind in COLUMNS]
               for year in layout.years}
    return _Plan(layout, by_year)


def row(line: Line) -> Emitted:
    """One record per year of the company's line; a cell that cannot be converted is an
    error (``<column> <year>: <reason>``, once per line) and its field is missing."""
    plan: _Plan = line.file
    records = []
    for year, values in plan.layout.project(line.fields):
        document: dict[str, Any] = {"exercice_diane": year}
        for index, stored, converter, label in plan.by_year[year]:
            value = values[index]
            if value:
                document[stored] = line.convert(converter, value, label=label)
        diane = Diane.build(**document)
        records.append((diane.numero_siren or "", diane))
    line.errors[:] = dict.fromkeys(line.errors)  # a non-yearly cell's error once, not once per year
    return records


PARSER = TableParser("diane", scope="entreprise", columns=(), row=row, lazy_quotes=True, encoding=detect_encoding,
                     setup=_plan, keeps_records_with_errors=True)
