"""Offline evaluation of recommenders: records -> matrices, protocols, metrics, tuning, report.

``run_recommend_eval`` is what ``townsquare eval recommend`` runs.
"""

from townsquare.evaluation.data import InteractionData, interaction_data, read_dataset
from townsquare.evaluation.protocols import PROTOCOLS, Split, cold_item_split, protocol_splits
from townsquare.evaluation.recommend import run_recommend_eval

__all__ = [
    "PROTOCOLS",
    "InteractionData",
    "Split",
    "cold_item_split",
    "interaction_data",
    "protocol_splits",
    "read_dataset",
    "run_recommend_eval",
]
