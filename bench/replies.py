"""Latency of reply suggestions and drafts on the demo community, with example outputs.

    python bench/replies.py [--posts 20] [--drafts 8] [--threads 2] [--no-generator]

Loads the demo community into a fresh SQLite file, builds the interaction layer with the default
local generator (SmolLM2-135M-Instruct on llama.cpp) and measures, after one warm-up call:
- ``suggest``: 3 suggestions for a post (retrieve, generate 2, score, filter, style, safety);
- ``draft``: a post in the user's voice from a short prompt.
Prints one JSON object: p50/p95 seconds and the first ten suggestions and drafts.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = ["tried the new ramen place, loved the broth", "finished my first 10k run this morning",
           "our garden tomatoes are finally ripe", "reading a great book about the history of maps",
           "the train was late again today", "new chess opening I'm learning", "baked sourdough with my kids",
           "went to a jazz concert last night"]


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--drafts", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-generator", action="store_true")
    args = parser.parse_args()

    from sqlalchemy import select

    from townsquare.demo import demo_records
    from townsquare.ingest.loader import Loader
    from townsquare.interact import build_interact
    from townsquare.settings import Settings
    from townsquare.storage import Store
    from townsquare.storage.schema import posts

    folder = Path(tempfile.mkdtemp(prefix="ts-replies-"))
    settings = Settings(data_dir=folder, threads=args.threads)
    store = Store.open(settings.resolved_database_url)
    started = time.perf_counter()
    Loader(store).load(demo_records())
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    interact = build_interact(settings, store, use_generator=not args.no_generator, record=False)
    build_s = time.perf_counter() - started
    rng = random.Random(0)
    with store.read() as conn:
        rows = conn.execute(select(posts.c.id, posts.c.author_id).where(
            posts.c.deleted.is_(False), posts.c.visibility == "public", posts.c.repost_of_id.is_(None))).all()
        users = sorted({a for _, a in rows})
    picks = [(p, rng.choice([u for u in users if u != a])) for p, a in rng.sample(rows, args.posts + 1)]

    interact.suggester.suggest(*picks[0])  # warm-up: loads the generator, builds caches
    suggest_s, examples, empty = [], [], 0
    for post_id, user_id in picks[1:]:
        t = time.perf_counter()
        result = interact.suggester.suggest(post_id, user_id)
        suggest_s.append(time.perf_counter() - t)
        empty += not result.items
        if len(examples) < 10:
            examples.append({"post": store.find_post(post_id)["text"], "user": store.find_user(user_id)["handle"],
                             "voice": result.voice, "suggestions": [f"[{s.intent}/{s.source}] {s.text}" for s in result.items],
                             "reasons": result.reasons})
    interact.drafter.draft(users[0], PROMPTS[0])
    draft_s, drafts = [], []
    for i in range(args.drafts):
        user = users[(i * 7) % len(users)]
        t = time.perf_counter()
        d = interact.drafter.draft(user, PROMPTS[i % len(PROMPTS)])
        draft_s.append(time.perf_counter() - t)
        if len(drafts) < 10:
            drafts.append({"user": store.find_user(user)["handle"], "prompt": PROMPTS[i % len(PROMPTS)],
                           "draft": d.text, "source": d.source,
                           "rewrites": {how: interact.drafter.rewrite(d.text, how).text
                                        for how in ("shorter", "more_formal")} if i < 3 else {}})
    print(json.dumps({
        "threads": args.threads, "generator": None if args.no_generator else settings.generator_model,
        "demo_load_s": round(load_s, 1), "build_s": round(build_s, 1), "bank_size": len(interact.suggester.sources[0].bank),
        "suggest": {"n": len(suggest_s), "p50_s": _pct(suggest_s, 0.5), "p95_s": _pct(suggest_s, 0.95),
                    "mean_s": round(statistics.mean(suggest_s), 3), "no_suggestions": empty},
        "draft": {"n": len(draft_s), "p50_s": _pct(draft_s, 0.5), "p95_s": _pct(draft_s, 0.95)},
        "examples": examples, "drafts": drafts}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
