"""Delivery files of the synthetic generator: names, headers and lines in the real formats.

For each simulated block (``world.World``) a :class:`BlockFormatter` produces, batch
after batch (in order: it keeps per-block state such as the current line of each debt),
the lines of every delivery file, with the company of each line, and injects broken
lines. Formats follow the v2022 parsers (docs/importers.md §2–§3 and §5):

=============================== ============ ===== ==========================================
file                            type         sep   delivered content
=============================== ============ ===== ==========================================
Sigfaible_effectif_siret.csv    effectif     ;     stock: monthly headcount columns up to the data month
Sigfaible_effectif_siren.csv    effectif_ent ;     stock: same per company
Sigfaible_etablissement_utf8.csv admin_urssaf ;    stock: URSSAF account → SIRET with dates
Sigfaible_cotisdues.csv         cotisation   ;     flux: contributions due/paid of the month
Sigfaible_debits.csv            debit        ;     flux: state of every open debt (new history lines)
Sigfaible_delais.csv            delai        ;     flux: payment delays granted in the month
Sigfaible_ccsf.csv              ccsf         ;     flux: CCSF events of the month
Sigfaible_pcoll.csv             procol       ;     flux: judgments of the month
demande_ap.csv                  apdemande    ,     stock: short-time-work authorisations (CRLF, quoted)
consommation_ap.csv             apconso      ,     stock: short-time-work consumption (CRLF, quoted)
StockEtablissement_utf8_geo.csv sirene       ,     stock: establishments (INSEE + geocoding)
sireneUL.csv                    sirene_ul    ,     stock: legal units
Diane_<batch>.txt               diane        ;     yearly accounts, every 12th batch (UTF-16LE, BOM, CRLF)
filter_<batch>.csv              filter       —     perimeter: SIRENs with ≥ 10 employees
=============================== ============ ===== ==========================================

The first batch also carries the whole history of the flux files (an initial stock), the
following batches only their data month.

Broken lines are *extra* lines (a corrupted copy of a clean line of a company inside that
batch's perimeter), so no clean data is lost: ``field_count`` (last field dropped →
rejected by the CSV reader), ``bad_date`` (an impossible date in the field the parser
converts → rejected), ``unknown_key`` (SIREN/SIRET outside the population, or an URSSAF
account absent from admin_urssaf → filtered). None is written to admin_urssaf (one bad
line there makes every URSSAF file fail), to the filter file (idem) or to Diane.

Pure: returns strings; failure modes are programming errors only (batches out of order
raise ValueError).
"""

from __future__ import annotations

import calendar
import csv
import datetime
import io
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from sf.importers.convert import add_months
from sf.synth import ids
from sf.synth import reference as ref
from sf.synth.world import (
    AP_HOURLY_ALLOWANCE as AP_ALLOWANCE,
)
from sf.synth.world import (
    PHASE_LIQUIDATION,
    PHASE_OBSERVATION,
    PHASE_PLAN,
    Calendar,
    World,
)

__all__ = [
    "DIANE_EVERY",
    "EXPECTED_OUTCOME",
    "SOURCES",
    "BlockFormatter",
    "FileLines",
    "SourceFile",
    "diane_header",
    "diane_years",
    "effectif_column",
    "file_header",
    "has_diane",
]

EFFECTIF_LAG_MISSING = 0.3   # share of the data month's headcount cells not yet known
DIANE_EVERY = 12             # Diane is delivered with the first batch and every 12 batches
PERIMETER_MIN_EFFECTIF = 10  # prepare-import 2022: a SIREN is kept with a value >= 10 …
PERIMETER_MONTHS = 100       # … among the last 100 monthly columns of the effectif file

#: Outcome that a v2022 import gives each kind of broken line (with the batch's filter).
EXPECTED_OUTCOME = {"field_count": "rejected", "bad_date": "rejected", "unknown_key": "filtered"}


@dataclass(frozen=True)
class SourceFile:
    """A delivery file kind: file type, file name (``{batch}`` replaced), separator,
    line terminator, text encoding, whether fields may be quoted, broken-line kinds."""

    file_type: str
    name: str
    sep: str
    newline: str = "\n"
    encoding: str = "utf-8"
    quoted: bool = False
    broken: tuple[str, ...] = ()

    def file_name(self, batch: str) -> str:
        return self.name.replace("{batch}", batch)


SOURCES: dict[str, SourceFile] = {s.file_type: s for s in (
    SourceFile("effectif", "Sigfaible_effectif_siret.csv", ";", broken=("field_count", "unknown_key")),
    SourceFile("effectif_ent", "Sigfaible_effectif_siren.csv", ";", broken=("field_count", "unknown_key")),
    SourceFile("admin_urssaf", "Sigfaible_etablissement_utf8.csv", ";"),
    SourceFile("cotisation", "Sigfaible_cotisdues.csv", ";", broken=("field_count", "bad_date", "unknown_key")),
    SourceFile("debit", "Sigfaible_debits.csv", ";", broken=("field_count", "bad_date", "unknown_key")),
    SourceFile("delai", "Sigfaible_delais.csv", ";", broken=("field_count", "bad_date", "unknown_key")),
    SourceFile("ccsf", "Sigfaible_ccsf.csv", ";", broken=("field_count", "bad_date", "unknown_key")),
    SourceFile("procol", "Sigfaible_pcoll.csv", ";", broken=("field_count", "bad_date", "unknown_key")),
    SourceFile("apdemande", "demande_ap.csv", ",", "\r\n", quoted=True, broken=("field_count", "bad_date", "unknown_key")),
    SourceFile("apconso", "consommation_ap.csv", ",", "\r\n", quoted=True, broken=("field_count", "bad_date", "unknown_key")),
    SourceFile("sirene", "StockEtablissement_utf8_geo.csv", ",", quoted=True, broken=("field_count", "unknown_key")),
    SourceFile("sirene_ul", "sireneUL.csv", ",", quoted=True, broken=("field_count", "unknown_key")),
    SourceFile("diane", "Diane_{batch}.txt", ";", "\r\n", "utf-16-le", quoted=True),
    SourceFile("filter", "filter_{batch}.csv", ";"),
)}

