"""Fixtures for reader tests: every test writes its own tiny input files into tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from townsquare.errors import InputError


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """``write("name.csv", text, encoding="utf-8")`` -> the written path (text, or raw bytes)."""

    def _write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return _write


@pytest.fixture
def errors() -> list[InputError]:
    """A list to pass as ``on_error=errors.append``."""
    return []
