"""MovieLens, Last.fm and MIND readers on tiny files written here in each dataset's format."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from townsquare.errors import InputError, NotFoundError
from townsquare.ingest.datasets import read_lastfm_hetrec2011, read_mind, read_movielens_100k
from townsquare.ingest.records import EdgeRecord, InteractionKind, InteractionRecord, PostRecord, UserRecord

GENRES = "unknown|0\nAction|1\nComedy|2\nDrama|3\n\n"


def movielens(write, data="1\t10\t4\t881250949\n2\t10\t5\t881250950\n1\t11\t1\t881250951\n"):
    write("ml-100k/u.genre", GENRES)
    write(
        "ml-100k/u.item",
        "10|Café Société (1990)|01-Feb-1990||http://x|0|1|1|0\n11|Nothing (1991)|||http://y|1|0|0|0\n",
        encoding="latin-1",
    )
    return write("ml-100k/u.data", data).parent.parent  # the reader also finds the ml-100k subfolder


def by_type(records):
    return {
        kind: [r for r in records if isinstance(r, kind)]
        for kind in (UserRecord, PostRecord, EdgeRecord, InteractionRecord)
    }


def test_movielens_records(write):
    records = list(read_movielens_100k(movielens(write)))
    kinds = by_type(records)
    assert [u.id for u in kinds[UserRecord]] == ["ml-u1", "ml-u2", "movielens"]
    first, second = kinds[PostRecord]
    assert (first.id, first.author, first.text) == (
        "ml-i10",
        "movielens",
        "Café Société (1990). Genres: Action, Comedy",
    )
    assert first.created_at == datetime(1990, 2, 1, tzinfo=UTC)
    assert second.text == "Nothing (1991)" and second.created_at.year == 1970
    rating = kinds[InteractionRecord][0]
    assert (rating.user, rating.post, rating.kind, rating.value) == (
        "ml-u1",
        "ml-i10",
        InteractionKind.rating,
        4.0,
    )
    assert rating.created_at == datetime.fromtimestamp(881250949, UTC)
    assert len(kinds[InteractionRecord]) == 3
    order = [type(r) for r in records]  # users, then posts, then interactions
    assert order == sorted(order, key=[UserRecord, PostRecord, InteractionRecord].index)


@pytest.mark.parametrize(
    ("row", "field", "needle"),
    [
        ("3\t10\t6\t881250949", "rating", "out of range"),
        ("3\t10\t4", None, "has 3 fields"),
        ("1\t10\t2\t881250999", "item id", "line 1"),
        ("x\t10\t2\t881250999", "user id", "not a whole number"),
        ("3\t10\t2\t4102444800", "timestamp", "(2100-01-01) is in the future"),
    ],
)
def test_movielens_bad_ratings(write, errors, row, field, needle):
    folder = movielens(write, data=f"1\t10\t4\t881250949\n{row}\n2\t11\t3\t881250952\n")
    with pytest.raises(InputError) as caught:
        list(read_movielens_100k(folder))
    assert (caught.value.source.endswith("u.data"), caught.value.line, caught.value.field) == (True, 2, field)
    assert needle in caught.value.message
    records = list(read_movielens_100k(folder, on_error=errors.append))
    assert len([r for r in records if isinstance(r, InteractionRecord)]) == 2 and len(errors) == 1


def test_movielens_missing_file(write, tmp_path):
    write("u.data", "1\t10\t4\t881250949\n")
    with pytest.raises(NotFoundError, match="u.item"):
        read_movielens_100k(tmp_path)


def lastfm(write, friends="userID\tfriendID\n2\t3\n3\t2\n2\t4\n"):
    write(
        "artists.dat", "id\tname\turl\tpictureURL\n7\tBjörk\thttp://a\thttp://b\n8\tQuiet One\thttp://c\t\n"
    )
    write("tags.dat", "tagID\ttagValue\n1\télectronic\n2\ticelandic\n3\tpop\n", encoding="latin-1")
    write("user_artists.dat", "userID\tartistID\tweight\n2\t7\t120\n3\t7\t5\n3\t8\t40\n")
    write(
        "user_taggedartists.dat",
        "userID\tartistID\ttagID\tday\tmonth\tyear\n"
        "2\t7\t2\t1\t4\t2009\n3\t7\t2\t1\t5\t2009\n3\t7\t1\t1\t5\t2009\n"
        "2\t7\t1\t1\t3\t2008\n4\t7\t3\t1\t1\t2010\n2\t99\t3\t1\t1\t2010\n",
    )
    return write("user_friends.dat", friends).parent


def test_lastfm_records(write):
    kinds = by_type(list(read_lastfm_hetrec2011(lastfm(write), top_tags=2)))
    assert [u.id for u in kinds[UserRecord]] == ["lfm-u2", "lfm-u3", "lfm-u4", "lastfm"]
    assert [(p.id, p.text) for p in kinds[PostRecord]] == [
        ("lfm-a7", "Björk. Tags: icelandic, électronic"),
        ("lfm-a8", "Quiet One"),
    ]
    assert sorted((e.source, e.target) for e in kinds[EdgeRecord]) == [
        ("lfm-u2", "lfm-u3"),
        ("lfm-u2", "lfm-u4"),
        ("lfm-u3", "lfm-u2"),
        ("lfm-u4", "lfm-u2"),
    ]
    plays = {(i.user, i.post): i for i in kinds[InteractionRecord]}
    assert plays[("lfm-u2", "lfm-a7")].value == 120.0
    assert plays[("lfm-u2", "lfm-a7")].created_at == datetime(2008, 3, 1, tzinfo=UTC)  # first tagging
    assert plays[("lfm-u3", "lfm-a8")].created_at.year == 1970
    # artists are dated by their first tagging, else the data's first (they were dated at the import: a fresh
    # import's feed was all "just posted")
    dated = {p.id: p.created_at for p in kinds[PostRecord]}
    assert dated == {"lfm-a7": datetime(2008, 3, 1, tzinfo=UTC), "lfm-a8": datetime(2008, 3, 1, tzinfo=UTC)}


def test_lastfm_self_friend_is_located(write, errors):
    folder = lastfm(write, friends="userID\tfriendID\n2\t3\n4\t4\n")
    with pytest.raises(InputError) as caught:
        list(read_lastfm_hetrec2011(folder))
    assert caught.value.line == 3 and caught.value.field == "friendID"
    edges = [r for r in read_lastfm_hetrec2011(folder, on_error=errors.append) if isinstance(r, EdgeRecord)]
    assert len(edges) == 2 and len(errors) == 1


NEWS = (
    "N1\tsports\tmore_sports\tMarathon won in the rain\tA runner won.\thttp://n1\t[]\t[]\n"
    "N2\tnews\tnewsus\tCity asks for volunteers\t\thttp://n2\t[]\t[]\n"
    "N3\tfinance\tmarkets\tStocks rise\tThey rose.\thttp://n3\t[]\t[]\n"
)


def mind(write, behaviors=None):
    write("news.tsv", NEWS)
    behaviors = behaviors or (
        "1\tU1\t11/12/2019 2:14:46 PM\tN3 N9 N3\tN1-1 N2-0 N8-1\n"
        "2\tU1\t11/11/2019 9:00:00 AM\tN3 N9\tN2-1\n"
        "3\tU2\t11/13/2019 5:53:12 AM\t\tN1-0 N3\n"
    )
    return write("behaviors.tsv", behaviors).parent


def test_mind_records(write, caplog):
    with caplog.at_level(logging.INFO):
        kinds = by_type(list(read_mind(mind(write))))
    assert [u.id for u in kinds[UserRecord]] == ["mind", "mind-U1", "mind-U2"]
    posts = {p.id: p for p in kinds[PostRecord]}
    assert (
        posts["mind-N1"].text == "Marathon won in the rain\n\nA runner won."
        and posts["mind-N2"].text == "City asks for volunteers"
    )
    assert posts["mind-N1"].hashtags == ["more_sports", "sports"] and posts["mind-N1"].author == "mind"
    assert posts["mind-N2"].created_at == datetime(2019, 11, 11, 9, tzinfo=UTC)  # first row that shows it
    events = [(i.user, i.post, i.kind.value, i.created_at.day) for i in kinds[InteractionRecord]]
    assert events == [
        ("mind-U1", "mind-N3", "click", 11),  # history, once, at U1's earliest row
        ("mind-U1", "mind-N1", "click", 12),
        ("mind-U1", "mind-N2", "view", 12),
        ("mind-U1", "mind-N2", "click", 11),
        ("mind-U2", "mind-N1", "view", 13),
        ("mind-U2", "mind-N3", "view", 13),
    ]
    assert "dropped 2 interactions" in caplog.text  # history N9 (once per user) and shown N8


def test_mind_keep_unknown_news(write):
    interactions = [
        r for r in read_mind(mind(write), keep_unknown_news=True) if isinstance(r, InteractionRecord)
    ]
    assert {"mind-N8", "mind-N9"} <= {i.post for i in interactions}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("4\tU3\t11/13/2019 5:53:12 AM\t\tN1-2", "impressions"),
        ("4\tU3\tyesterday\t\tN1-1", "time"),
        ("1\tU3\t11/13/2019 5:53:12 AM\t\tN1-1", "impression id"),
        ("4\tU3\t11/13/2019 5:53:12 AM\tN1", None),
    ],
)
def test_mind_bad_rows_reported_once(write, errors, row, field):
    folder = mind(
        write,
        behaviors="1\tU1\t11/12/2019 2:14:46 PM\t\tN1-1\n" + row + "\n5\tU4\t11/12/2019 2:14:46 PM\t\tN2-1\n",
    )
    with pytest.raises(InputError) as caught:
        list(read_mind(folder))
    assert (caught.value.line, caught.value.field) == (2, field)
    records = list(read_mind(folder, on_error=errors.append))
    assert len(errors) == 1
    assert [(i.user, i.post) for i in records if isinstance(i, InteractionRecord)] == [
        ("mind-U1", "mind-N1"),
        ("mind-U4", "mind-N2"),
    ]
    assert "mind-U3" not in {u.id for u in records if isinstance(u, UserRecord)}


def test_a_rating_of_an_item_the_catalogue_lacks_is_named_at_its_line(write, sqlite_store):
    """It was located by record number in the stream ('movielens-100k:3479'), not in the file."""
    from townsquare.ingest.loader import Loader

    folder = movielens(write, data="1\t10\t4\t881250949\n2\t99\t5\t881250950\n")
    with pytest.raises(InputError) as caught:
        Loader(sqlite_store).load(read_movielens_100k(folder, located=True), source="movielens-100k")
    assert caught.value.source.endswith("u.data") and caught.value.line == 2 and caught.value.field == "post"
    plays = lastfm(write).parent / "lastfm"
    plays.mkdir()
    for name in ("artists.dat", "tags.dat", "user_taggedartists.dat", "user_friends.dat"):
        (plays / name).write_bytes((lastfm(write) / name).read_bytes())
    (plays / "user_artists.dat").write_text("userID\tartistID\tweight\n2\t7\t120\n3\t77\t5\n")
    with pytest.raises(InputError) as caught:
        Loader(sqlite_store).load(read_lastfm_hetrec2011(plays, located=True))
    assert caught.value.source.endswith("user_artists.dat") and caught.value.line == 3
