"""Matrix factorisation from benfred/implicit (CPU): ``ALSRecommender`` and ``BPRRecommender``.

implicit trains; scoring is plain numpy on the stored factors, so a saved model needs only numpy.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from townsquare.recommenders.base import Recommender

Weighting = Literal["binary", "log", "raw"]


def weigh(matrix: sp.csr_matrix, weighting: Weighting) -> sp.csr_matrix:
    """Interaction values as confidences: all 1, 1 + log(1 + value), or the value itself."""
    out = matrix.copy()
    if weighting == "binary":
        out.data[:] = 1.0
    elif weighting == "log":
        out.data = (1.0 + np.log1p(np.maximum(out.data, 0.0))).astype(np.float32)
    return out


class ALSRecommender(Recommender):
    """Implicit-feedback ALS (Hu, Koren, Volinsky 2008): confidence ``alpha * weight`` on observed items.

    ``members`` > 1 trains that many ALS models from different random starts and averages their
    scores (bagging: less variance from the starting point). Their factors are stored side by
    side, each scaled by 1/members, so scoring stays one matrix product.
    """

    name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 1.0,
        iterations: int = 15,
        weighting: Weighting = "binary",
        members: int = 1,
        seed: int = 0,
        threads: int = 0,
    ) -> None:
        super().__init__()
        self.factors, self.regularization, self.alpha = factors, regularization, alpha
        self.iterations, self.weighting, self.members = iterations, weighting, members
        self.seed, self.threads = seed, threads
        self.user_factors = np.zeros((0, factors * members), np.float32)
        self.item_factors = np.zeros((0, factors * members), np.float32)

    def params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "weighting": self.weighting,
            "members": self.members,
            "seed": self.seed,
            "threads": self.threads,
        }

    def _fit(self, interactions: sp.csr_matrix, **side: Any) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        users, items = [], []
        for member in range(self.members):
            with threadpool_limits(1, "blas"):  # implicit runs its own threads; BLAS threads would fight them
                model = AlternatingLeastSquares(
                    factors=self.factors,
                    regularization=self.regularization,
                    alpha=self.alpha,
                    iterations=self.iterations,
                    random_state=self.seed + 1000 * member,
                    num_threads=self.threads,
                )
                model.fit(weigh(interactions, self.weighting), show_progress=False)
            users.append(np.asarray(model.user_factors, dtype=np.float32) / self.members)
            items.append(np.asarray(model.item_factors, dtype=np.float32))
        self.user_factors = np.ascontiguousarray(np.hstack(users))
        self.item_factors = np.ascontiguousarray(np.hstack(items))

    def _score(self, user_rows: np.ndarray, user_items: sp.csr_matrix, fresh: bool) -> np.ndarray:
        users = self._fold_in(user_items) if fresh else self.user_factors[user_rows]
        return users @ self.item_factors.T

    def _fold_in(self, user_items: sp.csr_matrix) -> np.ndarray:
        """Least-squares user factors for new histories, the same solve ALS does for a user (per member)."""
        confidence = weigh(user_items, self.weighting)
        out = np.zeros((user_items.shape[0], self.item_factors.shape[1]), np.float32)
        for member in range(self.members):
            cols = slice(member * self.factors, (member + 1) * self.factors)
            y = self.item_factors[:, cols].astype(np.float64)
            base = y.T @ y + self.regularization * np.eye(y.shape[1])
            for row in range(user_items.shape[0]):
                lo, hi = confidence.indptr[row], confidence.indptr[row + 1]
                if lo == hi:
                    continue
                items, c = confidence.indices[lo:hi], self.alpha * confidence.data[lo:hi].astype(np.float64)
                yi = y[items]
                a = base + (yi.T * (c - 1.0)) @ yi
                out[row, cols] = np.linalg.solve(a, yi.T @ c) / self.members
        return out

    def state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors, self.item_factors = arrays["user_factors"], arrays["item_factors"]


class BPRRecommender(Recommender):
    """Bayesian personalised ranking (Rendle et al. 2009), SGD over sampled (user, seen, unseen) triples."""

    name = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        seed: int = 0,
        threads: int = 0,
    ) -> None:
        super().__init__()
        self.factors, self.learning_rate, self.regularization = factors, learning_rate, regularization
        self.iterations, self.seed, self.threads = iterations, seed, threads
        self.user_factors = np.zeros((0, factors + 1), np.float32)
        self.item_factors = np.zeros((0, factors + 1), np.float32)

    def params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "learning_rate": self.learning_rate,
            "regularization": self.regularization,
            "iterations": self.iterations,
            "seed": self.seed,
            "threads": self.threads,
        }

    def _fit(self, interactions: sp.csr_matrix, **side: Any) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        with threadpool_limits(1, "blas"):  # implicit runs its own threads
            model = BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=self.learning_rate,
                regularization=self.regularization,
                iterations=self.iterations,
                random_state=self.seed,
                num_threads=self.threads,
            )
            model.fit(weigh(interactions, "binary"), show_progress=False)
        # implicit keeps an item bias in the last column (and 1 in the users' last column)
        self.user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def _score(self, user_rows: np.ndarray, user_items: sp.csr_matrix, fresh: bool) -> np.ndarray:
        if fresh:  # BPR has no closed-form fold-in: a new user is the mean of the items they engaged with
            counts = np.maximum(np.diff(user_items.indptr), 1)[:, None]
            users = (weigh(user_items, "binary") @ self.item_factors) / counts
            users[:, -1] = 1.0
        else:
            users = self.user_factors[user_rows]
        return users @ self.item_factors.T

    def state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors, self.item_factors = arrays["user_factors"], arrays["item_factors"]
