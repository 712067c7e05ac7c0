"""Scorers: the engagement ranker, then score changes that are recorded on each candidate.

A scorer works on columns, ``score_columns(ctx, scores, batch, notes)``: the scores of the batch's
rows in, the scores after it out, and what it did to row i added to ``notes[i]`` (the page-1
pipeline makes candidate objects only for what a page shows). Calling ``score`` on a list of
candidates does the same to the objects; a scorer written against that older interface,
overriding only ``score``, still works: the pipeline then makes the candidates first.
"""

from __future__ import annotations

from operator import attrgetter
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from townsquare.feed.candidates import LABEL_STAGE, Adjustment, Candidate, RankerOutput
from townsquare.feed.component import Component
from townsquare.feed.features import FEATURES, Batch

Notes = dict[int, list[Adjustment]]  # row -> what scorers did to it, in order


class Scorer(Component):
    kind: ClassVar[str] = "scorer"

    def score_columns(self, ctx, scores: np.ndarray, batch: Batch, notes: Notes) -> np.ndarray:
        """The scores of ``batch``'s rows after this scorer; what it did to row i goes to ``notes[i]``."""
        raise NotImplementedError

    def score(self, ctx, candidates: list[Candidate], batch: Batch) -> None:
        """Set or change ``candidate.score`` in place (``batch`` holds their rows, in order), recording
        what was done on the candidate."""
        notes: Notes = {}
        scores = self.score_columns(ctx, np.fromiter(map(attrgetter("score"), candidates), np.float64,
                                                     len(candidates)), batch, notes)
        for candidate, value in zip(candidates, scores.tolist()):
            candidate.score = value
        for i, done in notes.items():
            candidates[i].adjustments = [*(candidates[i].adjustments or ()), *done]

    @property
    def columnar(self) -> bool:
        return type(self).score_columns is not Scorer.score_columns


def scale(scores: np.ndarray, rows: np.ndarray, factor, stage: str, details: list[str], notes: Notes) -> None:
    """Demote (factor < 1) or boost (> 1) ``rows`` in place, the same direction whatever a score's sign
    (``Candidate.scale`` on columns), and note it."""
    factor = np.broadcast_to(np.asarray(factor, np.float64), rows.shape)
    old = scores[rows]
    scores[rows] = np.where(old >= 0, old * factor, old / np.maximum(factor, 1e-9))
    for row, f, detail in zip(rows.tolist(), factor.tolist(), details):
        notes.setdefault(row, []).append(Adjustment(stage, f, detail))


class EngagementOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    top_contributions: int = Field(3, ge=0, le=len(FEATURES), description="Feature contributions kept per item.")


class EngagementScorer(Scorer):
    """Predicted engagement probabilities from the served ranker, combined by ``FeedConfig.weights``.

    Scores every candidate and gives each its row in the run's ``RankerOutput`` (the
    probabilities and strongest feature contributions the explanations show), left in
    ``ctx.scratch["ranker_output"]`` for the pipeline's records.
    """

    name = "engagement"
    Options = EngagementOptions

    def score_columns(self, ctx, scores, batch, notes):
        if not len(batch):
            return scores
        version, model = ctx.env.rankers.current()
        ctx.scratch["ranker_version"] = version
        scores, probs, contributions = model.score(batch.features, ctx.config.weights.as_dict())
        top = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, : self.options.top_contributions]
        ctx.scratch["ranker_output"] = RankerOutput(tuple(model.heads), probs, top,
                                                    np.take_along_axis(contributions, top, axis=1))
        return scores


class SteeringOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(0.2, ge=-1, lt=1, description="Text similarity below which a phrase has no effect.")
    boost: float = Field(2.0, ge=0, description="Strength of 'more ...' phrases.")
    penalty: float = Field(4.0, ge=0, description="Strength of 'less ...' phrases.")


