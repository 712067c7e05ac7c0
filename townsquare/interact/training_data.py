"""Training groups for the reply scorer: DailyDialog++ and the platform's own recorded feedback."""

from __future__ import annotations

from pathlib import Path

from townsquare.ingest.datasets.dailydialog import ReplyGroup, read_dailydialog_groups
from townsquare.interact.store_io import feedback_rows


def dailydialog_groups(path: Path, split: str = "dev") -> list[ReplyGroup]:
    return list(read_dailydialog_groups(path, split=split))


def feedback_groups(store) -> list[ReplyGroup]:
    """One group per post with at least one picked/edited and one ignored suggestion.

    Picked and edited texts are the good replies; ignored ones stand in for both kinds of bad
    reply, so every group has the same shape as a DailyDialog++ one.
    """
    by_post: dict[int, dict] = {}
    for row in feedback_rows(store):
        entry = by_post.setdefault(row["post_id"], {"context": row["post_text"], "good": [], "bad": []})
        if row["outcome"] == "ignored":
            entry["bad"].append(row["text"])
        else:
            entry["good"].append(row["final_text"] or row["text"])
    groups = []
    for post_id, e in by_post.items():
        if e["good"] and e["bad"] and e["context"].strip():
            k = 5
            good = (e["good"] * k)[:k]
            bad = (e["bad"] * k)[:k]
            groups.append(ReplyGroup(id=f"feedback-{post_id}", context=[e["context"]], good=good,
                                     adversarial=bad, random=bad))
    return groups
