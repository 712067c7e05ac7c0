"""Data commands: status, migrate, import, user export/delete, the demo community."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from townsquare.cli import app, open_store, settings_of
from townsquare.errors import check_writable_file
from townsquare.ingest.records import EdgeKind, InteractionKind

out = Console()


class TableKind(StrEnum):
    """What the rows of ``import table`` are."""

    interactions = "interactions"
    edges = "edges"
    items = "items"


import_app = typer.Typer(help="Import users, posts, follows and interactions, or labelled text.",
                         no_args_is_help=True)
user_app = typer.Typer(help="A user's data on request: export or delete.", no_args_is_help=True)
demo_app = typer.Typer(help="The bundled demo community and the synthetic benchmark corpus.",
                       no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(user_app, name="user")
app.add_typer(demo_app, name="demo")

SkipBad = Annotated[bool, typer.Option("--skip-bad", help="Import the good records; report the bad ones.")]
Bulk = Annotated[bool, typer.Option("--bulk", help=(
    "For millions of records: drop the secondary indexes and build them again at the end (same transaction)."))]
SkipReport = Annotated[Path | None, typer.Option(
    "--report", help=("Where --skip-bad writes what it skipped and why (JSONL). Default: NAME.skipped.jsonl in the "
                      "current folder, NAME being the input's file name."))]
LoadOnly = Annotated[bool, typer.Option("--load-only", help=(
    "Only load: leave embedding new posts and users and scoring new posts for moderation to `townsquare embed` "
    "and `townsquare moderate score` (for very large imports; until then the feed shows those posts unmoderated)."))]


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed:,} records"), TimeElapsedColumn(), transient=False)


def _load(ctx: typer.Context, records: Iterable, source: str, skip_bad: bool, report_path: Path | None,
          errors: list | None = None, bulk: bool = False):
    """Load records in one transaction with a progress bar, print what happened, return the report."""
    from townsquare.ingest.loader import ImportReport, Loader

    store = open_store(ctx)
    report_path = report_path or Path(f"{Path(source).name}.skipped.jsonl")
    if skip_bad:
        check_writable_file(report_path, field="report")  # before the import commits, not after
    with _progress() as progress:
        task = progress.add_task(f"importing {source}", total=None)
        report: ImportReport = Loader(store, skip_bad=skip_bad, bulk=bulk,
                                      progress=lambda n: progress.advance(task, n)).load(records, source)
    report.skipped = sorted([*(errors or []), *report.skipped], key=lambda e: (e.source or "", e.line or 0))
    table = Table("record", "inserted", "already there", "changed", title=f"imported {source}")
    for kind in sorted(set(report.inserted) | set(report.existing) | set(report.changed)):
        table.add_row(kind, f"{report.inserted[kind]:,}", f"{report.existing[kind]:,}", f"{report.changed[kind]:,}")
    out.print(table)
    if report.skipped:
        report.write_skipped(report_path)
        out.print(f"[yellow]skipped {len(report.skipped):,} bad records[/]; reasons in {report_path}")
    return report


class _Moderation:
    """What an import embeds and scores its posts with: the embedder (by name: its weights load when first
    used), the classifiers and the policy in force, all found before anything is imported, so that a wrong
    TOWNSQUARE_EMBED_MODEL or a broken policy file stops the import before it writes."""

    def __init__(self, ctx: typer.Context, load_only: bool, adds_posts: bool = True) -> None:
        from townsquare.cli.safety import community_policy, safety_scorer
        from townsquare.models import get_embedder

        self.load_only = load_only
        if not load_only:
            get_embedder(settings_of(ctx))  # the same one (cached) that embeds after the import
        self.scorer = safety_scorer(ctx) if adds_posts and not load_only else None
        self.policy = community_policy(ctx, self.scorer) if self.scorer is not None else None


def _prepare_new(ctx: typer.Context, report, moderation: _Moderation) -> None:
    """After an import: embed and score for moderation what is new, and what an earlier import left
    unembedded or unscored (stopped half-way, or --load-only), so that the feed serves nothing unmoderated;
    say what still waits, and which command does it."""
    from townsquare.ingest.embed import count_unembedded
    from townsquare.safety.queue import count_unscored, unscored_posts

    store = open_store(ctx)
    if not moderation.load_only:
        if report.inserted.get("post") or report.inserted.get("user") or count_unembedded(store):
            embed(ctx)
        if moderation.scorer is not None and (waiting := unscored_posts(store)):
            from townsquare.cli.safety import score_and_say

            score_and_say(store, waiting, moderation.scorer, moderation.policy)
    waiting = [(n, "`townsquare embed`", "no vector") for n in [count_unembedded(store)] if n]
    waiting += [(n, "`townsquare moderate score`", "no moderation scores") for n in [count_unscored(store)] if n]
    if waiting:
        said = " and ".join(f"{n:,} live post{'s' if n != 1 else ''} {'have' if n != 1 else 'has'} {what}"
                            for n, _, what in waiting)
        out.print(f"next: {' and '.join(command for _, command, _ in waiting)}: [yellow]{said} yet[/] (the feed "
                  "shows posts unmoderated until they are scored)")


@app.command()
def status(ctx: typer.Context) -> None:
    """What the database holds: rows per table and per kind."""
    store = open_store(ctx)
    settings = settings_of(ctx)
    out.print(f"townsquare at {settings.shown_database_url}", soft_wrap=True, highlight=False)  # never wrapped
    table = Table("what", "rows")
    for name, n in store.counts().items():
        table.add_row(name, f"{n:,}")
    out.print(table)
    out.print(f"schema revision {store.schema_revision()}")
    from townsquare.ingest.embed import count_unembedded
    from townsquare.safety.queue import count_unscored  # reads the tables only: no model, no scikit-learn

    if unscored := count_unscored(store):
        out.print(f"[yellow]{unscored:,} live posts are not scored for moderation yet[/]: the feed shows them "
                  "unmoderated until `townsquare moderate score` scores them")
    if unembedded := count_unembedded(store):
        out.print(f"[yellow]{unembedded:,} live posts have no vector yet[/]: the feed's interest, cold-start and "
                  "steering sources cannot propose them until `townsquare embed` embeds them")


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Create or upgrade the database schema (every command does this on its own too)."""
    store = open_store(ctx)
    out.print(f"schema at revision {store.schema_revision()}")


