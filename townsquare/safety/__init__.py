"""Trust & safety: classifiers, community policies, the moderation queue.

- ``Classifier.classify(texts) -> ClassifierOutput`` (calibrated probabilities, spans); all text
  classifiers share one encoder pass per text through ``SafetyScorer``.
- ``load_policy(path, scorer.curves()).decide(scores) -> Decision(action, factor, reasons)``.
- ``score_posts(store, post_ids, scorer, policy)`` on ingest (``redecide_posts(store, policy)``
  after a policy edit, from the stored scores); ``list_cases``, ``decide_case``,
  ``appeal_case``, ``export_decisions`` for moderators; ``post_decisions`` and
  ``moderate_candidates`` for the feed; ``ReplySafetyCheck`` for reply suggestions.

Importing the package loads nothing: each name comes from its module on first use, so that a
command that only reads the queue does not pay for scikit-learn and onnxruntime (seconds).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_MODULE_OF = {
    "Classifier": "base", "ClassifierOutput": "base", "Span": "base", "TextScores": "base",
    "ReplySafetyCheck": "gate", "moderate_candidates": "gate", "post_decisions": "gate",
    "Decision": "policy", "Policy": "policy", "Reason": "policy", "load_policy": "policy",
    "appeal_case": "queue", "decide_case": "queue", "export_decisions": "queue", "list_cases": "queue",
    "redecide_posts": "queue", "score_posts": "queue", "unscored_posts": "queue",
    "SafetyScorer": "registry", "classifier_names": "registry", "load_classifier": "registry",
}
__all__ = ["Classifier", "ClassifierOutput", "Decision", "Policy", "Reason", "ReplySafetyCheck", "SafetyScorer",
           "Span", "TextScores", "appeal_case", "classifier_names", "decide_case", "export_decisions", "list_cases",
           "load_classifier", "load_policy", "moderate_candidates", "post_decisions", "redecide_posts",
           "score_posts", "unscored_posts"]


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'townsquare.safety' has no attribute {name!r}")
    value = getattr(import_module(f"townsquare.safety.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from townsquare.safety.base import Classifier, ClassifierOutput, Span, TextScores
    from townsquare.safety.gate import ReplySafetyCheck, moderate_candidates, post_decisions
    from townsquare.safety.policy import Decision, Policy, Reason, load_policy
    from townsquare.safety.queue import (
        appeal_case,
        decide_case,
        export_decisions,
        list_cases,
        redecide_posts,
        score_posts,
        unscored_posts,
    )
    from townsquare.safety.registry import SafetyScorer, classifier_names, load_classifier
