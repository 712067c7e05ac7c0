"""Where reply candidates come from: the response bank, the generator, and a small stock of replies.

Each source is ``fetch(thread, voice) -> list[Candidate]``; a failing source is skipped by the
suggester, not fatal. Intents (``intent_of``): ``warm`` (kind words), ``question`` (asks about it),
``brief`` (three words at most), ``comment`` (anything else: says something specific).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from townsquare.interact.bank import ResponseBank
from townsquare.interact.voice import VoiceProfile
from townsquare.models import GenerationRequest, chat_messages
from townsquare.models.base import Generator

log = logging.getLogger(__name__)

_WARM = re.compile(r"\b(love|lovely|great|amazing|awesome|congrat\w*|glad|happy|beautiful|wonderful|nice|"
                   r"thank\w*|proud|enjoy\w*|fantastic|cool|good luck|well done|sweet|delicious|yum\w*|"
                   r"wow|cute|brilliant|fun)\b", re.IGNORECASE)

STOCK: dict[str, tuple[str, ...]] = {
    "warm": ("Love this!", "This is great, thanks for sharing!", "So happy for you!", "That sounds amazing.",
             "Beautiful, well done!", "Glad to hear it!"),
    "question": ("How did it go?", "What made you choose it?", "Where was this?", "Any tips for a beginner?",
                 "How long did it take?", "What's next?"),
    "brief": ("Nice!", "Agreed.", "Congrats!", "Same here.", "Thanks!", "Good luck!"),
}


@dataclass
class Candidate:
    """One proposed reply and where it came from."""

    text: str
    source: str  # bank | generated | stock
    intent: str = ""
    score: float = 0.0
    prior: float = 0.0  # added to the scorer's score (bank weight)
    why: str = ""
    quotes: int | None = None  # the post whose text this is (a reply from the store), so that it leaves with it


def intent_of(text: str) -> str:
    """question if it asks, brief if at most 3 words, warm if it sounds warm, else comment."""
    words = text.split()
    if text.rstrip().endswith("?"):
        return "question"
    if len(words) <= 3:
        return "brief"
    return "warm" if _WARM.search(text) else "comment"


class BankSource:
    """Replies that users here wrote to posts like this one.

    From the store (``from_store``), the bank is built again every ``refresh_s`` (in the background; the old
    one serves meanwhile), and every reply it returns is checked against the store as it is now: one deleted,
    no longer public, or that moderation acts on (a moderator's decision or the policy on its scores) is not
    offered, from the moment it changed.
    """

    name = "bank"

    def __init__(self, bank: ResponseBank, k: int = 24, *, store=None, policy=None,
                 rebuild: Callable[[], ResponseBank] | None = None, refresh_s: float = 600.0) -> None:
        self.bank, self.k, self.store, self.policy = bank, k, store, policy
        self.rebuild, self.refresh_s, self.built_at = rebuild, refresh_s, time.monotonic()
        self._rebuilding = threading.Lock()

    @classmethod
    def from_store(cls, store, embedder, policy, **options) -> BankSource:
        def rebuild() -> ResponseBank:
            return ResponseBank.from_store(store, embedder)

        return cls(rebuild(), store=store, policy=policy, rebuild=rebuild, **options)

    def fetch(self, thread: Sequence[str], voice: VoiceProfile, query: np.ndarray | None = None) -> list[Candidate]:
        self._refresh()
        hits = self.bank.search(query, 2 * self.k) if query is not None else []
        if self.store is not None:
            shown = self._still_shown([e.post_id for e, _ in hits if e.post_id is not None])
            hits = [(e, sim) for e, sim in hits if e.post_id is None or e.post_id in shown]
        return [Candidate(e.reply, "bank", intent_of(e.reply), prior=0.1 * np.log(max(e.weight, 0.1)),
                          why=f"{'reply' if e.origin == 'reply' else 'a reply people picked'} to a similar post "
                              f"({sim:.2f})", quotes=e.post_id) for e, sim in hits[:self.k]]

    def _still_shown(self, post_ids: list[int]) -> set[int]:
        from sqlalchemy import select

        from townsquare.safety.gate import post_decisions
        from townsquare.storage.schema import posts

        with self.store.read() as conn:
            live = set(conn.execute(select(posts.c.id).where(
                posts.c.id.in_(post_ids), posts.c.deleted.is_(False), posts.c.visibility == "public")).scalars())
        if self.policy is None:
            return live
        decisions = post_decisions(self.store, sorted(live), self.policy)
        return {pid for pid in live if pid not in decisions or decisions[pid].action == "allow"}

    def _refresh(self) -> None:
        if self.rebuild is None or time.monotonic() - self.built_at < self.refresh_s:
            return
        if self._rebuilding.acquire(blocking=False):
            self.built_at = time.monotonic()  # one rebuild at a time; the next look is refresh_s later

            def run() -> None:
                try:
                    self.bank = self.rebuild()
                except Exception:
                    log.exception("the reply bank could not be rebuilt")
                finally:
                    self._rebuilding.release()

            threading.Thread(target=run, name="bank-rebuild", daemon=True).start()


class StockSource:
    """A few generic replies per intent, so every intent has a candidate even on a new platform."""

    name = "stock"

    def fetch(self, thread: Sequence[str], voice: VoiceProfile, query: np.ndarray | None = None) -> list[Candidate]:
        return [Candidate(t, "stock", intent, why="stock reply") for intent, texts in STOCK.items() for t in texts]


class GeneratedSource:
    """One short reply per intent from the generator; user text goes in fenced blocks only."""

    name = "generated"
    ASK: ClassVar[dict[str, str]] = {"warm": "a warm, kind reply", "question": "a friendly question about it"}

    def __init__(self, generator: Generator, intents: Sequence[str] = ("warm", "question"), max_tokens: int = 24,
                 seed: int = 0) -> None:
        self.generator, self.intents, self.max_tokens, self.seed = generator, tuple(intents), max_tokens, seed

    def fetch(self, thread: Sequence[str], voice: VoiceProfile, query: np.ndarray | None = None) -> list[Candidate]:
        data = [("thread", "\n".join(thread[:-1]))] if len(thread) > 1 else []
        data.append(("post", thread[-1]))
        out = []
        for number, intent in enumerate(self.intents):
            task = (f"Write {self.ASK.get(intent, 'a short reply')} to the post, as its reader. "
                    f"Style: {voice.describe()}. At most 15 words. Answer with the reply only.")
            request = GenerationRequest(messages=chat_messages("You write short replies to social media posts.",
                                                               data, task),
                                        max_tokens=self.max_tokens, temperature=0.0, stop=["\n"],
                                        repeat_penalty=1.2, seed=self.seed,
                                        reuse_prefix=number > 0)  # same system text and post: keep them
            result = self.generator.generate(request)
            text = clean_generated(result.text)
            if result.finish_reason == "length":  # cut off by max_tokens: its whole sentences, or nothing
                text = whole_sentences(text)
            if text:
                out.append(Candidate(text, "generated", intent_of(text), why=f"generated ({intent})"))
        return out


_PREFIX = re.compile(r"^\s*(reply|response|answer|assistant)\s*[:\-]\s*", re.IGNORECASE)
# A small chat model often answers as an assistant ("I'm sorry for the confusion, but as a
# text-based AI ...") instead of as a reader of the post: never a reply a person would send.
ASSISTANT_TALK = re.compile(r"\bas an? (ai|text-based|language model|assistant)\b|\bI'?m sorry for (the|any) "
                            r"(confusion|misunderstanding)|\bI (can(no|')t|am unable to) (help|assist)|</?post>|"
                            r"\bI'?d be (happy|glad) to (help|assist)|\bhappy to help with your (request|question)|"
                            r"\bwith your request\b", re.IGNORECASE)


def whole_sentences(text: str) -> str:
    """``text`` up to its last sentence end ("Lovely loaf! I think it" -> "Lovely loaf!"); "" when none ends."""
    cut = max(text.rfind("."), text.rfind("!"), text.rfind("?"))
    return text[:cut + 1].strip() if cut > 0 else ""


def clean_generated(text: str, max_words: int = 25) -> str:
    """First line, no 'Reply:' prefix or wrapping quotes, at most ``max_words`` words (cut at a sentence end);
    empty when the model talked as an assistant instead of writing the text asked for."""
    line = next((l for l in text.strip().splitlines() if l.strip()), "")
    if ASSISTANT_TALK.search(line):
        return ""
    line = _PREFIX.sub("", line).strip().strip('"“”\'').strip()
    words = line.split()
    if len(words) > max_words:
        line = " ".join(words[:max_words])
        cut = max(line.rfind("."), line.rfind("!"), line.rfind("?"))
        line = line[:cut + 1] if cut > 10 else line
    return line
