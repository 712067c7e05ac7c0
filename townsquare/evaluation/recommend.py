"""``townsquare eval recommend``: tuned baselines and townsquare's blend, side by side, over several seeds.

For each seed: the protocol's splits; every model tunes its grid on the validation split,
is refitted with the winner on the training data and scored on test (accuracy, exposure,
diversity, novelty); then refitted once more without the held-out cold items and scored on
them (cold start). ``townsquare`` is a weighted blend of EASE with an item-text prior (its text
weight tuned around the tuned EASE), a 3-member bag of the tuned ALS, a text model (the tuned
one or a text nearest-neighbour one) and, with a follow graph, the tuned social model; its
weights are tuned on the same validation split. Results are means and standard deviations
over the seeds.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from townsquare.errors import InputError, MissingDependencyError, check_writable_file
from townsquare.evaluation.data import InteractionData, read_dataset
from townsquare.evaluation.metrics import accuracy, beyond_accuracy
from townsquare.evaluation.protocols import PROTOCOLS, Split, cold_item_split, protocol_splits
from townsquare.evaluation.tuning import (
    Tuned,
    blend_grid,
    default_grids,
    eval_rows,
    model_scores,
    rank_model,
    text_ease_grid,
    tune_blend,
    tune_model,
)
from townsquare.recommenders import BlendRecommender, Recommender, get_recommender, tfidf_item_vectors
from townsquare.recommenders.text import text_neighbours

BASELINES = ("popularity", "als", "bpr", "ease", "itemknn", "rp3beta", "text")
BLEND_PARTS = ("ease", "als", "text", "social")  # tuned baselines the blend reuses
ALS_BAG = 3
# The blend's second text option: many neighbours, high power (only close ones count). On
# Last.fm's validation splits it blended better than the text-only model's own best.
BLEND_TEXT = {"neighbours": 100, "power": 3.0}
Progress = Callable[[str], None]


@dataclass
class SeedResult:
    seed: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    cold: dict[str, dict[str, float]] = field(default_factory=dict)
    tuning: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class EvalContext:
    data: InteractionData
    protocol: str
    k: int
    side: dict[str, Any]
    social: bool
    refit: bool
    cold_share: float
    models: tuple[str, ...]
    progress: Progress


def item_vectors(texts: list[str], source: str, embedder: Any = None) -> tuple[np.ndarray, str]:
    """Unit item vectors from the item texts: ``minilm``, ``tfidf`` or both side by side (``minilm+tfidf``).

    ``auto`` is ``minilm+tfidf`` when an embedder is given and loads, else ``tfidf``.
    """
    if source == "auto":
        source = "minilm+tfidf" if embedder is not None else "tfidf"
    parts, names = [], []
    if "minilm" in source:
        if embedder is None:
            raise InputError("item vectors 'minilm' need the embedder (townsquare.models.get_embedder)")
        try:
            parts.append(np.asarray(embedder.embed(texts), dtype=np.float32))
            names.append(getattr(embedder, "model_id", "minilm"))
        except MissingDependencyError:
            if source != "minilm+tfidf":
                raise
    if "tfidf" in source or not parts:
        parts.append(tfidf_item_vectors(texts))
        names.append("tfidf-svd")
    if source not in ("minilm", "tfidf", "minilm+tfidf"):
        raise InputError(f"unknown item vector source {source!r}; use auto, minilm, tfidf or minilm+tfidf")
    vectors = np.hstack(parts) / np.sqrt(len(parts))
    return vectors.astype(np.float32), "+".join(names)


def evaluate(model: Recommender, split: Split, ctx: EvalContext, beyond: bool) -> dict[str, float]:
    """Accuracy (and with ``beyond`` exposure, diversity, novelty) of a fitted model on ``split.test``."""
    rows = eval_rows(split)
    top = rank_model(model, split, rows, ctx.k)
    out = accuracy(top, split.test, rows, ctx.k)
    if beyond:
        out.update(
            beyond_accuracy(top, split.train, ctx.side.get("item_vectors"), ctx.data.item_authors, ctx.k)
        )
    return out


def _fit(kind: str, params: dict[str, Any], train, ctx: EvalContext) -> Recommender:
    return get_recommender(kind, **params).fit(train, **ctx.side)


def _run_baseline(
    kind: str, splits, cold: Split, ctx: EvalContext, result: SeedResult, keep: dict[str, Any]
) -> None:
    start = time.perf_counter()
    grid = default_grids()[kind]
    tuned = tune_model(kind, grid, splits.tune, ctx.side, ctx.k, keep_scores=kind in BLEND_PARTS)
    final = _fit(kind, tuned.params, splits.final.train, ctx)
    result.metrics[kind] = evaluate(final, splits.final, ctx, beyond=True)
    cold_model = _fit(kind, tuned.params, cold.train, ctx)
    result.cold[kind] = evaluate(cold_model, cold, ctx, beyond=False)
    result.tuning[kind] = _tuning_record(tuned, ctx.k)
    result.seconds[kind] = time.perf_counter() - start
    if kind in BLEND_PARTS:
        keep[kind] = (tuned, final, cold_model)
    ctx.progress(f"seed {result.seed}: {kind} ndcg@{ctx.k} {result.metrics[kind][f'ndcg@{ctx.k}']:.4f}")


def _tuning_record(tuned: Tuned, k: int) -> dict[str, Any]:
    return {
        "params": tuned.params,
        f"valid_ndcg@{k}": round(tuned.value, 5),
        "configs": len(tuned.tried),
        "seconds": round(tuned.seconds, 2),
    }


def _run_townsquare(splits, cold: Split, ctx: EvalContext, result: SeedResult, keep: dict[str, Any]) -> None:
    """Tune the blend's weights on validation from the parts' cached scores; score it like any model."""
    start = time.perf_counter()
    bag_params = {**keep["als"][0].params, "members": ALS_BAG}
    rows = eval_rows(splits.tune)
    text_ease = tune_model(
        "ease", text_ease_grid(keep["ease"][0].params["l2"]), splits.tune, ctx.side, ctx.k, keep_scores=True
    )
    scores = {
        "ease": text_ease.scores,
        "als": model_scores(_fit("als", bag_params, splits.tune.train, ctx), rows),
        "text": keep["text"][0].scores,
        "text_knn": model_scores(_fit("text", BLEND_TEXT, splits.tune.train, ctx), rows),
    }
    if ctx.social:
        scores["social"] = keep["social"][0].scores
    final_parts = {
        "ease": _fit("ease", text_ease.params, splits.final.train, ctx),
        "als": _fit("als", bag_params, splits.final.train, ctx),
        "text": keep["text"][1],
        "text_knn": _fit("text", BLEND_TEXT, splits.final.train, ctx),
    }
    cold_parts = {
        "ease": _fit("ease", text_ease.params, cold.train, ctx),
        "als": _fit("als", bag_params, cold.train, ctx),
        "text": keep["text"][2],
        "text_knn": _fit("text", BLEND_TEXT, cold.train, ctx),
    }
    if ctx.social:
        final_parts["social"], cold_parts["social"] = keep["social"][1], keep["social"][2]
    fitted_seconds = time.perf_counter() - start
    variants = {"townsquare": ctx.social} | ({"townsquare_without_social": False} if ctx.social else {})
    for name, with_social in variants.items():
        begin = time.perf_counter()
        grid = blend_grid(with_social)
        tuned = tune_blend(
            {n: s for n, s in scores.items() if with_social or n != "social"}, grid, splits.tune, ctx.k
        )
        for split, parts, target in (
            (splits.final, final_parts, result.metrics),
            (cold, cold_parts, result.cold),
        ):
            names = [n for n, w in tuned.params.items() if w and n in parts]
            blend = BlendRecommender.of([parts[n] for n in names], [tuned.params[n] for n in names])
            target[name] = evaluate(blend, split, ctx, beyond=target is result.metrics)
        result.tuning[name] = _tuning_record(tuned, ctx.k) | {
            "ease": _tuning_record(text_ease, ctx.k),
            "als_members": ALS_BAG,
            "text_knn": BLEND_TEXT,
        }
        result.seconds[name] = fitted_seconds + time.perf_counter() - begin
        ctx.progress(f"seed {result.seed}: {name} ndcg@{ctx.k} {result.metrics[name][f'ndcg@{ctx.k}']:.4f}")


def run_seed(seed: int, ctx: EvalContext) -> SeedResult:
    """Every model on one seed's splits."""
    splits = protocol_splits(ctx.protocol, ctx.data.values, seed, refit=ctx.refit)
    cold = cold_item_split(ctx.data.values, splits.final.train, seed, ctx.cold_share)
    result = SeedResult(seed)
    keep: dict[str, Any] = {}
    kinds = [m for m in ctx.models if m != "townsquare"]
    if "townsquare" in ctx.models:  # the blend reuses tuned baselines, whether or not they are reported
        kinds += [p for p in BLEND_PARTS if p not in kinds and (p != "social" or ctx.social)]
    for kind in kinds:
        _run_baseline(kind, splits, cold, ctx, result, keep)
    if "townsquare" in ctx.models:
        _run_townsquare(splits, cold, ctx, result, keep)
    for kind in [k for k in kinds if k not in ctx.models]:
        for table in (result.metrics, result.cold, result.tuning, result.seconds):
            table.pop(kind, None)
    return result


