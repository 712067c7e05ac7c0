"""Recommendation models behind one small interface (see :mod:`townsquare.recommenders.base`).

``get_recommender("ease", l2=300)`` builds one by name; ``Recommender.load(path)`` reads any saved one.
"""

from townsquare.recommenders.base import Recommender, get_recommender, recommender_names, top_n
from townsquare.recommenders.blend import BlendRecommender, normalise_scores
from townsquare.recommenders.ease import EASERecommender
from townsquare.recommenders.factorization import ALSRecommender, BPRRecommender
from townsquare.recommenders.neighbours import ItemKNNRecommender, RP3BetaRecommender
from townsquare.recommenders.popularity import PopularityRecommender
from townsquare.recommenders.social import SocialRecommender
from townsquare.recommenders.text import TextRecommender, tfidf_item_vectors

__all__ = [
    "ALSRecommender",
    "BPRRecommender",
    "BlendRecommender",
    "EASERecommender",
    "ItemKNNRecommender",
    "PopularityRecommender",
    "RP3BetaRecommender",
    "Recommender",
    "SocialRecommender",
    "TextRecommender",
    "get_recommender",
    "normalise_scores",
    "recommender_names",
    "tfidf_item_vectors",
    "top_n",
]
