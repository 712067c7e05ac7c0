"""The store contract: every test here runs on SQLite and on PostgreSQL with pgvector."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from townsquare.errors import ConfigError, InputError, NotFoundError
from townsquare.ingest.loader import Loader
from townsquare.ingest.records import EdgeRecord, InteractionRecord, PostRecord, UserRecord
from townsquare.storage import Store
from townsquare.storage.privacy import delete_user, export_user
from townsquare.storage.schema import interactions, metadata, posts, users
from townsquare.storage.store import text_hash

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def small_world() -> list:
    return [
        UserRecord(id="u1", handle="ada", display_name="Ada", bio="chess and bread", interests=["chess"]),
        UserRecord(id="u2", handle="bob"),
        UserRecord(id="u3", handle="cy"),
        PostRecord(id="p1", author="u1", text="Opening prep for #chess @bob", created_at=T0),
        PostRecord(id="p2", author="u2", text="which one?", reply_to="p1", created_at=T0),
        PostRecord(id="p3", author="u1", text="the Sicilian", reply_to="p2", created_at=T0),
        PostRecord(id="p4", author="u3", text="sourdough day", created_at=T0),
        EdgeRecord(source="u2", target="u1"),
        EdgeRecord(type="mute", source="u3", target="u1"),
        InteractionRecord(user="u2", post="p1", kind="like", created_at=T0),
        InteractionRecord(user="u3", post="p1", kind="dwell", value=5300, created_at=T0),
        InteractionRecord(user="u1", post="p4", kind="view", created_at=T0),
    ]


def test_migrations_match_the_schema(store):
    assert store.schema_revision() is not None
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []


def test_migrate_is_idempotent(store):
    before = store.schema_revision()
    store.migrate()
    assert store.schema_revision() == before


def test_a_database_migrated_by_a_newer_townsquare_is_refused_in_words(store):
    known = store.schema_revision()
    with store.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    url = store.engine.url.render_as_string(hide_password=False)
    with pytest.raises(ConfigError, match=(rf"this database was migrated by a newer townsquare \(revision 0099; "
                                           rf"this one knows up to {known}\): upgrade townsquare")):
        Store.open(url)
    assert store.schema_revision() == "0099"  # and left as it was


def test_a_handle_looked_up_without_case_reads_an_index_not_the_table(store):
    """The loader's and ``find_user``'s ``lower(handle)`` lookups use ix_users_handle_lower (migration 0012)."""
    Loader(store).load([UserRecord(id="u1", handle="Ada")], source="t")
    assert store.find_user("ada")["external_id"] == "u1"
    query = select(users.c.id).where(func.lower(users.c.handle) == "ada")
    with store.engine.connect() as conn:
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")  # a table this small is read whole otherwise
            plan = " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
        else:
            plan = " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "ix_users_handle_lower" in plan, plan


def test_load_counts_threads_and_tags(store):
    report = Loader(store).load(small_world(), source="world.jsonl")
    assert report.inserted == {"user": 3, "post": 4, "edge": 2, "interaction": 3}
    counts = store.counts()
    assert counts["users"] == 3 and counts["posts"] == 4 and counts["edges.mute"] == 1
    p1, p3 = store.find_post("p1"), store.find_post("p3")
    assert p3["root_id"] == p1["id"] and p3["reply_to_id"] == store.find_post("p2")["id"]
    assert p1["hashtags"] == ["chess"] and p1["mentions"] == ["bob"]
    assert p1["created_at"] == T0


def test_reimport_is_a_no_op(store):
    Loader(store).load(small_world())
    before = store.counts()
    report = Loader(store).load(small_world())
    assert store.counts() == before
    assert sum(report.inserted.values()) == 0
    assert report.existing["interaction"] == 3


def test_records_in_any_order(store):
    world = small_world()
    Loader(store, batch_size=2).load(list(reversed(world)))
    assert store.counts()["interactions"] == 3
    assert store.find_post("p3")["root_id"] == store.find_post("p1")["id"]


def test_failed_import_leaves_the_database_as_it_was(store):
    Loader(store).load(small_world()[:3])
    before = store.counts()
    bad = small_world() + [InteractionRecord(user="u2", post="nope", kind="like")]
    with pytest.raises(InputError) as error:
        Loader(store).load(bad, source="bad.jsonl")
    assert error.value.source == "bad.jsonl" and error.value.line == len(bad)
    assert error.value.field == "post" and "nope" in str(error.value)
    assert store.counts() == before


def test_skip_bad_imports_the_rest_and_reports(store, tmp_path):
    bad = small_world() + [PostRecord(id="p9", author="ghost", text="x"),
                           UserRecord(id="u9", handle="ada")]
    report = Loader(store, skip_bad=True).load(bad, source="bad.jsonl")
    assert store.counts()["posts"] == 4
    assert [(e.field, e.line) for e in report.skipped] == [("author", 13), ("handle", 14)]
    report.write_skipped(tmp_path / "skipped.jsonl")
    assert "ghost" in (tmp_path / "skipped.jsonl").read_text()


def test_a_skipped_post_is_not_imported_nor_is_a_reply_to_it(store):
    """p9's author is unknown; p10 replies to p9, so it is skipped too, and neither is in the database."""
    bad = small_world() + [PostRecord(id="p9", author="ghost", text="x"),
                           PostRecord(id="p10", author="u1", text="y", reply_to="p9"),
                           PostRecord(id="p11", author="u1", text="z", reply_to="p10")]
    report = Loader(store, skip_bad=True).load(bad, source="bad.jsonl")
    assert [(e.line, e.field) for e in report.skipped] == [(13, "author"), (14, "reply_to")]
    assert report.inserted["post"] == store.counts()["posts"] == 5
    with pytest.raises(NotFoundError):
        store.find_post("p10")
    assert store.find_post("p11")["reply_to_id"] is None  # a reply to a post not imported stands alone


