"""The company fiche (``sf fiche``): everything known about one company, gathered for one page.

:func:`gather_fiche` reads, for a SIREN (or the SIREN of a SIRET):

* **identity** from RawData, rebuilt as of the batch shown (:func:`sf.compaction.rebuild_state`
  through :func:`~sf.features.state.company_state_from_rawdata`): name and legal form
  (``sirene_ul``), and per establishment its address, APE code, creation date and whether it
  is the siège (``sirene``); the sector label and region come from Features;
* **raw events** from the same state: insolvency proceedings (``procol``: date, action,
  stage; establishment or company level) and payment delays (``delai``: granted on, ends on,
  amount, length);
* **monthly series** from the Features of the batch shown (already one row per establishment
  and month, point in time): headcount, contributions, employee/employer-share debts, delay
  schedule, short-time work authorised/consumed, proceedings state and the BdF/Diane ratios.
  When that batch has no Features for the company (``sf features`` not run yet), the same
  rows are computed in process from RawData with :func:`~sf.features.compute.compute_company_features`
  (fixed mode, the batch's periods) and the page says so;
* **scores** of every batch up to the one shown (``Scores``: score, alert level, reasons by
  theme, top variables; for a Score an expert correction changed, the score and level before it
  and the rules, with their reason and author).

Batch shown: ``--batch KEY`` if given, else the latest batch (string order) holding Features
of the company, else the latest defined batch.

Errors (one line, exit code 2, :class:`~sf.engine.errors.UsageError`): an identifier that is
not 9 or 14 digits; a company (or SIRET) found in none of RawData, Features and Scores; a
``batch`` that is not defined; a ``batch`` that has no Scores at all ("run sf score first").
A batch scored but without a score for this company (out of scope, e.g. already in
proceedings) is not an error: the page says so. Malformed RawData records raise
:class:`~sf.engine.errors.BadInputError` (exit code 3) naming the entity.

Dates are aware UTC datetimes (pandas columns ``datetime64[ns, UTC]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pymongo.database import Database

from sf.compaction.errors import InvalidCompactionInputError
from sf.engine.batches import Batch, get_batch, list_batches
from sf.engine.collections import FEATURES, RAW_DATA, SCORES
from sf.engine.errors import BadInputError, UsageError

from sf.features.errors import FeatureInputError
from sf.features.financial import BDF_RATIOS
from sf.features.months import as_utc
from sf.features.state import CompanyState, company_state_from_rawdata
from sf.model.scores_store import ALERT_LEVELS, CORRECTION_FIELDS

#: Features variables drawn on the fiche (all in :mod:`sf.features.catalogue`).
SERIES_COLUMNS: tuple[str, ...] = (
    "effectif", "effectif_ent", "cotisation", "montant_part_ouvriere", "montant_part_patronale",
    "delai_montant_echeancier", "apart_heures_autorisees", "apart_heures_consommees", "etat_proc_collective",
    "raison_sociale", "statut_juridique", "code_ape", "code_naf", "libelle_naf", "region", "departement",
    *BDF_RATIOS,
)
#: Months before the first alert over which the "before the alert" trend is measured.
TREND_MONTHS = 12

# INSEE "catégorie juridique" codes most companies have; others are shown as their code.
LEGAL_FORMS: dict[str, str] = {
    "1000": "Entrepreneur individuel", "5498": "EURL", "5499": "SARL", "5599": "SA à conseil d'administration",
    "5699": "SA à directoire", "5710": "SAS", "5720": "SASU", "6540": "SCI", "9220": "Association déclarée",
}

_SIREN = re.compile(r"^[0-9]{9}$")
_SIRET = re.compile(r"^[0-9]{14}$")


@dataclass
class Establishment:
    """One establishment of the company, from its latest ``sirene`` record (fields may be None)."""

    siret: str
    siege: bool | None = None
    adresse: str | None = None
    commune: str | None = None
    code_postal: str | None = None
    departement: str | None = None
    ape: str | None = None
    date_creation: datetime | None = None
    effectif: float | None = None  # latest known headcount of the series shown


@dataclass
class ProcolEvent:
    """An insolvency-proceedings event; ``siret`` is None for a company-level record."""

    date: datetime
    action: str
    stade: str
    siret: str | None


@dataclass
class DelaiEvent:
    """A payment delay granted by URSSAF to an establishment."""

    siret: str
    date_creation: datetime
    date_echeance: datetime
    montant_echeancier: float | None
    duree_delai: int | None
    stade: str | None
    action: str | None


@dataclass
class FicheData:
    """What the fiche page shows (see the module docstring); built by :func:`gather_fiche`."""

    siren: str
    focus_siret: str | None
    batch: str | None
    name: str | None
    legal_form: str | None
    sector: str | None
    region: str | None
    city: str | None
    company_created: datetime | None
    establishments: list[Establishment]
    series: pd.DataFrame  # siret, periode + SERIES_COLUMNS
    series_source: str  # "Features <batch>", "RawData (computed, <batch>)" or "none"
    procol: list[ProcolEvent]
    delais: list[DelaiEvent]
    scores: pd.DataFrame  # batch, siret, periode, score, alert, reasons, top_variables, model, CORRECTION_FIELDS
    notes: list[str] = field(default_factory=list)

    @property
    def first_alert(self) -> pd.Timestamp | None:
        """Month of the first score with an alert (``high``/``moderate``), if any."""
        alerted = self.scores[self.scores["alert"].isin(ALERT_LEVELS)]
        return None if alerted.empty else alerted["periode"].min()

    def company_series(self) -> pd.DataFrame:
        """Per month (index ``periode``): the establishments' headcount, contributions, debts,
        delay schedules and short-time hours summed (NaN when no establishment has a value)."""
        columns = ["effectif", "cotisation", "montant_part_ouvriere", "montant_part_patronale",
                   "delai_montant_echeancier", "apart_heures_autorisees", "apart_heures_consommees"]
        if self.series.empty:
            return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], tz="UTC", name="periode"))
        grouped = self.series.groupby("periode")[columns].sum(min_count=1)
        grouped["dette"] = grouped[["montant_part_ouvriere", "montant_part_patronale"]].sum(axis=1, min_count=1)
        return grouped.sort_index()

    def trend_before_alert(self) -> dict[str, Any] | None:
        """Headcount and URSSAF debt of the company :data:`TREND_MONTHS` months before the first
        alert and at it (or over the last months of the series when there is no alert):
        ``{"from", "to", "effectif_from", "effectif_to", "dette_from", "dette_to", "alert"}``;
        None when the series is empty."""
        company = self.company_series()
        if company.empty:
            return None
        alert = self.first_alert
        end = alert if alert is not None and alert in company.index else company.index[-1]
        start = end - pd.DateOffset(months=TREND_MONTHS)
        window = company.loc[(company.index >= start) & (company.index <= end)]
        first, last = window.iloc[0], window.iloc[-1]
        return {"from": window.index[0], "to": window.index[-1], "alert": alert is not None,
                "effectif_from": _num(first["effectif"]), "effectif_to": _num(last["effectif"]),
                "dette_from": _num(first["dette"]) or 0.0, "dette_to": _num(last["dette"]) or 0.0}


def _num(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)


def parse_identifier(text: str) -> tuple[str, str | None]:
    """``(siren, siret)`` of a 9-digit SIREN (siret None) or a 14-digit SIRET (spaces ignored).

    Raises :class:`UsageError` otherwise.
    """
    compact = re.sub(r"\s+", "", text or "")
    if _SIRET.match(compact):
        return compact[:9], compact
    if _SIREN.match(compact):
        return compact, None
    raise UsageError(f"{text!r} is neither a SIREN (9 digits) nor a SIRET (14 digits)")


# --- reading ------------------------------------------------------------------------------------

def read_rawdata_values(db: Database, siren: str) -> list[dict[str, Any]]:
    """The ``value`` of the company's RawData documents (its SIREN and every SIRET under it)."""
    docs = db[RAW_DATA].find({"_id": {"$gte": siren, "$lt": siren + "~"}})
    return [d["value"] for d in docs if isinstance(d.get("value"), dict) and str(d["_id"]).startswith(siren)]


