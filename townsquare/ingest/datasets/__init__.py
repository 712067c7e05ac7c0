"""Built-in readers for public datasets, by name.

``townsquare import dataset NAME PATH`` runs a ``social`` reader (records for the loader);
``townsquare import labelled NAME PATH --out FILE [--task T] [--split S]`` runs a ``labelled``
reader and writes its LabelledText with :func:`write_labelled_jsonl`.

Social readers: ``reader(path, on_error=None) -> Iterator[AnyRecord]``.
Labelled readers: ``reader(path, *, split=..., task=None, on_error=None) -> Iterator[LabelledText]``;
splits are train / val / test (valid, validation and dev are accepted for val).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from townsquare.errors import NotFoundError
from townsquare.ingest.datasets.constraint import read_constraint
from townsquare.ingest.datasets.dailydialog import (
    ReplyGroup,
    read_dailydialog_groups,
    read_dailydialog_plusplus,
)
from townsquare.ingest.datasets.lastfm import read_lastfm_hetrec2011
from townsquare.ingest.datasets.liar import read_liar
from townsquare.ingest.datasets.mind import read_mind
from townsquare.ingest.datasets.movielens import read_movielens_100k
from townsquare.ingest.datasets.tweeteval import read_tweeteval, tweeteval_tasks
from townsquare.ingest.jsonl import write_labelled_jsonl


@dataclass(frozen=True)
class DatasetInfo:
    """A built-in dataset: what its reader yields, where to get it, and its terms in a line."""

    name: str
    kind: Literal["social", "labelled"]
    reader: Callable[..., Iterator[Any]]
    description: str
    url: str
    license: str
    splits: tuple[str, ...] = ()
    default_split: str | None = None
    needs_task: bool = False


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "movielens-100k",
            "social",
            read_movielens_100k,
            "MovieLens 100K: 943 users, 1,682 movies (title + genres) as posts, 100,000 star ratings.",
            "https://grouplens.org/datasets/movielens/100k/",
            "GroupLens terms: research use, cite, no redistribution, no commercial use without permission.",
        ),
        DatasetInfo(
            "lastfm-hetrec2011",
            "social",
            read_lastfm_hetrec2011,
            "Last.fm HetRec 2011: 1,892 listeners, 17,632 artists (name + top tags), plays, friendships.",
            "https://grouplens.org/datasets/hetrec-2011/",
            "Non-commercial use (Last.fm); commercial use needs Last.fm's permission.",
        ),
        DatasetInfo(
            "mind",
            "social",
            read_mind,
            "MIND news: articles (title + abstract) as posts, readers, clicks and views from impressions.",
            "https://msnews.github.io/",
            "MIND terms: non-commercial research use only, provided as is.",
        ),
        DatasetInfo(
            "tweeteval",
            "labelled",
            read_tweeteval,
            "TweetEval: tweets labelled for offensive, hate, sentiment, emotion, irony and stance tasks.",
            "https://github.com/cardiffnlp/tweeteval",
            "No restrictions from TweetEval itself; each task's source dataset and Twitter's terms apply.",
            ("train", "val", "test"),
            "train",
            needs_task=True,
        ),
        DatasetInfo(
            "liar",
            "labelled",
            read_liar,
            "LIAR: 12.8K PolitiFact statements with six truth labels and speaker metadata.",
            "https://www.cs.ucsb.edu/~william/data/liar_dataset.zip",
            "Research use only; the original sources keep the copyright.",
            ("train", "val", "test"),
            "train",
        ),
        DatasetInfo(
            "constraint",
            "labelled",
            read_constraint,
            "CONSTRAINT@AAAI-2021: COVID-19 social media posts labelled real or fake.",
            "https://competitions.codalab.org/competitions/26655",
            "Shared-task data for research; no license stated.",
            ("train", "val", "test"),
            "train",
        ),
        DatasetInfo(
            "dailydialog-plusplus",
            "labelled",
            read_dailydialog_plusplus,
            "DailyDialog++: contexts with 5 good, 5 adversarial and 5 random replies (reply ranking).",
            "https://github.com/iitmnlp/DailyDialog-plusplus",
            "No dataset license stated; the DailyDialog contexts are CC BY-NC-SA 4.0.",
            ("train", "val", "test"),
            "val",
        ),
    )
}


def get_dataset(name: str, kind: str | None = None) -> DatasetInfo:
    """The dataset called ``name``, or NotFoundError listing the names that exist (of ``kind``, social or
    labelled, when given: what the command that asks can import)."""
    try:
        return DATASETS[name]
    except KeyError:
        names = [n for n, info in DATASETS.items() if kind is None or info.kind == kind]
        command = "import labelled" if kind == "labelled" else "import dataset"
        raise NotFoundError(
            f"No built-in dataset called {name!r}. Datasets: {', '.join(names)} "
            f"(see `townsquare {command} --help`)."
        ) from None


__all__ = [
    "DATASETS",
    "DatasetInfo",
    "ReplyGroup",
    "get_dataset",
    "read_constraint",
    "read_dailydialog_groups",
    "read_dailydialog_plusplus",
    "read_lastfm_hetrec2011",
    "read_liar",
    "read_mind",
    "read_movielens_100k",
    "read_tweeteval",
    "tweeteval_tasks",
    "write_labelled_jsonl",
]
