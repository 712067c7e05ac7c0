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


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """``cli(*args, env={})``: the real entry point (``townsquare.cli.main``, whose error handling
    ``CliRunner`` skips) run in-process: (exit code, stdout, stderr), with ``--data-dir`` set."""
    import sys

    from townsquare.cli import main

    def invoke(*args: str, env: dict[str, str] | None = None, data_dir: bool = True):
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "argv", ["townsquare", *(["--data-dir", str(tmp_path / "data")] if data_dir else []),
                                          *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            main()
        captured = capsys.readouterr()
        return exit_.value.code or 0, captured.out, captured.err

    return invoke
