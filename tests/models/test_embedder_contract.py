"""Every embedder passes the same assertions: ONNX (default), sentence-transformers (reference),
and the ONNX one behind the cache."""

from __future__ import annotations

import numpy as np
import pytest

from townsquare.models.base import Embedder
from townsquare.models.cache import CachedEmbedder, MemoryEmbeddingCache

TEXTS = [
    "The cat sat on the mat.",
    "Just finished my first marathon, legs are jelly but so happy!!",
    "@user lol same",
    "",
    "Breaking: the central bank raised interest rates by half a point this morning " * 3,
]


@pytest.fixture(params=["onnx", "sentence-transformers", "cached-onnx"])
def embedder(request) -> Embedder:
    if request.param == "onnx":
        return request.getfixturevalue("onnx_embedder")
    if request.param == "sentence-transformers":
        return request.getfixturevalue("st_embedder")
    return CachedEmbedder(request.getfixturevalue("onnx_embedder"), MemoryEmbeddingCache())


def test_shape_dtype_and_unit_length(embedder):
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), embedder.dim) == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_names_the_model(embedder):
    assert embedder.model_id == "sentence-transformers/all-MiniLM-L6-v2"


def test_empty_input_gives_empty_matrix(embedder):
    assert embedder.embed([]).shape == (0, 384)


def test_a_row_does_not_depend_on_its_batch(embedder):
    together = embedder.embed(TEXTS)
    alone = np.stack([embedder.embed([t])[0] for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_similar_texts_are_closer_than_unrelated_ones(embedder):
    cat, kitten, stocks = embedder.embed(["The cat sat on the mat", "A kitten is sitting on a rug",
                                          "Stock markets fell sharply on Tuesday"])
    assert cat @ kitten > cat @ stocks + 0.2


def test_texts_longer_than_the_model_window_are_truncated(embedder):
    vectors = embedder.embed(["word " * 2000, "short"])
    assert np.all(np.isfinite(vectors))


def test_onnx_matches_the_sentence_transformers_reference(onnx_embedder, st_embedder):
    texts = TEXTS + ["Ça va? Très bien, merci 😀", "#MondayMotivation get up and GO"]
    cosine = np.sum(onnx_embedder.embed(texts) * st_embedder.embed(texts), axis=1)
    assert cosine.min() >= 0.999
