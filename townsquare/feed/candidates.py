"""Candidates and the sources that propose them, each saying why.

A ``Source`` has one method, ``fetch(ctx)``; every post it proposes carries one ``Reason``: the
source's name, its score, and the people or posts behind it ("liked by 3 people you follow",
"because you liked ..."). ``gather`` runs every source with a deadline (a source that raises or
is late is skipped and logged, never fatal) and merges what they proposed by post.

Proposals stay columns until the filters are done: ``Source.propose`` returns ``Proposals``
(arrays of posts, authors and scores, and the reasons' parts), ``Gathered`` merges them by post
in numpy, the filters remove rows, and ``Candidate`` objects are made only for the posts left.
On the demo a page-1 request proposed about 640 posts, of which 150 were proposed twice and 260
were filtered out; objects for those cost as much as the filters' own work. A source may also
return a list of ``Candidate`` (its reasons are kept as they are).

A source whose work waits outside the interpreter (a vector search) starts that part early in
``Source.start`` with ``in_background``, and picks the result up in ``fetch`` with ``collect``:
the search runs on a worker thread while the other sources run, and the Python work around it
stays on the request's thread (in the worker it only fought the request for the GIL: the
1M-post corpus's interest search took 6.5 ms in a thread for a 2-3 ms search).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import cached_property, partial
from itertools import chain, repeat
from typing import TYPE_CHECKING, ClassVar, NamedTuple, TypeVar

import numpy as np

from townsquare.feed.component import Component
from townsquare.feed.index import spans

if TYPE_CHECKING:
    from townsquare.feed.context import FeedContext

log = logging.getLogger(__name__)
T = TypeVar("T")
_DEADLINE = "sources_deadline"  # ctx.scratch key: perf_counter() time by which every source must be done


class Reason(NamedTuple):
    """Why a source proposed a post: the people and posts behind it are internal ids."""

    source: str
    score: float
    people: tuple[int, ...] = ()
    posts: tuple[int, ...] = ()
    detail: str = ""

    def as_dict(self) -> dict:
        return {"source": self.source, "score": round(float(self.score), 4), "people": list(self.people),
                "posts": list(self.posts), "detail": self.detail}


# A Reason from its five fields in one C call (the namedtuple's own constructor is a Python call per
# reason): for building many at once with map().
new_reason = partial(tuple.__new__, Reason)


LABEL_STAGE = "moderation label"  # the Adjustment that carries a post's moderation labels (factor 1)


class Adjustment(NamedTuple):
    """A demotion (factor < 1), boost (> 1) or move (= 1) a scorer or selector applied, recorded where it happened."""

    stage: str
    factor: float
    detail: str = ""

    def as_dict(self) -> dict:
        return {"stage": self.stage, "factor": round(float(self.factor), 4), "detail": self.detail}


@dataclass(frozen=True, eq=False)
class RankerOutput:
    """What the ranker said about the candidates of one ranking run, row by row (``Candidate.row``).

    Kept as whole arrays, one set per run, rather than a slice per candidate: a page-1 pool of
    600 made 1,800 numpy views to set, pack and free (a 1M-post page got 2.7% faster without them,
    ``bench/feed_ab.py``).
    """

    heads: tuple[str, ...]  # the engagement kinds, in the column order of ``probabilities``
    probabilities: np.ndarray  # (rows, heads) P(engagement)
    top: np.ndarray  # (rows, k) the strongest features (indices into features.FEATURES); -1 for none
    contributions: np.ndarray  # (rows, k) their contributions to the score

    @cached_property
    def _shown(self) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and contributions rounded as explanations show them: once for every row,
        in numpy (Python's round() per value took most of an explanation's time)."""
        return (np.round(self.probabilities.astype(np.float64), 5),  # stored pools keep float32
                np.round(self.contributions.astype(np.float64), 4))

    def predicted(self, row: int) -> dict[str, float]:
        if not 0 <= row < len(self.probabilities):
            return {}
        return dict(zip(self.heads, self._shown[0][row].tolist()))

    def strongest(self, row: int) -> list[tuple[int, float]]:
        """(feature index, contribution) of the row's strongest features, strongest first, as shown."""
        if not 0 <= row < len(self.top):
            return []
        return [(j, v) for j, v in zip(self.top[row].tolist(), self._shown[1][row].tolist()) if j >= 0]


