"""A user's interest vectors: several slots, not one average, updated by every like or hide at once.

``InterestState`` is a fold over the user's interactions in id order (online k-means): a
liked post close to a slot moves that slot towards it, a post far from every slot opens a new
one (up to ``slots``), so a user who likes cooking and chess keeps both. Hides, "not
interested" and reports fold into negative slots the same way. Because the fold is
deterministic, every worker computes the same state from the log; ``InterestBook`` caches it
per process and checkpoints it in ``feed_user_state`` so a restart does not replay history.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import update

from townsquare.feed.index import AFFINITY, FeedIndex
from townsquare.feed.store_io import fetch_rows
from townsquare.feed.writer import BackgroundWriter
from townsquare.storage.feed_schema import feed_user_state

MAX_NEGATIVE = 2
DECAY = 0.98  # every new event fades the other slots a little, so interests can drift


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


@dataclass
class InterestState:
    dim: int
    vectors: np.ndarray = None  # (k, dim) positive slots
    weights: np.ndarray = None
    negative: np.ndarray = None
    negative_weights: np.ndarray = None
    signup: np.ndarray = None  # vectors of the topics / bio given at sign-up (cold start)
    signup_topics: list[str] = field(default_factory=list)
    consumed_id: int = 0

    def __post_init__(self) -> None:
        empty = np.zeros((0, self.dim), np.float32)
        for name in ("vectors", "negative", "signup"):
            if getattr(self, name) is None:
                setattr(self, name, empty.copy())
        for name in ("weights", "negative_weights"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(0, np.float32))

    def fold(self, vector: np.ndarray, weight: float, slots: int, merge: float) -> None:
        """One event: a positive weight updates the interest slots, a negative one the negative slots."""
        if weight > 0:
            self.vectors, self.weights = _fold(self.vectors, self.weights, vector, weight, slots, merge)
        elif weight < 0:
            self.negative, self.negative_weights = _fold(self.negative, self.negative_weights, vector, -weight,
                                                         MAX_NEGATIVE, merge)

    def to_bytes(self) -> bytes:
        """A JSON header line, then the float32 arrays back to back (cheaper to read than an npz)."""
        parts = (self.vectors, self.weights, self.negative, self.negative_weights, self.signup)
        header = {"dim": self.dim, "shapes": [list(p.shape) for p in parts], "signup_topics": self.signup_topics}
        return json.dumps(header).encode() + b"\n" + b"".join(np.ascontiguousarray(p, np.float32).tobytes()
                                                            for p in parts)

    @classmethod
    def from_bytes(cls, blob: bytes, consumed_id: int) -> InterestState:
        line, _, data = blob.partition(b"\n")
        header, arrays, at = json.loads(line), [], 0
        for shape in header["shapes"]:
            size = int(np.prod(shape)) if shape else 0
            arrays.append(np.frombuffer(data, np.float32, size, at * 4).reshape(shape).copy())
            at += size
        return cls(header["dim"], *arrays, signup_topics=header["signup_topics"], consumed_id=consumed_id)


def _fold(vectors: np.ndarray, weights: np.ndarray, vector: np.ndarray, weight: float, slots: int,
          merge: float) -> tuple[np.ndarray, np.ndarray]:
    weights = weights * DECAY
    if not len(vectors):
        return vector[None, :].astype(np.float32), np.array([weight], np.float32)
    sims = vectors @ vector
    j = int(np.argmax(sims))
    if sims[j] < merge and len(vectors) < slots:
        return np.vstack([vectors, vector]), np.append(weights, weight).astype(np.float32)
    if sims[j] < merge and weights.min() < weight * 0.5:  # a faded slot gives way to a new interest
        j = int(np.argmin(weights))
        vectors, weights = vectors.copy(), weights.copy()
        vectors[j], weights[j] = vector, weight
        return vectors, weights
    vectors = vectors.copy()
    vectors[j] = _unit(vectors[j] * weights[j] + vector * weight)
    weights[j] += weight
    return vectors, weights


class InterestBook:
    """Per-process cache of ``InterestState`` per user, caught up with the index on every read."""

    def __init__(self, store, index: FeedIndex, *, slots: int = 4, merge: float = 0.55, embedder=None,
                 capacity: int = 50_000, persist: bool = True, writer: BackgroundWriter | None = None) -> None:
        self.store, self.index, self.slots, self.merge = store, index, slots, merge
        self.embedder, self.capacity, self.persist = embedder, capacity, persist
        self.writer = writer or BackgroundWriter(enabled=False)
        self._cache: OrderedDict[int, InterestState] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user: dict) -> InterestState:
        """The user's state with every interaction the index knows folded in."""
        uid = int(user["id"])
        with self._lock:
            state = self._cache.pop(uid, None)
        loaded = state is None
        if state is None:
            state = (self._load(uid) if self.persist else None) or self._new(user)
        changed = self._catch_up(uid, state)
        if self.persist and (changed or loaded and state.consumed_id == 0 and len(state.signup)):
            self._save(uid, state)
        with self._lock:
            self._cache[uid] = state
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return state

    def forget(self, user_id: int) -> None:
        with self._lock:
            self._cache.pop(user_id, None)

    def _catch_up(self, uid: int, state: InterestState) -> bool:
        history = self.index.history(uid)
        new = history["id"] > state.consumed_id
        if not new.any():
            return False
        weights = AFFINITY[history["kind"][new]]
        posts = history["post"][new][weights != 0][-500:]
        weights = weights[weights != 0][-500:]
        has, vectors = self.index.vectors_of(posts)
        if len(vectors) and state.dim != vectors.shape[1]:
            state.__init__(dim=vectors.shape[1], signup=None)  # the text model changed: start over
        for vector, weight in zip(vectors, weights[has]):
            state.fold(_unit(vector), float(weight), self.slots, self.merge)
        state.consumed_id = int(history["id"][new].max())
        return True

    def _new(self, user: dict) -> InterestState:
        """A fresh state; sign-up topics and bio are embedded now if an embedder is at hand."""
        dim = self.index.dim or (self.embedder.dim if self.embedder is not None else 0)
        topics = [t for t in (user.get("interests") or []) if t.strip()][:10]
        texts = topics + ([user["bio"]] if (user.get("bio") or "").strip() else [])
        state = InterestState(dim=dim, signup_topics=texts)
        if texts and self.embedder is not None and (not self.index.dim or self.embedder.dim == self.index.dim):
            state.signup = np.asarray(self.embedder.embed(texts), np.float32)
        elif texts and self.index.model is not None:  # no embedder here: the profile vector `embed` stored
            profile = self.store.vectors.user_vectors(self.index.model, int(user["id"]))
            if len(profile) and profile.shape[1] == dim:
                state.signup, state.signup_topics = profile[:1], [", ".join(texts)]
        return state

    def _load(self, uid: int) -> InterestState | None:
        if not self.persist or self.index.model is None:
            return None
        with self.store.read() as conn:  # on a user's first request in this process: straight from the driver
            rows = fetch_rows(conn, "SELECT state, consumed_id FROM feed_user_state WHERE user_id = :user "
                                    "AND model = :model", {"user": uid, "model": self.index.model})
        if not rows:
            return None
        try:
            return InterestState.from_bytes(bytes(rows[0][0]), int(rows[0][1]))
        except (ValueError, KeyError, TypeError):  # an older or damaged checkpoint: the log rebuilds it
            return None

    def _save(self, uid: int, state: InterestState) -> None:
        """Checkpoint the state, after the response (``user_vectors`` keeps ``townsquare embed``'s profile vector)."""
        if self.index.model is None:
            return
        # every column given: the bulk insert path does not apply Python-side defaults
        values = {"state": state.to_bytes(), "consumed_id": state.consumed_id, "updated_at": datetime.now(UTC)}
        self.writer.submit(lambda: self._write(uid, values), f"the interest state of user {uid}")

    def _write(self, uid: int, values: dict) -> None:
        with self.store.begin() as conn:
            done = conn.execute(update(feed_user_state).where(
                feed_user_state.c.user_id == uid, feed_user_state.c.model == self.index.model,
                feed_user_state.c.consumed_id <= values["consumed_id"]).values(**values)).rowcount
            if not done:
                self.store.insert_ignore(conn, feed_user_state, [{"user_id": uid, "model": self.index.model,
                                                                  **values}])
