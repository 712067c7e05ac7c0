"""A small synthetic community written as importer records (JSONL) for the evaluation tests.

Three topics; each user likes posts of one topic (plus a little noise), follows people of the
same topic, and sometimes hides a post of another topic. Post texts name their topic.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from townsquare.ingest.records import EdgeRecord, InteractionKind, InteractionRecord, PostRecord, UserRecord

TOPICS = ("chess openings and endgames", "sourdough bread baking", "trail running shoes")


def community_records(users: int = 45, posts_per_topic: int = 14, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    records: list = [UserRecord(id=f"u{u}", handle=f"u{u}") for u in range(users)]
    records.append(UserRecord(id="editor", handle="editor"))
    posts = [(t, p) for t in range(len(TOPICS)) for p in range(posts_per_topic)]
    for t, p in posts:
        author = "editor" if p % 2 else f"u{t}"
        records.append(
            PostRecord(
                id=f"p{t}-{p}",
                author=author,
                text=f"Post {p} about {TOPICS[t]}",
                created_at=start + timedelta(hours=p),
            )
        )
    topic_of = rng.integers(0, len(TOPICS), users)
    for u in range(users):
        same = [v for v in range(users) if topic_of[v] == topic_of[u] and v != u]
        for v in rng.choice(same, min(3, len(same)), replace=False):
            records.append(EdgeRecord(source=f"u{u}", target=f"u{v}"))
        liked = rng.choice(posts_per_topic, 7, replace=False)
        for p in liked:
            records.append(
                InteractionRecord(
                    user=f"u{u}",
                    post=f"p{topic_of[u]}-{p}",
                    kind=InteractionKind.like,
                    created_at=start + timedelta(days=int(p)),
                )
            )
        other = (topic_of[u] + 1) % len(TOPICS)
        records.append(InteractionRecord(user=f"u{u}", post=f"p{other}-0", kind=InteractionKind.hide))
    return records


@pytest.fixture
def community_file(tmp_path: Path) -> Path:
    path = tmp_path / "community.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in community_records()))
    return path
