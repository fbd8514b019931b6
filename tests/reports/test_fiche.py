"""The company fiche: data gathered from RawData / Features / Scores, and the HTML page."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pandas as pd
import pytest

from sf.engine.batches import make_batch, save_batch
from sf.engine.collections import FEATURES
from sf.engine.errors import UsageError
from sf.reports.fiche import gather_fiche, parse_identifier
from sf.reports.fiche_page import render_fiche

_spec = importlib.util.spec_from_file_location("report_data", Path(__file__).with_name("report_data.py"))
rd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rd)


def test_parse_identifier() -> None:
    assert parse_identifier("552100554") == ("552100554", None)
    assert parse_identifier("552 100 554 00013") == ("552100554", "55210055400013")
    for bad in ("55210055", "5521005540001x", ""):
        with pytest.raises(UsageError):
            parse_identifier(bad)


def test_identity_events_and_scores_of_a_company(db) -> None:
    rd.seed_company(db)
    data = gather_fiche(db, rd.SIREN)
    assert data.batch == "2401" and data.series_source == "Features 2401"
    assert (data.name, data.legal_form, data.city, data.region) == ("ATELIERS DU TEST", "SAS (5710)", "RENNES", "Bretagne")
    assert data.sector.startswith("2511Z")
    assert [e.siret for e in data.establishments] == [rd.SIRET_A, rd.SIRET_B]
    assert [e.siege for e in data.establishments] == [True, False]
    assert [(e.date.date().isoformat(), e.action, e.stade, e.siret) for e in data.procol] == [
        ("2023-03-14", "redressement", "ouverture", rd.SIRET_A)]
    assert [(e.siret, e.montant_echeancier) for e in data.delais] == [(rd.SIRET_A, 25_000.0)]
    assert sorted(set(data.scores["batch"])) == ["2311", "2401"] and len(data.scores) == 4
    # 48 months x 2 establishments, as the batch's series (2020-01 .. 2023-12)
    assert len(data.series) == 96 and data.series["periode"].nunique() == 48


def test_debts_rise_and_headcount_falls_before_the_first_alert(db) -> None:
    """The generator of the seed sends the siège into difficulty from 2022-01 (headcount -2 a
    month, one unpaid month of contributions added to the debt every month); its first alert
    is batch 2311 (month 2023-10): the fiche shows both trends before it."""
    rd.seed_company(db)
    data = gather_fiche(db, rd.SIREN)
    assert data.first_alert == pd.Timestamp("2023-10-01", tz="UTC")
    company = data.company_series()
    before = company.loc[pd.Timestamp("2022-01-01", tz="UTC"):data.first_alert]
    assert (before["effectif"].diff().dropna() <= 0).all() and before["effectif"].iloc[-1] < before["effectif"].iloc[0]
    assert (before["dette"].diff().dropna() >= 0).all() and before["dette"].iloc[-1] > before["dette"].iloc[0]
    trend = data.trend_before_alert()
    assert trend["alert"] and trend["to"] == data.first_alert
    assert trend["effectif_to"] < trend["effectif_from"] and trend["dette_to"] > trend["dette_from"]


def test_series_computed_from_rawdata_when_features_are_missing(db) -> None:
    rd.seed_company(db)
    from_features = gather_fiche(db, rd.SIRET_A)
    db[FEATURES].delete_many({"_id.batch": "2401"})
    from_rawdata = gather_fiche(db, rd.SIRET_A)
    assert from_rawdata.series_source.startswith("RawData") and from_rawdata.notes
    cols = ["siret", "periode", "effectif", "montant_part_ouvriere", "montant_part_patronale", "cotisation"]
    pd.testing.assert_frame_equal(from_features.series[cols].reset_index(drop=True),
                                  from_rawdata.series[cols].reset_index(drop=True), check_dtype=False)


def test_batch_shown_limits_the_score_history(db) -> None:
    rd.seed_company(db)
    data = gather_fiche(db, rd.SIREN, batch="2311")
    assert data.batch == "2311" and set(data.scores["batch"]) == {"2311"}
    assert data.series_source.startswith("RawData")  # no Features of 2311 in the seed


def test_bad_input_is_a_one_line_usage_error(db) -> None:
    rd.seed_company(db)
    save_batch(db, make_batch("2312", check_files=False))
    cases = [("999999999", None, "unknown"), (rd.SIREN + "99999", None, "unknown"),
             (rd.SIREN, "2312", "has no scores"), (rd.SIREN, "2405", "not defined")]
    for identifier, batch, words in cases:
        with pytest.raises(UsageError, match=words) as info:
            gather_fiche(db, identifier, batch)
        assert "\n" not in str(info.value) and info.value.exit_code == 2


def test_page_is_self_contained_with_every_chart(db) -> None:
    rd.seed_company(db)
    html = render_fiche(gather_fiche(db, rd.SIRET_A))
    for chart in ("headcount", "urssaf", "delais", "apart", "procol", "financial", "scores", "reasons"):
        block = re.search(rf'<figure class="chart" id="chart-{chart}">(.*?)</figure>', html, re.S)
        assert block is not None, chart
        assert block.group(1).count("<path") > 10, chart  # drawn, not an empty frame
    # nothing fetched: no script, stylesheet, image or URL other than in-page references and
    # the SVG namespace names
    assert not re.search(r"<script|<link|<img|src=|url\((?!#)|https?://(?!www\.w3\.org)", html)
    assert "ATELIERS DU TEST" in html and "alerte forte" in html


def test_page_of_a_company_without_events_says_so(db) -> None:
    rd.seed_company(db, siren=rd.HEALTHY_SIREN, healthy=True)
    data = gather_fiche(db, rd.HEALTHY_SIREN)
    assert data.first_alert is None and not data.procol and not data.delais
    html = render_fiche(data)
    assert "Aucune procédure collective connue." in html and "Aucun délai de paiement." in html
    assert 'id="chart-headcount"' in html and 'id="chart-delais"' not in html
