"""Feed sessions: the stored pool and pages read back exactly; cursors round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from townsquare.errors import InputError
from townsquare.feed.candidates import Candidate, Reason
from townsquare.feed.sessions import FeedSession, make_cursor, pack_pool, read_cursor, unpack_pool


def _pool() -> list[Candidate]:
    a = Candidate(11, 3, [Reason("social_proof", 2.5, (4, 5), (), "engaged with by 2 people you follow")],
                  True, 1.25, np.linspace(0.1, 0.7, 7), (np.array([20, 3, 7]), np.array([1.5, -0.5, 0.25])))
    a.scale(0.5, "author_diversity", "post 2 by this author in your feed")
    b = Candidate(12, 4, [Reason("item_item", 0.3, (), (9,), "because you liked"), Reason("trending", 0.1)])
    return [a, b]


def test_pool_round_trips():
    pool, now, ranker = unpack_pool(pack_pool(_pool(), 1234.5, 7))
    assert (now, ranker) == (1234.5, 7)
    a, b = pool
    original = _pool()[0]
    assert (a.post_id, a.author_id, a.in_network, a.score) == (11, 3, True, original.score)
    assert a.reasons == original.reasons and b.reasons == _pool()[1].reasons
    assert np.allclose(a.heads, original.heads) and a.adjustments == original.adjustments
    assert a.contributions[0].tolist() == [20, 3, 7] and np.allclose(a.contributions[1], [1.5, -0.5, 0.25])
    assert b.contributions[0].tolist() == [] and b.adjustments is None


def test_pages_keep_their_own_adjustments_apart_from_the_pool():
    session = FeedSession("s", 1, 0.0, None, _pool(), 0.0)
    page = session.remaining()
    page[1].note("exploration", "explored: ranked 9")
    session.pages.append(page)
    again = FeedSession("s", 1, 0.0, None, _pool(), 0.0)
    again.restore_pages(session.served_rows())
    assert [c.adjustments for c in again.pages[0]] == [c.adjustments for c in page]
    assert session.pool[1].adjustments is None  # the pool itself is untouched
    assert again.remaining() == []


def test_cursor_round_trips_and_rejects_garbage():
    assert read_cursor(make_cursor("abc123", 4)) == ("abc123", 4)
    with pytest.raises(InputError):
        read_cursor("%%%")


def test_an_empty_pool_round_trips_and_an_old_blob_is_a_clear_error():
    assert unpack_pool(pack_pool([], 5.0, None)) == ([], 5.0, None)
    with pytest.raises(InputError, match="older version"):
        unpack_pool(b"PK\x03\x04 a zip of arrays")


def test_a_fully_annotated_pool_round_trips():
    """Every candidate with probabilities and three contributions, as the engagement scorer leaves a pool."""
    rng = np.random.default_rng(0)
    pool = [Candidate(100 + i, i % 7, [Reason("fresh", float(i))], bool(i % 2), float(i), rng.random(7),
                      (rng.permutation(24)[:3], rng.normal(size=3))) for i in range(50)]
    back, _, _ = unpack_pool(pack_pool(pool, 1.0, None))
    assert [c.post_id for c in back] == [c.post_id for c in pool]
    assert np.allclose([c.heads for c in back], [c.heads for c in pool], atol=1e-6)
    assert [c.contributions[0].tolist() for c in back] == [c.contributions[0].tolist() for c in pool]
    assert np.allclose([c.contributions[1] for c in back], [c.contributions[1] for c in pool], atol=1e-6)
