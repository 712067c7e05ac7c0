"""Sources that are the same for everyone: trending with time decay, and the newest posts."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from townsquare.feed.candidates import Proposals, Source


class TrendingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(100, ge=1, description="Posts proposed.")
    min_score: float = Field(0.1, ge=0, description=(
        "The least time-decayed engagement that is 'trending now': about one like in the last 20 hours (with "
        "the index's 6-hour half-life), or five views just now. Below it a post is not proposed as trending."))


class TrendingSource(Source):
    """Posts with the most engagement, each engagement fading with a half-life (set on the index)."""

    name = "trending"
    Options = TrendingOptions

    def fetch(self, ctx) -> Proposals | list:
        ids, scores = ctx.index.trending(self.options.count, ctx.now)
        # the top of a quiet week (or of a dataset whose likes are years old) is not "trending now"
        engaged = scores >= self.options.min_score
        ids, scores = ids[engaged], scores[engaged]
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
