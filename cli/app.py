"""The `sf` command line: one Typer sub-app per step, thin commands over the library.

Exit codes: 0 success, 1 failure, 2 usage error, 3 bad input data, 4 database unreachable, lost or
full, 130 Ctrl-C, 143 SIGTERM (README, "When something fails").
"""

from __future__ import annotations

import errno
import signal
import sys
import traceback
from pathlib import Path

import typer

from sf.engine import __version__
from pymongo.errors import PyMongoError

from sf.engine import journal as run_journal
from sf.engine.errors import SfError, Terminated, store_failure
from sf.engine.settings import install_log_redaction, load_settings, redact

from . import alerts, batch, compaction, db, demo, features, importing, journal, maintenance, reports, scoring, synth
from .common import err_console

app = typer.Typer(
    name="sf",
    help=(
        "Signaux Faibles: early detection of French companies in difficulty.\n\n"
        "Monthly deliveries go through: sf batch add → sf import → sf compact → sf features → sf score.\n"
        "With no SF_MONGODB_URI, data lives in an embedded MongoDB-compatible store under SF_HOME (./.sf).\n\n"
        "Exit codes: 0 success, 1 failure, 2 usage error, 3 bad input data, 4 database unreachable, lost or "
        "full, 130 interrupted (Ctrl-C), 143 stopped (SIGTERM).\n\n"
        "Example:\n\n"
        "    sf batch add 2401 --file effectif=./2401/Sigfaible_effectif_siret.csv\n\n"
        "    sf batch list"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command("demo")(demo.demo)
app.add_typer(features.app, name="features")
app.add_typer(batch.app, name="batch")
app.add_typer(db.app, name="db")
app.command("synth")(synth.synth)
app.command("check")(importing.check)
app.command("import")(importing.import_)
app.command("compact")(compaction.compact)
app.command("purge")(maintenance.purge)
app.command("prune-entities")(maintenance.prune_entities)
app.command("validate")(maintenance.validate)
app.add_typer(maintenance.rawdata_app, name="rawdata")
app.command("train")(scoring.train)
app.command("score")(scoring.score)
app.add_typer(alerts.app, name="alerts")
app.command("evaluate")(scoring.evaluate)
app.command("fiche")(reports.fiche)
app.command("report")(reports.report)
app.command("journal")(journal.journal)


def _version(value: bool) -> None:
    if value:
        print(f"sf {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    mongodb_uri: str | None = typer.Option(None, "--mongodb-uri", envvar="SF_MONGODB_URI", show_envvar=True,
                                           help="MongoDB URI; unset = the embedded store under SF_HOME."),
    db_name: str | None = typer.Option(None, "--db", envvar="SF_DB", show_envvar=True,
                                       help="Database name [default: signauxfaibles]."),
    home: Path | None = typer.Option(None, "--home", envvar="SF_HOME", show_envvar=True,
                                     help="Folder of local state (embedded data, models, logs) [default: ./.sf]."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Global options, applied before any command."""
    ctx.obj = load_settings().with_overrides(mongodb_uri=mongodb_uri, db_name=db_name, home=home)


#: Signals received by this process: Typer turns the KeyboardInterrupt they raise into a plain
#: return code 130, so :func:`main` looks here to tell Ctrl-C from SIGTERM.
_RECEIVED: list[int] = []


def _interrupted(signum: int) -> None:
    """Print the one line about an interruption by ``signum`` and exit with ``128 + signum``."""
    what = "Interrupted (Ctrl-C)" if signum == signal.SIGINT else f"Stopped by {signal.Signals(signum).name}"
    closed = run_journal.last_interrupted
    if closed:
        what += (f": run {closed[0].id} of `sf {closed[0].command}` is marked interrupted in the Journal "
                 f"and the lock released; run the same command again to redo it")
    err_console.print(what + ".", markup=False, highlight=False, soft_wrap=True)
    sys.exit(128 + signum)


def _on_signal(signum: int, frame: object) -> None:
    """SIGINT and SIGTERM stop the command through an exception, so the Journal marks its run
    interrupted and the lock is released; further signals are ignored during that clean-up
    (it takes at most a few seconds; ``kill -9`` still ends it, and the next command closes the run)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _RECEIVED.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def install_signal_handlers() -> None:
    """Route SIGINT and SIGTERM to :func:`_on_signal` (main thread only)."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and turn errors into one line and an exit code.

    Exit codes: see the module docstring. Every failure is one line on stderr, except a bug
    (any other exception), which shows its traceback.
    """
    command = typer.main.get_command(app)
    install_log_redaction()
    install_signal_handlers()
    try:
        result = command.main(args=argv, prog_name="sf", standalone_mode=False)
    except typer.Abort:  # a confirmation refused, or interrupted
        if _RECEIVED:
            _interrupted(_RECEIVED[0])
        err_console.print("Aborted.")
        sys.exit(130)
    except typer.TyperException as exc:  # click's usage errors (Typer vendors click): exit 2
        show = getattr(exc, "show", None)
        if show:
            show()
        else:
            err_console.print(f"Error: {redact(exc.format_message())}", markup=False, highlight=False)
        sys.exit(exc.exit_code)
    except SfError as exc:
        err_console.print(f"Error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        _interrupted(exc.signum if isinstance(exc, Terminated) else signal.SIGINT)
    except PyMongoError as exc:
        failure = store_failure(exc)
        if failure is None:
            err_console.print(redact(traceback.format_exc()), markup=False, highlight=False, soft_wrap=True)
            sys.exit(1)
        err_console.print(f"Error: {failure}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(failure.exit_code)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            err_console.print(redact(traceback.format_exc()), markup=False, highlight=False, soft_wrap=True)
            sys.exit(1)
        where = f" writing {exc.filename}" if exc.filename else " writing a temporary file"
        err_console.print(f"Error: a disk is full{where}: {exc.strerror} (free some space there or in TMPDIR, "
                          f"then run the same command again)", markup=False, highlight=False, soft_wrap=True)
        sys.exit(4)
    except Exception:  # a bug: show its traceback, without any password it may quote
        err_console.print(redact(traceback.format_exc()), markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    if result == 130:  # Typer returns 130 for a KeyboardInterrupt (or our Terminated) it caught
        _interrupted(_RECEIVED[0] if _RECEIVED else signal.SIGINT)
    sys.exit(result if isinstance(result, int) else 0)
