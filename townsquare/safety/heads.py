"""``LinearHead``: a calibrated linear classifier over shared encoder vectors and hashed n-grams.

A head is a few arrays: dense weights over the encoder vector, optional weights over the six
lexicon scores, sparse weights over the n-grams it kept, a bias and a temperature.
Probabilities are ``softmax(logits / temperature)``, with the temperature fitted on held-out
scores so that they are calibrated. Heads are saved as small ``.npz`` files whose metadata holds
the labels, metrics and precision curve (the model card), beside a 32-bit hash of every text the
head was fitted or calibrated on (``seen``), so that an evaluation can say when it is in-sample.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from townsquare.errors import ConfigError, NotFoundError
from townsquare.models.files import private_tmp
from townsquare.safety.features import LEXICON_FEATURES, NGRAM_DIM, TextBatch


@dataclass
class LinearHead:
    """Logits = vectors @ dense + lexicon @ lexicon_weights + ngrams[:, index] @ ngram_weights + bias;
    probs = softmax(logits / T)."""

    labels: list[str]
    dense: np.ndarray | None            # (dim, k)
    bias: np.ndarray                    # (k,)
    ngram_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ngram_weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    temperature: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)
    lexicon_weights: np.ndarray | None = None  # (len(LEXICON_FEATURES), k)
    seen: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))  # text_keys of its training texts

    def seen_share(self, texts: Sequence[str]) -> float:
        """The share of ``texts`` this head was fitted or calibrated on (0 for a head saved without ``seen``)."""
        return float(np.isin(_keys(texts), self.seen).mean()) if len(texts) and len(self.seen) else 0.0

    @property
    def uses_ngrams(self) -> bool:
        return len(self.ngram_index) > 0

    def logits(self, batch: TextBatch) -> np.ndarray:
        out = np.tile(self.bias.astype(np.float32), (len(batch), 1))
        if self.dense is not None:
            out += batch.vectors @ self.dense.astype(np.float32)
        if self.lexicon_weights is not None:
            out += batch.lexicon @ self.lexicon_weights
        if self.uses_ngrams:
            out += np.asarray(batch.ngrams[:, self.ngram_index] @ self.ngram_weights.astype(np.float32))
        return out

    def predict_proba(self, batch: TextBatch) -> np.ndarray:
        return softmax(self.logits(batch) / self.temperature)

    # -- files ----------------------------------------------------------------------------
    def save(self, path: Path) -> Path:
        """Write the head to ``path`` through a temporary file beside it, replaced onto it at the end: a
        process stopped half way leaves the head that was there (or none), never a damaged one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {**self.meta, "labels": self.labels, "temperature": self.temperature}
        arrays = {"bias": self.bias.astype(np.float32), "ngram_index": self.ngram_index.astype(np.int32),
                  "ngram_weights": self.ngram_weights.astype(np.float16), "seen": self.seen.astype(np.uint32)}
        if self.dense is not None:
            arrays["dense"] = self.dense.astype(np.float16)
        if self.lexicon_weights is not None:
            arrays["lexicon_weights"] = self.lexicon_weights.astype(np.float32)
        tmp = private_tmp(path)
        try:
            with tmp.open("wb") as handle:  # a handle: given a name, numpy would add ".npz" to it
                np.savez_compressed(handle, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: Path) -> LinearHead:
        if not path.is_file():
            raise NotFoundError(f"classifier head {path} not found")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                return cls(labels=list(meta.pop("labels")), dense=data["dense"].astype(np.float32)
                           if "dense" in data.files else None, bias=data["bias"].astype(np.float32),
                           ngram_index=data["ngram_index"].astype(np.int64),
                           ngram_weights=data["ngram_weights"].astype(np.float32),
                           temperature=float(meta.pop("temperature")), meta=meta,
                           lexicon_weights=data["lexicon_weights"].astype(np.float32)
                           if "lexicon_weights" in data.files else None,
                           seen=data["seen"] if "seen" in data.files else np.zeros(0, np.uint32))
        # an empty file is an EOFError, which the command line would print as a bare "Aborted."
        except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as error:
            reason = (str(error).splitlines() or [type(error).__name__])[0].split(". ")[0][:100]
            raise ConfigError(
                f"classifier head {path} is damaged or not a head file ({reason}); train it again (`townsquare "
                f"train classifier {path.stem} --data FILE`) or remove the file") from None


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """Sorted unique 32-bit keys of texts, which ignore case and runs of white space. Against the 25,000
    texts of a big training file, a new text matches one by chance about once in 170,000."""
    return np.unique(_keys(texts))


