"""Point-in-time fixes (fixed mode) shown side by side with the original (parity mode), and a
property test: a feature of month p does not change when records dated after p are added."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from sf.features.compute import compute_company_features
from sf.features.effectif import headcount_features
from sf.features.state import CompanyState, FeatureParams

from .helpers import axis, col, d, periods

SIREN = "123456789"
SIRET = SIREN + "00011"


def _headcounts(mode: str):
    raw = {"2020-01": 10, "2020-02": 11, "2020-04": 0, "2020-05": 13, "2020-06": 14}
    records = {m: {"periode": d(m), "effectif": v} for m, v in raw.items()}
    ax = axis("2020-01", 6)
    return headcount_features(records, ax, int(ax[-1]), -1, mode, "effectif", "t")


def test_fix_headcount_gap_filled_from_the_past_not_the_future() -> None:
    """Original: March (missing) and April (0) get June's 14, a value from the future.
    Ours: they get February's 11, the last value known then; the flag is the same."""
    parity, fixed = _headcounts("parity"), _headcounts("fixed")
    assert col(parity, "effectif") == [10, 11, 14, 14, 13, 14]
    assert col(fixed, "effectif") == [10, 11, 11, 11, 13, 14]
    assert col(parity, "effectif_reporte") == col(fixed, "effectif_reporte") == [0, 0, 1, 1, 0, 0]


def test_fix_headcounts_of_several_accounts_are_summed() -> None:
    records = {"a": {"periode": d("2020-01"), "effectif": 10, "numero_compte": "A"},
               "b": {"periode": d("2020-01"), "effectif": 5, "numero_compte": "B"}}
    ax = axis("2020-01", 1)
    assert col(headcount_features(records, ax, int(ax[0]), -1, "parity", "effectif", "t"), "effectif") == [5]
    assert col(headcount_features(records, ax, int(ax[0]), -1, "fixed", "effectif", "t"), "effectif") == [15]


def _debt_state() -> CompanyState:
    debit = {"d": {"periode": {"start": d("2019-06"), "end": d("2019-07")}, "numero_ecart_negatif": "1",
                   "numero_compte": "C", "numero_historique": 1, "date_traitement": d("2019-11-05"),
                   "part_ouvriere": 100, "part_patronale": 200}}
    cot = {f"c{i}": {"periode": {"start": p, "end": periods("2019-01", 30)[i + 1]}, "du": 300}
           for i, p in enumerate(periods("2019-01", 24))}
    eff = {f"e{i}": {"periode": p, "effectif": 10} for i, p in enumerate(periods("2019-01", 24))}
    return CompanyState(SIREN, {}, {SIRET: {"debit": debit, "cotisation": cot, "effectif": eff}})


def test_fix_lags_by_calendar_month_with_history() -> None:
    """Original: lags and 12-month windows only inside the series, so the first months of a
    series have none. Ours: the months before date_debut are used (calendar shifts)."""
    state = _debt_state()
    params = dict(batch="2101", date_fin_effectif=d("2021-01"))
    ps = periods("2020-01", 12)
    parity = compute_company_features(state, ps, FeatureParams(**params, mode="parity"))
    fixed = compute_company_features(state, ps, FeatureParams(**params, mode="fixed"))
    assert parity["montant_part_patronale_past_3"].isna().iloc[:3].all()
    # debt processed 2019-11-05: current from Nov 2019, so Oct 2019 = 0, Nov and Dec 2019 = 200
    assert fixed["montant_part_patronale_past_3"].iloc[:3].tolist() == [0, 200, 200]
    assert parity["cotisation_moy12m"].isna().iloc[:11].all()
    assert fixed["cotisation_moy12m"].tolist() == [300] * 12


def test_financial_sheet_never_before_it_is_available() -> None:
    """Both modes: a sheet closed in Dec 2019 is used from Aug 2020 (m(arrete) + 8), never before."""
    state = CompanyState(SIREN, {"bdf": {"b": {"arrete_bilan_bdf": d("2019-12-31"), "annee_bdf": 2019,
                                               "poids_frng": 5.0}}},
                         {SIRET: {"effectif": {"e": {"periode": d("2020-01"), "effectif": 3}}}})
    for mode in ("parity", "fixed"):
        df = compute_company_features(state, periods("2020-01", 12),
                                      FeatureParams(batch="2101", date_fin_effectif=d("2021-01"), mode=mode))
        assert df["poids_frng"].isna().iloc[:7].all()
        assert df["poids_frng"].iloc[7:].tolist() == [5.0] * 5


