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
from townsquare.safety.rules import plain_reading
from townsquare.storage.schema import edges

# Read on ``rules.plain_reading`` (lowercase, apostrophes and accents dropped, "s.u.i.c.i.d.e" joined).
# Self-harm in the words people use for it: slang ("unalive", "kms"), euphemism ("can't go on",
# "goodbye everyone") and a few other languages (Spanish, French, German, Portuguese, Italian, Russian).
SELF_HARM = re.compile(
    r"\b(suicid\w*|self ?harm\w*|kill (myself|me)|kms|unaliv\w* (myself|me)|hurt(ing)? myself|cut(ting)? myself|"
    r"end (my life|it all|it tonight)|want (it )?to (die|end)|dont want to (live|be here|wake up)|overdose|"
    r"better off dead|no reason to live|cant (go on|do this anymore|take it anymore)|"
    r"goodbye (everyone|world|all|forever)|"
    r"quiero morir\w*|matarme|me quiero matar|je veux mourir|me suicider|me tuer|en finir|"
    r"(mich )?umbringen|ich will sterben|nicht mehr leben|selbstmord|quero morrer|me matar|voglio morire|"
    r"хочу умереть|покончить с собои|суицид\w*)\b")
SENSITIVE = re.compile(
    r"\b(passed away|passing of|died|death|dying|funeral|grief|grieving|condolences|miscarriage|cancer|"
    r"diagnos\w*|chemo\w*|terminal|hospital\w*|depress\w*|anxiety attack|panic attack|abuse\w*|assault\w*|"
    r"rape\w*|divorce\w*|laid off|fired from|eviction|evicted|rip|murio|fallecio|mort|gestorben|morreu|morto)\b|"
    + SELF_HARM.pattern)
SUPPORT = ("if you are thinking about hurting yourself, please talk to someone you trust now, or call your local "
           "emergency number or a crisis line")


def sensitive_reasons(text: str, what: str) -> list[str]:
    """Why townsquare does not write ``what`` ("this reply", "this post") about ``text`` itself: a
    sensitive topic, with where to find help when it reads as self-harm. Empty: go ahead."""
    plain = plain_reading(text)
    match = SENSITIVE.search(plain)
    if match is None:
        return []
    return [f"sensitive topic ('{match.group(0)}'): write {what} yourself"] + ([SUPPORT] if SELF_HARM.search(plain) else [])


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
        """The policy's decision on the post: anything above allow stops suggestions. What moderation found is
        its author's to know: others are told only the labels every reader sees."""
        if decision.action == "allow":
            return []
        if decision.labels:
            return [f"moderation labels the post ({', '.join(decision.labels)})"]
        return ["moderation keeps suggestions off this post"]
