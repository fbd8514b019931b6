"""Fixtures shared by the training tests: one synthetic panel and one model trained on it
with the fast options, built once per session (training is the slow part of these tests).
Tests must not change them in place; a module defining its own ``panel``/``model`` overrides them."""

from __future__ import annotations

import pandas as pd
import pytest
from sf.model.training import train

from . import synthetic_panel


@pytest.fixture(scope="session")
def panel() -> pd.DataFrame:
    return synthetic_panel.make_panel(n_etab=500, months=72, seed=1)[0]


@pytest.fixture(scope="session")
def model(panel: pd.DataFrame):
    return train(panel, feature_columns=synthetic_panel.FEATURES, until_batch="2201", sf_version="test",
                 options=synthetic_panel.FAST)
