"""Feed sessions: the stored pool and pages read back exactly; cursors round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from townsquare.errors import InputError
from townsquare.feed.candidates import Candidate, RankerOutput, Reason
from townsquare.feed.pool import RankedPool
from townsquare.feed.ranker import HEADS
from townsquare.feed.sessions import FeedSession, make_cursor, read_cursor


def _pool() -> list[Candidate]:
    """Two candidates: ``a`` ranked at row 1 of the run's output, ``b`` never ranked (row -1)."""
    a = Candidate(11, 3, [Reason("social_proof", 2.5, (4, 5), (), "engaged with by 2 people you follow")],
                  True, 1.25, row=1)
    a.scale(0.5, "author_diversity", "post 2 by this author in your feed")
    b = Candidate(12, 4, [Reason("item_item", 0.3, (), (9,), "because you liked"), Reason("trending", 0.1)])
    return [a, b]


def _output() -> RankerOutput:
    """Row 0 belongs to a candidate that did not make the pool; row 1 is ``a``'s."""
    probabilities = np.array([np.full(7, 0.9), np.linspace(0.1, 0.7, 7)])
    return RankerOutput(HEADS, probabilities, np.array([[0, 1, 2], [20, 3, 7]]),
                        np.array([[9.0, 9.0, 9.0], [1.5, -0.5, 0.25]]))


def _round_trip(pool, output, now, ranker):
    """Stored as a session row stores it, and read back."""
    return RankedPool.unpack(RankedPool.of(pool).pack(output, now, ranker))


def test_pool_round_trips():
    pool, output, now, ranker = _round_trip(_pool(), _output(), 1234.5, 7)
    assert (now, ranker) == (1234.5, 7)
    a, b = pool
    original = _pool()[0]
    assert (a.post_id, a.author_id, a.in_network, a.score) == (11, 3, True, original.score)
    assert a.reasons == original.reasons and b.reasons == _pool()[1].reasons
    assert a.adjustments == original.adjustments and b.adjustments is None
    assert (a.row, b.row) == (0, 1)  # rows now point into the unpacked output, in pool order
    assert output.predicted(a.row) == dict(zip(HEADS, np.round(np.linspace(0.1, 0.7, 7), 5).tolist()))
    assert output.strongest(a.row) == [(20, 1.5), (3, -0.5), (7, 0.25)]
    assert output.strongest(b.row) == []  # b was never ranked: no contributions to explain


def test_a_pool_whose_output_names_heads_in_another_order_is_stored_by_name():
    swapped = tuple(reversed(HEADS))
    output = RankerOutput(swapped, np.tile(np.arange(7, dtype=float) / 10, (2, 1)), np.zeros((2, 3), int),
                          np.zeros((2, 3)))
    _, back, _, _ = _round_trip(_pool(), output, 0.0, None)
    assert back.predicted(0) == {h: round((6 - i) / 10, 5) for i, h in enumerate(HEADS)}


def test_pages_keep_their_own_adjustments_apart_from_the_pool():
    session = FeedSession("s", 1, 0.0, None, _pool(), 0.0)
    page = session.remaining()
    page[0].note("exploration", "explored: ranked 9")  # a already holds an adjustment, shared with the pool
    page[1].note("exploration", "explored: ranked 9")
    session.pages.append(page)
    again = FeedSession("s", 1, 0.0, None, _pool(), 0.0)
    again.restore_pages(session.served_rows())
    assert [c.adjustments for c in again.pages[0]] == [c.adjustments for c in page]
    assert len(session.pool[0].adjustments) == 1 and session.pool[1].adjustments is None  # the pool is untouched
    assert again.remaining() == []


def test_cursor_round_trips_and_rejects_garbage():
    assert read_cursor(make_cursor("abc123", 4)) == ("abc123", 4)
    with pytest.raises(InputError):
        read_cursor("%%%")


