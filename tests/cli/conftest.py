"""The ``townsquare`` command run in-process, as a user would type it, on a data folder of the test's own."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from townsquare.cli import _register, app

_register()


@pytest.fixture
def run(tmp_path):
    """``run(*args)``: the command's result (exit code and output), with ``--data-dir`` set."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["--data-dir", str(tmp_path / "data"), *args])

    return invoke


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
