"""``PolicyModeration``: trust & safety's stored scores, policy and moderators' decisions as feed verdicts.

The feed's moderation filter and scorer only need ``verdicts(post_ids)`` (``ModerationProvider``);
this adapter answers it from ``townsquare.safety``: a moderator's latest decision on a post wins,
otherwise the policy decides from the classifier scores stored for it. Unscored posts are allowed.

Verdicts are kept per post for ``ttl_s`` seconds, so a feed request reads the moderation tables
only for posts it has not seen lately (two queries and a policy decision per post cost more than
the rest of a page on a small community). ``forget`` drops posts at once: the web app calls it
when a moderator decides, so that worker sees the decision on the next request; other worker
processes see it within ``ttl_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from townsquare.feed.filters import ModerationVerdict

_NONE = ModerationVerdict("allow")


class PolicyModeration:
    """A ``ModerationProvider`` over the moderation tables and a ``townsquare.safety`` ``Policy``."""

    def __init__(self, store, policy, *, ttl_s: float = 5.0, max_cached: int = 200_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.policy = store, policy
        self.ttl_s, self.max_cached, self.clock = ttl_s, max_cached, clock
        self._cache: dict[int, tuple[float, ModerationVerdict]] = {}
        self._lock = threading.Lock()

    def verdicts(self, post_ids: list[int]) -> dict[int, ModerationVerdict]:
        now = self.clock()
        out: dict[int, ModerationVerdict] = {}
        missing = []
        with self._lock:
            for post in post_ids:
                hit = self._cache.get(post)
                if hit is None or now - hit[0] > self.ttl_s:
                    missing.append(post)
                elif hit[1] is not _NONE:
                    out[post] = hit[1]
        if not missing:
            return out
        fresh = self._lookup(missing)
        out.update(fresh)
        with self._lock:
            if len(self._cache) + len(missing) > self.max_cached:
                self._cache.clear()
            for post in missing:
                self._cache[post] = (now, fresh.get(post, _NONE))
        return out

    def forget(self, post_ids: Iterable[int] | None = None) -> None:
        """Drop the kept verdicts of ``post_ids`` (all of them with None): they are read again next time."""
        with self._lock:
            if post_ids is None:
                self._cache.clear()
            for post in post_ids or ():
                self._cache.pop(post, None)

    def _lookup(self, post_ids: list[int]) -> dict[int, ModerationVerdict]:
        from townsquare.safety.queue import moderator_actions, stored_scores

        decided = moderator_actions(self.store, post_ids)
        scored = stored_scores(self.store, [p for p in post_ids if p not in decided])
        out: dict[int, ModerationVerdict] = {}
        for post, action in decided.items():
            if action in ("hide", "demote"):
                factor = 0.5 if action == "demote" else 0.0
                out[post] = ModerationVerdict(action, factor, (f"a moderator decided: {action}",))
        for post, entry in scored.items():
            decision = self.policy.decide(entry["scores"], entry.get("spans"))
            if decision.action in ("hide", "demote"):
                out[post] = ModerationVerdict(decision.action, decision.factor, tuple(decision.explain()))
        return out
