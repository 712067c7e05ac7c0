"""Trust & safety: classifiers, community policies, the moderation queue.

- ``Classifier.classify(texts) -> ClassifierOutput`` (calibrated probabilities, spans); all text
  classifiers share one encoder pass per text through ``SafetyScorer``.
- ``load_policy(path, scorer.curves()).decide(scores) -> Decision(action, factor, reasons)``.
- ``score_posts(store, post_ids, scorer, policy)`` on ingest; ``list_cases``, ``decide_case``,
  ``appeal_case``, ``export_decisions`` for moderators; ``post_decisions`` and
  ``moderate_candidates`` for the feed; ``ReplySafetyCheck`` for reply suggestions.

Nothing here loads a model at import time.
"""

from townsquare.safety.base import Classifier, ClassifierOutput, Span, TextScores
from townsquare.safety.gate import ReplySafetyCheck, moderate_candidates, post_decisions
from townsquare.safety.policy import Decision, Policy, Reason, load_policy
from townsquare.safety.queue import (
    appeal_case,
    decide_case,
    export_decisions,
    list_cases,
    score_posts,
    unscored_posts,
)
from townsquare.safety.registry import SafetyScorer, classifier_names, load_classifier

__all__ = ["Classifier", "ClassifierOutput", "Decision", "Policy", "Reason", "ReplySafetyCheck", "SafetyScorer",
           "Span", "TextScores", "appeal_case", "classifier_names", "decide_case", "export_decisions", "list_cases",
           "load_classifier", "load_policy", "moderate_candidates", "post_decisions", "score_posts",
           "unscored_posts"]
