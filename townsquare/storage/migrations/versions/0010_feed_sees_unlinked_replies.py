"""feed: a reply, repost or quote losing its target (the target deleted) reaches every feed index

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 19:10:00.000000

Deleting a user deletes their posts, and the database sets the links of other users' replies,
reposts and quotes of them to NULL. The change trigger watched only ``deleted`` and ``visibility``,
so a running server went on treating those posts as replies until it restarted. The trigger now
also fires when a link is cut (never when an import sets one, which would cost every import).
"""

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

COLUMNS = "deleted, visibility, reply_to_id, repost_of_id, quote_of_id"
CHANGED = ("OLD.deleted IS NOT NEW.deleted OR OLD.visibility IS NOT NEW.visibility"
           " OR (OLD.reply_to_id IS NOT NULL AND NEW.reply_to_id IS NULL)"
           " OR (OLD.repost_of_id IS NOT NULL AND NEW.repost_of_id IS NULL)"
           " OR (OLD.quote_of_id IS NOT NULL AND NEW.quote_of_id IS NULL)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER feed_post_changed ON posts")
        op.execute("CREATE TRIGGER feed_post_changed AFTER DELETE ON posts "
                   "FOR EACH ROW EXECUTE FUNCTION feed_post_changed()")
        op.execute(f"CREATE TRIGGER feed_post_updated AFTER UPDATE OF {COLUMNS} ON posts FOR EACH ROW "
                   f"WHEN ({CHANGED.replace(' IS NOT NEW', ' IS DISTINCT FROM NEW')}) "
                   "EXECUTE FUNCTION feed_post_changed()")
    else:
        op.execute("DROP TRIGGER feed_post_changed")
        op.execute(f"CREATE TRIGGER feed_post_changed AFTER UPDATE OF {COLUMNS} ON posts WHEN {CHANGED} "
                   "BEGIN INSERT INTO feed_post_changes (post_id) VALUES (NEW.id); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER feed_post_updated ON posts")
        op.execute("DROP TRIGGER feed_post_changed ON posts")
        op.execute("CREATE TRIGGER feed_post_changed AFTER UPDATE OF deleted, visibility OR DELETE ON posts "
                   "FOR EACH ROW EXECUTE FUNCTION feed_post_changed()")
    else:
        op.execute("DROP TRIGGER feed_post_changed")
        op.execute("CREATE TRIGGER feed_post_changed AFTER UPDATE OF deleted, visibility ON posts "
                   "BEGIN INSERT INTO feed_post_changes (post_id) VALUES (NEW.id); END")
