"""``SentenceTransformerEmbedder``: the torch reference (optional extra), loaded from the package folder."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from townsquare.models.base import Embedder, l2_normalise
from townsquare.models.files import SENTENCE_TRANSFORMERS_INSTALL, import_optional, minilm_dir
from townsquare.models.onnx_embedder import MINILM_ID


class SentenceTransformerEmbedder(Embedder):
    """sentence-transformers + torch fp32. Slower and heavier than ``OnnxEmbedder``; the reference."""

    def __init__(self, model: str | Path = "minilm", *, threads: int = 2, batch_size: int = 64,
                 model_id: str | None = None) -> None:
        self.model_dir = minilm_dir(str(model))
        self.threads, self.batch_size = threads, batch_size
        self.model_id = model_id or (MINILM_ID if str(model) == "minilm" else self.model_dir.name)
        self.dim = int(json.loads((self.model_dir / "config.json").read_text())["hidden_size"])
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # load from the folder, never from a hub
                torch = import_optional("torch", "torch (sentence-transformers extra)", SENTENCE_TRANSFORMERS_INSTALL)
                st = import_optional("sentence_transformers", "sentence-transformers", SENTENCE_TRANSFORMERS_INSTALL)
                torch.set_num_threads(self.threads)
                self._model = st.SentenceTransformer(str(self.model_dir), device="cpu")
            return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._load().encode(texts, batch_size=self.batch_size, show_progress_bar=False,
                                      convert_to_numpy=True, normalize_embeddings=True)
        return l2_normalise(vectors)
