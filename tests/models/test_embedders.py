"""What only the ONNX embedder and the cache do: the built graph, batching, caching."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from townsquare.models.cache import CachedEmbedder, MemoryEmbeddingCache, text_key
from townsquare.models.onnx_embedder import OnnxEmbedder, length_sorted_batches


class CountingEmbedder:
    """Records every text that reaches the real embedder."""

    def __init__(self, inner) -> None:
        self.inner, self.model_id, self.dim, self.seen = inner, inner.model_id, inner.dim, []

    def embed(self, texts):
        self.seen += list(texts)
        return self.inner.embed(texts)


def test_cache_embeds_each_distinct_text_once(onnx_embedder):
    counting = CountingEmbedder(onnx_embedder)
    cache = MemoryEmbeddingCache()
    cached = CachedEmbedder(counting, cache)
    first = cached.embed(["a", "b", "a"])
    second = cached.embed(["b", "c"])
    assert counting.seen == ["a", "b", "c"]
    assert len(cache) == 3
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_array_equal(first[1], second[0])
    np.testing.assert_allclose(second, onnx_embedder.embed(["b", "c"]), atol=1e-5)


def test_cache_keys_are_model_and_text_hash(onnx_embedder):
    cache = MemoryEmbeddingCache()
    CachedEmbedder(onnx_embedder, cache).embed(["hello"])
    found = cache.get_many(onnx_embedder.model_id, [text_key("hello")])
    assert list(found) == [text_key("hello")] and len(text_key("hello")) == 64
    assert cache.get_many("another-model", [text_key("hello")]) == {}


def test_graph_is_built_once_and_reused(onnx_embedder, model_cache_dir):
    onnx_embedder.embed(["warm"])
    path = onnx_embedder.graph_path()
    assert path.parent == model_cache_dir and path.is_file()
    built_at = path.stat().st_mtime_ns
    again = OnnxEmbedder(cache_dir=model_cache_dir)
    np.testing.assert_allclose(again.embed(["warm"]), onnx_embedder.embed(["warm"]), atol=1e-6)
    assert path.stat().st_mtime_ns == built_at


@given(st.lists(st.integers(min_value=1, max_value=300), max_size=60),
       st.integers(min_value=300, max_value=5000), st.integers(min_value=1, max_value=64))
def test_batches_cover_every_text_once_within_the_token_budget(lengths, budget, max_batch):
    batches = length_sorted_batches(lengths, budget, max_batch)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= max_batch
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= budget


def test_concurrent_calls_share_one_session_safely(onnx_embedder):
    batches = [["alpha beta", "gamma"], ["delta epsilon zeta eta"], ["theta", "iota kappa", "lambda"]]
    expected = [onnx_embedder.embed(b) for b in batches]
    with ThreadPoolExecutor(max_workers=3) as pool:
        for got, want in zip(pool.map(onnx_embedder.embed, batches), expected):
            np.testing.assert_allclose(got, want, atol=1e-5)


def test_int8_graph_is_a_smaller_quantised_copy_close_to_fp32(onnx_embedder, model_cache_dir):
    texts = ["the city council voted to close the library on sundays", "what a goal in the last minute!!",
             "my sourdough finally rose properly", "you are an absolute clown", "new paper on protein folding",
             "ok", "Breaking: storm warning for the coast tonight, stay inside",
             # paraphrases of the first four: each one's nearest text must stay its pair
             "council decides the public library will shut on sunday", "last-minute winner, what a goal",
             "baked sourdough bread and it rose well this time", "what a clown you are"]
    int8 = OnnxEmbedder(cache_dir=model_cache_dir, int8=True)
    got, want = int8.embed(texts), onnx_embedder.embed(texts)
    assert int8.graph_path() != onnx_embedder.graph_path() and int8.graph_path().name.endswith("-int8.onnx")
    # the layers shrink 4x; the word embeddings (47 MB of the 90) stay fp32
    assert int8.graph_path().stat().st_size < onnx_embedder.graph_path().stat().st_size * 0.7
    cosine = (got * want).sum(axis=1)
    assert cosine.min() > 0.95 and cosine.mean() > 0.98
    assert not np.allclose(got, want, atol=1e-4)  # it is really the quantised graph
    nearest = (got @ got.T - 2 * np.eye(len(texts))).argmax(1)
    assert nearest[:4].tolist() == [7, 8, 9, 10] and nearest[7:].tolist() == [0, 1, 2, 3]
    # each text runs alone, so its vector is the same whatever it is embedded with, on any thread count
    single = OnnxEmbedder(cache_dir=model_cache_dir, int8=True, threads=1)
    np.testing.assert_array_equal(single.embed(texts[::-1])[::-1], got)
    np.testing.assert_array_equal(int8.embed([texts[3]])[0], got[3])


def test_two_workers_building_the_same_graph_at_once_both_succeed(tmp_path, monkeypatch):
    """Two API workers on a fresh data folder build the embedding graph at their first request. Each
    writes its own temporary file and renames it into place: both finish, and the graph is whole.
    (With one shared temporary name, the barrier below made the second rename fail every time.)"""
    import threading

    import onnx

    from townsquare.models.bert_onnx import build_bert_onnx
    from townsquare.models.files import minilm_dir

    both_written = threading.Barrier(2, timeout=60)
    save = onnx.save_model

    def save_then_wait(model, path, *args, **kwargs):
        save(model, path, *args, **kwargs)
        both_written.wait()  # neither renames before both have written

    monkeypatch.setattr(onnx, "save_model", save_then_wait)
    output = tmp_path / "model.onnx"
    with ThreadPoolExecutor(2) as pool:
        built = list(pool.map(lambda _: build_bert_onnx(minilm_dir(), output), range(2)))
    assert built == [output, output]
    assert onnx.load(str(output)).graph.output[0].name == "sentence_embedding"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temporary file left behind


def test_quantising_writes_nothing_beside_the_graph_it_reads(onnx_embedder, tmp_path):
    """Given a path, onnxruntime wrote a shape-inferred copy beside the source under one fixed name and then
    deleted it: two workers quantising the shared cached graph at once broke each other (a QA pass saw
    FileNotFoundError, and the test suite "Failed to find proper ai.onnx domain"). The fixed name is taken
    here by a folder, so quantising through it fails; quantising the loaded graph does not use it."""
    import shutil

    from townsquare.models.bert_onnx import quantize_int8

    onnx_embedder.embed(["builds the graph"])
    source = tmp_path / "model.onnx"
    shutil.copy(onnx_embedder.graph_path(), source)
    (tmp_path / "model-inferred.onnx").mkdir()
    output = quantize_int8(source, tmp_path / "model-int8.onnx")
    assert output.stat().st_size < source.stat().st_size * 0.7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-inferred.onnx", "model-int8.onnx", "model.onnx"]
