"""For-you feed serving speed on the synthetic corpus (100k users / 1M posts / 10M interactions).

    python bench/feed.py                         # build the corpus once (cached in .bench/feed/), then measure
    python bench/feed.py --users 10000 --posts 100000 --interactions 1000000   # a smaller corpus
    python bench/feed.py --requests 500 --limit 50

Prints one JSON object. Every measured request is page 1 of a new feed session for a user drawn
at random: all sources, filters, features, ranking, selectors, the session write and the
explanations are computed at request time (nothing is precomputed per user). The first request
of a user in the process also folds their history into interest vectors ("cold" users); a
second request for the same users is measured separately ("warm"). Times are milliseconds,
in process, pinned to 2 CPU cores.

Post vectors are 384-dimension LSA vectors (TF-IDF, then truncated SVD fitted on a 50,000-post
sample, scikit-learn) instead of MiniLM: embedding 1M posts with MiniLM takes about 40 minutes on
2 cores. Like MiniLM's they are dense and cluster by topic, which is what the approximate
nearest-neighbour index's speed depends on (hashing-trick vectors do not cluster: the IVF index
then probes every cell).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threads only add hand-offs
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import machine_speed_ms  # this folder, first on sys.path when run as a script

from townsquare.demo import synthetic_records
from townsquare.feed import FeedConfig, ForYouFeed
from townsquare.feed.collaborative import CollaborativeModels
from townsquare.feed.index import FeedIndex
from townsquare.feed.service import settle_heap
from townsquare.feed.training import train_ranker
from townsquare.ingest.loader import Loader
from townsquare.storage import Store

MODEL = "bench-lsa-384"


def lsa_vectors(store: Store) -> float:
    """Store 384-dimension LSA vectors of every post under ``MODEL``; returns the seconds it took."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize
    from sqlalchemy import select

    from townsquare.storage.schema import posts as posts_table

    start = time.perf_counter()
    with store.read() as conn:
        ids, texts = map(list, zip(*conn.execute(select(posts_table.c.id, posts_table.c.text)
                                                  .order_by(posts_table.c.id)).all()))
    sample = [texts[i] for i in np.random.default_rng(0).choice(len(texts), min(50_000, len(texts)), replace=False)]
    tfidf = TfidfVectorizer(min_df=3, max_features=50_000, sublinear_tf=True).fit(sample)
    svd = TruncatedSVD(384, random_state=0).fit(tfidf.transform(sample))
    for lo in range(0, len(ids), 100_000):
        matrix = normalize(svd.transform(tfidf.transform(texts[lo:lo + 100_000]))).astype(np.float32)
        with store.begin() as conn:
            store.vectors.put_posts(conn, MODEL, ids[lo:lo + 100_000], matrix)
    return round(time.perf_counter() - start, 1)


def build(store: Store, users: int, posts: int, interactions: int) -> dict:
    start = time.perf_counter()
    Loader(store, batch_size=50_000).load(synthetic_records(users=users, posts=posts, interactions=interactions))
    return {"load_s": round(time.perf_counter() - start, 1)}


def percentiles(values: list[float]) -> dict:
    a = np.asarray(values)
    return {"p50": round(float(np.percentile(a, 50)), 2), "p90": round(float(np.percentile(a, 90)), 2),
            "p99": round(float(np.percentile(a, 99)), 2), "mean": round(float(a.mean()), 2)}


def measure(feed: ForYouFeed, handles: list[str], limit: int, now: float) -> dict:
    """Wall time per request and per stage; and the request thread's own CPU time (what contention hides)."""
    totals, cpu, stages, sizes = [], [], {}, []
    for handle in handles:
        start, start_cpu = time.perf_counter(), time.thread_time()
        page = feed.page(handle, limit=limit, now=now)
        totals.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
        sizes.append(len(page.items))
        for stage, ms in page.timings.items():
            stages.setdefault(stage, []).append(ms)
    return {"requests": len(totals), "items_per_page": statistics.mean(sizes), "total_ms": percentiles(totals),
            "request_thread_cpu_ms": percentiles(cpu), "stages_ms": {k: percentiles(v) for k, v in stages.items()}}


def next_pages(feed: ForYouFeed, handles: list[str], limit: int, now: float) -> dict:
    totals = []
    for handle in handles:
        cursor = feed.page(handle, limit=limit, now=now).cursor
        start = time.perf_counter()
        feed.page(handle, limit=limit, cursor=cursor, now=now)
        totals.append((time.perf_counter() - start) * 1000)
    return percentiles(totals)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--interactions", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--folder", type=Path, default=ROOT / ".bench" / "feed")
    parser.add_argument("--skip-training", action="store_true", help="Serve with the untrained prior.")
    parser.add_argument("--build-only", action="store_true", help="Build and cache the corpus, measure nothing.")
    return parser.parse_args()