COTISATION_HEADER = "Urssaf_gestion;Dep;Compte;periode;mer;enc_direct;cotis_due"
DEBIT_HEADER = ("Urssaf_gestion;Dep;num_cpte;Siren;Dt_immat;Etat_cpte;Cd_pro_col;Periode;Num_Ecn;Num_Hist_Ecn;"
                "Dt_trt_ecn;Mt_PO;Mt_PP;Cd_op_ecn;Motif_ecn;Recours_en_cours")
DELAI_HEADER = ("Urssaf_gestion;Dep;Numero_compte_externe;Numero_structure;Date_creation;Date_echeance;Duree_delai;"
                "Denomination_premiere_ligne;Indic_6M;Annee_creation;Montant_global_echeancier;"
                "Code_externe_stade;Code_externe_action")
CCSF_HEADER = "Urssaf_gestion;Dep;Compte;Date_de_traitement;Code_externe_stade;Code_externe_action"
PROCOL_HEADER = "Siret;Siren;Dt_effet;Cat_v2;Lib_actx_stdx"
ADMIN_HEADER = "Urssaf_gestion;Dep;Compte;Etat_compte;Siren;Siret;Date_crea_siret;Date_disp_siret"
APCONSO_HEADER = '"ID_DA","ETAB_SIRET","HEURES","MONTANTS","EFFECTIFS","MOIS"'
APDEMANDE_HEADER = ('"ID_DA","ETAB_SIRET","EFF_ENT","EFF_ETAB","DATE_STATUT","DATE_DEB","DATE_FIN","HTA","MTA",'
                    '"EFF_AUTO","MOTIF_RECOURS_SE","PERIMETRE_AP","S_HEURE_CONSOM_TOT","S_EFF_CONSOM_TOT",'
                    '"S_MONTANT_CONSOM_TOT","RECOURS_ANTERIEUR"')
SIRENE_HEADER = (
    "siren,nic,siret,statutDiffusionEtablissement,dateCreationEtablissement,trancheEffectifsEtablissement,"
    "anneeEffectifsEtablissement,activitePrincipaleRegistreMetiersEtablissement,dateDernierTraitementEtablissement,"
    "etablissementSiege,nombrePeriodesEtablissement,complementAdresseEtablissement,numeroVoieEtablissement,"
    "indiceRepetitionEtablissement,typeVoieEtablissement,libelleVoieEtablissement,codePostalEtablissement,"
    "libelleCommuneEtablissement,libelleCommuneEtrangerEtablissement,distributionSpecialeEtablissement,"
    "codeCommuneEtablissement,codeCedexEtablissement,libelleCedexEtablissement,codePaysEtrangerEtablissement,"
    "libellePaysEtrangerEtablissement,complementAdresse2Etablissement,numeroVoie2Etablissement,"
    "indiceRepetition2Etablissement,typeVoie2Etablissement,libelleVoie2Etablissement,codePostal2Etablissement,"
    "libelleCommune2Etablissement,libelleCommuneEtranger2Etablissement,distributionSpeciale2Etablissement,"
    "codeCommune2Etablissement,codeCedex2Etablissement,libelleCedex2Etablissement,codePaysEtranger2Etablissement,"
    "libellePaysEtranger2Etablissement,dateDebut,etatAdministratifEtablissement,enseigne1Etablissement,"
    "enseigne2Etablissement,enseigne3Etablissement,denominationUsuelleEtablissement,activitePrincipaleEtablissement,"
    "nomenclatureActivitePrincipaleEtablissement,caractereEmployeurEtablissement,longitude,latitude,geo_score,"
    "geo_type,geo_adresse,geo_id,geo_ligne,geo_l4,geo_l5"
)
SIRENE_UL_HEADER = (
    "siren,statutDiffusionUniteLegale,unitePurgeeUniteLegale,dateCreationUniteLegale,sigleUniteLegale,"
    "sexeUniteLegale,prenom1UniteLegale,prenom2UniteLegale,prenom3UniteLegale,prenom4UniteLegale,"
    "prenomUsuelUniteLegale,pseudonymeUniteLegale,identifiantAssociationUniteLegale,trancheEffectifsUniteLegale,"
    "anneeEffectifsUniteLegale,dateDernierTraitementUniteLegale,nombrePeriodesUniteLegale,categorieEntreprise,"
    "anneeCategorieEntreprise,dateDebut,etatAdministratifUniteLegale,nomUniteLegale,nomUsageUniteLegale,"
    "denominationUniteLegale,denominationUsuelle1UniteLegale,denominationUsuelle2UniteLegale,"
    "denominationUsuelle3UniteLegale,categorieJuridiqueUniteLegale,activitePrincipaleUniteLegale,"
    "nomenclatureActivitePrincipaleUniteLegale,nicSiegeUniteLegale,economieSocialeSolidaireUniteLegale,"
    "caractereEmployeurUniteLegale"
)

# Diane: company-level columns, then yearly fields (column "<field> <year>").
_DIANE_FIXED = ("Marquée", "Nom de l'entreprise", "Numéro Siren", "Statut juridique ", "Procédure collective")
_DIANE_GROUP = ("Nombre d’ES", "Nombre de filiales", "Taille de la Composition du Groupe", "Dernière année disponible")
_DIANE_YEARLY_1 = ("Effectif consolidé", "Dettes fiscales et sociales kEUR", "Frais de R&D : net kEUR",
                   "Conces., brev. et droits sim. : net kEUR")
