"""interact: offered reply suggestions and drafts with their feedback

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 15:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

import townsquare.storage.interact_schema  # noqa: F401  (registers the interact tables in ``metadata``)
from townsquare.storage.schema import UTCDateTime

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_KEY = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('interact_suggestions',
    sa.Column('id', _KEY, nullable=False),
    sa.Column('user_id', _KEY, nullable=False),
    sa.Column('post_id', _KEY, nullable=True),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('intent', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('outcome', sa.String(length=8), nullable=True),
    sa.Column('final_text', sa.Text(), nullable=True),
    sa.Column('outcome_at', UTCDateTime(), nullable=True),
    sa.CheckConstraint("kind IN ('reply', 'draft')", name=op.f('ck_interact_suggestions_kind')),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('picked', 'edited', 'ignored')",
                       name=op.f('ck_interact_suggestions_outcome')),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_interact_suggestions_post_id_posts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_interact_suggestions_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_interact_suggestions'))
    )
    op.create_index('ix_interact_suggestions_post', 'interact_suggestions', ['post_id'], unique=False)
    op.create_index('ix_interact_suggestions_user', 'interact_suggestions', ['user_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_interact_suggestions_user', table_name='interact_suggestions')
    op.drop_index('ix_interact_suggestions_post', table_name='interact_suggestions')
    op.drop_table('interact_suggestions')
