"""``_Slices.tails``: the newest rows of many keys in one gather, the same as slicing key by key."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from townsquare.feed.index import _HALF_TO_SINGLE, FeedIndex, _Slices

from .conftest import pid


def slices(keys: list[int], size: int) -> _Slices:
    keys_array = np.array(sorted(keys), np.int64)
    return _Slices.build(keys_array, {"post": np.arange(len(keys_array), dtype=np.int64) * 10}, size)


def by_key(groups: _Slices, keys: list[int], n: int) -> tuple[list[int], list[int]]:
    parts = [groups.get(k)["post"][-n:].tolist() for k in keys]
    return [v for p in parts for v in p], [len(p) for p in parts]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 20), max_size=60), st.lists(st.integers(-3, 25), max_size=15), st.integers(1, 5),
       st.lists(st.tuples(st.integers(0, 20), st.integers(1000, 2000)), max_size=4))
def test_tails_equal_slicing_key_by_key(rows, asked, n, added):
    groups = slices(rows, 21)
    for key, post in added:
        groups.append(key, (post,))
    values, counts = groups.tails(np.array(asked, np.int64), n, "post")
    assert (values.tolist(), counts.tolist()) == by_key(groups, asked, n)


def test_tails_of_an_empty_base():
    groups = _Slices(np.zeros(1, np.int64), {"post": np.zeros(0, np.int64)})
    values, counts = groups.tails(np.array([0, 3]), 2, "post")
    assert values.tolist() == [] and counts.tolist() == [0, 0]
    owner, columns = groups.rows(np.array([0, 3]))
    assert owner.tolist() == [] and columns["post"].tolist() == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 20), max_size=60), st.lists(st.integers(-3, 25), max_size=15),
       st.lists(st.tuples(st.integers(0, 20), st.integers(1000, 2000)), max_size=4))
def test_rows_equal_getting_key_by_key(rows, asked, added):
    groups = slices(rows, 21)
    for key, post in added:
        groups.append(key, (post,))
    owner, columns = groups.rows(np.array(asked, np.int64))
    parts = [groups.get(k)["post"].tolist() for k in asked]
    assert columns["post"].tolist() == [v for p in parts for v in p]
    assert owner.tolist() == [i for i, p in enumerate(parts) for _ in p]


def test_the_float16_table_widens_every_value_exactly():
    """The lookup that replaces numpy's float16 -> float32 conversion agrees on all 65,536 bit patterns."""
    halves = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    expected = halves.astype(np.float32)
    nan = np.isnan(expected)
    assert np.array_equal(_HALF_TO_SINGLE[~nan].view(np.uint32), expected[~nan].view(np.uint32))  # -0.0 too
    assert np.isnan(_HALF_TO_SINGLE[nan]).all()


def test_vectors_of_widens_stored_half_vectors():
    index = FeedIndex(None, "m")
    stored = np.array([[0.5, -0.0, 6e-8], [1.0, -2.0, 65504.0]], np.float16)
    index.vectors, index.post_row = stored, np.array([1, -1, 0], np.int32)
    has, vectors = index.vectors_of(np.array([0, 1, 2, 7]))
    assert has.tolist() == [True, False, True, False]
    assert vectors.dtype == np.float32 and np.array_equal(vectors, stored[[1, 0]].astype(np.float32))


def test_vectors_stay_single_precision_until_the_matrix_is_big(world, monkeypatch):
    """Below ``SINGLE_PRECISION_BYTES`` vectors are kept as given; a corpus that grows past it turns
    the matrix to float16 once, rows already loaded included."""
    world.user("ada")
    first = world.post("ada", "cooking")
    world.load()
    index = FeedIndex.load(world.store, world.embedder.model_id)
    exact = world.embedder.embed([world.store.find_post(first)["text"]])
    assert index.vectors.dtype == np.float32
    assert np.array_equal(index.vectors_of(np.array([pid(world.store, first)]))[1], exact)

    monkeypatch.setattr(FeedIndex, "SINGLE_PRECISION_BYTES", index.vectors[:index.n_vectors].nbytes)
    second = world.post("ada", "chess")
    world.load()
    index.refresh()
    assert index.vectors.dtype == np.float16
    has, vectors = index.vectors_of(np.array([pid(world.store, first), pid(world.store, second)]))
    assert has.all() and vectors.dtype == np.float32
    assert np.array_equal(vectors[0], exact[0].astype(np.float16).astype(np.float32))


def test_spans_lays_ragged_rows_end_to_end():
    from townsquare.feed.index import spans

    assert spans(np.array([5, 0, 9]), np.array([2, 0, 3])).tolist() == [5, 6, 9, 10, 11]
    assert spans(np.zeros(0, np.int64), np.zeros(0, np.int64)).tolist() == []
