"""A small world for the web tests: the demo community in SQLite, embedded with a tiny hashing
embedder (so no model loads), keys for every scope, and an in-process client."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from townsquare.settings import Settings
from townsquare.storage import Store
from townsquare.web import create_app
from townsquare.web.config import WebConfig


class HashEmbedder:
    """Words hashed into 64 dimensions: texts that share words are close. Deterministic, instant."""

    model_id, dim = "test-hash", 64

    def embed(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, int(hashlib.md5(word.strip(".,!?#@").encode()).hexdigest()[:6], 16) % self.dim] += 1.0
            out[i, 0] += 0.01
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_one(self, text):
        return self.embed([text])[0]


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    from townsquare.demo import demo_records
    from townsquare.ingest.embed import embed_posts, embed_users
    from townsquare.ingest.loader import Loader

    path = tmp_path_factory.mktemp("demo") / "townsquare.sqlite"
    store = Store.open(f"sqlite:///{path}")
    Loader(store).load(demo_records(end=datetime.now(UTC).replace(microsecond=0)))  # as `demo load` does
    embed_posts(store, HashEmbedder())
    embed_users(store, HashEmbedder())
    with store.begin() as conn:
        conn.exec_driver_sql("SELECT 1")
    store.engine.dispose()
    with Store.open(f"sqlite:///{path}", migrate=False).engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


class World:
    """An app over a private copy of the demo database, with one key per scope."""

    def __init__(self, folder: Path, demo_db: Path, moderation=None, policy: Path | None = None, **config) -> None:
        config.setdefault("generate_replies", False)
        config.setdefault("moderate_on_ingest", False)
        path = folder / "townsquare.sqlite"
        shutil.copy(demo_db, path)
        self.settings = Settings(data_dir=folder, database_url=f"sqlite:///{path}", safety_policy=policy)
        self.store = Store.open(self.settings.resolved_database_url)
        self.app = create_app(
            self.settings,
            WebConfig(**{"demo": True, **config}),
            store=self.store,
            embedder=HashEmbedder(),
            moderation=moderation,
        )
        self.services = self.app.state.services
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.keys = {
            scope: self.services.keys.create([scope], name=scope)[0]
            for scope in ("ingest", "read", "moderate", "admin")
        }
        self.handles = [
            h
            for (h,) in self.store.engine.connect().exec_driver_sql(
                "SELECT handle FROM users ORDER BY id LIMIT 3"
            )
        ]
        self.user_session = self.services.sessions.create(self.handles[0])[0]
        self.other_session = self.services.sessions.create(self.handles[1])[0]

    def auth(self, secret: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"} if secret else {}


@pytest.fixture(scope="module")
def world(tmp_path_factory, demo_db) -> World:
    world = World(tmp_path_factory.mktemp("web"), demo_db)
    yield world
    world.client.close()
    world.store.close()
