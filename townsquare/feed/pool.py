"""``RankedPool``: a feed session's ranked candidates as columns; a ``Candidate`` is made only
when a page asks for it.

Page 1 ranks some 300 posts on the demo, and its selectors look at the first hundred. Making an
object per post with its reasons, packing them back into columns for the session row (which the
other workers read), and freeing them when the session left memory took about a fifth of a demo
request's time (py-spy on a loaded server, session 12). So the columnar pipeline builds the pool
from the ranking's arrays and the sources' proposals, keeps it as the columns it is stored as,
and makes new candidate objects for the places a page asks for (``make_many``).

The stored form is ``pack``'s: a small JSON header (now, ranker version, the strings numbered
once, the adjustments) then flat numpy columns, the ranker's output re-indexed in pool order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import cached_property
from itertools import chain
from operator import attrgetter
from typing import overload

import numpy as np

from townsquare.errors import StaleCursorError
from townsquare.feed.candidates import Adjustment, Candidate, Gathered, RankerOutput, new_reason
from townsquare.feed.index import spans
from townsquare.feed.ranker import HEADS

MAGIC = b"TSP2"
TOP = 3  # feature contributions kept per candidate


class _Strings(dict):
    """Strings numbered in the order first seen."""

    def numbered(self, values) -> np.ndarray:
        for value in dict.fromkeys(values):  # each distinct string once; the mapping below runs in C
            self.setdefault(value, len(self))
        return np.fromiter(map(self.__getitem__, values), np.int32, len(values))


class RankedPool(Sequence[Candidate]):
    """The pool, best first: per candidate its post, author, score, in-network flag, row in the
    ranking run's ``RankerOutput`` and number of reasons; per reason its source, score, people,
    posts and detail (strings as numbers into ``strings``); adjustments by position."""

    def __init__(self, columns: dict[str, np.ndarray], strings: list[str],
                 adjusted: dict[int, list[Adjustment]] | None = None) -> None:
        self.columns, self.strings, self.adjusted = columns, strings, adjusted or {}

    # -- building --------------------------------------------------------------------------
    @classmethod
    def of(cls, pool: Sequence[Candidate]) -> RankedPool:
        """``pool`` itself if it is one, else the columns of its candidates."""
        return pool if isinstance(pool, RankedPool) else cls.from_candidates(list(pool))

    @classmethod
    def from_candidates(cls, pool: list[Candidate]) -> RankedPool:
        """The columns of candidate objects (the object pipeline's pool, or a test's), by C-level
        iteration (``attrgetter``, ``zip(*...)``), never a Python loop per candidate."""
        strings = _Strings()
        n = len(pool)
        reasons = list(chain.from_iterable(map(attrgetter("reasons"), pool)))
        sources, scores, people, posts, details = zip(*reasons) if reasons else ((),) * 5
        columns = {
            "post": np.fromiter(map(attrgetter("post_id"), pool), np.int64, n),
            "author": np.fromiter(map(attrgetter("author_id"), pool), np.int64, n),
            "score": np.fromiter(map(attrgetter("score"), pool), np.float64, n),
            "inside": np.fromiter(map(attrgetter("in_network"), pool), np.bool_, n),
            "row": np.fromiter(map(attrgetter("row"), pool), np.int64, n),
            "n_reasons": np.fromiter(map(len, map(attrgetter("reasons"), pool)), np.int32, n),
            "r_source": strings.numbered(sources),
            "r_score": np.array(scores, np.float64),
            "r_detail": strings.numbered(details),
            "r_people": np.fromiter(map(len, people), np.int32, len(reasons)),
            "r_posts": np.fromiter(map(len, posts), np.int32, len(reasons)),
            "people": np.fromiter(chain.from_iterable(people), np.int64),
            "posts": np.fromiter(chain.from_iterable(posts), np.int64),
        }
        adjusted = {i: list(c.adjustments) for i, c in enumerate(pool) if c.adjustments}
        return cls(columns, list(strings), adjusted)

    @classmethod
    def from_ranking(cls, gathered: Gathered, rows: np.ndarray, scores: np.ndarray, inside: np.ndarray,
                     ranker_rows: np.ndarray, adjusted: dict[int, list[Adjustment]]) -> RankedPool:
        """The pool of ``gathered``'s ``rows`` (best first) with their scores, flags, rows in the
        ranker's output and adjustments (by position in the pool), reasons read from the proposals
        (every part a ``Proposals``: when a source gave candidate objects the pipeline keeps to objects)."""
        strings = _Strings()
        parts, proposal_part, proposal_row, counts = gathered.proposals_of(rows)
        n_props = len(proposal_part)
        r_source = np.zeros(n_props, np.int32)
        r_score = np.zeros(n_props, np.float64)
        r_detail = np.zeros(n_props, np.int32)
        r_people = np.zeros(n_props, np.int32)
        r_posts = np.zeros(n_props, np.int32)
        people_parts: list[tuple[np.ndarray, list]] = []
        posts_parts: list[tuple[np.ndarray, list]] = []
        empty = strings.numbered([""])[0]
        for k, part in enumerate(parts):
            at = np.flatnonzero(proposal_part == k)
            if not len(at):
                continue
            picked = proposal_row[at]
            r_source[at] = strings.numbered([part.source])[0]
            r_score[at] = part.scores[picked]
            which = picked.tolist()
            r_detail[at] = empty if part.detail is None else strings.numbered(list(map(part.detail.__getitem__, which)))
            for column, counts_of, flat in ((part.people, r_people, people_parts), (part.posts, r_posts, posts_parts)):
                if column is not None:
                    values = list(map(column.__getitem__, which))
                    counts_of[at] = np.fromiter(map(len, values), np.int32, len(values))
                    flat.append((at, values))
        columns = {
            "post": gathered.post_ids[rows], "author": gathered.authors[rows],
            "score": np.asarray(scores, np.float64), "inside": np.asarray(inside, np.bool_),
            "row": np.asarray(ranker_rows, np.int64), "n_reasons": counts.astype(np.int32),
            "r_source": r_source, "r_score": r_score, "r_detail": r_detail, "r_people": r_people, "r_posts": r_posts,
            "people": _flat_in_order(people_parts, r_people), "posts": _flat_in_order(posts_parts, r_posts),
        }
        return cls(columns, list(strings), adjusted)

    # -- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.columns["post"])

    @overload
    def __getitem__(self, i: int) -> Candidate: ...

    @overload
    def __getitem__(self, i: slice) -> list[Candidate]: ...

    def __getitem__(self, i):
        """New candidate objects (a change to one never reaches the pool)."""
        if isinstance(i, slice):
            return self.make_many(list(range(*i.indices(len(self)))))
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.make(i)

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self.make_many(list(range(len(self)))))

    @cached_property
    def post_ids(self) -> list[int]:
        return self.columns["post"].tolist()

    @cached_property
    def position(self) -> dict[int, int]:
        """Post id -> its place in the pool."""
        return {post: i for i, post in enumerate(self.post_ids)}

    @cached_property
    def _starts(self) -> dict[str, np.ndarray]:
        """Where each candidate's reasons, and each reason's people and posts, start (one past the
        last at the end)."""
        c = self.columns
        return {name: np.concatenate([[0], np.cumsum(c[count], dtype=np.int64)])
                for name, count in (("reason", "n_reasons"), ("people", "r_people"), ("posts", "r_posts"))}

    @cached_property
    def _flat(self) -> tuple[list[int], list[int]]:
        return self.columns["people"].tolist(), self.columns["posts"].tolist()

    def make(self, i: int) -> Candidate:
        """A new candidate object for place ``i``."""
        return self.make_many([i])[0]

    def make_many(self, places: list[int]) -> list[Candidate]:
        """New candidate objects for ``places``: each column read for all of them at once, the
        objects built by C-level iteration (``map``), no Python loop per candidate or reason."""
        c, at, strings = self.columns, self._starts, self.strings
        places = np.asarray(places, np.int64)
        counts = c["n_reasons"][places].astype(np.int64)
        ends = np.cumsum(counts)
        rs = spans(at["reason"][places], counts)  # their reasons, candidate after candidate
        people, posts = self._flat

        def runs(flat: list[int], starts: np.ndarray):
            return map(tuple, map(flat.__getitem__, map(slice, starts[rs].tolist(), starts[rs + 1].tolist())))

        reasons = list(map(new_reason, zip(map(strings.__getitem__, c["r_source"][rs].tolist()),
                                            c["r_score"][rs].tolist(), runs(people, at["people"]),
                                            runs(posts, at["posts"]),
                                            map(strings.__getitem__, c["r_detail"][rs].tolist()))))
        per_place = map(reasons.__getitem__, map(slice, (ends - counts).tolist(), ends.tolist()))
        return list(map(Candidate, c["post"][places].tolist(), c["author"][places].tolist(), per_place,
                        c["inside"][places].tolist(), c["score"][places].tolist(),
                        map(self.adjusted.get, places.tolist()), c["row"][places].tolist()))

    # -- storing ---------------------------------------------------------------------------
    def pack(self, output: RankerOutput | None, now: float, ranker: int | None) -> bytes:
        """The stored form: header, then the columns and the ranker's output for the pool's rows."""
        c, n = self.columns, len(self)
        rows = c["row"]
        heads = np.zeros((n, len(HEADS)), np.float32)
        contrib_idx, contrib_val = np.full((n, TOP), -1, np.int16), np.zeros((n, TOP), np.float32)
        if output is not None and n:
            known = rows >= 0
            k = min(TOP, output.top.shape[1])
            picked = output.probabilities[rows[known]]
            for j, head in enumerate(HEADS):
                if head in output.heads:
                    heads[known, j] = picked[:, output.heads.index(head)]
            contrib_idx[known, :k], contrib_val[known, :k] = output.top[rows[known], :k], \
                output.contributions[rows[known], :k]
        strings = _Strings(zip(self.strings, range(len(self.strings))))
        adjusted = [[i, [[strings.setdefault(a.stage, len(strings)), a.factor, strings.setdefault(a.detail, len(strings))]
                         for a in items]] for i, items in sorted(self.adjusted.items())]
        arrays = {name: c[name] for name in ("post", "author", "score", "inside")}
        arrays |= {"heads": heads, "contrib_idx": contrib_idx, "contrib_val": contrib_val}
        arrays |= {name: c[name] for name in ("n_reasons", "r_source", "r_score", "r_detail", "r_people", "r_posts",
                                              "people", "posts")}
        header = json.dumps({"now": now, "ranker": ranker, "strings": list(strings), "adjusted": adjusted,
                             "arrays": [[k, v.dtype.str, v.shape] for k, v in arrays.items()]},
                            separators=(",", ":")).encode()
        return b"".join([MAGIC, len(header).to_bytes(4, "little"), header, *(v.tobytes() for v in arrays.values())])

    @classmethod
    def unpack(cls, blob: bytes) -> tuple[RankedPool, RankerOutput, float, int | None]:
        """``pack`` undone: the pool (each candidate's ``row`` is its place in it), the ranker's
        output, now, ranker."""
        if blob[:4] != MAGIC:
            raise StaleCursorError("this feed cursor was made by an older version of townsquare; ask for the feed "
                                   "again without a cursor")
        size = int.from_bytes(blob[4:8], "little")
        header = json.loads(blob[8:8 + size])
        arrays, at = {}, 8 + size
        for name, dtype, shape in header["arrays"]:
            count = int(np.prod(shape))
            arrays[name] = np.frombuffer(blob, dtype, count, at).reshape(shape)
            at += count * np.dtype(dtype).itemsize
        strings = header["strings"]
        adjusted = {i: [Adjustment(strings[stage], factor, strings[detail]) for stage, factor, detail in items]
                    for i, items in header["adjusted"]}
        output = RankerOutput(HEADS, arrays.pop("heads"), arrays.pop("contrib_idx").astype(np.int64),
                              arrays.pop("contrib_val"))
        arrays["row"] = np.arange(len(arrays["post"]))
        return cls(arrays, strings, adjusted), output, header["now"], header["ranker"]


def _flat_in_order(parts: list[tuple[np.ndarray, list]], counts: np.ndarray) -> np.ndarray:
    """Every reason's people (or posts) laid end to end in reason order, from each source's share:
    (the reasons it gave, as positions, and their values)."""
    flat = np.zeros(int(counts.sum()), np.int64)
    starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
    for at, values in parts:
        into = spans(starts[at], counts[at])
        flat[into] = np.fromiter(chain.from_iterable(values), np.int64, len(into))
    return flat
