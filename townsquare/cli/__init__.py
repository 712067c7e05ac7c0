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

from townsquare.errors import ConfigError, TownsquareError
from townsquare.settings import Settings, masked_url

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
    _check_variables(warn_only=ctx.invoked_subcommand == "settings")  # which lists the right names
    overrides = {k: v for k, v in {"data_dir": data_dir, "database_url": database_url}.items() if v}
    ctx.obj = Settings(**overrides)


def _check_variables(warn_only: bool = False) -> None:
    """Refuse TOWNSQUARE_* variables that no setting reads: a misspelt one would be ignored in silence."""
    import difflib
    import os

    from townsquare.settings import known_variables, unknown_variables

    unknown = unknown_variables(os.environ)
    if not unknown:
        return
    known = known_variables()
    named = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper(), known, n=2, cutoff=0.7)
        named.append(name + (f" (did you mean {' or '.join(close)}?)" if close else ""))
    message = (f"unknown setting {', '.join(named)}: townsquare reads no variable of that name; correct or unset it "
               "(`townsquare settings` lists every variable)")
    if not warn_only:
        raise ConfigError(message)
    err.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False)


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
        err.print(f"[bold red]error:[/] {escape(invalid(error))}", highlight=False)
        sys.exit(2)


_VARIABLE_PREFIXES = {"Settings": "TOWNSQUARE_", "WebConfig": "TOWNSQUARE_WEB_"}
_OPTIONS = {"data_dir": "--data-dir", "database_url": "--database-url"}


def invalid(error: ValidationError) -> str:
    """What was wrong, in one line: for a setting, its variable and the value it had (a secret masked)."""
    first = error.errors()[0]
    prefix = _VARIABLE_PREFIXES.get(error.title)
    if prefix is None:
        return f"{error.title} field {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    if not first["loc"]:  # a check of the whole model: its message names the setting
        return str(first["msg"]).removeprefix("Value error, ")
    name = str(first["loc"][0])
    value = first.get("input")
    if name == "database_url" and isinstance(value, str):
        value = masked_url(value)
    elif "key" in name or "secret" in name:
        value = "***"
    option = f" (or {_OPTIONS[name]})" if name in _OPTIONS else ""
    return (f"setting {prefix}{name.upper()}{option} is {value!r}: {first['msg']}; correct or unset it "
            "(`townsquare settings` says what each one takes)")