def run_seeds(ctx: EvalContext, seeds: int, workers: int) -> list[SeedResult]:
    """``run_seed`` for seeds 0..n-1, in parallel processes when ``workers`` > 1 (they report when done)."""
    if workers <= 1:
        return [run_seed(seed, ctx) for seed in range(seeds)]
    quiet = replace(ctx, progress=_silent)
    jobs = [(seed, quiet, max(1, _cpus() // workers)) for seed in range(seeds)]
    results = []
    pool = get_context("spawn").Pool(workers)
    try:
        for result in pool.imap_unordered(_run_seed_limited, jobs):
            results.append(result)
            scores = {name: f"{m[f'ndcg@{ctx.k}']:.4f}" for name, m in result.metrics.items()}
            ctx.progress(f"seed {result.seed} done ({len(results)}/{seeds}): ndcg@{ctx.k} {scores}")
        pool.close()
    except BaseException:  # an error or Ctrl-C: stop the other seeds now
        pool.terminate()
        raise
    finally:
        pool.join()
    return sorted(results, key=lambda r: r.seed)


def _silent(message: str) -> None:
    return None


def _run_seed_limited(job: tuple[int, EvalContext, int]) -> SeedResult:
    seed, ctx, threads = job
    with threadpool_limits(threads):  # the workers share the CPUs: no more BLAS threads than each one's share
        return run_seed(seed, ctx)


def _mean_std(rows: list[dict[str, float]]) -> dict[str, Any]:
    keys = list(rows[0])
    values = {key: np.array([r[key] for r in rows], dtype=np.float64) for key in keys}
    out: dict[str, Any] = {key: round(float(v.mean()), 5) for key, v in values.items()}
    out["std"] = {key: round(float(v.std(ddof=1)) if len(v) > 1 else 0.0, 5) for key, v in values.items()}
    return out


def summarise(seeds: list[SeedResult]) -> dict[str, Any]:
    """One object per model: mean metrics, their std over seeds, cold start, tuning per seed, seconds."""
    models: dict[str, Any] = {}
    for name in seeds[0].metrics:
        entry = _mean_std([s.metrics[name] for s in seeds])
        entry["cold_start"] = _mean_std([s.cold[name] for s in seeds])
        entry["seeds"] = [
            {"seed": s.seed, **{k: round(v, 5) for k, v in s.metrics[name].items()}} for s in seeds
        ]
        entry["tuning"] = [{"seed": s.seed, **s.tuning[name]} for s in seeds]
        entry["seconds"] = round(sum(s.seconds[name] for s in seeds), 1)
        models[name] = entry
    return models


def run_recommend_eval(
    dataset: str,
    path: str | Path,
    protocol: str = "msr",
    *,
    k: int = 10,
    seeds: int = 3,
    out: Path | None = None,
    social: bool | None = None,
    vectors: str = "auto",
    embedder: Any = None,
    models: tuple[str, ...] | None = None,
    cold_share: float = 0.1,
    refit: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Evaluate every model on ``dataset`` (read from ``path``) under ``protocol``; JSON + report to ``out``.

    Seeds run in ``workers`` processes (default: one per CPU, at most one per seed).
    """
    if protocol not in PROTOCOLS:
        raise InputError(
            f"unknown protocol {protocol!r}; protocols: {', '.join(PROTOCOLS)}", field="protocol"
        )
    if seeds < 1 or k < 1 or not 0 < cold_share < 1:
        raise InputError("need seeds >= 1, k >= 1 and 0 < cold_share < 1")
    known = (*BASELINES, "social", "townsquare")
    if unknown := [m for m in models or () if m not in known]:
        raise InputError(f"unknown models {unknown}; models: {', '.join(known)}", field="models")
    if out is not None:
        check_writable_file(out)  # before minutes of work, not after
    say = progress or (lambda message: None)
    started = time.perf_counter()
    data = read_dataset(dataset, str(path))
    say(f"read {data.n_users:,} users, {data.n_items:,} items, {data.values.nnz:,} interactions")
    use_social = _social_switch(data, social)
    vecs, vector_source = item_vectors(data.item_texts, vectors, embedder)
    say(f"item vectors: {vector_source} ({vecs.shape[1]} dims)")
    chosen = tuple(models) if models else BASELINES + (("social",) if use_social else ()) + ("townsquare",)
    widest = max([p.get("neighbours", 0) for p in default_grids()["text"]] + [BLEND_TEXT["neighbours"]])
    side = {
        "item_vectors": vecs,
        "item_neighbours": text_neighbours(vecs, widest, 1.0) if widest else None,
        "social": data.social if use_social else None,
    }  # text neighbours: computed once, shared by every fit
    ctx = EvalContext(data, protocol, k, side, use_social, refit, cold_share, chosen, say)
    per_seed = run_seeds(ctx, seeds, workers or min(seeds, _cpus()))
    result = {
        "dataset": data.summary(),
        "protocol": {
            "name": protocol,
            "description": PROTOCOLS[protocol],
            "k": k,
            "seeds": list(range(seeds)),
            "refit_on_valid": refit if protocol == "recbole" else None,
            "cold_item_share": cold_share,
            "social": use_social,
        },
        "item_vectors": vector_source,
        "models": summarise(per_seed),
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
    }
    if out is not None:
        write_outputs(result, Path(out))
    return result


def _social_switch(data: InteractionData, social: bool | None) -> bool:
    if social and data.social is None:
        raise InputError(f"{data.name} has no follow graph, so --social cannot be used; leave it out")
    return data.social is not None if social is None else social


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def write_outputs(result: dict[str, Any], out: Path) -> list[Path]:
    """The JSON at ``out`` and the HTML + PNG report beside it."""
    from townsquare.evaluation.report import write_report

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return [out, *write_report(result, out)]
