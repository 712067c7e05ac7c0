"""Database errors that come from other writers, not from the request: said in words, not as a 500.

A busy database (SQLite's write lock held past its timeout by another process; PostgreSQL's deadlock,
serialization or lock-wait failures) is worth trying again in a moment. A foreign key that no
longer holds (a user deleted while their request was being written) is a conflict with that
change. Anything else is a bug, and stays an error for the log.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import IntegrityError, OperationalError

BUSY = ("the database is busy (another writer holds it, e.g. an import or a migration); try again in a moment")
GONE = ("something this request refers to was removed by another request meanwhile (a user or post deleted); "
        "ask again to see what is there now")
_BUSY_CODES = {"40P01", "40001", "55P03"}  # deadlock detected, serialization failure, lock not available
_FOREIGN_KEY_CODES = {"23503"}


def contention(error: BaseException) -> tuple[str, str] | None:
    """("busy" | "gone", message) when ``error`` came from a concurrent writer; None otherwise. Takes
    SQLAlchemy's errors and the driver's own (SQLite's lock is taken in a connection event, whose
    ``sqlite3.OperationalError`` SQLAlchemy does not wrap)."""
    driver = getattr(error, "orig", None) or error
    code = getattr(driver, "pgcode", None) or getattr(driver, "sqlstate", None)
    text = str(driver).lower()
    if code in _BUSY_CODES or (isinstance(error, (OperationalError, sqlite3.OperationalError))
                               and ("database is locked" in text or "database is busy" in text)):
        return "busy", BUSY
    if isinstance(error, (IntegrityError, sqlite3.IntegrityError)) and (
            "foreign key constraint failed" in text or code in _FOREIGN_KEY_CODES):
        return "gone", GONE
    return None
