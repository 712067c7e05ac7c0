"""feed: a post's reply, repost and quote links changing (their target deleted) reach every feed index

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 19:10:00.000000

Deleting a user deletes their posts, and the database sets the links of other users' replies,
reposts and quotes of them to NULL. The change trigger watched only ``deleted`` and ``visibility``,
so a running server went on treating those posts as replies until it restarted.
"""

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

WATCHED = "deleted, visibility, reply_to_id, repost_of_id, quote_of_id"


def _triggers(columns: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER feed_post_changed ON posts")
        op.execute(f"CREATE TRIGGER feed_post_changed AFTER UPDATE OF {columns} OR DELETE ON posts "
                   "FOR EACH ROW EXECUTE FUNCTION feed_post_changed()")
    else:
        op.execute("DROP TRIGGER feed_post_changed")
        op.execute(f"CREATE TRIGGER feed_post_changed AFTER UPDATE OF {columns} ON posts "
                   "BEGIN INSERT INTO feed_post_changes (post_id) VALUES (NEW.id); END")


def upgrade() -> None:
    _triggers(WATCHED)


def downgrade() -> None:
    _triggers("deleted, visibility")