def features_sirets(db: Database, siren: str, batch: str) -> set[str]:
    """SIRETs of the company that have Features in ``batch``.

    Read with ``find`` on ``_id`` rather than ``distinct``: the embedded server's ``distinct``
    returns digit-only strings as integers (a SIRET would lose its leading zeros)."""
    query: dict[str, Any] = {"_id.batch": batch, "_id.siret": {"$gte": siren, "$lt": siren + "~"}}
    return {str(doc["_id"]["siret"]) for doc in db[FEATURES].find(query, {"_id": 1})}


def read_company_scores(db: Database, siren: str, until_batch: str | None) -> pd.DataFrame:
    """Scores of the company's establishments of every batch ``<= until_batch`` (all if None),
    sorted by batch then SIRET."""
    columns = ["batch", "siret", "periode", "score", "alert", "reasons", "top_variables", "model", *CORRECTION_FIELDS]
    rows = []
    for d in db[SCORES].find({"_id.siret": {"$gte": siren, "$lt": siren + "~"}}):
        batch = d["_id"]["batch"]
        if until_batch is not None and batch > until_batch:
            continue
        rows.append({"batch": batch, "siret": d["_id"]["siret"], "periode": d.get("periode"),
                     "score": d.get("score"), "alert": d.get("alert"), "reasons": d.get("reasons") or {},
                     "top_variables": d.get("top_variables") or [], "model": d.get("model"),
                     **{name: d.get(name) for name in CORRECTION_FIELDS}})
    frame = pd.DataFrame(rows, columns=columns).astype({name: object for name in CORRECTION_FIELDS})
    frame["periode"] = pd.to_datetime(frame["periode"], utc=True)
    frame["score"] = pd.to_numeric(frame["score"]).astype(float)
    return frame.sort_values(["batch", "siret"], kind="stable", ignore_index=True)


