"""``ForYouFeed``: the For-you feed of one store, built once per process and shared by requests.

``page`` serves a page (a new session without a cursor), ``why_not`` explains an absence,
``record`` takes live feedback (a like, hide or report counts on the very next request),
``steer`` / ``unsteer`` keep a user's plain-words steering.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import select

from townsquare.errors import InputError, NotFoundError
from townsquare.feed.collaborative import CollaborativeModels
from townsquare.feed.config import FeedConfig
from townsquare.feed.context import FeedEnv, build_context
from townsquare.feed.explain import explain_item, lookup_names, why_not_report
from townsquare.feed.index import KINDS, FeedIndex
from townsquare.feed.pipeline import FeedPipeline, Timings
from townsquare.feed.ranker import RankerRegistry
from townsquare.feed.selectors import Page
from townsquare.feed.sessions import FeedSession, SessionStore, make_cursor, read_cursor
from townsquare.feed.state import InterestBook
from townsquare.feed.steering import SteeringBook, SteeringPhrase
from townsquare.feed.writer import BackgroundWriter
from townsquare.storage.schema import interactions, posts
from townsquare.storage.visibility import may_see, visible_to

log = logging.getLogger(__name__)
# What a user does to a post once: a second like, repost, bookmark, hide or report is not recorded again.
ONCE = frozenset({"like", "repost", "bookmark", "hide", "not_interested", "report"})
SELECTION_WINDOW = 5
# The cyclic garbage collector's thresholds for a serving process (Python's defaults: 700, 10, 10).
# A 1M-post page allocates and frees tens of thousands of containers, nearly all freed by
# reference counting, yet at the defaults they set off about 3 young and 0.3 middle passes per
# page: 1.8 ms of GC per page (measured with gc.callbacks over 300 pages). At these thresholds
# bench/feed.py's 1,000 pages ran no pass at all; a pass now comes once 20,000 more containers
# are alive than after the last one (a worker's caches filling up).
SERVING_GC_THRESHOLDS = (20_000, 20, 50)


def settle_heap() -> None:
    """Once a serving process has built its feed: move every object alive now (the index, the
    models) out of the collector's passes, and collect young objects less often."""
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLDS)


@dataclass
class FeedPage:
    user: str
    items: list[dict]
    cursor: str | None
    session: str
    page: int
    timings: dict[str, float] = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)  # filter -> how many it removed
    ranker_version: int | None = None

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("user", "page", "cursor", "session", "ranker_version", "items",
                                              "sources", "removed", "timings")}


MODELS_CHECK_S = 30.0  # how often a feed looks for newer collaborative models

# What a page asked for again still goes through: whatever may no longer be shown at all.
REPLAY_FILTERS = frozenset({"deleted_posts", "blocked_authors", "moderation"})


