"""`sf db`: serve the embedded store to other clients, show what the database holds, upgrade."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import typer
from rich.table import Table

from sf.engine.collections import COLLECTIONS, FEATURES_DEBUG
from sf.engine.connection import open_store
from sf.engine.embedded import SERVER_FILE, read_server_file, write_server_file
from sf.engine.errors import DatabaseUnreachable, UsageError
from sf.engine.journal import journal_run
from sf.engine.staleness import stale_outputs
from sf.engine.upgrade import LEGACY_BACKUP_DIR, legacy_databases, upgrade_home

from .common import console, err_console, json_option, print_json, settings_of, store_of

app = typer.Typer(help="The database: embedded store, contents, upgrade.\n\nExample:\n\n    sf db info\n\n"
                       "    sf db serve --port 27017", no_args_is_help=True, rich_markup_mode=None)

SERVE_USER = "sf"


@app.command("serve")
def serve(ctx: typer.Context,
          port: int = typer.Option(27017, "--port", "-p", help="TCP port to listen on."),
          host: str = typer.Option("127.0.0.1", help="Address to bind; keep loopback unless you know why."),
          no_auth: bool = typer.Option(False, "--no-auth",
                                       help="Accept clients without credentials (anyone on this machine can then "
                                            "read and change the data).")) -> None:
    """Run the embedded store in the foreground so mongosh, PyMongo and other sf commands can use it.

    Clients must authenticate (SCRAM-SHA-256, user "sf", a new password each start) unless
    --no-auth is given. The URI to use, password included, is written to SF_HOME/server.json
    (readable by you only) and printed by `sf db uri`. Stop with Ctrl-C. While it runs, other
    sf commands with the same SF_HOME use it.

    Example:

        sf db serve --port 27017

        mongosh "$(sf db uri)"
    """
    settings = settings_of(ctx)
    if not settings.embedded:
        raise UsageError("sf db serve runs the embedded store, but a MongoDB URI is configured",
                         "unset SF_MONGODB_URI / --mongodb-uri, or connect to that MongoDB directly")
    if read_server_file(settings.home):
        raise UsageError(f"an embedded server already serves {settings.home} (see {settings.home / SERVER_FILE})")
    if legacy_databases(settings.home):
        raise UsageError(f"{settings.home} holds data of the previous embedded store", "run `sf db upgrade` first")
    data_dir = settings.embedded_data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "sf.store.server", "--data-dir", str(data_dir), "--host", host, "--port", str(port)]
    password = None
    with tempfile.TemporaryDirectory(prefix="sf-serve-") as private:
        if not no_auth:
            password = secrets.token_urlsafe(18)
            auth_file = Path(private) / "auth.json"
            auth_file.write_text(json.dumps({"user": SERVE_USER, "password": password}))
            auth_file.chmod(0o600)
            command += ["--auth-file", str(auth_file)]
        # The server's own messages go to the log, not to a pipe nobody reads during a long session.
        log_path = settings.home / "embedded.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        first = process.stdout.readline()  # type: ignore[union-attr]
        if not first.startswith("ready"):
            process.wait()
            detail = (first + log_path.read_text(errors="replace")).strip().splitlines()
            text = detail[-1] if detail else "no output"
            if "in use" in text.lower():
                raise DatabaseUnreachable(f"port {port} is already in use", "choose another with --port")
            raise DatabaseUnreachable(f"the embedded store did not start: {text}")
        credentials = f"{SERVE_USER}:{quote(password, safe='')}@" if password else ""
        options = "?authSource=admin" if password else ""
        uri = f"mongodb://{credentials}{host}:{port}/{settings.db_name}{options}"
        server_file = write_server_file(settings.home, {"uri": uri, "data_dir": str(data_dir), "auth": bool(password)})
        # SIGTERM (a service manager, `kill`) stops the server the same way as Ctrl-C; SIGINT too
        # when a script started us in the background (where the shell makes SIGINT ignored).
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        signal.signal(signal.SIGINT, signal.default_int_handler)
        err_console.print(f"Serving {data_dir} on {host}:{port} ({'no authentication' if no_auth else 'user sf'}) "
                          f"— Ctrl-C to stop.\nConnect with:  mongosh \"$(sf db uri)\"")
        try:
            process.wait()
            err_console.print(f"The store stopped unexpectedly (exit {process.returncode}).")
        except KeyboardInterrupt:
            process.terminate()
            process.wait(timeout=30)
            err_console.print("Stopped.")
        finally:
            server_file.unlink(missing_ok=True)


@app.command("uri")
def uri(ctx: typer.Context) -> None:
    """Print the URI of the running `sf db serve` (credentials included), for mongosh or scripts.

    Example:

        mongosh "$(sf db uri)"
    """
    settings = settings_of(ctx)
    running = read_server_file(settings.home)
    if not running:
        raise UsageError(f"no `sf db serve` is running for {settings.home}", "start one with `sf db serve`")
    sys.stdout.write(running["uri"] + "\n")


@app.command("info")
def info(ctx: typer.Context, json_output: bool = json_option("Print as JSON.")) -> None:
    """Show where the data is, how many documents each collection holds, and which Features or
    Scores are stale (computed before a later purge or compaction of their batches).

    Example:

        sf db info
    """
    settings = settings_of(ctx)
    with store_of(ctx) as store:
        names = list(COLLECTIONS) + [FEATURES_DEBUG]
        present = set(store.db.list_collection_names())
        counts = {name: store.db[name].estimated_document_count() for name in names if name in present}
        stale = stale_outputs(store.db)
        where = (str(settings.embedded_data_dir.resolve() / f"{settings.db_name}.sqlite3") if settings.embedded
                 else store.display_uri)
    report = {"backend": "embedded (sf.store, BSON in SQLite)" if settings.embedded else "MongoDB",
              "location": where, "database": settings.db_name, "collections": counts,
              "stale": [s.as_dict() for s in stale]}
    if json_output:
        print_json(report)
        return
    console.print(f"backend: {report['backend']}\nlocation: {where}\ndatabase: {settings.db_name}")
    table = Table("collection", "documents")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    for item in stale:
        console.print(f"Stale: {item.message()}", markup=False, highlight=False, soft_wrap=True)


@app.command("upgrade")
def upgrade(ctx: typer.Context, json_output: bool = json_option("Print as JSON.")) -> None:
    """Convert an SF_HOME written by the previous embedded store (nx-27017) to the current one.

    Every document of SF_HOME/data/*.db is copied into the current store, values the previous
    store had changed are repaired (index.algo2 stored as 1/0, SIRET/SIREN stored as numbers),
    and the old folder is renamed data-nx27017 (nothing is deleted). Interrupted, it can be run
    again: it converts the same way. Journaled as `db upgrade`.

    Example:

        sf db upgrade
    """
    settings = settings_of(ctx)
    if not settings.embedded:
        raise UsageError("sf db upgrade converts the embedded store, but a MongoDB URI is configured")
    legacy = legacy_databases(settings.home)
    if not legacy:
        err_console.print(f"Nothing to upgrade: {settings.home} holds no data of the previous store.")
        return
    with open_store(settings, allow_legacy=True) as store, \
            journal_run(store.db, "db upgrade", {"home": str(settings.home)}, destructive=True) as run:
        reports = upgrade_home(settings.home, store.client)
        run.counts = {"read": sum(r.read for r in reports), "written": sum(r.written for r in reports),
                      "repaired": sum(r.repaired for r in reports)}
        for report in reports:
            run.add_report(vars(report))
    if json_output:
        print_json([vars(r) for r in reports])
        return
    table = Table("database", "collection", "read", "written", "repaired")
    for r in reports:
        table.add_row(r.database, r.collection, f"{r.read:,}", f"{r.written:,}",
                      f"{r.repaired:,}" + (f" ({', '.join(sorted(r.repairs))})" if r.repairs else ""))
    console.print(table)
    err_console.print(f"Converted {len(legacy)} database file(s); the old files are in "
                      f"{settings.home / LEGACY_BACKUP_DIR}.")
