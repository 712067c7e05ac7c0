"""users: an index on lower(handle)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 00:50:00.000000

Handles are told apart without case since session 22: the loader asks which of a batch's handles are
taken by ``lower(handle) IN (...)``, and a lookup by handle that finds no exact match asks for
``lower(handle) = ...``. Neither could use the unique index on ``handle``, so each read the whole users
table (0.46 s at a million users, for every batch of an import and every unknown handle a request
names). Not unique: a database from before session 22 may hold two handles that differ only in case.
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_users_handle_lower", "users", [sa.text("lower(handle)")])


def downgrade() -> None:
    op.drop_index("ix_users_handle_lower", table_name="users")
