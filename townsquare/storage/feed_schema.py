"""The tables of the For-you feed (townsquare.feed): live user state, steering, sessions, rankers.

Everything here is keyed to users with ``ON DELETE CASCADE``, so deleting a user removes their
feed state, steering, sessions too. Migration ``0003`` creates exactly these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from townsquare.storage.schema import Key, UTCDateTime, metadata


def _now() -> datetime:
    return datetime.now(UTC)


# A user's interest vectors (several slots), negative slots and the last interaction folded into
# them: a checkpoint of a fold over the interaction log (see townsquare/feed/state.py).
feed_user_state = Table(
    "feed_user_state", metadata,
    Column("user_id", Key, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("consumed_id", BigInteger, nullable=False, default=0),
    Column("state", LargeBinary, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False, default=_now, onupdate=_now),
)

# "more cooking, less politics": one row per phrase, with its text vector.
feed_steering = Table(
    "feed_steering", metadata,
    Column("id", Key, primary_key=True),
    Column("user_id", Key, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("phrase", String(200), nullable=False),
    Column("weight", Float, nullable=False, default=1.0),
    Column("model", String(128), nullable=False),
    Column("vector", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    CheckConstraint("direction IN ('more', 'less')", name="direction"),
    Index("ix_feed_steering_user", "user_id"),
)

# A feed session: the candidates ranked on page 1 and what has been served, for stable cursors
# across pages and across API workers.
feed_sessions = Table(
    "feed_sessions", metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", Key, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("pages", Integer, nullable=False, default=0),
    Column("payload", LargeBinary, nullable=False),
    Column("served", LargeBinary, nullable=False, default=b""),
    Index("ix_feed_sessions_expires", "expires_at"),
    Index("ix_feed_sessions_user", "user_id"),
)

# Trained engagement rankers, versioned; the newest active one is served.
feed_rankers = Table(
    "feed_rankers", metadata,
    Column("version", Key, primary_key=True),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("kind", String(64), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("metrics", JSON, nullable=False, default=dict),
    Column("blob", LargeBinary, nullable=False),
)

# Posts whose deleted flag or visibility changed, or that were removed: written by triggers
# (migration 0003), so that every process's feed index applies a delete within a second.
feed_post_changes = Table(
    "feed_post_changes", metadata,
    Column("seq", Key, primary_key=True, autoincrement=True),
    Column("post_id", Key, nullable=False),
)

FEED_TABLES = (feed_user_state, feed_steering, feed_sessions, feed_rankers, feed_post_changes)
