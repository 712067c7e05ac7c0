"""Selectors: choose and order the next page from a session's ranked pool.

Each takes the remaining pool (best first) and returns it reordered; the first ``page.limit``
items become the page. Nothing is dropped here (only filters remove), so an item a selector
pushes down is still there for a later page. Every move is recorded on the candidate.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from townsquare.feed.candidates import Candidate
from townsquare.feed.component import Component


@dataclass
class Page:
    """What the selectors know about the page being chosen and the pages before it."""

    limit: int
    number: int = 0
    served_authors: Counter = field(default_factory=Counter)
    previous: list[int] = field(default_factory=list)  # post ids at the end of the previous page
    seed: int = 0


def _text_vectors(ctx, posts: list[int]) -> np.ndarray:
    """The posts' text vectors, one row each; zeros for a post without one (similar to nothing)."""
    has, vectors = ctx.index.vectors_of(np.array(posts, np.int64))
    full = np.zeros((len(posts), ctx.index.dim or 1), np.float32)
    full[has] = vectors
    return full


class Selector(Component):
    kind: ClassVar[str] = "selector"

    def select(self, ctx, pool: list[Candidate], page: Page) -> list[Candidate]:
        raise NotImplementedError


class AuthorDiversityOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decay: float = Field(0.5, gt=0, le=1, description="Each further post by one author keeps this share more.")
    floor: float = Field(0.25, ge=0, le=1, description="The share no post goes below.")


class AuthorDiversitySelector(Selector):
    """Each further post by the same author is scaled by (1 - floor) * decay^n + floor, as the home mixer does."""

    name = "author_diversity"
    Options = AuthorDiversityOptions

    def select(self, ctx, pool, page):
        o, seen = self.options, Counter(page.served_authors)
        for candidate in sorted(pool, key=lambda c: -c.score):
            n = seen[candidate.author_id]
            seen[candidate.author_id] += 1
            if n:
                factor = (1 - o.floor) * o.decay ** n + o.floor
                # the count is of the author's posts ranked above it (and served before), not of the page
                candidate.scale(factor, self.name, f"the author's post {n + 1} in your ranking: spread out so "
                                                   "that one author does not fill your feed")
        return sorted(pool, key=lambda c: -c.score)


class TopicDiversityOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    relevance: float = Field(0.7, ge=0, le=1, description="MMR lambda: 1 = pure score, 0 = pure novelty.")
    window: float = Field(3.0, ge=1, description="MMR looks at this many times the page size.")


CLOSE = 0.3  # a cosine under this is not "close to a post above it" (MMR moved others up past it)


class TopicDiversitySelector(Selector):
    """Maximal marginal relevance over text vectors: a post too close to one above it waits."""

    name = "topic_diversity"
    Options = TopicDiversityOptions

    def select(self, ctx, pool, page):
        size = min(len(pool), int(page.limit * self.options.window))
        window = pool[:size]
        if size <= 1 or not ctx.index.dim:  # no text vectors: nothing to tell topics apart by
            return pool
        full = _text_vectors(ctx, [c.post_id for c in window] + page.previous)
        scores = np.array([c.score for c in window])
        relevance = (scores - scores.min()) / max(float(np.ptp(scores)), 1e-9)
        gram = full[:size] @ full.T  # every similarity the loop needs, in one product
        closest = gram[:, size:].max(axis=1) if len(page.previous) else np.zeros(size, np.float32)
        lam, chosen, left = self.options.relevance, [], np.ones(size, bool)
        gain = lam * relevance
        for _ in range(min(page.limit, size)):
            value = gain - (1 - lam) * closest
            value[~left] = -np.inf
            best = int(np.argmax(value))
            chosen.append(best)
            left[best] = False
            np.maximum(closest, gram[best, :size], out=closest)
        # What this selector did, in places of its own order (later selectors may move a post again).
        for rank, i in enumerate(chosen):
            if rank < i:
                window[i].note(self.name, f"moved up {_places(i - rank)}: unlike the posts above it")
            elif rank > i and (near := float(gram[i, chosen[:rank]].max())) >= CLOSE:
                window[i].note(self.name, f"moved down {_places(rank - i)}: close to a post above it "
                                          f"(similarity {near:.2f})")
            elif rank > i:  # not like anything above: posts unlike the ones above it were moved up past it
                window[i].note(self.name, f"moved down {_places(rank - i)}: posts on other topics went first")
        for i in np.nonzero(left)[0][: page.limit]:
            if i < page.limit:
                window[i].note(self.name, f"held back for a later page: too close to a post above it "
                                          f"(similarity {closest[i]:.2f})")
        return [window[i] for i in chosen] + [window[i] for i in np.nonzero(left)[0]] + pool[size:]


def _places(n: int) -> str:
    return f"{n} place{'s' * (n > 1)}"


class NetworkBalanceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    in_network: float = Field(0.5, ge=0, le=1, description="Target share of posts from people the user follows.")
    tolerance: float = Field(0.2, ge=0, le=1, description="How far the page may be from the target.")


