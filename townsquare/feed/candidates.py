"""Candidates and the sources that propose them, each saying why.

A ``Source`` has one method, ``fetch(ctx) -> list[Candidate]``; every candidate it returns
carries one ``Reason``: the source's name, its score, and the people or posts behind it ("liked
by 3 people you follow", "because you liked ..."). ``fetch_all`` runs every source with a
deadline: a source that raises or is late is skipped and logged, never fatal.

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
from itertools import repeat
from typing import TYPE_CHECKING, ClassVar, NamedTuple, TypeVar

import numpy as np

from townsquare.feed.component import Component

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


_new_reason = partial(tuple.__new__, Reason)


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

    def fetch(self, ctx: FeedContext) -> list[Candidate]:
        raise NotImplementedError

    def start(self, ctx: FeedContext) -> bool:
        """Begin background work for ``fetch`` (``in_background``); True if it did. Runs before any fetch."""
        return False

    def blocks(self, ctx: FeedContext) -> bool:
        return self.blocking

    def wanted(self, ctx: FeedContext) -> bool:
        """False when the source has nothing to do for this user (cheap; spares a thread hand-off)."""
        return True

    def propose(self, ctx: FeedContext, post_ids, scores, people=None, posts=None, detail=None) -> list[Candidate]:
        """Candidates for ``post_ids`` with this source's reason; ``people``/``posts``/``detail`` per post."""
        post_ids = np.asarray(post_ids, dtype=np.int64)
        authors = ctx.index.authors_of(post_ids)
        known = authors >= 0
        keep = None if known.all() else np.flatnonzero(known).tolist()
        post_ids, authors = post_ids[known].tolist(), authors[known].tolist()
        scores = np.asarray(scores, np.float64)[known].tolist()
        people, posts, detail = (repeat(default) if given is None else (given if keep is None else [given[i] for i in keep])
                                 for given, default in ((people, ()), (posts, ()), (detail, "")))
        # Reasons built by C-level iteration only: a namedtuple's own constructor is a Python call per item,
        # and tuple() returns a tuple as it is.
        reasons = map(_new_reason, zip(repeat(self.name), scores, map(tuple, people), map(tuple, posts), detail))
        return [Candidate(pid, author, [reason]) for pid, author, reason in zip(post_ids, authors, reasons)]


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


def _timed(source: Source, ctx: FeedContext) -> tuple[list[Candidate], float]:
    start = time.perf_counter()
    found = source.fetch(ctx)
    return found, (time.perf_counter() - start) * 1000


def _started(source: Source, ctx: FeedContext) -> bool:
    try:
        return bool(source.start(ctx))
    except Exception:  # its fetch then runs the work itself, and fails or not
        log.exception("feed source %s could not start its background work", source.name)
        return False


def _inline(source: Source, ctx: FeedContext) -> tuple[list[Candidate] | None, float, BaseException | None]:
    start = time.perf_counter()
    try:
        found, error = source.fetch(ctx), None
    except Exception as failure:  # noqa: BLE001 - a failing source is skipped, never fatal
        found, error = None, failure
    return found, (time.perf_counter() - start) * 1000, error


def fetch_all(sources: list[Source], ctx: FeedContext, timeout_ms: float) -> tuple[list[Candidate], list[SourceOutcome]]:
    """Every source's candidates merged by post (reasons joined), and what each source did.

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
    merged: dict[int, Candidate] = {}
    outcomes = []
    for i, source in enumerate(sources):
        outcome = SourceOutcome(source.name)
        found: list[Candidate] | None = None
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
        for candidate in found or ():
            kept = merged.setdefault(candidate.post_id, candidate)
            if kept is not candidate:
                kept.reasons.extend(candidate.reasons)
        outcome.proposed = len(found or ())
        if outcome.error:
            log.warning("feed source %s skipped for user %s: %s", source.name, ctx.user_id, outcome.error)
        outcomes.append(outcome)
    return list(merged.values()), outcomes
