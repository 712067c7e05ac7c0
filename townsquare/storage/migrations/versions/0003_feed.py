"""feed: user state, steering, sessions, rankers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import townsquare.storage.feed_schema  # noqa: F401  (registers the feed tables in ``metadata``)
from townsquare.storage.schema import UTCDateTime

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_KEY = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# A post's delete, removal or visibility change leaves a row that every feed index tails.
SQLITE_TRIGGERS = (
    """CREATE TRIGGER feed_post_changed AFTER UPDATE OF deleted, visibility ON posts
    BEGIN INSERT INTO feed_post_changes (post_id) VALUES (NEW.id); END""",
    """CREATE TRIGGER feed_post_removed AFTER DELETE ON posts
    BEGIN INSERT INTO feed_post_changes (post_id) VALUES (OLD.id); END""",
)
POSTGRES_TRIGGERS = (
    """CREATE FUNCTION feed_post_changed() RETURNS trigger AS $$
    BEGIN
        INSERT INTO feed_post_changes (post_id) VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER feed_post_changed AFTER UPDATE OF deleted, visibility OR DELETE ON posts
    FOR EACH ROW EXECUTE FUNCTION feed_post_changed()""",
)


def upgrade() -> None:
    op.create_table('feed_post_changes',
    sa.Column('seq', _KEY, autoincrement=True, nullable=False),
    sa.Column('post_id', _KEY, nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_feed_post_changes'))
    )
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_TRIGGERS if dialect == 'sqlite' else POSTGRES_TRIGGERS:
        op.execute(statement)
    op.create_table('feed_rankers',
    sa.Column('version', _KEY, nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('blob', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_feed_rankers'))
    )
    op.create_table('feed_sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', _KEY, nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('served', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_feed_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_sessions'))
    )
    with op.batch_alter_table('feed_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_feed_sessions_expires', ['expires_at'], unique=False)
        batch_op.create_index('ix_feed_sessions_user', ['user_id'], unique=False)

    op.create_table('feed_steering',
    sa.Column('id', _KEY, nullable=False),
    sa.Column('user_id', _KEY, nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('phrase', sa.String(length=200), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint("direction IN ('more', 'less')", name=op.f('ck_feed_steering_direction')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_feed_steering_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_steering'))
    )
    with op.batch_alter_table('feed_steering', schema=None) as batch_op:
        batch_op.create_index('ix_feed_steering_user', ['user_id'], unique=False)

    op.create_table('feed_user_state',
    sa.Column('user_id', _KEY, nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('consumed_id', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.LargeBinary(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_feed_user_state_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'model', name=op.f('pk_feed_user_state'))
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("DROP TRIGGER IF EXISTS feed_post_changed")
        op.execute("DROP TRIGGER IF EXISTS feed_post_removed")
    else:
        op.execute("DROP TRIGGER IF EXISTS feed_post_changed ON posts")
        op.execute("DROP FUNCTION IF EXISTS feed_post_changed()")
    op.drop_table('feed_post_changes')
    op.drop_table('feed_user_state')
    with op.batch_alter_table('feed_steering', schema=None) as batch_op:
        batch_op.drop_index('ix_feed_steering_user')
    op.drop_table('feed_steering')
    with op.batch_alter_table('feed_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_feed_sessions_user')
        batch_op.drop_index('ix_feed_sessions_expires')
    op.drop_table('feed_sessions')
    op.drop_table('feed_rankers')
