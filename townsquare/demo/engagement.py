"""The demo's interaction history, drawn for every (user, post) pair at once with numpy.

A user sees a post with a chance that grows with their interest in its topic, the author's
popularity, their own affinity for that author and whether they follow them. Given a view,
likes, bookmarks and shares follow interest; hides and "not interested" follow its absence;
reports follow the flagged posts. Replies and reposts mirror the reply and repost posts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from townsquare.demo.activity import Edge
from townsquare.demo.people import DemoUser
from townsquare.demo.threads import DemoPost, interest

KINDS = ("view", "click", "dwell", "like", "reply", "repost", "bookmark", "share", "hide", "not_interested", "report")
KIND = {k: i for i, k in enumerate(KINDS)}
# Seconds after the view at which each follow-up action happens (low, high).
DELAYS = {"click": (1, 8), "like": (3, 90), "bookmark": (5, 120), "share": (5, 200), "hide": (1, 15),
          "not_interested": (1, 15), "report": (10, 300)}


@dataclass(frozen=True)
class Interactions:
    """Columns of the interaction history, sorted by time."""

    user: np.ndarray  # user index
    post: np.ndarray  # post index (in time order)
    kind: np.ndarray  # index into KINDS
    at: np.ndarray  # epoch seconds
    value: np.ndarray  # dwell milliseconds, NaN otherwise

    def __len__(self) -> int:
        return len(self.user)


class EngagementModel:
    """Draws views and the actions that follow them; ``target_views`` sets the scale."""

    def __init__(self, users: Sequence[DemoUser], posts: Sequence[DemoPost], follows: Sequence[Edge],
                 hidden: Sequence[Edge], end: datetime, target_views: int = 14_000):
        self.users, self.posts, self.end, self.target_views = users, posts, end.timestamp(), target_views
        n_users = len(users)
        self.follow = np.zeros((n_users, n_users), bool)
        for e in follows:
            self.follow[e.source, e.target] = True
        self.hidden = np.zeros((n_users, n_users), bool)
        for e in hidden:
            self.hidden[e.source, e.target] = True
        self.author = np.array([p.author.index for p in posts])
        self.topic_interest = np.array([[interest(u, p.topic) for p in posts] for u in users])
        self.post_at = np.array([p.created_at.timestamp() for p in posts])
        self.joined = np.array([u.created_at.timestamp() for u in users])

    def draw(self, rng: np.random.Generator) -> Interactions:
        affinity = np.exp(rng.normal(0.0, 0.5, (len(self.users), len(self.users))))
        score = self._attention(affinity)
        forced = self._forced()
        views = rng.random(score.shape) < 1.0 - np.exp(-self._scale(score) * score)
        views |= forced > 0
        u, p = np.nonzero(views)
        seen_at = self._view_times(rng, u, p, forced[u, p])
        columns = [(u, p, np.full(len(u), KIND["view"]), seen_at, np.full(len(u), np.nan))]
        columns += self._actions(rng, u, p, seen_at, affinity[u, self.author[p]])
        columns += self._mirrored()
        user, post, kind, at, value = (np.concatenate(c) for c in zip(*columns))
        at = np.minimum(np.floor(at), self.end - 1)
        order = np.lexsort((kind, post, user, at))
        return Interactions(user[order], post[order], kind[order].astype(np.int8), at[order].astype(np.int64), value[order])

    def _attention(self, affinity: np.ndarray) -> np.ndarray:
        popularity = np.array([u.popularity for u in self.users]) ** 0.7
        score = self.topic_interest * popularity[self.author][None, :] * affinity[:, self.author]
        score *= np.where(self.follow[:, self.author], 3.0, 1.0)
        en_user = np.array([u.language == "en" for u in self.users])
        en_post = np.array([p.language == "en" for p in self.posts])
        score[np.ix_(en_user, ~en_post)] *= 0.25
        score[np.ix_(~en_user, en_post)] *= 0.6
        kinds = np.array([p.kind for p in self.posts])
        score[:, kinds == "reply"] *= 0.35
        score[:, kinds == "repost"] = 0.0  # people engage with the original, not the repost
        score[self.hidden[:, self.author]] = 0.0
        score[np.arange(len(self.users))[:, None] == self.author[None, :]] = 0.0
        return score

    def _scale(self, score: np.ndarray) -> float:
        """The rate that makes the expected number of views ``target_views`` (bisection)."""
        low, high = 1e-4, 1e3
        for _ in range(60):
            mid = math.sqrt(low * high)
            if (1.0 - np.exp(-mid * score)).sum() < self.target_views:
                low = mid
            else:
                high = mid
        return math.sqrt(low * high)

    def _forced(self) -> np.ndarray:
        """Epoch seconds of the post that made a user see another (a reply, quote, repost), else 0."""
        forced = np.zeros((len(self.users), len(self.posts)))
        index = {id(p): i for i, p in enumerate(self.posts)}
        for post in self.posts:
            target = post.parent or post.quoted
            if target is not None:
                forced[post.author.index, index[id(target)]] = post.created_at.timestamp()
        return forced

    def _view_times(self, rng: np.random.Generator, u: np.ndarray, p: np.ndarray, forced: np.ndarray) -> np.ndarray:
        base = np.maximum(self.post_at[p], self.joined[u])
        at = base + rng.lognormal(math.log(3 * 3600), 1.3, len(u))
        late = at >= self.end
        at[late] = base[late] + rng.random(late.sum()) * (self.end - base[late])
        before = forced > 0  # seen between joining (or the post) and answering it
        at[before] = base[before] + rng.uniform(0.2, 0.8, before.sum()) * (forced[before] - base[before])
        return at

    def _actions(self, rng: np.random.Generator, u: np.ndarray, p: np.ndarray, seen_at: np.ndarray,
                 affinity: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        s = self.topic_interest[u, p]
        labels = np.array([post.label or "" for post in self.posts])[p]
        role = np.array([user.role for user in self.users])[u]
        follows = self.follow[u, self.author[p]]
        chance = {
            "click": 0.05 + 0.15 * s,
            "like": np.clip((0.01 + 0.22 * s) * np.clip(affinity, 0.5, 2.0) * np.where(follows, 1.3, 1.0), 0, 0.9),
            "bookmark": 0.01 + 0.08 * s,
            "share": 0.005 + 0.03 * s,
            "hide": np.where(s < 0.1, 0.06, 0.003),
            "not_interested": np.where(s < 0.1, 0.07, 0.004),
            "report": np.full(len(u), 0.0008),
        }
        chance["like"] = np.where(labels == "toxic", np.where(role == "troll", 0.5, 0.01), chance["like"])
        chance["like"] = np.where(labels == "misleading", np.where(role == "misinformer", 0.8, 0.03), chance["like"])
        chance["hide"] = np.where(labels == "toxic", 0.2, chance["hide"])
        report = {"toxic": 0.35, "misleading": 0.25, "pii": 0.3}
        for label, rate in report.items():
            chance["report"] = np.where((labels == label) & (role == "regular"), rate, chance["report"])
        drawn = {kind: rng.random(len(u)) < rate for kind, rate in chance.items()}
        negative = drawn["hide"] | drawn["not_interested"] | drawn["report"]
        for kind in ("like", "bookmark", "share"):
            drawn[kind] &= ~negative
        out = []
        for kind, mask in drawn.items():
            low, high = DELAYS[kind]
            at = seen_at[mask] + rng.uniform(low, high, mask.sum())
            out.append((u[mask], p[mask], np.full(mask.sum(), KIND[kind]), at, np.full(mask.sum(), np.nan)))
        dwell = rng.random(len(u)) < 0.8
        lengths = np.array([len(post.text) for post in self.posts])[p[dwell]]
        ms = rng.lognormal(np.log(1800 + 3500 * s[dwell]), 0.6) * (0.6 + lengths / 140)
        ms = np.round(np.clip(ms, 150, 180_000))
        out.append((u[dwell], p[dwell], np.full(dwell.sum(), KIND["dwell"]), seen_at[dwell] + ms / 1000, ms))
        return out

    def _mirrored(self) -> list[tuple[np.ndarray, ...]]:
        """A reply interaction for every reply post, a repost interaction for every repost."""
        index = {id(p): i for i, p in enumerate(self.posts)}
        rows = [(post.author.index, index[id(post.parent or post.quoted)], KIND["reply" if post.kind == "reply" else "repost"],
                 post.created_at.timestamp()) for post in self.posts if post.kind in ("reply", "repost")]
        u, p, k, at = (np.array(c) for c in zip(*rows))
        return [(u, p, k, at, np.full(len(u), np.nan))]
