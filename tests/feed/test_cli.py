"""The feed commands, run through the real CLI on a tiny world."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from townsquare.cli import app
from townsquare.storage import Store

from .conftest import NOW, World


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """A data folder with a small world, and a function that runs ``townsquare ...`` on it."""
    import townsquare.cli.feed as feed_cli  # adds the feed commands

    store = Store.open(f"sqlite:///{tmp_path / 'townsquare.sqlite'}")
    world = World(store)
    for h in ("ada", "bob", "cy"):
        world.user(h)
    for i in range(8):
        world.post("bob", "chess", hours_ago=1 + i, pid=f"chess{i}")
        world.post("cy", "politics", hours_ago=1 + i, pid=f"politics{i}")
    world.follow("ada", "bob")
    world.follow("ada", "cy", "mute")
    world.load()
    store.close()
    monkeypatch.setenv("TOWNSQUARE_EMBED_MODEL", str(tmp_path / "no-such-model"))  # no embedder needed here
    monkeypatch.setattr(feed_cli.out, "width", 200)  # the console was made at import, whatever COLUMNS was then
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["--data-dir", str(tmp_path), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    return run


def test_feed_pages_with_a_cursor_and_explains(cli):
    at = NOW.isoformat()
    first = json.loads(cli("feed", "ada", "--limit", "3", "--json", "--at", at, "--no-moderation"))
    assert [i["author"] for i in first["items"]] == ["@bob"] * 3  # cy is muted
    second = json.loads(cli("feed", "ada", "--limit", "3", "--cursor", first["cursor"], "--json", "--at", at,
                            "--no-moderation"))
    assert not {i["post"] for i in first["items"]} & {i["post"] for i in second["items"]}
    table = cli("feed", "ada", "--limit", "2", "--explain", "--at", at, "--no-moderation")
    assert "posted by @bob, whom you follow" in table and "next page: townsquare feed ada --cursor" in table


def test_why_not_names_the_filter(cli):
    out = cli("why-not", "ada", "politics0", "--at", NOW.isoformat())
    assert "removed by the blocked_authors filter: you muted them" in out
    assert "(its text is not shown to this user)" in out  # a why-not is not a way to read a muted post


def test_feed_pipeline_prints_the_components(cli):
    described = json.loads(cli("feed-pipeline", "--json"))
    assert described["filters"][0]["name"] == "own_posts"
    assert "in_network (InNetworkSource)" in cli("feed-pipeline")


def test_steer_lists_and_clears(cli):
    assert "ada steers: nothing" in cli("steer", "ada")
    assert "removed 0 steering phrases" in cli("steer", "ada", "--clear")


def test_a_missing_policy_file_is_an_error_not_an_unmoderated_feed(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "TOWNSQUARE_DATA_DIR": str(tmp_path), "TOWNSQUARE_SAFETY_POLICY": str(tmp_path / "nope.toml")}
    env.pop("TOWNSQUARE_DATABASE_URL", None)
    (tmp_path / "w.jsonl").write_text('{"type": "user", "id": "u1", "handle": "ada"}\n')
    refused = subprocess.run([sys.executable, "-m", "townsquare", "import", "jsonl", str(tmp_path / "w.jsonl")],
                             env=env, capture_output=True, text=True, check=False)  # it would score with that policy
    assert refused.returncode != 0 and "nope.toml not found" in refused.stderr and "Traceback" not in refused.stderr
    subprocess.run([sys.executable, "-m", "townsquare", "import", "jsonl", str(tmp_path / "w.jsonl"), "--load-only"],
                   env=env, check=True, capture_output=True)
    shown = subprocess.run([sys.executable, "-m", "townsquare", "feed", "ada"], env=env, capture_output=True,
                           text=True, check=False)
    assert shown.returncode != 0 and "nope.toml not found" in shown.stderr and "Traceback" not in shown.stderr


def test_a_feed_at_a_past_time_reads_only_what_had_happened_by_then(cli, tmp_path):
    """bob's like of cy's post comes a day after the feed's time: neither social proof nor the post is there."""
    from datetime import timedelta

    from townsquare.ingest.loader import Loader
    from townsquare.ingest.records import InteractionRecord, PostRecord, UserRecord

    store = Store.open(f"sqlite:///{tmp_path / 'townsquare.sqlite'}")
    later = NOW + timedelta(days=1)
    Loader(store).load([UserRecord(id="dee", handle="dee"),
                        PostRecord(id="old", author="dee", text="chess thoughts", created_at=NOW - timedelta(hours=3)),
                        InteractionRecord(user="bob", post="old", kind="like", created_at=later),
                        PostRecord(id="new", author="bob", text="chess tomorrow", created_at=later)])
    store.close()
    then = json.loads(cli("feed", "ada", "--limit", "20", "--json", "--at", NOW.isoformat(), "--no-moderation"))
    assert not {"old", "new"} & {i["post"] for i in then["items"]}
    assert "engaged with by" not in str([i["because"] for i in then["items"]])
    now = json.loads(cli("feed", "ada", "--limit", "20", "--json", "--at", (later + timedelta(hours=1)).isoformat(),
                         "--no-moderation"))
    assert {"old", "new"} <= {i["post"] for i in now["items"]}