def _choose_batch(db: Database, siren: str, batch: str | None) -> tuple[Batch | None, bool]:
    """(batch shown, whether it has Features for the company)."""
    if batch is not None:
        chosen = get_batch(db, batch)
        return chosen, bool(features_sirets(db, siren, batch))
    batches = list_batches(db)
    for candidate in reversed(batches):
        if db[FEATURES].find_one({"_id.batch": candidate.key, "_id.siret": {"$gte": siren, "$lt": siren + "~"}},
                                 {"_id": 1}):
            return candidate, True
    return (batches[-1] if batches else None), False


def _series_from_features(db: Database, batch: str, sirets: list[str]) -> pd.DataFrame:
    from sf.model.table import load_feature_table  # pandas-heavy reader, only needed here

    return load_feature_table(db, batch, columns=list(SERIES_COLUMNS), sirets=sirets)


def _series_from_rawdata(state: CompanyState, batch: Batch) -> pd.DataFrame:
    from sf.features.compute import compute_company_features
    from sf.features.job import batch_periods
    from sf.features.state import FeatureParams

    periods = list(batch_periods(batch))
    if not periods or not state.etablissements:
        return _empty_series()
    params = FeatureParams(batch=batch.key, date_fin_effectif=batch.param.date_fin_effectif or batch.param.date_fin)
    frame = compute_company_features(state, periods, params)
    frame["periode"] = pd.to_datetime(frame["periode"], utc=True)
    return frame[["siret", "siren", "periode", *SERIES_COLUMNS]].sort_values(["siret", "periode"], ignore_index=True)


def _empty_series() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in ("siret", "siren", *SERIES_COLUMNS)})
    frame.insert(2, "periode", pd.Series([], dtype="datetime64[ns, UTC]"))
    return frame


# --- pure extraction from the rebuilt state ---------------------------------------------------

def _latest(records: dict[str, Any] | None) -> dict[str, Any] | None:
    """The record added last (RawData folds batches in key order, so dict order is batch order)."""
    if not records:
        return None
    values = [r for r in records.values() if isinstance(r, dict)]
    return values[-1] if values else None


def establishment_of(siret: str, records: dict[str, dict[str, Any]]) -> Establishment:
    """:class:`Establishment` from an establishment's rebuilt records (its latest ``sirene``)."""
    sirene = _latest(records.get("sirene")) or {}
    street = " ".join(str(sirene[k]) for k in ("numero_voie", "indrep", "type_voie", "voie") if sirene.get(k))
    created = sirene.get("date_creation")
    return Establishment(siret=siret, siege=sirene.get("siege"), adresse=street or None,
                         commune=sirene.get("commune"), code_postal=sirene.get("code_postal"),
                         departement=sirene.get("departement"), ape=sirene.get("ape"),
                         date_creation=as_utc(created) if isinstance(created, datetime) else None)


def procol_of(state: CompanyState) -> list[ProcolEvent]:
    """Every proceedings record of the company (company and establishment level), by date.

    Raises :class:`FeatureInputError` for a record without a ``date_effet`` date.
    """
    events: list[ProcolEvent] = []
    sources = [(None, state.entreprise)] + [(s, state.etablissements[s]) for s in sorted(state.etablissements)]
    for siret, records in sources:
        for h, r in (records.get("procol") or {}).items():
            when = r.get("date_effet")
            if not isinstance(when, datetime):
                raise FeatureInputError(f"{siret or state.siren} procol {h}", f"date_effet is not a date: {when!r}")
            events.append(ProcolEvent(as_utc(when), str(r.get("action_procol") or ""), str(r.get("stade_procol") or ""),
                                      siret))
    return sorted(events, key=lambda e: (e.date, e.siret or ""))


def delais_of(state: CompanyState) -> list[DelaiEvent]:
    """Every payment delay of the company's establishments, by date granted.

    Raises :class:`FeatureInputError` for a record whose dates are missing.
    """
    delays: list[DelaiEvent] = []
    for siret in sorted(state.etablissements):
        for h, r in (state.etablissements[siret].get("delai") or {}).items():
            start, end = r.get("date_creation"), r.get("date_echeance")
            if not isinstance(start, datetime) or not isinstance(end, datetime):
                raise FeatureInputError(f"{siret} delai {h}", "date_creation and date_echeance must be dates")
            amount = r.get("montant_echeancier")
            delays.append(DelaiEvent(siret, as_utc(start), as_utc(end), None if amount is None else float(amount),
                                     r.get("duree_delai"), r.get("stade"), r.get("action")))
    return sorted(delays, key=lambda e: (e.date_creation, e.siret))


