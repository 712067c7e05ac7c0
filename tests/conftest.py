"""Test worlds: every test builds its own small one.

``store`` runs a test against every backend: SQLite in a temporary folder, and a real
PostgreSQL with pgvector started once per session through the ``pgserver`` package (each test
gets a fresh database cloned from a migrated template).
"""

from __future__ import annotations

import itertools
import os
import tempfile

import pytest

from townsquare.settings import Settings
from townsquare.storage import Store

_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres_server():
    pgserver = pytest.importorskip("pgserver", reason="pip install 'townsquare[dev]' for PostgreSQL tests")
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    folder = tempfile.mkdtemp(prefix="townsquare-pg-")
    server = pgserver.get_server(folder, cleanup_mode="delete")
    server.psql("CREATE DATABASE townsquare_template;")
    template = Store.open(_database_url(server, "townsquare_template"))
    template.close()
    yield server
    server.cleanup()


def _database_url(server, name: str) -> str:
    uri = server.get_uri()  # postgresql://postgres:@/postgres?host=/tmp/...
    base, _, query = uri.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}?{query}"


@pytest.fixture
def sqlite_store(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 'townsquare.sqlite'}")
    yield store
    store.close()


@pytest.fixture
def postgres_store(postgres_server):
    name = f"townsquare_test_{os.getpid()}_{next(_counter)}"
    postgres_server.psql(f"CREATE DATABASE {name} TEMPLATE townsquare_template;")
    store = Store.open(_database_url(postgres_server, name))
    yield store
    store.close()
    postgres_server.psql(f"DROP DATABASE {name};")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request):
    """The same test on every storage backend."""
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data")
