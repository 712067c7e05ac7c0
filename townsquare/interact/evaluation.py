"""``townsquare eval replies``: the scorer on DailyDialog++ (k-fold by context) and generated suggestions.

Ranking: for each held-out context, rank its 15 candidates; good-over-random, good-over-adversarial,
recall@1, MRR, for plain cosine, the trained scorer and two ablations (reply-only, no reply prior).
Generated suggestions: on a sample of held-out contexts, the suggester's pipeline proposes replies
(generated, retrieved from the training folds' good replies, or both pooled), the fold's scorer
picks the top one; we report how often it is closer (max cosine) to the good references than to
the adversarial ones, its cosine to the good ones, and its score, beside two baselines: the same
three stock replies for every context, and each gold reply against the other golds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from townsquare.errors import BackendError
from townsquare.interact.bank import BankEntry, ResponseBank
from townsquare.interact.candidates import GeneratedSource
from townsquare.interact.scorer import ResponseScorer, context_texts, context_vector
from townsquare.interact.scorer_train import (
    GroupVectors,
    cross_validate,
    embed_groups,
    ranking_metrics,
    train_scorer,
)
from townsquare.interact.voice import VoiceProfile
from townsquare.models.base import Embedder

STOCK_THREE = ("That's great!", "Really? Why?", "I see.")
ABLATIONS = {"trained": {}, "reply_only": {"use_context": False}, "no_reply_prior": {"use_prior": False}}


def ranking_report(data: GroupVectors, folds: int, log: Callable[[str], None]) -> dict:
    out = {"protocol": f"{folds}-fold cross-validation split by context: each context is scored only by a "
                       "scorer trained on the other folds' contexts", "cosine": ranking_metrics(ResponseScorer.cosine(), data)}
    for name, options in ABLATIONS.items():
        log(f"cross-validating {name}")
        result = cross_validate(data, folds=folds, log=log, **options)
        result.pop("per_fold")
        out[name] = result
    return out


def throughput(scorer: ResponseScorer, embedder: Embedder, texts: Sequence[str]) -> dict:
    """Candidates per second, embedding included (what serving pays), on the embedder's threads."""
    ctx = embedder.embed(["How was your weekend?", "How was your weekend? It was great."])
    started = time.perf_counter()
    vectors = embedder.embed(list(texts))
    scorer.score(context_vector(ctx[0], ctx[1]), vectors)
    seconds = time.perf_counter() - started
    return {"candidates": len(texts), "seconds": round(seconds, 3), "candidates_per_s": round(len(texts) / seconds, 1)}


def _closeness(vec: np.ndarray, good: np.ndarray, adv: np.ndarray) -> tuple[bool, float]:
    g, a = float(np.max(good @ vec)), float(np.max(adv @ vec))
    return g > a, g


def generated_report(groups: Sequence, data: GroupVectors, embedder: Embedder, generator, *, folds: int,
                     sample: int, log: Callable[[str], None], seed: int = 0) -> dict:
    """Top-1 suggestion per sampled held-out context, by candidate source, beside the two baselines."""
    order = np.random.default_rng(seed).permutation(len(groups))
    parts = np.array_split(order, folds)
    per_fold = [len(share) for share in np.array_split(np.arange(sample), folds)]  # ``sample`` in all
    rows: dict[str, list[tuple[bool, float, float]]] = {k: [] for k in ("generated", "retrieved", "pooled", "stock_three")}
    gold: list[tuple[bool, float]] = []
    examples = []
    generator_error = None
    stock_vecs = embedder.embed(list(STOCK_THREE))
    for f, test in enumerate(parts):
        train = np.concatenate([p for j, p in enumerate(parts) if j != f])
        scorer = train_scorer(data.take(train))
        bank = ResponseBank.build([BankEntry(" ".join(groups[i].context[-3:]), r) for i in train for r in groups[i].good],
                                  embedder)
        source = GeneratedSource(generator) if generator is not None and generator_error is None else None
        for i in test[:per_fold[f]]:
            g = groups[i]
            good, adv = embedder.embed(g.good), embedder.embed(g.adversarial)
            last, whole = context_texts(g.context)
            cv = embedder.embed([last, whole])
            ctx = context_vector(cv[0], cv[1])
            retrieved = [e.reply for e, _ in bank.search(cv[0], 12)]
            generated = []
            if source is not None:
                try:
                    generated = [c.text for c in source.fetch(list(g.context[-3:]), VoiceProfile())]
                except BackendError as error:  # the rest of the report stands without generated replies
                    generator_error, source = str(error), None
                    log(f"generated suggestions skipped from here on: {error}")
            pick = {}
            for name, texts in (("generated", generated), ("retrieved", retrieved), ("pooled", generated + retrieved)):
                if not texts:
                    continue
                vecs = embedder.embed(texts)
                s = scorer.score(ctx, vecs)
                best = int(np.argmax(s))
                closer, sim = _closeness(vecs[best], good, adv)
                rows[name].append((closer, sim, float(s[best])))
                pick[name] = texts[best]
            s = scorer.score(ctx, stock_vecs)
            best = int(np.argmax(s))
            rows["stock_three"].append((*_closeness(stock_vecs[best], good, adv), float(s[best])))
            for j in range(len(good)):
                others = np.delete(good, j, axis=0)
                gold.append(_closeness(good[j], others, adv))
            if len(examples) < 10:
                examples.append({"context": list(g.context[-3:]), **pick})
        log(f"generated suggestions: fold {f + 1}/{folds} done")
    summary = {name: {"contexts": len(r), "closer_to_good_than_adversarial": _mean([x[0] for x in r]),
                      "cosine_to_good": _mean([x[1] for x in r]), "scorer_score": _mean([x[2] for x in r])}
               for name, r in rows.items() if r}
    summary["gold_vs_other_golds"] = {"replies": len(gold), "closer_to_good_than_adversarial": _mean([x[0] for x in gold]),
                                      "cosine_to_good": _mean([x[1] for x in gold])}
    return {"protocol": "top-1 of each candidate set under the fold's scorer; bank = the training folds' good "
                        "replies retrieved by context similarity", "results": summary, "examples": examples,
            "generator_error": generator_error}


def _mean(values) -> float | None:
    return round(float(np.mean(values)), 4) if len(values) else None


def evaluate_replies(groups: Sequence, embedder: Embedder, *, folds: int = 5, generator=None, sample: int = 50,
                     log: Callable[[str], None] = lambda _: None) -> dict:
    started = time.perf_counter()
    data = embed_groups(groups, embedder)
    log(f"embedded {len(groups)} contexts in {time.perf_counter() - started:.0f}s")
    report = {"dataset": "DailyDialog++ dev", "contexts": len(groups), "ranking": ranking_report(data, folds, log)}
    texts = [r for g in groups[:40] for r, _ in g.candidates()][:600]
    report["scorer_throughput"] = throughput(train_scorer(data), embedder, texts)
    if sample > 0:
        report["generated"] = generated_report(groups, data, embedder, generator, folds=folds, sample=sample, log=log)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report
