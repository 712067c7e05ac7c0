"""The data commands, run in-process as a user would type them, on a real SQLite file."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import write_jsonl
from townsquare.settings import Settings
from townsquare.storage import Store

WORLD = [
    {"type": "user", "id": "u1", "handle": "ada", "bio": "chess"},
    {"type": "user", "id": "u2", "handle": "bob"},
    {"type": "post", "id": "p1", "author": "u1", "text": "Sicilian or French? #chess"},
    {"type": "post", "id": "p2", "author": "u2", "text": "French", "reply_to": "p1"},
    {"type": "follow", "source": "u2", "target": "u1"},
    {"type": "interaction", "user": "u2", "post": "p1", "kind": "like"},
]


@pytest.fixture
def db(tmp_path):
    return lambda: Store.open(Settings(data_dir=tmp_path / "data").resolved_database_url)


def test_import_jsonl_then_again_is_idempotent(run, db, tmp_path):
    """An import embeds what it adds and scores new posts for moderation; again, it adds nothing."""
    file = write_jsonl(tmp_path / "world.jsonl", WORLD)
    first = run("import", "jsonl", str(file))
    assert first.exit_code == 0, first.output
    counts = db().counts()
    assert (counts["users"], counts["posts"], counts["interactions"]) == (2, 2, 1)
    assert (counts["post_vectors"], counts["user_vectors"]) == (2, 1)  # bob has no profile to embed
    assert "scored 2 posts" in first.output and "next:" not in first.output
    again = run("import", "jsonl", str(file))
    assert again.exit_code == 0 and db().counts() == counts and "scored" not in again.output  # nothing new
    status = run("status")
    assert status.exit_code == 0 and "not scored for moderation" not in status.output and "no vector" not in status.output


def test_import_load_only_leaves_embedding_and_scoring_and_says_so(run, db, tmp_path):
    first = run("import", "jsonl", str(write_jsonl(tmp_path / "world.jsonl", WORLD)), "--load-only")
    assert first.exit_code == 0, first.output
    assert ("next: `townsquare embed` and `townsquare moderate score`: 2 live posts have no vector and 2 live posts "
            "have no moderation scores yet") in " ".join(first.output.split())
    counts = db().counts()
    assert counts["posts"] == 2 and (counts["post_vectors"], counts["user_vectors"]) == (0, 0)
    status = run("status")  # the feed would show them unmoderated and unmatched: status says so
    said = " ".join(status.output.split())
    assert status.exit_code == 0 and "2 live posts are not scored for moderation yet" in said
    assert "2 live posts have no vector yet" in said
    embedded = run("embed")
    assert embedded.exit_code == 0, embedded.output
    said = " ".join(run("status").output.split())
    assert "not scored" in said and "no vector" not in said


def test_a_broken_policy_stops_an_import_before_it_writes(run, db, tmp_path, monkeypatch):
    """The policy that would score the new posts is loaded first: a missing file imports nothing."""
    monkeypatch.setenv("TOWNSQUARE_SAFETY_POLICY", str(tmp_path / "nope.toml"))
    file = write_jsonl(tmp_path / "world.jsonl", WORLD)
    refused = run("import", "jsonl", str(file))
    assert refused.exit_code != 0 and "nope.toml not found" in str(refused.exception)
    assert db().counts()["posts"] == 0
    loaded = run("import", "jsonl", str(file), "--load-only")  # needs no policy
    assert loaded.exit_code == 0 and db().counts()["posts"] == 2, loaded.output


def test_a_wrong_embedding_model_stops_an_import_before_it_writes(run, db, tmp_path, monkeypatch):
    monkeypatch.setenv("TOWNSQUARE_EMBED_MODEL", "nosuch")
    file = write_jsonl(tmp_path / "world.jsonl", WORLD)
    refused = run("import", "jsonl", str(file))
    assert refused.exit_code != 0 and "unknown embedding model 'nosuch'" in str(refused.exception)
    assert db().counts()["posts"] == 0


def test_an_import_finishes_what_an_earlier_one_left_unembedded_and_unscored(run, db, tmp_path):
    file = write_jsonl(tmp_path / "world.jsonl", WORLD)
    assert run("import", "jsonl", str(file), "--load-only").exit_code == 0  # or one stopped after its commit
    again = run("import", "jsonl", str(file))
    assert again.exit_code == 0, again.output
    counts = db().counts()
    assert (counts["posts"], counts["post_vectors"], counts["user_vectors"]) == (2, 2, 1)  # nothing new: embedded
    assert "scored 2 posts" in again.output and "next:" not in again.output
    said = " ".join(run("status").output.split())
    assert "not scored" not in said and "no vector" not in said
    edges = tmp_path / "follows.csv"  # an import that adds no posts scores none: it says what waits
    edges.write_text("source,target\nu1,u2\n")
    assert run("import", "jsonl", str(write_jsonl(tmp_path / "more.jsonl", [
        {"type": "user", "id": "u3", "handle": "cy"},
        {"type": "post", "id": "p3", "author": "u3", "text": "hello"}])), "--load-only").exit_code == 0
    followed = run("import", "table", str(edges), "--kind", "edges", "--map", "source=source,target=target")
    assert followed.exit_code == 0, followed.output
    said = " ".join(followed.output.split())
    assert "next: `townsquare moderate score`: 1 live post has no moderation scores yet" in said  # embedded


def test_bulk_import_gives_the_same_rows(run, db, tmp_path):
    file = write_jsonl(tmp_path / "world.jsonl", WORLD)
    result = run("import", "jsonl", str(file), "--bulk")
    assert result.exit_code == 0, result.output
    counts = db().counts()
    assert (counts["users"], counts["posts"], counts["interactions"], counts["edges"]) == (2, 2, 1, 1)


def test_bad_line_names_file_line_and_field_and_changes_nothing(run, db, tmp_path):
    rows = [*WORLD, {"type": "interaction", "user": "u2", "post": "p404", "kind": "like"}]
    file = write_jsonl(tmp_path / "bad.jsonl", rows)
    result = run("import", "jsonl", str(file))
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    message = str(result.exception)
    assert f"{file}:7" in message and "field 'post'" in message and "p404" in message
    assert db().counts()["users"] == 0


def test_skip_bad_writes_a_report(run, db, tmp_path):
    rows = [*WORLD, {"type": "interaction", "user": "u2", "post": "p1", "kind": "teleport"},
            {"type": "post", "id": "p3", "author": "ghost", "text": "boo"}]
    file = write_jsonl(tmp_path / "bad.jsonl", rows)
    report = tmp_path / "skipped.jsonl"
    result = run("import", "jsonl", str(file), "--skip-bad", "--report", str(report))
    assert result.exit_code == 0, result.output
    skipped = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(s["line"], s["field"]) for s in skipped] == [(7, "kind"), (8, "author")]
    assert db().counts()["posts"] == 2


def test_a_skip_report_that_cannot_be_written_stops_the_import_before_it_writes(run, db, tmp_path):
    rows = [*WORLD, {"type": "post", "id": "p3", "author": "ghost", "text": "boo"}]
    file = write_jsonl(tmp_path / "bad.jsonl", rows)
    (tmp_path / "taken").mkdir()
    refused = run("import", "jsonl", str(file), "--skip-bad", "--load-only", "--report", str(tmp_path / "taken"))
    assert refused.exit_code != 0 and "field 'report': cannot write" in str(refused.exception)
    assert db().counts()["posts"] == 0
    report = tmp_path / "new" / "folder" / "skipped.jsonl"  # a missing folder is made
    loaded = run("import", "jsonl", str(file), "--skip-bad", "--load-only", "--report", str(report))
    assert loaded.exit_code == 0 and "ghost" in report.read_text(), loaded.output


def test_import_table_with_mapping(run, db, tmp_path):
    run("import", "jsonl", str(write_jsonl(tmp_path / "world.jsonl", WORLD)))
    table = tmp_path / "likes.csv"
    table.write_text("who,what,when\nu1,p2,1700000000\n", encoding="utf-8")
    result = run("import", "table", str(table), "--kind", "interactions", "--interaction", "like",
                 "--map", "user=who,item=what,timestamp=when")
    assert result.exit_code == 0, result.output
    assert db().counts()["interactions.like"] == 2


@pytest.mark.parametrize(("option", "value"), [("--kind", "likes"), ("--interaction", "fav"), ("--edge", "friend")])
def test_import_table_names_the_option_whose_value_is_unknown(run, db, tmp_path, option, value):
    table = tmp_path / "likes.csv"
    table.write_text("who,what\nu1,p2\n", encoding="utf-8")
    args = {"--kind": "interactions", "--interaction": "like", "--edge": "follow", option: value}
    result = run("import", "table", str(table), *[part for pair in args.items() for part in pair],
                 "--map", "user=who,item=what")
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output, result.output
    assert db().counts()["users"] == 0


def test_a_table_of_likes_needs_no_classifiers(run, db, tmp_path, monkeypatch):
    """Interactions and edges add no posts: the import neither loads the policy nor scores anything."""
    run("import", "jsonl", str(write_jsonl(tmp_path / "world.jsonl", WORLD)))
    monkeypatch.setenv("TOWNSQUARE_SAFETY_POLICY", str(tmp_path / "nope.toml"))
    table = tmp_path / "likes.csv"
    table.write_text("who,what\nnewcomer,p2\n", encoding="utf-8")
    result = run("import", "table", str(table), "--kind", "interactions", "--interaction", "like",
                 "--new-users", "--map", "user=who,item=what")
    assert result.exit_code == 0, result.output
    assert db().counts()["users"] == 3


def test_user_export_and_delete(run, db, tmp_path):
    run("import", "jsonl", str(write_jsonl(tmp_path / "world.jsonl", WORLD)))
    exported = tmp_path / "exports" / "ada.json"  # the folder is made
    assert run("user", "export", "ada", "--out", str(exported)).exit_code == 0
    data = json.loads(exported.read_text())
    assert data["user"]["handle"] == "ada" and [p["external_id"] for p in data["posts"]] == ["p1"]
    assert run("user", "delete", "ada", "--yes").exit_code == 0
    counts = db().counts()
    assert (counts["users"], counts["posts"], counts["interactions"]) == (1, 1, 0)


def test_unknown_user_is_a_clear_error(run):
    result = run("user", "export", "nobody")
    assert result.exit_code != 0 and "no user 'nobody'" in str(result.exception)


def test_the_real_command_prints_a_clear_error_not_a_traceback(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "user", "id": "u1", "handle": "ada"}\n{"type": "user", "id": \n', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "townsquare", "--data-dir", str(tmp_path / "d"), "import",
                             "jsonl", str(bad)], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{bad}:2" in result.stderr and "error" in result.stderr
    odd = subprocess.run([sys.executable, "-m", "townsquare", "--data-dir", str(tmp_path / "d"), "user", "export",
                          "[/bold]x"], check=False, capture_output=True, text=True, timeout=120)
    assert odd.returncode == 2 and "Traceback" not in odd.stderr and "no user '[/bold]x'" in odd.stderr


def test_demo_load_ends_the_community_now_and_keeps_that_end_when_loaded_again(run, db):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from townsquare.storage.schema import interactions, posts

    def newest(table) -> datetime:
        with db().read() as conn:
            at = conn.execute(select(func.max(table.c.created_at))).scalar_one()
        return at.replace(tzinfo=at.tzinfo or UTC)

    first = run("demo", "load", "--load-only")  # what is loaded, and when, is all this test looks at
    assert first.exit_code == 0, first.output
    now = datetime.now(UTC)
    assert now - timedelta(days=1) < newest(posts) < now  # recent whatever today's date
    counts, latest = db().counts(), newest(interactions)
    again = run("demo", "load", "--load-only")  # later: the end it was first loaded with is kept, nothing new, nothing moved
    assert again.exit_code == 0 and db().counts() == counts and newest(interactions) == latest
    other = run("demo", "load", "--as-of", "2025-03-01", "--load-only")
    assert other.exit_code != 0 and "holds the demo as of" in other.output and db().counts() == counts


def test_demo_load_as_of_a_date(run, db):
    from sqlalchemy import func, select

    from townsquare.storage.schema import posts

    result = run("demo", "load", "--as-of", "2025-03-01", "--load-only")
    assert result.exit_code == 0, result.output
    with db().read() as conn:
        oldest, newest = conn.execute(select(func.min(posts.c.created_at), func.max(posts.c.created_at))).one()
    assert (str(oldest)[:10], str(newest)[:10]) == ("2025-01-30", "2025-02-28")


def test_make_demo_prepares_the_demo_once(run, db):
    """`demo prepare` (what make demo runs): loaded, every post and user embedded, one ranker; again: nothing new."""
    from sqlalchemy import func, select

    from townsquare.storage.feed_schema import feed_rankers
    from townsquare.storage.moderation_schema import moderation_cases, moderation_scores
    from townsquare.storage.schema import users

    first = run("demo", "prepare")
    assert first.exit_code == 0 and "ranker v1" in first.output, first.output
    assert "collaborative models for" in first.output  # so the served demo has every source
    counts = db().counts()
    assert counts["post_vectors"] == counts["posts"] > 1000 and counts["user_vectors"] == counts["users"]
    with db().read() as conn:  # every post scored, so the feed and the queue act on the demo's toxic posts
        scored = conn.execute(select(func.count(moderation_scores.c.post_id.distinct()))).scalar_one()
        cases = conn.execute(select(func.count()).select_from(moderation_cases)).scalar_one()
    assert scored == counts["posts"] and cases >= 3 and "new cases in the queue" in first.output
    assert "next:" not in first.output  # it does them itself
    again = run("demo", "prepare")
    assert again.exit_code == 0 and "ranker v1 is already stored" in again.output, again.output
    assert "are already there; nothing to do" in " ".join(again.output.split())
    assert "every post is scored already" in again.output
    assert "not scored for moderation" not in run("status").output
    assert db().counts() == counts
    with db().read() as conn:
        assert conn.execute(select(func.count()).select_from(feed_rankers)).scalar_one() == 1
        handle = conn.execute(select(users.c.handle).order_by(users.c.id)).scalar()
    # what a platform runs next on it: the collaborative models again, and the assistant
    trained = run("train", "collaborative", "--factors", "8")
    assert trained.exit_code == 0 and "collaborative models for" in trained.output, trained.output
    answer = run("ask", "who writes about chess?", "-u", handle)
    assert answer.exit_code == 0 and answer.output.count("(/posts/") >= 2, answer.output


def test_migrate_import_a_public_dataset_and_synthesise_a_corpus(run, db, tmp_path):
    migrated = run("migrate")
    assert migrated.exit_code == 0 and "schema at revision" in migrated.output, migrated.output
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.genre").write_text("unknown|0\nDrama|1\n\n")
    (folder / "u.item").write_text("10|Brazil (1985)|01-Jan-1985||http://x|0|1\n11|Heat (1995)|||http://y|0|1\n",
                                   encoding="latin-1")
    (folder / "u.data").write_text("1\t10\t4\t881250949\n2\t10\t5\t881250950\n1\t11\t1\t881250951\n")
    imported = run("import", "dataset", "movielens-100k", str(folder))
    assert imported.exit_code == 0, imported.output
    counts = db().counts()
    assert (counts["users"], counts["posts"], counts["interactions"]) == (3, 2, 3)  # two raters and the catalog
    from typer.testing import CliRunner

    from townsquare.cli import app

    synth = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "synth"), "demo", "synth", "--users", "50",
                                     "--posts", "300", "--interactions", "1000"])
    assert synth.exit_code == 0, synth.output
    made = Store.open(Settings(data_dir=tmp_path / "synth").resolved_database_url).counts()
    assert (made["users"], made["posts"]) == (50, 300) and made["interactions"] > 0


def test_models_lists_what_the_settings_name(run):
    said = run("models").output
    assert all(name in said for name in ("minilm", "llama_cpp", "openai", "smollm2", "gemma3"))


def test_a_classifier_name_must_be_a_file_name(run, tmp_path):
    data = tmp_path / "tiny.jsonl"
    data.write_text('{"text": "hi", "label": "a"}\n', encoding="utf-8")
    refused = run("train", "classifier", "../evil", "--data", str(data), "--out", str(tmp_path / "out"))
    assert refused.exit_code != 0 and "classifier name '../evil'" in str(refused.exception)
    assert not (tmp_path / "evil.npz").exists()



def test_import_dataset_takes_bulk_and_import_labelled_skip_bad_as_the_docs_say(run, db, tmp_path, monkeypatch):
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.genre").write_text("unknown|0\nDrama|1\n\n")
    (folder / "u.item").write_text("10|Brazil (1985)|01-Jan-1985||http://x|0|1\n", encoding="latin-1")
    (folder / "u.data").write_text("1\t10\t4\t881250949\n2\t10\t5\t881250950\n")
    imported = run("import", "dataset", "movielens-100k", str(folder), "--bulk", "--load-only")
    assert imported.exit_code == 0, imported.output
    assert db().counts()["interactions"] == 2
    row = ("{id}.json\t{label}\tSays taxes went up.\teconomy\tjane-doe\tMayor\tOhio\tdemocrat\t1\t2\t3\t4\t5\tspeech")
    liar = tmp_path / "liar"
    liar.mkdir()
    (liar / "train.tsv").write_text(row.format(id=1, label="true") + "\n" + row.format(id=2, label="sorta") + "\n")
    monkeypatch.chdir(tmp_path)
    stopped = run("import", "labelled", "liar", str(liar), "--out", str(tmp_path / "liar.jsonl"))
    assert stopped.exit_code != 0 and "train.tsv:2" in str(stopped.exception)
    skipped = run("import", "labelled", "liar", str(liar), "--out", str(tmp_path / "liar.jsonl"), "--skip-bad")
    assert skipped.exit_code == 0, skipped.output
    assert "wrote 1 labelled texts" in skipped.output and "skipped 1 bad lines" in skipped.output
    reasons = [json.loads(line) for line in (tmp_path / "liar.skipped.jsonl").read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in reasons] == [(2, "label")]
