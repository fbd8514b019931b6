"""The catalogue is the single list of variables; the README table is generated from it."""

from __future__ import annotations

from sf.features.catalogue import CATALOGUE, VARIABLES, feature_names
from sf.features.compute import compute_company_features
from sf.features.docs import variables_markdown

from .golden import example


def test_columns_follow_the_catalogue() -> None:
    state, periods, params, _ = example("example2", "fixed")
    df = compute_company_features(state, periods, params)
    assert list(df.columns) == [v.name for v in CATALOGUE]
    assert str(df["outcome"].dtype) == "boolean" and str(df["periode"].dtype).endswith(", UTC]")


def test_markdown_lists_every_variable_once() -> None:
    text = variables_markdown()
    rows = [line for line in text.splitlines()[2:] if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == [v.name for v in CATALOGUE]


def test_themes_cover_the_features() -> None:
    themes = {"urssaf", "effectif", "apart", "financier", "activite"}
    assert all(v.theme in themes for v in CATALOGUE if v.role == "feature")
    assert set(feature_names()) == {v.name for v in CATALOGUE if v.role == "feature"}
    assert "ratio_dette" in feature_names("urssaf") and "paydex_nb_jours" in feature_names("financier")
    assert VARIABLES["outcome"].role == "target"
