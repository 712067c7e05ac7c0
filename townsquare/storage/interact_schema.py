"""The tables of social interaction (townsquare.interact): offered suggestions and drafts, and what became of them.

Every suggestion shown is one row; feedback (picked, edited, ignored) updates its ``outcome``.
Picked and edited rows grow the response bank, and all outcomes retrain the reply scorer
(``townsquare train scorer --feedback``). Rows cascade with their user and post, so deleting
a user removes their suggestions. Migration ``0005`` creates exactly this table.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, Column, Float, ForeignKey, Index, String, Table, Text

from townsquare.storage.schema import Key, UTCDateTime, metadata

OUTCOMES = ("picked", "edited", "ignored")
SUGGESTION_KINDS = ("reply", "draft")


def _now() -> datetime:
    return datetime.now(UTC)


interact_suggestions = Table(
    "interact_suggestions", metadata,
    Column("id", Key, primary_key=True),
    Column("user_id", Key, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("post_id", Key, ForeignKey("posts.id", ondelete="CASCADE")),  # null for drafts
    Column("kind", String(8), nullable=False, default="reply"),
    Column("text", Text, nullable=False),
    Column("intent", String(16), nullable=False, default=""),
    Column("source", String(16), nullable=False, default=""),
    Column("score", Float, nullable=False, default=0.0),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("outcome", String(8)),
    Column("final_text", Text),
    Column("outcome_at", UTCDateTime),
    # the post whose text the suggestion is (a reply from the store, styled or not): it leaves with that post
    Column("quoted_post_id", Key, ForeignKey("posts.id", ondelete="CASCADE")),
    CheckConstraint("kind IN ('reply', 'draft')", name="kind"),
    CheckConstraint("outcome IS NULL OR outcome IN ('picked', 'edited', 'ignored')", name="outcome"),
    Index("ix_interact_suggestions_post", "post_id"),
    Index("ix_interact_suggestions_user", "user_id", "created_at"),
    Index("ix_interact_suggestions_quoted_post", "quoted_post_id"),
)