def test_a_later_record_deletes_a_post_changes_its_visibility_or_removes_an_edge(store):
    """Run on SQLite and PostgreSQL: a deleted post loses its words but keeps its row for its replies; only
    what a record names explicitly changes, and only from the post's author; edges are removed in order."""
    from sqlalchemy import text as sql

    from townsquare.storage.moderation_schema import moderation_scores
    from townsquare.storage.schema import edges, post_vectors

    Loader(store).load(small_world())
    p1 = store.find_post("p1")["id"]
    with store.begin() as conn:
        store.vectors.put_posts(conn, "m", [p1], np.ones((1, 4), np.float32))
        conn.execute(moderation_scores.insert().values(post_id=p1, classifier="spam", version="1",
                                                       scores={"spam": 0.1}, spans=[], top_score=0.1))
    again = Loader(store).load(small_world())  # the same file again, which names no deleted or visibility
    assert not +again.inserted and not +again.changed
    with pytest.raises(InputError, match="already stored with another author") as error:
        Loader(store).load([PostRecord(id="p1", author="u2", text="", deleted=True)], source="bad.jsonl")
    assert (error.value.line, error.value.field) == (1, "author") and not store.find_post("p1")["deleted"]
    report = Loader(store).load([
        PostRecord(id="p1", author="u1", text="", deleted=True),
        PostRecord(id="p4", author="u3", text="sourdough day", visibility="followers"),
        PostRecord(id="p3", author="u1", text="the Sicilian", visibility="public"),  # as it was: unchanged
        PostRecord(id="p5", author="u3", text="gone before we saw it #bread", deleted=True),
        EdgeRecord(source="u2", target="u1", removed=True),
        EdgeRecord(source="u3", target="u1", removed=True),  # u3 mutes u1 but never followed them
        EdgeRecord(type="block", source="u1", target="u3"),
        EdgeRecord(type="block", source="u1", target="u3", removed=True),
        EdgeRecord(type="block", source="u1", target="u3"),
    ])
    assert report.changed == {"post": 2, "edge": 2} and report.existing["post"] == 1
    deleted = store.find_post("p1")
    assert deleted["deleted"] and deleted["text"] == "" and deleted["hashtags"] == [] == deleted["mentions"]
    assert store.find_post("p2")["reply_to_id"] == p1  # the reply keeps its thread
    assert store.find_post("p4")["visibility"] == "followers" and store.find_post("p3")["visibility"] == "public"
    assert store.find_post("p5")["text"] == "" and store.find_post("p5")["hashtags"] == []
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(post_vectors)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(moderation_scores)).scalar() == 0
        left = set(conn.execute(select(edges.c.source_id, edges.c.target_id, edges.c.kind)).all())
        assert conn.execute(sql("SELECT count(*) FROM feed_post_changes")).scalar() >= 2  # every worker hears
    ids = {h: store.find_user(h)["id"] for h in ("u1", "u3")}
    assert left == {(ids["u3"], ids["u1"], "mute"), (ids["u1"], ids["u3"], "block")}


