"""Feed sessions: stable cursor pagination across pages and across API workers.

Page 1 ranks the candidates once; the session keeps that ranked pool. Each later page runs the
selectors over what is left of the pool, so a post is never served twice and nothing is skipped;
a page asked for again (a retried request) is served again from the record of what it held.
The cursor names the session and the page: ``base64url("<session id>.<page number>")``.

Sessions live in this process's memory (least recently used, with a time to live) and in
``feed_sessions``, so any worker can continue any session. The page-1 write (the pool, a few
tens of kilobytes) happens on a background writer thread, off the request's path; a worker that
is asked for page 2 of a session still being written waits for it (milliseconds). Chosen over
state in the cursor because the pool with its explanations is far too big for a URL.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from townsquare.errors import InputError, StaleCursorError
from townsquare.feed.candidates import Adjustment, Candidate, RankerOutput
from townsquare.feed.pool import RankedPool
from townsquare.feed.writer import BackgroundWriter
from townsquare.storage.feed_schema import feed_sessions

log = logging.getLogger(__name__)


_INSERT = feed_sessions.insert()  # built once: the background writer holds the GIL for less


@dataclass
class FeedSession:
    id: str
    user_id: int
    now: float
    ranker_version: int | None
    pool: RankedPool  # as ranked on page 1 (a list of candidates is turned into one)
    expires: float
    ranker_output: RankerOutput | None = None  # the pool's probabilities and contributions, by ``Candidate.row``
    pages: list[list[Candidate]] = field(default_factory=list)  # what each served page held
    ranking: Any = None  # this process only: page 1's ranking records and context
    ctx: Any = None
    follows: frozenset[int] | None = None  # this process only: whom the user follows as the last page was made

    def __post_init__(self) -> None:
        self.pool = RankedPool.of(self.pool)

    def served(self) -> set[int]:
        return {c.post_id for page in self.pages for c in page}

    def remaining(self, limit: int | None = None) -> list[Candidate]:
        """New objects for the best ``limit`` unserved candidates, in ranked order (the selectors change
        them, never the pool); only those are made from the pool's columns."""
        served, pool = self.served(), self.pool
        left = (i for i, post in enumerate(pool.post_ids) if post not in served)
        return pool.make_many(list(left if limit is None else islice(left, limit)))

    def served_rows(self) -> list[list]:
        """Per page: [post, score after the selectors, the page's own adjustments] of each item."""
        posts = self.pool.post_ids
        base = {posts[i]: len(done) for i, done in self.pool.adjusted.items()}  # what the pool's own copy holds
        return [[[c.post_id, c.score, (c.adjustments or [])[base.get(c.post_id, 0):]] for c in page]
                for page in self.pages]

    def restore_pages(self, rows: list[list]) -> None:
        pool, at = self.pool, self.pool.position
        self.pages = []
        for page in rows:
            items = []
            for post, score, extra in page:
                item = pool.make(at[post])
                item.score, item.adjustments = score, (item.adjustments or []) + [Adjustment(*a) for a in extra]
                items.append(item)
            self.pages.append(items)


def make_cursor(session_id: str, page: int) -> str:
    return base64.urlsafe_b64encode(f"{session_id}.{page}".encode()).decode().rstrip("=")


def read_cursor(cursor: str) -> tuple[str, int]:
    try:
        session_id, page = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(".")
        if int(page) < 1:  # a cursor names the next page, from the second on
            raise ValueError(page)
        return session_id, int(page)
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"cursor {cursor!r} is not one this feed gave out; ask again without a cursor",
                         field="cursor") from error


