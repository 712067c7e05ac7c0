"""One contract suite for every VectorIndex, on tiny synthetic data whose answers are obvious."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

from townsquare.errors import InputError, NotFoundError
from townsquare.storage.vector_index import AutoIndex, ExactIndex, IvfIndex, VectorIndex

DIM = 16

IMPLEMENTATIONS: dict[str, Callable[[], VectorIndex]] = {
    "exact": lambda: ExactIndex(DIM, capacity=4),  # tiny capacity: growth is exercised
    "ivf": lambda: IvfIndex(DIM),
    # one cell probed out of several: searches must widen to find k results
    "ivf-narrow": lambda: IvfIndex(DIM, target_recall=0.0),
    "auto": lambda: AutoIndex(DIM, crossover=100),  # switches to IVF inside these tests
}


@pytest.fixture(params=list(IMPLEMENTATIONS))
def make(request: pytest.FixtureRequest) -> Callable[[], VectorIndex]:
    return IMPLEMENTATIONS[request.param]


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


@pytest.fixture
def data() -> np.ndarray:
    """300 random 16-d vectors (not normalised: the index does that)."""
    return np.random.default_rng(7).standard_normal((300, DIM)).astype(np.float32) * 3


@pytest.fixture
def index(make: Callable[[], VectorIndex], data: np.ndarray) -> VectorIndex:
    index = make()
    for start in range(0, len(data), 60):  # several adds: retraining and switching happen
        index.add(np.arange(start, start + 60) + 1000, data[start:start + 60])
    return index


def ids_of(rows: np.ndarray | list[int]) -> np.ndarray:
    return np.asarray(rows) + 1000


def test_empty_index_returns_nothing(make: Callable[[], VectorIndex]) -> None:
    index = make()
    assert len(index) == 0 and index.dim == DIM
    ids, scores = index.search(np.ones(DIM), 5)
    assert ids.shape == (0,) and scores.shape == (0,)
    ids, scores = index.search(np.ones((3, DIM)), 5)
    assert ids.shape == (3, 0)
    assert index.ids().size == 0 and index.remove([1, 2]) == 0


def test_a_batch_of_no_queries_gets_no_rows(index: VectorIndex) -> None:
    """A user with no interest vectors yet searches with a (0, dim) batch."""
    ids, scores = index.search(np.zeros((0, DIM), np.float32), 5)
    assert ids.shape[0] == 0 and scores.shape[0] == 0


def test_a_stored_vector_finds_itself_first(index: VectorIndex, data: np.ndarray) -> None:
    assert len(index) == len(data)
    for row in [0, 1, 77, 150, 299]:
        ids, scores = index.search(data[row], 1)
        assert ids.tolist() == [ids_of(row)]
        assert scores[0] == pytest.approx(1.0, abs=1e-5)


def test_results_are_cosine_scores_best_first(index: VectorIndex, data: np.ndarray) -> None:
    query = np.random.default_rng(1).standard_normal(DIM)
    ids, scores = index.search(query, 10)
    assert len(ids) == 10 and np.all(np.diff(scores) <= 1e-7)
    expected = unit(data[ids - 1000]) @ unit(query)
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    exact = np.argsort(-(unit(data) @ unit(query)))[:10]
    assert ids[0] == ids_of(exact[0])


def test_get_returns_normalised_vectors_in_order(index: VectorIndex, data: np.ndarray) -> None:
    got = index.get(ids_of([5, 3, 200]))
    np.testing.assert_allclose(got, unit(data[[5, 3, 200]]), atol=1e-6)
    with pytest.raises(NotFoundError, match="not in the vector index"):
        index.get([1000, 99])


def test_ids_lists_every_id(index: VectorIndex, data: np.ndarray) -> None:
    assert sorted(index.ids().tolist()) == ids_of(range(len(data))).tolist()


def test_upsert_replaces_the_vector(index: VectorIndex, data: np.ndarray) -> None:
    index.add([ids_of(3)], data[[7]])
    assert len(index) == len(data)
    ids, _ = index.search(data[7], 2)
    assert set(ids.tolist()) == {ids_of(3), ids_of(7)}
    ids, _ = index.search(data[3], len(data))
    assert list(ids).count(ids_of(3)) == 1 and ids[0] != ids_of(3)
    np.testing.assert_allclose(index.get([ids_of(3)])[0], unit(data[7]), atol=1e-6)


def test_removed_ids_never_come_back(index: VectorIndex, data: np.ndarray) -> None:
    gone = ids_of(range(0, len(data), 2))
    assert index.remove(np.concatenate([gone, [5, 6]])) == len(gone)  # unknown ids are ignored
    assert len(index) == len(data) - len(gone)
    ids, _ = index.search(data, len(data))
    assert ids.shape == (len(data), len(data) - len(gone))
    assert not np.isin(ids, gone).any()
    assert sorted(index.ids().tolist()) == ids_of(range(1, len(data), 2)).tolist()
    assert index.remove(gone) == 0


def test_removed_id_can_be_added_again(index: VectorIndex, data: np.ndarray) -> None:
    index.remove([ids_of(10)])
    index.add([ids_of(10)], data[[10]])
    assert index.search(data[10], 1)[0].tolist() == [ids_of(10)]
    assert len(index) == len(data)


def test_exclude_is_never_returned(index: VectorIndex, data: np.ndarray) -> None:
    ids, _ = index.search(data[4], 3, exclude={ids_of(4)})
    assert ids_of(4) not in ids and len(ids) == 3
    everything_but_two = ids_of(range(2, len(data)))
    ids, _ = index.search(data[4], 10, exclude=everything_but_two)
    assert sorted(ids.tolist()) == ids_of([0, 1]).tolist()
    ids, _ = index.search(data[:4], 10, exclude=list(everything_but_two) + [123456])
    assert ids.shape == (4, 2)


def test_k_larger_than_the_index(index: VectorIndex, data: np.ndarray) -> None:
    ids, scores = index.search(data[0], 10 * len(data))
    assert sorted(ids.tolist()) == ids_of(range(len(data))).tolist()
    assert np.all(np.diff(scores) <= 1e-7)
    assert index.search(data[0], 0)[0].shape == (0,)


def test_batch_queries_give_one_row_each(index: VectorIndex, data: np.ndarray) -> None:
    ids, scores = index.search(data[10:15], 4)
    assert ids.shape == scores.shape == (5, 4)
    assert ids[:, 0].tolist() == ids_of(range(10, 15)).tolist()


@pytest.mark.parametrize("call", [
    lambda ix: ix.add([1, 2], np.ones((2, DIM + 1))),
    lambda ix: ix.add([1], np.ones(DIM)),
    lambda ix: ix.search(np.ones(DIM - 1), 3),
    lambda ix: ix.search(np.ones((2, 3)), 3),
])
def test_wrong_dimensions_raise_a_clear_error(make: Callable[[], VectorIndex], call) -> None:
    with pytest.raises(InputError, match=f"{DIM}-dimensional"):
        call(make())


@pytest.mark.parametrize(("call", "message"), [
    (lambda ix: ix.add([1, 2], np.ones((3, DIM))), "one id per row"),
    (lambda ix: ix.add([1, 1], np.ones((2, DIM))), "repeat"),
    (lambda ix: ix.add([1], np.full((1, DIM), np.nan)), "NaN"),
    (lambda ix: ix.add([1.5], np.ones((1, DIM))), "integers"),
    (lambda ix: ix.search(np.ones(DIM), -1), "non-negative"),
])
def test_bad_input_raises(make: Callable[[], VectorIndex], call, message: str) -> None:
    with pytest.raises(InputError, match=message):
        call(make())


def test_save_and_load_round_trip(index: VectorIndex, data: np.ndarray, tmp_path) -> None:
    index.remove([ids_of(1)])
    index.save(tmp_path / "ix")
    loaded = VectorIndex.load(tmp_path / "ix")
    assert type(loaded) is type(index) and len(loaded) == len(index)
    for a, b in zip(index.search(data[:5], 7), loaded.search(data[:5], 7)):
        np.testing.assert_array_equal(a, b)
    loaded.add([ids_of(1)], data[[1]])  # still writable
    assert loaded.search(data[1], 1)[0].tolist() == [ids_of(1)]
    assert type(loaded).load(tmp_path / "ix").kind == index.kind


def test_load_reports_missing_or_mismatched_folders(tmp_path) -> None:
    with pytest.raises(NotFoundError, match="no vector index"):
        VectorIndex.load(tmp_path)
    ExactIndex(DIM).save(tmp_path / "exact")
    with pytest.raises(InputError, match="'exact' index"):
        IvfIndex.load(tmp_path / "exact")


def test_searches_run_while_one_thread_writes(make: Callable[[], VectorIndex],
                                              data: np.ndarray) -> None:
    index, errors, stop = make(), [], threading.Event()
    index.add(ids_of([0]), data[[0]])

    def read() -> None:
        while not stop.is_set():
            try:
                ids, _ = index.search(data[0], 5, exclude=[ids_of(3)])
                assert ids[0] == ids_of(0) and ids_of(3) not in ids
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
                return

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    for start in range(1, len(data), 20):
        index.add(ids_of(range(start, min(start + 20, len(data)))), data[start:start + 20])
        index.remove([ids_of(start)])
    stop.set()
    for thread in readers:
        thread.join()
    assert not errors
    assert len(index) == len(data) - len(range(1, len(data), 20))


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Gaussian blobs around 40 fixed centres, like topic clusters of sentence embeddings;
    seed picks the points, so queries come from the same mixture as the data."""
    centres = np.random.default_rng(0).standard_normal((40, dim))
    rng = np.random.default_rng(seed)
    return (centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, dim))).astype(np.float32)


