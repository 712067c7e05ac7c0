"""Feed commands: ``feed``, ``why-not``, ``steer``, ``feed-pipeline``, ``train ranker``, ``train collaborative``."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from townsquare.cli import app, open_store, settings_of
from townsquare.cli.groups import train_app
from townsquare.errors import InputError, MissingDependencyError, TownsquareError

out = Console()
err = Console(stderr=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
AtOption = Annotated[str | None, typer.Option(
    "--at", help="Serve the feed as it was at this time, from only what had happened by then: ISO 8601 (UTC "
                 "when it names no zone), or 'latest' (the newest post's time; for historical data).")]


def _models_dir(ctx: typer.Context):
    from townsquare.feed.collaborative import models_folder

    return models_folder(settings_of(ctx))


def _embedder(ctx: typer.Context, store):
    from townsquare.models.registry import get_embedder

    try:
        return get_embedder(settings_of(ctx), cache=store)
    except TownsquareError as error:
        err.print(f"[yellow]note:[/] no text embedder ({error}); cold start and steering are off")
        return None


def _moderation(ctx: typer.Context, store):
    """The feed's moderation; None, with a note, on an install without the safety models. A policy file
    that is missing or wrong is an error: the feed is not shown unmoderated."""
    try:
        from townsquare.cli.safety import community_policy, safety_scorer
        from townsquare.feed.moderation import PolicyModeration

        return PolicyModeration(store, community_policy(ctx, safety_scorer(ctx)))
    except (MissingDependencyError, ImportError) as error:
        err.print(f"[yellow]note:[/] moderation is off for this feed ({error})")
        return None


def open_feed(ctx: typer.Context, moderation: bool = True, at: str | None = None):
    """The feed; ``at`` a past time (ISO 8601): as it was then, from only what had happened by then (posts,
    interactions, follows, blocks), with no collaborative models trained later and no stored interests."""
    from townsquare.feed import ForYouFeed

    store = open_store(ctx)
    embedder = _embedder(ctx, store)
    return ForYouFeed(store, embedder=embedder, moderation=_moderation(ctx, store) if moderation else None,
                      models_dir=_models_dir(ctx), until=_past(at))


def _past(at: str | None) -> datetime | None:
    if at is None or at == "latest":
        return None
    try:
        when = datetime.fromisoformat(at)
    except ValueError as error:
        raise InputError(f"--at {at!r} is not an ISO 8601 time (e.g. 2026-11-20T12:00:00+00:00) or 'latest'",
                         field="at") from error
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _when(feed, at: str | None) -> float | None:
    if at is None:
        return None
    if at == "latest":
        return feed.index.latest_time() + 1.0
    return _past(at).timestamp()


@app.command("feed")
def feed_command(
    ctx: typer.Context,
    handle: Annotated[str, typer.Argument(help="Whose feed: a handle, external id or internal id.")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="Items on the page.")] = 20,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Continue a feed: the cursor a page gave.")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Say why each item is there.")] = False,
    at: AtOption = None,
    moderation: Annotated[bool, typer.Option(help="Apply the trust & safety policy.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """The For-you feed of one user, one page at a time."""
    logging.basicConfig(level=logging.WARNING)
    feed = open_feed(ctx, moderation, at)
    page = feed.page(handle, limit=limit, cursor=cursor, now=_when(feed, at))
    feed.close()
    if as_json:
        print(json.dumps(page.to_dict(), default=str, indent=2))
        return
    table = Table("#", "author", "post", "why" if explain else "score", title=f"For you: @{page.user} (page {page.page})",
                  show_lines=explain)
    for item in page.items:
        why = "\n".join(item["because"] + [f"{a['stage']} x{a['factor']:g}: {a['detail']}" for a in item["adjustments"]]
                        + [", ".join(f"{f['feature']} {f['contribution']:+.2f}" for f in item["top_features"])])
        table.add_row(str(item["position"]), item["author"], item["text"][:120],
                      why if explain else f"{item['score']:.3f}")
    out.print(table)
    stages = ", ".join(f"{k} {v:.1f}" for k, v in page.timings.items() if "." not in k)
    out.print(f"[dim]ms: {stages}[/]")
    if page.cursor:
        out.print(f"next page: townsquare feed {handle} --cursor {page.cursor}", soft_wrap=True)


@app.command("why-not")
def why_not_command(
    ctx: typer.Context,
    handle: Annotated[str, typer.Argument(help="Whose feed.")],
    post: Annotated[str, typer.Argument(help="The post's external id (or internal id as a number).")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="The size of the first page.")] = 20,
    at: AtOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Why a post is not in a user's feed: which stage let it go, from that stage's own record."""
    feed = open_feed(ctx, at=at)
    ref = int(post) if post.isascii() and post.isdigit() else post
    report = feed.why_not(handle, ref, limit=limit, now=_when(feed, at))
    if as_json:
        print(json.dumps(report, default=str, indent=2))
        return
    text = report["text"][:140] if report["text"] is not None else "(its text is not shown to this user)"
    out.print(f"[bold]{report['post']}[/] by {report['author']}: {text}")
    out.print(f"[bold]why not:[/] {report['verdict']}")
    for line in report.get("proposed_by", []):
        out.print(f"  proposed: {line}")
    for line in report.get("hints", []):
        out.print(f"  - {line}")
    for feature in report.get("top_features", []):
        out.print(f"  feature {feature['feature']}: {feature['contribution']:+.3f}")


