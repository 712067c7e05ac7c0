"""Vector search benchmark: exact numpy scan, FAISS IVF (shipped) and hnswlib HNSW (measured,
not shipped) on synthetic vectors shaped like sentence embeddings. Prints one JSON object.

    python bench/vectors.py                      # 1M x 384, the numbers in the docs (~10-15 min)
    python bench/vectors.py --n 50000 --dim 64   # a quick run

Recall@100 is measured against the exact scan. hnswlib's ef is tuned on half of the queries and
reported on the other half; IVF tunes its nprobe itself on stored vectors (see IvfIndex), and is
reported on that same other half. Latencies are one query at a time, as the feed asks them.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import psutil
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from townsquare.storage.vector_index import ExactIndex, IvfIndex

K = 100
# ef_construction 64, not 100: 100 took 31 min for 1M on this busy 2-core machine (pilot run,
# recall@100 0.964 at ef 200); 64 keeps the whole run near 15 minutes, at a higher search ef.
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64
HNSW_EF_STEPS = (100, 150, 200, 300, 400, 600, 800)
EXCLUDED = 1000  # ids excluded per query in the "exclude" measurement (seen posts)


def make_embeddings(n: int, dim: int, *, seed: int, topics: int = 3000, latent: int = 64,
                    chunk: int = 100_000) -> np.ndarray:
    """n unit vectors that look like sentence embeddings rather than uniform noise.

    Sentence embeddings are clustered by topic, most of their variance lies in a few dozen
    directions, topics differ in popularity and breadth, and all vectors share an offset (so
    unrelated texts still have a small positive cosine). So: `topics` centres in a random
    `latent`-dimensional subspace with Zipf-like popularity (weight ~ 1/rank^0.8); a point is its
    centre plus Gaussian spread of per-topic breadth (0.45-0.75) in that subspace, plus
    isotropic noise (0.2) in all `dim` dimensions, plus the shared offset; then L2-normalised.
    The mixture is fixed; `seed` draws the points, so queries (another seed) are new points
    from the same distribution, not copies of stored ones. Uniform random vectors would be
    pathological for any ANN index and unlike real data.
    """
    mixture = np.random.default_rng(12345)
    basis = np.linalg.qr(mixture.standard_normal((dim, latent)))[0].T.astype(np.float32)
    centres = mixture.standard_normal((topics, latent)).astype(np.float32)
    breadth = mixture.uniform(0.45, 0.75, topics).astype(np.float32)[:, None]
    offset = (mixture.standard_normal(dim) * 3 / np.sqrt(dim)).astype(np.float32)
    weights = 1.0 / np.arange(1, topics + 1) ** 0.8
    rng, out = np.random.default_rng(seed), np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        topic = rng.choice(topics, size=m, p=weights / weights.sum())
        z = centres[topic] + breadth[topic] * rng.standard_normal((m, latent), dtype=np.float32)
        x = z @ basis + 0.2 * rng.standard_normal((m, dim), dtype=np.float32) + offset
        out[start:start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def recall(truth: np.ndarray, found: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(t, f)) / len(t) for t, f in zip(truth, found)]))


def timed(search, queries: np.ndarray) -> tuple[np.ndarray, dict]:
    """Run search(q) for each query alone; ids found and latency percentiles in ms."""
    found, seconds, cpu_seconds = [], [], []
    for query in queries:
        start, cpu_start = time.perf_counter(), time.thread_time()
        found.append(search(query))
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.thread_time() - cpu_start)
    ms = np.array(seconds) * 1e3
    return np.array(found), {"p50_ms": round(float(np.percentile(ms, 50)), 3),
                             "p99_ms": round(float(np.percentile(ms, 99)), 3),
                             "median_s": float(np.median(seconds)),
                             "median_cpu_s": float(np.median(cpu_seconds))}


def top_ids(index, **options):
    """search(q) -> the ids of the top K, for timed()."""
    return lambda query: index.search(query, K, **options)[0]


def latency(stats: dict) -> dict:
    return {key: value for key, value in stats.items() if key.endswith("_ms")}


def rss_gib() -> float:
    return psutil.Process().memory_info().rss / 2**30


def environment() -> dict:
    blas = [{k: lib.get(k) for k in ("internal_api", "architecture", "num_threads", "version")}
            for lib in threadpool_info() if lib["user_api"] == "blas"]
    return {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(),
            "python": platform.python_version(), "numpy": np.__version__,
            "blas": blas, "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}


def bench_exact(data: np.ndarray, queries: np.ndarray, rounds: int) -> tuple[dict, np.ndarray]:
    index, start = ExactIndex(data.shape[1], capacity=len(data)), time.perf_counter()
    index.add(np.arange(len(data)), data)
    build = time.perf_counter() - start
    start = time.perf_counter()
    truth, scores = index.search(queries, K)
    batch = time.perf_counter() - start
    _, single = timed(top_ids(index), queries[:rounds])
    with threadpool_limits(1, user_api="blas"):  # as when BLAS is kept to one thread
        _, one_thread = timed(top_ids(index), queries[:rounds])
    result = {"build_s": round(build, 2), "memory_gib": round(index._matrix.nbytes / 2**30, 3),
              "vectors_per_s_single_query_median": round(len(data) / single["median_s"]),
              "vectors_per_s_single_query_one_blas_thread": round(len(data) / one_thread["median_s"]),
              # CPU time of the calling thread, which does all the work with one BLAS thread:
              # what one core does when it is not shared (wall time above includes waiting)
              "vectors_per_cpu_s_single_query_one_blas_thread":
                  round(len(data) / one_thread["median_cpu_s"]),
              "vectors_per_s_batch": round(len(data) * len(queries) / batch), **latency(single),
              "data_cosine_top1_median": round(float(np.median(scores[:, 0])), 3),
              "data_cosine_top100_median": round(float(np.median(scores[:, -1])), 3)}
    return result, truth


def bench_ivf(data: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict:
    rss, start = rss_gib(), time.perf_counter()
    index = IvfIndex(data.shape[1])
    index.add(np.arange(len(data)), data)
    build = time.perf_counter() - start
    found, stats = timed(top_ids(index), queries)
    excluded = truth[:, :EXCLUDED // len(queries)].ravel()[:EXCLUDED]  # incl. true neighbours
    _, excl = timed(top_ids(index, exclude=excluded), queries)
    lists = index._index.invlists
    stored = sum(lists.list_size(c) for c in range(index._index.nlist)) * (lists.code_size + 8)
    new = make_embeddings(500, data.shape[1], seed=99)
    start = time.perf_counter()
    for i, vector in enumerate(new):
        index.add([len(data) + i], vector[None])
    inserts = len(new) / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(500):
        index.remove([i])
    removes = 500 / (time.perf_counter() - start)
    return {"library": "faiss-cpu IndexIVFFlat (shipped as IvfIndex)", "build_s": round(build, 1),
            "memory_rss_delta_gib": round(rss_gib() - rss, 2),
            "index_bytes_gib": round(stored / 2**30, 3), "nlist": index._index.nlist,
            "nprobe_calibrated": index.nprobe, "recall_at_100": round(recall(truth, found), 4),
            **latency(stats), f"exclude_{EXCLUDED}_ids": latency(excl),
            "single_inserts_per_s": round(inserts), "single_removes_per_s": round(removes)}


def bench_hnswlib(data: np.ndarray, queries: np.ndarray, truth: np.ndarray, threads: int) -> dict:
    import hnswlib  # measured only; not a townsquare dependency

    rss, start = rss_gib(), time.perf_counter()
    index = hnswlib.Index(space="ip", dim=data.shape[1])
    index.init_index(len(data) + 1000, M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION,
                     allow_replace_deleted=True)
    index.add_items(data, np.arange(len(data)), num_threads=threads)
    build = time.perf_counter() - start
    tune, test = slice(0, len(queries) // 2), slice(len(queries) // 2, None)
    sweep, chosen = [], None
    for ef in HNSW_EF_STEPS:
        index.set_ef(ef)
        found, stats = timed(lambda q: index.knn_query(q, k=K, num_threads=1)[0][0], queries[tune])
        sweep.append({"ef": ef, "recall_at_100_tuning": round(recall(truth[tune], found), 4),
                      **latency(stats)})
        if recall(truth[tune], found) >= 0.95:
            chosen = ef
            break
    index.set_ef(chosen or HNSW_EF_STEPS[-1])
    found, stats = timed(lambda q: index.knn_query(q, k=K, num_threads=1)[0][0], queries[test])
    # hnswlib has no exclusion list: ask for k + |exclude| and drop them (ef must be >= that)
    index.set_ef(max(chosen or 0, K + EXCLUDED))
    _, excl = timed(lambda q: index.knn_query(q, k=K + EXCLUDED, num_threads=1)[0][0], queries[test])
    new = make_embeddings(500, data.shape[1], seed=99)
    start = time.perf_counter()
    for i, vector in enumerate(new):
        index.add_items(vector[None], [len(data) + i], num_threads=1, replace_deleted=True)
    inserts = len(new) / (time.perf_counter() - start)
    return {"library": "hnswlib (not shipped)", "M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION,
            "build_threads": threads, "build_s": round(build, 1),
            "memory_rss_delta_gib": round(rss_gib() - rss, 2),
            "index_bytes_gib": round(index.index_file_size() / 2**30, 3), "ef_sweep": sweep,
            "ef_chosen": chosen, "recall_at_100": round(recall(truth[test], found), 4),
            **latency(stats), f"exclude_{EXCLUDED}_ids_as_k_plus_{EXCLUDED}": latency(excl),
            "single_inserts_per_s": round(inserts)}


def bench_crossover(data: np.ndarray, queries: np.ndarray, sizes: list[int]) -> list[dict]:
    """Exact vs IVF latency and IVF recall on the first `size` vectors."""
    rows = []
    for size in [s for s in sizes if s <= len(data)]:
        exact, ivf = ExactIndex(data.shape[1]), IvfIndex(data.shape[1])
        exact.add(np.arange(size), data[:size])
        start = time.perf_counter()
        ivf.add(np.arange(size), data[:size])
        build = time.perf_counter() - start
        truth, exact_stats = timed(top_ids(exact), queries)
        with threadpool_limits(1, user_api="blas"):
            _, exact_one_thread = timed(top_ids(exact), queries)
        found, ivf_stats = timed(top_ids(ivf), queries)
        rows.append({"n": size, "exact_p50_ms": exact_stats["p50_ms"],
                     "exact_one_blas_thread_p50_ms": exact_one_thread["p50_ms"],
                     "ivf_p50_ms": ivf_stats["p50_ms"], "ivf_p99_ms": ivf_stats["p99_ms"],
                     "ivf_recall_at_100": round(recall(truth, found), 4),
                     "ivf_build_s": round(build, 2), "ivf_nprobe": ivf.nprobe,
                     "ivf_nlist": ivf._index.nlist})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="stored vectors")
    parser.add_argument("--dim", type=int, default=384, help="dimensions")
    parser.add_argument("--queries", type=int, default=200, help="queries (new points)")
    parser.add_argument("--exact-rounds", type=int, default=50, help="single exact scans to time")
    parser.add_argument("--threads", type=int, default=2, help="threads for the hnswlib build")
    parser.add_argument("--sections", default="exact,ivf,hnswlib,crossover",
                        help="what to measure, comma-separated (hnswlib is the slow one)")
    parser.add_argument("--crossover-sizes", default="10000,30000,100000,300000",
                        help="corpus sizes for the exact-vs-IVF crossover, comma-separated")
    args = parser.parse_args()
    report, started = {"environment": environment()}, time.perf_counter()
    start = time.perf_counter()
    data = make_embeddings(args.n, args.dim, seed=1)
    queries = make_embeddings(args.queries, args.dim, seed=2)
    report["data"] = {"n": args.n, "dim": args.dim, "queries": args.queries, "k": K,
                      "generate_s": round(time.perf_counter() - start, 1)}
    sections = set(args.sections.split(","))
    if sections & {"exact", "ivf", "hnswlib"}:
        report["exact"], truth = bench_exact(data, queries, args.exact_rounds)
        gc.collect()
    if "ivf" in sections:
        report["ivf"] = bench_ivf(data, queries[args.queries // 2:], truth[args.queries // 2:])
        gc.collect()
    if "hnswlib" in sections and importlib.util.find_spec("hnswlib") is None:
        report["hnswlib"] = "not installed (pip install hnswlib to compare)"
    elif "hnswlib" in sections:
        report["hnswlib"] = bench_hnswlib(data, queries, truth, args.threads)
        gc.collect()
    if "crossover" in sections:
        sizes = [int(s) for s in args.crossover_sizes.split(",") if s]
        report["crossover"] = bench_crossover(data, queries[:50], sizes)
    report["environment"]["load_average_at_end"] = os.getloadavg()
    report["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
