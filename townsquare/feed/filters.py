"""Filters: each says what it removes AND why. Cheap in-memory ones run first.

A filter's ``drop(ctx, posts, authors)`` reads arrays (the pipeline filters page 1's proposals
before any ``Candidate`` exists) and returns a bool per post and ``why(post, author)`` for the
removed ones; calling a filter on a list of candidates (later pages) gives a ``FilterResult``.
A filter written against the older interface, overriding only ``__call__``, still works: the
pipeline then makes the candidates first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter
from typing import ClassVar, NamedTuple, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from townsquare.feed.candidates import Candidate
from townsquare.feed.component import Component
from townsquare.feed.index import DELETED, NOT_PUBLIC, PRIVATE, REPOST, take


@dataclass
class FilterResult:
    kept: list[Candidate]
    removed: list[Candidate] = field(default_factory=list)
    why: dict[int, str] = field(default_factory=dict)  # post id -> why it was removed


Why = Callable[[int, int], str]  # (post, author) -> why it was removed


class Filter(Component):
    kind: ClassVar[str] = "filter"

    def drop(self, ctx, posts: np.ndarray, authors: np.ndarray) -> tuple[np.ndarray, Why]:
        """Which of these posts (by id, with their authors) to remove, and why for each removed one."""
        raise NotImplementedError

    @property
    def columnar(self) -> bool:
        return type(self).drop is not Filter.drop

    def __call__(self, ctx, candidates: list[Candidate]) -> FilterResult:
        drop, why = self.drop(ctx, _posts(candidates), _authors(candidates))
        return self.split(candidates, drop, lambda c: why(c.post_id, c.author_id))

    @staticmethod
    def split(candidates: list[Candidate], drop: np.ndarray, why) -> FilterResult:
        """Keep where ``drop`` is False; ``why(candidate)`` says why each dropped one went."""
        if not drop.any():
            return FilterResult(list(candidates))
        removed = list(compress(candidates, drop))
        return FilterResult(list(compress(candidates, ~drop)), removed, {c.post_id: why(c) for c in removed})


def _keep_all(posts: np.ndarray) -> tuple[np.ndarray, Why]:
    return np.zeros(len(posts), bool), _no_reason


def _no_reason(post: int, author: int) -> str:
    return ""


def _posts(candidates: list[Candidate]) -> np.ndarray:
    return np.fromiter(map(_POST_ID, candidates), np.int64, len(candidates))


def _authors(candidates: list[Candidate]) -> np.ndarray:
    return np.fromiter(map(_AUTHOR_ID, candidates), np.int64, len(candidates))


_POST_ID, _AUTHOR_ID = attrgetter("post_id"), attrgetter("author_id")


class OwnPostsFilter(Filter):
    """The user's own posts."""

    name = "own_posts"

    def drop(self, ctx, posts, authors):
        return authors == ctx.user_id, lambda post, author: "your own post"


class SeenPostsFilter(Filter):
    """Posts the user already interacted with (viewed, liked, hid, ...) or was served in this session."""

    name = "seen_posts"

    def drop(self, ctx, posts, authors):
        seen = np.isin(posts, ctx.seen)
        served = np.isin(posts, np.fromiter(ctx.exclude_posts, np.int64, len(ctx.exclude_posts)))
        saw = set(posts[seen].tolist())
        return seen | served, lambda post, author: ("you already saw it" if post in saw
                                                    else "already served in this session")


class BlockedAuthorsFilter(Filter):
    """Authors the user blocked or muted, and authors who blocked or muted the user."""

    name = "blocked_authors"

    def drop(self, ctx, posts, authors):
        excluded = ctx.relations.excluded
        if not excluded:
            return _keep_all(posts)
        return np.isin(authors, np.fromiter(excluded, np.int64, len(excluded))), \
            lambda post, author: excluded[author]


