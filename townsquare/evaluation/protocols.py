"""Evaluation protocols: how one seed splits the interactions into what models see and what they must find.

Each protocol gives two ``Split``s per seed: ``tune`` (fit on part of the training data, score
on a validation part carved from it: hyperparameters are chosen here, never on test) and
``final`` (fit on the training data, score on test). Models are always given binary
interactions (every engagement a positive), as both published protocols do.

- ``msr``: Microsoft Recommenders' README protocol: per user, a random 75/25 split of their
  items (python_stratified_split); top k excluding train items. Validation: the same 75/25
  split again inside train.
- ``recbole``: RecBole's default (and RecBole-GNN's social benchmark): per user, a random
  8:1:1 split of their items into train/valid/test, full ranking; test excludes train and valid
  items. Validation is RecBole's valid part; ``refit`` (default) fits the final models on
  train + valid, else on train only as RecBole's own trainers do.
- ``cold_items``: brand-new items. A random share of items is held out entirely: every
  interaction with them is removed from the final training data, and each user's interactions
  with them are the test; ranking is among the held-out items only, which no model saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from townsquare.errors import NotFoundError

ProtocolName = Literal["msr", "recbole"]
PROTOCOLS: dict[str, str] = {
    "msr": "Microsoft Recommenders: per-user random 75/25 split, top-k excluding train items",
    "recbole": "RecBole / RecBole-GNN: per-user random 8:1:1 train/valid/test split, full ranking",
}


@dataclass
class Split:
    """Fit on ``train``; find ``test``; never recommend ``exclude``; rank only ``candidates`` when given."""

    train: sp.csr_matrix
    test: sp.csr_matrix
    exclude: sp.csr_matrix
    candidates: np.ndarray | None = None


@dataclass
class SeedSplits:
    seed: int
    tune: Split
    final: Split


def binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    out.data[:] = 1.0
    return out


def _per_user_parts(matrix: sp.csr_matrix, rng: np.random.Generator, counts_of) -> list[sp.csr_matrix]:
    """Shuffle each user's items and cut them into consecutive parts of ``counts_of(n)`` sizes."""
    matrix = binary(matrix)
    n_parts = len(counts_of(10))
    parts_rows: list[list[np.ndarray]] = [[] for _ in range(n_parts)]
    parts_cols: list[list[np.ndarray]] = [[] for _ in range(n_parts)]
    for user in range(matrix.shape[0]):
        items = matrix.indices[matrix.indptr[user] : matrix.indptr[user + 1]]
        if len(items) == 0:
            continue
        shuffled = rng.permutation(items)
        for part, chunk in enumerate(np.split(shuffled, np.cumsum(counts_of(len(items)))[:-1])):
            parts_rows[part].append(np.full(len(chunk), user))
            parts_cols[part].append(chunk)
    out = []
    for rows, cols in zip(parts_rows, parts_cols, strict=True):
        r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        part = sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=matrix.shape)
        part.sort_indices()
        out.append(part)
    return out


def stratified_counts(ratio: float):
    """Microsoft Recommenders' python_stratified_split sizes: round(ratio * n) to train, the rest to test."""

    def counts(n: int) -> list[int]:
        first = round(ratio * n)  # Python rounds half to even, as the pandas-based original does
        return [first, n - first]

    return counts


def recbole_counts(ratios: tuple[float, ...] = (0.8, 0.1, 0.1)):
    """RecBole's ``_calcu_split_ids``: int(r * n) for valid and test, the rest to train; a part that would be
    empty (0 < r * n < 1) gets one item while train keeps more than one."""

    def counts(n: int) -> list[int]:
        cnt = [int(r * n) for r in ratios]
        cnt[0] = n - sum(cnt[1:])
        for i in range(1, len(ratios)):
            if cnt[0] <= 1:
                break
            if 0 < ratios[-i] * n < 1:
                cnt[-i] += 1
                cnt[0] -= 1
        return cnt

    return counts


def msr_splits(values: sp.csr_matrix, seed: int) -> SeedSplits:
    rng = np.random.default_rng(seed)
    train, test = _per_user_parts(values, rng, stratified_counts(0.75))
    fit, valid = _per_user_parts(train, rng, stratified_counts(0.75))
    return SeedSplits(seed, Split(fit, valid, fit), Split(train, test, train))


def recbole_splits(values: sp.csr_matrix, seed: int, refit: bool = True) -> SeedSplits:
    rng = np.random.default_rng(seed)
    train, valid, test = _per_user_parts(values, rng, recbole_counts())
    seen = (train + valid).tocsr()
    return SeedSplits(seed, Split(train, valid, train), Split(seen if refit else train, test, seen))


def protocol_splits(protocol: str, values: sp.csr_matrix, seed: int, *, refit: bool = True) -> SeedSplits:
    """The ``tune`` and ``final`` splits of ``protocol`` for one seed."""
    if protocol == "msr":
        return msr_splits(values, seed)
    if protocol == "recbole":
        return recbole_splits(values, seed, refit)
    raise NotFoundError(
        f"No evaluation protocol called {protocol!r}. Protocols: "
        + "; ".join(f"{k} ({v})" for k, v in PROTOCOLS.items())
    )


def cold_item_split(values: sp.csr_matrix, train: sp.csr_matrix, seed: int, share: float = 0.1) -> Split:
    """Hold out ``share`` of the items that have interactions: ``train`` without them; test: all of theirs."""
    rng = np.random.default_rng([seed, 7919])
    active = np.flatnonzero(np.bincount(values.indices, minlength=values.shape[1]) > 0)
    cold = np.sort(rng.choice(active, size=max(1, round(share * len(active))), replace=False))
    is_cold = np.zeros(values.shape[1], dtype=bool)
    is_cold[cold] = True
    warm_train = binary(train) @ sp.diags((~is_cold).astype(np.float32))
    test = binary(values) @ sp.diags(is_cold.astype(np.float32))
    warm_train, test = sp.csr_matrix(warm_train), sp.csr_matrix(test)
    warm_train.eliminate_zeros()
    test.eliminate_zeros()
    return Split(warm_train, test, warm_train, candidates=cold)
