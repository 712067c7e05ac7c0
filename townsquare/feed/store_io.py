"""Bulk reads for the feed index: millions of rows straight from the driver into numpy columns.

Written by hand because SQLAlchemy's per-row result handling costs several times the query itself
at ten million rows; the SQL stays plain and both dialects (SQLite, PostgreSQL) are covered here.
"""

from __future__ import annotations

import re

import numpy as np
from sqlalchemy import Connection, TextClause

_CHUNK = 200_000


def epoch_sql(store, column: str) -> str:
    """SQL for a timestamp column as float epoch seconds."""
    if store.dialect == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})::float8"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def _cursor(conn: Connection, sql: str, params: dict):
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        sql = re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql)
    cursor = raw.cursor()
    cursor.execute(sql, params)
    return cursor


def fetch_rows(conn: Connection, sql: str, params: dict | None = None, **lists) -> list[tuple]:
    """Rows of a small query, straight from the driver; ``lists`` expand ``{name}`` into ``:name0, :name1...``."""
    params = dict(params or {})
    for name, values in lists.items():
        keys = [f"{name}{i}" for i in range(len(values))]
        params.update(zip(keys, values))
        sql = sql.replace("{" + name + "}", ", ".join(":" + k for k in keys) or "NULL")
    cursor = _cursor(conn, sql, params)
    rows = cursor.fetchall()
    cursor.close()
    return rows


def fetch_arrays(conn: Connection, statement: TextClause | str, params: dict, ncols: int,
                 objects: tuple[int, ...] = ()) -> tuple[np.ndarray, ...]:
    """The columns of a query as numpy arrays (float64, or object for the ``objects`` positions)."""
    cursor = _cursor(conn, str(statement), params)
    parts: list[list[np.ndarray]] = [[] for _ in range(ncols)]
    while rows := cursor.fetchmany(_CHUNK):
        for i, column in enumerate(zip(*rows)):
            parts[i].append(np.asarray(column, dtype=object if i in objects else np.float64))
    cursor.close()
    return tuple(np.concatenate(p) if p else np.zeros(0, object if i in objects else np.float64)
                 for i, p in enumerate(parts))


def fetch_vectors(store, conn: Connection, model: str, after: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(post ids, float32 vectors, highest seq) of the post vectors of ``model`` with seq > ``after``."""
    column = "vector::float4[]" if store.dialect == "postgresql" else "vector"
    # The model is checked here, not in SQL: with it in the WHERE clause SQLite walks the
    # (model, post_id) index over every row of the model instead of the few new seq values.
    cursor = _cursor(conn, f"SELECT post_id, {column}, seq, model FROM post_vectors WHERE seq > :after ORDER BY seq",
                     {"after": after})
    ids, blocks, last = [], [], after
    while rows := cursor.fetchmany(50_000):
        last = max(last, int(rows[-1][2]))
        rows = [r for r in rows if r[3] == model]
        if not rows:
            continue
        pids, vectors, _, _ = zip(*rows)
        ids.append(np.asarray(pids, np.int64))
        if isinstance(vectors[0], (bytes, memoryview)):
            blocks.append(np.frombuffer(b"".join(bytes(v) for v in vectors), np.float32).reshape(len(rows), -1))
        else:
            blocks.append(np.asarray(vectors, np.float32))
    cursor.close()
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), last
    return np.concatenate(ids), np.concatenate(blocks), last