_DIANE_YEARLY_2 = (
    "Date de clôture", "Nombre de mois", "Conc. banc. cour. & sold. cr. kEUR", "Equilibre financier",
    "Indépendance fin. %", "Endettement %", "Autonomie fin. %", "Degré d'amort. des immob. corp. %",
    "Financ. de l'actif circ. net", "Liquidité générale", "Liquidité réduite", "Rotation des stocks jours",
    "Crédit clients jours", "Crédit fournisseurs jours", "C. A. par effectif (milliers/pers.) kEUR",
    "Taux d'intérêt financier %", "Intérêts / Chiffre d'affaires %", "Endettement global jours",
    "Taux d'endettement %", "Capacité de remboursement", "Capacité d'autofin. %",
    "Couv. du C.A. par le f.d.r. jours", "Couv. du C.A. par bes. en fdr jours", "Poids des BFR d'exploitation %",
    "Exportation %", "Efficacité économique (milliers/pers.) kEUR", "Prod. du potentiel de production",
    "Productivité du capital financier", "Productivité du capital investi", "Taux d'invest. productif %",
    "Rentabilité économique %", "Performance %", "Rend. brut des f. propres nets %", "Rentabilité nette %",
    "Rend. des capitaux propres nets %", "Rend. des res. durables nettes %", "Taux de marge commerciale %",
    "Taux de valeur ajoutée %", "Part des salariés %", "Part de l'Etat %", "Part des prêteurs %",
    "Part de l'autofin. %", "Chiffre d'affaires net (H.T.) kEUR", "Dont exportation kEUR",
    "Achats march. et autres approv. kEUR", "Achats de mat. prem. et autres approv. kEUR",
    "Production de l'ex. kEUR", "Marge commerciale kEUR", "Consommation de l'ex. kEUR",
    "Autres achats et charges externes kEUR", "Valeur ajoutée kEUR", "Charges de personnel kEUR",
    "Impôts, taxes et vers. assimil. kEUR", "Subventions d'expl. kEUR", "Excédent brut d'exploitation kEUR",
    "Autres Prod., char. et Repr. kEUR", "Dot. d'exploit. aux amort. et prov. kEUR", "Résultat d'expl. kEUR",
    "Opérations en commun kEUR", "Produits fin. kEUR", "Charges fin. kEUR", "Intérêts et charges assimilées kEUR",
    "Résultat courant avant impôts kEUR", "Produits except. kEUR", "Charges except. kEUR",
    "Particip. des sal. aux résul. kEUR", "Impôts sur le bénéf. et impôts diff. kEUR", "Bénéfice ou perte kEUR",
)
# Yearly Diane field → key of World.diane figures (other fields are left empty).
_DIANE_VALUES = {
    "Effectif consolidé": "effectif", "Dettes fiscales et sociales kEUR": "dettes_fiscales",
    "Liquidité générale": "liquidite", "Endettement %": "endettement", "Autonomie fin. %": "autonomie",
    "Crédit clients jours": "credit_clients", "Crédit fournisseurs jours": "credit_fournisseurs",
    "Capacité de remboursement": "capacite_remboursement", "Rentabilité nette %": "rentabilite_nette",
    "Chiffre d'affaires net (H.T.) kEUR": "ca", "Valeur ajoutée kEUR": "valeur_ajoutee",
    "Charges de personnel kEUR": "personnel", "Excédent brut d'exploitation kEUR": "ebe",
    "Charges fin. kEUR": "frais_financiers", "Bénéfice ou perte kEUR": "resultat",
}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


# ---- small formatting helpers --------------------------------------------------------------

def effectif_column(year: int, month: int) -> str:
    """Header of a monthly headcount column: ``eff`` + YYYY + quarter + month in quarter."""
    quarter, in_quarter = divmod(month - 1, 3)
    return f"eff{year:04d}{quarter + 1}{in_quarter + 1}"


def _urssaf_date(year: int, month: int, day: int) -> str:
    """URSSAF date: YYYYMMDD − 19000000 (7 digits after 2000)."""
    return str(year * 10000 + month * 100 + day - 19_000_000)


def _period(year: int, month: int, quarterly: bool, digits: int) -> str:
    """URSSAF period YYQM (4 chars) or YYYYQM (6 chars); M = 0 for a whole quarter."""
    quarter, in_quarter = divmod(month - 1, 3)
    year_part = f"{year % 100:02d}" if digits == 4 else f"{year:04d}"
    return f"{year_part}{quarter + 1}{0 if quarterly else in_quarter + 1}"


def _dmy(year: int, month: int, day: int) -> str:
    return f"{day:02d}/{month:02d}/{year:04d}"


def _iso(year: int, month: int, day: int) -> str:
    return f"{year:04d}-{month:02d}-{day:02d}"


def _comma(amount: float) -> str:
    return f"{amount:.2f}".replace(".", ",")


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _csv_field(value: str) -> str:
    """Minimal quoting for ``,``-separated files (Go/RFC 4180 style)."""
    if "," in value or '"' in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def diane_years(cal: Calendar, j: int) -> list[int]:
    """Fiscal years in the Diane file of batch number ``j`` (most recent first): accounts of
    year y are available from July of y + 1; five years at most, none before the history."""
    key = cal.batches[j]
    year, month = 2000 + int(key[:2]), int(key[2:])
    last = year - 1 if month >= 7 else year - 2
    first = max(last - 4, cal.year_month(0)[0])
    return list(range(last, first - 1, -1))


def has_diane(cal: Calendar, j: int) -> bool:
    """Whether batch number ``j`` carries a Diane export (first batch, then every 12th)."""
    return j % DIANE_EVERY == 0 and bool(diane_years(cal, j))


def diane_header(years: list[int]) -> str:
    """Header of a Diane export covering ``years`` (most recent first, as Diane writes)."""
    columns = list(_DIANE_FIXED)
    for name in _DIANE_YEARLY_1:
        columns += [f"{name} {year}" for year in years]
    columns += list(_DIANE_GROUP)
    for name in _DIANE_YEARLY_2:
        columns += [f"{name} {year}" for year in years]
    return ";".join(_quote(column) for column in columns)


def file_header(file_type: str, cal: Calendar, j: int) -> str | None:
    """Header line of a file of batch number ``j`` (None for the header-less filter file)."""
    if file_type == "effectif" or file_type == "effectif_ent":
        key = "siret" if file_type == "effectif" else "siren"
        months = [effectif_column(*cal.year_month(k)) for k in range(cal.data_step(j) + 1)]
        return ";".join(["compte", key, "rais_soc", "ape_ins", "dep", *months, "base", "UR_EMET"])
    if file_type == "diane":
        return diane_header(diane_years(cal, j))
    return _HEADERS.get(file_type)


