"""interact_suggestions: the post a suggestion quotes, so that it leaves with that post

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 01:00:00.000000

A reply suggestion taken from the response bank is another user's reply, often changed by the voice
styler ("Great point!" becomes "great point 😊"). Deleting that user removed only the suggestions whose
text was exactly one of their posts', and erasing a single post removed none, so their words stayed in
other users' suggestion history. ``quoted_post_id`` names the reply a suggestion came from; it cascades,
and ``erase_posts`` removes the rows that quote an erased post. Rows written before this have none.

On SQLite the table is rebuilt from its own SQL, as migration 0011 rebuilds tables, not by Alembic's
batch mode, which would drop its AUTOINCREMENT. The downgrade keeps the column there (SQLite cannot
drop a column a foreign key uses); older code never writes it.
"""

import re

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

FK = "fk_interact_suggestions_quoted_post_id_posts"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.add_column("interact_suggestions", sa.Column("quoted_post_id", sa.BigInteger()))
        op.create_foreign_key(FK, "interact_suggestions", "posts", ["quoted_post_id"], ["id"], ondelete="CASCADE")
    else:
        _add_on_sqlite(bind)
    op.create_index("ix_interact_suggestions_quoted_post", "interact_suggestions", ["quoted_post_id"])


def _add_on_sqlite(bind) -> None:
    """The table rebuilt as migration 0011 rebuilds one (its own SQL, rows copied, indexes and triggers made
    again), with the column and its foreign key added: a key added by ``ADD COLUMN`` would have to be
    written inline, and SQLAlchemy reads an inline key back without its name or its ``ON DELETE``."""
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():  # dropping a parent table would cascade
        raise RuntimeError("migration 0013 rebuilds a table and needs foreign keys off: run it through "
                           "townsquare (townsquare migrate), which turns them off for its migrations")
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' "
                               "AND name = 'interact_suggestions'").scalar()
    end = sql.rstrip().rindex(")")
    new = (sql[:end].rstrip() + f", \n\tCONSTRAINT {FK} FOREIGN KEY(quoted_post_id) REFERENCES posts (id) "
           "ON DELETE CASCADE\n)")
    new = new.replace("outcome_at DATETIME, ", "outcome_at DATETIME, \n\tquoted_post_id INTEGER, ", 1)
    if "quoted_post_id INTEGER" not in new:
        raise RuntimeError(f"migration 0013: interact_suggestions' schema is not the one expected:\n{sql}")
    new = re.sub(r'CREATE TABLE "?interact_suggestions"? \(', "CREATE TABLE _new_interact_suggestions (", new, count=1)
    others = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
                                  "AND tbl_name = 'interact_suggestions' AND sql IS NOT NULL").scalars().all()
    columns = ", ".join(row[1] for row in bind.exec_driver_sql("PRAGMA table_info(interact_suggestions)"))
    bind.exec_driver_sql("PRAGMA legacy_alter_table=ON")  # the rename touches no other table's SQL
    try:
        bind.exec_driver_sql(new)
        bind.exec_driver_sql(f"INSERT INTO _new_interact_suggestions ({columns}) SELECT {columns} "
                             "FROM interact_suggestions")
        bind.exec_driver_sql("DROP TABLE interact_suggestions")
        bind.exec_driver_sql("ALTER TABLE _new_interact_suggestions RENAME TO interact_suggestions")
    finally:
        bind.exec_driver_sql("PRAGMA legacy_alter_table=OFF")
    for statement in others:
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    op.drop_index("ix_interact_suggestions_quoted_post", table_name="interact_suggestions")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(FK, "interact_suggestions", type_="foreignkey")
        op.drop_column("interact_suggestions", "quoted_post_id")
    # SQLite cannot drop a column a foreign key uses; older code never writes it, so it stays
