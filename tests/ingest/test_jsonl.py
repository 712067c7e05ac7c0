from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import func, select

from townsquare.errors import InputError, NotFoundError
from townsquare.ingest.jsonl import read_jsonl, read_labelled_jsonl, write_labelled_jsonl
from townsquare.ingest.records import (
    EdgeRecord,
    InteractionKind,
    InteractionRecord,
    LabelledText,
    PostRecord,
    UserRecord,
)

GOOD = [
    {"type": "user", "id": "u1", "handle": "ada", "display_name": "Ada"},
    {"type": "user", "id": "u2", "handle": "bob"},
    {
        "type": "post",
        "id": "p1",
        "author": "u1",
        "text": "hello #Intro @bob",
        "created_at": "2024-01-02T03:04:05Z",
    },
    {"type": "follow", "source": "u2", "target": "u1"},
    {"type": "block", "source": "u1", "target": "u2"},
    {"type": "mute", "source": "u2", "target": "u1"},
    {"type": "interaction", "user": "u2", "post": "p1", "kind": "like"},
    {"type": "interaction", "user": "u2", "post": "p1", "kind": "dwell", "value": 1200},
]


def lines(*objects: object) -> str:
    return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects)


def test_reads_every_record_type_and_skips_blank_lines(write):
    path = write("in.jsonl", lines(*GOOD[:3], "", "   ", *GOOD[3:]))
    records = list(read_jsonl(path))
    assert [type(r) for r in records] == [
        UserRecord,
        UserRecord,
        PostRecord,
        EdgeRecord,
        EdgeRecord,
        EdgeRecord,
        InteractionRecord,
        InteractionRecord,
    ]
    post = records[2]
    assert post.hashtags == ["intro"] and post.mentions == ["bob"] and post.created_at.year == 2024
    assert [r.type for r in records[3:6]] == ["follow", "block", "mute"]
    assert records[7].kind is InteractionKind.dwell and records[7].value == 1200


def test_repeated_interactions_are_not_duplicates(write):
    path = write("in.jsonl", lines(GOOD[6], GOOD[6]))
    assert len(list(read_jsonl(path))) == 2


@pytest.mark.parametrize(
    ("line", "field", "needle"),
    [
        ("{not json", None, "not valid JSON"),
        ("[1, 2]", None, "expected a JSON object"),
        ('{"id": "u9", "handle": "x"}', "type", "user, post, follow, block, mute, interaction"),
        (
            '{"type": "like", "user": "u1"}',
            "type",
            "valid types: user, post, follow, block, mute, interaction",
        ),
        ('{"type": "post", "id": "p9", "text": "hi"}', "author", "required"),
        ('{"type": "user", "id": "u9", "handle": "has space"}', "handle", "should match pattern"),
        ('{"type": "user", "id": "u9", "handle": "ok", "colour": "red"}', "colour", "not a known field"),
        (
            '{"type": "interaction", "user": "u1", "post": "p1", "kind": "like", "value": -1}',
            "value",
            "greater than or equal to 0",
        ),
        ('{"type": "interaction", "user": "u1", "post": "p1", "kind": "smile"}', "kind", "'like'"),
        ('{"type": "follow", "source": "u1", "target": "u1"}', None, "cannot follow themselves"),
        ('{"type": "post", "id": "p9", "author": "u1", "text": "x", "quote_of": "p9"}', None, "cannot quote itself"),
        ('{"type": "post", "id": "p9", "author": "u1", "text": "x", "repost_of": "p9"}', None, "cannot repost itself"),
        ('{"type": "post", "id": "p9", "author": "u1", "text": "x", "created_at": "0001-01-01T00:00:00+14:00"}',
         "created_at", "out of range in UTC"),
    ],
)
def test_bad_lines_are_located(write, line, field, needle):
    path = write("bad.jsonl", lines(GOOD[0], line))
    with pytest.raises(InputError) as caught:
        list(read_jsonl(path))
    error = caught.value
    assert (error.source, error.line, error.field) == (str(path), 2, field)
    assert needle in error.message
    assert "pydantic" not in str(error) and "For further information" not in str(error)


