"""Errors another writer causes are said in words: a 503 to try again, or a 409, and one line on the command line."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from townsquare.storage.contention import contention
from townsquare.web.errors import install_error_handlers


def _real_errors(tmp_path) -> dict[str, sa.exc.SQLAlchemyError]:
    """A lock held by another connection past the timeout, and a foreign key that no longer holds."""
    path = tmp_path / "db.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    holder.execute("CREATE TABLE notes (user_id INTEGER REFERENCES users(id))")
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    sa.event.listen(engine, "connect", lambda c, _: c.execute("PRAGMA foreign_keys=ON"))
    caught = {}
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sa.exc.OperationalError) as locked, engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO users VALUES (1)")
    holder.execute("ROLLBACK")
    caught["locked"] = locked.value
    with pytest.raises(sa.exc.IntegrityError) as gone, engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO notes VALUES (42)")
    caught["gone"] = gone.value
    with pytest.raises(sa.exc.OperationalError) as other, engine.begin() as conn:
        conn.exec_driver_sql("SELECT * FROM no_such_table")
    caught["bug"] = other.value
    holder.close()
    engine.dispose()
    return caught


def test_contention_becomes_503_and_409_and_a_bug_stays_a_500(tmp_path):
    errors = _real_errors(tmp_path)
    assert contention(errors["locked"])[0] == "busy" and contention(errors["gone"])[0] == "gone"
    assert contention(errors["bug"]) is None
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/v1/raise/{name}")
    def raise_it(name: str):
        raise errors[name]

    client = TestClient(app, raise_server_exceptions=False)
    busy = client.get("/v1/raise/locked")
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1" and "busy" in busy.json()["error"]["message"]
    gone = client.get("/v1/raise/gone")
    assert gone.status_code == 409 and "removed by another request" in gone.json()["error"]["message"]
    assert client.get("/v1/raise/bug").status_code == 500


def test_the_command_line_says_the_database_is_busy_in_one_line(tmp_path):
    import subprocess
    import sys

    from townsquare.storage import Store

    Store.open(f"sqlite:///{tmp_path / 'townsquare.sqlite'}").close()
    holder = sqlite3.connect(tmp_path / "townsquare.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    records = tmp_path / "in.jsonl"
    records.write_text('{"type": "user", "id": "u1", "handle": "ada"}\n')
    try:
        script = "import townsquare.storage.store as s; s.SQLITE_BUSY_MS = 100; from townsquare.cli import main; main()"
        done = subprocess.run([sys.executable, "-c", script, "--data-dir", str(tmp_path), "import", "jsonl",
                               str(records), "--load-only"], capture_output=True, text=True, timeout=120, check=False)
    finally:
        holder.close()
    assert done.returncode == 3, done.stderr
    assert "database is busy" in done.stderr and "Traceback" not in done.stderr
