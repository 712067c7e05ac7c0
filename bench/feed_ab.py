"""The feed page against an older commit's, in one process: a ratio this noisy machine can't blur.

    python bench/feed_ab.py --baseline cadefbd          # the corpus bench/feed.py built (1M posts)
    python bench/feed_ab.py --baseline HEAD~3 --blocks 4 --block-size 40
    python bench/feed_ab.py --baseline HEAD~3 --demo DIR --limit 20   # a data dir `townsquare demo` loaded

Separate runs of ``bench/feed.py`` moved by 30% within an hour on a shared machine, more than
most changes are worth. Here the baseline's ``townsquare`` package is extracted from git (as
``townsquare_baseline``, its imports renamed), both versions load the same corpus into their own
feed, and they serve the same users in alternating blocks (which goes first alternates too).
Prints one JSON object: per version the page-1 wall and request-thread CPU percentiles, the
stages' medians, and the ratios this code / baseline.

Two 1M-post indexes in one process are slower than one alone (memory), so compare the two
columns with each other, not with ``bench/feed.py``'s absolute numbers.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import importlib
import io
import json
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = "bench-lsa-384"
BASELINE = "townsquare_baseline"


def extract_baseline(revision: str, into: Path) -> str:
    """The ``townsquare`` package at ``revision`` as an importable ``townsquare_baseline``; returns the commit."""
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{revision}^{{commit}}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(["git", "archive", commit, "townsquare"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "townsquare").rename(into / BASELINE)
    pattern = re.compile(r"\btownsquare(?=[.\s])")
    for path in (into / BASELINE).rglob("*.py"):
        path.write_text(pattern.sub(BASELINE, path.read_text()))
    return commit


def load_feed(package: str, url: str, folder: Path):
    feed_module = importlib.import_module(f"{package}.feed")
    index_module = importlib.import_module(f"{package}.feed.index")
    store = importlib.import_module(f"{package}.storage").Store.open(url, migrate=False)
    index = index_module.FeedIndex.load(store, MODEL, ann=True)
    return feed_module.ForYouFeed(store, feed_module.FeedConfig(), model=MODEL, index=index,
                                  models_dir=folder / "collaborative")


def load_web_feed(package: str, url: str, folder: Path):
    """The feed exactly as the web app builds it (its embedder, moderation and collaborative models)."""
    os.environ.update(TOWNSQUARE_DATABASE_URL=url, TOWNSQUARE_DATA_DIR=str(folder))
    return importlib.import_module(f"{package}.web.app").factory().state.services.feed


def summary(wall: list[float], cpu: list[float], stages: dict[str, list[float]]) -> dict:
    def pct(values):
        return {f"p{q}": round(float(np.percentile(values, q)), 2) for q in (50, 90, 99)}

    return {"pages": len(wall), "wall_ms": pct(wall), "thread_cpu_ms": pct(cpu),
            "stages_p50_ms": {k: round(float(np.median(v)), 2) for k, v in stages.items() if "." not in k}}


def serve(feeds: dict, args: argparse.Namespace) -> dict[str, tuple[list, list, dict]]:
    """Page 1 for the same random users from each feed, in alternating blocks."""
    from sqlalchemy import text

    from townsquare.feed.service import settle_heap

    store = feeds["current"].store
    now = feeds["current"].index.latest_time() + 1.0
    rng = random.Random(args.seed)
    with store.read() as conn:
        handles = [h for (h,) in conn.execute(text(
            "SELECT handle FROM users WHERE id IN (SELECT DISTINCT user_id FROM interactions) ORDER BY id"))]
    for feed in feeds.values():  # warm up: the served ranker, the OS page cache, the first IVF probes
        for handle in rng.sample(handles, 20):
            feed.page(handle, limit=args.limit, now=now)
        feed.close()
    settle_heap()  # as the web app does once its feed is built
    records: dict[str, tuple[list, list, dict]] = {name: ([], [], {}) for name in feeds}
    for block in range(args.blocks):
        chosen = rng.sample(handles, args.block_size)
        for name in (("baseline", "current") if block % 2 == 0 else ("current", "baseline")):
            wall, cpu, stages = records[name]
            for handle in chosen:
                start, start_cpu = time.perf_counter(), time.thread_time()
                page = feeds[name].page(handle, limit=args.limit, now=now)
                wall.append((time.perf_counter() - start) * 1000)
                cpu.append((time.thread_time() - start_cpu) * 1000)
                for stage, ms in page.timings.items():
                    stages.setdefault(stage, []).append(ms)
            feeds[name].close()
    return records


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="A git revision of this repository.")
    parser.add_argument("--folder", type=Path, default=ROOT / ".bench" / "feed" / "100000-1000000-10000000",
                        help="A corpus folder bench/feed.py built (corpus.sqlite, collaborative/).")
    parser.add_argument("--demo", type=Path, default=None, metavar="DIR",
                        help="Instead: a data dir holding townsquare.sqlite with the demo loaded; "
                             "both feeds are built as the web app builds them.")
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--block-size", type=int, default=60)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def main() -> None:
    args = arguments()
    database = args.demo / "townsquare.sqlite" if args.demo else args.folder / "corpus.sqlite"
    if not database.exists():
        sys.exit(f"no {database}: run `python bench/feed.py --build-only` (or `townsquare demo`) first")
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 2:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
    url = f"sqlite:///{database}"
    report: dict = {"baseline": None, "corpus": str(database)}
    with tempfile.TemporaryDirectory() as tmp:  # kept until the end: the baseline imports lazily too
        report["baseline"] = extract_baseline(args.baseline, Path(tmp))
        sys.path.insert(0, tmp)
        feeds = {}
        for name, package in (("baseline", BASELINE), ("current", "townsquare")):
            start = time.perf_counter()
            feeds[name] = load_web_feed(package, url, args.demo) if args.demo else load_feed(package, url, args.folder)
            print(f"{name}: feed loaded in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        records = serve(feeds, args)
    for name, (wall, cpu, stages) in records.items():
        report[name] = summary(wall, cpu, stages)
    report["ratio_current_to_baseline"] = {
        "wall_p50": round(report["current"]["wall_ms"]["p50"] / report["baseline"]["wall_ms"]["p50"], 3),
        "thread_cpu_p50": round(report["current"]["thread_cpu_ms"]["p50"]
                                / report["baseline"]["thread_cpu_ms"]["p50"], 3)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