def test_bad_utf8_is_reported_with_its_line(write, errors):
    path = write(
        "in.jsonl",
        lines(GOOD[0]).encode()
        + b'{"type": "user", "id": "u\xff", "handle": "x"}\n'
        + lines(GOOD[1]).encode(),
    )
    with pytest.raises(InputError) as caught:
        list(read_jsonl(path))
    assert caught.value.line == 2 and "UTF-8" in caught.value.message
    assert [r.id for r in read_jsonl(path, on_error=errors.append)] == ["u1", "u2"]
    assert [e.line for e in errors] == [2]


@pytest.mark.parametrize(
    ("duplicate", "field"), [(GOOD[0] | {"handle": "ada2"}, "id"), (GOOD[2], "id"), (GOOD[3], "target")]
)
def test_duplicates_name_both_lines(write, duplicate, field):
    path = write("dup.jsonl", lines(*GOOD, duplicate))
    with pytest.raises(InputError) as caught:
        list(read_jsonl(path))
    first = (
        GOOD.index(
            next(
                g
                for g in GOOD
                if {k: g.get(k) for k in ("type", "id", "source")}
                == {k: duplicate.get(k) for k in ("type", "id", "source")}
            )
        )
        + 1
    )
    assert caught.value.line == len(GOOD) + 1 and caught.value.field == field
    assert f"line {first}" in caught.value.message and f"line {len(GOOD) + 1}" in caught.value.message


def test_on_error_reports_and_skips(write, errors):
    path = write("mixed.jsonl", lines(GOOD[0], "{oops", GOOD[1], {"type": "nope"}, GOOD[0], GOOD[2]))
    records = list(read_jsonl(path, on_error=errors.append))
    assert [r.id for r in records] == ["u1", "u2", "p1"]
    assert [(e.line, e.field) for e in errors] == [(2, None), (4, "type"), (5, "id")]


def test_missing_file_is_not_found(tmp_path):
    with pytest.raises(NotFoundError, match="not found"):
        list(read_jsonl(tmp_path / "absent.jsonl"))


def test_labelled_jsonl_round_trip_keeps_extra_fields(tmp_path):
    records = [
        LabelledText(text="héllo", label="good", context=["a", "b"], group="7"),
        LabelledText(text="bye", label="random"),
    ]
    out = tmp_path / "sub" / "labelled.jsonl"
    assert write_labelled_jsonl(iter(records), out) == 2
    assert '"héllo"' in out.read_text(encoding="utf-8")
    back = list(read_labelled_jsonl(out))
    assert [r.model_dump() for r in back] == [r.model_dump() for r in records]
    assert [p.name for p in out.parent.iterdir()] == ["labelled.jsonl"]


def test_integer_labels_in_labelled_jsonl_are_read_as_a_csv_reads_them(write):
    path = write("numbers.jsonl", '{"text": "a", "label": 0}\n{"text": "b", "label": 1}\n')
    assert [r.label for r in read_labelled_jsonl(path)] == ["0", "1"]
    with pytest.raises(InputError, match="label"):
        list(read_labelled_jsonl(write("bools.jsonl", '{"text": "a", "label": true}\n')))


def test_failed_labelled_write_leaves_no_file(tmp_path):
    def broken():
        yield LabelledText(text="a", label="b")
        raise InputError("boom")

    out = tmp_path / "labelled.jsonl"
    with pytest.raises(InputError):
        write_labelled_jsonl(broken(), out)
    assert list(tmp_path.iterdir()) == []


def test_labelled_jsonl_rejects_empty_text(write):
    path = write("l.jsonl", lines({"text": "", "label": "x"}))
    with pytest.raises(InputError) as caught:
        list(read_labelled_jsonl(path))
    assert (caught.value.line, caught.value.field) == (1, "text")


def test_mentions_keep_whole_handles_with_dots_and_dashes():
    """Handles may hold "." and "-" (Bluesky's are domains); a sentence's full stop is not part of one."""
    from townsquare.ingest.records import PostRecord

    post = PostRecord(id="p", author="u", text="@finn.d agreed, and @alice.bsky.social too. Ask @bo-x. "
                                               "Mail ada@example.org or @ada.")
    assert post.mentions == ["ada", "alice.bsky.social", "bo-x", "finn.d"]


