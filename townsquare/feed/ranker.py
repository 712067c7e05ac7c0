"""The engagement ranker: one calibrated logistic head per engagement kind, combined by weights.

``EngagementModel.predict`` gives P(click), P(like), P(reply), P(repost), P(hide),
P(not interested), P(report) for each candidate; the score is their weighted sum (weights from
``FeedConfig.weights``, the published home-timeline ones by default). Logistic heads are chosen
because they are calibrated, train in seconds on logged interactions, and give exact
per-feature contributions to each head's log-odds (coefficient x standardised value); the
contribution to the combined score is the first-order one, sum over heads of
weight x p(1-p) x coefficient x value. Until a model is trained (``townsquare train ranker``)
a prior with hand-set coefficients serves. Versions live in ``feed_rankers``; the served one is
swapped without a restart (``RankerRegistry``).
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select, update

from townsquare.feed.features import FEATURES
from townsquare.storage.feed_schema import feed_rankers

log = logging.getLogger(__name__)
HEADS = ("click", "like", "reply", "repost", "hide", "not_interested", "report")

# The untrained prior: base rate per head and a few coefficients on raw feature values.
_PRIOR_RATES = {"click": 0.08, "like": 0.04, "reply": 0.005, "repost": 0.004, "hide": 0.01,
                "not_interested": 0.01, "report": 0.0008}
_PRIOR = {
    "click": {"interest_similarity": 2.0, "author_affinity": 0.5, "follows_author": 0.3, "social_proof": 0.4,
              "post_clicks": 0.2, "post_age_hours": -0.15, "negative_similarity": -1.5, "factor_score": 3.0},
    "like": {"interest_similarity": 2.5, "author_affinity": 0.8, "follows_author": 0.5, "social_proof": 0.5,
             "post_likes": 0.2, "author_engagement": 0.3, "post_age_hours": -0.2, "negative_similarity": -2.0,
             "factor_score": 3.0},
    "reply": {"interest_similarity": 1.5, "author_affinity": 0.8, "follows_author": 0.6, "author_follows_user": 0.5,
              "post_replies": 0.2, "post_age_hours": -0.2},
    "repost": {"interest_similarity": 1.5, "author_affinity": 0.4, "post_reposts": 0.3, "post_age_hours": -0.2},
    "hide": {"interest_similarity": -2.0, "negative_similarity": 2.5, "author_affinity": -0.8,
             "post_negative": 0.4, "author_negative": 0.5},
    "not_interested": {"interest_similarity": -2.0, "negative_similarity": 2.5, "author_affinity": -0.8,
                       "post_negative": 0.4, "author_negative": 0.5},
    "report": {"post_negative": 0.6, "author_negative": 0.8, "author_affinity": -0.5},
}


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


@dataclass
class EngagementModel:
    """Logistic heads over standardised features: z = (x - mean) / scale; p = sigmoid(z . coef + intercept)."""

    features: tuple[str, ...]
    heads: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (heads, features)
    intercept: np.ndarray  # (heads,)
    meta: dict = field(default_factory=dict)

    @classmethod
    def prior(cls) -> EngagementModel:
        coef = np.array([[_PRIOR[h].get(f, 0.0) for f in FEATURES] for h in HEADS])
        return cls(FEATURES, HEADS, np.zeros(len(FEATURES)), np.ones(len(FEATURES)), coef,
                   np.array([_logit(_PRIOR_RATES[h]) for h in HEADS]), {"kind": "prior"})

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities, one column per head."""
        logits = self.standardise(x) @ self.coef.T + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))

    def score(self, x: np.ndarray, weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scores, probabilities, per-feature contributions to the score)."""
        p = self.predict(x)
        w = np.array([weights.get(h, 0.0) for h in self.heads])
        gradient = (p * (1 - p) * w) @ self.coef  # d score / d z, per candidate and feature
        return p @ w, p, gradient * self.standardise(x)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, features=np.array(self.features), heads=np.array(self.heads), mean=self.mean,
                 scale=self.scale, coef=self.coef, intercept=self.intercept, meta=np.array(json.dumps(self.meta)))
        return buffer.getvalue()

    def over(self, features: tuple[str, ...]) -> EngagementModel | None:
        """This model on ``features``, a superset of its own: a feature it never saw weighs nothing (a ranker
        trained before the feature existed keeps serving). None when it needs a feature ``features`` lacks."""
        if self.features == features:
            return self
        if not set(self.features) <= set(features):
            return None
        at = [features.index(f) for f in self.features]
        mean, scale, coef = np.zeros(len(features)), np.ones(len(features)), np.zeros((len(self.heads), len(features)))
        mean[at], scale[at], coef[:, at] = self.mean, self.scale, self.coef
        return EngagementModel(features, self.heads, mean, scale, coef, self.intercept, self.meta)

    @classmethod
    def from_bytes(cls, blob: bytes) -> EngagementModel:
        with np.load(io.BytesIO(blob), allow_pickle=False) as d:
            return cls(tuple(str(f) for f in d["features"]), tuple(str(h) for h in d["heads"]), d["mean"],
                       d["scale"], d["coef"], d["intercept"], json.loads(str(d["meta"])))


class RankerRegistry:
    """The served ranker: the newest active version in ``feed_rankers``, re-checked every few seconds."""

    def __init__(self, store, check_interval_s: float = 5.0) -> None:
        self.store, self.check_interval_s = store, check_interval_s
        self._served: tuple[int | None, EngagementModel] = (None, EngagementModel.prior())
        self._checked = -1e18
        self._lock = threading.Lock()

    def current(self) -> tuple[int | None, EngagementModel]:
        if time.monotonic() - self._checked >= self.check_interval_s:
            self._check()
        return self._served

    def _check(self) -> None:
        with self._lock:
            self._checked = time.monotonic()
            with self.store.read() as conn:
                version = conn.execute(select(func.max(feed_rankers.c.version)).where(feed_rankers.c.active)).scalar()
                if version == self._served[0]:
                    return
                if version is None:
                    self._served = (None, EngagementModel.prior())
                    return
                blob = conn.execute(select(feed_rankers.c.blob).where(feed_rankers.c.version == version)).scalar()
            model = EngagementModel.from_bytes(blob).over(FEATURES)
            if model is None:
                log.warning("feed ranker v%s was trained on other features; serving the prior. "
                            "Run `townsquare train ranker` again.", version)
                model = EngagementModel.prior()
            self._served = (version, model)
            log.info("feed ranker v%s now served", version)

    def publish(self, model: EngagementModel, metrics: dict, activate: bool = True) -> int:
        """Store a new version; when ``activate``, every worker serves it within ``check_interval_s``."""
        with self.store.begin() as conn:
            version = conn.execute(feed_rankers.insert().values(
                kind=model.meta.get("kind", "logistic"), active=activate, metrics=metrics,
                blob=model.to_bytes())).inserted_primary_key[0]
        self._checked = -1e18
        return int(version)

    def activate(self, version: int) -> None:
        """Serve ``version`` again (a rollback): newer versions are deactivated."""
        with self.store.begin() as conn:
            conn.execute(update(feed_rankers).where(feed_rankers.c.version > version).values(active=False))
            conn.execute(update(feed_rankers).where(feed_rankers.c.version == version).values(active=True))
        self._checked = -1e18