def test_no_id_is_handed_out_twice(store):
    """Deleting the newest rows does not give their ids to the next ones (SQLite's AUTOINCREMENT, migration
    0011; PostgreSQL's sequences): feed indexes read new rows by id past the last one they saw."""
    Loader(store).load(small_world() + [UserRecord(id="u9", handle="zed"),
                                        PostRecord(id="p9", author="u9", text="newest", created_at=T0),
                                        InteractionRecord(user="u9", post="p1", kind="like", created_at=T0)])
    newest = {"user": store.find_user("u9")["id"], "post": store.find_post("p9")["id"]}
    with store.read() as conn:
        last_like = conn.execute(select(func.max(interactions.c.id))).scalar()
    delete_user(store, "u9")
    Loader(store).load([UserRecord(id="u10", handle="amy"), PostRecord(id="p10", author="u10", text="next"),
                        InteractionRecord(user="u10", post="p1", kind="like", created_at=T0)])
    assert store.find_user("u10")["id"] > newest["user"] and store.find_post("p10")["id"] > newest["post"]
    with store.read() as conn:
        assert conn.execute(select(func.max(interactions.c.id))).scalar() > last_like


def test_migration_0011_keeps_every_row_index_and_trigger_of_a_filled_sqlite_database(tmp_path):
    from sqlalchemy import text as sql

    from townsquare.ingest.loader import Loader as Load

    old = Store.open(f"sqlite:///{tmp_path / 'old.sqlite'}", migrate=False)
    old.migrate("0010")
    Load(old).load(small_world())
    with old.read() as conn:
        before = {t: conn.execute(sql(f"SELECT count(*) FROM {t}")).scalar() for t in ("users", "posts", "interactions")}
        schema = conn.execute(sql("SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger') "
                                  "ORDER BY name")).all()
    old.migrate("0011")
    with old.read() as conn:
        assert {t: conn.execute(sql(f"SELECT count(*) FROM {t}")).scalar() for t in before} == before
        assert conn.execute(sql("SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger') "
                                "ORDER BY name")).all() == schema
        assert "AUTOINCREMENT" in conn.execute(sql("SELECT sql FROM sqlite_master WHERE name = 'posts'")).scalar()
        assert conn.execute(sql("PRAGMA foreign_keys")).scalar() == 1  # on again for everything after
    old.migrate()  # the code of today needs today's schema
    delete_user(old, "ada")  # the cascades and the feed's trigger still work on the rebuilt tables
    with old.read() as conn:
        assert conn.execute(sql("SELECT count(*) FROM posts")).scalar() == before["posts"] - 2
        assert conn.execute(sql("SELECT count(*) FROM feed_post_changes")).scalar() >= 2
    old.close()


def test_migration_0013_gives_suggestions_their_quoted_post_and_keeps_the_rest(tmp_path):
    from sqlalchemy import text as sql

    from townsquare.interact.store_io import record_suggestions
    from townsquare.interact.suggest import Suggestion

    old = Store.open(f"sqlite:///{tmp_path / 'old.sqlite'}", migrate=False)
    old.migrate("0012")
    Loader(old).load(small_world())
    bob, p1 = old.find_user("bob")["id"], old.find_post("p1")["id"]
    with old.begin() as conn:
        conn.execute(sql("INSERT INTO interact_suggestions (user_id, post_id, kind, text, intent, source, score, "
                         "created_at) VALUES (:u, :p, 'reply', 'an old one', '', 'bank', 0.5, '2026-01-01')"),
                     {"u": bob, "p": p1})
        schema = set(conn.execute(sql("SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger')")))
    old.migrate()
    with old.read() as conn:
        assert conn.execute(sql("SELECT text, quoted_post_id FROM interact_suggestions")).all() == [("an old one", None)]
        now = set(conn.execute(sql("SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger')")))
        assert now == schema | {("index", "ix_interact_suggestions_quoted_post")}
        assert "AUTOINCREMENT" in conn.execute(sql("SELECT sql FROM sqlite_master "
                                                    "WHERE name = 'interact_suggestions'")).scalar()
    p3 = old.find_post("p3")["id"]  # ada's reply, offered to bob as a suggestion
    record_suggestions(old, bob, p1, [Suggestion("the Sicilian!", "comment", "bank", 0.4)], quotes=[p3])
    delete_user(old, "ada")  # the quoted reply goes with its author, and the suggestion with it
    with old.read() as conn:
        assert conn.execute(sql("SELECT count(*) FROM interact_suggestions")).scalar() == 0
    old.close()


