"""initial social data model

Revision ID: 0001
Revises:
Create Date: 2026-11-28 14:09:48.169281
"""

import sqlalchemy as sa
from alembic import op

from townsquare.storage.schema import UTCDateTime, VectorType

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


# Deleting a post vector (directly or by cascade) leaves a tombstone, so that every process's
# in-process index (SQLite) can apply the delete; see townsquare/storage/vectors.py.
TOMBSTONE_TRIGGER = """
CREATE TRIGGER post_vectors_tombstone AFTER DELETE ON post_vectors
BEGIN
    INSERT INTO post_vector_tombstones (model, post_id) VALUES (OLD.model, OLD.post_id);
END
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table('embedding_cache',
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('text_hash', sa.String(length=64), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('model', 'text_hash', name=op.f('pk_embedding_cache'))
    )
    op.create_table('post_vector_tombstones',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('post_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_post_vector_tombstones'))
    )
    op.create_table('text_models',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_text_models'))
    )
    op.create_table('users',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_id', sa.String(length=256), nullable=False),
    sa.Column('handle', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=128), nullable=False),
    sa.Column('bio', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('interests', sa.JSON(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('external_id', name=op.f('uq_users_external_id')),
    sa.UniqueConstraint('handle', name=op.f('uq_users_handle'))
    )
    op.create_table('edges',
    sa.Column('source_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('target_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('follow', 'block', 'mute')", name=op.f('ck_edges_kind')),
    sa.CheckConstraint('source_id <> target_id', name=op.f('ck_edges_not_self')),
    sa.ForeignKeyConstraint(['source_id'], ['users.id'], name=op.f('fk_edges_source_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_id'], ['users.id'], name=op.f('fk_edges_target_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('source_id', 'target_id', 'kind', name=op.f('pk_edges'))
    )
    with op.batch_alter_table('edges', schema=None) as batch_op:
        batch_op.create_index('ix_edges_target', ['target_id', 'kind'], unique=False)

    op.create_table('posts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_id', sa.String(length=256), nullable=False),
    sa.Column('author_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('reply_to_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('root_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('quote_of_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('repost_of_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('hashtags', sa.JSON(), nullable=False),
    sa.Column('mentions', sa.JSON(), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.CheckConstraint("visibility IN ('public', 'followers', 'private')", name=op.f('ck_posts_visibility')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_posts_author_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['quote_of_id'], ['posts.id'], name=op.f('fk_posts_quote_of_id_posts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reply_to_id'], ['posts.id'], name=op.f('fk_posts_reply_to_id_posts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['repost_of_id'], ['posts.id'], name=op.f('fk_posts_repost_of_id_posts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['root_id'], ['posts.id'], name=op.f('fk_posts_root_id_posts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_posts')),
    sa.UniqueConstraint('external_id', name=op.f('uq_posts_external_id'))
    )
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.create_index('ix_posts_author_created', ['author_id', 'created_at'], unique=False)
        batch_op.create_index('ix_posts_created', ['created_at'], unique=False)
        batch_op.create_index('ix_posts_root', ['root_id'], unique=False)

    op.create_table('user_vectors',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('vector', VectorType(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_vectors_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_user_vectors')),
    sa.UniqueConstraint('model', 'user_id', 'slot', name='uq_user_vectors_model_user_slot')
    )
    with op.batch_alter_table('user_vectors', schema=None) as batch_op:
        batch_op.create_index('ix_user_vectors_user', ['user_id'], unique=False)

    op.create_table('interactions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('post_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.CheckConstraint("kind IN ('view', 'click', 'dwell', 'like', 'reply', 'repost', 'bookmark', 'share', 'hide', 'not_interested', 'report', 'rating')", name=op.f('ck_interactions_kind')),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_interactions_post_id_posts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_interactions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_interactions')),
    sa.UniqueConstraint('user_id', 'post_id', 'kind', 'created_at', name='uq_interactions_event')
    )
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.create_index('ix_interactions_post', ['post_id', 'kind'], unique=False)

    op.create_table('post_vectors',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('post_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('vector', VectorType(), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_post_vectors_post_id_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_post_vectors')),
    sa.UniqueConstraint('model', 'post_id', name='uq_post_vectors_model_post')
    )
    with op.batch_alter_table('post_vectors', schema=None) as batch_op:
        batch_op.create_index('ix_post_vectors_post', ['post_id'], unique=False)


    if op.get_bind().dialect.name == "sqlite":
        op.execute(TOMBSTONE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS post_vectors_tombstone")
    with op.batch_alter_table('post_vectors', schema=None) as batch_op:
        batch_op.drop_index('ix_post_vectors_post')

    op.drop_table('post_vectors')
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_index('ix_interactions_post')

    op.drop_table('interactions')
    with op.batch_alter_table('user_vectors', schema=None) as batch_op:
        batch_op.drop_index('ix_user_vectors_user')

    op.drop_table('user_vectors')
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_index('ix_posts_root')
        batch_op.drop_index('ix_posts_created')
        batch_op.drop_index('ix_posts_author_created')

    op.drop_table('posts')
    with op.batch_alter_table('edges', schema=None) as batch_op:
        batch_op.drop_index('ix_edges_target')

    op.drop_table('edges')
    op.drop_table('users')
    op.drop_table('text_models')
    op.drop_table('post_vector_tombstones')
    op.drop_table('embedding_cache')
