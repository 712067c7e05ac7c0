"""``ReplySuggester``: up to 3 short replies to a post that fit it, differ in intent and sound like the user.

Read top to bottom: triggers (access, safety policy on the post, sensitive topics) -> candidate
sources (bank, generator, stock; a failing source is skipped) -> hygiene filter (no personal
data, links, mentions, copies of the post) -> trained scorer -> fit threshold -> voice styling ->
safety classifiers on the final texts -> intent-diverse, non-duplicate selection -> recorded.
Every stage adds to ``reasons`` what it removed and why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select

from townsquare.errors import NotFoundError
from townsquare.ingest.records import MENTION as _MENTION
from townsquare.interact.candidates import Candidate
from townsquare.interact.scorer import ResponseScorer, context_texts, context_vector
from townsquare.interact.store_io import record_suggestions, replies_to, thread_of, user_texts
from townsquare.interact.triggers import TriggerCheck
from townsquare.interact.voice import VoiceProfile, VoiceStyler
from townsquare.models import find_pii
from townsquare.models.base import Embedder
from townsquare.storage.schema import users

_URL = re.compile(r"https?://|www\.|\b\w+\.(com|net|org|io|ly|xyz)\b", re.IGNORECASE)


@dataclass
class Suggestion:
    text: str
    intent: str
    source: str
    score: float
    id: int | None = None
    why: str = ""


@dataclass
class Suggestions:
    """What to show (``items``) and why there is less or nothing (``reasons``)."""

    items: list[Suggestion] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    voice: str = ""


def _norm(text: str) -> str:
    """Lowercase words only: no mentions, emoji or punctuation."""
    return " ".join(re.sub(r"[^\w ]", " ", _MENTION.sub(" ", text.lower())).split())


def _shingles(norm: str, n: int = 4) -> set[tuple[str, ...]]:
    words = norm.split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def hygiene_reason(text: str, thread: Sequence[str], handles: set[str]) -> str | None:
    """Why a candidate may not be shown, or None: PII, links, unknown mentions, echoes of the post."""
    if find_pii(text):
        return "carries personal data"
    if _URL.search(text):
        return "carries a link"
    if any(m.lower() not in handles for m in _MENTION.findall(text)):
        return "mentions someone outside the thread"
    norm = _norm(text)
    if not norm:
        return "empty"
    if any(norm == _norm(t) or (len(norm) > 8 and norm in _norm(t)) for t in thread):
        return "repeats the post"
    if _shingles(norm) & set().union(*(_shingles(_norm(t)) for t in thread)):
        return "copies words from the thread"
    return None


class ReplySuggester:
    """``suggest(post_id, user_id) -> Suggestions``; see the module docstring for the stages."""

    def __init__(self, store, embedder: Embedder, scorer: ResponseScorer, sources: Sequence, safety, policy=None,
                 *, safety_scorer=None, min_fit: float = 0.0, k: int = 3, record: bool = True,
                 dedupe_cos: float = 0.88, topic_cos: float = 0.35) -> None:
        self.store, self.embedder, self.scorer, self.sources = store, embedder, scorer, list(sources)
        self.safety, self.policy, self.safety_scorer = safety, policy, safety_scorer
        self.min_fit, self.k, self.record, self.dedupe_cos = min_fit, k, record, dedupe_cos
        self.topic_cos = topic_cos
        self.triggers, self.styler = TriggerCheck(), VoiceStyler(embedder)

    def suggest(self, post_id: int | str, user_id: int | str) -> Suggestions:
        post, user = self.store.find_post(post_id), self.store.find_user(user_id)
        voice = VoiceProfile.learn(user_texts(self.store, user["id"]))
        out = Suggestions(voice=voice.describe())
        thread, handles = thread_of(self.store, post)
        out.reasons += self.triggers.access_reasons(self.store, post, user) or self.triggers.text_reasons(post["text"])
        if not out.reasons and self.policy is not None:
            decision = self._decision(post)
            if decision.action == "hide":  # hidden from all but its author (never this user): as if not there
                raise NotFoundError(f"no post {post['external_id']!r}")
            out.reasons += self.triggers.safety_reasons(decision)
        if out.reasons:
            return out
        last, whole = context_texts(thread)
        ctx_vectors = self.embedder.embed([last, whole])
        candidates = self._fetch(thread, voice, ctx_vectors[0], out.reasons)
        said = {_norm(t) for t in replies_to(self.store, post["id"])}  # someone's reply here already: not again
        candidates = [c for c in candidates if c.source == "stock" or _norm(c.text) not in said]
        candidates = self._hygiene(candidates, thread, handles | {user["handle"].lower()}, out.reasons)
        if not candidates:
            out.reasons.append("no candidate reply survived the filters")
            return out
        vectors = self.embedder.embed([c.text for c in candidates])
        scores = self.scorer.score(context_vector(*ctx_vectors), vectors)
        for c, s in zip(candidates, scores):
            c.score = float(s) + c.prior
        order = sorted(range(len(candidates)), key=lambda i: -candidates[i].score)
        if candidates[order[0]].score < self.min_fit:
            out.reasons.append(f"poor fit: the best reply scores {candidates[order[0]].score:.2f} "
                               f"< {self.min_fit:.2f}, so none is offered")
            return out
        picked = self._select(candidates, vectors, order, voice, post["text"], out.reasons)
        out.items = [Suggestion(c.text, c.intent, c.source, round(c.score, 4), why=c.why) for c in picked]
        if self.record and out.items:
            ids = record_suggestions(self.store, user["id"], post["id"], out.items, quotes=[c.quotes for c in picked])
            for item, sid in zip(out.items, ids):
                item.id = sid
        return out

    def _decision(self, post: dict):
        """Moderation's decision on the post: a moderator's, else the policy on its stored scores, else on
        scores taken now (a post not scored yet)."""
        from townsquare.safety import Decision, post_decisions

        decision = post_decisions(self.store, [post["id"]], self.policy).get(post["id"])
        if decision is None and self.safety_scorer is not None:
            scored = self.safety_scorer.score([post["text"]])[0]
            decision = self.policy.decide(scored.scores, scored.spans)
        return decision or Decision()

    def _fetch(self, thread, voice, query, reasons) -> list[Candidate]:
        found: list[Candidate] = []
        for source in self.sources:
            try:
                found += source.fetch(thread, voice, query)
            except Exception as error:  # noqa: BLE001  (a failing source is skipped, not fatal (reported))
                reasons.append(f"source {getattr(source, 'name', type(source).__name__)} skipped: {error}")
        return found

    @staticmethod
    def _hygiene(candidates, thread, handles, reasons) -> list[Candidate]:
        kept, seen, dropped = [], set(), {}
        for c in candidates:
            why = hygiene_reason(c.text, thread, handles)
            if why is None and _norm(c.text) in seen:
                why = "duplicate"
            if why:
                dropped[why] = dropped.get(why, 0) + 1
                continue
            seen.add(_norm(c.text))
            kept.append(c)
        reasons += [f"removed {n} candidate{'s' * (n != 1)}: {why}" for why, n in dropped.items() if why != "duplicate"]
        return kept

    def _select(self, candidates, vectors, order, voice, post_text, reasons) -> list[Candidate]:
        """Best candidate per intent (warm, question, brief, comment), then the best others; styled, safe, distinct.

        Emoji added by the styler must fit the post (``post_text``), not just the user's habits.
        """
        chosen: list[Candidate] = []
        chosen_vecs: list[np.ndarray] = []
        post_vector = self.embedder.embed([post_text])[0]

        def specific(i: int) -> bool:  # "Nice!" and stock replies fit any post; the rest must be about it
            return candidates[i].source != "stock" and candidates[i].intent != "brief"

        # the best candidates, and the best few that fit any post: when every specific one in the
        # window is off topic, these still fill the slots (the window once held 20 off-topic ones)
        pool = order[: 4 * self.k + 8]
        pool += [i for i in order[4 * self.k + 8:] if not specific(i)][: self.k]
        styled = {i: self.styler.apply(candidates[i].text, voice, emoji_slot=n, topic=post_text)
                  for n, i in enumerate(pool)}
        checks = {r.text: r for r in self.safety.check(list(dict.fromkeys(styled.values())))}
        unsafe = [t for t, r in checks.items() if not r.allowed]
        if unsafe:
            reasons.append(f"the safety classifiers held back {len(unsafe)} candidate{'s' * (len(unsafe) != 1)}")
        used: set[int] = set()

        def acceptable(i: int) -> bool:
            text, v = styled[i], vectors[i]
            on_topic = not specific(i) or float(v @ post_vector) >= self.topic_cos
            return (i not in used and checks[text].allowed and all(_norm(text) != _norm(c.text) for c in chosen)
                    and on_topic and float(v @ post_vector) <= 0.95
                    and all(float(v @ w) <= self.dedupe_cos for w in chosen_vecs))

        def take(i: int) -> None:
            c = candidates[i]
            chosen.append(Candidate(styled[i], c.source, c.intent, c.score, why=c.why, quotes=c.quotes))
            chosen_vecs.append(vectors[i])
            used.add(i)

        # One per intent first, the best of each, intents in the order of their best candidates: a
        # specific comment that outscores every stock "brief" reply is offered instead of "Nice!".
        # (Until session 14 only warm, question and brief took part, so with a candidate for each of
        # them the 3 slots went to those, and no reply people here wrote ever reached the page.)
        # A reply people here wrote (or the model did) says something specific unless it is brief, so it
        # must be about the post (``topic_cos``): the scorer alone offered "Adding Hokkaido to my list."
        # to "what's your moka pot recipe?", and "The h-pawn push in that position is so tempting!" (a
        # warm one, which session 14 did not check) to "Walking until lost is my strategy too!". 0.35: on
        # 600 DailyDialog++ contexts, 0.9% of random replies reach it (2.0% reach 0.3) and 31% of good ones
        # (40% reach 0.3); stock replies fill the slots an unsure specific one leaves.
        for intent in dict.fromkeys(candidates[i].intent for i in pool):
            best = next((i for i in pool if candidates[i].intent == intent and acceptable(i)), None)
            if best is not None and len(chosen) < self.k:
                take(best)
        for i in pool:  # then fill with the best remaining
            if len(chosen) >= self.k:
                break
            if acceptable(i):
                take(i)
        chosen.sort(key=lambda c: -c.score)
        return chosen


def handle_set(store, user_ids: Sequence[int]) -> set[str]:
    with store.read() as conn:
        return {h.lower() for h in conn.execute(select(users.c.handle).where(users.c.id.in_(list(user_ids)))).scalars()}
