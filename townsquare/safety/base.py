"""The classifier interface: texts in, calibrated label probabilities (and spans) out."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from townsquare.models.base import Embedder
from townsquare.safety.features import TextBatch

# A classifier's name, as ``train classifier`` accepts it (also the moderation queue's filter by classifier).
CLASSIFIER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Span:
    """``text[start:end]`` is an instance of ``kind`` (e.g. an email address)."""

    start: int
    end: int
    kind: str
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "kind": self.kind, "text": self.text}


@dataclass
class ClassifierOutput:
    """One classifier's answer for a batch: ``probs[i, j]`` = P(label j | text i)."""

    classifier: str
    labels: list[str]
    probs: np.ndarray
    spans: list[list[Span]] | None = None

    def rows(self) -> list[dict[str, float]]:
        return [{label: round(float(p), 6) for label, p in zip(self.labels, row)} for row in self.probs]

    def top(self) -> list[str]:
        return [self.labels[j] for j in self.probs.argmax(axis=1)]


class Classifier(ABC):
    """A named classifier. ``predict`` reads shared features from a ``TextBatch``."""

    name: str
    labels: list[str]
    version: str = "1"
    encoder: Embedder | None = None
    meta: dict[str, Any]

    @abstractmethod
    def predict(self, batch: TextBatch) -> ClassifierOutput:
        """Calibrated probabilities of each label for every text of the batch."""

    def classify(self, texts: Sequence[str]) -> ClassifierOutput:
        return self.predict(TextBatch(texts, self.encoder))

    def precision_curves(self) -> dict[str, list[tuple[float, float, float]]]:
        """Per label, (threshold, precision, recall) on held-out scores: what policies read."""
        return {label: [tuple(p) for p in curve]
                for label, curve in self.meta.get("precision_curves", {}).items()}

    def card(self) -> dict[str, Any]:
        return {"name": self.name, "labels": self.labels, "version": self.version,
                **{k: v for k, v in self.meta.items() if k != "precision_curves"}}


@dataclass
class TextScores:
    """Every classifier's probabilities for one text, and the spans the span classifiers found."""

    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    spans: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