@import_app.command("jsonl")
def import_jsonl(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="JSONL file, one record a line.")],
                 skip_bad: SkipBad = False, report: SkipReport = None, bulk: Bulk = False,
                 load_only: LoadOnly = False) -> None:
    """Import a JSONL file: objects with "type" user, post, follow, block, mute or interaction; then embed
    what is new and score new posts for moderation (unless --load-only)."""
    from townsquare.ingest.jsonl import read_jsonl

    moderation = _Moderation(ctx, load_only)
    errors: list = []
    records = read_jsonl(file, on_error=errors.append if skip_bad else None, located=True)
    _prepare_new(ctx, _load(ctx, records, str(file), skip_bad, report, errors, bulk), moderation)


@import_app.command("table")
def import_table(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or TSV file.")],
    kind: Annotated[TableKind, typer.Option(help="What the rows are.")],
    mapping: Annotated[str, typer.Option("--map", help=(
        "Columns by header name or 0-based position. interactions: user,item[,value][,timestamp]; "
        "edges: source,target[,timestamp]; items: id,text[,timestamp]. E.g. user=0,item=1,value=2"))],
    interaction: Annotated[InteractionKind, typer.Option(help="Interaction kind of every row (interactions).")] = (
        InteractionKind.rating),
    edge: Annotated[EdgeKind, typer.Option(help="Edge kind of every row (edges).")] = EdgeKind.follow,
    author: Annotated[str, typer.Option(help="External id of the catalogue user who authors items.")] = "catalog",
    delimiter: Annotated[str | None, typer.Option(help="Field separator (default from the extension).")] = None,
    no_header: Annotated[bool, typer.Option("--no-header", help="The file has no header row.")] = False,
    new_users: Annotated[bool, typer.Option("--new-users", help=(
        "Create a user for each id not seen before (interactions, edges).")) ] = False,
    skip_bad: SkipBad = False,
    report: SkipReport = None,
    bulk: Bulk = False,
    load_only: LoadOnly = False,
) -> None:
    """Import interactions, edges or items from a CSV/TSV file with a column mapping; then embed what is new
    and score new posts for moderation (unless --load-only)."""
    from townsquare.ingest import tabular

    moderation = _Moderation(ctx, load_only, adds_posts=kind == TableKind.items)
    errors: list = []
    on_error = errors.append if skip_bad else None
    common = {"on_error": on_error, "delimiter": delimiter, "header": not no_header, "located": True}
    if kind == TableKind.interactions:
        records = tabular.read_interactions_table(file, mapping, kind=interaction, with_users=new_users, **common)
    elif kind == TableKind.edges:
        records = tabular.read_edges_table(file, mapping, kind=edge, with_users=new_users, **common)
    else:
        records = tabular.read_items_table(file, mapping, author=author, **common)
    _prepare_new(ctx, _load(ctx, records, str(file), skip_bad, report, errors, bulk), moderation)