@dataclass
class FileLines:
    """Lines of one delivery file for one block and batch (no terminators), with the
    position in ``World`` of the company of each line, and per-kind broken-line counts."""

    lines: list[str] = field(default_factory=list)
    companies: list[int] = field(default_factory=list)
    broken: Counter = field(default_factory=Counter)
    out_of_perimeter: int = 0
    closed: list[bool] = field(default_factory=list)  # admin_urssaf: the row has a closing date
    closed_in_perimeter: int = 0

    def add(self, line: str, company: int) -> None:
        self.lines.append(line)
        self.companies.append(company)


class BlockFormatter:
    """Formats the delivery lines of one simulated block, batch after batch.

    ``batch(j)`` must be called for j = 0, 1, … in order; it returns ``{file_type:
    FileLines}`` for every file of the batch (Diane only every ``DIANE_EVERY`` batches) and
    the SIRENs of the block inside that batch's perimeter. ``broken_rate`` is the
    probability that a clean line of a company inside the perimeter is followed by a
    broken copy.
    """

    def __init__(self, world: World, seed: int, block: int, broken_rate: float) -> None:
        self.world = world
        self.seed = seed
        self.block = block
        self.broken_rate = broken_rate
        self.next_batch = 0
        cal = world.calendar
        self.T = cal.observed
        w = world
        self._dep = [ref.TERRITORIES[t].dep for t in w.territory]
        self._urssaf = [ref.TERRITORIES[t].urssaf for t in w.territory]
        self._ape = [ref.ACTIVITIES[w.activity[c]].ape for c in range(w.n_companies)]
        self._naf = [ref.ACTIVITIES[w.activity[c]].naf for c in range(w.n_companies)]
        self._years = [cal.year_month(k) for k in range(cal.total)]
        # Headcount actually written in the files (missing cells → 0) and its cell strings.
        observed_eff = w.effectif[:, :self.T]
        self._written = np.where(w.effectif_missing[:, :self.T], 0, observed_eff).astype(np.int64)
        self._cells = [[str(v) if v > 0 else "" for v in row] for row in self._written.tolist()]
        company_written = np.zeros((w.n_companies, self.T), dtype=np.int64)
        np.add.at(company_written, w.site_company, self._written)
        self._company_written = company_written
        self._company_cells = [[str(v) if v > 0 else "" for v in row] for row in company_written.tolist()]
        first_positive = np.where((self._written > 0).any(axis=1), (self._written > 0).argmax(axis=1), self.T)
        self._first_positive = first_positive
        company_first = np.where((company_written > 0).any(axis=1), (company_written > 0).argmax(axis=1), self.T)
        self._company_first = company_first
        self._siege_of = w.first_site
        # A secondary site planned after its company was gone never existed: no line anywhere.
        self._ever_open = w.open_to > w.open_from
        # Debit state: current line of each debt and whether it is still open.
        d_site = w.debts[0] if w.debts else np.zeros(0, dtype=np.int64)
        self._debt_line: list[str | None] = [None] * len(d_site)
        self._debt_open = np.zeros(len(d_site), dtype=bool)
        self._events = w.debt_events
        self._event_cursor = 0
        # Sites concerned by each company's proceedings: those open at the opening judgment.
        self._procol_sites: dict[int, list[int]] = {}
        for c in np.nonzero(w.fail_step >= 0)[0]:
            kf = int(w.fail_step[c])
            lo, hi = int(w.first_site[c]), int(w.first_site[c] + w.n_sites[c])
            self._procol_sites[int(c)] = [e for e in range(lo, hi) if w.open_from[e] <= kf < w.open_to[e]]
        # Short-time-work: consumption per demand, in order.
        self._conso_by_demand: dict[int, list[tuple[int, float, int]]] = {}
        for demand, step, hours, eff in w.ap_consumptions:
            self._conso_by_demand.setdefault(demand, []).append((step, hours, eff))
        self._sirene_rows: dict[int, tuple[tuple, str]] = {}
        self._admin_rows: dict[int, tuple[tuple, list[tuple[str, bool]]]] = {}
        self._company_of: list[int] = w.site_company.tolist()
        self._site_history: dict[str, object] = {}
        self._company_history: dict[str, object] = {}
        self._sirene_ul_rows: dict[int, tuple[tuple, str]] = {}
        self._demand_rows: dict[int, tuple[int, str]] = {}
        self._conso_cache: dict[int, list[tuple[int, float, int, str]]] = {}

    # -- public ------------------------------------------------------------------------------

    def batch(self, j: int) -> tuple[dict[str, FileLines], list[str]]:
        """Lines of every file of batch number ``j`` and the block's SIRENs in its perimeter."""
        if j != self.next_batch:
            raise ValueError(f"batches must be formatted in order: expected {self.next_batch}, got {j}")
        self.next_batch += 1
        cal = self.world.calendar
        d = cal.data_step(j)
        window = range(d + 1) if j == 0 else range(d, d + 1)
        out_rng = np.random.default_rng([self.seed, self.block, 4, j])
        files: dict[str, FileLines] = {}
        files["effectif"], files["effectif_ent"], in_perimeter = self._effectif(d, out_rng)
        files["admin_urssaf"] = self._admin_urssaf(d)
        files["cotisation"] = self._cotisation(window)
        files["debit"] = self._debit(j, d)
        files["delai"] = self._delai(window)
        files["ccsf"] = self._ccsf(window)
        files["procol"] = self._procol(window)
        files["apdemande"], files["apconso"] = self._activite_partielle(d)
        files["sirene"] = self._sirene(d)
        files["sirene_ul"] = self._sirene_ul(d)
        if has_diane(cal, j):
            files["diane"] = self._diane(j, d)
        for file_type, content in files.items():
            content.out_of_perimeter = sum(1 for c in content.companies if not in_perimeter[c])
            if content.closed:
                content.closed_in_perimeter = sum(1 for c, closed in zip(content.companies, content.closed)
                                                  if closed and in_perimeter[c])
            if SOURCES[file_type].broken and self.broken_rate > 0:
                self._inject(file_type, content, in_perimeter, np.random.default_rng([self.seed, self.block, 5, j,
                                                                                       _TYPE_ID[file_type]]))
        sirens = [self.world.siren[c] for c in np.nonzero(in_perimeter)[0]]
        return files, sirens

    # -- stock files -----------------------------------------------------------------------

    def _effectif(self, d: int, rng: np.random.Generator) -> tuple[FileLines, FileLines, np.ndarray]:
        w = self.world
        lag_site = rng.random(w.n_establishments) < EFFECTIF_LAG_MISSING
        lag_company = rng.random(w.n_companies) < EFFECTIF_LAG_MISSING
        written_last = np.where(lag_site, 0, self._written[:, d])
        # Perimeter (prepare-import 2022): any establishment value >= 10 in the last 100 columns.
        lo = max(0, d + 1 - PERIMETER_MONTHS)
        window_max = np.maximum(self._written[:, lo:d].max(axis=1, initial=0), written_last)
        company_max = np.zeros(w.n_companies, dtype=np.int64)
        np.maximum.at(company_max, w.site_company, window_max)
        in_perimeter = company_max >= PERIMETER_MIN_EFFECTIF
        site_history = self._history(self._site_history, self._cells, d)
        company_history = self._history(self._company_history, self._company_cells, d)
        sites = FileLines()
        lines, owners = sites.lines, sites.companies
        has_value = (self._first_positive < d) | ((self._first_positive == d) & (written_last > 0))
        lag = lag_site.tolist()
        for e in np.nonzero(has_value)[0].tolist():
            c = self._company_of[e]
            last = "" if lag[e] else self._cells[e][d]
            lines.append(f"{w.account_at(e, d)};{w.siret[e]};{w.name[c]};{self._ape[c]};{self._dep[e]};"
                         f"{site_history[e]}{last};116;{self._urssaf[e]}077")
            owners.append(c)
        companies = FileLines()
        company_last_total = np.zeros(w.n_companies, dtype=np.int64)
        np.add.at(company_last_total, w.site_company, written_last)
        for c in range(w.n_companies):
            first = self._company_first[c]
            if first > d or (first == d and (lag_company[c] or company_last_total[c] == 0)):
                continue
            siege = int(self._siege_of[c])
            last = "" if lag_company[c] or company_last_total[c] == 0 else str(int(company_last_total[c]))
            line = (f"{w.account_at(siege, d)};{w.siren[c]};{w.name[c]};{self._ape[c]};{self._dep[siege]};"
                    f"{company_history[c]}{last};116;{self._urssaf[siege]}077")
            companies.add(line, c)
        return sites, companies, in_perimeter

    @staticmethod
    def _history(state: dict[str, object], cells: list[list[str]], d: int) -> list[str]:
        """``";".join(row[:d]) + ";"`` for every row (``""`` when d = 0), extended
        incrementally from the previous batch's strings (batches come in order)."""
        upto = state.get("upto")
        joined: list[str]
        if upto is None or upto > d:
            joined = ["".join(value + ";" for value in row[:d]) for row in cells]
        else:
            joined = state["joined"]  # type: ignore[assignment]
            for k in range(int(upto), d):  # type: ignore[arg-type]
                joined = [prefix + row[k] + ";" for prefix, row in zip(joined, cells)]
        state["upto"] = d
        state["joined"] = joined
        return joined

    def _admin_urssaf(self, d: int) -> FileLines:
        w = self.world
        out = FileLines()
        lines, companies, closed_flags = out.lines, out.companies, out.closed
        for e in np.nonzero(self._ever_open & (w.open_from <= d))[0].tolist():
            c = int(w.site_company[e])
            is_closed = bool(w.open_to[e] <= d)
            transfer = int(w.transfer_step[e])
            moved_yet = bool(w.accounts[e][1]) and transfer <= d
            key = (is_closed, moved_yet)
            cached = self._admin_rows.get(e)
            if cached is None or cached[0] != key:
                created = _urssaf_date(*w.site_creation[e])
                closed = ""
                if is_closed:
                    year, month = self._years[int(w.open_to[e])]
                    closed = _urssaf_date(year, month, 1)
                first, second = w.accounts[e]
                prefix = f"{self._urssaf[e]};{self._dep[e]};"
                if moved_yet:
                    year, month = self._years[transfer]
                    moved = _urssaf_date(year, month, 1)
                    rows = [(f"{prefix}{first};3;{w.siren[c]};{w.siret[e]};{created};{moved}", True),
                            (f"{prefix}{second};{'3' if closed else '1'};{w.siren[c]};{w.siret[e]};{moved};{closed}",
                             is_closed)]
                else:
                    rows = [(f"{prefix}{first};{'3' if closed else '1'};{w.siren[c]};{w.siret[e]};{created};{closed}",
                             is_closed)]
                cached = (key, rows)
                self._admin_rows[e] = cached
            for line, flag in cached[1]:
                lines.append(line)
                companies.append(c)
                closed_flags.append(flag)
        return out

    def _insee_step(self, d: int) -> int:
        """Step whose headcount sets INSEE bands in the delivery of data step ``d``: INSEE
        updates them once a year, from the December two years before (clipped to the history)."""
        year = self._years[d][0]
        return max(0, (year - 2) * 12 + 11 - self.world.calendar.first_month)

    def _sirene(self, d: int) -> FileLines:
        w = self.world
        out = FileLines()
        lines, companies = out.lines, out.companies
        year_d = self._years[d][0]
        headcount_step = np.maximum(self._insee_step(d), w.open_from)
        headcount = w.effectif[np.arange(w.n_establishments), np.minimum(headcount_step, w.effectif.shape[1] - 1)]
        bands = np.searchsorted(_BAND_LIMITS, headcount, side="right")
        for e in np.nonzero(self._ever_open & (w.open_from <= d))[0].tolist():
            c = int(w.site_company[e])
            closed = bool(w.open_to[e] <= d)
            state_key = (closed, int(bands[e]), year_d)
            cached = self._sirene_rows.get(e)
            if cached is None or cached[0] != state_key:
                cached = (state_key, self._sirene_line(e, c, closed, _BAND_CODES[int(bands[e])], year_d))
                self._sirene_rows[e] = cached
            lines.append(cached[1])
            companies.append(c)
        return out

    def _sirene_line(self, e: int, c: int, closed: bool, band: str, year_d: int) -> str:
        w = self.world
        territory = ref.TERRITORIES[w.territory[e]]
        created = _iso(*w.site_creation[e])
        if closed:
            year, month = self._years[int(w.open_to[e])]
            start = _iso(year, month, 1)
        else:
            start = created
        number, street_type, street = w.street[e]
        nic = w.siret[e][9:]
        postal = territory.postal_code(int(w.postal_number[e]))
        commune_code = territory.commune_code(int(w.postal_number[e]))
        lon, lat = float(w.lon[e]), float(w.lat[e])
        fields = [
            w.siren[c], nic, w.siret[e], "O", created, band, str(max(year_d - 2, w.site_creation[e][0])), "",
            f"{start}T00:00:00", "true" if w.site_number[e] == 0 else "false", "2" if closed else "1", "",
            number, "", street_type, street, postal, w.commune[e], "", "", commune_code, "", "", "", "",
            *([""] * 14),
            start, "F" if closed else "A", "", "", "", "", self._naf[c], "NAFRev2", "N" if closed else "O",
            f"{lon:.6f}", f"{lat:.6f}", "0.87", "housenumber",
            f"{number} {street_type} {street} {postal} {w.commune[e]}", f"{commune_code}_{e % 9999:04d}_{number:0>5}",
            "G", f"{number} {street_type} {street}", "",
        ]
        return ",".join(_csv_field(value) for value in fields)

    def _sirene_ul(self, d: int) -> FileLines:
        w = self.world
        out = FileLines()
        year_d = self._years[d][0]
        opened = self._ever_open & (w.open_from <= d)
        n_opened = np.bincount(w.site_company, weights=opened, minlength=w.n_companies)
        n_closed = np.bincount(w.site_company, weights=opened & (w.open_to <= d), minlength=w.n_companies)
        ceased_all = (n_opened > 0) & (n_closed == n_opened)
        last_closure = np.zeros(w.n_companies, dtype=np.int64)
        np.maximum.at(last_closure, w.site_company, np.where(opened, np.minimum(w.open_to, self.T - 1), 0))
        headcounts = np.bincount(w.site_company, weights=w.effectif[:, self._insee_step(d)], minlength=w.n_companies)
        for c in np.nonzero(w.birth_step <= d)[0]:
            c = int(c)
            ceased = bool(ceased_all[c])
            band = ref.tranche_effectif(int(headcounts[c]))
            state_key = (ceased, band, year_d, int(last_closure[c]) if ceased else -1)
            cached = self._sirene_ul_rows.get(c)
            if cached is not None and cached[0] == state_key:
                out.add(cached[1], c)
                continue
            created = _iso(*w.creation[c])
            if ceased:
                year, month = self._years[int(last_closure[c])]
                start = _iso(year, month, 1)
            else:
                start = created
            individual = w.legal[c] == 3
            first_name = w.first_name[c] if individual else ""
            fields = [
                w.siren[c], "O", "", created, "", _sex(first_name) if individual else "",
                first_name, "", "", "", first_name, "", "",
                band, str(year_d - 2), f"{start}T00:00:00", "2" if ceased else "1",
                ref.categorie_entreprise(int(w.size[c])), str(year_d - 1), start, "C" if ceased else "A",
                w.surname[c] if individual else "", "", "" if individual else w.name[c], "", "", "",
                ref.LEGAL_FORMS[w.legal[c]][0], self._naf[c], "NAFRev2", w.siret[int(w.first_site[c])][9:], "N",
                "N" if ceased else "O",
            ]
            line = ",".join(_csv_field(value) for value in fields)
            self._sirene_ul_rows[c] = (state_key, line)
            out.add(line, c)
        return out

    def _activite_partielle(self, d: int) -> tuple[FileLines, FileLines]:
        """Stock files: every demand made up to the data month, with the consumption
        delivered so far (DARES consumption arrives one month late), and that consumption."""
        w = self.world
        demands, consumptions = FileLines(), FileLines()
        for number, (e, nth, k, day, months, eff, eff_ent, hta, eff_auto, motif, perimetre) in enumerate(w.ap_demands):
            if k > d:
                continue
            c = int(w.site_company[e])
            ident = ids.demand_id(int(w.site_global[e]), nth, self.seed)
            conso = self._conso_lines(number, ident, w.siret[e])
            delivered = [item for item in conso if item[0] <= d - 1]
            cached = self._demand_rows.get(number)
            if cached is None or cached[0] != len(delivered):
                y, m, dd = w.month_day(k, day)
                start = add_months(y, m, 1)
                end = add_months(y, m, months)
                start_y, start_m, end_y, end_m = start.year, start.month, end.year, end.month
                hours = sum(item[1] for item in delivered)
                consumed_eff = max((item[2] for item in delivered), default=0)
                fields = [
                    _quote(ident), _quote(w.siret[e]), f"{eff_ent}.0", f"{eff}.0", _quote(_iso(y, m, dd)),
                    _quote(_iso(start_y, start_m, 1)), _quote(_iso(end_y, end_m, _last_day(end_y, end_m))),
                    f"{hta:.1f}", f"{hta * AP_ALLOWANCE:.2f}", f"{eff_auto}.0", _quote(str(motif)),
                    _quote(str(perimetre)), f"{hours:.2f}", f"{consumed_eff}.0", f"{hours * AP_ALLOWANCE:.2f}",
                    _quote("1" if nth > 0 else "0"),
                ]
                cached = (len(delivered), ",".join(fields))
                self._demand_rows[number] = cached
            demands.add(cached[1], c)
            for item in delivered:
                consumptions.add(item[3], c)
        return demands, consumptions

    def _conso_lines(self, demand: int, ident: str, siret: str) -> list[tuple[int, float, int, str]]:
        """(step, hours, effectif, line) of a demand's consumption, formatted once."""
        lines = self._conso_cache.get(demand)
        if lines is None:
            lines = []
            for step, hours, eff in self._conso_by_demand.get(demand, []):
                year, month = self._years[step]
                lines.append((step, hours, eff, ",".join([
                    _quote(ident), _quote(siret), f"{hours:.2f}", f"{hours * AP_ALLOWANCE:.2f}", f"{eff}.0",
                    _quote(_iso(year, month, 1)),
                ])))
            self._conso_cache[demand] = lines
        return lines

    # -- flux files ------------------------------------------------------------------------

    def _cotisation(self, window: range) -> FileLines:
        w = self.world
        out = FileLines()
        if not w.cotisations:
            return out
        site, step, start, due, paid = w.cotisations
        selected = (step >= window.start) & (step < window.stop)
        lines, companies = out.lines, out.companies
        periods: dict[tuple[int, bool], str] = {}
        for e, written, first, due_i, paid_i in zip(site[selected].tolist(), step[selected].tolist(),
                                                    start[selected].tolist(), due[selected].tolist(),
                                                    paid[selected].tolist()):
            quarterly = written > first
            period = periods.get((first, quarterly))
            if period is None:
                period = periods[(first, quarterly)] = _period(*self._years[first], quarterly, 4)
            lines.append(f"{self._urssaf[e]};{self._dep[e]};{w.account_at(e, first)};{period};"
                         f"{_comma(due_i - paid_i)};{_comma(paid_i)};{_comma(due_i)}")
            companies.append(self._company_of[e])
        return out

    def _debit_line(self, event: tuple[int, int, int, int, int, int, int, str]) -> tuple[str, int]:
        w = self.world
        debt, k, day, hist, po, pp, operation, motif = event
        d_site, _, d_start, d_quarterly = w.debts
        e = int(d_site[debt])
        c = int(w.site_company[e])
        first = int(d_start[debt])
        year, month = self._years[first]
        period = _period(year, month, bool(d_quarterly[debt]), 6)
        treat_year, treat_month = self._years[k + 1]
        treated = _urssaf_date(treat_year, treat_month, min(day, _last_day(treat_year, treat_month)))
        created = w.site_creation[e]
        phase = int(w.phase[c, k])
        procedure = "1" if phase in (PHASE_LIQUIDATION, PHASE_OBSERVATION) else "2" if phase == PHASE_PLAN else "0"
        state = "3" if w.open_to[e] <= k else "1"
        line = (f"{self._urssaf[e]};{self._dep[e]};{w.account_at(e, first)};{w.siren[c]};"
                f"{created[0]:04d}{created[1]:02d}{created[2]:02d};{state};{procedure};{period};101;{hist};{treated};"
                f"{po};{pp};{operation};{motif};0")
        return line, c

    def _debit(self, j: int, d: int) -> FileLines:
        """Batch 0: every history line up to its data month; later batches: the new history
        line of each debt treated that month, and the current line of every other open debt."""
        out = FileLines()
        events = self._events
        touched: set[int] = set()
        while self._event_cursor < len(events) and events[self._event_cursor][1] <= d:
            event = events[self._event_cursor]
            self._event_cursor += 1
            line, c = self._debit_line(event)
            debt = event[0]
            self._debt_line[debt] = line
            self._debt_open[debt] = (event[4] + event[5]) > 0
            if j == 0 or event[1] == d:
                out.add(line, c)
                touched.add(debt)
        if j > 0:
            d_site = self.world.debts[0]
            for debt in np.nonzero(self._debt_open)[0]:
                if int(debt) in touched:
                    continue
                out.add(self._debt_line[debt], int(self.world.site_company[d_site[debt]]))
        return out

    def _delai(self, window: range) -> FileLines:
        w = self.world
        out = FileLines()
        for e, k, day, months, amount in w.delais:
            if k not in window:
                continue
            c = int(w.site_company[e])
            y, m, dd = w.month_day(k, day)
            end = add_months(y, m, months)
            end_y, end_m = end.year, end.month
            end_d = min(dd, _last_day(end_y, end_m))
            days = (datetime.date(end_y, end_m, end_d) - datetime.date(y, m, dd)).days
            structure = ids.litigation_number(self._urssaf[e], int(w.site_global[e]), k, self.seed)
            out.add(f"{self._urssaf[e]};{self._dep[e]};{w.account_at(e, k)};{structure};{_dmy(y, m, dd)};"
                    f"{_dmy(end_y, end_m, end_d)};{days};{w.name[c]};{'INF' if months <= 6 else 'SUP'};{y};"
                    f"{amount:.2f};APPROB;SUR PO", c)
        return out

    def _ccsf(self, window: range) -> FileLines:
        w = self.world
        out = FileLines()
        for c, k, day, stade in w.ccsf:
            if k not in window:
                continue
            siege = int(w.first_site[c])
            y, m, dd = w.month_day(k, day)
            out.add(f"{self._urssaf[siege]};{self._dep[siege]};{w.account_at(siege, k)};{_urssaf_date(y, m, dd)};"
                    f"{stade};CCSF", c)
        return out

    def _procol(self, window: range) -> FileLines:
        w = self.world
        out = FileLines()
        for c, k, day, label in w.procol_events:
            if k not in window:
                continue
            y, m, dd = w.month_day(k, day)
            date = f"{dd:02d}{_MONTHS[m - 1]}{y:04d}"
            for e in self._procol_sites.get(c, []):
                out.add(f"{w.siret[e]};{w.siren[c]};{date};1;{label}", c)
        return out

    def _diane(self, j: int, d: int) -> FileLines:
        w = self.world
        out = FileLines()
        years = diane_years(w.calendar, j)
        blanks = [""] * len(years)
        for c in np.nonzero(w.diane_covered & (w.birth_step <= d))[0]:
            c = int(c)
            figures = [w.diane.get((c, year)) for year in years]
            if not any(figures):
                continue
            failed = 0 <= w.fail_step[c] <= d
            values = [w.name[c], w.siren[c], ref.LEGAL_FORMS[w.legal[c]][1], "Oui" if failed else "Non"]
            row = [""] + values
            for name in _DIANE_YEARLY_1:
                row += [_diane_value(name, figure) for figure in figures] if name in _DIANE_VALUES else blanks
            available = [year for year, figure in zip(years, figures) if figure]
            row += [str(max(0, int(w.n_sites[c]) - 1)), "0", "1", str(available[0])]
            for name in _DIANE_YEARLY_2:
                if name == "Date de clôture":
                    row += [f"31/12/{year}" if figure else "" for year, figure in zip(years, figures)]
                elif name == "Nombre de mois":
                    row += ["12" if figure else "" for figure in figures]
                elif name in _DIANE_VALUES:
                    row += [_diane_value(name, figure) for figure in figures]
                else:
                    row += blanks
            out.add(";".join(_quote(value) for value in row), c)
        return out

    # -- broken lines ----------------------------------------------------------------------

    def _inject(self, file_type: str, content: FileLines, in_perimeter: np.ndarray, rng: np.random.Generator) -> None:
        source = SOURCES[file_type]
        n = len(content.lines)
        if n == 0:
            return
        draws = rng.random(n)
        chosen = np.nonzero((draws < self.broken_rate) & in_perimeter[np.asarray(content.companies, dtype=np.int64)])[0]
        if len(chosen) == 0:
            return
        lines, companies = content.lines, content.companies
        result_lines: list[str] = []
        result_companies: list[int] = []
        previous = 0
        for i in chosen:
            i = int(i)
            result_lines.extend(lines[previous:i + 1])
            result_companies.extend(companies[previous:i + 1])
            kind = source.broken[int(rng.integers(0, len(source.broken)))]
            result_lines.append(_corrupt(file_type, source, lines[i], kind, rng))
            result_companies.append(companies[i])
            content.broken[kind] += 1
            previous = i + 1
        result_lines.extend(lines[previous:])
        result_companies.extend(companies[previous:])
        content.lines = result_lines
        content.companies = result_companies