def test_fix_target_is_company_entry_into_proceedings() -> None:
    """Original: label per SIRET, URSSAF default included. Ours: the company's proceedings label
    every establishment; after the procedure ends the rows are not positive."""
    a, b = SIREN + "00011", SIREN + "00029"
    eff = {"e": {"periode": d("2020-01"), "effectif": 3}}
    procol = {"p1": {"action_procol": "redressement", "stade_procol": "ouverture", "date_effet": d("2020-06-10")},
              "p2": {"action_procol": "redressement", "stade_procol": "fin_procedure", "date_effet": d("2020-09-01")}}
    state = CompanyState(SIREN, {}, {a: {"effectif": eff, "procol": procol}, b: {"effectif": eff}})
    ps = periods("2020-01", 12)
    kw = dict(batch="2101", date_fin_effectif=d("2021-01"))
    parity = compute_company_features(state, ps, FeatureParams(**kw, mode="parity"))
    fixed = compute_company_features(state, ps, FeatureParams(**kw, mode="fixed"))
    pb = parity[parity.siret == b]
    assert not pb["outcome"].any() and pb["time_til_outcome"].isna().all()
    fb = fixed[fixed.siret == b]
    assert fb["time_til_outcome"].tolist() == [5, 4, 3, 2, 1, 0, 0, 0, -3, -4, -5, -6]
    assert fb["outcome"].tolist() == [True] * 8 + [False] * 4
    pa = parity[parity.siret == a]
    assert pa["outcome"].tolist() == [True] * 12  # sticky tag_failure keeps the original positive


# --- property: features of month p do not depend on records dated after p -------------------

_PS = periods("2020-01", 12)


def _record_strategies(after):
    """Records of every dated type whose date is after month ``after`` (index into _PS)."""
    def later(days):
        return _PS[after] + timedelta(days=31 + days)
    return st.one_of(
        st.builds(lambda k, v: ("effectif", {"periode": _PS[min(after + 1 + k, 11)], "effectif": v}),
                  st.integers(0, 10), st.integers(0, 50)),
        st.builds(lambda days, po: ("debit", {"periode": {"start": d("2019-06"), "end": d("2019-07")},
                                              "numero_ecart_negatif": "9", "numero_compte": "C",
                                              "numero_historique": 5, "date_traitement": later(days),
                                              "part_ouvriere": po, "part_patronale": po}),
                  st.integers(0, 200), st.integers(1, 1000)),
        st.builds(lambda days: ("procol", {"action_procol": "liquidation", "stade_procol": "ouverture",
                                           "date_effet": later(days)}), st.integers(0, 200)),
        st.builds(lambda days: ("ccsf", {"date_traitement": later(days)}), st.integers(0, 200)),
        st.builds(lambda days, n: ("delai", {"date_creation": later(days), "date_echeance": later(days + 90),
                                             "duree_delai": 90, "montant_echeancier": n}),
                  st.integers(0, 200), st.integers(1, 1000)),
        st.builds(lambda days, n: ("paydex", {"date_valeur": later(days), "nb_jours": n}),
                  st.integers(0, 200), st.integers(0, 90)),
        st.builds(lambda days: ("bdf", {"arrete_bilan_bdf": later(days), "annee_bdf": 2020, "poids_frng": 1.0}),
                  st.integers(0, 200)),
    )


_LABELS = {"outcome", "time_til_outcome", "time_til_default", "time_til_failure", "random_order"}


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_feature_of_month_p_ignores_records_after_p(data) -> None:
    p = data.draw(st.integers(0, 10))
    added = data.draw(st.lists(_record_strategies(p), min_size=1, max_size=4))
    base = _debt_state()
    params = FeatureParams(batch="2101", date_fin_effectif=d("2021-01"), mode="fixed")
    before = compute_company_features(base, _PS, params)
    etab = {t: dict(r) for t, r in base.etablissements[SIRET].items()}
    ent: dict = {}
    for i, (kind, record) in enumerate(added):
        target = ent if kind in ("bdf", "paydex") else etab
        target.setdefault(kind, {})[f"new{i}"] = record
    after = compute_company_features(CompanyState(SIREN, ent, {SIRET: etab}), _PS, params)
    features = [c for c in before.columns if c not in _LABELS]
    row_before, row_after = before[features].iloc[p], after[features].iloc[p]
    for name in features:
        x, y = row_before[name], row_after[name]
        assert (x is y) or (x != x and y != y) or x == y, (name, x, y, added)


def test_fix_debt_variables_do_not_reveal_a_future_debt() -> None:
    """Original (quirk Q3): contributions and debts are computed only for an établissement that
    has debit records somewhere in its history, so ``montant_part_*`` and ``cotisation`` are
    present (0) from the first month for one that gets its first debt later, and absent for
    the others — the presence itself tells the future. Ours (fixed): computed for every
    établissement with contribution records; a later debt changes nothing before it."""
    with_debt = _debt_state()  # first debit processed 2019-11
    no_debt = CompanyState(SIREN, {}, {SIRET: {k: v for k, v in with_debt.etablissements[SIRET].items()
                                                  if k != "debit"}})
    ps = periods("2019-01", 10)  # January to October 2019: before the debt
    frames = {(name, mode): compute_company_features(state, ps, FeatureParams(batch="1911", date_fin_effectif=d(
        "2019-11"), mode=mode)) for name, state in (("debt", with_debt), ("none", no_debt))
        for mode in ("parity", "fixed")}
    names = ["cotisation", "montant_part_ouvriere", "montant_part_patronale"]
    assert frames[("debt", "parity")][names].notna().all().all()
    assert frames[("none", "parity")][names].isna().all().all()  # the original's leak
    for name in names:
        assert frames[("debt", "fixed")][name].tolist() == frames[("none", "fixed")][name].tolist()
    assert (frames[("none", "fixed")]["montant_part_ouvriere"] == 0).all()
