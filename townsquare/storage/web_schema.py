"""The tables of the HTTP API and web app (townsquare.web): platform API keys and web sessions.

Secrets are never stored: a key or session token is kept as its SHA-256 hash. Both are keyed to
users with ``ON DELETE CASCADE``, so deleting a user removes their keys and sessions. Migration
``0004`` creates exactly these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table

from townsquare.storage.schema import Key, UTCDateTime, metadata


def _now() -> datetime:
    return datetime.now(UTC)


# A platform API key: ``ts_<random>`` shown once at creation, stored as its hash with its scopes
# (ingest, read, moderate, admin) and, optionally, the one user it may act for.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Key, primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("name", String(128), nullable=False, default=""),
    Column("scopes", JSON, nullable=False, default=list),
    Column("user_id", Key, ForeignKey("users.id", ondelete="CASCADE")),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("revoked_at", UTCDateTime),
)

# A signed-in user of the web app (cookie) or a per-user bearer session.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Key, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Key, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("scopes", JSON, nullable=False, default=list),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_web_sessions_user", "user_id"),
    Index("ix_web_sessions_expires", "expires_at"),
)
