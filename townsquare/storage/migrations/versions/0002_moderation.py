"""moderation: scores, cases, decisions, appeals

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 14:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

import townsquare.storage.moderation_schema  # noqa: F401  (registers the moderation tables in ``metadata``)
from townsquare.storage.schema import UTCDateTime

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_KEY = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('moderation_scores',
    sa.Column('post_id', _KEY, nullable=False),
    sa.Column('classifier', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('spans', sa.JSON(), nullable=False),
    sa.Column('top_score', sa.Float(), nullable=False),
    sa.Column('scored_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_moderation_scores_post_id_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('post_id', 'classifier', name=op.f('pk_moderation_scores'))
    )
    op.create_table('moderation_cases',
    sa.Column('id', _KEY, nullable=False),
    sa.Column('post_id', _KEY, nullable=False),
    sa.Column('community', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('suggested_action', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.Float(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('open', 'decided', 'appealed', 'closed')", name=op.f('ck_moderation_cases_status')),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_moderation_cases_post_id_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_cases'))
    )
    with op.batch_alter_table('moderation_cases', schema=None) as batch_op:
        batch_op.create_index('ix_moderation_cases_post', ['post_id'], unique=False)
        batch_op.create_index('ix_moderation_cases_status', ['status', 'priority'], unique=False)

    op.create_table('moderation_appeals',
    sa.Column('id', _KEY, nullable=False),
    sa.Column('case_id', _KEY, nullable=False),
    sa.Column('user_id', _KEY, nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('resolved_at', UTCDateTime(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'upheld', 'overturned')", name=op.f('ck_moderation_appeals_status')),
    sa.ForeignKeyConstraint(['case_id'], ['moderation_cases.id'], name=op.f('fk_moderation_appeals_case_id_moderation_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_moderation_appeals_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_appeals'))
    )
    with op.batch_alter_table('moderation_appeals', schema=None) as batch_op:
        batch_op.create_index('ix_moderation_appeals_case', ['case_id'], unique=False)

    op.create_table('moderation_decisions',
    sa.Column('id', _KEY, nullable=False),
    sa.Column('case_id', _KEY, nullable=False),
    sa.Column('post_id', _KEY, nullable=False),
    sa.Column('moderator', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('on_appeal', _KEY, nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['moderation_cases.id'], name=op.f('fk_moderation_decisions_case_id_moderation_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['on_appeal'], ['moderation_appeals.id'], name=op.f('fk_moderation_decisions_on_appeal_moderation_appeals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_moderation_decisions_post_id_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_decisions'))
    )
    with op.batch_alter_table('moderation_decisions', schema=None) as batch_op:
        batch_op.create_index('ix_moderation_decisions_case', ['case_id'], unique=False)
        batch_op.create_index('ix_moderation_decisions_post', ['post_id'], unique=False)


def downgrade() -> None:
    op.drop_table('moderation_decisions')
    op.drop_table('moderation_appeals')
    op.drop_table('moderation_cases')
    op.drop_table('moderation_scores')
