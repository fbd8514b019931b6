"""Model errors carry their exit code, whichever command meets them, and stay catchable as the
built-in exceptions library callers used before."""

from pathlib import Path

import pandas as pd
import pytest
from sf.engine.errors import SfError
from sf.model import model_store
from sf.model.errors import ModelFileError, ModelInputError, ModelMismatch, ModelOptionError, NoFeatures
from sf.model.themes import theme_of
from sf.model.training import TrainingOptions, train


@pytest.mark.parametrize("error, code, builtin", [
    (ModelInputError, 3, ValueError), (ModelOptionError, 2, ValueError), (ModelFileError, 2, ValueError),
    (ModelMismatch, 2, ValueError), (NoFeatures, 2, LookupError),
])
def test_exit_codes_and_builtin_bases(error: type[SfError], code: int, builtin: type[Exception]) -> None:
    exc = error("message", "hint")
    assert isinstance(exc, SfError) and isinstance(exc, builtin)
    assert exc.exit_code == code and str(exc) == "message (hint)"


def test_a_missing_model_folder_is_a_model_file_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="model.skops is missing|model_card.json is missing") as info:
        model_store.load(tmp_path)
    assert info.value.exit_code == 2


def test_a_table_without_periode_is_bad_input() -> None:
    table = pd.DataFrame({"siret": ["1"], "siren": ["1"], "outcome": [True], "ratio_dette": [0.1]})
    with pytest.raises(ModelInputError, match="'periode'") as info:
        train(table, feature_columns=["ratio_dette"], until_batch="2201", sf_version="t", options=TrainingOptions())
    assert info.value.exit_code == 3


def test_a_variable_without_theme_is_an_option_error() -> None:
    with pytest.raises(ModelOptionError, match="siret"):
        theme_of("siret")
