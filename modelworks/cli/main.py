"""``modelworks serve | worker | admin ...``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from modelworks.cli.admin import admin
from modelworks.settings import Settings

app = typer.Typer(
    help="Modelworks: a self-hosted platform that speaks the ModelArts REST API.", no_args_is_help=True
)
app.add_typer(admin, name="admin")

HomeOption = Annotated[
    Path | None, typer.Option(help="Data directory (default $MODELWORKS_HOME or ~/.modelworks)")
]


def load_settings(home: Path | None = None, **overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if home is not None:
        values["home"] = home
    return Settings(**values)  # type: ignore[arg-type]


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind [default: MODELWORKS_HOST or 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind [default: MODELWORKS_PORT or 8000]")] = None,
    home: HomeOption = None,
) -> None:
    """Run the API server (with an embedded background worker unless MODELWORKS_EMBEDDED_WORKER=false)."""
    import uvicorn

    from modelworks.api.protocol import uvicorn_options
    from modelworks.app import create_app

    _logging()
    settings = load_settings(home, host=host, port=port)
    application = create_app(settings)
    logging.getLogger("modelworks").info(
        "Modelworks on %s (database %s, storage %s); credentials in %s",
        settings.public_endpoint,
        settings.database_backend,
        settings.storage_backend,
        settings.home / "credentials.json",
    )
    uvicorn.run(application, log_level="info", **uvicorn_options(settings))


@app.command()
def worker(
    home: HomeOption = None,
    lanes: Annotated[
        bool, typer.Option(help="Run the lanes of the embedded workers (what serve starts itself)")
    ] = False,
    parent: Annotated[int | None, typer.Option(help="Stop when this process is gone")] = None,
) -> None:
    """Run a background worker process against the configured database and storage."""
    _logging()
    if lanes:
        from modelworks.embedded import run_lanes_process

        run_lanes_process(load_settings(home), parent)
        return
    from modelworks.jobs import run_worker_process

    run_worker_process(load_settings(home))


@app.command()
def migrate(home: HomeOption = None) -> None:
    """Apply the database migrations and exit."""
    from modelworks.db import Database
    from modelworks.iam.secrets import install as install_secrets

    settings = load_settings(home)
    db = Database(settings.database_url)
    db.migrate()
    install_secrets(db, settings)  # seals the SKs an older version left in plain text
    db.dispose()
    typer.echo(json.dumps({"database": settings.database_backend, "migrated": True}))


if __name__ == "__main__":
    app()