def test_an_empty_pool_round_trips_and_an_old_blob_is_a_clear_error():
    pool, output, now, ranker = _round_trip([], None, 5.0, None)
    assert (list(pool), len(output.probabilities), now, ranker) == ([], 0, 5.0, None)
    with pytest.raises(InputError, match="older version"):
        RankedPool.unpack(b"PK\x03\x04 a zip of arrays")


def test_a_fully_annotated_pool_round_trips():
    """Every candidate with probabilities and three contributions, as the engagement scorer leaves a pool."""
    rng = np.random.default_rng(0)
    output = RankerOutput(HEADS, rng.random((80, 7)), np.array([rng.permutation(24)[:3] for _ in range(80)]),
                          rng.normal(size=(80, 3)))
    rows = rng.permutation(80)[:50]  # a pool is some of the run's rows, in ranked order
    pool = [Candidate(100 + i, i % 7, [Reason("fresh", float(i))], bool(i % 2), float(i), row=int(r))
            for i, r in enumerate(rows)]
    back, back_output, _, _ = _round_trip(pool, output, 1.0, None)
    assert [c.post_id for c in back] == [c.post_id for c in pool]
    for original, again in zip(pool, back):
        assert back_output.predicted(again.row) == pytest.approx(output.predicted(original.row), abs=1e-6)
        assert [j for j, _ in back_output.strongest(again.row)] == [j for j, _ in output.strongest(original.row)]
        assert [v for _, v in back_output.strongest(again.row)] == pytest.approx(
            [v for _, v in output.strongest(original.row)], abs=1e-6)


def test_expired_sessions_are_deleted_as_new_ones_are_saved(store):
    """The writer deletes expired sessions (in batches) when a new one is saved, at most once a
    ``purge_every_s``; live ones stay."""
    from sqlalchemy import select

    from townsquare.feed.sessions import SessionStore
    from townsquare.feed.writer import BackgroundWriter
    from townsquare.ingest.loader import Loader
    from townsquare.ingest.records import UserRecord
    from townsquare.storage.feed_schema import feed_sessions

    Loader(store).load([UserRecord(id="u1", handle="ada")])
    uid = store.find_user("ada")["id"]
    writer = BackgroundWriter()

    def save(sessions: SessionStore) -> FeedSession:
        session = sessions.new(uid, 0.0, _pool(), None, _output())
        sessions.record_page(session, session.remaining(1))
        sessions.save_new(session)
        while True:  # until the writer is idle: each purge batch queues the next behind the flush
            jobs = writer.jobs
            writer.flush()
            if writer.jobs == jobs:
                return session

    def stored() -> set[str]:
        with store.read() as conn:
            return set(conn.execute(select(feed_sessions.c.id)).scalars())

    old = SessionStore(store, ttl_s=-60, writer=writer, purge_every_s=3600)  # its sessions are born expired
    save(old)
    assert stored() == set()  # the first save also purged, after its own insert
    gone = {save(old).id for _ in range(7)}
    assert stored() == gone  # within purge_every_s: no more purges
    sessions = SessionStore(store, ttl_s=1800, writer=writer, purge_every_s=3600, purge_batch=3,
                            purge_pause_s=0)  # 3 batches, each queued as the one before ends
    jobs = writer.jobs
    kept = save(sessions).id
    assert writer.jobs - jobs == 4  # the insert, then a batch of 3, 3 and 1: one writer job each
    assert stored() == {kept}
    more = save(old).id  # expired, but this store purged less than purge_every_s ago
    again = save(sessions).id
    assert stored() == {kept, more, again}


