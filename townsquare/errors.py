"""Every error a user can see, in one place.

Each message says what went wrong and what to do about it. The CLI prints them without a
traceback; the HTTP API turns them into 4xx answers.
"""

from __future__ import annotations

import os
from pathlib import Path


class TownsquareError(Exception):
    """Base class: something the user can act on."""


class ConfigError(TownsquareError):
    """A setting is missing or wrong."""


class NotFoundError(TownsquareError):
    """A user, post, model or file that was asked for does not exist."""


class InputError(TownsquareError):
    """Bad input data, located as precisely as we can: file, line, field."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message, self.source, self.line, self.field = message, source, line, field
        super().__init__(self.location() + message)

    def location(self) -> str:
        parts = []
        if self.source is not None:
            parts.append(self.source + (f":{self.line}" if self.line is not None else ""))
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(f"field '{self.field}'")
        return (", ".join(parts) + ": ") if parts else ""



class StaleCursorError(InputError):
    """A feed cursor that was good once: its session expired, or an older townsquare made it. A client starts a
    new feed (the web app does, and says so); any other bad cursor is a plain InputError."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="cursor")

class MissingDependencyError(TownsquareError):
    """An optional extra or model package is not installed; the message has the install line."""

    def __init__(self, what: str, install: str) -> None:
        self.install = install
        super().__init__(f"{what} is not installed. Install it with:\n    {install}")


class BackendError(TownsquareError):
    """A model backend (local or remote) failed or answered badly."""


def check_writable_file(path: Path, field: str = "out") -> None:
    """Make ``path``'s folder, and say now (InputError) if ``path`` cannot be written: before minutes of
    work or a committed import, not after."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror}", field=field) from None
    if path.is_dir() or not os.access(path if path.exists() else path.parent, os.W_OK):
        raise InputError(f"cannot write {path}: not a writable file", field=field)
