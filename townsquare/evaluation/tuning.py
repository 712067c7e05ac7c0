"""Hyperparameter grids and the search: every model tries its grid on the validation split, best ndcg@k wins.

Every grid has at most ``MAX_GRID`` configurations, so no model is tuned much harder than
another: each baseline gets one grid; townsquare reuses the tuned ALS, text and social models
and tries 6 text weights for its EASE (around the tuned EASE's l2), then at most 8 blend
weightings. Grids span the ranges where each model did well on the validation splits of both
MovieLens-100k and Last.fm (never chosen on test).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from townsquare.evaluation.metrics import accuracy
from townsquare.evaluation.protocols import Split
from townsquare.recommenders import Recommender, get_recommender, normalise_scores
from townsquare.recommenders.base import mask_scores, top_n

MAX_GRID = 16
EASE_MAX_ITEMS = 4000  # the closed-form solve is O(items³); rarer items are left out of it
# implicit's trainers on one thread: BPR's parallel SGD is not reproducible with more, and on a
# shared 2-core machine one thread measured faster than two (OpenMP threads wait on each other)
THREADS = 1


def _product(**axes: Iterable[Any]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]


def default_grids() -> dict[str, list[dict[str, Any]]]:
    """The grid of each baseline kind (recommender name -> list of constructor arguments)."""
    grids = {
        "popularity": [{"cold_neighbours": 20}],
        "als": [
            {"factors": f, "regularization": r, "alpha": a, "iterations": 20, "threads": THREADS}
            for f in (32, 64, 128)
            for r, a in ((20, 2), (20, 8), (48, 8), (60, 16))
        ],
        "bpr": [
            {"factors": f, "learning_rate": lr, "regularization": reg, "iterations": it, "threads": THREADS}
            for f in (64, 128)
            for lr, reg, it in ((0.001, 0.01, 400), (0.001, 0.001, 400), (0.002, 0.01, 200))
        ],
        "ease": [{"l2": l2, "max_items": EASE_MAX_ITEMS} for l2 in (25, 50, 100, 200, 400, 800, 1600)],
        "itemknn": _product(k=(50, 200, 800), shrink=(0, 20, 100)),
        "rp3beta": _product(alpha=(0.5, 0.8, 1.0), beta=(0.2, 0.4, 0.6), k=(200,)),
        "text": [{"neighbours": 0}] + _product(neighbours=(20, 100), power=(1.0, 3.0)),
        "social": _product(power=(0.0, 1.0, 2.0)),
    }
    for name, grid in grids.items():
        assert len(grid) <= MAX_GRID, name
    return grids


def text_ease_grid(l2: float) -> list[dict[str, Any]]:
    """townsquare's EASE with the item-text prior: text weights around the tuned EASE's l2 (and twice it,
    as the text rows regularise too). Items nobody engaged with stay in the model (min_count 0)."""
    return [
        {"l2": scale * l2, "text_weight": w, "min_count": 0, "max_items": EASE_MAX_ITEMS}
        for scale in (1, 2)
        for w in (10.0, 30.0, 100.0)
    ]


def blend_grid(social: bool) -> list[dict[str, float]]:
    """Weights of townsquare's blend, on per-user z-scored parts.

    EASE and ALS count the same (on the validation splits weighting one of them half was no
    better, and a fixed 1:1 leaves less to chance in the choice). Text always takes part (it is
    what scores brand-new items), as one of two text models: the tuned text-only model
    (``text``) or the blend's text neighbours (``text_knn``); then the social model, if any.
    """
    weights = (0.15, 0.3)
    texts = [{"text": w, "text_knn": 0.0} for w in weights] + [{"text": 0.0, "text_knn": w} for w in weights]
    grid = [
        {"ease": 1.0, "als": 1.0, **text, "social": s}
        for text in texts
        for s in ((0.0, 0.15) if social else (0.0,))
    ]
    assert len(grid) <= MAX_GRID
    return grid


@dataclass
class Tuned:
    """What a grid search found: the best parameters, their validation score, and every try."""

    params: dict[str, Any]
    value: float
    tried: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    scores: np.ndarray | None = None  # validation scores of the best configuration (rows = eval users)
    seconds: float = 0.0


def eval_rows(split: Split) -> np.ndarray:
    """Users with at least one item to find."""
    return np.flatnonzero(np.diff(split.test.indptr) > 0)


def rank_scores(scores: np.ndarray, split: Split, rows: np.ndarray, k: int) -> np.ndarray:
    """Top-k ids from dense scores for ``rows``, excluding what the split excludes."""
    return top_n(mask_scores(scores, split.exclude[rows], split.candidates), k)[0]


def model_scores(model: Recommender, rows: np.ndarray, batch: int = 2048) -> np.ndarray:
    parts = [model.score(rows[start : start + batch]) for start in range(0, len(rows), batch)]
    return np.vstack(parts) if parts else np.zeros((0, model.n_items), np.float32)


def rank_model(model: Recommender, split: Split, rows: np.ndarray, k: int, batch: int = 2048) -> np.ndarray:
    """Top-k ids of a fitted model for ``rows``, scored in batches."""
    parts = [
        rank_scores(model.score(rows[s : s + batch]), split, rows[s : s + batch], k)
        for s in range(0, len(rows), batch)
    ]
    return np.vstack(parts) if parts else np.zeros((0, k), np.int64)


def tune_model(
    kind: str,
    grid: list[dict[str, Any]],
    split: Split,
    side: dict[str, Any],
    k: int,
    keep_scores: bool = False,
    on_try: Callable[[str], None] | None = None,
) -> Tuned:
    """Fit every configuration on ``split.train``; keep the one with the best ndcg@k on ``split.test``."""
    start = time.perf_counter()
    rows = eval_rows(split)
    best: Tuned | None = None
    tried = []
    for params in grid:
        model = get_recommender(kind, **params).fit(split.train, **side)
        scores = model_scores(model, rows)
        value = accuracy(rank_scores(scores, split, rows, k), split.test, rows, k)[f"ndcg@{k}"]
        tried.append((params, value))
        if on_try:
            on_try(f"{kind} {params}: ndcg@{k} {value:.4f}")
        if best is None or value > best.value:
            best = Tuned(params, value, scores=scores if keep_scores else None)
    assert best is not None
    best.tried, best.seconds = tried, time.perf_counter() - start
    return best


def tune_blend(
    component_scores: dict[str, np.ndarray], grid: list[dict[str, float]], split: Split, k: int
) -> Tuned:
    """Choose blend weights on validation from the components' cached (per-user normalised) scores."""
    start = time.perf_counter()
    rows = eval_rows(split)
    normalised = {name: normalise_scores(s, "zscore") for name, s in component_scores.items()}
    best: Tuned | None = None
    tried = []
    for weights in grid:
        used = {n: w for n, w in weights.items() if w and n in normalised}
        total = sum(w * normalised[n] for n, w in used.items())
        value = accuracy(rank_scores(total, split, rows, k), split.test, rows, k)[f"ndcg@{k}"]
        tried.append((weights, value))
        if best is None or value > best.value:
            best = Tuned(weights, value)
    assert best is not None
    best.tried, best.seconds = tried, time.perf_counter() - start
    return best
