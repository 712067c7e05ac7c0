"""MIND (Microsoft News Dataset): news as catalog posts, readers, and their impressions.

news ``mind-<NewsID>`` posted by the catalog user ``mind`` with text "<title>\\n\\n<abstract>",
hashtags = category and subcategory, time = the first impression that shows or lists it; users
``mind-<UserID>``. In each behaviors row, a clicked candidate (``-1``) becomes a click, a
shown-but-not-clicked one (``-0``, or no label as in the test files) a view, both at the row's
time; each history item becomes one click per user, at that user's earliest row time (the real
time is unknown and earlier). Interactions with news missing from news.tsv are dropped unless
``keep_unknown_news``. Order: users, posts, interactions.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from townsquare.errors import InputError
from townsquare.ingest.datasets.files import dataset_file, parse_lines, split_fields
from townsquare.ingest.jsonl import DuplicateGuard, ErrorHandler, build
from townsquare.ingest.records import (
    EPOCH,
    AnyRecord,
    InteractionKind,
    InteractionRecord,
    PostRecord,
    UserRecord,
)

log = logging.getLogger(__name__)

CATALOG = "mind"
NAME = "MIND"
SUBFOLDERS = ("MINDsmall_train", "MINDsmall_dev", "MINDlarge_train", "MINDlarge_dev", "MINDlarge_test")
_NOT_WORD = re.compile(r"\W+")


class Impression(NamedTuple):
    line: int
    user: str
    at: datetime
    history: list[str]
    shown: list[tuple[str, bool]]  # (news id, clicked)


def read_mind(
    path: str | os.PathLike[str], on_error: ErrorHandler | None = None, *, keep_unknown_news: bool = False,
    located: bool = False,  # MIND's references are checked as it is read: nothing for the loader to locate
) -> Iterator[AnyRecord]:
    """Records from a MIND folder holding behaviors.tsv and news.tsv."""
    behaviors = dataset_file(path, "behaviors.tsv", SUBFOLDERS, NAME)
    news = dataset_file(path, "news.tsv", SUBFOLDERS, NAME)
    return _records(behaviors, news, on_error, keep_unknown_news)


def _records(
    behaviors: Path, news: Path, on_error: ErrorHandler | None, keep_unknown_news: bool
) -> Iterator[AnyRecord]:
    # Two passes over behaviors.tsv (users first, interactions after) keep memory flat on full MIND.
    bad: set[int] = set()
    first_at: dict[str, datetime] = {}  # user -> earliest row time
    first_seen: dict[str, datetime] = {}  # news -> earliest row time that shows or lists it
    seen = DuplicateGuard(str(behaviors))
    for row in parse_lines(behaviors, _behavior_parser(behaviors, seen), _noting(bad, on_error)):
        first_at[row.user] = min(row.at, first_at.get(row.user, row.at))
        for news_id in (*row.history, *(n for n, _ in row.shown)):
            first_seen[news_id] = min(row.at, first_seen.get(news_id, row.at))
    yield UserRecord(id=CATALOG, handle=CATALOG, display_name="Microsoft News")
    for user in first_at:
        yield build(
            UserRecord,
            {"id": f"mind-{user}", "handle": f"mind-{user}"},
            source=str(behaviors),
            line=None,
            fields={"handle": "user id"},
        )
    known: set[str] = set()
    for post in parse_lines(news, _news_parser(news, first_seen), on_error):
        known.add(post.id)
        yield post
    yield from _interactions(behaviors, bad, first_at, known, keep_unknown_news)


def _noting(bad: set[int], on_error: ErrorHandler | None) -> ErrorHandler | None:
    """An error handler that also remembers bad lines, so the second pass skips them quietly."""
    if on_error is None:
        return None

    def note(error: InputError) -> None:
        if error.line is not None:
            bad.add(error.line)
        on_error(error)

    return note


def _interactions(
    behaviors: Path, bad: set[int], first_at: dict[str, datetime], known: set[str], keep_unknown_news: bool
) -> Iterator[InteractionRecord]:
    history_done: set[tuple[str, str]] = set()
    dropped = 0
    # Bad rows were reported by the first pass; here they are skipped quietly.
    parsed = parse_lines(behaviors, _behavior_parser(behaviors, None), lambda _: None)
    rows = (row for row in parsed if row.line not in bad)
    for row in rows:
        user = f"mind-{row.user}"
        events: list[tuple[str, InteractionKind, datetime]] = []
        for news_id in row.history:  # the same history repeats on every row of a user: keep each click once
            if (row.user, news_id) not in history_done:
                history_done.add((row.user, news_id))
                events.append((news_id, InteractionKind.click, first_at[row.user]))
        events += [
            (n, InteractionKind.click if clicked else InteractionKind.view, row.at)
            for n, clicked in row.shown
        ]
        for news_id, kind, at in events:
            post = f"mind-{news_id}"
            if post not in known and not keep_unknown_news:
                dropped += 1
                continue
            yield InteractionRecord(user=user, post=post, kind=kind, created_at=at)
    if dropped:
        log.info("MIND: dropped %d interactions with news that have no row in news.tsv", dropped)


def _behavior_parser(source: Path, seen: DuplicateGuard | None) -> Callable[[int, str], Impression]:
    def parse(line: int, text: str) -> Impression:
        impression, user, at, history, shown = split_fields(
            text, "\t", 5, source=source, line=line, what="behaviors.tsv"
        )
        if not user.strip():
            raise InputError("is empty", source=str(source), line=line, field="user id")
        if seen is not None:
            seen.check(impression, line, f"impression id {impression!r}", "impression id")
        return Impression(
            line,
            user.strip(),
            _time(at, source, line),
            history.split(),
            [_candidate(token, source, line) for token in shown.split()],
        )

    return parse


def _time(text: str, source: Path, line: int) -> datetime:
    try:
        return datetime.strptime(text.strip(), "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=UTC)
    except ValueError:
        raise InputError(
            f"{text!r} is not a time like 11/12/2019 2:14:46 PM", source=str(source), line=line, field="time"
        ) from None


def _candidate(token: str, source: Path, line: int) -> tuple[str, bool]:
    news_id, dash, label = token.rpartition("-")
    if not dash:
        return token, False  # test files list candidates without labels
    if label not in ("0", "1") or not news_id:
        raise InputError(
            f"impression {token!r} should be <news id>-1 (clicked) or <news id>-0 (shown)",
            source=str(source),
            line=line,
            field="impressions",
        )
    return news_id, label == "1"


def _news_parser(source: Path, first_seen: dict[str, datetime]) -> Callable[[int, str], PostRecord]:
    seen = DuplicateGuard(str(source))

    def parse(line: int, text: str) -> PostRecord:
        news_id, category, subcategory, title, abstract, *_ = split_fields(
            text, "\t", 8, source=source, line=line, what="news.tsv"
        )
        seen.check(news_id, line, f"news id {news_id!r}", "news id")
        if not title.strip():
            raise InputError("is empty", source=str(source), line=line, field="title")
        body = f"{title.strip()}\n\n{abstract.strip()}" if abstract.strip() else title.strip()
        tags = sorted({t for t in (_tag(category), _tag(subcategory)) if t})
        data = {
            "id": f"mind-{news_id}",
            "author": CATALOG,
            "text": body,
            "hashtags": tags,
            "created_at": first_seen.get(news_id, EPOCH),
        }
        return build(
            PostRecord, data, source=str(source), line=line, fields={"id": "news id", "text": "title"}
        )

    return parse


def _tag(text: str) -> str:
    return _NOT_WORD.sub("_", text.strip().lower()).strip("_")
