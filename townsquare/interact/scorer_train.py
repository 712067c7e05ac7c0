"""Train the ``ResponseScorer`` on frozen MiniLM vectors of context-reply groups (torch, training only).

Each group is a context with good replies and, when the data has them, bad ones (DailyDialog++:
5 adversarial + 5 random). Loss: for every good reply, softmax cross-entropy against the group's
bad replies and every reply of the other groups in the batch (in-batch negatives). ``W`` starts
at the identity (plain cosine) and is pulled back towards it (``l2``), so little data cannot
wreck it. Evaluation is k-fold split by context: a context is never scored by a model that saw it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from townsquare.errors import MissingDependencyError
from townsquare.interact.scorer import ResponseScorer, context_texts, context_vector
from townsquare.models.base import Embedder


@dataclass
class GroupVectors:
    """Vectors of n groups: contexts (n, d); good / adversarial / random replies (n, k, d)."""

    contexts: np.ndarray
    good: np.ndarray
    adversarial: np.ndarray
    random: np.ndarray

    def __len__(self) -> int:
        return len(self.contexts)

    def take(self, index: np.ndarray) -> GroupVectors:
        return GroupVectors(self.contexts[index], self.good[index], self.adversarial[index], self.random[index])


def embed_groups(groups: Sequence, embedder: Embedder) -> GroupVectors:
    """Embed every distinct text once; groups need ``context``, ``good``, ``adversarial``, ``random``."""
    texts: dict[str, int] = {}
    for g in groups:
        for text in (*context_texts(g.context), *g.good, *g.adversarial, *g.random):
            texts.setdefault(text, len(texts))
    vectors = embedder.embed(list(texts))

    def rows(replies: Sequence[str], k: int) -> np.ndarray:
        picked = [vectors[texts[r]] for r in replies][:k]
        while len(picked) < k:  # pad short groups by repeating (metrics use the real counts)
            picked.append(picked[-1] if picked else np.zeros(vectors.shape[1], np.float32))
        return np.stack(picked)

    contexts = np.stack([context_vector(*(vectors[texts[t]] for t in context_texts(g.context))) for g in groups])
    k = max(len(groups[0].good), 1)
    return GroupVectors(contexts, np.stack([rows(g.good, k) for g in groups]),
                        np.stack([rows(g.adversarial, k) for g in groups]),
                        np.stack([rows(g.random, k) for g in groups]))


def _torch():
    try:
        import torch
    except ImportError:
        raise MissingDependencyError("torch (only to train the response scorer)",
                                     "pip install 'townsquare[train]'  # or: pip install torch") from None
    return torch


def train_scorer(data: GroupVectors, *, epochs: int = 20, batch: int = 64, lr: float = 1e-2, l2: float = 5e-2,
                 use_context: bool = True, use_prior: bool = True, learn_map: bool = True, hard_weight: float = 1.0,
                 seed: int = 0,
                 log: Callable[[str], None] = lambda _: None) -> ResponseScorer:
    """Fit ``W`` (identity start), ``u`` and the scale; ``use_context=False`` is the reply-only ablation."""
    torch = _torch()
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    d = data.contexts.shape[1]
    C = torch.from_numpy(data.contexts)
    G = torch.from_numpy(data.good)
    N = torch.from_numpy(np.concatenate([data.adversarial, data.random], axis=1))
    W = torch.nn.Parameter(torch.eye(d))
    u = torch.nn.Parameter(torch.zeros(d))
    log_scale = torch.nn.Parameter(torch.tensor(np.log(20.0), dtype=torch.float32))
    params = [u, log_scale] + ([W] if use_context and learn_map else [])
    opt = torch.optim.Adam(params, lr=lr)
    rng = np.random.default_rng(seed)
    eye = torch.eye(d)
    started = time.perf_counter()
    for epoch in range(epochs):
        total = 0.0
        for idx in np.array_split(rng.permutation(len(data)), max(1, len(data) // batch)):
            loss = _batch_loss(torch, C[idx], G[idx], N[idx], W, u if use_prior else None,
                               log_scale, use_context, hard_weight)
            loss = loss + (l2 * ((W - eye) ** 2).sum() if use_context else 0.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
        log(f"epoch {epoch + 1}/{epochs} loss {total:.3f} ({time.perf_counter() - started:.0f}s)")
    scale = float(log_scale.detach().exp()) if use_context else 0.0
    return ResponseScorer(W.detach().numpy().copy(), (u if use_prior else torch.zeros(d)).detach().numpy().copy(),
                          scale, {"kind": "bilinear" if use_context else "reply-only", "epochs": epochs,
                                  "train_contexts": len(data)})


def _batch_loss(torch, C, G, N, W, u, log_scale, use_context, hard_weight=0.0):
    """Each good reply against its own group's bad replies and all other groups' replies."""
    b, k, d = G.shape
    replies = torch.cat([G, N], dim=1).reshape(-1, d)  # (b * (k + m), d)
    per = G.shape[1] + N.shape[1]
    if use_context:
        proj = torch.nn.functional.normalize(C @ W.T, dim=1)
        S = log_scale.exp() * proj @ replies.T  # (b, b*per)
    else:
        S = torch.zeros(b, replies.shape[0])
    if u is not None:
        S = S + (replies @ u)[None, :]
    owner = torch.arange(b).repeat_interleave(per)
    is_good = (owner[None, :] == torch.arange(b)[:, None]) & ((torch.arange(b * per) % per) < k)[None, :]
    neg = S.masked_fill(is_good, float("-inf"))  # every non-good reply of the batch
    neg_lse = torch.logsumexp(neg, dim=1, keepdim=True)  # (b, 1)
    pos = S[is_good].reshape(b, k)
    loss = (torch.logaddexp(pos, neg_lse.expand_as(pos)) - pos).mean()
    if hard_weight:  # each good reply against its own group's bad replies only (adversarial ones matter most)
        own = (owner[None, :] == torch.arange(b)[:, None]) & ~is_good
        own_lse = torch.logsumexp(S.masked_fill(~own, float("-inf")), dim=1, keepdim=True)
        loss = loss + hard_weight * (torch.logaddexp(pos, own_lse.expand_as(pos)) - pos).mean()
    return loss


def ranking_metrics(scorer: ResponseScorer, data: GroupVectors) -> dict[str, float]:
    """Pairwise accuracy good>random and good>adversarial, recall@1 and MRR over the pooled candidates."""
    gr, ga, r1, mrr = [], [], [], []
    for i in range(len(data)):
        cands = np.concatenate([data.good[i], data.adversarial[i], data.random[i]])
        s = scorer.score(data.contexts[i], cands)
        k = len(data.good[i])
        good, adv, rnd = s[:k], s[k:2 * k], s[2 * k:]
        gr.append((good[:, None] > rnd[None, :]).mean())
        ga.append((good[:, None] > adv[None, :]).mean())
        order = np.argsort(-s, kind="stable")
        first_good = int(np.flatnonzero(order < k)[0])
        r1.append(float(first_good == 0))
        mrr.append(1.0 / (first_good + 1))
    return {"good_over_random": float(np.mean(gr)), "good_over_adversarial": float(np.mean(ga)),
            "recall_at_1": float(np.mean(r1)), "mrr": float(np.mean(mrr)), "contexts": len(data)}


def cross_validate(data: GroupVectors, *, folds: int = 5, seed: int = 0, log: Callable[[str], None] = lambda _: None,
                   **train_options) -> dict:
    """Train on k-1 folds of contexts, score the held-out fold; metrics pooled over all held-out contexts."""
    order = np.random.default_rng(seed).permutation(len(data))
    parts = np.array_split(order, folds)
    per_fold, weighted = [], {}
    started = time.perf_counter()
    for f, test in enumerate(parts):
        train = np.concatenate([p for j, p in enumerate(parts) if j != f])
        scorer = train_scorer(data.take(train), seed=seed, **train_options)
        m = ranking_metrics(scorer, data.take(test))
        per_fold.append(m)
        log(f"fold {f + 1}/{folds}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items() if k != "contexts"))
        for key, value in m.items():
            if key != "contexts":
                weighted[key] = weighted.get(key, 0.0) + value * m["contexts"]
    n = sum(m["contexts"] for m in per_fold)
    return {**{k: v / n for k, v in weighted.items()}, "contexts": n, "folds": folds,
            "train_seconds_total": round(time.perf_counter() - started, 1), "per_fold": per_fold}
