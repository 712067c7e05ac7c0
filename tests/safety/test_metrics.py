"""Metrics on small cases whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from townsquare.safety.metrics import classification_metrics, expected_calibration_error, precision_curve


def test_perfect_predictions():
    y = np.array([0, 1, 1, 2, 0])
    probs = np.eye(3)[y]
    m = classification_metrics(probs, y, ["a", "b", "c"])
    assert m["macro_f1"] == 1.0 and m["accuracy"] == 1.0 and m["auc"] == 1.0
    assert m["ece"] == pytest.approx(0.0)
    assert m["confusion"] == [[2, 0, 0], [0, 2, 0], [0, 0, 1]]
    assert set(m) >= {"macro_f1", "accuracy", "auc", "ece", "per_class", "macro_recall", "weighted_f1"}
    assert m["per_class"]["b"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}


def test_overconfident_scores_have_calibration_error():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    coin = np.where(rng.random(2000) < 0.7, y, 1 - y)     # right 70% of the time
    confident = np.eye(2)[coin] * 0.98 + 0.01              # but says 99%
    honest = np.eye(2)[coin] * 0.4 + 0.3                   # says 70%
    assert expected_calibration_error(confident, y) > 0.25
    assert expected_calibration_error(honest, y) < 0.05


def test_per_class_recall_and_missing_class_auc():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    m = classification_metrics(probs, y, ["no", "yes"])
    assert m["per_class"]["no"]["recall"] == 0.5 and m["per_class"]["yes"]["recall"] == 0.5
    assert m["macro_recall"] == 0.5
    only_one = classification_metrics(probs[:2], y[:2], ["no", "yes"])
    assert only_one["auc"] is None



def test_macro_averages_leave_out_a_label_no_text_has_and_say_so():
    """A file without one of the classifier's labels averaged that label's F1 of 0 in: 0.48 at 0.925 accuracy."""
    y = np.array([0] * 37 + [1] * 3)  # no "maybe" at all
    predicted = np.array([0] * 36 + [1] + [1, 1, 0])
    m = classification_metrics(np.eye(3)[predicted], y, ["no", "yes", "maybe"])
    assert m["accuracy"] == pytest.approx(0.95)
    f1_no, f1_yes = 2 * 36 / (2 * 36 + 1 + 1), 2 * 2 / (2 * 2 + 1 + 1)
    assert m["macro_f1"] == pytest.approx((f1_no + f1_yes) / 2)
    assert m["macro_recall"] == pytest.approx((36 / 37 + 2 / 3) / 2)
    assert m["absent_labels"] == ["maybe"] and "maybe" in m["warning"]
    assert m["per_class"]["maybe"]["support"] == 0  # still shown
    assert "absent_labels" not in classification_metrics(np.eye(2)[y], y, ["no", "yes"])

def test_precision_curve_rises_with_threshold():
    scores = np.linspace(0, 1, 101)
    positive = scores > 0.5
    curve = precision_curve(scores, positive)
    thresholds = [t for t, _, _ in curve]
    assert thresholds == sorted(thresholds)
    assert curve[0][1] < 0.6 and curve[-1][1] == 1.0
    assert all(r <= 1.0 for _, _, r in curve)
