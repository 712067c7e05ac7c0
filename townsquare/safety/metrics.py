"""Classification metrics: macro-F1, per-class precision/recall/F1, accuracy, AUC, calibration error.

scikit-learn computes the standard ones; expected calibration error is not in scikit-learn, so
it is written here (top-label ECE with equal-width bins, as in Guo et al. 2017).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: the gap between confidence and accuracy, weighted by bin size."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        chosen = which == b
        if chosen.any():
            total += chosen.mean() * abs(confidence[chosen].mean() - correct[chosen].mean())
    return float(total)


def reliability(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Per confidence bin: mean confidence, accuracy and count (for the reliability plot)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    return [{"confidence": float(confidence[which == b].mean()), "accuracy": float(correct[which == b].mean()),
             "count": int((which == b).sum())} for b in range(bins) if (which == b).any()]


def macro_auc(probs: np.ndarray, y: np.ndarray) -> float | None:
    """ROC AUC (one-vs-rest, macro over classes for more than two); None if a class is missing."""
    present = np.unique(y)
    if len(present) < probs.shape[1] or len(present) < 2:
        return None
    if probs.shape[1] == 2:
        return float(roc_auc_score(y, probs[:, 1]))
    return float(roc_auc_score(y, probs, multi_class="ovr", average="macro"))


def classification_metrics(probs: np.ndarray, y: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Every number ``townsquare eval classify`` reports, as JSON-ready data.

    Keys: ``macro_f1``, ``weighted_f1``, ``macro_recall``, ``accuracy``, ``auc``, ``ece``,
    ``per_class`` (label -> precision, recall, f1, support), ``confusion`` (rows = true label),
    ``labels`` and ``n``.

    Macro-F1 and macro-recall average the labels present in ``y``, as scikit-learn does when it is
    not given the labels (and TweetEval's scorer on its own test sets): a label no text has would
    add an F1 and a recall of 0 that say nothing about the classifier (0.48 macro-F1 at 0.925
    accuracy). Such labels are listed in ``absent_labels``, with a ``warning``; ``per_class`` still
    shows them, with support 0.
    """
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y)
    predicted = probs.argmax(axis=1)
    classes = list(range(len(labels)))
    present = [k for k in classes if (y == k).any()] or classes
    precision, recall, f1, support = precision_recall_fscore_support(
        y, predicted, labels=classes, zero_division=0)
    absent = [labels[k] for k in classes if k not in present]
    extra: dict[str, Any] = {}
    if absent:
        extra = {"absent_labels": absent,
                 "warning": f"no text here has the label(s) {', '.join(absent)}: macro-F1 and macro-recall "
                            f"average the {len(present)} labels present, so they do not compare with a measure "
                            "on data that has every label"}
    return {
        "n": len(y),
        "labels": list(labels),
        "macro_f1": float(f1_score(y, predicted, labels=present, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y, predicted, labels=classes, average="weighted", zero_division=0)),
        "macro_recall": float(np.mean(recall[present])),
        "accuracy": float(accuracy_score(y, predicted)),
        "auc": macro_auc(probs, y),
        "ece": expected_calibration_error(probs, y),
        "per_class": {label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for label, p, r, f, s in zip(labels, precision, recall, f1, support)},
        "confusion": confusion_matrix(y, predicted, labels=classes).tolist(),
        "reliability": reliability(probs, y),
        **extra,
    }


def precision_curve(scores: np.ndarray, positive: np.ndarray, points: int = 50) -> list[tuple[float, float, float]]:
    """(threshold, precision, recall) at up to ``points`` thresholds, from low to high.

    What a policy uses to turn "hide at 90% precision" into a score threshold.
    """
    order = np.argsort(-scores)
    s, pos = scores[order], positive[order].astype(np.float64)
    hits = np.cumsum(pos)
    total = max(pos.sum(), 1.0)
    candidates = np.unique(np.quantile(s, np.linspace(0.0, 0.995, points)))
    curve = []
    for threshold in candidates:
        k = int(np.searchsorted(-s, -threshold, side="right"))  # how many score >= threshold
        if k == 0:
            continue
        curve.append((float(threshold), float(hits[k - 1] / k), float(hits[k - 1] / total)))
    return curve