def test_ivf_recall_at_100_against_exact() -> None:
    data, queries = clustered(5000, 64, seed=1), clustered(50, 64, seed=2)
    exact, ivf = ExactIndex(64), IvfIndex(64)
    for start in range(0, len(data), 1000):  # trains at 1,000 and again at 5,000
        exact.add(np.arange(start, start + 1000), data[start:start + 1000])
        ivf.add(np.arange(start, start + 1000), data[start:start + 1000])
    truth, _ = exact.search(queries, 100)
    found, _ = ivf.search(queries, 100)
    recall = np.mean([len(set(t) & set(f)) / 100 for t, f in zip(truth, found)])
    assert ivf._index.nlist > ivf.nprobe  # really approximate
    assert recall >= 0.95


def test_auto_index_switches_to_ivf_when_it_grows() -> None:
    data = clustered(1500, 32, seed=3)
    index = AutoIndex(32, crossover=1000)
    index.add(np.arange(900), data[:900])
    assert index.active == "exact"
    index.add(np.arange(800, 1500), data[800:])  # overlaps: 800..899 are replaced
    assert index.active == "ivf" and len(index) == 1500
    assert index.search(data[1234], 1)[0].tolist() == [1234]
    assert sorted(index.ids().tolist()) == list(range(1500))
