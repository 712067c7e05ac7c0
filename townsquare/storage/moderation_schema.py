"""The tables of trust & safety (townsquare.safety): scores, the moderation queue, decisions, appeals.

Every row is keyed to a post or a user with ``ON DELETE CASCADE``, so deleting a user (see
``privacy.py``) removes the scores of their posts, the cases about them, the decisions on those
cases and their appeals. Moderators are staff, named by a string, not platform users.
Migration ``0002`` creates these tables; ``0006`` adds the index on ``scored_at``; ``0008`` lets a
post have one open case at most.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    text,
)

from townsquare.storage.schema import Key, UTCDateTime, metadata

CASE_STATUSES = ("open", "decided", "appealed", "closed")
APPEAL_STATUSES = ("open", "upheld", "overturned")


def _now() -> datetime:
    return datetime.now(UTC)


# One row per post and classifier: calibrated label probabilities, and spans for span classifiers.
moderation_scores = Table(
    "moderation_scores", metadata,
    Column("post_id", Key, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("classifier", String(64), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("scores", JSON, nullable=False),
    Column("spans", JSON, nullable=False, default=list),
    Column("top_score", Float, nullable=False),
    Column("scored_at", UTCDateTime, nullable=False, default=_now),
    Index("ix_moderation_scores_scored_at", "scored_at"),  # what changed lately (the feed's verdicts)
)

# A flagged post waiting for (or past) a moderator: what the policy suggested and why.
moderation_cases = Table(
    "moderation_cases", metadata,
    Column("id", Key, primary_key=True),
    Column("post_id", Key, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("community", String(128), nullable=False, default="default"),
    Column("status", String(16), nullable=False, default="open"),
    Column("suggested_action", String(16), nullable=False),
    Column("priority", Float, nullable=False, default=0.0),
    Column("reasons", JSON, nullable=False, default=list),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("updated_at", UTCDateTime, nullable=False, default=_now),
    CheckConstraint("status IN ('open', 'decided', 'appealed', 'closed')", name="status"),
    Index("ix_moderation_cases_status", "status", "priority"),
    Index("ix_moderation_cases_post", "post_id"),
    # One open case a post, whichever worker opens it (two users reporting a post at the same moment,
    # a scoring run beside a moderator applying the policy); a case under appeal may sit beside it.
    Index("uq_moderation_cases_open_post", "post_id", unique=True,
          sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
)

# What a moderator decided, who and when; ``labels`` flow back as training data.
moderation_decisions = Table(
    "moderation_decisions", metadata,
    Column("id", Key, primary_key=True),
    Column("case_id", Key, ForeignKey("moderation_cases.id", ondelete="CASCADE"), nullable=False),
    Column("post_id", Key, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("moderator", String(128), nullable=False),
    Column("action", String(16), nullable=False),
    Column("labels", JSON, nullable=False, default=dict),
    Column("note", Text, nullable=False, default=""),
    Column("on_appeal", Key, ForeignKey("moderation_appeals.id", ondelete="CASCADE")),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Index("ix_moderation_decisions_case", "case_id"),
    Index("ix_moderation_decisions_post", "post_id"),
)

# A user asks for a decision to be looked at again.
moderation_appeals = Table(
    "moderation_appeals", metadata,
    Column("id", Key, primary_key=True),
    Column("case_id", Key, ForeignKey("moderation_cases.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Key, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False, default="open"),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("resolved_at", UTCDateTime),
    CheckConstraint("status IN ('open', 'upheld', 'overturned')", name="status"),
    Index("ix_moderation_appeals_case", "case_id"),
)
