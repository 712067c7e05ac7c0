"""Scorers: the engagement ranker, then score changes that are recorded on each candidate."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from townsquare.feed.candidates import Candidate, RankerOutput
from townsquare.feed.component import Component
from townsquare.feed.features import FEATURES, Batch


class Scorer(Component):
    kind: ClassVar[str] = "scorer"

    def score(self, ctx, candidates: list[Candidate], batch: Batch) -> None:
        """Set or change ``candidate.score`` in place, recording what was done on the candidate."""
        raise NotImplementedError


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

    def score(self, ctx, candidates, batch):
        if not candidates:
            return
        version, model = ctx.env.rankers.current()
        ctx.scratch["ranker_version"] = version
        scores, probs, contributions = model.score(batch.features, ctx.config.weights.as_dict())
        for i, (candidate, value) in enumerate(zip(candidates, scores.tolist())):
            candidate.score, candidate.row = value, i
        top = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, : self.options.top_contributions]
        ctx.scratch["ranker_output"] = RankerOutput(tuple(model.heads), probs, top,
                                                    np.take_along_axis(contributions, top, axis=1))


class SteeringOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(0.1, ge=-1, lt=1, description="Text similarity below which a phrase has no effect.")
    boost: float = Field(2.0, ge=0, description="Strength of 'more ...' phrases.")
    penalty: float = Field(4.0, ge=0, description="Strength of 'less ...' phrases.")


class SteeringScorer(Scorer):
    """Boosts posts close to the user's "more ..." phrases and demotes those close to "less ..." ones.

    A phrase's strength on a post is how far its cosine rises above the larger of ``threshold``
    and the phrase's median cosine over the candidates (short phrases sit close to everything a
    little with sentence embedders; only posts standing out count), scaled to [0, 1].
    """

    name = "steering"
    Options = SteeringOptions

    def score(self, ctx, candidates, batch):
        phrases = [p for p in ctx.steering if p.vector is not None and len(p.vector) == ctx.index.dim]
        if not phrases or not len(batch.vectors):
            return
        o = self.options
        sims = batch.vectors @ np.stack([p.vector for p in phrases]).T  # (with vectors, phrases)
        floor = np.maximum(np.median(sims, axis=0), o.threshold)
        strength = np.maximum((sims - floor) / (1 - floor), 0.0)
        sign = np.array([o.boost if p.direction == "more" else -o.penalty for p in phrases])
        rows = np.cumsum(batch.has_vector) - 1
        for i, candidate in enumerate(candidates):
            if not batch.has_vector[i]:
                continue
            effect = strength[rows[i]] * sign * np.array([p.weight for p in phrases])
            if not effect.any():
                continue
            moved = [phrases[j].label() for j in np.nonzero(effect)[0]]
            candidate.scale(float(np.exp(effect.sum())), self.name, "you asked for " + ", ".join(moved))


class ModerationDemotionScorer(Scorer):
    """Scales posts the moderation policy demotes by the policy's factor."""

    name = "moderation_demotion"

    def score(self, ctx, candidates, batch):
        demoted = {post: v for post, v in (ctx.scratch.get("moderation") or {}).items() if v.action == "demote"}
        for candidate in candidates if demoted else ():
            verdict = demoted.get(candidate.post_id)
            if verdict is not None:
                candidate.scale(verdict.factor, "moderation", ", ".join(verdict.reasons or ("policy",)))
