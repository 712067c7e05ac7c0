"""Embedding throughput: townsquare's OnnxEmbedder vs sentence-transformers fp32, same process.

    python bench/embed.py [--data /work/shared/data/tweeteval] [--n 2000] [--repeats 3]

Prints one JSON object. Runs alternate between the two implementations and the best of
``--repeats`` is kept for each, so that load from other processes hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The repo root replaces this folder on the path, so that bench/*.py never shadow the stdlib.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from townsquare.models.onnx_embedder import OnnxEmbedder
from townsquare.models.st_embedder import SentenceTransformerEmbedder

STATED_GFLOPS = 90.0  # the estimate of these 2 cores


def load_tweets(folder: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct real tweets from every ``*_text.txt`` under ``folder``, shuffled."""
    files = sorted(folder.rglob("*_text.txt"))
    if not files:
        raise SystemExit(f"no *_text.txt files under {folder}")
    texts = sorted({line.strip() for f in files for line in f.read_text(encoding="utf-8").splitlines() if line.strip()})
    random.Random(seed).shuffle(texts)
    if len(texts) < n:
        raise SystemExit(f"only {len(texts)} tweets under {folder}, asked for {n}")
    return texts[:n]


def flops_per_text(tokens: int, layers: int = 6, hidden: int = 384, inner: int = 1536) -> float:
    """Multiply-adds x2 of a MiniLM-L6 forward pass over ``tokens`` tokens."""
    dense = 2 * tokens * (4 * hidden * hidden + 2 * hidden * inner)
    attention = 2 * 2 * tokens * tokens * hidden
    return layers * (dense + attention)


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def fixed_length_texts(embedder: OnnxEmbedder, tweets: list[str], tokens: int, n: int) -> list[str]:
    """Texts of exactly ``tokens`` tokens (with [CLS]/[SEP]), cut from the tweets' token stream."""
    embedder._load()
    tok = embedder._tokenizer
    stream = [i for enc in tok.encode_batch(tweets, add_special_tokens=False) for i in enc.ids]
    texts, pos, body = [], 0, tokens - 2
    while len(texts) < n:
        text = tok.decode(stream[pos:pos + body])
        pos = (pos + body) % max(1, len(stream) - body)
        if len(tok.encode(text).ids) == tokens:
            texts.append(text)
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/tweeteval"))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fixed-n", type=int, default=512, help="texts per fixed-length run")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    tweets = load_tweets(args.data, args.n)
    cache_dir = Path(tempfile.mkdtemp(prefix="ts-bench-embed-"))
    start = time.perf_counter()
    onnx = OnnxEmbedder(cache_dir=cache_dir, threads=args.threads)
    onnx.embed(tweets[:64])
    onnx_build_and_load_s = time.perf_counter() - start
    st = SentenceTransformerEmbedder(threads=args.threads)
    st.embed(tweets[:64])

    result: dict = {"texts": len(tweets), "threads": args.threads, "repeats": args.repeats,
                    "onnx_build_and_load_s": round(onnx_build_and_load_s, 2)}
    lengths = [len(e.ids) for e in onnx._tokenizer.encode_batch(tweets)]
    result["tokens_per_text"] = {"mean": round(float(np.mean(lengths)), 1), "max": int(max(lengths))}

    t_onnx, t_st = [], []
    for _ in range(args.repeats):  # interleaved
        t_onnx.append(best_time(lambda: onnx.embed(tweets), 1))
        t_st.append(best_time(lambda: st.embed(tweets), 1))
    ours, ref = onnx.embed(tweets), st.embed(tweets)
    cos = np.sum(ours * ref, axis=1)
    result["tweets"] = {
        "onnx_texts_per_s": round(len(tweets) / min(t_onnx), 1),
        "sentence_transformers_texts_per_s": round(len(tweets) / min(t_st), 1),
        "speedup": round(min(t_st) / min(t_onnx), 3),
        "cosine_min": float(np.min(cos)), "cosine_mean": float(np.mean(cos)),
    }
    for tokens in (32, 128):
        texts = fixed_length_texts(onnx, tweets, tokens, args.fixed_n)
        rate = len(texts) / best_time(lambda texts=texts: onnx.embed(texts), args.repeats)
        ref_rate = len(texts) / best_time(lambda texts=texts: st.embed(texts), args.repeats)
        gflop = flops_per_text(tokens) / 1e9
        result[f"fixed_{tokens}_tokens"] = {
            "onnx_texts_per_s": round(rate, 1), "sentence_transformers_texts_per_s": round(ref_rate, 1),
            "gflop_per_text": round(gflop, 3), "achieved_gflop_per_s": round(rate * gflop, 1),
            "bound_texts_per_s_at_stated_90_gflops": round(STATED_GFLOPS / gflop, 1),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
