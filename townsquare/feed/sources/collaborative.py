"""Collaborative sources: posts engaged by users who engage like this user."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from townsquare.feed.candidates import Proposals, Source


class ItemItemOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seeds: int = Field(20, ge=1, description="The user's most recent likes used as seeds.")
    per_seed: int = Field(20, ge=1, description="Co-engaged posts taken per seed.")


class ItemItemSource(Source):
    """Posts co-engaged with the user's recent likes ("because you liked ...")."""

    name = "item_item"
    Options = ItemItemOptions

    def fetch(self, ctx) -> Proposals | list:
        models = ctx.index.collaborative
        if models is None:
            return []
        scores: dict[int, float] = {}
        behind: dict[int, list[int]] = {}
        for seed in ctx.positives[: self.options.seeds].tolist():
            ids, sims = models.neighbours_of(seed, self.options.per_seed)
            for post, sim in zip(ids.tolist(), sims.tolist()):
                scores[post] = scores.get(post, 0.0) + sim
                behind.setdefault(post, []).append(seed)
        posts = list(scores)
        return self.propose(ctx, posts, [scores[p] for p in posts], posts=[behind[p][:3] for p in posts],
                            detail=["because you liked"] * len(posts))


class FactorisationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(150, ge=1, description="Posts proposed.")
    recent_items: int = Field(50_000, ge=1, description="Only the newest this many posts are scored.")


class FactorisationSource(Source):
    """Matrix factorisation (``implicit`` ALS): posts liked by users whose likes resemble this user's."""

    name = "factorisation"
    Options = FactorisationOptions

    def fetch(self, ctx) -> Proposals | list:
        models = ctx.index.collaborative
        if models is None or models.factors is None:
            return []
        vector = ctx.user_factors
        if vector is None:
            return []
        posts, items = models.recent_items(self.options.recent_items)
        scores = items @ vector
        n = min(self.options.count, len(scores))
        top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        liked = ctx.positives[:50]
        cols = models.col_of[np.clip(liked, 0, len(models.col_of) - 1)]
        known = (liked < len(models.col_of)) & (cols >= 0)
        liked, liked_factors = liked[known], models.factors.item_factors[cols[known]]
        behind = (liked[np.argsort(-(items[top] @ liked_factors.T), axis=1)[:, :2]].tolist() if len(liked)
                  else [()] * len(top))
        return self.propose(ctx, posts[top], scores[top], posts=behind,
                            detail=["liked by people whose likes resemble yours"] * len(top))
