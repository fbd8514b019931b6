"""Test vectors of docs/features.md §4.1 (the original's unit tests), one by one."""

from __future__ import annotations

import numpy as np
import pytest

from sf.features.apart import apart
from sf.features.columns import Columns, stack_columns
from sf.features.company import siren_aggregates
from sf.features.delais import delais
from sf.features.effectif import headcount_features
from sf.features.financial import frais_financier, taux_marge
from sf.features.months import month_index
from sf.features.paydex import paydex
from sf.features.procol import defaillances, procol_events
from sf.features.target import look_ahead, parity_target
from sf.features.urssaf import ccsf, cotisation_ratios, cotisations_dettes

from .helpers import axis, col, d

NAN = np.nan


def _ev(values):
    return np.array([1.0 if v else NAN for v in values])


@pytest.mark.parametrize("events,past,t,o", [
    ([False, False, True], True, [2, 1, 0], [0, 1, 1]),
    ([True, False, False], True, [0, None, None], [1, None, None]),
    ([True, False, False], False, [0, 1, 2], [1, 1, 0]),
    ([False, False, False], True, [None] * 3, [None] * 3),
])
def test_look_ahead(events, past, t, o) -> None:
    tt, oo = look_ahead(np.array(events), 1, past)
    assert [None if np.isnan(x) else x for x in tt] == t
    assert [None if np.isnan(x) else x for x in oo] == o


def test_cible_apprentissage_vectors() -> None:
    out = parity_target(_ev([0, 0, 0, 0]), _ev([0, 0, 1, 0]), n_months=1)
    assert list(out["time_til_outcome"]) == [2, 1, 0, -1]
    assert list(out["outcome"]) == [0, 1, 1, 1]
    assert list(out["time_til_default"][:3]) == [2, 1, 0] and np.isnan(out["time_til_default"][3])
    assert np.isnan(out["time_til_failure"]).all()
    out = parity_target(_ev([0, 0, 1, 0]), _ev([0, 0, 0, 1]), n_months=1)
    assert list(out["time_til_outcome"]) == [2, 1, 0, 0]
    assert list(out["time_til_default"]) == [3, 2, 1, 0]
    assert list(out["time_til_failure"][:3]) == [2, 1, 0] and np.isnan(out["time_til_failure"][3])
    out = parity_target(_ev([0] * 4), _ev([0] * 4), n_months=1)
    assert list(out["outcome"]) == [0] * 4 and np.isnan(out["time_til_outcome"]).all()


def _ratios(cot, po, pp):
    cols = Columns(13)
    cols.values["cotisation"] = np.array([NAN if v is None else v for v in cot], dtype=float)
    cols.values["montant_part_ouvriere"] = np.array([NAN if v is None else v for v in po], dtype=float)
    cols.values["montant_part_patronale"] = np.array([NAN if v is None else v for v in pp], dtype=float)
    cotisation_ratios(cols)
    return cols


def test_cotisation_ratio_vectors() -> None:
    c = _ratios([10] * 13, [0] * 13, [0] * 13)
    assert col(c, "cotisation_moy12m") == [None] * 11 + [10, 10]
    c = _ratios([0] * 12 + [10], [0] * 13, [0] * 13)
    assert col(c, "cotisation_moy12m")[11:] == [0, pytest.approx(0.8333333333333334)]
    c = _ratios([None] + [10] * 12, [0] * 13, [0] * 13)
    assert col(c, "cotisation_moy12m") == [None] * 12 + [10]
    c = _ratios([10] * 13, [5] * 13, [0] * 12 + [5])
    assert col(c, "ratio_dette") == [None] * 11 + [0.5, 1]
    c = _ratios([10] * 13, [None] + [10] * 11 + [None], [None, None] + [10] * 11)
    assert col(c, "ratio_dette") == [None] * 11 + [2, 1]
    c = _ratios([10] * 13, [None] * 13, [10] * 12 + [None])
    assert col(c, "ratio_dette_moy12m")[11:] == [1, pytest.approx(0.9166666666666666)]
    c = _ratios([0] + [10] * 12, [5] * 13, [5] * 13)
    assert col(c, "ratio_dette_moy12m") == [None] * 12 + [1]


def test_tag_default_counter_quirk() -> None:
    """docs/features.md §4.4: ratio sequence 0, 2, 0, 2, 2 sets tag_default on the last month (no reset on 0)."""
    cols = Columns(16)
    cols.values["cotisation"] = np.full(16, 10.0)
    debt = [0.0] * 11 + [0, 20, 0, 20, 20]
    cols.values["montant_part_ouvriere"] = np.array(debt)
    cols.values["montant_part_patronale"] = np.zeros(16)
    cotisation_ratios(cols)
    assert col(cols, "tag_default")[11:] == [None, None, None, None, 1.0]


