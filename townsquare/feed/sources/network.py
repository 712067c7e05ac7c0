"""In-network sources: what the people you follow posted, and what they engaged with."""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from townsquare.feed.candidates import Proposals, Source
from townsquare.feed.index import REPOST


class InNetworkOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_author: int = Field(10, ge=1, description="Newest posts taken from each followed account.")
    max_authors: int = Field(500, ge=1, description="Followed accounts read, most engaged-with first.")
    half_life_hours: float = Field(24.0, gt=0, description="Recency decay of the source's score.")


class InNetworkSource(Source):
    """Recent posts of the people the user follows, weighted by how much the user engages with each.

    A repost proposes the original post, with the reposter as the person behind it.
    """

    name = "in_network"
    Options = InNetworkOptions

    def fetch(self, ctx) -> Proposals | list:
        o, index = self.options, ctx.index
        follows = ctx.relations.follows
        affinity = ctx.affinity_of(follows)
        order = np.argsort(-affinity, kind="stable")[: o.max_authors]
        posts, counts = index.recent_posts_by(follows[order], o.per_author)
        if not len(posts):
            return []
        people = np.repeat(follows[order], counts)
        weights = np.repeat(1.0 + np.log1p(np.maximum(affinity[order], 0.0)), counts)
        original = index.post_repost_of[posts]
        reposted = (index.post_flags[posts] & REPOST).astype(bool) & (original >= 0)
        posts = np.where(reposted, original, posts)
        age_h = np.maximum(ctx.now - index.post_time[posts], 0) / 3600
        scores = weights * np.exp(-age_h * math.log(2) / o.half_life_hours)
        details = ["reposted by them" if r else "posted by someone you follow" for r in reposted.tolist()]
        return self.propose(ctx, posts, scores, people=people[:, None].tolist(), detail=details)


class SocialProofOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(200, ge=1, description="Most posts proposed.")
    min_people: int = Field(1, ge=1, description="Followed people who must have engaged.")


class SocialProofSource(Source):
    """Posts that people the user follows liked, replied to or reposted this week ("liked by 3 people you follow")."""

    name = "social_proof"
    Options = SocialProofOptions

    def fetch(self, ctx) -> Proposals | list:
        o = self.options
        found = [(post, people) for post, people in ctx.social.items() if len(people) >= o.min_people]
        if not found:
            return []
        posts = np.array([p for p, _ in found], np.int64)
        people = [people for _, people in found]
        everyone = np.unique(np.concatenate([np.asarray(p, np.int64) for p in people]))
        weight = dict(zip(everyone.tolist(), (1.0 + np.log1p(np.maximum(ctx.affinity_of(everyone), 0))).tolist()))
        scores = np.array([sum(weight[p] for p in group) for group in people])
        top = np.argsort(-scores, kind="stable")[: o.count]
        return self.propose(ctx, posts[top], scores[top], people=[people[i][:10] for i in top.tolist()],
                            detail=[f"engaged with by {len(people[i])} people you follow" for i in top.tolist()])
