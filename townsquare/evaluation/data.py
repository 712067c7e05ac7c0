"""From importer records to the matrices offline evaluation works on.

Any stream of records an importer yields (a dataset reader, JSONL, CSV) becomes one
``InteractionData``: users x items engagement values and times, each item's text and author,
and the follow graph between users. Negative signals (hide, not interested, report) and mere
views are left out; a rating keeps its value, every other positive kind counts 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from townsquare.errors import InputError
from townsquare.ingest.datasets import DATASETS, get_dataset
from townsquare.ingest.jsonl import read_jsonl
from townsquare.ingest.records import AnyRecord, InteractionKind

POSITIVE_KINDS = frozenset(
    {
        InteractionKind.click,
        InteractionKind.dwell,
        InteractionKind.like,
        InteractionKind.reply,
        InteractionKind.repost,
        InteractionKind.bookmark,
        InteractionKind.share,
        InteractionKind.rating,
    }
)


@dataclass
class InteractionData:
    """Users (rows) who engaged with items (columns); ids are the records' external ids."""

    users: list[str]
    items: list[str]
    values: sp.csr_matrix  # users x items, engagement strength (> 0)
    times: sp.csr_matrix  # same pattern: latest engagement, unix seconds (for time-aware protocols)
    item_texts: list[str]
    item_authors: np.ndarray  # author index per item, into ``authors``
    authors: list[str]
    social: sp.csr_matrix | None = None  # users x users, 1 where row follows column
    name: str = "records"

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def summary(self) -> dict[str, int | str]:
        return {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": int(self.values.nnz),
            "follows": int(self.social.nnz) if self.social is not None else 0,
            "authors": len(self.authors),
        }


def interaction_data(
    records: Iterable[AnyRecord], name: str = "records", kinds: frozenset[InteractionKind] = POSITIVE_KINDS
) -> InteractionData:
    """Read a record stream once into an ``InteractionData`` (only users with a positive interaction kept)."""
    texts: dict[str, str] = {}
    authors: dict[str, str] = {}
    follows: list[tuple[str, str]] = []
    engaged: dict[tuple[str, str], tuple[float, float]] = {}
    for record in records:
        if record.type == "post":
            if not record.deleted:
                texts[record.id], authors[record.id] = record.text, record.author
        elif record.type == "follow":
            follows.append((record.source, record.target))
        elif record.type == "interaction" and record.kind in kinds:
            value = float(record.value) if record.kind == InteractionKind.rating and record.value else 1.0
            key = (record.user, record.post)
            old = engaged.get(key, (0.0, 0.0))
            engaged[key] = (max(old[0], value), max(old[1], record.created_at.timestamp()))
    if not engaged:
        raise InputError(
            f"{name}: no positive interactions (kinds {', '.join(sorted(kinds))}) to evaluate on"
        )
    return _build(name, texts, authors, follows, engaged)


def _build(
    name: str,
    texts: dict[str, str],
    authors: dict[str, str],
    follows: list[tuple[str, str]],
    engaged: dict[tuple[str, str], tuple[float, float]],
) -> InteractionData:
    users = sorted({u for u, _ in engaged}, key=_natural)
    items = list(texts) + sorted({p for _, p in engaged if p not in texts}, key=_natural)
    user_row = {u: i for i, u in enumerate(users)}
    item_col = {p: i for i, p in enumerate(items)}
    rows = np.fromiter((user_row[u] for u, _ in engaged), np.int64, len(engaged))
    cols = np.fromiter((item_col[p] for _, p in engaged), np.int64, len(engaged))
    vals = np.array([v for v, _ in engaged.values()], dtype=np.float32)
    times = np.array([t for _, t in engaged.values()], dtype=np.float64)
    shape = (len(users), len(items))
    values = sp.csr_matrix((np.maximum(vals, 1e-6), (rows, cols)), shape=shape)
    values.sort_indices()
    when = sp.csr_matrix((times, (rows, cols)), shape=shape)
    when.sort_indices()
    author_names = sorted({authors.get(p, "") for p in items})
    author_index = {a: i for i, a in enumerate(author_names)}
    item_authors = np.array([author_index[authors.get(p, "")] for p in items], dtype=np.int64)
    edges = [(user_row[a], user_row[b]) for a, b in follows if a in user_row and b in user_row and a != b]
    social = None
    if edges:
        er, ec = np.array(edges).T
        social = sp.csr_matrix((np.ones(len(edges), np.float32), (er, ec)), shape=(len(users), len(users)))
        social.data[:] = 1.0
    return InteractionData(
        users,
        items,
        values,
        when,
        [texts.get(p, "") for p in items],
        item_authors,
        author_names,
        social,
        name,
    )


def _natural(value: str) -> tuple[int, str]:
    return (len(value), value)


def read_dataset(dataset: str, path: str) -> InteractionData:
    """A built-in dataset (a ``townsquare.ingest.datasets`` name) or a JSONL records file."""
    if dataset in ("jsonl", "records"):
        return interaction_data(read_jsonl(Path(path)), name=Path(path).name)
    info = get_dataset(dataset)
    if info.kind != "social":
        social = ", ".join(n for n, d in DATASETS.items() if d.kind == "social")
        raise InputError(
            f"{dataset} is a labelled-text dataset; recommendation needs one of: {social}, or jsonl"
        )
    return interaction_data(info.reader(path), name=dataset)
