"""MovieLens 100K (GroupLens): users, movies as catalog posts, and star ratings.

users ``ml-u<id>``; movies ``ml-i<id>`` posted by the catalog user ``movielens`` with text
"<title>. Genres: <genres>" and the release date as their time; each rating becomes an
InteractionRecord(kind=rating, value=stars, created_at=rating time). Order: users, posts,
interactions. ``u.item`` is Latin-1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from townsquare.errors import InputError
from townsquare.ingest.datasets.files import dataset_file, integer, parse_lines, split_fields, unix_time
from townsquare.ingest.jsonl import DuplicateGuard, ErrorHandler, build
from townsquare.ingest.loader import Located
from townsquare.ingest.records import (
    AHEAD,
    AnyRecord,
    InteractionKind,
    InteractionRecord,
    PostRecord,
    UserRecord,
)

CATALOG = "movielens"
NAME = "MovieLens 100K"
SUBFOLDERS = ("ml-100k",)
MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1
    )
}


class Rating(NamedTuple):
    line: int
    user: str
    item: str
    stars: int
    at: datetime


def read_movielens_100k(
    path: str | os.PathLike[str], on_error: ErrorHandler | None = None, *, located: bool = False
) -> Iterator[AnyRecord]:
    """Records from an unpacked ml-100k folder (u.data, u.item, u.genre). With ``located``, each rating comes as
    ``Located(record, u.data, line)``, so that the loader names the line of a rating it cannot take."""
    files = {name: dataset_file(path, name, SUBFOLDERS, NAME) for name in ("u.data", "u.item", "u.genre")}
    return _records(files, on_error, located)


def _records(files: dict[str, Path], on_error: ErrorHandler | None, located: bool = False) -> Iterator[AnyRecord]:
    genres = dict(
        parse_lines(
            files["u.genre"], lambda n, t: _genre(files["u.genre"], n, t), on_error, encoding="latin-1"
        )
    )
    ratings = list(_ratings(files["u.data"], on_error))
    for user in sorted({r.user for r in ratings}, key=lambda u: (len(u), u)):
        yield UserRecord(id=f"ml-u{user}", handle=f"ml-u{user}", display_name=f"MovieLens user {user}")
    yield UserRecord(id=CATALOG, handle=CATALOG, display_name="MovieLens catalog")
    names = [genres[i] for i in sorted(genres)]
    yield from parse_lines(
        files["u.item"], lambda n, t: _movie(files["u.item"], n, t, names), on_error, encoding="latin-1"
    )
    for r in ratings:
        record = InteractionRecord(user=f"ml-u{r.user}", post=f"ml-i{r.item}", kind=InteractionKind.rating,
                                   value=float(r.stars), created_at=r.at)
        yield Located(record, str(files["u.data"]), r.line) if located else record


def _genre(source: Path, line: int, text: str) -> tuple[int, str]:
    name, index = split_fields(text, "|", 2, source=source, line=line, what="u.genre")
    return integer(index, source=source, line=line, field="index", low=0), name


def _ratings(source: Path, on_error: ErrorHandler | None) -> Iterator[Rating]:
    seen = DuplicateGuard(str(source))

    def parse(line: int, text: str) -> Rating:
        user, item, stars, at = split_fields(text, "\t", 4, source=source, line=line, what="u.data")
        integer(user, source=source, line=line, field="user id", low=1)
        integer(item, source=source, line=line, field="item id", low=1)
        seen.check((user, item), line, f"rating of item {item} by user {user}", "item id")
        rating = integer(stars, source=source, line=line, field="rating", low=1, high=5)
        when = unix_time(integer(at, source=source, line=line, field="timestamp", low=0, high=2**40))
        if when > datetime.now(UTC) + AHEAD:
            raise InputError(f"timestamp {at} ({when:%Y-%m-%d}) is in the future", source=str(source), line=line,
                             field="timestamp")
        return Rating(line, user, item, rating, when)

    return parse_lines(source, parse, on_error)


def _movie(source: Path, line: int, text: str, genre_names: list[str]) -> PostRecord:
    fields = split_fields(text, "|", 5 + len(genre_names), source=source, line=line, what="u.item")
    item = str(integer(fields[0], source=source, line=line, field="movie id", low=1))
    flags = fields[5:]
    if any(flag not in ("0", "1") for flag in flags):
        raise InputError("genre flags must be 0 or 1", source=str(source), line=line, field="genres")
    genres = [
        name for name, flag in zip(genre_names, flags, strict=True) if flag == "1" and name != "unknown"
    ]
    title = fields[1].strip()
    text = f"{title}. Genres: {', '.join(genres)}" if genres else title
    data = {
        "id": f"ml-i{item}",
        "author": CATALOG,
        "text": text,
        "created_at": _release(fields[2], source, line),
    }
    return build(PostRecord, data, source=str(source), line=line, fields={"text": "title"})


def _release(text: str, source: Path, line: int) -> datetime:
    """``01-Jan-1995`` (empty: unknown, the epoch); month names parsed without the locale."""
    if not text.strip():
        return datetime(1970, 1, 1, tzinfo=UTC)
    try:
        day, month, year = text.strip().split("-")
        return datetime(int(year), MONTHS[month.lower()], int(day), tzinfo=UTC)
    except (ValueError, KeyError):
        raise InputError(
            f"{text!r} is not a date like 01-Jan-1995", source=str(source), line=line, field="release date"
        ) from None