_TYPE_ID = {file_type: number for number, file_type in enumerate(SOURCES)}
# INSEE headcount bands: lower bounds (0 = "00") and codes, for vectorised lookup.
_BAND_LIMITS = np.array([1, 3, 6, 10, 20, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000])
_BAND_CODES = ("00", "01", "02", "03", "11", "12", "21", "22", "31", "32", "41", "42", "51", "52", "53")
_HEADERS = {
    "admin_urssaf": ADMIN_HEADER, "cotisation": COTISATION_HEADER, "debit": DEBIT_HEADER, "delai": DELAI_HEADER,
    "ccsf": CCSF_HEADER, "procol": PROCOL_HEADER, "apconso": APCONSO_HEADER, "apdemande": APDEMANDE_HEADER,
    "sirene": SIRENE_HEADER, "sirene_ul": SIRENE_UL_HEADER,
}


def _diane_value(name: str, figure: dict[str, float] | None) -> str:
    if not figure:
        return ""
    key = _DIANE_VALUES.get(name)
    if key is None:
        return ""
    value = figure[key]
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".replace(".", ",")


_FEMALE_FIRST_NAMES = frozenset({"MARIE", "NATHALIE", "ISABELLE", "SYLVIE", "CATHERINE", "SOPHIE", "SANDRINE",
                                 "VALERIE", "CELINE", "FATIMA"})