class NetworkBalanceSelector(Selector):
    """Keeps the page's share of in-network posts near a target by swapping with the best of the rest."""

    name = "network_balance"
    Options = NetworkBalanceOptions

    def select(self, ctx, pool, page):
        o, n = self.options, min(page.limit, len(pool))
        head, tail = pool[:n], pool[n:]
        inside = sum(c.in_network for c in head)
        low, high = (o.in_network - o.tolerance) * n, (o.in_network + o.tolerance) * n
        want = True if inside < low else False if inside > high else None
        while want is not None and (inside < low if want else inside > high):
            incoming = next((c for c in tail if c.in_network == want), None)
            outgoing = next((c for c in reversed(head) if c.in_network != want), None)
            if incoming is None or outgoing is None:
                break
            tail.remove(incoming)
            head.remove(outgoing)
            head.append(incoming)
            tail.insert(0, outgoing)
            share = "in-network" if want else "out-of-network"
            incoming.note(self.name, f"moved up: the page needed more {share} posts")
            outgoing.note(self.name, f"moved to a later page: the page needed more {share} posts")
            inside += 1 if want else -1
        return sorted(head, key=lambda c: -c.score) + tail


class ExplorationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    share: float = Field(0.05, ge=0, le=0.5, description="Share of each page given to posts ranked further down.")


class ExplorationSelector(Selector):
    """Gives a small share of the page to random posts from further down the pool, so the ranker can learn."""

    name = "exploration"
    Options = ExplorationOptions

    def select(self, ctx, pool, page):
        n = min(page.limit, len(pool))
        rng = np.random.default_rng([page.seed, page.number])
        expected = self.options.share * n
        k = int(expected) + int(rng.random() < expected - int(expected))
        if k == 0 or len(pool) <= n:
            return pool
        picks = sorted(rng.choice(np.arange(n, len(pool)), size=min(k, len(pool) - n), replace=False).tolist())
        explored, taken = [pool[i] for i in picks], set(picks)
        slots = set(rng.choice(n, size=len(explored), replace=False).tolist())
        head, queue = iter(pool[:n]), iter(zip(explored, picks))
        chosen = []
        for slot in range(n):
            if slot in slots:
                candidate, rank = next(queue)
                candidate.note(self.name, f"explored: ranked {rank + 1}, shown to learn whether you like it")
                chosen.append(candidate)
            else:
                chosen.append(next(head))
        rest = [c for i, c in enumerate(pool[n:], start=n) if i not in taken]
        return chosen + list(head) + rest  # the page's last places move to the next page


class NearDuplicateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    similarity: float = Field(0.9, gt=0, le=1, description="Text similarity from which two posts count as copies.")
    window: float = Field(3.0, ge=1, description="Replacements are looked for this many times the page size down.")


class NearDuplicateSelector(Selector):
    """The page's last check: a post nearly the same text as one above it on the page, or as one at
    the end of the last page, moves to a later page and the next post that is not takes its place.

    The other selectors each move posts for their own reason (balance brings one up from below,
    exploration picks at random), so near-copies (a text posted twice, a quote repeating its
    original) can meet again after topic diversity has kept them apart: this runs last.
    """

    name = "near_duplicates"
    Options = NearDuplicateOptions

    def select(self, ctx, pool, page):
        n, size = min(page.limit, len(pool)), min(len(pool), int(page.limit * self.options.window))
        if not ctx.index.dim or n + len(page.previous) <= 1 or not self._copies_on(ctx, pool[:n], page.previous):
            return pool  # the usual case, found with the page's own vectors only
        window = pool[:size]
        full = _text_vectors(ctx, [c.post_id for c in window] + page.previous)
        copies = (full[:size] @ full.T) >= self.options.similarity  # (window, window + previous)
        np.fill_diagonal(copies, False)
        above = np.zeros(len(full), bool)
        above[size:] = True  # the end of the last page
        kept: list[int] = []
        moved: list[int] = []
        for i in range(size):
            if len(kept) == n:
                break
            twin = np.flatnonzero(copies[i] & above)
            if len(twin):
                moved.append(i)
                window[i].note(self.name, f"moved to a later page: nearly the same text as "
                                          f"{'a post above it' if twin[0] < size else 'one on your last page'}")
            else:
                kept.append(i)
                above[i] = True
        if not moved:
            return pool
        placed = set(kept) | set(moved)
        return ([window[i] for i in kept] + [window[i] for i in moved]
                + [c for i, c in enumerate(window) if i not in placed] + pool[size:])

    def _copies_on(self, ctx, head: list[Candidate], previous: list[int]) -> bool:
        """Whether any of ``head`` is a near-copy of a post before it there or in ``previous``."""
        full = _text_vectors(ctx, [c.post_id for c in head] + previous)
        copies = (full[: len(head)] @ full.T) >= self.options.similarity
        return bool(np.tril(copies[:, : len(head)], -1).any() or copies[:, len(head):].any())
