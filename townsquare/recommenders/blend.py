"""``BlendRecommender``: a weighted sum of other recommenders' per-user normalised scores.

Each component's scores for a user are put on one scale first (``zscore``: minus the user's
mean over all items, over their standard deviation; ``max``: over the user's largest absolute
score), then summed with the weights. Components are described by ``{"name", "params"}`` so a
blend saves and loads like any other model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from townsquare.errors import InputError
from townsquare.recommenders.base import Recommender, get_recommender

Normalise = Literal["zscore", "max"]


def normalise_scores(scores: np.ndarray, how: Normalise) -> np.ndarray:
    """Each row on a common scale; constant rows become 0."""
    scores = np.asarray(scores, dtype=np.float32)
    if how == "zscore":
        centred = scores - scores.mean(axis=1, keepdims=True)
        return centred / np.maximum(centred.std(axis=1, keepdims=True), 1e-12)
    if how == "max":
        return scores / np.maximum(np.abs(scores).max(axis=1, keepdims=True), 1e-12)
    raise InputError(f"unknown normalisation {how!r}; use zscore or max", field="normalise")


class BlendRecommender(Recommender):
    """sum_c weight_c * normalise(score_c)."""

    name = "blend"

    def __init__(
        self,
        components: Sequence[dict[str, Any]] = (),
        weights: Sequence[float] = (),
        normalise: Normalise = "zscore",
    ) -> None:
        super().__init__()
        if len(components) != len(weights):
            raise InputError(
                f"a blend needs one weight per component: {len(components)} components, "
                f"{len(weights)} weights"
            )
        self.specs = [{"name": c["name"], "params": dict(c.get("params", {}))} for c in components]
        self.weights = [float(w) for w in weights]
        self.normalise = normalise
        self.components: list[Recommender] = [get_recommender(c["name"], **c["params"]) for c in self.specs]

    @classmethod
    def of(
        cls, components: Sequence[Recommender], weights: Sequence[float], normalise: Normalise = "zscore"
    ) -> BlendRecommender:
        """A blend of already fitted components (all fitted on the same interactions)."""
        blend = cls([{"name": c.name, "params": c.params()} for c in components], weights, normalise)
        blend.components = list(components)
        blend.user_items = components[0].user_items if components else None
        return blend

    def params(self) -> dict[str, Any]:
        return {"components": self.specs, "weights": self.weights, "normalise": self.normalise}

    def _fit(self, interactions: sp.csr_matrix, **side: Any) -> None:
        for component in self.components:
            component.fit(interactions, **side)

    def _score(self, user_rows: np.ndarray, user_items: sp.csr_matrix, fresh: bool) -> np.ndarray:
        total = np.zeros(user_items.shape, dtype=np.float32)
        for component, weight in zip(self.components, self.weights, strict=True):
            if weight:
                total += weight * normalise_scores(
                    component._score(user_rows, user_items, fresh), self.normalise
                )
        return total

    def state(self) -> dict[str, np.ndarray]:
        return {
            f"{i}/{key}": value for i, c in enumerate(self.components) for key, value in c.state().items()
        }

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        for i, component in enumerate(self.components):
            prefix = f"{i}/"
            component.user_items = self.user_items
            component.set_state(
                {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
            )
