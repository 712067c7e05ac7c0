"""Run every built-in dataset reader over the real files and print counts and timings as JSON.

    python bench/read_datasets.py --data-dir ../shared/data [--only mind,liar]

Folders expected under --data-dir: movielens-100k, lastfm-hetrec2011-2k, mind-small-subset,
tweeteval, liar, constraint-covid19-fakenews, dailydialog-plusplus. A split that is not
present is reported as missing, not as a failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from townsquare.errors import NotFoundError
from townsquare.ingest.datasets import DATASETS, tweeteval_tasks
from townsquare.ingest.records import EPOCH

FOLDERS = {
    "movielens-100k": "movielens-100k",
    "lastfm-hetrec2011": "lastfm-hetrec2011-2k",
    "mind": "mind-small-subset",
    "tweeteval": "tweeteval",
    "liar": "liar",
    "constraint": "constraint-covid19-fakenews",
    "dailydialog-plusplus": "dailydialog-plusplus",
}


class _Notes(logging.Handler):
    """Keeps what the readers log (skipped blank tweets, dropped MIND interactions)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def social(name: str, folder: Path) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    timed = 0
    start = time.perf_counter()
    for record in DATASETS[name].reader(folder):
        key = {
            "user": "users",
            "post": "posts",
            "interaction": f"interactions.{getattr(record, 'kind', '')}",
        }.get(record.type, f"edges.{record.type}")
        counts[key] += 1
        timed += record.type == "interaction" and record.created_at != EPOCH
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), **dict(sorted(counts.items())), "interactions_with_a_time": timed}


def labelled(name: str, folder: Path) -> dict[str, Any]:
    info = DATASETS[name]
    tasks: list[str | None] = list(tweeteval_tasks(folder)) if info.needs_task else [None]
    result: dict[str, Any] = {}
    for task in tasks:
        for split in info.splits:
            key = f"{task}/{split}" if task else split
            start = time.perf_counter()
            try:
                labels = Counter(r.label for r in info.reader(folder, split=split, task=task))
            except NotFoundError:
                result[key] = "missing"
                continue
            result[key] = {
                "rows": sum(labels.values()),
                "seconds": round(time.perf_counter() - start, 3),
                "labels": dict(labels.most_common()),
            }
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding the dataset folders")
    parser.add_argument("--only", default="", help="comma-separated dataset names (default: all)")
    args = parser.parse_args(argv)
    notes = _Notes()
    logging.getLogger("townsquare").addHandler(notes)
    logging.getLogger("townsquare").setLevel(logging.INFO)
    names = [n for n in args.only.split(",") if n] or list(DATASETS)
    report: dict[str, Any] = {"python": platform.python_version(), "datasets": {}}
    for name in names:
        folder = args.data_dir / FOLDERS[name]
        start = time.perf_counter()
        body = social(name, folder) if DATASETS[name].kind == "social" else labelled(name, folder)
        report["datasets"][name] = {
            "kind": DATASETS[name].kind,
            "total_seconds": round(time.perf_counter() - start, 3),
            "counts": body,
        }
    report["notes"] = notes.messages
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