def test_cotisationsdettes_vector() -> None:
    debit = {
        "h1": {"periode": {"start": d("2018-01"), "end": d("2018-02")}, "numero_ecart_negatif": "1",
               "numero_historique": 2, "date_traitement": d("2018-01-01"), "part_ouvriere": 100,
               "part_patronale": 200},
        "h2": {"periode": {"start": d("2018-01"), "end": d("2018-02")}, "numero_ecart_negatif": "1",
               "numero_historique": 3, "date_traitement": d("2018-05-01"), "part_ouvriere": 0,
               "part_patronale": 0},
    }
    cot = {"c": {"periode": {"start": d("2018-01"), "end": d("2018-02")}, "du": 100}}
    cols = cotisations_dettes(cot, debit, axis("2018-01", 13), month_index(d("2019-02")), "t")
    assert col(cols, "montant_part_ouvriere") == [100] * 4 + [0] * 9
    assert col(cols, "montant_part_patronale") == [200] * 4 + [0] * 9
    assert col(cols, "montant_part_ouvriere_past_3") == [None] * 3 + [100] * 4 + [0] * 6
    assert col(cols, "cotisation")[0] == 100


def test_interessante_urssaf_vector() -> None:
    debit = {"h": {"periode": {"start": d("2018-01"), "end": d("2018-02")}, "numero_ecart_negatif": "1",
                   "numero_historique": 1, "date_traitement": d("2018-01-01"), "part_ouvriere": 60,
                   "part_patronale": 0},
             "r": {"periode": {"start": d("2018-01"), "end": d("2018-02")}, "numero_ecart_negatif": "1",
                   "numero_historique": 2, "date_traitement": d("2018-02-01"), "part_ouvriere": 0,
                   "part_patronale": 0}}
    cot = {"c": {"periode": {"start": d("2018-01"), "end": d("2018-02")}, "du": 100}}
    cols = cotisations_dettes(cot, debit, axis("2018-01", 13), month_index(d("2019-02")), "t")
    assert col(cols, "interessante_urssaf") == [0] * 6 + [1] * 7


def test_delais_vector() -> None:
    debts = Columns(4)
    debts.values["montant_part_ouvriere"] = np.zeros(4)
    debts.values["montant_part_patronale"] = np.array([0, 600, 600, 0.0])
    rec = {"x": {"date_creation": d("2014-01-03"), "date_echeance": d("2014-04-05"), "duree_delai": 92,
                 "montant_echeancier": 1000}}
    cols = delais(rec, axis("2014-01", 4), debts, "t")
    assert col(cols, "delai_nb_jours_restants")[1:3] == [63, 35]
    assert col(cols, "delai_nb_jours_total")[1:3] == [92, 92]
    assert col(cols, "delai_deviation_remboursement")[1] == pytest.approx(-0.0848, abs=1e-2)
    assert col(cols, "delai_deviation_remboursement")[2] == pytest.approx(0.22, abs=1e-2)
    before = delais({"x": {"date_creation": d("2013-01-03"), "date_echeance": d("2013-04-05"),
                           "duree_delai": 92, "montant_echeancier": 1000}}, axis("2014-01", 4), debts, "t")
    assert before.values == {}


def test_delais_algo2_vector() -> None:
    debts = Columns(2)
    debts.values["montant_part_ouvriere"] = np.array([60.0, 60.0])
    debts.values["montant_part_patronale"] = np.zeros(2)
    rec = {"x": {"date_creation": d("2014-01-01"), "date_echeance": d("2014-03-02"), "duree_delai": 60,
                 "montant_echeancier": 100}}
    cols = delais(rec, axis("2014-01", 2), debts, "t")
    assert col(cols, "delai_deviation_remboursement")[0] == pytest.approx(-0.4, abs=1e-2)


def test_defaillances_vectors() -> None:
    ax = axis("2018-01", 3)
    cols = defaillances(procol_events({"a": {"action_procol": "liquidation", "stade_procol": "ouverture",
                                             "date_effet": d("2018-02-12")}}, "t"), ax)
    assert col(cols, "etat_proc_collective") == ["in_bonis", "liquidation", "liquidation"]
    assert col(cols, "date_proc_collective") == [None, d("2018-02-12"), d("2018-02-12")]
    assert col(cols, "tag_failure") == [None, 1, 1]
    cols = defaillances(procol_events({
        "a": {"action_procol": "redressement", "stade_procol": "ouverture", "date_effet": d("2018-02-12")},
        "b": {"action_procol": "redressement", "stade_procol": "fin_procedure", "date_effet": d("2018-03-05")},
    }, "t"), ax)
    assert col(cols, "etat_proc_collective")[1:] == ["plan_redressement", "in_bonis"]
    assert col(cols, "date_proc_collective")[1:] == [d("2018-02-12"), d("2018-03-05")]
    assert col(cols, "tag_failure")[1:] == [1, 1]


