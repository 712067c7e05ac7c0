"""SQLite: no id or sequence number is ever handed out twice (AUTOINCREMENT), as on PostgreSQL

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 20:40:00.000000

Without AUTOINCREMENT, SQLite gives a new row the largest id in its table plus one, so deleting the
newest rows (a user deleted right after they posted or liked) handed their ids to the next rows. Every
worker's feed index reads new posts, interactions and vectors by id or sequence number past the last one
it saw, so it never saw those rows until it restarted; a worker's per-user caches took a new user for the
deleted one whose id they got; feedback on an old suggestion id reached another user's suggestion.

Each table with a single integer key is rebuilt the way SQLite's documentation gives for schema changes:
its own CREATE TABLE with the key declared ``PRIMARY KEY AUTOINCREMENT``, the rows copied, the old table
dropped, the new one renamed, and its indexes and triggers created again from their stored SQL.
``Store.migrate`` runs migrations on SQLite with foreign keys off (dropping a parent table with them on
would cascade) and checks them before it commits. PostgreSQL's sequences never reuse a value: nothing
to do there. The downgrade leaves the tables as they are: AUTOINCREMENT is harmless to older code.
"""

import re

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TABLES = {  # table: its integer key
    "users": "id", "posts": "id", "interactions": "id", "post_vectors": "seq", "user_vectors": "seq",
    "post_vector_tombstones": "seq", "feed_post_changes": "seq", "feed_steering": "id", "api_keys": "id",
    "web_sessions": "id", "interact_suggestions": "id", "moderation_cases": "id", "moderation_decisions": "id",
    "moderation_appeals": "id",
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():  # dropping a parent table would cascade
        raise RuntimeError("migration 0011 rebuilds tables and needs foreign keys off: run it through "
                           "townsquare (townsquare migrate), which turns them off for its migrations")
    bind.exec_driver_sql("PRAGMA legacy_alter_table=ON")  # the rename touches no other table's SQL
    try:
        for table, key in TABLES.items():
            _rebuild(bind, table, key)
    finally:
        bind.exec_driver_sql("PRAGMA legacy_alter_table=OFF")


def _rebuild(bind, table: str, key: str) -> None:
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar()
    if sql is None or "AUTOINCREMENT" in sql:
        return
    constraint = re.search(rf"\n\s*CONSTRAINT (\w+) PRIMARY KEY \({key}\),? *", sql)
    column = re.search(rf"\n\s*{key} INTEGER NOT NULL", sql)
    if constraint is None or column is None:
        raise RuntimeError(f"migration 0011: {table}'s schema is not the one expected:\n{sql}")
    new = (sql[:column.end()] + f" CONSTRAINT {constraint.group(1)} PRIMARY KEY AUTOINCREMENT"
           + sql[column.end():constraint.start()] + "\n" + sql[constraint.end():].lstrip(" \n\t"))
    new = re.sub(r",\s*\)\s*$", "\n)", new)  # the key's constraint was the last item
    new = new.replace(f"CREATE TABLE {table} (", f"CREATE TABLE _autoincrement_{table} (", 1)
    others = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
                                  "AND tbl_name = ? AND sql IS NOT NULL", (table,)).scalars().all()
    bind.exec_driver_sql(new)
    bind.exec_driver_sql(f"INSERT INTO _autoincrement_{table} SELECT * FROM {table}")
    bind.exec_driver_sql(f"DROP TABLE {table}")
    bind.exec_driver_sql(f"ALTER TABLE _autoincrement_{table} RENAME TO {table}")
    for statement in others:
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    pass