def _sex(first_name: str) -> str:
    return "F" if first_name in _FEMALE_FIRST_NAMES else "M"


def _split(source: SourceFile, line: str) -> list[str]:
    if source.quoted:
        return next(csv.reader(io.StringIO(line), delimiter=source.sep))
    return line.split(source.sep)


def _join(source: SourceFile, fields: list[str], original: str) -> str:
    if not source.quoted:
        return source.sep.join(fields)
    if source.file_type in ("apconso", "apdemande"):
        # DARES files quote strings and dates, never numbers: keep each field's original style.
        originals = original.split(source.sep)
        return source.sep.join(_quote(f) if o.startswith('"') else f for f, o in zip(fields, originals))
    return source.sep.join(_csv_field(f) for f in fields)


# Column of the date each parser converts, and how to make it impossible.
_BAD_DATE_COLUMN = {"cotisation": 3, "debit": 10, "delai": 4, "ccsf": 3, "procol": 2, "apconso": 5, "apdemande": 4}


def _bad_date(file_type: str, value: str) -> str:
    if file_type == "cotisation":           # URSSAF period YYQM: a letter in the quarter
        return value[:2] + "X" + value[3:]
    if file_type in ("debit", "ccsf"):     # URSSAF date: month 13
        number = int(value) + 19_000_000
        year, day = number // 10000, number % 100
        return str(year * 10000 + 1300 + day - 19_000_000)
    if file_type == "delai":                # DD/MM/YYYY: 30 February
        return "30/02/" + value[-4:]
    if file_type == "procol":               # DDMonYYYY: 30 February
        return "30FEB" + value[-4:]
    return value[:4] + "-02-30"             # ISO dates of the DARES files