def _keys(texts: Sequence[str]) -> np.ndarray:
    keys = (int.from_bytes(hashlib.blake2b(" ".join(t.split()).casefold().encode(), digest_size=4).digest(), "little")
            for t in texts)
    return np.fromiter(keys, np.uint32, len(texts))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises held-out log loss (grid then golden-section refinement)."""
    def nll(t: float) -> float:
        p = softmax(logits / t)
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 60))
    best = float(grid[int(np.argmin([nll(t) for t in grid]))])
    lo, hi = best / 1.15, best * 1.15
    for _ in range(30):
        a, b = lo + 0.382 * (hi - lo), lo + 0.618 * (hi - lo)
        lo, hi = (lo, b) if nll(a) < nll(b) else (a, hi)
    return (lo + hi) / 2


def head_from_sklearn(model, labels: list[str], dim: int, use_vectors: bool, keep_ngrams: int,
                      columns: np.ndarray | None = None, use_lexicon: bool = False) -> LinearHead:
    """Turn a fitted LogisticRegression over [vectors | lexicon | ngrams] (see ``design_matrix``)
    into a LinearHead.

    ``columns`` maps the model's n-gram columns back to hashed n-gram ids (see ``design_matrix``).
    Keeps the ``keep_ngrams`` n-gram weights of largest magnitude, so that the file stays small.
    """
    coef, intercept = np.asarray(model.coef_, np.float64), np.asarray(model.intercept_, np.float64)
    if coef.shape[0] == 1:  # binary: class 1 against class 0
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.array([0.0, intercept[0]])
    dim = dim if use_vectors else 0
    dense = coef[:, :dim].T.astype(np.float32) if use_vectors else None
    lexicon_end = dim + (len(LEXICON_FEATURES) if use_lexicon else 0)
    lexicon = coef[:, dim:lexicon_end].T.astype(np.float32) if use_lexicon else None
    ngram = coef[:, lexicon_end:]
    index = np.zeros(0, np.int64)
    weights = np.zeros((0, len(labels)), np.float32)
    if ngram.shape[1] and keep_ngrams:
        strength = np.abs(ngram).max(axis=0)
        chosen = np.argsort(-strength)[:keep_ngrams]
        chosen = chosen[strength[chosen] > 0]
        hashed = columns[chosen] if columns is not None else chosen
        order = np.argsort(hashed)
        index, weights = hashed[order].astype(np.int64), ngram[:, chosen[order]].T.astype(np.float32)
    return LinearHead(labels=labels, dense=dense, bias=intercept.astype(np.float32),
                      ngram_index=index, ngram_weights=weights, lexicon_weights=lexicon)


def design_matrix(batch: TextBatch, use_vectors: bool, use_ngrams: bool,
                  use_lexicon: bool = False) -> tuple[sparse.csr_matrix | np.ndarray, np.ndarray | None]:
    """The matrix a head's logistic regression is trained on, [vectors | lexicon | n-grams] as
    asked, and which hashed n-gram each n-gram column is: only the n-grams present in ``batch``
    get a column, which keeps the optimisation small (2^20 mostly empty columns would dominate
    its cost)."""
    dense = ([batch.vectors] if use_vectors else []) + ([batch.lexicon] if use_lexicon else [])
    if not use_ngrams:
        return np.hstack(dense) if len(dense) > 1 else dense[0], None
    ngrams = batch.ngrams.tocsc()
    # n-grams seen in one text only cannot generalise; on large sets they are most of the columns
    least = 2 if len(batch) >= 1000 else 1
    columns = np.flatnonzero(np.diff(ngrams.indptr) >= least)
    present = ngrams[:, columns].tocsr()
    if not dense:
        return present, columns
    return sparse.hstack([sparse.csr_matrix(np.hstack(dense)), present], format="csr"), columns


__all__ = ["NGRAM_DIM", "LinearHead", "design_matrix", "fit_temperature", "head_from_sklearn", "softmax"]