@import_app.command("dataset")
def import_dataset(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="movielens-100k, lastfm-hetrec2011 or mind.")],
    path: Annotated[Path, typer.Argument(help="The dataset's folder (see docs/datasets.md).")],
    skip_bad: SkipBad = False,
    report: SkipReport = None,
    bulk: Bulk = False,
    load_only: LoadOnly = False,
) -> None:
    """Import a public social dataset: users, items as posts, follows and interactions; then embed what is
    new and score new posts for moderation (unless --load-only)."""
    from townsquare.errors import InputError
    from townsquare.ingest.datasets import get_dataset

    info = get_dataset(name)
    if info.kind != "social":
        raise InputError(f"{name} is labelled text: use `townsquare import labelled {name} PATH --out FILE`")
    moderation = _Moderation(ctx, load_only)
    errors: list = []
    records = info.reader(path, on_error=errors.append if skip_bad else None, located=True)  # errors at file:line
    _prepare_new(ctx, _load(ctx, records, name, skip_bad, report, errors, bulk), moderation)


@import_app.command("labelled")
def import_labelled(
    name: Annotated[str, typer.Argument(help="tweeteval, liar, constraint or dailydialog-plusplus.")],
    path: Annotated[Path, typer.Argument(help="The dataset's folder (see docs/datasets.md).")],
    output: Annotated[Path, typer.Option("--out", help="The canonical labelled-text JSONL to write.")],
    split: Annotated[str | None, typer.Option(help="train, val or test (default: the dataset's).")] = None,
    task: Annotated[str | None, typer.Option(help="TweetEval task, e.g. offensive or stance/abortion.")] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Write the good lines; report the bad ones.")] = False,
    report: SkipReport = None,
) -> None:
    """Convert a labelled-text dataset to the canonical JSONL that `train` and `eval` read."""
    from townsquare.errors import InputError
    from townsquare.ingest.datasets import get_dataset, write_labelled_jsonl
    from townsquare.ingest.loader import ImportReport

    info = get_dataset(name, "labelled")
    if info.kind != "labelled":
        raise InputError(f"{name} is a social dataset: use `townsquare import dataset {name} PATH`")
    options = {"split": split or info.default_split}
    if task is not None:
        options["task"] = task
    report_path = report or Path(f"{name}.skipped.jsonl")
    skipped = ImportReport()
    if skip_bad:
        check_writable_file(report_path, field="report")
        options["on_error"] = skipped.skipped.append
    n = write_labelled_jsonl(info.reader(path, **options), output)
    out.print(f"wrote {n:,} labelled texts to {output}")
    if skipped.skipped:
        skipped.write_skipped(report_path)
        out.print(f"[yellow]skipped {len(skipped.skipped):,} bad lines[/]; reasons in {report_path}")


@user_app.command("export")
def user_export(ctx: typer.Context, user: Annotated[str, typer.Argument(help="Handle, external id or id.")],
                output: Annotated[Path | None, typer.Option("--out", "-o", help="File (default: stdout).")] = None,
                ) -> None:
    """Write everything stored about a user as JSON."""
    from townsquare.storage.privacy import export_user

    data = json.dumps(export_user(open_store(ctx), user), indent=2, ensure_ascii=False)
    if output:
        check_writable_file(output)
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
    from townsquare.feed.collaborative import forget_users, models_folder

    counts = delete_user(store, found["id"])
    counts["collaborative model versions"] = forget_users(models_folder(settings_of(ctx)), [found["id"]])
    out.print(f"deleted @{found['handle']}: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))


@demo_app.command("load")
def demo_load(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
        help="When the community's 30 days end, UTC. Default: when this database first loaded it, else now.")] = None,
    load_only: LoadOnly = False,
) -> None:
    """Load the bundled demo community (idempotent), embedded and scored for moderation (unless --load-only);
    its 30 days end when a database first loads it."""
    moderation = _Moderation(ctx, load_only)
    _prepare_new(ctx, _load_demo(ctx, seed, as_of), moderation)


def _load_demo(ctx: typer.Context, seed: int = 0, as_of: datetime | None = None):
    from townsquare.demo.community import build_community

    community = build_community(seed)
    loaded = _loaded_end(open_store(ctx), community)
    asked = as_of.replace(tzinfo=UTC) if as_of else None
    if asked and loaded and asked != loaded:  # its interactions would all be loaded a second time
        raise typer.BadParameter(f"this database holds the demo as of {loaded:%Y-%m-%d %H:%M:%S}; load it as of "
                                 "another time into a new --data-dir", param_hint="--as-of")
    end = asked or loaded or datetime.now(UTC).replace(microsecond=0)
    return _load(ctx, community.records(end), "demo community", skip_bad=False, report_path=None)