class SessionStore:
    """Sessions in memory and in ``feed_sessions``; page-1 writes go through one background writer.

    Only the ``capacity`` most recent sessions stay in memory (older ones are read back from
    the table, a few milliseconds). Until session 12 each held its whole ranked pool as Python
    objects, which every full pass of the garbage collector walks (a ``RankedPool`` is columns
    now, plus the objects its pages made):
    - A few thousand sessions made those passes take over half a second.
    - With 32, 1M-post pages showed full passes of 36-54 ms, over about 50,000 objects, most of
      them the sessions' candidates.
    - 8 instead of 32, in two in-process runs alternating blocks of 100 pages: the same p50,
      and p99 112 against 145 ms and 49 against 71 ms.
    - A busy worker replaces 8 sessions within a fraction of a second, and 32 within about one,
      so page 2 (seconds later) was read back from the table either way.

    Expired sessions are deleted on the writer, at most once every ``purge_every_s`` per worker.
    Nothing did before: the 1M-post benchmark's table had grown to 52,000 sessions (3.1 GB of its
    5.9 GB file), and a platform serving 50 new feeds a second would add some 280 GB a day.
    They go ``purge_batch`` at a time, a batch at most every ``purge_pause_s``, each batch a
    writer job of its own (``_purge_step``).
    """

    def __init__(self, store, ttl_s: int = 1800, *, writer: BackgroundWriter | None = None, capacity: int = 8,
                 wait_s: float = 5.0, purge_every_s: float = 60.0, purge_batch: int = 50,
                 purge_pause_s: float = 0.1) -> None:
        self.store, self.ttl_s, self.capacity, self.wait_s = store, ttl_s, capacity, wait_s
        self.writer = writer or BackgroundWriter()
        self.purge_every_s, self.purge_batch, self.purge_pause_s = purge_every_s, purge_batch, purge_pause_s
        self._next_purge = 0.0  # time.monotonic() after which the next new session also purges
        self._memory: OrderedDict[str, FeedSession] = OrderedDict()
        self._unsaved: list[tuple[FeedSession, bytes]] = []  # saved, for the writer's next insert
        self._lock = threading.Lock()

    def new(self, user_id: int, now: float, pool: Sequence[Candidate], ranker_version: int | None,
            ranker_output: RankerOutput | None = None) -> FeedSession:
        """A session in memory; ``record_page`` stores it with its first page."""
        return FeedSession(secrets.token_hex(16), user_id, now, ranker_version, pool, time.time() + self.ttl_s,
                           ranker_output)

    def record_page(self, session: FeedSession, page: list[Candidate]) -> None:
        """Remember what a page held. A later page is written at once; the first waits for ``save_new``."""
        session.pages.append(page)
        self._remember(session)
        if len(session.pages) == 1:
            return
        served = json.dumps(session.served_rows(), separators=(",", ":")).encode()
        with self.store.begin() as conn:
            conn.execute(update(feed_sessions).where(feed_sessions.c.id == session.id).values(
                served=served, pages=len(session.pages)))

    def save_new(self, session: FeedSession) -> None:
        """Write a session that has served only its first page, with its pool, on the background writer.

        Called once the page is rendered: the write holds the GIL for a few milliseconds, which
        the page's response should not wait for. Sessions saved while the writer is busy are
        written together, in one transaction (``_insert_unsaved``).
        """
        if len(session.pages) != 1:
            return
        served = json.dumps(session.served_rows(), separators=(",", ":")).encode()
        with self._lock:
            self._unsaved.append((session, served))
            first = len(self._unsaved) == 1  # else a queued job will take this one too
        if first:
            self.writer.submit(self._insert_unsaved, "new feed sessions")
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + self.purge_every_s
            self.writer.submit(self._purge_step if self.writer.enabled else self.purge,
                               "the deletion of expired feed sessions")

    def _insert_unsaved(self) -> None:
        """Every session saved since the last insert, in one transaction: one commit's pages (the
        tables' and indexes' upper levels) instead of one per session. Per session, 0.57-0.69 ms of
        CPU alone, 0.36-0.41 four at a time (the demo's pools, in process)."""
        with self._lock:
            batch, self._unsaved = self._unsaved, []
        rows = []
        for session, served in batch:
            try:  # one session that cannot be packed costs only itself, not the batch
                payload = session.pool.pack(session.ranker_output, session.now, session.ranker_version)
            except Exception:
                log.exception("feed: could not store session %s", session.id)
                continue
            rows.append({"id": session.id, "user_id": session.user_id, "pages": 1, "served": served,
                         "payload": payload, "expires_at": datetime.fromtimestamp(session.expires, UTC)})
        if not rows:
            return
        try:
            with self.store.begin() as conn:
                conn.execute(_INSERT, rows)
        except IntegrityError:  # a user deleted meanwhile: their session goes, the others' stay
            for row in rows:
                try:
                    with self.store.begin() as conn:
                        conn.execute(_INSERT, row)
                except IntegrityError:
                    log.info("feed: session %s not stored; its user %s was deleted", row["id"], row["user_id"])

    def where_served(self, user_id: int, post_id: int, recent: int = 5) -> tuple[int, int] | None:
        """(page, position), both from 1, of ``post_id`` in the newest of the user's ``recent`` live sessions
        that served it; None when none did. This worker's sessions first, then the table's."""
        with self._lock:
            mine = [s for s in reversed(self._memory.values()) if s.user_id == user_id]
        pages = [[[c.post_id for c in page] for page in s.pages] for s in mine]
        with self.store.read(fresh=True) as conn:
            for (served,) in conn.execute(
                    select(feed_sessions.c.served).where(feed_sessions.c.user_id == user_id,
                                                         feed_sessions.c.expires_at > datetime.now(UTC))
                    .order_by(feed_sessions.c.created_at.desc()).limit(recent)):
                pages.append([[row[0] for row in page] for page in json.loads(served or b"[]")])
        for session in pages:
            at = 0
            for number, page in enumerate(session, 1):
                if post_id in page:
                    return number, at + page.index(post_id) + 1
                at += len(page)
        return None

    def flush(self) -> None:
        """Wait for background writes (a short-lived process calls this before it exits)."""
        self.writer.flush()

    def get(self, session_id: str, user_id: int) -> FeedSession:
        """The session, with every page any worker served so far."""
        row = self._row(session_id)
        if row.user_id != user_id:
            raise InputError("this cursor belongs to another user's feed", field="cursor")
        with self._lock:
            session = self._memory.get(session_id)
        if session is None or len(session.pages) != row.pages:
            with self.store.read(fresh=True) as conn:  # as new as ``_row``'s
                full = conn.execute(select(feed_sessions).where(feed_sessions.c.id == session_id)).mappings().one()
            if session is None:
                pool, output, now, ranker = RankedPool.unpack(full["payload"])
                session = FeedSession(session_id, full["user_id"], now, ranker, pool, full["expires_at"].timestamp(),
                                      output)
            session.restore_pages(json.loads(full["served"]))
        self._remember(session)
        return session

    def _row(self, session_id: str):
        """The session's row, waiting a moment for one another worker is still writing."""
        deadline = time.monotonic() + self.wait_s
        while True:
            with self.store.read(fresh=True) as conn:  # a snapshot taken before another worker's insert never sees it
                row = conn.execute(select(feed_sessions.c.user_id, feed_sessions.c.pages,
                                          feed_sessions.c.expires_at).where(feed_sessions.c.id == session_id)).first()
            if row is not None and row.expires_at.timestamp() >= time.time():
                return row
            if row is not None or time.monotonic() > deadline:
                break
            with self._lock:
                mine = session_id in self._memory
            self.flush() if mine else time.sleep(0.01)  # this process's writer, or another worker's
        raise StaleCursorError("this feed cursor has expired; ask for the feed again without a cursor")

    def purge(self) -> int:
        """Delete every expired session now, ``purge_batch`` per transaction; returns how many."""
        total = 0
        while True:
            done = self._delete_expired()
            total += done
            if done < self.purge_batch:
                return total

    def _purge_step(self) -> None:
        """One batch of ``purge`` on the writer; while batches come back full, the next one is queued
        ``purge_pause_s`` later, so that new sessions are written between batches and the other
        workers' writes (a later page's record is written on the request) find the write lock free.

        Deleting a session costs about 0.15 ms (its payload's overflow pages are freed one by one).
        At 200 new sessions a second, a purge a minute meets about 12,000. The demo over HTTP,
        readers scrolling three pages, with expired sessions waiting at the start (docs/feed.md,
        "Session 10"): one pass over all of them gave a p99 of 2.0 s (25,000 waiting); batches of
        100 queued back to back, 674 ms (18,000); batches of 50 paced 0.1 s apart, 148 ms (20,700)."""
        if self._delete_expired() < self.purge_batch:
            return
        if self.purge_pause_s <= 0:
            self._queue_purge_step()
            return
        timer = threading.Timer(self.purge_pause_s, self._queue_purge_step)
        timer.daemon = True
        timer.start()

    def _queue_purge_step(self) -> None:
        try:
            self.writer.submit(self._purge_step, "the deletion of expired feed sessions")
        except RuntimeError:  # the process is exiting (no new writer jobs): the next one purges the rest
            log.info("feed: expired sessions left for the next process to delete")

    def _delete_expired(self) -> int:
        expired = select(feed_sessions.c.id).where(feed_sessions.c.expires_at < datetime.now(UTC)).limit(
            self.purge_batch)
        with self.store.begin() as conn:
            return conn.execute(delete(feed_sessions).where(feed_sessions.c.id.in_(expired))).rowcount

    def _remember(self, session: FeedSession) -> None:
        with self._lock:
            self._memory[session.id] = session
            self._memory.move_to_end(session.id)
            while len(self._memory) > self.capacity:
                self._memory.popitem(last=False)
