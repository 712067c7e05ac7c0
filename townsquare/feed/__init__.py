"""The For-you feed: candidate sources, feature hydrators, a multi-task ranker, filters, selectors.

Read ``pipeline.py`` top to bottom for the shape; ``ForYouFeed`` (``service.py``) serves it.
"""

from townsquare.feed.candidates import Adjustment, Candidate, Reason, Source
from townsquare.feed.config import ComponentSpec, EngagementWeights, FeedConfig
from townsquare.feed.filters import Filter, FilterResult, ModerationProvider, ModerationVerdict
from townsquare.feed.index import FeedIndex
from townsquare.feed.pipeline import FeedPipeline
from townsquare.feed.ranker import EngagementModel, RankerRegistry
from townsquare.feed.scorers import Scorer
from townsquare.feed.selectors import Selector
from townsquare.feed.service import FeedPage, ForYouFeed
from townsquare.feed.steering import parse_steering

__all__ = ["Adjustment", "Candidate", "ComponentSpec", "EngagementModel", "EngagementWeights", "FeedConfig",
           "FeedIndex", "FeedPage", "FeedPipeline", "Filter", "FilterResult", "ForYouFeed", "ModerationProvider",
           "ModerationVerdict", "RankerRegistry", "Reason", "Scorer", "Selector", "Source", "parse_steering"]