def train(store: Store, index: FeedIndex, folder: Path, report: dict) -> None:
    """Fit the collaborative models and the ranker once per corpus (cached next to it)."""
    if CollaborativeModels.load_latest(folder / "collaborative") is None:
        start = time.perf_counter()
        CollaborativeModels.train(index).save(folder / "collaborative")
        report["collaborative_train_s"] = round(time.perf_counter() - start, 1)
    if not (folder / "ranker.done").exists():
        ranker = train_ranker(store, MODEL, max_users=3000)
        (folder / "ranker.done").write_text(json.dumps(ranker.__dict__, default=str))
        report["ranker_train_s"] = ranker.seconds
    report["ranker"] = json.loads((folder / "ranker.done").read_text())["heads"]


def main() -> None:
    args = arguments()
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 2:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
    folder = args.folder / f"{args.users}-{args.posts}-{args.interactions}"
    folder.mkdir(parents=True, exist_ok=True)
    store = Store.open(f"sqlite:///{folder / 'corpus.sqlite'}")
    report: dict = {"corpus": {"users": args.users, "posts": args.posts, "interactions": args.interactions},
                    "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                                "load_average_1m_at_start": round(os.getloadavg()[0], 2),
                                "python_loop_ms_at_start": machine_speed_ms()}}
    if not (folder / "corpus.done").exists():
        report["build"] = build(store, args.users, args.posts, args.interactions)
        (folder / "corpus.done").write_text(json.dumps(report["build"]))
    if not (folder / f"{MODEL}.done").exists():
        report["vectors_s"] = lsa_vectors(store)
        (folder / f"{MODEL}.done").write_text(json.dumps({"seconds": report["vectors_s"]}))
    report["counts"] = {k: v for k, v in store.counts().items() if "." not in k}
    if args.build_only:
        print(json.dumps(report, indent=2))
        return
    start = time.perf_counter()
    index = FeedIndex.load(store, MODEL, ann=True)
    report["index_load_s"] = round(time.perf_counter() - start, 1)
    if not args.skip_training:
        train(store, index, folder, report)
    feed = ForYouFeed(store, FeedConfig(), model=MODEL, index=index,
                      models_dir=None if args.skip_training else folder / "collaborative")
    settle_heap()  # as the web app does once its feed is built (townsquare/web/services.py)
    serve(feed, store, index, args, report)
    print(json.dumps(report, indent=2))


class GcPauses:
    """The garbage collector's pauses while measuring (a full collection over a big heap can take
    longer than a page): count and longest per generation."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._start = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses[info["generation"]].append((time.perf_counter() - self._start) * 1000)

    def summary(self, pages: int) -> dict:
        return {f"gen{g}": {"count": len(p), "max_ms": round(max(p), 2) if p else 0.0,
                            "ms_per_page": round(sum(p) / pages, 3)} for g, p in self.pauses.items()}


def serve(feed: ForYouFeed, store: Store, index: FeedIndex, args: argparse.Namespace, report: dict) -> None:
    """Page 1 for random users (cold, then warm), then page 2; per stage."""
    from sqlalchemy import text

    now = index.latest_time() + 1.0
    rng = random.Random(0)
    with store.read() as conn:
        handles = [h for (h,) in conn.execute(text(
            "SELECT handle FROM users WHERE id IN (SELECT DISTINCT user_id FROM interactions) ORDER BY id"))]
    start = time.perf_counter()
    for handle in rng.sample(handles, 20):  # warm up: the served ranker, the OS page cache, the first IVF probes
        feed.page(handle, limit=args.limit, now=now)
    feed.close()
    report["warm_up_s"] = round(time.perf_counter() - start, 1)
    chosen = rng.sample(handles, args.requests)
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    jobs, busy = feed.writer.jobs, feed.writer.busy_s
    report["page1_cold_users"] = measure(feed, chosen, args.limit, now)
    feed.close()
    report["background_write_ms_per_page1"] = round((feed.writer.busy_s - busy) * 1000 / args.requests, 2)
    report["background_writes_per_page1"] = round((feed.writer.jobs - jobs) / args.requests, 2)
    report["page1_warm_users"] = measure(feed, chosen, args.limit, now)
    scrolled = chosen[:100]
    report["page2_ms"] = next_pages(feed, scrolled, args.limit, now)
    feed.close()
    gc.callbacks.remove(pauses)
    report["gc_pauses_while_measuring"] = pauses.summary(2 * len(chosen) + 2 * len(scrolled))
    report["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    report["machine"]["python_loop_ms_at_end"] = machine_speed_ms()
    report["ranker_version"] = feed.env.rankers.current()[0]
    report["collaborative"] = index.collaborative.version if index.collaborative else None


if __name__ == "__main__":
    main()
