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


def test_masked_url_hides_only_the_password():
    from townsquare.settings import masked_url

    assert masked_url("postgresql://ts:S3cret@db.internal:5432/ts?sslmode=require") == (
        "postgresql://ts:***@db.internal:5432/ts?sslmode=require")
    assert masked_url("sqlite:///data/townsquare.sqlite") == "sqlite:///data/townsquare.sqlite"
    assert "S3cret" not in masked_url("postgresql://ts:S3cret@[bad")  # not a URL SQLAlchemy reads


def test_unknown_variables_are_those_no_setting_reads():
    from townsquare.settings import unknown_variables

    environ = {"TOWNSQUARE_DATA_DIR": "d", "TOWNSQUARE_WEB_RATE_PER_S": "5", "townsquare_threads": "2",
               "TOWNSQUARE_SCREENSHOTS": "s", "TOWNSQUARE_SAFETY_POLCY": "p", "TOWNSQUARE_WEB_DEMOO": "1", "HOME": "/"}
    assert unknown_variables(environ) == ["TOWNSQUARE_SAFETY_POLCY", "TOWNSQUARE_WEB_DEMOO"]
