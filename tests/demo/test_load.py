"""The demo community and a small synthetic one load into a real store, twice without duplicates."""

from __future__ import annotations

from collections import Counter

from townsquare.demo import build_community, synthetic_records
from townsquare.ingest.loader import Loader


def test_demo_community_loads_completely_and_idempotently(sqlite_store):
    records = list(build_community(0).records())
    expected = Counter("edge" if r.type in ("follow", "block", "mute") else r.type for r in records)
    report = Loader(sqlite_store).load(records, "demo")
    assert not report.skipped
    assert dict(report.inserted) == dict(expected)
    counts = sqlite_store.counts()
    assert counts["users"] == expected["user"] and counts["posts"] == expected["post"]
    assert counts["interactions"] == expected["interaction"]
    again = Loader(sqlite_store).load(records, "demo")
    assert sum(again.inserted.values()) == 0


def test_small_synthetic_community_loads(sqlite_store):
    report = Loader(sqlite_store).load(synthetic_records(users=200, posts=2_000, interactions=10_000, seed=2), "synthetic")
    assert not report.skipped
    counts = sqlite_store.counts()
    assert (counts["users"], counts["posts"], counts["interactions"]) == (200, 2_000, 10_000)