def test_a_missing_file_or_a_folder_is_named(tmp_path):
    with pytest.raises(NotFoundError, match="is a folder; give a file"):
        list(read_jsonl(tmp_path))
    with pytest.raises(NotFoundError, match="input file not found: .*nope.jsonl"):
        list(read_jsonl(tmp_path / "nope.jsonl"))


def test_a_nul_character_is_refused_with_its_line(write, errors):
    path = write("nul.jsonl", '{"type": "user", "id": "u1", "handle": "ada"}\n'
                              '{"type": "post", "id": "p1", "author": "u1", "text": "a \\u0000 b"}\n')
    with pytest.raises(InputError, match=r"nul.jsonl:2: .*text contains a NUL \(0x00\) character"):
        list(read_jsonl(path))


def test_the_readmes_import_example_imports(tmp_path, sqlite_store):
    import re
    from pathlib import Path

    from townsquare.ingest.loader import Loader

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    example = tmp_path / "readme.jsonl"
    example.write_text(re.search(r"```json\n(.*?)```", readme, re.DOTALL).group(1))
    report = Loader(sqlite_store).load(read_jsonl(example))
    assert report.inserted == {"user": 2, "post": 2, "edge": 1, "interaction": 1}


def test_replies_that_go_round_in_a_circle_are_refused_with_the_line(write, sqlite_store):
    """Until session 22 a cycle of two posts looped for ever, holding the database's write lock."""
    from townsquare.ingest.loader import Loader

    path = write("cycle.jsonl", lines({"type": "user", "id": "u", "handle": "u"},
                                      {"type": "post", "id": "a", "author": "u", "text": "x", "reply_to": "c"},
                                      {"type": "post", "id": "b", "author": "u", "text": "y", "reply_to": "a"},
                                      {"type": "post", "id": "c", "author": "u", "text": "z", "reply_to": "b"}))
    with pytest.raises(InputError, match="replies cannot go round in a circle") as caught:
        Loader(sqlite_store).load(read_jsonl(path))
    assert caught.value.field == "reply_to" and caught.value.line in (2, 3, 4)
    assert sqlite_store.counts()["posts"] == 0
    report = Loader(sqlite_store, skip_bad=True).load(read_jsonl(path))
    assert report.inserted["post"] == 2 and len(report.skipped) == 1  # the post that closed the circle is left out


def test_the_same_user_created_at_once_by_many_clients_is_there_once_and_never_an_error(store):
    """PostgreSQL answered some of these 422 "handle already belongs to user r1", the same user (session 22)."""
    from concurrent.futures import ThreadPoolExecutor

    from townsquare.ingest.loader import Loader

    def create(_):
        return Loader(store).load([UserRecord(id="r1", handle="r_one")])

    with ThreadPoolExecutor(8) as pool:
        reports = list(pool.map(create, range(16)))
    assert sum(r.inserted["user"] for r in reports) == 1
    assert sum(r.existing["user"] for r in reports) == 15
    assert store.find_user("r_one")["external_id"] == "r1"


def test_a_compressed_file_is_named_as_such(tmp_path):
    import gzip

    path = tmp_path / "records.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"type": "user", "id": "u1", "handle": "ada"}\n'))
    with pytest.raises(InputError, match=r"gzip-compressed; decompress it first \(gunzip records.jsonl.gz\)"):
        list(read_jsonl(path))


