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
        pairs, people = ctx.social_pairs  # (post, person), in the order met
        if not len(pairs):
            return []
        posts, first, group, sizes = np.unique(pairs, return_index=True, return_inverse=True, return_counts=True)
        # A post's score: its people's weights summed in the order met (bincount adds in index order).
        scores = np.bincount(group, weights=1.0 + np.log1p(np.maximum(ctx.affinity_of(people), 0)),
                             minlength=len(posts))
        met = np.argsort(first)  # ties keep the order the posts were met in
        met = met[sizes[met] >= o.min_people]
        top = met[np.argsort(-scores[met], kind="stable")][: o.count]
        by_post = people[np.argsort(group, kind="stable")].tolist()  # each post's people together, in order
        starts = (np.cumsum(sizes) - sizes)[top].tolist()
        counts = sizes[top].tolist()
        return self.propose(ctx, posts[top], scores[top],
                            people=[by_post[at:at + min(n, 10)] for at, n in zip(starts, counts)],
                            detail=[f"engaged with by {n} people you follow" for n in counts])
