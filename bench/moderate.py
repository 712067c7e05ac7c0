"""Moderation throughput: every classifier together, one encoder pass per post, on real tweets.

    python bench/moderate.py --data /work/shared/data/tweeteval [--n 2000] [--repeats 3] [--threads 2]

Prints one JSON object: posts/s for the whole ``SafetyScorer`` (all classifiers, the policy
decision included) and the share of time each part takes (encoder, n-grams, lexicon, heads,
rules). ``encoder_vs_fp32`` is the shipped (int8) encoder's speed over the same adapter served
in fp32, timed in alternating rounds in this process: a ratio this noisy machine can't fake.
The best of ``--repeats`` runs is kept, so that load from other processes counts less; the CPU
seconds of the whole run are reported too (two cores give at most twice ``posts_per_cpu_s``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from townsquare.safety.encoder import ModerationEncoder
from townsquare.safety.features import TextBatch, lexicon_features, ngram_features
from townsquare.safety.policy import load_policy
from townsquare.safety.registry import SafetyScorer


def load_tweets(folder: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct real tweets from every ``*_text.txt`` under ``folder``, shuffled."""
    files = sorted(folder.rglob("*_text.txt"))
    texts = sorted({line.strip() for f in files for line in f.read_text(encoding="utf-8").splitlines() if line.strip()})
    if len(texts) < n:
        raise SystemExit(f"only {len(texts)} texts under {folder}, asked for {n}")
    random.Random(seed).shuffle(texts)
    return texts[:n]


def best_of(repeats: int, run, cpu: list[float] | None = None) -> float:
    """Best wall time of ``repeats`` runs; ``cpu`` collects the process CPU seconds of each."""
    times = []
    for _ in range(repeats):
        before, start = time.process_time(), time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
        if cpu is not None:
            cpu.append(time.process_time() - before)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="TweetEval folder (any folder of *_text.txt).")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    texts = load_tweets(args.data, args.n)
    scorer = SafetyScorer.load(threads=args.threads)
    policy = load_policy(None, scorer.curves())
    scorer.score(texts[:64])  # build the encoder graph and warm up

    def everything() -> None:
        for start in range(0, len(texts), args.batch):
            for result in scorer.score(texts[start:start + args.batch]):
                policy.decide(result.scores, result.spans)

    def encoder_only(encoder=scorer.encoder) -> None:
        for start in range(0, len(texts), args.batch):
            encoder.embed(texts[start:start + args.batch])

    vectors = scorer.encoder.embed(texts)
    ngrams, lexicon = ngram_features(texts), lexicon_features(texts)

    def heads_only() -> None:  # features precomputed: what the classifiers add on top
        batch = TextBatch(texts, vectors=vectors)
        batch.__dict__["ngrams"], batch.__dict__["lexicon"] = ngrams, lexicon
        for c in scorer.classifiers:
            if c.name not in ("personal_data", "spam"):
                c.predict(batch)

    def rules_only() -> None:
        batch = TextBatch(texts)
        for c in scorer.classifiers:
            if c.name in ("personal_data", "spam"):
                c.predict(batch)

    cpu: list[float] = []
    total = best_of(args.repeats, everything, cpu)
    parts = {"encoder": best_of(args.repeats, encoder_only), "ngrams": best_of(args.repeats, lambda: ngram_features(texts)),
             "lexicon": best_of(args.repeats, lambda: lexicon_features(texts)),
             "heads": best_of(args.repeats, heads_only), "rules": best_of(args.repeats, rules_only)}
    fp32 = ModerationEncoder(scorer.encoder.adapter, threads=args.threads, int8=False)
    fp32.embed(texts[:64])
    served, baseline = [], []  # alternating rounds: both see the same load
    for _ in range(args.repeats):
        served.append(best_of(1, encoder_only))
        baseline.append(best_of(1, lambda: encoder_only(fp32)))
    print(json.dumps({
        "posts": len(texts), "threads": args.threads, "batch": args.batch,
        "classifiers": [c.name for c in scorer.classifiers],
        "posts_per_s": round(len(texts) / total, 1),
        "seconds": round(total, 3),
        # CPU seconds are counted on both threads: under load from other processes, wall time
        # stretches while CPU time stays near the work done (onnxruntime's spinning aside).
        "cpu_seconds": round(min(cpu), 3),
        "posts_per_cpu_s": round(len(texts) / min(cpu), 1),
        "part_seconds": {k: round(v, 3) for k, v in parts.items()},
        "part_posts_per_s": {k: round(len(texts) / v, 1) for k, v in parts.items()},
        "encoder_int8": scorer.encoder.int8,
        "encoder_fp32_posts_per_s": round(len(texts) / min(baseline), 1),
        "encoder_vs_fp32": round(min(baseline) / min(served), 3),
        "load_average": os.getloadavg(), "cpus": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()
