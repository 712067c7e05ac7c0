"""``Drafter``: a post in the user's voice from a short prompt, with fitting hashtags; rewrites on request.

The generator writes from the fenced prompt; its output is cleaned, kept on topic (cosine to the
prompt), stripped of personal data the prompt did not contain, styled to the user's voice and
checked by the safety classifiers. When the generator fails or drifts, a plain draft built from
the prompt's own words is used instead, so a draft never depends on the small model alone.
Rewrites (shorter, warmer, more formal, add a question) are rule-based edits with a generated
question where useful; every rewrite is checked again.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select

from townsquare.errors import InputError
from townsquare.interact.candidates import clean_generated
from townsquare.interact.store_io import user_texts
from townsquare.interact.voice import EMOJI, VoiceProfile, VoiceStyler
from townsquare.models import GenerationRequest, chat_messages, find_pii
from townsquare.models.base import Embedder, Generator
from townsquare.storage.schema import posts

REWRITES = ("shorter", "warmer", "more_formal", "add_question")
_STOP = {"a", "an", "the", "and", "or", "but", "so", "to", "of", "in", "on", "at", "for", "with", "from", "by", "about", "this", "that", "these", "those", "it", "its", "is", "are", "was", "were", "be", "been", "am", "i", "me", "my", "we", "our", "you", "your", "he", "she", "they", "them", "their", "just", "really", "very", "new", "tried", "try", "got", "get", "went", "go", "some", "any", "all", "much", "more", "most", "too", "also", "then", "than", "there", "here", "what", "which", "who", "how", "when", "where", "why", "loved", "love", "like", "liked", "today", "yesterday", "tonight", "week", "weekend"}
_SLANG = {"gonna": "going to", "wanna": "want to", "gotta": "have to", "lol": "", "omg": "", "tbh": "",
          "idk": "I do not know", "u": "you", "ur": "your", "ya": "you", "yeah": "yes", "nope": "no"}
_CONTRACTIONS = {"can't": "cannot", "won't": "will not", "don't": "do not", "i'm": "I am", "it's": "it is",
                 "didn't": "did not", "isn't": "is not", "i've": "I have", "that's": "that is"}
_FILLER = re.compile(r"\b(really|very|just|so|totally|literally|actually|honestly)\s+", re.IGNORECASE)
_HASHTAG = re.compile(r"(?<![\w#])#\w+")


@dataclass
class Draft:
    text: str
    hashtags: list[str] = field(default_factory=list)
    source: str = ""  # generated | prompt
    reasons: list[str] = field(default_factory=list)
    id: int | None = None


class Drafter:
    """``draft(user_id, prompt)`` and ``rewrite(text, how)``."""

    def __init__(self, store, embedder: Embedder, generator: Generator | None, safety, *, min_topic: float = 0.45,
                 max_words: int = 40) -> None:
        self.store, self.embedder, self.generator, self.safety = store, embedder, generator, safety
        self.min_topic, self.max_words, self.styler = min_topic, max_words, VoiceStyler()

    def draft(self, user_id: int | str, prompt: str) -> Draft:
        prompt = " ".join(prompt.split())
        if not prompt:
            raise InputError("the prompt is empty: say what the post is about", field="prompt")
        user = self.store.find_user(user_id)
        voice = VoiceProfile.learn(user_texts(self.store, user["id"]))
        reasons: list[str] = []
        body, source = self._generate(prompt, voice, reasons), "generated"
        if not body:
            body, source = _from_prompt(prompt), "prompt"
        body = self.styler.apply(_HASHTAG.sub("", body), voice)
        tags = self.hashtags(user["id"], prompt, voice)
        text = f"{body} {' '.join('#' + t for t in tags)}".strip()
        return self._checked(Draft(text, tags, source, reasons), prompt)

    def rewrite(self, text: str, how: str) -> Draft:
        if how not in REWRITES:
            raise InputError(f"unknown rewrite {how!r}; use one of: {', '.join(REWRITES)}", field="how")
        tags = _HASHTAG.findall(text)
        body = _HASHTAG.sub("", text).strip()
        body = getattr(self, f"_{how}")(body)
        return self._checked(Draft(" ".join([body, *tags]).strip(), [t[1:] for t in tags], how), text)

    # -- generation ---------------------------------------------------------------------------
    def _generate(self, prompt: str, voice: VoiceProfile, reasons: list[str]) -> str:
        if self.generator is None:
            return ""
        words = max(8, min(self.max_words, int(voice.words * 1.3)))
        request = GenerationRequest(messages=chat_messages(
            "You write social media posts in the first person for the user.", [("notes", prompt)],
            f"Write one post from the notes, at most {words} words. Style: {voice.describe()}. "
            "Answer with the post only."), max_tokens=72, temperature=0.0, stop=["\n\n"], repeat_penalty=1.2)
        try:
            text = clean_generated(self.generator.generate(request).text, max_words=words)
        except Exception as error:  # noqa: BLE001  (the generator is optional: fall back to the prompt's words)
            reasons.append(f"generator failed ({error}); drafted from the prompt")
            return ""
        if not text:
            return ""
        a, b = self.embedder.embed([prompt, text])
        if float(a @ b) < self.min_topic:
            reasons.append(f"generated draft drifted off topic ({float(a @ b):.2f}); drafted from the prompt")
            return ""
        return text

    def _ask(self, body: str) -> str:
        if self.generator is not None:
            request = GenerationRequest(messages=chat_messages(
                "You help users write social media posts.", [("post", body)],
                "Write one short question (at most 10 words) the author could ask readers about this post. "
                "Answer with the question only."), max_tokens=24, temperature=0.0, stop=["\n"])
            try:
                q = clean_generated(self.generator.generate(request).text, max_words=12)
                if q.endswith("?") and not find_pii(q):
                    return q
            except Exception:  # noqa: BLE001, S110  (any backend failure: a stock question below)
                pass
        return "Has anyone else tried it?"

    # -- rewrites -----------------------------------------------------------------------------
    def _shorter(self, body: str) -> str:
        first = re.split(r"(?<=[.!?])\s+", body)[0]
        return _FILLER.sub("", first).strip()

    def _warmer(self, body: str) -> str:
        emoji = " 😊" if not EMOJI.search(body) else ""
        body = body.rstrip(".")
        return f"{body}!{emoji} Hope you all have a lovely day." if not body.endswith(("!", "?")) \
            else f"{body}{emoji} Hope you all have a lovely day."

    def _more_formal(self, body: str) -> str:
        words = []
        for word in EMOJI.sub("", body).split():
            core = word.lower().strip(",.!?")
            repl = _CONTRACTIONS.get(core, _SLANG.get(core))
            words.append(word if repl is None else repl + word[len(word.rstrip(",.!?")):])
        text = re.sub(r"!+", ".", " ".join(w for w in words if w))
        sentences = [s.strip() for s in re.split(r"(?<=[.?])\s+", text) if s.strip()]
        text = " ".join(s[:1].upper() + s[1:] for s in sentences)
        return text if text.endswith((".", "?")) else text + "."

    def _add_question(self, body: str) -> str:
        return body if body.rstrip().endswith("?") else f"{body.rstrip()} {self._ask(body)}"

    # -- shared -------------------------------------------------------------------------------
    def hashtags(self, user_id: int, prompt: str, voice: VoiceProfile, k: int = 2) -> list[str]:
        """Tags the platform already uses that match the prompt's words, else its own key words."""
        words = [w for w in re.findall(r"[a-z0-9]+", prompt.lower()) if w not in _STOP and len(w) > 2]
        known = Counter(voice.hashtags)
        with self.store.read() as conn:
            for tags in conn.execute(select(posts.c.hashtags).order_by(posts.c.id.desc()).limit(5000)).scalars():
                known.update(t.lower() for t in tags or [])
        matched = [t for t, _ in known.most_common() if any(w == t or (len(w) > 3 and w in t) for w in words)]
        chosen = list(dict.fromkeys(matched + [w for w in words if len(w) > 3]))
        return chosen[:k]

    def _checked(self, draft: Draft, source_text: str) -> Draft:
        """Mask personal data the user did not write themselves; drop the draft if safety blocks it."""
        for span in sorted(find_pii(draft.text), key=lambda s: -s.start):
            value = draft.text[span.start:span.end]
            if value not in source_text:
                draft.text = draft.text[:span.start] + "[removed]" + draft.text[span.end:]
                draft.reasons.append(f"removed {span.kind} the prompt did not contain")
        check = self.safety.check([draft.text])[0]
        if not check.allowed:
            draft.reasons.append("the draft failed the safety classifiers: " + "; ".join(check.decision.explain()))
            draft.text, draft.hashtags = "", []
        return draft


def _from_prompt(prompt: str) -> str:
    text = prompt.strip().rstrip(".")
    return text[:1].upper() + text[1:] + "!"
