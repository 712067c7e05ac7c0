"""Last.fm HetRec 2011 (hetrec2011-lastfm-2k): listeners, artists, play counts and friendships.

users ``lfm-u<id>``; artists ``lfm-a<id>`` posted by the catalog user ``lastfm`` with text
"<name>. Tags: <top tags>" (the artist's most used tags, by how many users applied them);
each friendship becomes a follow in both directions (deduplicated); each play count becomes
InteractionRecord(kind=rating, value=plays), timed at the user's first tagging of that artist
when there is one (else the epoch). Order: users, posts, follows, interactions.
``tags.dat`` is Latin-1; the other files UTF-8.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from townsquare.errors import InputError, NotFoundError
from townsquare.ingest.datasets.files import dataset_file, integer, parse_lines, split_fields
from townsquare.ingest.jsonl import DuplicateGuard, ErrorHandler, build
from townsquare.ingest.loader import Located
from townsquare.ingest.records import (
    AnyRecord,
    EdgeRecord,
    InteractionKind,
    InteractionRecord,
    PostRecord,
    UserRecord,
)

CATALOG = "lastfm"
NAME = "Last.fm HetRec 2011"
SUBFOLDERS = ("hetrec2011-lastfm-2k", "lastfm-2k")
FILES = ("artists.dat", "tags.dat", "user_artists.dat", "user_friends.dat")
TAGGINGS = ("user_taggedartists.dat", "user_taggedartists-timestamps.dat")


class Tagging(NamedTuple):
    user: str
    artist: str
    tag: str
    at: datetime


def read_lastfm_hetrec2011(
    path: str | os.PathLike[str], on_error: ErrorHandler | None = None, *, top_tags: int = 10, located: bool = False
) -> Iterator[AnyRecord]:
    """Records from an unpacked hetrec2011-lastfm-2k folder; ``top_tags`` tags go into each artist's text. With
    ``located``, each play count comes as ``Located(record, user_artists.dat, line)``."""
    files = {name: dataset_file(path, name, SUBFOLDERS, NAME) for name in FILES}
    tagging = _tagging_file(path)
    return _records(files, tagging, on_error, top_tags, located)


def _tagging_file(path: str | os.PathLike[str]) -> Path | None:
    for name in TAGGINGS:
        try:
            return dataset_file(path, name, SUBFOLDERS, NAME)
        except NotFoundError:
            continue
    return None  # artists then have no tags and plays no times


def _records(
    files: dict[str, Path], tagging: Path | None, on_error: ErrorHandler | None, top_tags: int, located: bool = False
) -> Iterator[AnyRecord]:
    plays = list(
        parse_lines(files["user_artists.dat"], _play_parser(files["user_artists.dat"]), on_error, skip=1)
    )
    friends = list(
        parse_lines(files["user_friends.dat"], _friend_parser(files["user_friends.dat"]), on_error, skip=1)
    )
    users = {user for _, user, _, _ in plays} | {user for pair in friends for user in pair[1:]}
    for user in sorted(users, key=lambda u: (len(u), u)):
        yield UserRecord(id=f"lfm-u{user}", handle=f"lfm-u{user}", display_name=f"Last.fm listener {user}")
    yield UserRecord(id=CATALOG, handle=CATALOG, display_name="Last.fm catalog")
    tag_names = dict(
        parse_lines(files["tags.dat"], _tag_parser(files["tags.dat"]), on_error, encoding="latin-1", skip=1)
    )
    taggings = list(parse_lines(tagging, _tagging_parser(tagging), on_error, skip=1)) if tagging else []
    top = _top_tags(taggings, tag_names, top_tags)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    # An artist is dated by its first tagging, else the data set's first: undated, each was dated at the import,
    # and a fresh import's feed was twenty "just posted" artists (a QA pass).
    first_seen: dict[str, datetime] = {}
    for t in taggings:
        first_seen[t.artist] = min(t.at, first_seen.get(t.artist, t.at))
    oldest = min(first_seen.values(), default=epoch)
    yield from parse_lines(files["artists.dat"], _artist_parser(files["artists.dat"], top, first_seen, oldest),
                           on_error, skip=1)
    yield from _follows(friends)
    first_tagged: dict[tuple[str, str], datetime] = {}
    for t in taggings:
        key = (t.user, t.artist)
        first_tagged[key] = min(t.at, first_tagged.get(key, t.at))
    for line, user, artist, weight in plays:
        record = InteractionRecord(
            user=f"lfm-u{user}",
            post=f"lfm-a{artist}",
            kind=InteractionKind.rating,
            value=float(weight),
            created_at=first_tagged.get((user, artist), epoch),
        )
        yield Located(record, str(files["user_artists.dat"]), line) if located else record


def _play_parser(source: Path):
    seen = DuplicateGuard(str(source))

    def parse(line: int, text: str) -> tuple[int, str, str, int]:
        user, artist, weight = split_fields(text, "\t", 3, source=source, line=line, what="user_artists.dat")
        _ids(source, line, userID=user, artistID=artist)
        seen.check((user, artist), line, f"play count of artist {artist} by user {user}", "artistID")
        return (
            line,
            user,
            artist,
            integer(weight, source=source, line=line, field="weight", low=0, high=10**9),
        )

    return parse


def _friend_parser(source: Path):
    def parse(line: int, text: str) -> tuple[int, str, str]:
        user, friend = split_fields(text, "\t", 2, source=source, line=line, what="user_friends.dat")
        _ids(source, line, userID=user, friendID=friend)
        if user == friend:
            raise InputError(
                f"user {user} is listed as their own friend", source=str(source), line=line, field="friendID"
            )
        return line, user, friend

    return parse


def _follows(friends: list[tuple[int, str, str]]) -> Iterator[EdgeRecord]:
    """Both directions of every friendship, each once (the file usually lists both already)."""
    done: set[tuple[str, str]] = set()
    for _, user, friend in friends:
        for a, b in ((user, friend), (friend, user)):
            if (a, b) not in done:
                done.add((a, b))
                yield EdgeRecord(type="follow", source=f"lfm-u{a}", target=f"lfm-u{b}")


def _tag_parser(source: Path):
    def parse(line: int, text: str) -> tuple[str, str]:
        tag, value = split_fields(text, "\t", 2, source=source, line=line, what="tags.dat")
        _ids(source, line, tagID=tag)
        return tag, value.strip()

    return parse


def _tagging_parser(source: Path):
    dated = source.name == "user_taggedartists.dat"  # day, month, year; the other file has unix milliseconds

    def parse(line: int, text: str) -> Tagging:
        fields = split_fields(text, "\t", 6 if dated else 4, source=source, line=line, what=source.name)
        _ids(source, line, userID=fields[0], artistID=fields[1], tagID=fields[2])
        return Tagging(
            *fields[:3], _date(fields[3:], source, line) if dated else _millis(fields[3], source, line)
        )

    return parse


def _date(fields: list[str], source: Path, line: int) -> datetime:
    day, month, year = (
        integer(v, source=source, line=line, field=f)
        for v, f in zip(fields, ("day", "month", "year"), strict=True)
    )
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError as exc:
        raise InputError(
            f"{day}/{month}/{year} is not a date: {exc}", source=str(source), line=line, field="day"
        ) from None


def _millis(text: str, source: Path, line: int) -> datetime:
    value = integer(text, source=source, line=line, field="timestamp", low=0, high=2**45)
    return datetime.fromtimestamp(value / 1000, UTC)


def _top_tags(taggings: list[Tagging], names: dict[str, str], limit: int) -> dict[str, list[str]]:
    """Artist id -> its ``limit`` most applied tag names (ties: alphabetical)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for t in taggings:
        if t.tag in names:
            counts[t.artist][names[t.tag]] += 1
    return {
        artist: [name for name, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]
        for artist, c in counts.items()
    }


def _artist_parser(source: Path, top: dict[str, list[str]], first_seen: dict[str, datetime], oldest: datetime):
    seen = DuplicateGuard(str(source))

    def parse(line: int, text: str) -> PostRecord:
        artist, name, _url, _picture = split_fields(
            text, "\t", 4, source=source, line=line, what="artists.dat"
        )
        _ids(source, line, id=artist)
        seen.check(artist, line, f"artist id {artist}", "id")
        tags = top.get(artist, [])
        body = f"{name.strip()}. Tags: {', '.join(tags)}" if tags else name.strip()
        return build(
            PostRecord,
            {"id": f"lfm-a{artist}", "author": CATALOG, "text": body,
             "created_at": first_seen.get(artist, oldest)},
            source=str(source),
            line=line,
            fields={"text": "name"},
        )

    return parse


def _ids(source: Path, line: int, **fields: str) -> None:
    for field, value in fields.items():
        integer(value, source=source, line=line, field=field, low=0)
