"""The social data model: every table townsquare stores, as SQLAlchemy Core tables.

Internal keys are integers; the ids a platform brings are kept as ``external_id`` beside them.
Alembic migrations in ``townsquare/storage/migrations`` create exactly these tables; a test
checks that the migrations and this module agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# BigInteger primary keys that are still SQLite rowid aliases.
Key = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None and value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        if value is not None and dialect.name == "sqlite":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class VectorType(TypeDecorator):
    """A float32 vector: pgvector's ``vector`` on PostgreSQL, raw float32 bytes elsewhere."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            from pgvector.sqlalchemy import VECTOR

            return dialect.type_descriptor(VECTOR())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        array = np.asarray(value, dtype=np.float32)
        return array if dialect.name == "postgresql" else array.tobytes()

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, (bytes, memoryview)):
            return np.frombuffer(value, dtype=np.float32)
        return np.asarray(value, dtype=np.float32)


def _now() -> datetime:
    return datetime.now(UTC)


users = Table(
    "users", metadata,
    Column("id", Key, primary_key=True),
    Column("external_id", String(256), nullable=False, unique=True),
    Column("handle", String(64), nullable=False, unique=True),
    Column("display_name", String(128), nullable=False, default=""),
    Column("bio", Text, nullable=False, default=""),
    Column("language", String(16), nullable=False, default="en"),
    Column("interests", JSON, nullable=False, default=list),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
)
# Handles are told apart without case (the loader refuses "Ada" beside "ada", a lookup of "ada" finds "Ada"):
# without this index each such lookup read the whole table, 0.46 s at a million users.
Index("ix_users_handle_lower", func.lower(users.c.handle))

posts = Table(
    "posts", metadata,
    Column("id", Key, primary_key=True),
    Column("external_id", String(256), nullable=False, unique=True),
    Column("author_id", Key, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("reply_to_id", Key, ForeignKey("posts.id", ondelete="SET NULL")),
    Column("root_id", Key, ForeignKey("posts.id", ondelete="SET NULL")),
    Column("quote_of_id", Key, ForeignKey("posts.id", ondelete="SET NULL")),
    Column("repost_of_id", Key, ForeignKey("posts.id", ondelete="SET NULL")),
    Column("language", String(16), nullable=False, default="en"),
    Column("hashtags", JSON, nullable=False, default=list),
    Column("mentions", JSON, nullable=False, default=list),
    Column("visibility", String(16), nullable=False, default="public"),
    Column("deleted", Boolean, nullable=False, default=False),
    CheckConstraint("visibility IN ('public', 'followers', 'private')", name="visibility"),
    Index("ix_posts_author_created", "author_id", "created_at"),
    Index("ix_posts_created", "created_at"),
    Index("ix_posts_root", "root_id"),
)

EDGE_KINDS = ("follow", "block", "mute")

edges = Table(
    "edges", metadata,
    Column("source_id", Key, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("target_id", Key, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    CheckConstraint("kind IN ('follow', 'block', 'mute')", name="kind"),
    CheckConstraint("source_id <> target_id", name="not_self"),
    Index("ix_edges_target", "target_id", "kind"),
)

INTERACTION_KINDS = ("view", "click", "dwell", "like", "reply", "repost", "bookmark", "share",
                     "hide", "not_interested", "report", "rating")

interactions = Table(
    "interactions", metadata,
    Column("id", Key, primary_key=True),
    Column("user_id", Key, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("post_id", Key, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("value", Float),
    CheckConstraint(
        "kind IN (" + ", ".join(f"'{k}'" for k in INTERACTION_KINDS) + ")", name="kind"),
    # Importing the same event twice is a no-op.
    UniqueConstraint("user_id", "post_id", "kind", "created_at", name="uq_interactions_event"),
    Index("ix_interactions_post", "post_id", "kind"),
)

# Vectors of posts and users from any named text model; several models coexist.
post_vectors = Table(
    "post_vectors", metadata,
    Column("seq", Key, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),
    Column("post_id", Key, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("vector", VectorType, nullable=False),
    UniqueConstraint("model", "post_id", name="uq_post_vectors_model_post"),
    Index("ix_post_vectors_post", "post_id"),
)

user_vectors = Table(
    "user_vectors", metadata,
    Column("seq", Key, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),
    Column("user_id", Key, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # A user may have several interest vectors (slot 0, 1, ...), not one average.
    Column("slot", Integer, nullable=False, default=0),
    Column("vector", VectorType, nullable=False),
    UniqueConstraint("model", "user_id", "slot", name="uq_user_vectors_model_user_slot"),
    Index("ix_user_vectors_user", "user_id"),
)

# Deleted post vectors (written by a trigger on SQLite), so that the in-process index of every
# worker catches up with deletes made by another (see vectors.py).
post_vector_tombstones = Table(
    "post_vector_tombstones", metadata,
    Column("seq", Key, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),
    Column("post_id", Key, nullable=False),
)

# Text embeddings keyed by (model, sha256 of text): no text is embedded twice.
embedding_cache = Table(
    "embedding_cache", metadata,
    Column("model", String(128), primary_key=True),
    Column("text_hash", String(64), primary_key=True),
    Column("vector", LargeBinary, nullable=False),
)

text_models = Table(
    "text_models", metadata,
    Column("name", String(128), primary_key=True),
    Column("dim", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
)

# Each part's own tables live in a module beside this one; importing them here makes ``metadata``
# complete wherever the schema is used (migrations, privacy deletion, the schema tests).
from townsquare.storage import (  # noqa: F401
    feed_schema,
    interact_schema,
    moderation_schema,
    web_schema,
)
