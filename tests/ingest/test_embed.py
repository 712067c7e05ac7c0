"""Bulk embedding into the store, with the real default embedder."""

from __future__ import annotations

import numpy as np
import pytest

from townsquare.ingest.embed import embed_posts, embed_users
from townsquare.ingest.loader import Loader
from townsquare.ingest.records import PostRecord, UserRecord
from townsquare.models import get_embedder
from townsquare.settings import Settings
from townsquare.storage.store import profile_text


class CountingEmbedder:
    """Passes through to the real embedder and counts the texts that reach it."""

    def __init__(self, inner) -> None:
        self.inner, self.model_id, self.dim, self.texts = inner, inner.model_id, inner.dim, 0

    def embed(self, texts):
        self.texts += len(texts)
        return self.inner.embed(texts)


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    return get_embedder(Settings(data_dir=tmp_path_factory.mktemp("models")))


def world():
    return [UserRecord(id="u1", handle="ada", bio="I bake sourdough", interests=["baking", "chess"]),
            UserRecord(id="u2", handle="bob"),
            PostRecord(id="p1", author="u1", text="My sourdough starter finally doubled overnight"),
            PostRecord(id="p2", author="u2", text="Castled queenside and lost in twelve moves"),
            PostRecord(id="p3", author="u2", text="My sourdough starter finally doubled overnight"),
            PostRecord(id="p4", author="u2", text="gone", deleted=True)]


def test_embeds_once_and_finds_by_meaning(store, embedder):
    Loader(store).load(world())
    counting = CountingEmbedder(embedder)
    assert embed_posts(store, counting) == 3  # the deleted post is left out
    assert counting.texts == 2  # two posts share a text: embedded once
    assert embed_posts(store, counting) == 0 and counting.texts == 2
    query = embedder.embed(["chess opening blunder"])[0]
    found, _ = store.vectors.search_posts(embedder.model_id, query, k=1)
    assert found[0] == store.find_post("p2")["id"]


def test_profiles_embed_bio_and_interests(store, embedder):
    Loader(store).load(world())
    assert embed_users(store, embedder) == 1  # bob has no profile text
    vectors = store.vectors.user_vectors(embedder.model_id, store.find_user("ada")["id"])
    expected = embedder.embed([profile_text("I bake sourdough", ["baking", "chess"])])
    assert vectors.shape == (1, embedder.dim)
    assert float(vectors[0] @ expected[0]) == pytest.approx(1.0, abs=1e-5)
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-5)
