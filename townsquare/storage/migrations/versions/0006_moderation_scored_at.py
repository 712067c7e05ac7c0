"""moderation: index moderation_scores.scored_at (the feed reads what was scored lately)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 05:30:00.000000
"""

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_moderation_scores_scored_at', 'moderation_scores', ['scored_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_moderation_scores_scored_at', table_name='moderation_scores')