class ForYouFeed:
    """The feed service: one ``FeedIndex`` per process, per-request work in ``FeedPipeline``."""

    def __init__(self, store, config: FeedConfig | None = None, *, model: str | None = None, embedder=None,
                 moderation=None, index: FeedIndex | None = None, models_dir: Path | None = None,
                 until: datetime | None = None) -> None:
        self.config = config or FeedConfig()
        model = model or (embedder.model_id if embedder is not None else None)
        search = self.config.vector_search
        if search == "auto":
            search = "store" if store.dialect == "postgresql" else "index"
        self.index = index or FeedIndex.load(store, model, ann=search == "index", until=until)
        if self.index.until is not None:  # the feed as it was: no models trained on what came after
            models_dir = None
        self.models_dir, self._models_checked = models_dir, time.monotonic()
        if models_dir is not None and self.index.collaborative is None:
            self.index.collaborative = CollaborativeModels.load_latest(models_dir)
        self.pipeline = FeedPipeline.from_config(self.config)
        self.writer = BackgroundWriter()
        self.env = FeedEnv(store, self.index, self.config,
                           InterestBook(store, self.index, slots=self.config.interest_slots,
                                        merge=self.config.slot_merge_similarity, embedder=embedder,
                                        writer=self.writer, persist=self.index.until is None),
                           SteeringBook(store, embedder), RankerRegistry(store), embedder, moderation)
        self.sessions = SessionStore(store, self.config.session_ttl_s, writer=self.writer)
        self.store = store

    # -- pages ------------------------------------------------------------------------------
    def page(self, user_ref: str | int | dict, *, limit: int = 20, cursor: str | None = None,
             now: float | None = None) -> FeedPage:
        """A page for ``user_ref`` (a handle, an id, or the user's row when the caller has it)."""
        if not 1 <= limit <= self.config.max_page:
            raise InputError(f"limit must be between 1 and {self.config.max_page}, not {limit}", field="limit")
        with self.store.reading():  # one connection and one snapshot for the page's reads
            return self._page(user_ref, limit, cursor, now)

    def _page(self, user_ref: str | int | dict, limit: int, cursor: str | None, now: float | None) -> FeedPage:
        timings = Timings()
        with timings.stage("context"):
            self.index.refresh(self.config.refresh_interval_s)
            self._newer_models()
            user = user_ref if isinstance(user_ref, dict) else self.store.find_user(user_ref)
        if cursor is None:  # a new session, ranked with room for at least ten pages
            session, number = self._start(user, now, timings, max(self.config.pool_size, 10 * limit)), 0
        else:
            session_id, number = read_cursor(cursor)
            session = self.sessions.get(session_id, int(user["id"]))
            if number > len(session.pages):
                raise InputError("this cursor skips pages this feed has not served; use the cursor of the "
                                 "last page", field="cursor")
        if number < len(session.pages):  # asked again: the same page again, less what may no longer be shown
            items = self._still_shown(user, session, session.pages[number])
            more = number + 1 < len(session.pages) or len(session.served()) < len(session.pool)
        else:
            items, more = self._next_page(user, session, limit, timings)
        page = self._render(user, session, number, items, timings, more)
        if cursor is None:
            self.sessions.save_new(session)
        return page

    def _start(self, user: dict, now: float | None, timings: Timings, pool_size: int) -> FeedSession:
        with timings.stage("context"):
            ctx = build_context(self.env, user, self._now(now), until=self.index.until)
        ranking = self.pipeline.rank(ctx, timings, pool_size)
        session = self.sessions.new(int(user["id"]), ctx.now, ranking.pool, ranking.ranker_version,
                                    ranking.ranker_output)
        session.ranking, session.ctx = ranking, ctx  # this process only: page 1 reuses them
        return session

    def _next_page(self, user: dict, session: FeedSession, limit: int, timings: Timings) -> tuple[list, bool]:
        """The next page, and whether a page may follow it: the selectors choose from the best of what the
        session has not served.

        They see the best ``SELECTION_WINDOW`` pages' worth: the diversity selectors only demote, so
        a post further down could not climb onto this page, and balance and exploration draw from it.
        No page follows once every post left that the filters keep is on this one: posts of someone blocked,
        muted or deleted since stay in the session's pool, but a cursor must not lead to empty pages forever.
        """
        ctx = session.ctx
        pool = session.remaining(SELECTION_WINDOW * limit)
        kept_of_all: int | None = None  # how many of all the posts left the filters keep, when counted
        if ctx is None or session.pages:  # a later page: filter again with what changed since
            with timings.stage("context"):
                ctx = build_context(self.env, user, session.now, exclude_posts=session.served(),
                                    until=self.index.until)
            with timings.stage("filters"):
                pool = self._refilter(ctx, pool)
                if len(pool) < limit:  # the filters emptied the window: look at everything left
                    pool = self._refilter(ctx, session.remaining())
                    kept_of_all = len(pool)
        served = [c for p in session.pages for c in p]
        page = Page(limit, len(session.pages), Counter(c.author_id for c in served),
                    [c.post_id for c in served[-10:]], seed=int(session.id[:8], 16))
        items = self.pipeline.select(ctx, pool, page, timings)[:limit]
        with timings.stage("session"):
            self.sessions.record_page(session, items)
        session.ctx, session.follows = None, ctx.follow_set
        more = len(session.served()) < len(session.pool) and (kept_of_all is None or kept_of_all > len(items))
        return items, more

    def _newer_models(self) -> None:
        """Take the collaborative models ``townsquare train collaborative`` wrote since (looked for at most every
        ``MODELS_CHECK_S``), so that a running server needs no restart."""
        if self.models_dir is None or time.monotonic() - self._models_checked < MODELS_CHECK_S:
            return
        self._models_checked = time.monotonic()
        current = self.index.collaborative
        latest = CollaborativeModels.latest_version(self.models_dir)
        if latest is not None and (current is None or latest != current.version):
            try:
                self.index.collaborative = CollaborativeModels.load_latest(self.models_dir)
            except (OSError, ValueError, KeyError) as error:  # a half-copied folder: the next look tries again
                log.warning("the collaborative models %s did not load: %s", latest, error)

    def _still_shown(self, user: dict, session: FeedSession, items: list) -> list:
        """A page served before, less the posts deleted, hidden by moderation or by someone blocked or muted
        since (the other filters stand: a post liked since stays on the page that showed it)."""
        ctx = build_context(self.env, user, session.now, until=self.index.until)
        for step in self.pipeline.filters:
            if step.name in REPLAY_FILTERS:
                items = step(ctx, items).kept
        return items

    def _refilter(self, ctx, pool: list) -> list:
        for step in self.pipeline.filters:
            pool = step(ctx, pool).kept
        return pool

    def _render(self, user: dict, session: FeedSession, number: int, items: list, timings: Timings,
                more: bool) -> FeedPage:
        with timings.stage("explain"):
            names = lookup_names(self.store, items, viewer=int(user["id"]), hidden=self._hidden,
                                 following=session.follows)
            before = sum(len(p) for p in session.pages[:number])
            times = self.index.post_time
            rendered = [explain_item(c, names, before + i + 1, datetime.fromtimestamp(times[c.post_id], UTC).isoformat(),
                                     session.ranker_output) for i, c in enumerate(items)]
        ranking = session.ranking
        page = FeedPage(user["handle"], rendered, make_cursor(session.id, number + 1) if more else None,
                        session.id, number + 1, ranker_version=session.ranker_version)
        if ranking is not None and number == 0:
            page.sources = [{"source": o.name, "proposed": o.proposed, "ms": round(o.ms, 3), "error": o.error}
                            for o in ranking.outcomes]
            page.removed = ranking.removed_per_filter()
            session.ranking = None
        page.timings = {k: round(v, 3) for k, v in timings.items()}
        return page

    def _now(self, now: float | None) -> float:
        if now is not None:
            return float(now)
        if self.config.clock == "latest_post":
            return self.index.latest_time() + 1.0
        return time.time()

    def close(self) -> None:
        """Finish background writes (call before a short-lived process exits)."""
        self.writer.flush()

    # -- why not ----------------------------------------------------------------------------
    def why_not(self, user_ref: str | int, post_ref: str | int, *, limit: int = 20, now: float | None = None) -> dict:
        """Why ``post_ref`` is not on ``user_ref``'s first page: which stage let it go, from that stage's record."""
        self.index.refresh()
        user, post = self.store.find_user(user_ref), self.store.find_post(post_ref)
        if not self._readable(int(user["id"]), int(post["id"])):  # private, or followers-only from a stranger: as if absent
            raise NotFoundError(f"no post {post_ref!r}")
        if post["id"] > self.index.max_post:
            raise NotFoundError(f"post {post_ref!r} is not in the feed index yet; try again in a moment")
        ctx = build_context(self.env, user, self._now(now), probe=int(post["id"]), until=self.index.until)
        ranking = self.pipeline.rank(ctx)
        page = self.pipeline.select(ctx, list(ranking.pool), Page(limit, seed=0))[:limit]
        names = lookup_names(self.store, page + ([ranking.probe] if ranking.probe else []), [post["id"]],
                             viewer=int(user["id"]), hidden=self._hidden)
        report = why_not_report(post, ranking, page, limit, names)
        if not self._may_see(int(user["id"]), int(post["id"])):  # private, followers-only, deleted, blocked
            report["text"] = None
        if (served := self.sessions.where_served(int(user["id"]), int(post["id"]))) is not None:
            # the feed they were shown ranked it then; this report ranks it again now, with other exploration picks
            report["served"] = {"page": served[0], "position": served[1]}
            report["verdict"] = (f"it was served to you on page {served[0]}, at position {served[1]}; ranked again "
                                 f"now: {report['verdict']}")
        if not report["proposed_by"] and "removed_by" not in report:
            report["hints"] = self._hints(ctx, post)
        return report

    def _readable(self, user_id: int, post_id: int) -> bool:
        """Whether the post's visibility lets the user know of it at all (whoever blocks or mutes whom: a
        why-not then says so)."""
        with self.store.read() as conn:
            return conn.execute(select(posts.c.id).where(posts.c.id == post_id, visible_to(user_id))).first() \
                is not None

    def _may_see(self, user_id: int, post_id: int) -> bool:
        """``storage.visibility.may_see``, and not hidden by moderation unless the user wrote it: a hidden post
        is not shown, liked or explained to anyone else (its text held personal data, say)."""
        with self.store.read() as conn:
            row = conn.execute(select(posts.c.author_id).where(posts.c.id == post_id, may_see(user_id))).first()
        return row is not None and (row.author_id == user_id or post_id not in self._hidden([post_id]))

    def _hidden(self, post_ids: list[int]) -> set[int]:
        """Those of ``post_ids`` that moderation hides."""
        moderation = getattr(self.env, "moderation", None)
        if moderation is None or not post_ids:
            return set()
        return {p for p, v in moderation.verdicts(post_ids).items() if v.action == "hide"}

    def _hints(self, ctx, post: dict) -> list[str]:
        """What each kind of source looks at, for a post no source proposed."""
        index, author = self.index, int(post["author_id"])
        hints = [] if author in ctx.follow_set else ["you do not follow its author"]
        if author in ctx.follow_set:
            hints.append("it is not among its author's newest posts")
        engaged = int(ctx.social_proof(np.array([post["id"]]))[0])
        hints.append(f"{engaged} people you follow engaged with it this week")
        has, vector = index.vectors_of(np.array([post["id"]]))
        if has[0] and len(ctx.interests.vectors):
            sims = ctx.interests.vectors @ vector[0]
            hints.append(f"its text is {float(sims.max()):.2f} similar to your closest interest")
        elif not has[0]:
            hints.append("it has no text vector yet (run `townsquare embed`)")
        age_h = (ctx.now - index.post_time[post["id"]]) / 3600
        hints.append(f"it is {age_h:.1f} hours old")
        return hints

    # -- live feedback and steering ---------------------------------------------------------
    def record(self, user_ref: str | int, post_ref: str | int, kind: str, *, value: float | None = None,
               at: datetime | None = None) -> bool:
        """Log an interaction and fold it into the user's state at once (the next request sees it). Returns
        False when it was not recorded: a like, repost, bookmark, hide or report counts once per user and post."""
        if kind not in KINDS:
            raise InputError(f"unknown interaction kind {kind!r}; kinds: {', '.join(KINDS)}", field="kind")
        user, post = self.store.find_user(user_ref), self.store.find_post(post_ref)
        if not self._may_see(int(user["id"]), int(post["id"])):  # as if it did not exist: no probing
            raise NotFoundError(f"no post {post_ref!r}")
        with self.store.begin() as conn:
            if kind in ONCE and conn.execute(select(interactions.c.id).where(
                    interactions.c.user_id == user["id"], interactions.c.post_id == post["id"],
                    interactions.c.kind == kind).limit(1)).first() is not None:
                return False  # liked twice is liked: the second click adds nothing to the post's counts
            self.store.insert_ignore(conn, interactions, [{"user_id": user["id"], "post_id": post["id"],
                                                           "kind": kind, "value": value,
                                                           "created_at": at or datetime.now(UTC)}])
        self.index.refresh()
        self.env.interests.get(user)
        return True

    def steer(self, user_ref: str | int, text: str) -> list[SteeringPhrase]:
        user = self.store.find_user(user_ref)
        return self.env.steering.add(int(user["id"]), text)

    def steering(self, user_ref: str | int) -> list[SteeringPhrase]:
        return self.env.steering.list(int(self.store.find_user(user_ref)["id"]))

    def unsteer(self, user_ref: str | int, phrase: str | int | None = None) -> int:
        return self.env.steering.remove(int(self.store.find_user(user_ref)["id"]), phrase)
