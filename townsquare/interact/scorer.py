"""``ResponseScorer``: how well a reply fits a context, from frozen MiniLM vectors.

score(c, r) = scale * r . normalise(W c) + u . r

``c`` is the context vector (the last turn's embedding plus the whole thread's, re-normalised),
``r`` the reply's embedding, ``W`` a learned 384x384 map (identity = plain cosine) and ``u`` a
learned reply prior (what a good reply looks like regardless of context). Trained by
``townsquare train scorer`` on context-reply pairs (see ``scorer_train.py``); shipped as one small
``.npz`` (float16, about 300 KB). Serving is two matrix products in numpy: no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from townsquare.errors import ConfigError
from townsquare.models.base import Embedder, l2_normalise

SCORER_FILE = "response_scorer.npz"


def shipped_scorer_path() -> Path:
    return Path(str(resources.files("townsquare.interact") / "shipped" / SCORER_FILE))


def trained_scorer_path(data_dir: Path) -> Path:
    """A platform's own retrained scorer (``townsquare train scorer --feedback``) overrides the shipped one."""
    return Path(data_dir) / "models" / "interact" / SCORER_FILE


def context_vector(last: np.ndarray, thread: np.ndarray) -> np.ndarray:
    """The context vector from the last turn's and the whole thread's embeddings."""
    total = np.asarray(last, np.float32) + np.asarray(thread, np.float32)
    return l2_normalise(np.atleast_2d(total)).reshape(total.shape)


def context_texts(turns: Sequence[str], window: int = 3) -> tuple[str, str]:
    """``(last turn, last ``window`` turns joined)``: the two texts a context is embedded from."""
    turns = [t for t in turns if t.strip()] or [""]
    return turns[-1], " ".join(turns[-window:])


@dataclass
class ResponseScorer:
    """Bilinear context-reply scorer on unit vectors; ``W = I, u = 0`` is plain cosine."""

    W: np.ndarray
    u: np.ndarray
    scale: float = 1.0
    meta: dict = field(default_factory=dict)

    @classmethod
    def cosine(cls, dim: int = 384) -> ResponseScorer:
        return cls(np.eye(dim, dtype=np.float32), np.zeros(dim, np.float32), 1.0, {"kind": "cosine"})

    @classmethod
    def load(cls, path: Path | None = None, data_dir: Path | None = None) -> ResponseScorer:
        """The scorer at ``path``; else a platform's retrained one in ``data_dir``; else the shipped one."""
        if path is None and data_dir is not None and trained_scorer_path(data_dir).is_file():
            path = trained_scorer_path(data_dir)
        path = Path(path) if path is not None else shipped_scorer_path()
        if not path.is_file():
            raise ConfigError(f"response scorer {path} not found; run `townsquare train scorer` "
                              "to train one, or reinstall townsquare to restore the shipped file")
        with np.load(path, allow_pickle=False) as data:
            meta = {k[5:]: data[k].item() for k in data.files if k.startswith("meta_")}
            return cls(data["W"].astype(np.float32), data["u"].astype(np.float32), float(data["scale"]), meta)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        extra = {f"meta_{k}": np.asarray(v) for k, v in self.meta.items()}
        np.savez_compressed(path, W=self.W.astype(np.float16), u=self.u.astype(np.float16),
                            scale=np.float32(self.scale), **extra)
        return path

    def project(self, contexts: np.ndarray) -> np.ndarray:
        """Contexts mapped into reply space (rows normalised)."""
        return l2_normalise(np.atleast_2d(contexts) @ self.W.T)

    def score(self, context: np.ndarray, replies: np.ndarray) -> np.ndarray:
        """Scores of ``replies`` (n x d) for one context vector (d,)."""
        replies = np.atleast_2d(replies)
        return self.scale * (replies @ self.project(context)[0]) + replies @ self.u

    def score_texts(self, embedder: Embedder, turns: Sequence[str], replies: Sequence[str]) -> np.ndarray:
        """Embed a thread and candidate replies, then score them."""
        last, thread = context_texts(turns)
        vectors = embedder.embed([last, thread, *replies])
        return self.score(context_vector(vectors[0], vectors[1]), vectors[2:])
