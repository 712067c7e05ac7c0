"""moderation: a post has one open case at most (a partial unique index on moderation_cases)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 16:20:00.000000

Two workers could each find no open case for a post and open one. Any such duplicates are removed
first, keeping each post's oldest open case (an open case holds no decision yet).
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM moderation_cases WHERE status = 'open' AND id NOT IN "
               "(SELECT MIN(id) FROM moderation_cases WHERE status = 'open' GROUP BY post_id)")
    op.create_index('uq_moderation_cases_open_post', 'moderation_cases', ['post_id'], unique=True,
                    sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))


def downgrade() -> None:
    op.drop_index('uq_moderation_cases_open_post', table_name='moderation_cases')
