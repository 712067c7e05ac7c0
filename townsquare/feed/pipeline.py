"""``FeedPipeline``: sources, filters, features, scorers, selectors, read top to bottom.

A pipeline is data you can print (``describe``). ``rank`` runs everything that happens once per
feed session (sources -> filters -> features -> scorers) and keeps its own records: what each
source did, what each filter removed and why, the ranked pool, the time of every stage.
``select`` runs the selectors for one page. Explanations and "why not" are read off these
records (see ``explain.py``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np

from townsquare.feed.candidates import (
    Candidate,
    Gathered,
    RankerOutput,
    Reason,
    Source,
    SourceOutcome,
    gather,
)
from townsquare.feed.component import build
from townsquare.feed.config import FeedConfig
from townsquare.feed.features import Batch, hydrate
from townsquare.feed.filters import Filter
from townsquare.feed.pool import RankedPool
from townsquare.feed.scorers import Scorer
from townsquare.feed.selectors import Page, Selector


class Timings(dict):
    """Milliseconds per stage, in the order the stages ran."""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + (time.perf_counter() - start) * 1000


@dataclass
class Ranking:
    """The records of one ranking run."""

    pool: list[Candidate] | RankedPool  # best first
    outcomes: list[SourceOutcome]
    removed: dict[int, tuple[str, str]] = field(default_factory=dict)  # post -> (filter, why), from object filters
    # The columnar filters' drops: (filter, why, posts, authors), put into words only when asked
    # (``removals``). Writing out why for every one of the 250 posts a demo page drops was 2% of its
    # instructions, for a record only "why not" reads.
    dropped: list[tuple[str, Callable[[int, int], str], np.ndarray, np.ndarray]] = field(default_factory=list)
    ranked: int = 0  # candidates that reached the scorers
    ranker_version: int | None = None
    ranker_output: RankerOutput | None = None  # probabilities and contributions, by ``Candidate.row``
    probe: Candidate | None = None  # why-not: the asked-about post, wherever it ended
    probe_rank: int | None = None
    timings: Timings = field(default_factory=Timings)

    def removals(self) -> dict[int, tuple[str, str]]:
        """Every removed post: (the filter that removed it, why)."""
        out = dict(self.removed)
        for name, why, posts, authors in self.dropped:
            out.update((post, (name, why(post, author))) for post, author in zip(posts.tolist(), authors.tolist()))
        return out

    def removed_per_filter(self) -> dict[str, int]:
        counts = Counter(stage for stage, _ in self.removed.values())
        for name, _, posts, _ in self.dropped:
            counts[name] += len(posts)
        return dict(counts)


class FeedPipeline:
    """An ordered list of components; ``FeedPipeline.from_config(FeedConfig())`` is the default feed."""

    def __init__(self, sources: list[Source], filters: list[Filter], scorers: list[Scorer],
                 selectors: list[Selector], config: FeedConfig) -> None:
        self.sources, self.filters, self.scorers, self.selectors = sources, filters, scorers, selectors
        self.config = config

    @classmethod
    def from_config(cls, config: FeedConfig) -> FeedPipeline:
        def made(kind: str, specs) -> list:
            return [build(kind, s.name, s.options) for s in specs]

        return cls(made("source", config.sources), made("filter", config.filters), made("scorer", config.scorers),
                   made("selector", config.selectors), config)

    def describe(self) -> dict:
        return {"sources": [s.describe() for s in self.sources], "filters": [f.describe() for f in self.filters],
                "scorers": [s.describe() for s in self.scorers],
                "selectors": [s.describe() for s in self.selectors],
                "weights": self.config.weights.as_dict()}

    def rank(self, ctx, timings: Timings | None = None, pool_size: int | None = None) -> Ranking:
        """Candidates from every source, filtered, featurised and scored, best first (the session's pool).

        On columns from the sources' proposals to the pool (a ``RankedPool``, whose candidate
        objects are made when a page asks for them) unless something needs objects: why-not (it
        follows one candidate through every stage), a filter or scorer written against the
        object interface, or a source that returned candidate objects.
        """
        timings = timings if timings is not None else Timings()
        size = pool_size or self.config.pool_size
        with timings.stage("sources"):
            gathered, outcomes = gather(self.sources, ctx, self.config.source_timeout_ms)
        for outcome in outcomes:
            timings[f"source.{outcome.name}"] = outcome.ms
        ranking = Ranking([], outcomes, timings=timings)
        candidates: list[Candidate] | None = None
        with timings.stage("filters"):
            if ctx.probe is None and all(step.columnar for step in self.filters):
                rows, posts, authors = self._filter_columns(ctx, gathered, ranking, timings)
                inside = ctx.follows(authors)
                if gathered.listed or not all(scorer.columnar for scorer in self.scorers):
                    candidates = gathered.candidates(rows, in_network=inside)
            else:  # why-not follows one candidate object through every stage; older filters want objects
                candidates = self._filter_objects(ctx, self._with_probe(ctx, gathered.candidates(), ranking),
                                                  ranking, timings)
                posts = np.fromiter(map(attrgetter("post_id"), candidates), np.int64, len(candidates))
        ranking.ranked = len(posts)
        with timings.stage("features"):
            batch = Batch.of(ctx, posts)
            batch.features = hydrate(ctx, batch)
        with timings.stage("scoring"):
            if candidates is None:
                scores, notes = np.zeros(len(posts)), {}
                for scorer in self.scorers:
                    scores = scorer.score_columns(ctx, scores, batch, notes)
                order = np.argsort(-scores, kind="stable")[:size]
                place = dict(zip(order.tolist(), range(len(order))))
                pool = RankedPool.from_ranking(gathered, rows[order], scores[order], inside[order], order,
                                               {place[row]: done for row, done in notes.items() if row in place})
            else:
                for i, candidate in enumerate(candidates):
                    candidate.row = i  # its row in the batch, the features and the ranker's output
                for scorer in self.scorers:
                    scorer.score(ctx, candidates, batch)
                candidates.sort(key=lambda c: -c.score)
        ranking.ranker_version = ctx.scratch.get("ranker_version")
        ranking.ranker_output = ctx.scratch.get("ranker_output")
        if candidates is None:
            ranking.pool = pool
            return ranking
        if ranking.probe is not None:
            ranking.probe_rank = next((i for i, c in enumerate(candidates) if c is ranking.probe), None)
            candidates = [c for c in candidates if c is not ranking.probe or len(c.reasons) > 1]
        ranking.pool = candidates[:size]
        return ranking

    def _filter_columns(self, ctx, gathered: Gathered, ranking: Ranking,
                        timings: Timings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The filters on the merged proposals' arrays: the rows they keep, with their posts and authors."""
        rows, posts, authors = np.arange(len(gathered)), gathered.post_ids, gathered.authors
        for step in self.filters:
            with timings.stage(f"filter.{step.name}"):
                drop, why = step.drop(ctx, posts, authors)
                if drop.any():
                    ranking.dropped.append((step.name, why, posts[drop], authors[drop]))
                    keep = ~drop
                    rows, posts, authors = rows[keep], posts[keep], authors[keep]
        return rows, posts, authors

    def _filter_objects(self, ctx, candidates: list[Candidate], ranking: Ranking, timings: Timings) -> list[Candidate]:
        follows = ctx.follow_set
        for candidate in candidates:
            candidate.in_network = candidate.author_id in follows
        for step in self.filters:
            with timings.stage(f"filter.{step.name}"):
                result = step(ctx, candidates)
            for gone in result.removed:
                ranking.removed[gone.post_id] = (step.name, result.why.get(gone.post_id, ""))
            candidates = result.kept
        return candidates

    @staticmethod
    def _with_probe(ctx, candidates: list[Candidate], ranking: Ranking) -> list[Candidate]:
        """For "why not": follow the asked-about post through every stage, proposed or not."""
        if ctx.probe is None:
            return candidates
        found = next((c for c in candidates if c.post_id == ctx.probe), None)
        if found is None:
            author = int(ctx.index.authors_of(np.array([ctx.probe]))[0])
            found = Candidate(ctx.probe, author, [])
            candidates = [*candidates, found]
        found.reasons.insert(0, Reason("probe", 0.0, detail="the post asked about"))
        ranking.probe = found
        return candidates

    def select(self, ctx, pool: list[Candidate], page: Page, timings: Timings | None = None) -> list[Candidate]:
        """The pool reordered by every selector; its first ``page.limit`` items are the page."""
        timings = timings if timings is not None else Timings()
        with timings.stage("selectors"):
            for selector in self.selectors:
                pool = selector.select(ctx, pool, page)
        return pool
