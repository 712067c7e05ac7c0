"""Candidate sources, each a small component that says why it proposed a post."""

from townsquare.feed.sources.collaborative import FactorisationSource, ItemItemSource
from townsquare.feed.sources.content import ColdStartSource, InterestSimilaritySource, SteeringSource
from townsquare.feed.sources.network import InNetworkSource, SocialProofSource
from townsquare.feed.sources.popular import FreshSource, TrendingSource

__all__ = ["ColdStartSource", "FactorisationSource", "FreshSource", "InNetworkSource", "InterestSimilaritySource",
           "ItemItemSource", "SocialProofSource", "SteeringSource", "TrendingSource"]