def test_find_user_by_handle_external_or_internal_id(store):
    Loader(store).load(small_world())
    ada = store.find_user("@ada")
    assert store.find_user("u1") == ada == store.find_user(ada["id"]) == store.find_user(str(ada["id"]))
    for too_big in (10 ** 20, -(10 ** 20)):  # a number no key column holds names nothing, not an overflow
        with pytest.raises(NotFoundError):
            store.find_user(too_big)
        with pytest.raises(NotFoundError):
            store.find_post(too_big)
    with pytest.raises(NotFoundError):
        store.find_user("nobody")


def test_vectors_search_and_stay_in_step(store):
    Loader(store).load(small_world())
    ids = [store.find_post(p)["id"] for p in ("p1", "p2", "p3", "p4")]
    vectors = np.eye(4, 8, dtype=np.float32)
    with store.begin() as conn:
        store.vectors.put_posts(conn, "toy", ids, vectors)
    found, scores = store.vectors.search_posts("toy", vectors[2], k=2)
    assert found[0] == ids[2] and scores[0] == pytest.approx(1.0)
    assert ids[2] not in store.vectors.search_posts("toy", vectors[2], k=3, exclude={ids[2]})[0]
    # A second process (a fresh Store on the same database) sees new and deleted vectors.
    other = Store.open(str(store.engine.url.render_as_string(hide_password=False)), migrate=False)
    assert other.vectors.search_posts("toy", vectors[1], k=1)[0][0] == ids[1]
    with store.begin() as conn:
        store.vectors.put_posts(conn, "toy", [ids[1]], [vectors[3]])  # replace
    assert set(other.vectors.search_posts("toy", vectors[3], k=2)[0]) == {ids[1], ids[3]}
    delete_user(store, "u3")  # removes p4 and its vector by cascade
    found = other.vectors.search_posts("toy", vectors[3], k=4)[0]
    assert ids[3] not in found and ids[1] in found
    other.close()


def test_vector_dimension_mismatch_is_a_clear_error(store):
    Loader(store).load(small_world())
    pid = store.find_post("p1")["id"]
    with store.begin() as conn:
        store.vectors.put_posts(conn, "toy", [pid], np.ones((1, 8), np.float32))
    with pytest.raises(InputError, match="dimension"), store.begin() as conn:
        store.vectors.put_posts(conn, "toy", [pid], np.ones((1, 4), np.float32))


def test_user_interest_vectors_have_slots(store):
    Loader(store).load(small_world())
    uid = store.find_user("ada")["id"]
    with store.begin() as conn:
        store.vectors.put_user(conn, "toy", uid, np.eye(2, 8, dtype=np.float32))
    assert store.vectors.user_vectors("toy", uid).shape == (2, 8)


def test_embedding_cache_round_trip(store):
    vectors = {"a" * 64: np.arange(4, dtype=np.float32), "b" * 64: np.ones(4, np.float32)}
    store.put_many("m", vectors)
    store.put_many("m", vectors)  # idempotent
    found = store.get_many("m", ["a" * 64, "c" * 64])
    assert list(found) == ["a" * 64] and found["a" * 64].tolist() == [0, 1, 2, 3]
    assert store.get_many("other", ["a" * 64]) == {}


