"""When not to suggest replies: the post is hidden from the user, unsafe, sensitive, or nothing fits.

``TriggerCheck.reasons(...)`` returns why not (empty: go ahead). Sensitive topics (grief, illness,
self-harm, abuse...) get no canned replies, as Smart Reply systems do: a one-tap "Nice!" under a
post about a death hurts. The word list is hand-written because no package ships one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import or_, select

from townsquare.errors import NotFoundError
from townsquare.storage.schema import edges

SENSITIVE = re.compile(
    r"\b(passed away|passing of|died|death|dying|funeral|grief|grieving|condolences|miscarriage|cancer|"
    r"diagnos\w*|chemo\w*|terminal|hospital\w*|suicid\w*|self[- ]harm|kill (myself|me)|depress\w*|"
    r"anxiety attack|panic attack|abuse\w*|assault\w*|rape\w*|divorce\w*|laid off|fired from|"
    r"eviction|evicted|overdose\w*|rip|hurt (myself|me)|end (my life|it all)|want (it )?to (die|end)|"
    r"don'?t want to (live|be here))\b", re.IGNORECASE)
SELF_HARM = re.compile(r"\b(suicid\w*|self[- ]harm|kill (myself|me)|hurt myself|end (my life|it all)|"
                       r"want (it )?to (die|end)|don'?t want to (live|be here)|overdose)\b", re.IGNORECASE)
SUPPORT = ("if you are thinking about hurting yourself, please talk to someone you trust now, or call your local "
           "emergency number or a crisis line")


def sensitive_reasons(text: str, what: str) -> list[str]:
    """Why townsquare does not write ``what`` ("this reply", "this post") about ``text`` itself: a
    sensitive topic, with where to find help when it reads as self-harm. Empty: go ahead."""
    match = SENSITIVE.search(text)
    if match is None:
        return []
    return [f"sensitive topic ('{match.group(0)}'): write {what} yourself"] + ([SUPPORT] if SELF_HARM.search(text) else [])


@dataclass(frozen=True)
class TriggerCheck:
    """Cheap checks first: access, then the safety policy, then sensitivity."""

    min_words: int = 1

    def access_reasons(self, store, post: dict, user: dict) -> list[str]:
        """Why not to reply: deleted, or the user's own post. A post the user may not see (private,
        followers-only without following, or either blocks the other) is NotFoundError, as a post that
        does not exist: a reason would tell the user it is there."""
        if post["deleted"]:
            return ["the post was deleted"]
        if post["author_id"] == user["id"]:
            return ["this is your own post"]
        with store.read() as conn:
            rows = conn.execute(select(edges.c.source_id, edges.c.kind).where(
                or_((edges.c.source_id == post["author_id"]) & (edges.c.target_id == user["id"]),
                    (edges.c.source_id == user["id"]) & (edges.c.target_id == post["author_id"])))).all()
        kinds = {(src == user["id"], kind) for src, kind in rows}
        if (False, "block") in kinds or (True, "block") in kinds or post["visibility"] == "private" \
                or (post["visibility"] == "followers" and (True, "follow") not in kinds):
            raise NotFoundError(f"no post {post['external_id']!r}")
        return []

    def text_reasons(self, text: str) -> list[str]:
        if len(text.split()) < self.min_words:
            return ["the post has no words to reply to"]
        return sensitive_reasons(text, "this reply")

    @staticmethod
    def safety_reasons(decision) -> list[str]:
        """The policy's decision on the post: anything above allow stops suggestions."""
        if decision.action == "allow":
            return []
        words = ", ".join(dict.fromkeys(r.in_words for r in decision.reasons))
        return [f"moderation flags the post ({words})"]
