"""The demo community (hand-written, ~100 users) and the synthetic generator at benchmark scale."""

from townsquare.demo.community import DEMO_END, DemoCommunity, build_community, demo_labels, demo_records
from townsquare.demo.synthetic import (
    EDGE_FIELDS,
    INTERACTION_FIELDS,
    POST_FIELDS,
    USER_FIELDS,
    synthetic_batches,
    synthetic_records,
)

__all__ = [
    "DEMO_END",
    "EDGE_FIELDS",
    "INTERACTION_FIELDS",
    "POST_FIELDS",
    "USER_FIELDS",
    "DemoCommunity",
    "build_community",
    "demo_labels",
    "demo_records",
    "synthetic_batches",
    "synthetic_records",
]
