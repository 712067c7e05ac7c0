"""Recommendation quality on the public datasets: the ``townsquare eval recommend`` run, summarised.

    python bench/recommend.py movielens [--data /work/shared/data/movielens-100k] [--seeds 3]
    python bench/recommend.py lastfm [--data /work/shared/data/lastfm-hetrec2011-2k] [--no-refit]

Writes the full result (JSON + HTML + PNG) to ``reports/`` and prints one JSON object: per model
the mean ± std over seeds of the headline metrics, cold-start recall, and the wall time. Last.fm
runs twice in one go: with and without the follow graph is inside each run (``townsquare`` vs
``townsquare_without_social``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from townsquare.evaluation.recommend import run_recommend_eval

DATASETS = {
    "movielens": ("movielens-100k", "/work/shared/data/movielens-100k", "msr"),
    "lastfm": ("lastfm-hetrec2011", "/work/shared/data/lastfm-hetrec2011-2k", "recbole"),
}
HEADLINE = ("ndcg", "recall", "precision", "map", "mrr", "hit", "coverage", "gini_items", "ild", "novelty")


def summary(result: dict, k: int) -> dict:
    out = {}
    for name, entry in result["models"].items():
        row = {
            f"{m}@{k}": f"{entry[f'{m}@{k}']:.4f} ± {entry['std'][f'{m}@{k}']:.4f}"
            for m in HEADLINE
            if f"{m}@{k}" in entry
        }
        cold = entry["cold_start"]
        row[f"cold_recall@{k}"] = f"{cold[f'recall@{k}']:.4f} ± {cold['std'][f'recall@{k}']:.4f}"
        row["seconds"] = entry["seconds"]
        out[name] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--data", type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--vectors", default="auto", help="auto, minilm, tfidf or minilm+tfidf")
    parser.add_argument("--no-refit", action="store_true", help="recbole: final models on train only")
    parser.add_argument("--out", type=Path, default=Path("reports"))
    args = parser.parse_args()
    name, default_path, protocol = DATASETS[args.dataset]
    embedder = None
    if args.vectors != "tfidf":
        from townsquare.models import get_embedder
        from townsquare.settings import Settings

        embedder = get_embedder(Settings())
    suffix = "-train-only" if args.no_refit else ""
    out = args.out / f"recommend-{name}-{protocol}{suffix}.json"
    started = time.perf_counter()
    result = run_recommend_eval(
        name,
        args.data or default_path,
        protocol,
        k=args.k,
        seeds=args.seeds,
        out=out,
        vectors=args.vectors,
        embedder=embedder,
        refit=not args.no_refit,
        progress=lambda m: print(f"[{time.perf_counter() - started:7.1f}s] {m}", file=sys.stderr, flush=True),
    )
    print(
        json.dumps(
            {
                "dataset": name,
                "protocol": protocol,
                "refit_on_valid": result["protocol"]["refit_on_valid"],
                "seeds": result["protocol"]["seeds"],
                "item_vectors": result["item_vectors"],
                "seconds": result["seconds"],
                "load_average": os.getloadavg(),
                "report": str(out),
                "models": summary(result, args.k),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
