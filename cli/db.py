"""`sf db`: serve the embedded store to other clients, and show what the database holds."""

from __future__ import annotations

import asyncio
import errno

import typer
from rich.table import Table

from sf.engine.collections import COLLECTIONS, FEATURES_DEBUG
from sf.engine.embedded import SERVER_FILE, read_server_file, serve as serve_embedded, write_server_file
from sf.engine.errors import DatabaseUnreachable, UsageError

from .common import console, err_console, print_json, settings_of, store_of

app = typer.Typer(help="The database: embedded server and contents.\n\nExample:\n\n    sf db info\n\n    sf db serve --port 27017", no_args_is_help=True, rich_markup_mode=None)


@app.command("serve")
def serve(ctx: typer.Context,
          port: int = typer.Option(27017, "--port", "-p", help="TCP port to listen on (127.0.0.1)."),
          host: str = typer.Option("127.0.0.1", help="Address to bind; keep loopback unless you know why.")) -> None:
    """Run the embedded server in the foreground so mongosh, PyMongo and other sf commands can use it.

    Stop it with Ctrl-C. While it runs, other sf commands with the same SF_HOME use it.

    Example:

        sf db serve --port 27017   # then: mongosh mongodb://127.0.0.1:27017/signauxfaibles
    """
    settings = settings_of(ctx)
    if not settings.embedded:
        raise UsageError("sf db serve runs the embedded store, but a MongoDB URI is configured",
                         "unset SF_MONGODB_URI / --mongodb-uri, or connect to that MongoDB directly")
    if read_server_file(settings.home):
        raise UsageError(f"an embedded server already serves {settings.home} (see {settings.home / SERVER_FILE})")
    data_dir = settings.embedded_data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    server_file = settings.home / SERVER_FILE

    def ready(bound_port: int) -> None:
        write_server_file(settings.home, bound_port, data_dir)
        err_console.print(f"Serving {data_dir} on mongodb://{host}:{bound_port}/{settings.db_name} — Ctrl-C to stop.")

    try:
        asyncio.run(serve_embedded(str(data_dir), host, port, ready))
    except KeyboardInterrupt:
        err_console.print("Stopped.")
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise DatabaseUnreachable(f"port {port} is already in use", "choose another with --port") from None
        raise
    finally:
        server_file.unlink(missing_ok=True)


@app.command("info")
def info(ctx: typer.Context, json_output: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Show where the data is and how many documents each collection holds.

    Example:

        sf db info
    """
    settings = settings_of(ctx)
    with store_of(ctx) as store:
        names = list(COLLECTIONS) + [FEATURES_DEBUG]
        present = set(store.db.list_collection_names())
        counts = {name: store.db[name].estimated_document_count() for name in names if name in present}
        where = (str(settings.embedded_data_dir.resolve() / f"{settings.db_name}.db") if settings.embedded
                 else store.display_uri)
    report = {"backend": "embedded (nx-27017 over SQLite)" if settings.embedded else "MongoDB",
              "location": where, "database": settings.db_name, "collections": counts}
    if json_output:
        print_json(report)
        return
    console.print(f"backend: {report['backend']}\nlocation: {where}\ndatabase: {settings.db_name}")
    table = Table("collection", "documents")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
