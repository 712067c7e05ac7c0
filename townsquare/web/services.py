"""What the routes share: the store, the feed, the safety scorer, keys, sessions, metrics, limits.

Built once by ``create_app``; the heavy parts (feed index, classifiers) load on first use, so
the server answers health checks at once and the first feed request pays the load.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from townsquare.errors import MissingDependencyError, TownsquareError
from townsquare.settings import Settings
from townsquare.web.auth import KeyBook, SessionBook
from townsquare.web.balance import WorkerLoad, load_file
from townsquare.web.config import WebConfig
from townsquare.web.limits import TokenBucketLimiter
from townsquare.web.metrics import AppMetrics

log = logging.getLogger(__name__)
RETRY_FEED_S = 10.0  # after a failed feed load, /readyz says "failed" this long, then loads it again


@dataclass
class WebServices:
    settings: Settings
    config: WebConfig
    store: Any
    embedder: Any = None
    feed_override: Any = None
    scorer_override: Any = None
    interact_override: Any = None
    moderation: Any = "auto"  # a feed ModerationProvider; None: the feed ignores moderation
    metrics: AppMetrics = field(default_factory=AppMetrics)

    def __post_init__(self) -> None:
        self.keys = KeyBook(self.store, self.config.auth_recall_s)
        self.sessions = SessionBook(self.store, self.config.session_ttl_s, self.config.auth_recall_s)
        self.limiter = TokenBucketLimiter(self.config.rate_per_s, self.config.rate_burst)
        self.feed_slots = threading.BoundedSemaphore(self.config.feed_concurrency)
        self._lock = threading.RLock()
        self._feed = self.feed_override
        self._scorer = self.scorer_override
        self._policy = None
        self._policy_watch = None
        self._policy_lock = threading.Lock()
        self._interact = self.interact_override
        self._feed_loader: threading.Thread | None = None
        self._feed_error: str | None = None
        self._feed_failed_at = 0.0
        self._worker_load: WorkerLoad | None = None
        self._load_lock = threading.Lock()  # not ``_lock``: that one is held while the feed loads (minutes)
        self._text_embedder: Any = False  # not loaded yet (None: there is none)
        self._embedder_lock = threading.Lock()

    def worker_load(self, port: int | None) -> WorkerLoad | None:
        """This worker's slot among the server's workers (``balance_workers``), opened at the first
        request, which tells the port; None when balancing is off or the server listens on a Unix
        socket (a front server spreads the load there)."""
        if self._worker_load is None and self.config.balance_workers and port is not None:
            with self._load_lock:
                if self._worker_load is None:
                    self._worker_load = WorkerLoad(load_file(self.settings.data_dir / "run", port))
        return self._worker_load

    def close(self) -> None:
        """At the worker's shutdown: finish the feed's background writes, give the worker's slot back."""
        if self._feed is not None:
            self._feed.close()
        if self._policy_watch is not None:
            self._policy_watch.stop()
        if self._worker_load is not None:
            self._worker_load.release()

    # -- the feed ---------------------------------------------------------------------------
    @property
    def feed(self):
        if self._feed is None:
            with self._lock:
                if self._feed is None:
                    from townsquare.feed.service import settle_heap

                    self._feed = self._build_feed()
                    # The feed's index lives as long as the worker: take its objects out of the
                    # garbage collector's passes, and run them less often (see ``settle_heap``).
                    settle_heap()
        return self._feed

    def feed_state(self) -> tuple[str, str | None]:
        """("ready", None) once this worker's feed is built; otherwise it starts building it in the
        background (a 1M-post index takes minutes) and says ("loading" | "failed", why)."""
        if self._feed is not None:
            return "ready", None
        with self._lock:
            if self._feed_error is not None and time.monotonic() - self._feed_failed_at < RETRY_FEED_S:
                return "failed", self._feed_error
            if self._feed_error is not None:  # what failed (a policy file mid-edit, the database) may be fixed now
                self._feed_error, self._feed_loader = None, None
            if self._feed_loader is None:
                self._feed_loader = threading.Thread(target=self._load_feed, name="feed-load", daemon=True)
                self._feed_loader.start()
        return "loading", "building the feed index"

    def _load_feed(self) -> None:
        try:
            self.feed  # noqa: B018 - builds and keeps it
        except Exception as error:
            log.exception("the feed could not be built")
            self._feed_error, self._feed_failed_at = f"{type(error).__name__}: {error}", time.monotonic()

    def _build_feed(self):
        from townsquare.feed import ForYouFeed
        from townsquare.feed.collaborative import models_folder

        embedder = self.text_embedder()
        model = self.config.feed_model
        moderation = self._moderation() if self.moderation == "auto" else self.moderation
        return ForYouFeed(
            self.store,
            model=model,
            embedder=embedder,
            moderation=moderation,
            models_dir=models_folder(self.settings),
        )

    def text_embedder(self):
        """The model that embeds posts, profiles and steering for the feed (None: none loads, or the
        feed reads another model's vectors, which this worker cannot make)."""
        if self._text_embedder is False:
            with self._embedder_lock:
                if self._text_embedder is False:
                    embedder = self.embedder if self.embedder is not None else self._default_embedder()
                    model = self.config.feed_model
                    if model and embedder is not None and embedder.model_id != model:
                        embedder = None
                    self._text_embedder = embedder
        return self._text_embedder

    def _default_embedder(self):
        from townsquare.models.registry import get_embedder

        try:
            return get_embedder(self.settings, cache=self.store)
        except TownsquareError as error:
            log.warning("no text embedder (%s): cold start and steering are off", error)
            return None

    def moderation_changed(self, post_ids: list[int] | None) -> None:
        """This process's feed reads these posts' moderation again (None: every post's); other workers
        within their ``sync_s``."""
        provider = getattr(getattr(self._feed, "env", None), "moderation", None)
        if hasattr(provider, "forget"):
            provider.forget(post_ids)

    def _moderation(self):
        """The feed's moderation; None, with a warning, on an install without the safety models. A policy
        file that is missing or wrong stops the feed (``readyz`` says why): it must not serve unmoderated."""
        try:
            from townsquare.feed.moderation import PolicyModeration

            return PolicyModeration(self.store, self.policy())
        except (MissingDependencyError, ImportError) as error:
            log.warning("moderation is off for the feed (%s)", error)
            return None

    # -- writes ---------------------------------------------------------------------------
    def ingest(self, records: list[Any], source: str) -> Any:
        """Load ``records`` in one transaction; with ``moderate_on_ingest``, score the new posts and queue
        what the policy flags (the write never fails on that). Every write of the app comes here: the
        ingest API and the web composer. Returns the loader's report."""
        from townsquare.ingest.loader import Loader
        from townsquare.ingest.records import PostRecord, UserRecord

        report = Loader(self.store).load(records, source=source)
        if report.changed.get("post") and self._feed is not None:  # a post deleted or hidden: this worker's
            self._feed.index.refresh()  # next page knows it at once, the others' within refresh_interval_s
        posts = [r.id for r in records if isinstance(r, PostRecord)]
        if report.inserted.get("post") or report.inserted.get("user") or report.changed.get("user"):
            self._embed_new(posts, [r.id for r in records if isinstance(r, UserRecord)])
        if posts and report.inserted.get("post") and self.config.moderate_on_ingest:
            self._score_new_posts(posts)
        return report

    def _embed_new(self, post_refs: list[str], user_refs: list[str]) -> None:
        """Vectors for new posts and profiles, so that the feed's text sources can propose a post from
        its first minute (the write stands if this fails: ``townsquare embed`` catches up)."""
        from townsquare.ingest.embed import embed_posts, embed_users
        from townsquare.storage.schema import posts, users

        embedder = self.text_embedder()
        if embedder is None:
            return
        start = time.perf_counter()
        try:
            with self.store.read() as conn:
                post_ids = list(self.store.resolve(conn, posts, post_refs).values()) if post_refs else []
                user_ids = list(self.store.resolve(conn, users, user_refs).values()) if user_refs else []
            if post_ids:
                embed_posts(self.store, embedder, only=post_ids)
            if user_ids:
                embed_users(self.store, embedder, only=user_ids)
        except Exception as error:  # noqa: BLE001  (the write is committed: it stands, `townsquare embed` catches up)
            log.warning("ingested posts are not embedded: %s", error)
            return
        self.metrics.models.labels("embedder", "embed_new").observe(time.perf_counter() - start)

    def _score_new_posts(self, external_ids: list[str]) -> None:
        from townsquare.safety.queue import score_posts
        from townsquare.storage.schema import posts

        try:
            scorer, policy = self.scorer(), self.policy()
        except TownsquareError as error:
            log.warning("ingested posts are not scored: %s", error)
            return
        with self.store.read() as conn:
            ids = list(self.store.resolve(conn, posts, external_ids).values())
        start = time.perf_counter()
        score_posts(self.store, ids, scorer, policy)
        self.moderation_changed(ids)
        self.metrics.models.labels("safety", "score_posts").observe(time.perf_counter() - start)

    # -- trust & safety ---------------------------------------------------------------------
    def scorer(self):
        if self._scorer is None:
            with self._lock:
                if self._scorer is None:
                    from townsquare.safety.registry import SafetyScorer

                    self._scorer = SafetyScorer.load(
                        None, data_dir=self.settings.data_dir, threads=self.settings.threads
                    )
        return self._scorer

    def policy(self):
        """The community's policy (the ``safety_policy`` file, else the built-in one), loaded once. A policy
        file is watched: an edit takes effect in every part of this worker within ``policy_check_s``
        seconds, and the feed reads every post's verdict again."""
        if self._policy is None:
            curves = self.scorer().curves()  # before the policy's lock: the feed's build holds ``_lock``
            with self._policy_lock:
                if self._policy is None:
                    from townsquare.safety.policy import PolicyWatch, load_policy

                    path = self.settings.safety_policy
                    if path is None:
                        self._policy = load_policy(None, curves)
                    else:
                        self._policy_watch = PolicyWatch(path, curves, on_change=lambda: self.moderation_changed(None))
                        self._policy_watch.start(self.config.policy_check_s)
                        self._policy = self._policy_watch.policy
        return self._policy

    def policy_error(self) -> str | None:
        """Why the last edit of the policy file was not taken (None when it was, or with no file)."""
        return self._policy_watch.error if self._policy_watch is not None else None

    # -- reply suggestions, drafts, the assistant -------------------------------------------
    def interact(self):
        """``townsquare.interact``'s components, built on first use; NotFoundError when they cannot be."""
        if self._interact is None:
            with self._lock:
                if self._interact is None:
                    from townsquare.errors import NotFoundError
                    from townsquare.interact import build_interact

                    try:
                        self._interact = build_interact(
                            self.settings, self.store, use_generator=self.config.generate_replies,
                            safety_scorer=self.scorer(), policy=self.policy(),
                        )
                    except TownsquareError as error:
                        raise NotFoundError(
                            f"reply suggestions, drafts and the assistant are not available on "
                            f"this server: {error}"
                        ) from error
        return self._interact
