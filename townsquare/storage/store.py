"""The store: one interface over SQLite (default) and PostgreSQL + pgvector (scale-out).

Everything that reads or writes the database goes through a ``Store``. Dialect differences are
kept to a few places here and in ``vectors.py``; the contract tests run against both.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, Table, bindparam, create_engine, event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from townsquare.errors import ConfigError, MissingDependencyError, NotFoundError
from townsquare.settings import masked_url
from townsquare.storage import schema
from townsquare.storage.schema import (
    edges,
    embedding_cache,
    interactions,
    post_vectors,
    posts,
    user_vectors,
    users,
)

# SQLite allows 32766 bound parameters per statement; keep IN-lists well below it.
_CHUNK = 5000


SQLITE_BUSY_MS = 30_000  # how long a writer waits for another's lock before the database is "busy"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event below decide how transactions start (the documented
    # recipe: pysqlite's own implicit BEGIN can't take the write lock up front).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA cache_size=-200000")  # 200 MB page cache
    cursor.execute("PRAGMA temp_store=MEMORY")
    # Reads through a memory map: no read() call and copy per page. A feed page's lookups of
    # 120 random posts in the 5 GB bench corpus took 0.45 ms instead of 1.0-1.3 ms. SQLite caps
    # the size at its compile-time limit (2 GB in most builds).
    cursor.execute("PRAGMA mmap_size=17179869184")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A write transaction takes the lock at once, so a concurrent writer waits (busy_timeout)
    # instead of failing half-way; reads stay deferred and never block writers (WAL).
    # Straight on the driver's connection: SQLAlchemy's statement machinery cost more than the BEGIN.
    write = conn.get_execution_options().get("townsquare_write", False)
    conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with townsquare's connection settings."""
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ConfigError(f"could not open the database {path}: cannot make its folder {Path(path).parent} "
                                  f"({error.strerror}); choose a folder you can write with --data-dir "
                                  "(TOWNSQUARE_DATA_DIR)") from None
        # Enough pooled connections for every request thread of a worker, so none is opened per
        # request (each new one runs the pragmas and starts with an empty page cache).
        engine = create_engine(url, connect_args={"check_same_thread": False}, pool_size=8, max_overflow=24)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("postgresql+psycopg://"):
        raise ConfigError(f"unsupported database URL {masked_url(url)!r}: use sqlite:///PATH or postgresql://...")
    try:
        import pgvector  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as error:
        raise MissingDependencyError("PostgreSQL support", "pip install 'townsquare[postgres]'") from error
    return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)


