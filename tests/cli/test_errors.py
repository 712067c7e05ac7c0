"""What the command says when a setting or the database is wrong: one line naming what to fix, exit
code 2, no traceback, and never a password."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(("variable", "value"), [("TOWNSQUARE_WEB_RATE_PER_S", "abc"),
                                                 ("TOWNSQUARE_WEB_MAX_BATCH", "0")])
def test_a_bad_web_setting_stops_serve_before_it_serves_and_names_its_variable(cli, variable, value):
    code, out, err = cli("serve", "--port", str(_free_port()), "--workers", "2", env={variable: value})
    assert code == 2, err
    assert f"{variable} is '{value}'" in err and "Traceback" not in err
    assert "townsquare on" not in out  # never said it serves: its workers would only crash and restart


def test_a_bad_setting_names_its_variable_and_value(cli):
    code, _, err = cli("status", env={"TOWNSQUARE_THREADS": "0"})
    assert code == 2 and "TOWNSQUARE_THREADS is '0'" in err


def test_a_misspelt_variable_is_refused_with_the_names_it_is_close_to(cli):
    code, out, err = cli("status", env={"TOWNSQUARE_SAFETY_POLCY": "policy.toml"})
    assert code == 2 and out == ""
    assert "unknown setting TOWNSQUARE_SAFETY_POLCY (did you mean TOWNSQUARE_SAFETY_POLICY?)" in err
    code, _, err = cli("status", env={"TOWNSQUARE_WEB_RATE_PER": "9"})
    assert code == 2 and "TOWNSQUARE_WEB_RATE_PER (did you mean TOWNSQUARE_WEB_RATE_PER_S" in err


def test_settings_lists_the_right_names_and_warns_of_an_unknown_one(cli):
    code, out, err = cli("settings", env={"TOWNSQUARE_TYPO_SETTING": "1", "COLUMNS": "250"})
    assert code == 0 and "warning:" in err and "TOWNSQUARE_TYPO_SETTING" in err
    assert "TOWNSQUARE_SAFETY_POLICY" in out


def test_variables_townsquare_reads_are_not_unknown(cli):
    code, _, err = cli("status", env={"TOWNSQUARE_EMBED_MODEL": "minilm", "TOWNSQUARE_WEB_DEMO": "false",
                                      "TOWNSQUARE_SCREENSHOTS": "/tmp/shots"})  # the browser tests' own
    assert code == 0, err


def test_a_database_folder_that_cannot_be_made_is_one_line(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = cli("--data-dir", str(blocker / "data"), "status", data_dir=False)
    assert code == 2 and "Traceback" not in err
    assert f"could not open the database {blocker / 'data' / 'townsquare.sqlite'}" in err
    assert len(err.strip().splitlines()) == 1


def test_a_postgresql_server_that_is_not_running_is_one_line_without_its_password(cli):
    url = f"postgresql://nouser:S3cretPW@127.0.0.1:{_free_port()}/db"
    code, _, err = cli("status", env={"TOWNSQUARE_DATABASE_URL": url})
    assert code == 2 and "Traceback" not in err, err
    assert "could not open the database postgresql://nouser:***@127.0.0.1" in err and "Connection refused" in err
    assert "S3cretPW" not in err and len(err.strip().splitlines()) == 1


def _url_with_password(server, name: str) -> str:
    base, _, query = server.get_uri().partition("?")  # postgresql://postgres:@/postgres?host=...
    return f"{base.rsplit('/', 1)[0].replace('postgres:@', 'postgres:S3cretPW@')}/{name}?{query}"


@pytest.mark.postgres
def test_a_postgresql_database_that_does_not_exist_is_one_line(cli, postgres_server):
    code, _, err = cli("status", env={"TOWNSQUARE_DATABASE_URL": _url_with_password(postgres_server, "nosuchdb")})
    assert code == 2 and "Traceback" not in err, err
    assert "could not open the database postgresql://postgres:***@/nosuchdb" in err and "does not exist" in err
    assert "S3cretPW" not in err


@pytest.mark.postgres
def test_status_and_settings_mask_the_database_password(cli, postgres_server):
    postgres_server.psql("CREATE DATABASE townsquare_cli_password;")
    url = _url_with_password(postgres_server, "townsquare_cli_password")  # the socket trusts: any password works
    try:
        code, out, err = cli("status", env={"TOWNSQUARE_DATABASE_URL": url})
        assert code == 0, err
        assert "townsquare at postgresql://postgres:***@/townsquare_cli_password" in out and "S3cretPW" not in out
        code, out, err = cli("settings", env={"TOWNSQUARE_DATABASE_URL": url, "COLUMNS": "400"})
        assert code == 0, err
        assert "postgres:***@" in out and "S3cretPW" not in out + err
    finally:  # the command's pool may still hold a connection
        postgres_server.psql("DROP DATABASE townsquare_cli_password WITH (FORCE);")


def test_a_database_migrated_by_a_newer_townsquare_is_one_line(cli, run, tmp_path):
    from sqlalchemy import create_engine

    assert run("migrate").exit_code == 0
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'townsquare.sqlite'}")
    with engine.begin() as conn:
        known = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    code, _, err = cli("status")
    assert code == 2 and "Traceback" not in err
    assert (f"this database was migrated by a newer townsquare (revision 0099; this one knows up to {known}): "
            "upgrade townsquare") in err
