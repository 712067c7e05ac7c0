"""Import throughput into SQLite (no embedding), and the time to load the 1M-post corpus.

    python bench/ingest.py                 # import rates from JSONL files (~1 minute)
    python bench/ingest.py --full          # plus the 100k users / 1M posts / 10M interactions load

Prints JSON. Rates are end to end as `townsquare import jsonl` does it: read and validate each
line, resolve ids, write in one transaction. Vector search numbers: bench/vectors.py.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from townsquare.demo import synthetic_records
from townsquare.ingest.jsonl import read_jsonl
from townsquare.ingest.loader import Loader
from townsquare.storage import Store


def write_jsonl(records, path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with open(path, "w", encoding="utf-8") as out:
        for record in records:
            out.write(record.model_dump_json(exclude_none=True, exclude={"hashtags", "mentions"}) + "\n")
            counts[record.type] = counts.get(record.type, 0) + 1
    return counts


def timed_import(store: Store, path: Path) -> float:
    start = time.perf_counter()
    Loader(store).load(read_jsonl(path, located=True), str(path))
    return time.perf_counter() - start


def import_rates(folder: Path, users: int, posts: int, interactions: int) -> dict:
    records = list(synthetic_records(users=users, posts=posts, interactions=interactions, seed=1))
    split = next(i for i, r in enumerate(records) if r.type not in ("user", "post"))
    content, rest = folder / "content.jsonl", folder / "relations.jsonl"
    first = write_jsonl(records[:split], content)
    second = write_jsonl(records[split:], rest)
    store = Store.open(f"sqlite:///{folder / 'rates.sqlite'}")
    content_s = timed_import(store, content)
    relations_s = timed_import(store, rest)
    return {
        "posts": first.get("post", 0), "users": first.get("user", 0),
        "posts_file_seconds": round(content_s, 2),
        "posts_per_s": round(first.get("post", 0) / content_s),
        "interactions": second.get("interaction", 0), "edges": second.get("follow", 0),
        "relations_file_seconds": round(relations_s, 2),
        "interactions_per_s": round((second.get("interaction", 0)) / relations_s),
        "note": "posts_per_s counts the users file part too; interactions_per_s includes the edges",
    }


def full_load(folder: Path) -> dict:
    """The 100k users / 1M posts / 10M interactions corpus, written to JSONL files first (not
    timed: a platform's export), then imported from them as ``townsquare import jsonl`` does."""
    start = time.perf_counter()
    records = synthetic_records(users=100_000, posts=1_000_000, interactions=10_000_000)
    content, relations = folder / "full-content.jsonl", folder / "full-relations.jsonl"
    counts: dict[str, int] = {}
    with open(content, "w", encoding="utf-8") as first, open(relations, "w", encoding="utf-8") as rest:
        for record in records:
            out = first if record.type in ("user", "post") else rest
            out.write(record.model_dump_json(exclude_none=True, exclude={"hashtags", "mentions"}) + "\n")
            counts[record.type] = counts.get(record.type, 0) + 1
    write_s = time.perf_counter() - start
    store = Store.open(f"sqlite:///{folder / 'full.sqlite'}")
    inserted: dict[str, int] = {}
    seconds = {}
    for name, path in (("content", content), ("relations", relations)):
        start = time.perf_counter()
        report = Loader(store, bulk=True).load(read_jsonl(path, located=True), str(path))
        seconds[name] = round(time.perf_counter() - start, 1)
        for kind, n in report.inserted.items():
            inserted[kind] = inserted.get(kind, 0) + n
    return {"records": counts, "inserted": inserted, "write_jsonl_seconds_not_counted": round(write_s, 1),
            "import_seconds": seconds, "seconds": round(sum(seconds.values()), 1), "goal_seconds": 600,
            "jsonl_mb": round((content.stat().st_size + relations.stat().st_size) / 2**20),
            "database_mb": round((folder / "full.sqlite").stat().st_size / 2**20)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also load the 1M-post corpus")
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=500_000)
    parser.add_argument("--folder", type=Path, default=None, help="where the databases go (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        folder = Path(tmp)
        result = {"machine": platform.processor() or platform.machine(),
                  "import": import_rates(folder, args.posts // 10, args.posts, args.interactions),
                  "goals": {"interactions_per_s": 20_000, "posts_per_s": 5_000}}
        if args.full:
            result["full_load"] = full_load(folder)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