def legal_form_label(code: str | None) -> str | None:
    """``"SAS (5710)"`` for a known catégorie juridique, the code itself otherwise."""
    if not code:
        return None
    label = LEGAL_FORMS.get(str(code))
    return f"{label} ({code})" if label else str(code)


def _last_value(series: pd.DataFrame, column: str) -> Any:
    if series.empty or column not in series.columns:
        return None
    values = series[column].dropna()
    return values.iloc[-1] if len(values) else None


# --- the gathering ----------------------------------------------------------------------------

def gather_fiche(db: Database, identifier: str, batch: str | None = None) -> FicheData:
    """Everything the fiche shows about the company of ``identifier`` (see module docstring).

    Raises :class:`UsageError` (bad identifier, unknown company or SIRET, undefined batch, batch
    without Scores) or :class:`BadInputError` (unusable RawData records).
    """
    siren, focus = parse_identifier(identifier)
    notes: list[str] = []
    if batch is not None:
        get_batch(db, batch)
        if db[SCORES].find_one({"_id.batch": batch}, {"_id": 1}) is None:
            raise UsageError(f"batch {batch} has no scores", f"run `sf score --batch {batch}` first, or omit --batch")
    values = read_rawdata_values(db, siren)
    chosen, has_features = _choose_batch(db, siren, batch)
    until = chosen.key if chosen is not None else None
    try:
        state = company_state_from_rawdata(siren, values, until) if values else CompanyState(siren)
        procol, delais = procol_of(state), delais_of(state)
    except (FeatureInputError, InvalidCompactionInputError) as exc:
        raise BadInputError(f"RawData of {siren}: {exc}") from None
    sirets = set(state.etablissements)
    if chosen is not None and has_features:
        sirets |= features_sirets(db, siren, chosen.key)
    scores = read_company_scores(db, siren, until)
    sirets |= set(scores["siret"])
    if not values and not sirets:
        raise UsageError(f"SIREN {siren} is unknown: no RawData, Features or Scores",
                         "check the number, or import and compact the batch that holds it")
    if focus is not None and focus not in sirets:
        known = ", ".join(sorted(sirets)) or "none"
        raise UsageError(f"SIRET {focus} is unknown (establishments of {siren} known: {known})")

    if chosen is not None and has_features:
        series = _series_from_features(db, chosen.key, sorted(sirets))
        source = f"Features {chosen.key}"
    elif chosen is not None and state.etablissements:
        try:
            series = _series_from_rawdata(state, chosen)
        except FeatureInputError as exc:
            raise BadInputError(f"RawData of {siren}: {exc}") from None
        source = f"RawData (calculé, lot {chosen.key})"
        notes.append(f"Le lot {chosen.key} n'a pas de Features pour cette entreprise (sf features non lancé) : "
                     "les séries sont calculées ici à partir de RawData, avec les mêmes règles.")
    else:
        series, source = _empty_series(), "none"
        notes.append("Aucune série mensuelle : ni Features ni RawData pour cette entreprise.")
    if batch is not None and scores[scores["batch"] == batch].empty:
        notes.append(f"Pas de score pour cette entreprise dans le lot {batch} (hors périmètre du modèle, par "
                     "exemple déjà en procédure collective).")
    if scores.empty:
        notes.append("Aucun score pour cette entreprise.")

    establishments = [establishment_of(s, state.etablissements.get(s, {})) for s in sorted(sirets)]
    for e in establishments:
        value = _last_value(series[series["siret"] == e.siret], "effectif") if not series.empty else None
        e.effectif = None if value is None else float(value)
    ul = _latest(state.entreprise.get("sirene_ul")) or {}
    siege = next((e for e in establishments if e.siege), None)
    created = ul.get("date_creation")
    sector_code = (siege.ape if siege else None) or _last_value(series, "code_ape")
    sector_label = _last_value(series, "libelle_naf")
    sector = " — ".join(str(x) for x in (sector_code, sector_label) if x) or None
    return FicheData(
        siren=siren, focus_siret=focus, batch=until,
        name=ul.get("raison_sociale") or _last_value(series, "raison_sociale"),
        legal_form=legal_form_label(ul.get("statut_juridique") or _last_value(series, "statut_juridique")),
        sector=sector, region=_last_value(series, "region") or None,
        city=(siege.commune if siege else None) or next((e.commune for e in establishments if e.commune), None),
        company_created=as_utc(created) if isinstance(created, datetime) else None,
        establishments=establishments, series=series, series_source=source, procol=procol, delais=delais,
        scores=scores, notes=notes)
