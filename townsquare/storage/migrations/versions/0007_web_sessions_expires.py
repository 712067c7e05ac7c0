"""web: index web_sessions.expires_at (expired sign-in sessions are deleted at each sign-in)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 17:50:00.000000
"""

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_web_sessions_expires', 'web_sessions', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_web_sessions_expires', table_name='web_sessions')
