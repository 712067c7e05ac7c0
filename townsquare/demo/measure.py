"""Time the synthetic generator: ``python -m townsquare.demo.measure [users posts interactions]``.

Prints JSON: rows per table and per interaction kind, seconds spent inside the generator per
table (the consumer's time excluded), and the share of distinct original-post texts.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

from townsquare.demo.synthetic import synthetic_batches


def measure_synthetic(users: int = 100_000, posts: int = 1_000_000, interactions: int = 10_000_000,
                      seed: int = 0) -> dict:
    rows: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    texts: set[str] = set()
    originals = 0
    batches = synthetic_batches(users, posts, interactions, seed)
    while True:
        began = time.perf_counter()
        try:
            table, batch = next(batches)
        except StopIteration:
            break
        seconds[table] += time.perf_counter() - began
        rows[table] += len(batch)
        if table == "interactions":
            kinds.update(row[2] for row in batch)
        elif table == "edges":
            kinds.update("edge:" + row[0] for row in batch)
        elif table == "posts":
            fresh = [row[2] for row in batch if row[4] is None and row[5] is None and row[6] is None]
            originals += len(fresh)
            texts.update(fresh)
    return {"sizes": {"users": users, "posts": posts, "interactions": interactions, "seed": seed},
            "rows": dict(rows), "kinds": dict(kinds.most_common()),
            "generator_seconds": {k: round(v, 2) for k, v in seconds.items()},
            "generator_seconds_total": round(sum(seconds.values()), 2),
            "distinct_original_texts": round(len(texts) / max(1, originals), 4)}


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:4]]
    print(json.dumps(measure_synthetic(*sizes), indent=1))