@pytest.mark.parametrize("offset,months,raw,effectif,reporte", [
    (-2, 2, {"2020-01": 24}, [24, 24], [0, 1]),
    (-2, 3, {"2020-01": 24}, [24, None, None], [0, 1, 1]),
    (-3, 4, {"2020-01": 24, "2020-02": 25}, [24, 25, 25, 25], [0, 0, 1, 1]),
])
def test_effectifs_vectors(offset, months, raw, effectif, reporte) -> None:
    records = {m: {"periode": d(m), "effectif": v} for m, v in raw.items()}
    ax = axis("2020-01", months)
    cols = headcount_features(records, ax, int(ax[-1]), offset, "parity", "effectif", "t")
    assert col(cols, "effectif") == effectif
    assert col(cols, "effectif_reporte") == reporte
    if None in effectif:
        assert cols.nulls["effectif"][[i for i, v in enumerate(effectif) if v is None]].all()


def test_effectif_gap_quirk_probe() -> None:
    """docs/features.md §4.4: offset −1, raw {Jan 10, Feb 11, Apr 0, May 13, Jun 14} → 10, 11, 14, 14, 13, 14."""
    raw = {"2020-01": 10, "2020-02": 11, "2020-04": 0, "2020-05": 13, "2020-06": 14}
    records = {m: {"periode": d(m), "effectif": v} for m, v in raw.items()}
    ax = axis("2020-01", 6)
    cols = headcount_features(records, ax, int(ax[-1]), -1, "parity", "effectif", "t")
    assert col(cols, "effectif") == [10, 11, 14, 14, 13, 14]
    assert col(cols, "effectif_reporte") == [0, 0, 1, 1, 0, 0]


def test_ccsf_vector() -> None:
    rec = {k: {"date_traitement": d(v)} for k, v in
           {"a": "2021-01-15", "b": "2021-02-15", "c": "2021-03-15"}.items()}
    cols = ccsf(rec, axis("2021-01", 3), "t")
    assert col(cols, "date_ccsf") == [None, d("2021-01-15"), d("2021-02-15")]


def test_paydex_vector() -> None:
    cols = paydex({"p": {"date_valeur": d("2015-12-15"), "nb_jours": 1}}, axis("2015-12", 13), "t")
    assert col(cols, "paydex_nb_jours")[0] == 1 and cols.nulls["paydex_nb_jours_past_3"][0]
    assert col(cols, "paydex_nb_jours")[3] is None and col(cols, "paydex_nb_jours_past_3")[3] == 1
    assert col(cols, "paydex_nb_jours_past_6")[6] == 1
    assert col(cols, "paydex_nb_jours_past_12")[12] == 1


def test_diane_ratio_vectors() -> None:
    r = {"interets": 50, "excedent_brut_d_exploitation": 1000, "produits_financiers": 100,
         "produit_exceptionnel": 120, "charge_exceptionnelle": 450, "charges_financieres": 160}
    assert frais_financier(r) == pytest.approx(50 / 610 * 100)
    assert frais_financier({**r, "interets": None}) is None
    assert taux_marge({"excedent_brut_d_exploitation": 1528, "valeur_ajoutee": 3419}) == \
        pytest.approx(44.69, abs=1e-2)
    assert taux_marge({"excedent_brut_d_exploitation": 1528}) is None


def test_finalize_vectors() -> None:
    a, b = Columns(1), Columns(1)
    a.values["effectif"], b.values["effectif"] = np.array([3.0]), np.array([4.0])
    agg = {k: v[0] for k, v in siren_aggregates(stack_columns([a, b], 1), np.array([0])).items()}
    assert agg["effectif_entreprise"][0] == 7 and agg["nbr_etablissements_connus"][0] == 2
    assert np.isnan(agg["debit_entreprise"][0])
    a, b = Columns(1), Columns(1)
    a.values["montant_part_patronale"], a.values["montant_part_ouvriere"] = np.array([3.0]), np.array([NAN])
    b.values["montant_part_ouvriere"], b.values["montant_part_patronale"] = np.array([4.0]), np.array([NAN])
    assert siren_aggregates(stack_columns([a, b], 1), np.array([0]))["debit_entreprise"][0, 0] == 7


def test_apart_example_values() -> None:
    """Establishment A of docs/features.md §4.3: demand Feb–Apr (hta 600), consumption 100 h / 150 h."""
    dem = {"a1": {"id_demande": "S01234567A", "periode": {"start": d("2019-02-01"), "end": d("2019-04-30")},
                  "hta": 600, "motif_recours_se": 1}}
    conso = {"k1": {"id_conso": "S01234567A01", "heure_consomme": 100, "periode": d("2019-02")},
             "k2": {"id_conso": "S01234567A02", "heure_consomme": 150, "periode": d("2019-03")}}
    cols, mask = apart(conso, dem, axis("2019-01", 6), "t")
    assert col(cols, "apart_heures_autorisees") == [None, 600, 600, 600, None, None]
    assert col(cols, "apart_heures_consommees") == [None, 100, 150, None, None, None]
    assert col(cols, "apart_heures_consommees_cumulees") == [None, 100, 250, 250, None, None]
    assert list(mask) == [False, True, True, True, False, False]