def _corrupt(file_type: str, source: SourceFile, line: str, kind: str, rng: np.random.Generator) -> str:
    """A broken copy of ``line``: see the module docstring for the kinds."""
    fields = _split(source, line)
    if kind == "field_count":
        return _join(source, fields[:-1], line)
    if kind == "bad_date":
        column = _BAD_DATE_COLUMN[file_type]
        fields[column] = _bad_date(file_type, fields[column])
        return _join(source, fields, line)
    # unknown_key
    siren = ids.unknown_siren(rng)
    if file_type in ("cotisation", "debit", "delai", "ccsf"):
        fields[2] = ids.unknown_account(rng)
    elif file_type == "effectif":
        fields[1] = ids.siret(siren, 0)
    elif file_type in ("effectif_ent", "sirene_ul"):
        fields[1 if file_type == "effectif_ent" else 0] = siren
    elif file_type == "procol":
        fields[0], fields[1] = ids.siret(siren, 0), siren
    elif file_type in ("apconso", "apdemande"):
        fields[0] = "X" + f"{int(rng.integers(0, 10**8)):08d}" + "99"
        fields[1] = ids.siret(siren, 0)
    elif file_type == "sirene":
        full = ids.siret(siren, 0)
        fields[0], fields[1], fields[2] = siren, full[9:], full
    else:  # pragma: no cover - SOURCES declares no unknown_key for other types
        raise ValueError(f"no unknown_key corruption for {file_type}")
    return _join(source, fields, line)
