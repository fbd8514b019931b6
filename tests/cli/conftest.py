"""Fixtures of the CLI tests: commands run in-process on a throw-away app bound to the test database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from sf.engine.errors import SfError
from sf.engine.settings import Settings
from typer.testing import CliRunner

Run = Callable[[list[str]], tuple[int, str]]


@pytest.fixture
def in_process_sf(db, mongo_uri: str, tmp_path: Path) -> Callable[[Callable[[typer.Typer], None]], Run]:
    """``in_process_sf(register) -> run``: ``register(app)`` adds the commands under test to an app
    whose root callback points the settings at the test database (SF_HOME = tmp_path/home);
    ``run(args) -> (exit code, output)`` maps SfErrors to their exit codes as `sf`'s main() does."""

    def make(register: Callable[[typer.Typer], None]) -> Run:
        settings = Settings(mongodb_uri=mongo_uri, db_name=db.name, home=tmp_path / "home")
        app = typer.Typer()

        @app.callback()
        def root(ctx: typer.Context) -> None:
            ctx.obj = settings

        register(app)
        runner = CliRunner()

        def run(args: list[str]) -> tuple[int, str]:
            result = runner.invoke(app, args, env={"COLUMNS": "200"})
            if isinstance(result.exception, SfError):
                return result.exception.exit_code, str(result.exception)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise result.exception
            return result.exit_code, result.output

        return run

    return make
