"""Sources that are the same for everyone: trending with time decay, and the newest posts."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from townsquare.feed.candidates import Proposals, Source


class TrendingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(100, ge=1, description="Posts proposed.")


class TrendingSource(Source):
    """Posts with the most engagement, each engagement fading with a half-life (set on the index)."""

    name = "trending"
    Options = TrendingOptions

    def fetch(self, ctx) -> Proposals | list:
        ids, scores = ctx.index.trending(self.options.count, ctx.now)
        return self.propose(ctx, ids, scores, detail=["trending"] * len(ids))


class FreshOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(50, ge=1, description="Newest posts proposed.")
    window_minutes: float = Field(60.0, gt=0, description="Only posts this new.")


class FreshSource(Source):
    """The newest posts, so a post is recommendable the moment its row is committed."""

    name = "fresh"
    Options = FreshOptions

    def fetch(self, ctx) -> Proposals | list:
        index, o = ctx.index, self.options
        ids = index.newest(o.count)
        age = ctx.now - index.post_time[ids]
        ids, age = ids[age <= o.window_minutes * 60], age[age <= o.window_minutes * 60]
        scores = np.exp(-np.maximum(age, 0) / (o.window_minutes * 60))
        return self.propose(ctx, ids, scores, detail=["new"] * len(ids))