class RepliesFilter(Filter):
    """Replies to people the user does not follow (a reply's context is a conversation they are not in)."""

    name = "replies"

    def drop(self, ctx, posts, authors):
        parents = take(ctx.index.post_reply_to, posts, -1).astype(np.int64)
        replies = parents >= 0
        drop = np.zeros(len(posts), bool)
        if replies.any():
            parent_authors = ctx.index.authors_of(parents[replies])
            drop[replies] = ~(ctx.follows(parent_authors) | (parent_authors == ctx.user_id))
        return drop, lambda post, author: "a reply to someone you do not follow"


class LanguagesFilter(Filter):
    """Posts in a language the user does not read (their own, or one they engaged with twice)."""

    name = "languages"

    def drop(self, ctx, posts, authors):
        codes = take(ctx.index.post_lang, posts, -1)
        drop = ~np.isin(codes, np.fromiter(ctx.languages, np.int64, len(ctx.languages))) & (codes >= 0)
        if not drop.any():
            return drop, _no_reason
        names = {v: k for k, v in ctx.index.languages.items()}
        lang = dict(zip(posts[drop].tolist(), codes[drop].tolist()))
        return drop, lambda post, author: f"written in {names.get(lang[post], '?')}, which you do not read"


class DeletedPostsFilter(Filter):
    """Deleted posts, posts the user may not see (followers-only from someone they don't follow, private),
    posts written after the feed's time (``--at`` a past time; a clock a few minutes ahead is let be), and
    repost rows: a repost has no text of its own, and the in-network source proposes the post it reposts.

    The index learns of deletes and visibility changes from ``feed_post_changes`` (written by
    database triggers) on every request, so a delete counts at once without asking here.
    """

    name = "deleted_posts"
    AHEAD_S = 300.0

    def drop(self, ctx, posts, authors):
        flags = take(ctx.index.post_flags, posts).astype(np.int64)
        gone = take(ctx.index.post_author, posts, -1) < 0
        following = ctx.follows(authors)
        hidden = ((flags & NOT_PUBLIC) > 0) & ~following | ((flags & PRIVATE) > 0)
        deleted = ((flags & DELETED) > 0) | gone
        later = take(ctx.index.post_time, posts, ctx.now) > ctx.now + self.AHEAD_S
        repost = (flags & REPOST) > 0
        drop = deleted | hidden | later | repost
        why = dict(zip(posts[drop].tolist(), np.where(gone[drop], "no longer exists", np.where(
            deleted[drop], "deleted", np.where(later[drop], "written after the feed's time", np.where(
                hidden[drop], "not visible to you", "a repost: feeds show the post it reposts")))).tolist()))
        return drop, lambda post, author: why[post]


class ModerationVerdict(NamedTuple):
    """What moderation says about a post: "hide" removes it, "demote" scales its score by ``factor``,
    "label" shows ``labels`` on it (a demoted post may carry labels too)."""

    action: str  # "allow" | "label" | "demote" | "hide"
    factor: float = 1.0
    reasons: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()  # shown with the post, e.g. "offensive"


class ModerationProvider(Protocol):
    """Anything that maps post ids to verdicts (only posts with a verdict other than allow need appear)."""

    def verdicts(self, post_ids: list[int]) -> dict[int, ModerationVerdict]: ...


class ModerationFilter(Filter):
    """Posts the moderation policy hides; demotions are kept for the moderation scorer."""

    name = "moderation"

    def drop(self, ctx, posts, authors):
        provider = ctx.env.moderation
        if provider is None or not len(posts):
            return _keep_all(posts)
        verdicts = provider.verdicts(posts.tolist())
        ctx.scratch["moderation"] = verdicts
        hide = [post for post, verdict in verdicts.items() if verdict.action == "hide"]
        return np.isin(posts, np.array(hide, np.int64)), \
            lambda post, author: "hidden by moderation: " + ", ".join(verdicts[post].reasons or ("policy",))


class MaxAgeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: float = Field(7.0, gt=0)


class MaxAgeFilter(Filter):
    """Posts older than ``days`` (off by default: historical datasets would lose everything)."""

    name = "max_age"
    Options = MaxAgeOptions

    def drop(self, ctx, posts, authors):
        age = ctx.now - take(ctx.index.post_time, posts, ctx.now)
        return age > self.options.days * 86400, lambda post, author: f"older than {self.options.days:g} days"