def test_export_user_has_everything_about_them(store):
    import json

    from townsquare.storage.feed_schema import feed_steering
    from townsquare.storage.moderation_schema import moderation_appeals, moderation_cases, moderation_scores
    from townsquare.web.auth import KeyBook

    Loader(store).load(small_world())
    ada, p1, p4 = store.find_user("ada")["id"], store.find_post("p1")["id"], store.find_post("p4")["id"]
    with store.begin() as conn:
        conn.execute(feed_steering.insert().values(user_id=ada, direction="more", phrase="chess", weight=1.0,
                                                   model="m", vector=b"\0" * 8, created_at=T0))
        for post in (p1, p4):  # a score on her post, and one on someone else's
            conn.execute(moderation_scores.insert().values(post_id=post, classifier="spam", version="v",
                                                           scores={"spam": 0.1}, spans=[], top_score=0.9, scored_at=T0))
        case = conn.execute(moderation_cases.insert().values(post_id=p1, suggested_action="hide", reasons=[],
                                                             created_at=T0, updated_at=T0)).inserted_primary_key[0]
        conn.execute(moderation_appeals.insert().values(case_id=case, user_id=ada, reason="mine", created_at=T0))
    KeyBook(store, 0).create(["read"], name="ada's app", user="ada")
    data = export_user(store, "ada")
    assert data["user"]["handle"] == "ada"
    assert [p["external_id"] for p in data["posts"]] == ["p1", "p3"]
    assert [i["kind"] for i in data["interactions"]] == ["view"]
    assert len(data["followers"]) == 1
    # the platform's own ids beside the internal keys: the file reads without the database
    assert all(i["post"] == store.find_post(i["post_id"])["external_id"] for i in data["interactions"])
    assert data["followers"][0]["source"] == store.find_user(data["followers"][0]["source_id"])["external_id"]
    assert all(e["target_handle"] == store.find_user(e["target_id"])["handle"] for e in data["edges_out"])
    more = data["more"]
    assert [r["phrase"] for r in more["feed_steering"]] == ["chess"] and "vector" not in more["feed_steering"][0]
    assert [r["post_id"] for r in more["moderation_scores"]] == [p1]  # not the score on p4
    assert [r["reason"] for r in more["moderation_appeals"]] == ["mine"] and len(more["moderation_cases"]) == 1
    assert [r["name"] for r in more["api_keys"]] == ["ada's app"] and "key_hash" not in more["api_keys"][0]
    assert {"api_keys.key_hash", "feed_steering.vector"} <= set(data["left_out"]["columns"])
    # every table that refers to a user or a post is in the export
    referring = {t.name for t in metadata.sorted_tables
                 if any(fk.column.table in (users, posts) for fk in t.foreign_keys)}
    assert referring <= {"posts", "edges_out", "interactions", "user_vectors", "post_vectors", "edges"} | set(more)
    json.dumps(data)  # plain JSON


def test_deleting_a_user_takes_others_reposts_of_their_posts_and_keeps_quotes_and_replies(store):
    """A repost has no words of its own: left behind, its link cut, it was an empty post by the reposter."""
    Loader(store).load([*small_world(), PostRecord(id="r1", author="u2", text="", repost_of="p1", created_at=T0),
                        PostRecord(id="q1", author="u3", text="so true", quote_of="p1", created_at=T0)])
    counts = delete_user(store, "ada")
    assert counts["reposts_of_them"] == 1
    with pytest.raises(NotFoundError):
        store.find_post("r1")
    assert store.find_post("q1")["text"] == "so true" and store.find_post("p2")["text"] == "which one?"


def test_an_erased_post_leaves_the_suggestions_made_from_it(store):
    from types import SimpleNamespace

    from townsquare.interact.store_io import record_suggestions
    from townsquare.storage.interact_schema import interact_suggestions
    from townsquare.storage.privacy import erase_posts

    Loader(store).load(small_world())
    p3 = store.find_post("p3")["id"]
    record_suggestions(store, store.find_user("cy")["id"], store.find_post("p4")["id"],
                       [SimpleNamespace(text="the sicilian!! 😊"), SimpleNamespace(text="Nice!")], quotes=[p3, None])
    with store.begin() as conn:
        assert erase_posts(conn, [p3]) == 1
    with store.read() as conn:
        assert conn.execute(select(interact_suggestions.c.text)).scalars().all() == ["Nice!"]


