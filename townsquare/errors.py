"""Every error a user can see, in one place.

Each message says what went wrong and what to do about it. The CLI prints them without a
traceback; the HTTP API turns them into 4xx answers.
"""

from __future__ import annotations


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


class MissingDependencyError(TownsquareError):
    """An optional extra or model package is not installed; the message has the install line."""

    def __init__(self, what: str, install: str) -> None:
        self.install = install
        super().__init__(f"{what} is not installed. Install it with:\n    {install}")


class BackendError(TownsquareError):
    """A model backend (local or remote) failed or answered badly."""
