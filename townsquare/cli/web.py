"""Web commands: ``serve`` (the HTTP API and web app) and ``keys`` (platform API keys)."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from townsquare.cli import app, open_store, settings_of
from townsquare.errors import NotFoundError

out = Console()
keys_app = typer.Typer(
    help="Platform API keys: create, list, revoke. Only their hashes are stored.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (each loads the feed index).")
    ] = 1,
    demo: Annotated[
        bool, typer.Option("--demo", help="Demo mode: sign in to the web app as any user.")
    ] = False,
) -> None:
    """Serve the HTTP API (/v1, OpenAPI at /v1/docs), the Bluesky feed endpoints and the web app."""
    import uvicorn

    settings = settings_of(ctx)
    os.environ["TOWNSQUARE_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        os.environ["TOWNSQUARE_DATABASE_URL"] = settings.database_url
    if demo:
        os.environ["TOWNSQUARE_WEB_DEMO"] = "true"
    from townsquare.web.config import WebConfig

    WebConfig()  # a bad TOWNSQUARE_WEB_* value stops here, said once: in the workers it crashed each for ever
    open_store(ctx).close()  # migrate once, before the workers start
    _check_port(host, port)  # before saying where it serves
    out.print(f"townsquare on http://{host}:{port}/ (API docs at /v1/docs)", highlight=False)
    uvicorn.run(
        "townsquare.web.app:factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def _check_port(host: str, port: int) -> None:
    import socket

    from townsquare.errors import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}; choose another with --port "
                              "or stop what uses it") from None


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    scope: Annotated[
        list[str], typer.Option("--scope", help="ingest, read, moderate or admin; repeat for more.")
    ],
    user: Annotated[
        str | None, typer.Option("--user", help="Bind the key to one user (handle or external id).")
    ] = None,
    name: Annotated[str, typer.Option(help="A note saying what the key is for.")] = "",
) -> None:
    """Create a key and print it once: store it now, it cannot be shown again."""
    from townsquare.web.auth import KeyBook

    secret, row = KeyBook(open_store(ctx)).create(scope, user=user, name=name)
    print(json.dumps({"key": secret, **row}))  # plain: rich would wrap it at the terminal width, mid-string


@keys_app.command("list")
def keys_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """Every key: id, prefix, scopes, bound user, created and revoked times."""
    from townsquare.web.auth import KeyBook

    store = open_store(ctx)
    rows = KeyBook(store).list()
    if as_json:
        out.print_json(json.dumps(rows))  # soft-wrapped: valid JSON at any terminal width
        return
    handles = {}
    for r in rows:  # the bound user by handle, as `keys create --user` takes them
        if r["user_id"] is not None and r["user_id"] not in handles:
            try:
                handles[r["user_id"]] = "@" + store.find_user(int(r["user_id"]))["handle"]
            except NotFoundError:
                handles[r["user_id"]] = f"(deleted user {r['user_id']})"
    table = Table("id", "prefix", "name", "scopes", "user", "created", "revoked")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["prefix"],
            r["name"],
            ",".join(r["scopes"]),
            handles.get(r["user_id"], ""),
            r["created_at"][:19],
            (r["revoked_at"] or "")[:19],
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context, key_id: Annotated[int, typer.Argument(help="The key's id (see `keys list`).")]
) -> None:
    """Revoke a key: requests with it get 401 from now on (within auth_recall_s, 1 s, on running servers)."""
    from townsquare.web.auth import KeyBook

    KeyBook(open_store(ctx)).revoke(key_id)
    out.print(f"revoked key {key_id}")