def test_delete_user_leaves_nothing_behind(store):
    Loader(store).load(small_world())
    ada = store.find_user("ada")
    their_posts = [store.find_post(p)["id"] for p in ("p1", "p3")]
    with store.begin() as conn:
        store.vectors.put_posts(conn, "toy", their_posts, np.eye(2, 8, dtype=np.float32))
        store.vectors.put_user(conn, "toy", ada["id"], np.eye(1, 8, dtype=np.float32))
    from townsquare.safety.queue import decide_case, latest_case, report_post
    from townsquare.storage.feed_schema import feed_steering
    from townsquare.storage.moderation_schema import moderation_decisions

    with store.begin() as conn:
        conn.execute(feed_steering.insert().values(user_id=ada["id"], direction="more", phrase="zz-unique-steer",
                                                   model="m", vector=b"0"))
    cached = ("the Sicilian", "chess and bread. chess", "zz-unique-steer")  # a post, the profile, a phrase
    store.put_many("m", {text_hash(t): np.ones(4, np.float32) for t in cached})
    report_post(store, "p4")
    decide_case(store, latest_case(store, store.find_post("p4")["id"])["id"], "ada", "allow")  # ada moderates
    assert [d["moderator"] for d in export_user(store, "ada")["decisions_made"]] == ["ada"]
    from types import SimpleNamespace

    from townsquare.interact.store_io import record_suggestions
    from townsquare.storage.interact_schema import interact_suggestions

    ada_said = store.find_post("p1")["text"]  # her reply, offered to someone else as a suggestion
    record_suggestions(store, store.find_user("bob")["id"], store.find_post("p4")["id"],
                       [SimpleNamespace(text=ada_said), SimpleNamespace(text="Nice!"),
                        SimpleNamespace(text="the sicilian 😊")],  # her other reply as bob's voice styled it
                       quotes=[None, None, store.find_post("p3")["id"]])
    counts = delete_user(store, "ada")
    assert counts["decisions_unnamed"] == 1 and counts["suggestions_quoting_them"] == 2
    with store.read() as conn:
        assert conn.execute(select(interact_suggestions.c.text)).scalars().all() == ["Nice!"]
    with pytest.raises(NotFoundError):
        store.find_user("ada")
    # Every foreign key in the schema that points at users or posts: none points at ada's rows.
    with store.read() as conn:
        for table in metadata.sorted_tables:
            for fk in table.foreign_keys:
                target = fk.column.table
                gone = [ada["id"]] if target is users else their_posts if target is posts else []
                if gone:
                    n = conn.execute(select(func.count()).select_from(table).where(
                        fk.parent.in_(gone))).scalar_one()
                    assert n == 0, f"{table.name}.{fk.parent.name} still refers to deleted rows"
        assert conn.execute(select(func.count()).select_from(posts).where(
            posts.c.external_id.in_(["p1", "p3"]))).scalar_one() == 0
    assert store.get_many("m", [text_hash(t) for t in cached]) == {}
    with store.read() as conn:
        assert conn.execute(select(moderation_decisions.c.moderator)).scalars().all() == ["a deleted user"]
    found = store.vectors.search_posts("toy", np.eye(1, 8, dtype=np.float32)[0], k=5)[0]
    assert not set(found) & set(their_posts)
    # Others' replies stay, detached from the deleted thread.
    assert store.find_post("p2")["reply_to_id"] is None