# The least change of a post's score (as a log factor) that steering makes and says it made: 5%.
MIN_EFFECT = 0.05
# The least cosine above a phrase's floor at which it has full strength: a rare topic's 95th percentile sits just
# above the floor, and a post barely nearer the phrase than most (a photo of contrast, for "astronomy") is not it.
SPAN = 0.2


class SteeringScorer(Scorer):
    """Boosts posts close to the user's "more ..." phrases and demotes those close to "less ..." ones.

    A phrase's strength on a post is how far its cosine rises above the larger of ``threshold``
    and the phrase's median cosine over a sample of all posts (short phrases sit close to everything a
    little with sentence embedders; only posts standing out count), as a share of the way up to the
    sample's 95th percentile (a post as close as the closest twentieth of all posts has full strength),
    and at least ``SPAN`` above the floor; a change under
    ``MIN_EFFECT`` is not made, so that an explanation "you asked for more cooking" names a post about it.
    Until session 23 the median was over the user's own candidates, so "less jazz" from someone whose
    feed is mostly jazz stood out from nothing and changed one post of 20 (a QA pass).
    """

    name = "steering"
    Options = SteeringOptions

    def score_columns(self, ctx, scores, batch, notes):
        phrases = [p for p in ctx.steering if p.vector is not None and len(p.vector) == ctx.index.dim]
        if not phrases or not len(batch.vectors):
            return scores
        o = self.options
        wanted = np.stack([p.vector for p in phrases])
        sims = batch.vectors @ wanted.T  # (with vectors, phrases)
        usual = ctx.index.vector_sample() @ wanted.T  # (sample, phrases)
        if len(usual):
            floor = np.maximum(np.median(usual, axis=0), o.threshold)
            top = np.maximum(np.percentile(usual, 95, axis=0), floor + SPAN)
        else:
            floor, top = np.full(len(phrases), o.threshold), np.ones(len(phrases))
        strength = np.clip((sims - floor) / (top - floor), 0.0, 1.0)
        sign = np.array([o.boost if p.direction == "more" else -o.penalty for p in phrases])
        effect = strength * sign * np.array([p.weight for p in phrases])  # (with vectors, phrases)
        effect[np.abs(effect) < MIN_EFFECT] = 0.0  # a nudge of a few per cent is not "what you asked for"
        moved = effect.any(axis=1)
        rows = np.flatnonzero(batch.has_vector)[moved]
        details = ["you asked for " + ", ".join(phrases[j].label() for j in np.nonzero(e)[0]) for e in effect[moved]]
        scores = scores.copy()
        scale(scores, rows, np.exp(effect[moved].sum(axis=1)), self.name, details, notes)
        return scores


class ModerationDemotionScorer(Scorer):
    """Scales posts the moderation policy demotes by the policy's factor, and notes the labels it puts
    on posts (stage ``LABEL_STAGE``, the labels as the detail) for the page to show."""

    name = "moderation_demotion"

    def score_columns(self, ctx, scores, batch, notes):
        verdicts = ctx.scratch.get("moderation") or {}
        labelled = {post: v.labels for post, v in verdicts.items() if v.labels}
        if labelled:
            rows = np.flatnonzero(np.isin(batch.posts, np.fromiter(labelled, np.int64, len(labelled))))
            for row, post in zip(rows.tolist(), batch.posts[rows].tolist()):
                notes.setdefault(row, []).append(Adjustment(LABEL_STAGE, 1.0, ", ".join(labelled[post])))
        demoted = {post: v for post, v in verdicts.items() if v.action == "demote"}
        if not demoted:
            return scores
        rows = np.flatnonzero(np.isin(batch.posts, np.fromiter(demoted, np.int64, len(demoted))))
        verdicts = [demoted[post] for post in batch.posts[rows].tolist()]
        scores = scores.copy()
        scale(scores, rows, [v.factor for v in verdicts], "moderation",
              [", ".join(v.reasons or ("policy",)) for v in verdicts], notes)
        return scores
