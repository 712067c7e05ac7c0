"""``PolicyModeration``: trust & safety's stored scores, policy and moderators' decisions as feed verdicts.

The feed's moderation filter and scorer only need ``verdicts(post_ids)`` (``ModerationProvider``);
this adapter answers it from ``townsquare.safety``: a moderator's latest decision on a post wins,
otherwise the policy decides from the classifier scores stored for it. Unscored posts are allowed.

Verdicts are kept per post until the post's moderation changes: every ``sync_s`` seconds one
query asks which posts were scored or decided since the last look, and only those are read again
(two queries and a policy decision per post cost more than the rest of a page on a small
community, so a request should not pay them for posts nobody touched). A score is stamped before
its commit, so a post is read again once more when its score is ``_SCORE_OVERLAP`` old, in case a
lookup raced the commit (not at every look for that long: after a bulk scoring, every worker then
re-read every scored post each ``sync_s``). ``forget`` drops posts at
once: the web app calls it when a moderator decides, so that worker sees the decision on the next
request; other worker processes see it within ``sync_s``. ``forget(None)`` drops every verdict (the
policy changed). Verdicts read while a ``forget`` ran answer their request but are not kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select, union

from townsquare.feed.filters import ModerationVerdict
from townsquare.storage.moderation_schema import moderation_decisions, moderation_scores

_NONE = ModerationVerdict("allow")
# Scores are stamped by the process that wrote them, before its commit: a post is read again once
# more when its score is this old, so that a slow commit or another machine's clock hides no change.
_SCORE_OVERLAP = timedelta(seconds=30)


class PolicyModeration:
    """A ``ModerationProvider`` over the moderation tables and a ``townsquare.safety`` ``Policy``."""

    def __init__(self, store, policy, *, sync_s: float = 5.0, max_cached: int = 200_000,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store, self.policy = store, policy
        self.sync_s, self.max_cached, self.clock, self.wall = sync_s, max_cached, clock, wall
        self._cache: dict[int, ModerationVerdict] = {}
        self._lock = threading.Lock()
        self._synced_at: float | None = None  # self.clock() of the last sync
        self._looked_at: datetime | None = None  # wall time of the last sync
        self._decisions_after = (0, 0)  # decision ids seen at the sync before last, and at the last
        self._forgotten = 0  # how many times ``forget`` ran: a lookup that overlapped one keeps nothing

    def verdicts(self, post_ids: list[int]) -> dict[int, ModerationVerdict]:
        self._sync()
        out: dict[int, ModerationVerdict] = {}
        missing = []
        cache = self._cache
        for post in post_ids:
            hit = cache.get(post)
            if hit is None:
                missing.append(post)
            elif hit is not _NONE:
                out[post] = hit
        if not missing:
            return out
        forgotten = self._forgotten
        fresh = self._lookup(missing)
        out.update(fresh)
        with self._lock:
            if forgotten != self._forgotten:  # the policy or a decision changed during the lookup
                return out
            if len(cache) + len(missing) > self.max_cached:
                cache.clear()
            for post in missing:
                cache[post] = fresh.get(post, _NONE)
        return out

    def forget(self, post_ids: Iterable[int] | None = None) -> None:
        """Drop the kept verdicts of ``post_ids`` (all of them with None): they are read again next time."""
        with self._lock:
            self._forgotten += 1
            if post_ids is None:
                self._cache.clear()
            for post in post_ids or ():
                self._cache.pop(post, None)

    def _sync(self) -> None:
        """Forget the posts scored or decided since the last sync (at most once per ``sync_s``)."""
        now = self.clock()
        if self._synced_at is not None and now - self._synced_at < self.sync_s:
            return
        with self._lock:
            if self._synced_at is not None and now - self._synced_at < self.sync_s:
                return
            self._synced_at = now
            wall, last_look = self.wall(), self._looked_at
            with self.store.read() as conn:
                last = conn.execute(select(func.max(moderation_decisions.c.id))).scalar() or 0
                if last_look is None:  # the first look: nothing is kept yet
                    changed = []
                else:
                    at = moderation_scores.c.scored_at
                    new = at >= last_look  # stamped since the last look
                    settled = and_(at >= last_look - _SCORE_OVERLAP, at < wall - _SCORE_OVERLAP)  # now surely committed
                    changed = conn.execute(union(
                        select(moderation_scores.c.post_id).where(or_(new, settled)),
                        select(moderation_decisions.c.post_id).where(moderation_decisions.c.id > self._decisions_after[0]),
                    )).scalars().all()
            # Decisions are looked at twice (ids past the sync before last), scores twice (when new, and
            # once ``_SCORE_OVERLAP`` old): a lookup that raced a change and kept the old verdict is undone.
            self._looked_at, self._decisions_after = wall, (self._decisions_after[1], last)
            for post in changed:
                self._cache.pop(post, None)

    def _lookup(self, post_ids: list[int]) -> dict[int, ModerationVerdict]:
        from townsquare.safety import post_decisions  # safety loads scikit-learn

        out: dict[int, ModerationVerdict] = {}
        for post, decision in post_decisions(self.store, post_ids, self.policy).items():
            why, labels = tuple(decision.explain()), decision.labels
            if decision.action == "hide":
                out[post] = ModerationVerdict("hide", 0.0, why, labels)
            elif decision.factor < 1.0:  # demoted, or sent to review by one rule and demoted by another
                out[post] = ModerationVerdict("demote", decision.factor, why, labels)
            elif labels:
                out[post] = ModerationVerdict("label", 1.0, why, labels)
        return out