@app.command("steer")
def steer_command(
    ctx: typer.Context,
    handle: Annotated[str, typer.Argument(help="Whose feed.")],
    text: Annotated[str | None, typer.Argument(help='e.g. "more cooking and chess, less politics". None: list.')] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove all of this user's steering.")] = False,
    remove: Annotated[str | None, typer.Option("--remove", help="Remove one phrase.")] = None,
) -> None:
    """Steer a feed in plain words; the phrases are kept, shown in explanations, and removable."""
    from townsquare.feed.steering import SteeringBook

    if text is not None and not text.strip():
        raise InputError('the steering text is empty: say what to see more or less of, e.g. "more chess, less '
                         'politics" (no text lists the phrases)', field="text")
    store = open_store(ctx)
    user = store.find_user(handle)
    book = SteeringBook(store, _embedder(ctx, store) if text else None)
    if clear or remove:
        n = book.remove(user["id"], None if clear else remove)
        out.print(f"removed {n} steering phrase{'s' if n != 1 else ''} for @{user['handle']}")
    elif text:
        book.add(user["id"], text)
    phrases = book.list(user["id"])
    out.print(f"@{user['handle']} steers: " + ("; ".join(p.label() for p in phrases) if phrases else "nothing"))


@app.command("feed-pipeline")
def pipeline_command(as_json: JsonFlag = False) -> None:
    """The feed's pipeline as data: sources, filters, scorers, selectors and their options."""
    from townsquare.feed import FeedConfig, FeedPipeline

    described = FeedPipeline.from_config(FeedConfig()).describe()
    if as_json:
        print(json.dumps(described, indent=2))
        return
    table = Table("stage", "component", "options", title="For-you feed pipeline")
    for stage in ("sources", "filters", "scorers", "selectors"):
        for component in described[stage]:
            table.add_row(stage, f"{component['name']} ({component['component']})",
                          ", ".join(f"{k}={v}" for k, v in component["options"].items()))
    table.add_row("weights", "", ", ".join(f"{k}={v:g}" for k, v in described["weights"].items()))
    out.print(table)


@train_app.command("ranker")
def train_ranker_command(
    ctx: typer.Context,
    split: Annotated[float, typer.Option(help="Interactions before this quantile give features, after it labels.")] = 0.8,
    max_users: Annotated[int, typer.Option(help="Users sampled for training examples.")] = 5000,
    publish: Annotated[bool, typer.Option(help="Serve the new version (workers pick it up within seconds).")] = True,
    if_missing: Annotated[bool, typer.Option(
        "--if-missing", help="Do nothing when a ranker version is already stored (for scripts: make demo).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Retrain the feed's engagement ranker from the logged interactions."""
    from sqlalchemy import func, select

    from townsquare.feed.training import train_ranker
    from townsquare.storage.feed_schema import feed_rankers

    store = open_store(ctx)
    if if_missing:
        with store.read() as conn:
            stored = conn.execute(select(func.max(feed_rankers.c.version))).scalar()
        if stored is not None:
            out.print(f"ranker v{stored} is already stored; nothing to do")
            return
    embedder = _embedder(ctx, store)
    report = train_ranker(store, embedder.model_id if embedder else None, publish=publish, split=split,
                          max_users=max_users)
    if as_json:
        print(json.dumps(report.__dict__, indent=2, default=str))
        return
    name = f"ranker v{report.version}" if report.version is not None else "ranker (not published)"
    table = Table("head", "served", "positives (held out)", "held-out AUC", "prior AUC", "log loss",
                  title=f"{name} ({report.examples:,} examples, {report.users:,} users)")
    for head, m in report.heads.items():
        served = ("trained" if m["trained"] else f"flat (AUC {m['flat_from_auc']})" if m.get("flat")
                  else f"prior (trained: {m['trained_auc']})" if "trained_auc" in m else "prior")
        table.add_row(head, served, f"{m['positives']} ({m['held_out_positives']})", str(m.get("auc", "-")),
                      str(m.get("prior_auc", "-")), str(m.get("log_loss", "-")))
    out.print(table)
    out.print("A held-out AUC needs 10 held-out positives; 'flat' heads ranked worse than chance and now predict "
              "the base rate.", style="dim")
    if not any(m["trained"] for m in report.heads.values()):
        err.print("[yellow]note:[/] no head had enough positives to train (the ranker learns clicks, likes, replies, "
                  "reposts, hides and reports; ratings and play counts are not among them), so this version ranks "
                  "with the prior's hand-set weights", highlight=False)


@train_app.command("collaborative")
def train_collaborative_command(
    ctx: typer.Context,
    factors: Annotated[int, typer.Option(help="ALS factors.")] = 64,
    neighbours: Annotated[int, typer.Option(help="Item-item neighbours kept per post.")] = 50,
    if_missing: Annotated[bool, typer.Option(
        "--if-missing", help="Do nothing when trained models are already there (for scripts: make demo).")] = False,
) -> None:
    """Fit the feed's item-item and ALS models on the logged positive engagements (a running server takes
    them within 30 s)."""
    from townsquare.feed.collaborative import CollaborativeModels
    from townsquare.feed.index import FeedIndex

    if if_missing and (version := CollaborativeModels.latest_version(_models_dir(ctx))) is not None:
        out.print(f"collaborative models {version} are already there; nothing to do")
        return
    store = open_store(ctx)
    models = CollaborativeModels.train(FeedIndex.load(store, None), factors=factors, neighbours=neighbours,
                                       threads=settings_of(ctx).threads)
    path = models.save(_models_dir(ctx))
    out.print(f"collaborative models for {len(models.user_ids):,} users x {len(models.post_ids):,} posts in {path}")
