"""Live per-user state: interest slots, negative slots, checkpoints; steering phrases."""

from __future__ import annotations

import numpy as np
import pytest

from townsquare.errors import InputError
from townsquare.feed.state import InterestBook, InterestState
from townsquare.feed.steering import SteeringBook, parse_steering

from .conftest import NAMES, TopicEmbedder


def _topic(name: str) -> np.ndarray:
    v = np.zeros(8, np.float32)
    v[NAMES.index(name)] = 1.0
    return v


def test_fold_opens_a_slot_per_interest_and_merges_close_ones():
    state = InterestState(dim=8)
    for _ in range(3):
        state.fold(_topic("cooking"), 1.0, slots=4, merge=0.5)
        state.fold(_topic("chess"), 1.0, slots=4, merge=0.5)
    assert len(state.vectors) == 2
    assert sorted(np.argmax(state.vectors, axis=1).tolist()) == [NAMES.index("cooking"), NAMES.index("chess")]
    state.fold(_topic("politics"), -3.0, slots=4, merge=0.5)
    assert len(state.negative) == 1 and np.argmax(state.negative[0]) == NAMES.index("politics")


def test_fold_keeps_at_most_the_slot_count_and_lets_faded_interests_go():
    state = InterestState(dim=8)
    state.fold(_topic("music"), 0.1, slots=2, merge=0.9)
    for _ in range(200):  # a strong interest makes the old faint one fade
        state.fold(_topic("cooking"), 1.0, slots=2, merge=0.9)
    state.fold(_topic("chess"), 1.0, slots=2, merge=0.9)
    state.fold(_topic("football"), 1.0, slots=2, merge=0.9)
    assert len(state.vectors) == 2


def test_state_round_trips_through_bytes():
    state = InterestState(dim=8, signup_topics=["chess"])
    state.fold(_topic("chess"), 1.0, 4, 0.5)
    state.signup = _topic("chess")[None, :]
    back = InterestState.from_bytes(state.to_bytes(), 42)
    assert back.consumed_id == 42 and back.signup_topics == ["chess"]
    assert np.allclose(back.vectors, state.vectors) and np.allclose(back.signup, state.signup)


def test_book_catches_up_at_once_and_checkpoints(any_world):
    world = any_world  # the checkpoint is read straight from the driver: both backends
    world.user("ada")
    world.user("zed")
    chess = world.post("zed", "chess")
    politics = world.post("zed", "politics")
    world.act("ada", chess, "like")
    world.load()
    feed = world.feed()
    user = world.store.find_user("ada")
    assert len(feed.env.interests.get(user).vectors) == 1
    feed.record("ada", politics, "hide")  # live: no retraining, no reload
    state = feed.env.interests.get(user)
    assert len(state.negative) == 1 and np.argmax(state.negative[0]) == NAMES.index("politics")
    feed.close()  # checkpoints are written after the response
    fresh = InterestBook(world.store, feed.index)  # another process: reads the checkpoint
    again = fresh._load(user["id"])
    assert again is not None and again.consumed_id == state.consumed_id
    assert np.allclose(again.negative, state.negative)


@pytest.mark.parametrize("text, expected", [
    ("more cooking and chess, less politics", ["more cooking", "more chess", "less politics"]),
    ("Show me more recipes please", ["more recipes"]),
    ("no more crypto posts", ["less crypto"]),
    ("less about politics but more onions", ["less politics", "more onions"]),
    ("stop showing me U.S. politics", ["less U.S. politics"]),
    ("fewer football; more chess & go", ["less football", "more chess", "more go"]),
])
def test_parse_steering(text, expected):
    assert [f"{p.direction} {p.phrase}" for p in parse_steering(text)] == expected


@pytest.mark.parametrize("text", ["cooking", "more", "", "more & #", "less !!, ..."])
def test_parse_steering_says_what_to_write(text):
    with pytest.raises(InputError, match="more cooking and chess, less politics"):
        parse_steering(text)


def test_parse_steering_refuses_more_and_less_of_the_same_thing():
    with pytest.raises(InputError, match="asks for both more and less of 'chess'; say which"):
        parse_steering("more chess, less politics and Chess")


def test_steering_book_stores_lists_replaces_and_removes(world):
    world.user("ada")
    world.load()
    uid = world.store.find_user("ada")["id"]
    book = SteeringBook(world.store, TopicEmbedder())
    book.add(uid, "more cooking, less politics")
    phrases = book.add(uid, "less cooking")  # the same phrase again replaces the earlier one
    assert sorted(p.label() for p in phrases) == ["less 'cooking'", "less 'politics'"]
    assert np.argmax(phrases[0].vector) in (NAMES.index("cooking"), NAMES.index("politics"))
    from townsquare.storage.store import text_hash

    world.store.put_many("t", {text_hash(p): np.ones(4, np.float32) for p in ("politics", "cooking")})
    assert book.remove(uid, "politics") == 1
    assert [p.phrase for p in book.list(uid)] == ["cooking"]
    assert book.remove(uid) == 1 and book.list(uid) == []
    # a removed phrase's cached embedding goes with it: a user deleted later leaves none behind
    assert world.store.get_many("t", [text_hash("politics"), text_hash("cooking")]) == {}


def test_steering_needs_an_embedder(world):
    world.user("ada")
    world.load()
    with pytest.raises(InputError, match="embedder"):
        SteeringBook(world.store, None).add(world.store.find_user("ada")["id"], "more chess")