def test_a_later_user_record_changes_the_profile_and_frees_the_old_handle(store):
    """A platform renames users and they rewrite their bios; the later record said 'already there' and changed
    nothing, and the old handle could never be given to anyone else."""
    from townsquare.ingest.loader import Loader
    from townsquare.storage.feed_schema import feed_user_state
    from townsquare.storage.schema import user_vectors

    Loader(store).load([UserRecord(id="u1", handle="ada", bio="chess", interests=["chess"])])
    uid = store.find_user("ada")["id"]
    with store.begin() as conn:
        store.vectors.put_user(conn, "m", uid, np.ones((1, 4), np.float32))
        conn.execute(feed_user_state.insert().values(user_id=uid, model="m", state=b"x", consumed_id=0))
    again = Loader(store).load([UserRecord(id="u1", handle="ada", bio="chess", interests=["chess"])])
    assert again.existing["user"] == 1 and not +again.changed
    renamed = Loader(store).load([UserRecord(id="u1", handle="ada_l", display_name="Ada L.")])
    assert +renamed.changed == {"user": 1}
    user = store.find_user("u1")
    assert (user["handle"], user["display_name"], user["bio"]) == ("ada_l", "Ada L.", "chess")  # bio not given
    with store.read() as conn:  # the name changed, not the profile text: its vector stays
        assert conn.execute(select(func.count()).select_from(user_vectors)).scalar() == 1
    assert +Loader(store).load([UserRecord(id="u2", handle="ada")]).inserted == {"user": 1}  # the old handle, free
    with pytest.raises(InputError, match="handle 'ada' already belongs to user u2"):
        Loader(store).load([UserRecord(id="u1", handle="ada")])
    Loader(store).load([UserRecord(id="u1", handle="ada_l", bio="gardening now")])
    assert store.find_user("u1")["bio"] == "gardening now"
    with store.read() as conn:  # a new bio: the profile vector and the feed's checkpoint go, to be made again
        assert conn.execute(select(func.count()).select_from(user_vectors)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(feed_user_state)).scalar() == 0


def test_a_rename_keeps_a_moderators_decisions_and_a_new_bio_drops_the_old_ones_cached_embedding(store):
    """A QA pass renamed a moderator: their export lost their decisions and the next holder of the handle got
    them. Their old bio stayed in the embedding cache after they were deleted."""
    from townsquare.ingest.loader import Loader
    from townsquare.ingest.records import PostRecord
    from townsquare.safety.queue import decide_case, latest_case, report_post
    from townsquare.storage.privacy import delete_user, export_user
    from townsquare.storage.store import profile_text, text_hash

    Loader(store).load([UserRecord(id="z2", handle="zoe", bio="ZBIOONE I collect stamps", interests=["stamps"]),
                        UserRecord(id="u1", handle="ann"), PostRecord(id="p1", author="u1", text="hello")])
    report_post(store, "p1")
    decide_case(store, latest_case(store, store.find_post("p1")["id"])["id"], "zoe", "allow")
    old = [text_hash("ZBIOONE I collect stamps"), text_hash(profile_text("ZBIOONE I collect stamps", ["stamps"]))]
    store.put_many("m", {h: np.ones(4, np.float32) for h in old})
    Loader(store).load([UserRecord(id="z2", handle="zoe_b", bio="ZBIOTWO birds now")])
    Loader(store).load([UserRecord(id="z9", handle="zoe")])  # someone else takes the old handle
    assert [d["moderator"] for d in export_user(store, "zoe_b")["decisions_made"]] == ["zoe_b"]
    assert export_user(store, "z9")["decisions_made"] == []
    assert store.get_many("m", old) == {}  # the old bio's and profile's cached vectors went with them
    assert delete_user(store, "zoe_b")["decisions_unnamed"] == 1


def test_a_handle_that_differs_only_in_case_is_taken(store):
    """'QA_B' beside 'qa_b' passed for them (session 22's security pass)."""
    from townsquare.ingest.loader import Loader

    Loader(store).load([UserRecord(id="u1", handle="qa_b"), UserRecord(id="u2", handle="other")])
    with pytest.raises(InputError, match="handle 'QA_B' already belongs to user u1"):
        Loader(store).load([UserRecord(id="u3", handle="QA_B")])
    with pytest.raises(InputError, match="handle 'Qa_B' already belongs to user u1"):
        Loader(store).load([UserRecord(id="u2", handle="Qa_B")])  # a rename, too
    Loader(store).load([UserRecord(id="u1", handle="QA_b")])  # one's own handle in another case: a rename
    assert store.find_user("u1")["handle"] == "QA_b" and store.find_user("qa_b")["external_id"] == "u1"
