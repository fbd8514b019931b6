"""`sf demo`: argument checks, the period series matching sf synth, and (slow) a whole small run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from sf.cli import demo
from sf.engine.collections import FEATURES, JOURNAL, SCORES
from sf.engine.errors import SfError, UsageError
from sf.engine.settings import Settings
from sf.synth.deliveries import generate
from typer.testing import CliRunner


def _app(settings: Settings) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = settings

    app.command("demo")(demo.demo)
    return app


def test_too_few_months_for_training_is_a_usage_error(tmp_path: Path) -> None:
    app = _app(Settings(mongodb_uri=None, db_name="x", home=tmp_path))
    result = CliRunner().invoke(app, ["demo", "--months", "3", "--history", "24"])
    assert isinstance(result.exception, UsageError) and result.exception.exit_code == 2
    assert "27 months of Features" in str(result.exception) and "--history to 33" in str(result.exception)


def test_period_series_starts_with_the_first_month_synth_delivers(tmp_path: Path) -> None:
    """The demo declares its batches as sf batch add does: date_debut read from the effectif
    header of the first delivery is the first month of the ground truth."""
    from sf.importers.delivery import scan_delivery
    from sf.importers.delivery_dates import choose_batch_dates

    generate(tmp_path / "d", establishments=60, months=2, seed=3, end_batch="2312", history_months=5)
    first = pd.read_parquet(tmp_path / "d" / "truth.parquet", columns=["periode"])["periode"].min()
    scan = scan_delivery(tmp_path / "d" / "2311", path_prefix=f"{tmp_path / 'd' / '2311'}/")
    dates = choose_batch_dates(scan.files, None)
    assert dates.date_debut is not None and not dates.warnings
    assert (first.year, first.month, first.day) == (dates.date_debut.year, dates.date_debut.month, 1)


def test_a_foreign_workdir_is_not_wiped(tmp_path: Path) -> None:
    (tmp_path / "deliveries").mkdir()
    (tmp_path / "deliveries" / "precious.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not written by sf demo"):
        demo._prepare_workdir(tmp_path)
    assert (tmp_path / "deliveries" / "precious.txt").read_text() == "keep me"


@pytest.mark.slow
def test_demo_runs_the_whole_chain(db, mongo_uri: str, tmp_path: Path) -> None:
    settings = Settings(mongodb_uri=mongo_uri, db_name=db.name, home=tmp_path / "home", workers=1)
    try:
        summary = demo.run_demo(settings, workdir=tmp_path / "work", establishments=400, months=2, history=52,
                                seed=1, workers=1)
    except SfError as exc:  # pragma: no cover - shows the one-line message instead of a bare failure
        pytest.fail(str(exc))
    steps = {s["step"]: s for s in summary["steps"]}
    assert list(steps) == ["sf synth", "sf batch add --from-dir", "sf import", "sf compact", "sf features",
                           "sf train", "sf score", "sf alerts --top 10"]
    assert steps["sf import"]["lines_read"] == (steps["sf import"]["lines_valid"] + steps["sf import"]["lines_rejected"]
                                                + steps["sf import"]["lines_filtered"])
    assert steps["sf features"]["months"] == 54 and steps["sf features"]["rows"] > 0
    assert db[FEATURES].count_documents({"_id.batch": summary["last_batch"]}) == steps["sf features"]["rows"]
    assert db[SCORES].count_documents({"_id.batch": summary["last_batch"]}) == steps["sf score"]["scored"] > 0
    assert (Path(summary["model_dir"]) / "model_card.json").is_file()
    assert len(summary["alerts"]) == steps["sf alerts --top 10"]["listed"] <= 10
    # Every step is journaled by its library operation, as its command journals it.
    runs: dict[str, list[dict]] = {}
    for run in db[JOURNAL].find({}, {"checkpoints": 0}).sort("started_at", 1):
        runs.setdefault(run["command"], []).append(run)
    assert list(runs) == ["batch add", "import", "compact", "features", "train", "score"]
    assert all(r["state"] == "finished" for rs in runs.values() for r in rs)
    batches = [r["batch"] for r in runs["batch add"]]
    assert [r["batch"] for r in runs["import"]] == batches and len(batches) == 2 and batches[-1] == summary["last_batch"]
    assert sum(r["counts"]["lines_read"] for r in runs["import"]) == steps["sf import"]["lines_read"]
    assert all(len(r["reports"]) == r["counts"]["files"] > 0 for r in runs["import"])
    assert runs["compact"][0]["counts"]["created"] == steps["sf compact"]["created"]
    assert runs["features"][0]["counts"]["rows"] == steps["sf features"]["rows"]
    assert runs["train"][0]["counts"]["version"] == summary["train"]["version"]
    assert runs["score"][0]["counts"]["scored"] == steps["sf score"]["scored"]


def test_months_needed_matches_the_default_training_protocol():
    from sf.cli.demo import LABELLED_MONTHS_NEEDED, MONTHS_NEEDED
    from sf.features.target import HORIZON
    from sf.model.training import TrainingOptions

    options = TrainingOptions()
    assert LABELLED_MONTHS_NEEDED == options.min_train_months + options.validation_months + options.test_months
    assert MONTHS_NEEDED == LABELLED_MONTHS_NEEDED + HORIZON
    assert options.horizon_months == HORIZON