@dataclass(eq=False, slots=True)
class Candidate:
    """A post on its way through the pipeline, with everything every stage said about it."""

    post_id: int
    author_id: int
    reasons: list[Reason] = field(default_factory=list)
    in_network: bool = False
    score: float = 0.0
    adjustments: list[Adjustment] | None = None
    row: int = -1  # the candidate's row in its ranking run's features and ``RankerOutput``

    def scale(self, factor: float, stage: str, detail: str = "") -> None:
        """Demote (factor < 1) or boost (> 1), the same direction whatever the score's sign."""
        self.score = self.score * factor if self.score >= 0 else self.score / max(factor, 1e-9)
        self.note(stage, detail, factor)

    def note(self, stage: str, detail: str, factor: float = 1.0) -> None:
        """Record an adjustment (factor 1: a move that changed no score, e.g. a selector placing the post).

        The list is replaced, not appended to, so copies of a candidate can share it safely.
        """
        self.adjustments = [*(self.adjustments or ()), Adjustment(stage, factor, detail)]

    def copy(self) -> Candidate:
        """A copy whose score and adjustments can change without touching this one (the rest is shared)."""
        return Candidate(self.post_id, self.author_id, self.reasons, self.in_network, self.score, self.adjustments,
                         self.row)

    @property
    def sources(self) -> list[str]:
        return [r.source for r in self.reasons]


class Source(Component):
    """Proposes posts for one user. ``fetch`` must be quick and read only ``ctx``.

    Sources run inline, one after another: a thread would only make them wait for the GIL. One
    that waits outside the interpreter either does that part in ``start`` (see the module
    docstring) or, if all of it waits, ``blocks(ctx)``: it then runs whole in a worker thread.
    """

    kind: ClassVar[str] = "source"
    blocking: ClassVar[bool] = False

    def fetch(self, ctx: FeedContext) -> Proposals | list[Candidate]:
        raise NotImplementedError

    def start(self, ctx: FeedContext) -> bool:
        """Begin background work for ``fetch`` (``in_background``); True if it did. Runs before any fetch."""
        return False

    def blocks(self, ctx: FeedContext) -> bool:
        return self.blocking

    def wanted(self, ctx: FeedContext) -> bool:
        """False when the source has nothing to do for this user (cheap; spares a thread hand-off)."""
        return True

    def propose(self, ctx: FeedContext, post_ids, scores, people=None, posts=None, detail=None) -> Proposals:
        """``post_ids`` with this source's reason (``people``/``posts``/``detail`` per post); posts the
        index does not know are dropped."""
        post_ids = np.asarray(post_ids, dtype=np.int64)
        authors = ctx.index.authors_of(post_ids)
        known = authors >= 0
        keep = None if known.all() else np.flatnonzero(known).tolist()
        people, posts, detail = (None if given is None else (given if keep is None else [given[i] for i in keep])
                                 for given in (people, posts, detail))
        return Proposals(self.name, post_ids[known], authors[known], np.asarray(scores, np.float64)[known],
                         people, posts, detail)