def test_every_table_is_created(store):
    names = set(inspect(store.engine).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= names


def test_an_import_widens_the_page_cache_only_while_it_runs(store):
    from townsquare.ingest.loader import _page_cache

    if store.dialect != "sqlite":
        pytest.skip("a SQLite connection setting")
    with store.begin() as conn:
        before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        with _page_cache(conn, 64):
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -64 * 1024
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == before
    Loader(store, cache_mb=64).load(small_world(), source="world.jsonl")
    with store.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == before


def _index_names(store) -> set[str]:
    with store.read() as conn:
        return {ix["name"] for table in ("users", "posts", "edges", "interactions")
                for ix in inspect(conn).get_indexes(table)}


def test_a_bulk_import_rebuilds_the_indexes_it_dropped(store):
    indexes = _index_names(store)
    assert "ix_interactions_post" in indexes
    report = Loader(store, bulk=True).load(small_world(), source="world.jsonl")
    assert report.inserted["interaction"] == 3 and _index_names(store) == indexes
    bad = [InteractionRecord(user="u2", post="nope", kind="like")]
    with pytest.raises(InputError):
        Loader(store, bulk=True).load(bad, source="bad.jsonl")
    assert _index_names(store) == indexes  # the failed import rolled the drops back too


def test_reads_inside_reading_share_one_connection_and_on_sqlite_one_snapshot(store):
    count = select(func.count()).select_from(users)
    with store.reading():
        with store.read() as a, store.read() as b, store.reading(), store.read() as nested:
            assert a is b is nested
            before = a.execute(count).scalar_one()
        Loader(store).load([UserRecord(id="late", handle="late")])  # committed on a connection of its own
        with store.read(fresh=True) as own:
            assert own is not a and own.execute(count).scalar_one() == before + 1
        with store.read() as again:
            seen = again.execute(count).scalar_one()
        # SQLite: one read transaction, one snapshot. PostgreSQL's READ COMMITTED: each statement its own.
        assert seen == (before if store.dialect == "sqlite" else before + 1)
    with pytest.raises(RuntimeError), store.reading():
        raise RuntimeError("a failed page")
    with store.read() as after, store.read() as other:  # lent no longer: each read its own again
        assert after is not other and after.execute(count).scalar_one() == before + 1


def _case(post_id: int, status: str = "open") -> dict:
    return {"post_id": post_id, "status": status, "suggested_action": "review", "reasons": [], "created_at": T0,
            "updated_at": T0}


def test_a_post_has_one_open_case_at_most(store):
    """Two workers opening a case for the same post at once: the database keeps one (a case under appeal
    may sit beside it), and ``insert_ignore`` lets the second worker go on."""
    from sqlalchemy.exc import IntegrityError

    from townsquare.storage.moderation_schema import moderation_cases

    Loader(store).load(small_world())
    p1 = store.find_post("p1")["id"]
    with store.begin() as conn:
        conn.execute(moderation_cases.insert(), [_case(p1), _case(p1, "appealed"), _case(p1, "decided")])
    with pytest.raises(IntegrityError), store.begin() as conn:
        conn.execute(moderation_cases.insert(), [_case(p1)])
    with store.begin() as conn:
        assert store.insert_ignore(conn, moderation_cases, [_case(p1), _case(store.find_post("p2")["id"])]) == 1
    with store.read() as conn:
        rows = conn.execute(select(moderation_cases.c.post_id, moderation_cases.c.status)).all()
    assert sorted(status for post, status in rows if post == p1) == ["appealed", "decided", "open"] and len(rows) == 4


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path):
    """A database with no schema yet, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite'}"
        return
    import os

    from tests.conftest import _database_url

    server = request.getfixturevalue("postgres_server")
    name = f"townsquare_empty_{os.getpid()}"
    server.psql(f"CREATE DATABASE {name};")
    yield _database_url(server, name)
    server.psql(f"DROP DATABASE {name};")


def test_migration_0008_keeps_each_posts_oldest_open_case(empty_url):
    """Open cases opened twice for a post before the unique index: the oldest stays, the others go."""
    from townsquare.storage.moderation_schema import moderation_cases

    store = Store.open(empty_url, migrate=False)
    store.migrate("0007")
    Loader(store).load(small_world())
    p1, p2 = store.find_post("p1")["id"], store.find_post("p2")["id"]
    with store.begin() as conn:
        conn.execute(moderation_cases.insert(), [_case(p1), _case(p1), _case(p1, "appealed"), _case(p2), _case(p1)])
    store.migrate("0008")
    assert store.schema_revision() == "0008"
    with store.read() as conn:
        rows = conn.execute(select(moderation_cases.c.id, moderation_cases.c.post_id, moderation_cases.c.status)
                            .order_by(moderation_cases.c.id)).all()
    assert [(row.id, row.status) for row in rows] == [(1, "open"), (3, "appealed"), (4, "open")]
    store.close()


def test_migration_0009_takes_the_reporters_name_out_of_cases(empty_url):
    from townsquare.storage.moderation_schema import moderation_cases

    store = Store.open(empty_url, migrate=False)
    store.migrate("0008")
    Loader(store).load(small_world())
    report = {"classifier": "user_reports", "label": "reported", "why": "reported by @ada"}
    scored = {"classifier": "spam", "label": "spam", "why": "spam 0.91"}
    with store.begin() as conn:
        conn.execute(moderation_cases.insert(), [{**_case(store.find_post("p1")["id"]), "reasons": [report, scored]}])
    store.migrate("0009")
    assert store.schema_revision() == "0009"
    with store.read() as conn:
        reasons = conn.execute(select(moderation_cases.c.reasons)).scalar_one()
    assert [r["why"] for r in reasons] == ["reported by a user", "spam 0.91"]
    store.close()