def _refuse_newer(config, conn: Connection) -> None:
    """ConfigError when the database's schema revision is one this townsquare does not know: a newer one
    migrated it, and upgrading would fail deep inside Alembic."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config)
    known = {revision.revision for revision in script.walk_revisions()}
    for current in MigrationContext.configure(conn).get_current_heads():
        if current not in known:
            raise ConfigError(f"this database was migrated by a newer townsquare (revision {current}; this one "
                              f"knows up to {script.get_current_head()}): upgrade townsquare")


def _default_value(default) -> Any:
    return default.arg(None) if default.is_callable else default.arg


def text_hash(text_: str) -> str:
    return hashlib.sha256(text_.encode("utf-8")).hexdigest()


def profile_text(bio: str, interests: list[str]) -> str:
    """What a user's profile vector is made from (and its cached embedding keyed by): their bio and the
    topics they gave at sign-up."""
    return ". ".join(part for part in (bio.strip(), ", ".join(interests)) if part)


# Built once: a statement built per call cost more than SQLite's lookup (a feed request makes one).
_USER_BY_ID = select(users).where(users.c.id == bindparam("id")).limit(1)
_USER_BY_NAME = select(users).where((users.c.handle == bindparam("handle"))
                                    | (users.c.external_id == bindparam("external_id"))).limit(1)


def _key_sized(ref: int) -> bool:
    """Whether ``ref`` fits a key column (a 64-bit integer); a longer number names nothing."""
    return -2 ** 63 <= ref < 2 ** 63


class Store:
    """The database: tables from ``schema``, created and upgraded by Alembic migrations."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._thread = threading.local()  # .shared: the connection ``reading`` lends this thread
        from townsquare.storage.vectors import make_vector_search

        self.vectors = make_vector_search(self)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """The store at ``url``, migrated; ConfigError, in one line, when it cannot be reached or opened."""
        engine = make_engine(url)
        try:
            with engine.connect():
                pass
        except (DBAPIError, sqlite3.Error) as error:
            from townsquare.storage.contention import contention

            engine.dispose()
            if contention(error) is not None:  # another writer's lock: the caller says "busy"
                raise
            reason = " ".join(str(getattr(error, "orig", None) or error).split())  # the driver's, on one line
            raise ConfigError(f"could not open the database {masked_url(url)}: {reason}") from None
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    def close(self) -> None:
        self.engine.dispose()

    # -- schema ---------------------------------------------------------------------------
    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` with Alembic (idempotent)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location",
                               str(resources.files("townsquare.storage") / "migrations"))
        on_sqlite = self.dialect == "sqlite"
        with self.engine.connect() as conn:
            if on_sqlite:  # SQLite's way to rebuild a table: foreign keys off (outside a transaction, so on the
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # driver), checked after
            try:
                with conn.begin():
                    config.attributes["connection"] = conn
                    _refuse_newer(config, conn)
                    command.upgrade(config, revision)
                    if on_sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").all()):
                        raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken[:5]}")
            finally:
                if on_sqlite:
                    conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")

    def schema_revision(self) -> str | None:
        with self.engine.connect() as conn:
            try:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except Exception:  # noqa: BLE001 - no table yet
                return None

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed on success, rolled back entirely on any error."""
        with self.engine.connect() as conn:
            conn.execution_options(townsquare_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self, *, fresh: bool = False) -> Iterator[Connection]:
        """A connection to read with: inside ``reading``, the one it lends this thread, unless
        ``fresh`` (a connection of its own, which sees what was committed since)."""
        shared = None if fresh else getattr(self._thread, "shared", None)
        if shared is not None:
            yield shared
            return
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Every ``read`` of this thread inside shares one connection and one snapshot.

        A feed page reads eight times; each ``read`` of its own took a connection from the pool,
        began and ended a transaction: some 60 microseconds on SQLite, about 5% of a demo page.
        On SQLite the reads inside also agree with each other (one read transaction, one snapshot;
        PostgreSQL's READ COMMITTED gives each statement its own). Nested, it lends the outer one.
        """
        if getattr(self._thread, "shared", None) is not None:
            yield
            return
        with self.engine.connect() as conn:
            self._thread.shared = conn
            try:
                yield
            finally:
                self._thread.shared = None

    # -- writes that ignore what already exists -------------------------------------------
    def insert_ignore(self, conn: Connection, table: Table, rows: list[dict[str, Any]],
                      returning: tuple[str, ...] = ()) -> Any:
        """Insert ``rows``, skipping those that conflict with a unique key.

        Returns the ``returning`` columns of the inserted rows, or else how many were inserted.
        """
        if not rows:
            return [] if returning else 0
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = dialect_insert(table).on_conflict_do_nothing()
        if returning:
            statement = statement.returning(*(table.c[name] for name in returning))
            return [tuple(row) for row in conn.execute(statement, rows)]
        if self.dialect == "postgresql":  # psycopg's executemany reports no rowcount: count rows back
            first = next(iter(table.primary_key.columns))
            return len(conn.execute(statement.returning(first), rows).all())
        return self._sqlite_insert_many(conn, table, rows)

    def _sqlite_insert_many(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
        """Bulk INSERT OR IGNORE straight to the driver.

        Written by hand because SQLAlchemy's per-row parameter handling costs more than SQLite's
        insert itself at tens of thousands of rows a second; the columns' own bind processors
        keep the stored values identical to SQLAlchemy's.
        """
        defaults = {c.name: c.default for c in table.columns
                    if c.default is not None and (c.default.is_scalar or c.default.is_callable)}
        missing = [name for name in defaults if name not in rows[0]]
        if missing:  # Python-side column defaults, as SQLAlchemy's own insert would apply them
            rows = [{**row, **{n: _default_value(defaults[n]) for n in missing}} for row in rows]
        names = list(rows[0])
        columns = [table.c[name] for name in names]
        processors = [c.type._cached_bind_processor(self.engine.dialect) for c in columns]
        sql = (f"INSERT OR IGNORE INTO {table.name} ({', '.join(names)}) "
               f"VALUES ({', '.join('?' for _ in names)})")
        params = [tuple(p(row[n]) if p else row[n] for n, p in zip(names, processors)) for row in rows]
        return conn.exec_driver_sql(sql, params).rowcount

    def resolve(self, conn: Connection, table: Table, external_ids: Iterable[str]) -> dict[str, int]:
        """Map external ids to internal keys for the ones that exist."""
        wanted = list(dict.fromkeys(external_ids))
        found: dict[str, int] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            query = select(table.c.external_id, table.c.id).where(table.c.external_id.in_(chunk))
            found.update({ext: key for ext, key in conn.execute(query)})
        return found

    # -- lookups --------------------------------------------------------------------------
    def find_user(self, ref: str | int, conn: Connection | None = None) -> dict[str, Any]:
        """A user by handle (``@ada`` or ``ada``), external id, or internal id."""
        with self._conn(conn) as c:
            if isinstance(ref, int):
                row = c.execute(_USER_BY_ID, {"id": ref}).mappings().first() if _key_sized(ref) else None
            else:
                row = c.execute(_USER_BY_NAME, {"handle": ref.removeprefix("@"), "external_id": ref}).mappings().first()
                if row is None and ref.isascii() and ref.isdigit() and _key_sized(int(ref)):  # "42" from a command line: an internal id
                    row = c.execute(_USER_BY_ID, {"id": int(ref)}).mappings().first()
                if row is None:  # "qa_c2" for @QA_C2: handles are told apart without case
                    row = c.execute(select(users).where(func.lower(users.c.handle) == ref.removeprefix("@").lower())
                                    .limit(1)).mappings().first()
        if row is None:
            raise NotFoundError(f"no user {ref!r}: give a handle, an external id or an internal id")
        return dict(row)

    def find_post(self, ref: str | int, conn: Connection | None = None) -> dict[str, Any]:
        with self._conn(conn) as c:
            column = posts.c.id if isinstance(ref, int) else posts.c.external_id
            row = (c.execute(select(posts).where(column == ref)).mappings().first()
                   if not isinstance(ref, int) or _key_sized(ref) else None)
        if row is None:
            raise NotFoundError(f"no post {ref!r}")
        return dict(row)

    def counts(self) -> dict[str, int]:
        """Row counts per table and per interaction kind: what ``townsquare status`` prints."""
        with self.read() as conn:
            result = {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                      for table in (users, posts, edges, interactions, post_vectors, user_vectors)}
            for kind, n in conn.execute(select(edges.c.kind, func.count()).group_by(edges.c.kind)):
                result[f"edges.{kind}"] = n
            for kind, n in conn.execute(
                    select(interactions.c.kind, func.count()).group_by(interactions.c.kind)):
                result[f"interactions.{kind}"] = n
        return result

    @contextmanager
    def _conn(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.read() as fresh:
                yield fresh

    # -- the embedding cache (the interface townsquare.models.CachedEmbedder expects) ------
    def get_many(self, model_id: str, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self.read() as conn:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                query = select(embedding_cache.c.text_hash, embedding_cache.c.vector).where(
                    embedding_cache.c.model == model_id, embedding_cache.c.text_hash.in_(chunk))
                found.update({h: np.frombuffer(v, dtype=np.float32) for h, v in conn.execute(query)})
        return found

    def put_many(self, model_id: str, items: dict[str, np.ndarray]) -> None:
        rows = [{"model": model_id, "text_hash": h, "vector": np.asarray(v, np.float32).tobytes()}
                for h, v in items.items()]
        with self.begin() as conn:
            for start in range(0, len(rows), _CHUNK):
                self.insert_ignore(conn, embedding_cache, rows[start:start + _CHUNK])


def all_tables() -> list[Table]:
    return list(schema.metadata.sorted_tables)