def test_sessions_saved_while_the_writer_is_busy_are_written_in_one_transaction(store):
    """The writer's next job inserts every session saved since the last one, in one transaction,
    and each reads back whole from another worker's store."""
    import threading

    from sqlalchemy import event

    from townsquare.feed.sessions import SessionStore
    from townsquare.feed.writer import BackgroundWriter
    from townsquare.ingest.loader import Loader
    from townsquare.ingest.records import UserRecord

    Loader(store).load([UserRecord(id="u1", handle="ada")])
    uid = store.find_user("ada")["id"]
    writer = BackgroundWriter()
    sessions = SessionStore(store, writer=writer, purge_every_s=3600)
    sessions._next_purge = float("inf")  # only inserts in this test
    busy, release = threading.Event(), threading.Event()
    writer.submit(lambda: (busy.set(), release.wait(10)), "a write that takes a while")
    busy.wait(10)
    saved = []
    for _ in range(3):
        session = sessions.new(uid, 0.0, _pool(), None, _output())
        sessions.record_page(session, session.remaining(1))
        sessions.save_new(session)
        saved.append(session)
    commits = []

    def note(conn) -> None:
        commits.append(conn)

    event.listen(store.engine, "commit", note)
    try:
        jobs = writer.jobs
        release.set()
        writer.flush()
    finally:
        event.remove(store.engine, "commit", note)
    assert writer.jobs - jobs == 2 and len(commits) == 1  # the slow write, then one insert of all three
    elsewhere = SessionStore(store, writer=BackgroundWriter())  # another worker: nothing in memory
    for session in saved:
        back = elsewhere.get(session.id, uid)
        assert [c.post_id for c in back.pool] == [c.post_id for c in session.pool]
        assert [c.post_id for c in back.pages[0]] == [11] and [c.post_id for c in back.remaining()] == [12]


def test_a_session_that_cannot_be_packed_costs_only_itself(store, caplog):
    from townsquare.feed.sessions import SessionStore
    from townsquare.feed.writer import BackgroundWriter
    from townsquare.ingest.loader import Loader
    from townsquare.ingest.records import UserRecord

    Loader(store).load([UserRecord(id="u1", handle="ada")])
    uid = store.find_user("ada")["id"]
    sessions = SessionStore(store, writer=BackgroundWriter(enabled=False), purge_every_s=3600)
    sessions._next_purge = float("inf")
    made = [sessions.new(uid, 0.0, _pool(), None, _output()) for _ in range(3)]

    def broken(*_):
        raise ValueError("a pool that cannot be packed")

    made[1].pool.pack = broken
    sessions._unsaved = [(s, b"[]") for s in made]  # saved while the writer was busy
    sessions._insert_unsaved()
    elsewhere = SessionStore(store, writer=BackgroundWriter())
    assert [c.post_id for c in elsewhere.get(made[0].id, uid).pool] == [11, 12]
    assert [c.post_id for c in elsewhere.get(made[2].id, uid).pool] == [11, 12]
    with pytest.raises(InputError, match="expired"):
        SessionStore(store, writer=BackgroundWriter(), wait_s=0.1).get(made[1].id, uid)
    assert "could not store session " + made[1].id in caplog.text


def test_a_user_deleted_while_their_session_waits_costs_only_their_session(store):
    """Sessions are written in batches; one whose user was deleted meanwhile failed the whole batch's foreign
    key, and other users' cursors expired (session 22's QA pass: 38 of 114 second pages)."""
    from townsquare.feed.sessions import SessionStore
    from townsquare.feed.writer import BackgroundWriter
    from townsquare.ingest.loader import Loader
    from townsquare.ingest.records import UserRecord
    from townsquare.storage.privacy import delete_user

    Loader(store).load([UserRecord(id="u1", handle="ada"), UserRecord(id="u2", handle="bo")])
    ada, bo = store.find_user("ada")["id"], store.find_user("bo")["id"]
    sessions = SessionStore(store, writer=BackgroundWriter(enabled=False), purge_every_s=3600)
    sessions._next_purge = float("inf")
    made = [sessions.new(uid, 0.0, _pool(), None, _output()) for uid in (ada, bo, ada)]
    sessions._unsaved = [(s, b"[]") for s in made]  # saved while the writer was busy
    delete_user(store, "bo")
    sessions._insert_unsaved()
    elsewhere = SessionStore(store, writer=BackgroundWriter())
    for session in (made[0], made[2]):
        assert [c.post_id for c in elsewhere.get(session.id, ada).pool] == [11, 12]
    with pytest.raises(InputError, match="expired"):
        SessionStore(store, writer=BackgroundWriter(), wait_s=0.1).get(made[1].id, bo)
