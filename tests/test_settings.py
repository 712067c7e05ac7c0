"""Settings are documented, validated, and never echo secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from townsquare.cli import _register, app
from townsquare.settings import Settings


def test_every_setting_says_what_it_does():
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert missing == []


def test_unsafe_or_wrong_values_are_refused():
    with pytest.raises(ValidationError):
        Settings(database_url="mysql://x")
    with pytest.raises(ValidationError):
        Settings(threads=0)


def test_settings_command_masks_keys(tmp_path, monkeypatch):
    _register()
    monkeypatch.setenv("TOWNSQUARE_OPENAI_API_KEY", "sk-secret-value")
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "settings"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "TOWNSQUARE_DATABASE_URL" in result.output and "sk-secret-value" not in result.output


def test_settings_command_lists_the_web_settings_too(tmp_path, monkeypatch):
    _register()
    monkeypatch.setenv("TOWNSQUARE_WEB_AUTH_RECALL_S", "2.5")
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "settings"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    line = next(l for l in result.output.splitlines() if "TOWNSQUARE_WEB_AUTH_RECALL_S" in l)
    assert "2.5" in line and "TOWNSQUARE_WEB_FEED_CONCURRENCY" in result.output
