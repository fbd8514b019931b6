"""Test data for the fiche and the operations report, loaded by path by their tests.

:func:`seed_company` stores one company "sent into difficulty" the way the pipeline would:
RawData documents (records of every source the fiche reads), Features computed from them with
the real pure functions (``company_state_from_rawdata`` → ``compute_company_features`` →
``to_feature_documents``), Scores built with ``score_documents`` (alert levels given), an
Admin batch. The difficulty: headcount falling 2/month and unpaid contributions piling up
from 2022-01, a payment delay in 2022-06, short-time work in 2022, a redressement in 2023-03.

:func:`seed_journal` stores Journal run documents of a month shaped as the commands write
them (``report_document`` of real FileReports, ``CompactionSummary.as_dict()``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from bson import ObjectId
from sf.compaction.run import CompactionSummary
from sf.engine.batches import make_batch, save_batch
from sf.engine.collections import FEATURES, JOURNAL, RAW_DATA, SCORES
from sf.features.compute import compute_company_features, to_feature_documents
from sf.features.job import batch_periods
from sf.model.scores_store import score_documents
from sf.features.state import FeatureParams, company_state_from_rawdata
from sf.importers.driver import report_document
from sf.importers.tracker import FileReport

SIREN = "552100554"
SIRET_A = SIREN + "00013"  # siège, the one that falls
SIRET_B = SIREN + "00021"
HEALTHY_SIREN = "732829320"
HEALTHY_SIRET = HEALTHY_SIREN + "00074"


def d(year: int, month: int, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def months(first: datetime, count: int) -> list[datetime]:
    out, y, m = [], first.year, first.month
    for _ in range(count):
        out.append(d(y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _etablissement_records(siret: str, start_headcount: int, falling: bool, siege: bool) -> dict[str, dict]:
    history = months(d(2020, 1), 48)  # 2020-01 .. 2023-12
    eff, cot, debit = {}, {}, {}
    for i, p in enumerate(history):
        headcount = start_headcount - (2 * max(0, i - 24) if falling else 0)
        eff[f"e{i}"] = {"periode": p, "effectif": max(headcount, 1), "numero_compte": f"C{siret}"}
        end = history[i + 1] if i + 1 < len(history) else d(2024, 1)
        cot[f"c{i}"] = {"periode": {"start": p, "end": end}, "du": 400.0 * start_headcount,
                        "numero_compte": f"C{siret}"}
        if falling and i >= 24:  # unpaid from 2022-01: one new debt each month
            debit[f"d{i}"] = {"periode": {"start": p, "end": end}, "numero_ecart_negatif": str(100 + i),
                              "numero_compte": f"C{siret}", "numero_historique": 1,
                              "date_traitement": d(p.year, p.month, 10),
                              "part_ouvriere": 120.0 * start_headcount, "part_patronale": 280.0 * start_headcount}
    records: dict[str, dict] = {
        "effectif": eff, "cotisation": cot, "debit": debit,
        "sirene": {"s": {"siren": siret[:9], "nic": siret[9:], "siege": siege, "numero_voie": "12",
                         "type_voie": "RUE", "voie": "DES LILAS", "commune": "RENNES" if siege else "VITRE",
                         "code_postal": "35000" if siege else "35500", "code_commune": "35238",
                         "departement": "35", "ape": "2511Z", "date_creation": d(2009, 3, 1),
                         "latitude": 48.1, "longitude": -1.68}},
    }
    if falling:
        records["delai"] = {"dl": {"numero_compte": f"C{siret}", "numero_contentieux": "X1",
                                   "date_creation": d(2022, 6, 15), "date_echeance": d(2023, 6, 15),
                                   "duree_delai": 365, "denomination": "X", "montant_echeancier": 25_000.0,
                                   "stade": "APPROB", "action": "SURSIS"}}
        records["apdemande"] = {"ad": {"id_demande": "S12345678", "periode": {"start": d(2022, 3), "end": d(2022, 9)},
                                       "hta": 3_000.0, "motif_recours_se": 1, "date_statut": d(2022, 2, 20)}}
        records["apconso"] = {f"ac{k}": {"id_conso": "S12345678", "periode": d(2022, 3 + k), "heure_consomme": 300.0 + 50 * k}
                              for k in range(6)}
        records["procol"] = {"pc": {"date_effet": d(2023, 3, 14), "action_procol": "redressement",
                                    "stade_procol": "ouverture"}}
    return records


def _rawdata_doc(key: str, scope: str, batch: str, records: dict[str, dict]) -> dict[str, Any]:
    return {"_id": key, "value": {"key": key, "scope": scope, "batch": {batch: records}}}


def seed_company(db, batch: str = "2401", *, siren: str = SIREN, healthy: bool = False,
                 alerts: dict[str, str | None] | None = None, with_features: bool = True,
                 scored_batches: tuple[str, ...] = ("2311", "2401")) -> None:
    """Store one company (see module docstring) with batches ``scored_batches`` (+ ``batch``) in Admin."""
    for key in sorted(set(scored_batches) | {batch}):
        if not db["Admin"].find_one({"_id.type": "batch", "_id.key": key}):
            year, month = 2000 + int(key[:2]), int(key[2:4])
            save_batch(db, make_batch(key, date_debut=d(2020, 1).date(), date_fin=d(year, month).date(),
                                      check_files=False))
    sirets = [siren + "00074"] if healthy else [siren + "00013", siren + "00021"]
    entreprise = {"sirene_ul": {"u": {"siren": siren, "raison_sociale": "ATELIERS DU TEST" if not healthy
                                      else "BONNE SANTE SA", "statut_juridique": "5710", "date_creation": d(2009, 3, 1)}},
                  "bdf": {f"b{y}": {"arrete_bilan_bdf": d(y, 12, 31), "annee_bdf": y,
                                    "taux_marge": 30.0 - (0 if healthy else 8.0 * (y - 2019)),
                                    "poids_frng": 20.0 - (0 if healthy else 5.0 * (y - 2019))}
                          for y in (2019, 2020, 2021, 2022)}}
    docs = [_rawdata_doc(siren, "entreprise", "2311", entreprise)]
    for i, siret in enumerate(sirets):
        falling = not healthy and i == 0
        docs.append(_rawdata_doc(siret, "etablissement", "2311",
                                 _etablissement_records(siret, 40 if i == 0 else 12, falling, siege=i == 0)))
    db[RAW_DATA].insert_many(docs)
    if with_features:
        from sf.engine.batches import get_batch
        b = get_batch(db, batch)
        state = company_state_from_rawdata(siren, [doc["value"] for doc in docs], batch)
        frame = compute_company_features(state, list(batch_periods(b)),
                                         FeatureParams(batch=batch, date_fin_effectif=b.param.date_fin))
        db[FEATURES].insert_many(to_feature_documents(frame, batch))
    alerts = alerts if alerts is not None else {"2311": "moderate", "2401": "high"}
    for key in scored_batches:
        level = None if healthy else alerts.get(key)
        score = {"high": 0.62, "moderate": 0.31, None: 0.03}[level]
        rows = [{"siret": s, "siren": siren, "periode": d(2000 + int(key[:2]), int(key[2:4])) - pd.DateOffset(months=1),
                 "score": score if j == 0 else 0.04, "alert": level if j == 0 else None,
                 "reasons": {"urssaf": 0.9, "effectif": 0.4, "apart": 0.1, "financier": 0.2, "activite": -0.1},
                 "top_variables": [{"name": "ratio_dette", "theme": "urssaf", "contribution": 0.7},
                                   {"name": "effectif_past_12", "theme": "effectif", "contribution": 0.3}],
                 "model": f"{key}-hgb-test"} for j, s in enumerate(sirets)]
        db[SCORES].insert_many(list(score_documents(key, pd.DataFrame(rows))))


def _file_report(file_type: str, batch: str, read: int, rejected: int, filtered: int,
                 fatal: str | None = None) -> FileReport:
    report = FileReport(file_type=file_type, path=f"/data/{batch}/{file_type}.csv", batch_key=batch)
    for i in range(rejected):
        report.add_error(i + 2, f"invalid value in column {file_type}_{i}")
    report.lines_read, report.lines_rejected, report.lines_filtered = read, rejected, filtered
    report.lines_valid = read - rejected - filtered
    if fatal:
        report.set_fatal(fatal)
    return report


def journal_doc(command: str, batch: str | None, state: str, started: datetime, *, counts: dict | None = None,
                reports: list | None = None, error: str | None = None, duration: float = 12.5) -> dict[str, Any]:
    """A Journal run document with the fields :class:`sf.engine.journal.Run` writes."""
    return {"_id": ObjectId(), "command": command, "args": {"batch": batch}, "batch": batch, "state": state,
            "started_at": started, "ended_at": None if state == "started" else started + pd.Timedelta(seconds=duration),
            "duration_s": None if state == "started" else duration, "counts": counts or {}, "reports": reports or [],
            "checkpoints": {}, "error": error, "sf_version": "0.1.0", "host": "test", "pid": 1}


def seed_journal(db, batch: str = "2401") -> dict[str, Any]:
    """Journal runs of ``batch``: a failed then a finished import, a compaction, features, score.

    Returns the expected figures the report must show.
    """
    effectif = _file_report("effectif", batch, 1_000, 3, 20)
    debit = _file_report("debit", batch, 5_000, 0, 100)
    broken = _file_report("cotisation", batch, 10, 0, 0, fatal="truncated gzip")
    fixed = _file_report("cotisation", batch, 4_000, 2, 0)
    t0 = d(2024, 1, 20)
    summary = CompactionSummary(since_batch=None, batches=[batch], partitions=4,
                                totals={"entities_read": 3_000, "created": 120, "changed": 2_500, "unchanged": 380,
                                        "removed": 0, "added": {"effectif": 900, "debit": 4_000, "cotisation": 3_998},
                                        "deleted": {"debit": 37}}, imported_removed=3_000, seconds=42.0)
    docs = [
        journal_doc("import", batch, "failed", t0, reports=[report_document(effectif), report_document(broken)],
                    error="BadInputError: 1 file(s) could not be read"),
        journal_doc("import", batch, "finished", t0 + pd.Timedelta(hours=1),
                    reports=[report_document(fixed), report_document(debit)]),
        journal_doc("compact", None, "finished", t0 + pd.Timedelta(hours=2), counts=summary.as_dict(), duration=42.0),
        journal_doc("features", batch, "finished", t0 + pd.Timedelta(hours=3), counts={"rows": 96}),
        journal_doc("score", batch, "finished", t0 + pd.Timedelta(hours=4), counts={"scored": 2}),
        journal_doc("import", "2311", "finished", t0 - pd.Timedelta(days=30), reports=[report_document(debit)]),
    ]
    db[JOURNAL].insert_many(docs)
    return {"files": {"effectif": (1_000, 977, 3, 20), "debit": (5_000, 4_900, 0, 100),
                      "cotisation": (4_000, 3_998, 2, 0)},
            "compaction": summary.as_dict()}


# --- looking at a page the way a person would: headless Chromium ------------------------------

def chromium_binary() -> str | None:
    """Path of a Chromium executable, or None."""
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_png(html_file, png_file, user_data_dir, height: int = 7000) -> None:
    """Screenshot of ``html_file`` opened in headless Chromium (1200 px wide, ``height`` tall)."""
    import subprocess

    command = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={user_data_dir}",
               f"--screenshot={png_file}", f"--window-size=1200,{height}", f"file://{html_file}"]
    subprocess.run(command, capture_output=True, timeout=120, check=False)


def coloured_bands(png_file, min_gap: int = 30, min_pixels: int = 6) -> list[tuple[int, int]]:
    """Vertical bands (first row, last row), at least 40 rows tall, of the screenshot's rows
    holding ``min_pixels`` or more saturated ("coloured") pixels, split by gaps of more than
    ``min_gap`` rows. Text, tables and note boxes are black, grey or pale, so on these pages
    such bands come from the charts (the tests check it on the page with its charts removed)."""
    import matplotlib.image as mpimg
    import numpy as np

    image = mpimg.imread(str(png_file))[..., :3].astype(float)
    if image.max() > 1.0:
        image = image / 255.0
    saturation = image.max(axis=2) - image.min(axis=2)
    rows = np.flatnonzero((saturation > 0.25).sum(axis=1) >= min_pixels)
    bands: list[tuple[int, int]] = []
    for row in rows:
        if bands and row - bands[-1][1] <= min_gap:
            bands[-1] = (bands[-1][0], int(row))
        else:
            bands.append((int(row), int(row)))
    return [b for b in bands if b[1] - b[0] >= 40]
