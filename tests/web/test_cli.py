"""``townsquare keys create | list | revoke`` and a key made by the CLI working over HTTP."""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient
from typer.testing import CliRunner

import townsquare.cli.web  # noqa: F401  (adds the commands to ``app``)
from townsquare.cli import app
from townsquare.ingest.loader import Loader
from townsquare.ingest.records import UserRecord
from townsquare.settings import Settings
from townsquare.storage import Store
from townsquare.web import create_app
from townsquare.web.config import WebConfig


def test_keys_create_list_revoke(tmp_path):
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    store = Store.open(settings.resolved_database_url)
    Loader(store).load([UserRecord(id="u1", handle="ada")])
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(app, ["--data-dir", str(data), *args])
        assert result.exit_code == 0, result.output
        return result.output

    long_name = "the nightly export job on the reporting box in rack three, which a terminal would wrap"
    created = json.loads(run("keys", "create", "--scope", "read", "--scope", "ingest", "--name", long_name))
    assert created["key"].startswith("ts_") and created["scopes"] == ["ingest", "read"]
    recall_s = 0.2
    client = TestClient(create_app(settings, WebConfig(auth_recall_s=recall_s), store=store, moderation=None))
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/v1/users/ada", headers=headers).status_code == 200
    listed = json.loads(run("keys", "list", "--json"))
    assert [k["name"] for k in listed] == [long_name] and "key_hash" not in listed[0]
    run("keys", "revoke", str(created["id"]))  # another process's revocation: within auth_recall_s
    time.sleep(recall_s)
    assert client.get("/v1/users/ada", headers=headers).status_code == 401
    bad = runner.invoke(app, ["--data-dir", str(data), "keys", "create", "--scope", "root"])
    assert bad.exit_code != 0
    store.close()