class Proposals:
    """What one source proposed, as columns: posts, authors, scores, and per post the people,
    posts and detail of its reason (None: none for any post). ``Gathered`` makes the candidates."""

    __slots__ = ("authors", "detail", "people", "post_ids", "posts", "scores", "source")

    def __init__(self, source: str, post_ids: np.ndarray, authors: np.ndarray, scores: np.ndarray,
                 people: list | None = None, posts: list | None = None, detail: list[str] | None = None) -> None:
        self.source, self.post_ids, self.authors, self.scores = source, post_ids, authors, scores
        self.people, self.posts, self.detail = people, posts, detail

    @classmethod
    def join(cls, source: str, parts: list[Proposals]) -> Proposals:
        """One source's several proposal lists (e.g. one per interest) as one, in order."""
        def joined(name: str, default):
            columns = [getattr(p, name) for p in parts]
            if all(c is None for c in columns):
                return None
            return [v for p, c in zip(parts, columns) for v in (c if c is not None else [default] * len(p))]

        if not parts:
            return cls(source, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
        return cls(source, np.concatenate([p.post_ids for p in parts]), np.concatenate([p.authors for p in parts]),
                   np.concatenate([p.scores for p in parts]), joined("people", ()), joined("posts", ()),
                   joined("detail", ""))

    def __len__(self) -> int:
        return len(self.post_ids)

    def reasons(self, rows: list[int]) -> list[Reason]:
        """The reasons of ``rows``, built by C-level iteration only (a namedtuple's own constructor is
        a Python call per item, and tuple() returns a tuple as it is)."""
        def column(values, default):
            if values is None:
                return repeat(default)
            picked = map(values.__getitem__, rows)
            return map(tuple, picked) if default == () else picked

        scores = self.scores[rows].tolist()
        return list(map(new_reason, zip(repeat(self.source), scores, column(self.people, ()),
                                         column(self.posts, ()), column(self.detail, ""))))



class _Listed:
    """A source's plain list of candidates, read like ``Proposals`` (their reasons kept as they are)."""

    def __init__(self, candidates: list[Candidate]) -> None:
        self.candidates = candidates
        self.post_ids = np.fromiter((c.post_id for c in candidates), np.int64, len(candidates))
        self.authors = np.fromiter((c.author_id for c in candidates), np.int64, len(candidates))

    def __len__(self) -> int:
        return len(self.candidates)

    def reasons(self, rows: list[int]) -> list[list[Reason]]:
        return [self.candidates[i].reasons for i in rows]


class Gathered:
    """Every source's proposals merged by post: one row per post, in the order first proposed,
    with every reason kept (in source order). ``candidates(rows)`` makes the objects."""

    def __init__(self, parts: list[Proposals | list[Candidate]]) -> None:
        self.parts = [p if isinstance(p, Proposals) else _Listed(p) for p in parts if len(p)]
        if not self.parts:
            self.post_ids = self.authors = np.zeros(0, np.int64)
            self._part = self._row = self._order = self._sorted = self.post_ids
            return
        posts = np.concatenate([p.post_ids for p in self.parts])
        authors = np.concatenate([p.authors for p in self.parts])
        self._part = np.repeat(np.arange(len(self.parts)), [len(p) for p in self.parts])
        self._row = np.concatenate([np.arange(len(p)) for p in self.parts])
        first = np.unique(posts, return_index=True)[1]
        first.sort()
        self.post_ids, self.authors = posts[first], authors[first]
        self._order = np.argsort(posts, kind="stable")  # each post's proposals together, in source order
        self._sorted = posts[self._order]

    def __len__(self) -> int:
        return len(self.post_ids)

    @property
    def listed(self) -> bool:
        """Whether a source gave a list of candidates (whose reasons are objects) rather than proposals."""
        return any(isinstance(p, _Listed) for p in self.parts)

    def proposals_of(self, rows: np.ndarray) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
        """(parts, and for every proposal of ``rows``, row after row in source order: its part and its
        row in that part; and how many proposals each row has)."""
        posts = self.post_ids[rows]
        lo = np.searchsorted(self._sorted, posts, "left")
        counts = np.searchsorted(self._sorted, posts, "right") - lo
        proposals = self._order[spans(lo, counts)]  # every row's proposals, row after row
        return self.parts, self._part[proposals], self._row[proposals], counts

    def candidates(self, rows: np.ndarray | None = None, in_network: np.ndarray | None = None) -> list[Candidate]:
        """Candidates for ``rows`` (all by default), each with the reasons of every source that proposed it."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows, np.int64)
        posts, authors = self.post_ids[rows], self.authors[rows]
        _, part_of, row_of, counts = self.proposals_of(rows)
        ends = np.cumsum(counts)
        reasons: list = [None] * len(part_of)
        for k, part in enumerate(self.parts):  # each part's reasons in one call
            at = np.flatnonzero(part_of == k)
            for i, reason in zip(at.tolist(), part.reasons(row_of[at].tolist())):
                reasons[i] = reason
        listed = [isinstance(p, _Listed) for p in self.parts]
        spliced = any(listed)  # a listed candidate brings a list of reasons, spliced in
        if spliced:
            reasons = [reason if listed[k] else [reason] for k, reason in zip(part_of.tolist(), reasons)]
        flags = np.zeros(len(rows), bool) if in_network is None else np.asarray(in_network, bool)
        per_row = map(reasons.__getitem__, map(slice, (ends - counts).tolist(), ends.tolist()))  # no Python loop
        if spliced:
            per_row = map(list, map(chain.from_iterable, per_row))
        return list(map(Candidate, posts.tolist(), authors.tolist(), per_row, flags.tolist()))


@dataclass
class SourceOutcome:
    """What one source did in one request: how many it proposed, how long it took, or why it failed."""

    name: str
    proposed: int = 0
    ms: float = 0.0
    error: str | None = None


_EXECUTOR: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _EXECUTOR  # a process-wide pool, started on first use (nothing happens at import)
    if _EXECUTOR is None:
        _EXECUTOR = ThreadPoolExecutor(max_workers=8, thread_name_prefix="feed-source")
    return _EXECUTOR


def in_background(ctx: FeedContext, key: str, work: Callable[..., T], *args) -> None:
    """Run ``work(*args)`` on a worker thread; ``collect(ctx, key, ...)`` gets its result."""
    ctx.scratch[key] = _executor().submit(work, *args)


def collect(ctx: FeedContext, key: str, work: Callable[..., T], *args) -> T:
    """The result of what ``in_background`` started under ``key`` (waiting until the sources' deadline),
    or ``work(*args)`` run now if nothing was started."""
    future = ctx.scratch.pop(key, None)
    if future is None:
        return work(*args)
    left = ctx.scratch.get(_DEADLINE, math.inf) - time.perf_counter()
    try:
        return future.result(timeout=max(left, 0.0))
    except FutureTimeout:
        future.cancel()
        raise TimeoutError("its background work did not end before the sources' deadline") from None


def _timed(source: Source, ctx: FeedContext) -> tuple[Proposals | list[Candidate], float]:
    start = time.perf_counter()
    found = source.fetch(ctx)
    return found, (time.perf_counter() - start) * 1000


def _started(source: Source, ctx: FeedContext) -> bool:
    try:
        return bool(source.start(ctx))
    except Exception:  # its fetch then runs the work itself, and fails or not
        log.exception("feed source %s could not start its background work", source.name)
        return False


def _inline(source: Source, ctx: FeedContext) -> tuple[Proposals | list[Candidate] | None, float, BaseException | None]:
    start = time.perf_counter()
    try:
        found, error = source.fetch(ctx), None
    except Exception as failure:  # noqa: BLE001 - a failing source is skipped, never fatal
        found, error = None, failure
    return found, (time.perf_counter() - start) * 1000, error


def gather(sources: list[Source], ctx: FeedContext, timeout_ms: float) -> tuple[Gathered, list[SourceOutcome]]:
    """Every source's proposals merged by post (reasons joined), and what each source did.

    Blocking sources start first in worker threads, then every source's ``start``; the others
    run meanwhile in this thread, those that started background work last (it had the most time).
    A source that raises, or that ends after ``timeout_ms`` from the start, is skipped and logged.
    """
    start = time.perf_counter()
    ctx.scratch[_DEADLINE] = start + timeout_ms / 1000
    idle = {i for i, s in enumerate(sources) if not s.wanted(ctx)}
    apart = {i for i, s in enumerate(sources) if i not in idle and s.blocks(ctx)}
    futures = {i: _executor().submit(_timed, sources[i], ctx) for i in apart}
    inline = [i for i in range(len(sources)) if i not in apart and i not in idle]
    started = {i for i in inline if _started(sources[i], ctx)}
    done = {i: ([], 0.0, None) for i in idle}
    done |= {i: _inline(sources[i], ctx) for i in sorted(inline, key=lambda i: i in started)}
    wait(list(futures.values()), timeout=max(timeout_ms / 1000 - (time.perf_counter() - start), 0))
    parts: list[Proposals | list[Candidate]] = []
    outcomes = []
    for i, source in enumerate(sources):
        outcome = SourceOutcome(source.name)
        found: Proposals | list[Candidate] | None = None
        if i in done:
            found, outcome.ms, error = done[i]
            if error is not None:
                outcome.error = f"{type(error).__name__}: {error}"
            elif outcome.ms > timeout_ms:
                outcome.error, found = f"took {outcome.ms:.0f} ms, over the {timeout_ms:.0f} ms limit", None
        elif not futures[i].done():
            futures[i].cancel()
            outcome.error = f"timed out after {timeout_ms:.0f} ms"
        elif futures[i].exception() is not None:
            outcome.error = f"{type(futures[i].exception()).__name__}: {futures[i].exception()}"
        else:
            found, outcome.ms = futures[i].result()
        if found is not None:
            parts.append(found)
        outcome.proposed = len(found or ())
        if outcome.error:
            log.warning("feed source %s skipped for user %s: %s", source.name, ctx.user_id, outcome.error)
        outcomes.append(outcome)
    return Gathered(parts), outcomes