def _loaded_end(store, community) -> datetime | None:
    """When the copy of the community in this database ends (its first member's sign-up time says
    by how much it was moved), or None. Loading again must give the same timestamps: interactions
    are told apart by them."""
    from townsquare.demo.community import DEMO_END
    from townsquare.errors import NotFoundError

    first = community.users[0]
    try:
        stored = store.find_user(first.id)["created_at"]
    except NotFoundError:
        return None
    finally:
        store.close()
    return DEMO_END + (stored.replace(tzinfo=stored.tzinfo or UTC) - first.created_at)


@app.command()
def embed(
    ctx: typer.Context,
    what: Annotated[str, typer.Option(help="posts, users or all.")] = "all",
    refresh: Annotated[bool, typer.Option("--refresh", help="Re-embed even what has a vector.")] = False,
) -> None:
    """Embed posts and user profiles that have no vector yet (cached: no text is embedded twice)."""
    from townsquare.errors import InputError
    from townsquare.ingest.embed import embed_posts, embed_users
    from townsquare.models import get_embedder

    if what not in ("posts", "users", "all"):
        raise InputError(f"--what must be posts, users or all, not {what!r}", field="what")
    store = open_store(ctx)
    embedder = get_embedder(settings_of(ctx))
    counts = store.counts()
    jobs = [(name, job, counts[name]) for name, job in (("posts", embed_posts), ("users", embed_users))
            if what in (name, "all")]
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed:,}/{task.total:,}"), TimeElapsedColumn(), TimeRemainingColumn()) as progress:
        for name, job, total in jobs:
            task = progress.add_task(f"embedding {name} with {embedder.model_id}", total=total)
            done = job(store, embedder, refresh=refresh, progress=lambda n, t=task: progress.advance(t, n))
            progress.update(task, description=f"embedded {done:,} {name}")


@demo_app.command("prepare")
def demo_prepare(ctx: typer.Context) -> None:
    """What `serve --demo` needs, in one process (make demo runs it): the demo loaded, embedded, a ranker
    and the collaborative models trained once, every post scored by the safety classifiers (so the feed and
    the queue act on them).

    The same as `demo load`, `embed`, `train ranker --if-missing`, `train collaborative --if-missing` and
    `moderate score` one after another, without starting Python and importing the stack five times (about
    1.4 s each)."""
    from townsquare.cli.feed import train_collaborative_command, train_ranker_command
    from townsquare.cli.safety import moderate_score

    _load_demo(ctx)
    embed(ctx)  # whatever is not embedded or scored yet, new or left by an interrupted run
    train_ranker_command(ctx, if_missing=True)
    train_collaborative_command(ctx, factors=64, neighbours=50, if_missing=True)
    moderate_score(ctx, post=None, rescore=False, policy=None)


@demo_app.command("synth")
def demo_synth(
    ctx: typer.Context,
    users: Annotated[int, typer.Option(help="Users.")] = 100_000,
    posts: Annotated[int, typer.Option(help="Posts.")] = 1_000_000,
    interactions: Annotated[int, typer.Option(help="Interactions.")] = 10_000_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Load a synthetic community of the demo's shape at benchmark scale (default 1M posts), neither embedded
    nor scored for moderation (the benchmarks do what they measure)."""
    from townsquare.demo import synthetic_records

    records = synthetic_records(users=users, posts=posts, interactions=interactions, seed=seed)
    _load(ctx, records, f"synthetic {users:,} users / {posts:,} posts / {interactions:,} interactions",
          skip_bad=False, report_path=None)


@app.command("settings")
def show_settings(ctx: typer.Context) -> None:
    """Every setting: its environment variable, current value and what it does (the HTTP API's too)."""
    from townsquare.settings import Settings, masked_url
    from townsquare.web.config import WebConfig

    sections = [(Settings, settings_of(ctx), "TOWNSQUARE_", "settings (TOWNSQUARE_* variables)"),
                (WebConfig, WebConfig(), "TOWNSQUARE_WEB_", "the HTTP API and web app (TOWNSQUARE_WEB_*, read by serve)")]
    for model, current, prefix, title in sections:
        table = Table(title=title)
        table.add_column("variable", no_wrap=True)  # copied into shells and unit files: never broken
        table.add_column("value", overflow="fold")
        table.add_column("what it does")
        for name, field in model.model_fields.items():
            value = getattr(current, name)
            shown = "***" if "key" in name and value else str(value)
            if name == "database_url" and value:
                shown = masked_url(value)
            table.add_row(f"{prefix}{name.upper()}", shown, field.description or "")
        out.print(table)


@app.command("models")
def show_models() -> None:
    """The text models townsquare knows by name: embedders (TOWNSQUARE_EMBED_MODEL), generator backends
    and local generator models (TOWNSQUARE_GENERATOR_*); each ships inside a pip package."""
    from townsquare.models.registry import known_models

    table = Table("name", "kind", "what it is", title="models")
    for info in known_models():
        table.add_row(info.name, info.kind, info.description)
    out.print(table)
