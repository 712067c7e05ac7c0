"""The ``townsquare`` command line. Each sub-module adds one group of commands."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from townsquare.errors import TownsquareError
from townsquare.settings import Settings

app = typer.Typer(help="townsquare: language models for your social platform, on your own machines.",
                  no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode="rich",
                  add_completion=False)
err = Console(stderr=True, soft_wrap=True)  # an error line stays one line: paths and ids must not break


@app.callback()
def _root(
    ctx: typer.Context,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", envvar="TOWNSQUARE_DATA_DIR", help="Folder for the embedded database and models.")] = None,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", envvar="TOWNSQUARE_DATABASE_URL",
        help="sqlite:///PATH or postgresql://... (default: a SQLite file in the data folder).")] = None,
) -> None:
    overrides = {k: v for k, v in {"data_dir": data_dir, "database_url": database_url}.items() if v}
    ctx.obj = Settings(**overrides)


def settings_of(ctx: typer.Context) -> Settings:
    return ctx.find_root().obj


def open_store(ctx: typer.Context):
    from townsquare.storage import Store

    return Store.open(settings_of(ctx).resolved_database_url)


def _register() -> None:
    # Each module adds its commands to ``app`` (and to the shared ``train`` / ``eval`` groups).
    from townsquare.cli import data, evaluate, feed, interact, safety, web  # noqa: F401


def main() -> None:
    _register()
    try:
        app()
    except TownsquareError as error:
        err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)  # ids and paths as given
        sys.exit(2)
    except (SQLAlchemyError, sqlite3.Error) as error:  # another writer's doing (a lock held too long, a row deleted meanwhile)
        from townsquare.storage.contention import contention

        found = contention(error)
        if found is None:
            raise
        err.print(f"[bold red]error:[/] {found[1]}", highlight=False)
        sys.exit(3 if found[0] == "busy" else 2)
    except ValidationError as error:  # a setting, or a record a reader built: say which
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        what = "setting" if error.title == "Settings" else f"{error.title} field"
        err.print(f"[bold red]error:[/] {what} {escape(where)}: {escape(first['msg'])}", highlight=False)
        sys.exit(2)
