"""Data commands: status, migrate, import, user export/delete, the demo community."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from townsquare.cli import app, open_store, settings_of

out = Console()
import_app = typer.Typer(help="Import users, posts, follows and interactions, or labelled text.",
                         no_args_is_help=True)
user_app = typer.Typer(help="A user's data on request: export or delete.", no_args_is_help=True)
demo_app = typer.Typer(help="The bundled demo community and the synthetic benchmark corpus.",
                       no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(user_app, name="user")
app.add_typer(demo_app, name="demo")

SkipBad = Annotated[bool, typer.Option("--skip-bad", help="Import the good records; report the bad ones.")]
SkipReport = Annotated[Path | None, typer.Option(
    "--report", help="Where --skip-bad writes what it skipped and why (JSONL). Default: FILE.skipped.jsonl")]


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed:,} records"), TimeElapsedColumn(), transient=False)


def _load(ctx: typer.Context, records: Iterable, source: str, skip_bad: bool, report_path: Path | None,
          errors: list | None = None) -> None:
    """Load records in one transaction with a progress bar, then print what happened."""
    from townsquare.ingest.loader import ImportReport, Loader

    store = open_store(ctx)
    with _progress() as progress:
        task = progress.add_task(f"importing {source}", total=None)
        report: ImportReport = Loader(store, skip_bad=skip_bad,
                                      progress=lambda n: progress.advance(task, n)).load(records, source)
    report.skipped[:0] = errors or []
    table = Table("record", "inserted", "already there", title=f"imported {source}")
    for kind in sorted(set(report.inserted) | set(report.existing)):
        table.add_row(kind, f"{report.inserted[kind]:,}", f"{report.existing[kind]:,}")
    out.print(table)
    if report.skipped:
        path = report_path or Path(f"{Path(source).name}.skipped.jsonl")
        report.write_skipped(path)
        out.print(f"[yellow]skipped {len(report.skipped):,} bad records[/]; reasons in {path}")


@app.command()
def status(ctx: typer.Context) -> None:
    """What the database holds: rows per table and per kind."""
    store = open_store(ctx)
    settings = settings_of(ctx)
    table = Table("what", "rows", title=f"townsquare at {settings.resolved_database_url}")
    for name, n in store.counts().items():
        table.add_row(name, f"{n:,}")
    out.print(table)
    out.print(f"schema revision {store.schema_revision()}")


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Create or upgrade the database schema (every command does this on its own too)."""
    store = open_store(ctx)
    out.print(f"schema at revision {store.schema_revision()}")


@import_app.command("jsonl")
def import_jsonl(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="JSONL file, one record a line.")],
                 skip_bad: SkipBad = False, report: SkipReport = None) -> None:
    """Import a JSONL file: objects with "type" user, post, follow, block, mute or interaction."""
    from townsquare.ingest.jsonl import read_jsonl

    errors: list = []
    records = read_jsonl(file, on_error=errors.append if skip_bad else None)
    _load(ctx, records, str(file), skip_bad, report, errors)


@user_app.command("export")
def user_export(ctx: typer.Context, user: Annotated[str, typer.Argument(help="Handle, external id or id.")],
                output: Annotated[Path | None, typer.Option("--out", "-o", help="File (default: stdout).")] = None,
                ) -> None:
    """Write everything stored about a user as JSON."""
    from townsquare.storage.privacy import export_user

    data = json.dumps(export_user(open_store(ctx), user), indent=2, ensure_ascii=False)
    if output:
        output.write_text(data, encoding="utf-8")
        out.print(f"wrote {output}")
    else:
        print(data)


@user_app.command("delete")
def user_delete(ctx: typer.Context, user: Annotated[str, typer.Argument(help="Handle, external id or id.")],
                yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False) -> None:
    """Remove a user, their posts, interactions, vectors and derived data from every table and index."""
    from townsquare.storage.privacy import delete_user

    store = open_store(ctx)
    found = store.find_user(user)
    if not yes:
        typer.confirm(f"Delete @{found['handle']} and everything derived from them?", abort=True)
    counts = delete_user(store, found["id"])
    out.print(f"deleted @{found['handle']}: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))


@demo_app.command("load")
def demo_load(ctx: typer.Context, seed: Annotated[int, typer.Option(help="Random seed.")] = 0) -> None:
    """Load the bundled demo community (idempotent)."""
    from townsquare.demo.community import demo_records

    _load(ctx, demo_records(seed=seed), "demo community", skip_bad=False, report_path=None)
