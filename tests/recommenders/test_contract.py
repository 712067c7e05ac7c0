"""Every recommender through the same assertions on the two-group world (see conftest)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from townsquare.errors import InputError, NotFoundError
from townsquare.recommenders import Recommender, get_recommender, recommender_names

CONFIGS: dict[str, dict] = {
    "popularity": {},
    "als": {"factors": 2, "regularization": 1.0, "alpha": 10.0, "iterations": 15, "threads": 1},
    "bpr": {"factors": 8, "learning_rate": 0.05, "regularization": 0.01, "iterations": 200, "threads": 1},
    "ease": {"l2": 5.0},
    "itemknn": {"k": 20, "shrink": 0.0},
    "rp3beta": {"alpha": 1.0, "beta": 0.3, "k": 20},
    "text": {"neighbours": 0},
    "social": {"power": 1.0},
    "blend": {
        "components": [
            {"name": "ease", "params": {"l2": 5.0}},
            {
                "name": "als",
                "params": {"factors": 2, "regularization": 1.0, "alpha": 10.0, "threads": 1, "members": 2},
            },
            {"name": "text", "params": {"neighbours": 5}},
        ],
        "weights": [1.0, 1.0, 0.3],
    },
}
PERSONAL = [name for name in CONFIGS if name != "popularity"]
HISTORY_BASED = [name for name in PERSONAL if name != "social"]  # score any history, even a new user's


@pytest.fixture(scope="module")
def fitted(world) -> dict[str, Recommender]:
    return {
        name: get_recommender(name, **params).fit(world.interactions, **world.side)
        for name, params in CONFIGS.items()
    }


def test_every_registered_recommender_is_in_the_suite():
    assert sorted(CONFIGS) == recommender_names()


@pytest.mark.parametrize("name", PERSONAL)
def test_recommends_the_rest_of_the_users_group_first(name, fitted, world):
    users = np.arange(world.interactions.shape[0])
    ids, scores = fitted[name].recommend(users, world.missing)
    right = world.item_group[ids] == world.user_group[:, None]
    if name == "social":  # only what friends engaged with scores above 0; the rest is a tie
        assert (scores[:, 0] > 0).all() and right[scores > 0].all()
    else:
        assert right.all()


def test_popularity_recommends_the_most_engaged_unseen_items(fitted, world):
    counts = np.asarray(world.interactions.sum(axis=0)).ravel()
    ids, scores = fitted["popularity"].recommend([0], 4)
    assert np.allclose(scores[0], counts[ids[0]])
    unseen = np.setdiff1d(np.arange(len(counts)), world.interactions[0].indices)
    assert scores[0][0] == counts[unseen].max()


@pytest.mark.parametrize("name", CONFIGS)
def test_recommend_is_sorted_excludes_seen_and_respects_candidates(name, fitted, world):
    model = fitted[name]
    ids, scores = model.recommend(np.arange(10), 6)
    assert ids.shape == scores.shape == (10, 6)
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    for user in range(10):
        assert not set(ids[user]) & set(world.interactions[user].indices)
    candidates = np.array([1, 9, 12])
    ids, scores = model.recommend(np.arange(10), 5, items=candidates, exclude_seen=False)
    assert set(ids[:, :3].ravel()) <= set(candidates)
    assert (ids[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()


@pytest.mark.parametrize("name", CONFIGS)
def test_scores_cover_every_item_as_float32(name, fitted, world):
    scores = fitted[name].score([0, 5, 59])
    assert scores.shape == (3, world.interactions.shape[1]) and scores.dtype == np.float32
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("name", CONFIGS)
def test_save_and_load_give_the_same_scores(name, fitted, tmp_path):
    path = fitted[name].save(tmp_path / name)
    loaded = Recommender.load(path)
    assert type(loaded) is type(fitted[name]) and loaded.params() == fitted[name].params()
    np.testing.assert_allclose(
        loaded.score(np.arange(20)), fitted[name].score(np.arange(20)), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("name", HISTORY_BASED)
def test_a_new_users_history_is_enough(name, fitted, world):
    group_one = np.flatnonzero(world.item_group == 1)[:4]
    history = sp.csr_matrix(
        (np.ones(4, np.float32), ([0] * 4, group_one)), shape=(1, world.interactions.shape[1])
    )
    ids, _ = fitted[name].recommend([-1], 3, user_items=history)
    assert (world.item_group[ids[0]] == 1).all()


@pytest.mark.parametrize("name", HISTORY_BASED)
def test_similar_items_are_from_the_same_group(name, fitted, world):
    ids, scores = fitted[name].similar_items(2, 3)
    assert 2 not in ids and (world.item_group[ids] == world.item_group[2]).all()
    assert (np.diff(scores) <= 1e-6).all()


def test_unfitted_model_says_to_fit_first():
    with pytest.raises(InputError, match="fit"):
        get_recommender("ease").score([0])


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(NotFoundError, match="ease"):
        get_recommender("nope")


def test_models_that_need_side_information_say_so(world):
    with pytest.raises(InputError, match="item_vectors"):
        get_recommender("text").fit(world.interactions)
    with pytest.raises(InputError, match="social"):
        get_recommender("social").fit(world.interactions)


def test_loading_the_wrong_kind_is_refused(fitted, tmp_path):
    from townsquare.recommenders import EASERecommender

    path = fitted["als"].save(tmp_path / "als.npz")
    with pytest.raises(InputError, match="als"):
        EASERecommender.load(path)


def test_als_bag_averages_its_members(world):
    one = get_recommender("als", factors=4, regularization=0.1, alpha=5.0, threads=1, seed=3)
    bag = get_recommender("als", factors=4, regularization=0.1, alpha=5.0, threads=1, seed=3, members=2)
    one.fit(world.interactions)
    bag.fit(world.interactions)
    assert bag.item_factors.shape[1] == 2 * one.item_factors.shape[1]
    np.testing.assert_allclose(bag.item_factors[:, :4], one.item_factors, rtol=1e-5)


def test_als_fold_in_matches_training_factors(world):
    model = get_recommender("als", factors=4, regularization=0.1, alpha=5.0, iterations=30, threads=1)
    model.fit(world.interactions)
    trained = model.score([0, 1])
    folded = model.score([0, 1], user_items=world.interactions[[0, 1]])
    assert np.corrcoef(trained.ravel(), folded.ravel())[0, 1] > 0.99


def test_popularity_guesses_cold_items_from_text_neighbours(world):
    interactions = world.interactions.tolil()
    interactions[:, 3] = 0  # item 3 (group 0) has no engagement
    model = get_recommender("popularity", cold_neighbours=3).fit(
        interactions.tocsr(), item_vectors=world.item_vectors
    )
    group_counts = np.asarray(world.interactions.sum(axis=0)).ravel()[world.item_group == 0]
    assert model.counts[3] > 0 and group_counts.min() <= model.counts[3] <= group_counts.max()


def test_a_blend_of_fitted_parts_saves_and_loads(fitted, world, tmp_path):
    from townsquare.recommenders import BlendRecommender

    blend = BlendRecommender.of([fitted["ease"], fitted["social"]], [1.0, 0.5])
    loaded = Recommender.load(blend.save(tmp_path / "blend.npz"))
    np.testing.assert_allclose(loaded.score(np.arange(8)), blend.score(np.arange(8)), rtol=1e-5, atol=1e-6)


def test_tfidf_vectors_are_unit_rows_and_need_words():
    from townsquare.recommenders import tfidf_item_vectors

    vectors = tfidf_item_vectors(["chess openings", "chess endgames", "sourdough bread", "bread starter"])
    assert vectors.shape[0] == 4 and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    with pytest.raises(InputError, match="no words"):
        tfidf_item_vectors(["", "!"])


def test_ease_with_a_text_prior_reaches_items_nobody_engaged_with(world):
    interactions = world.interactions.tolil()
    interactions[:, 3] = 0  # item 3 (group 0) is brand new
    interactions = interactions.tocsr()
    plain = get_recommender("ease", l2=5.0).fit(interactions)
    texty = get_recommender("ease", l2=5.0, text_weight=20.0, min_count=0).fit(
        interactions, item_vectors=world.item_vectors
    )
    group0 = np.flatnonzero(world.user_group == 0)
    assert (plain.score(group0)[:, 3] == 0).all()
    scores = texty.score(group0)
    assert (scores[:, 3] > np.median(scores[:, world.item_group == 1], axis=1)).all()
    with pytest.raises(InputError, match="item_vectors"):
        get_recommender("ease", text_weight=1.0).fit(interactions)
