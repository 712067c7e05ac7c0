"""``Drafter``: a post in the user's voice from a short prompt, with fitting hashtags; rewrites on request.

The generator writes from the fenced prompt, as the user in the first person (two fenced worked
examples show how); its output is cleaned, loses any clause it copied from those examples, starts at
its first sentence that names the prompt's topic (none: rejected), is kept on topic (cosine to the
prompt), rejected when it talks to a "you" the prompt never mentioned (a small model tends to answer
the user instead of writing for them), stripped of personal data the prompt did not contain, styled
to the user's voice and checked by the safety classifiers. When the generator fails or drifts, a
plain draft built from the prompt's own words is used instead, so a draft never depends on the small
model alone. Hashtags are the platform's own (``HashtagIndex``), chosen by how near the draft is to
the posts that carry them; a prompt word becomes a tag only when it is a clear topic word.
Rewrites (shorter, warmer, more formal, add a question) are rule-based edits with a generated
question where useful; every rewrite is checked again.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select

from townsquare.errors import InputError
from townsquare.interact.candidates import clean_generated
from townsquare.interact.store_io import user_texts
from townsquare.interact.triggers import sensitive_reasons
from townsquare.interact.voice import EMOJI, VoiceProfile, VoiceStyler, without_controls
from townsquare.models import GenerationRequest, Message, chat_messages, fence, find_pii
from townsquare.models.base import Embedder, Generator, l2_normalise
from townsquare.safety.rules import find_violent_speech
from townsquare.storage.schema import posts

REWRITES = ("shorter", "warmer", "more_formal", "add_question")
CHEERFUL = ("warmer", "add_question")  # rewrites that add words of their own, wrong on a sensitive topic
MAX_TEXT = 2000  # characters of a prompt or a draft, as the web app's boxes
_LEAD_IN = re.compile(r"^[^:?\"]{0,60}:\s*")  # a model's "Question:" or "The author could ask:"
_STOP = {"a", "an", "the", "and", "or", "but", "so", "to", "of", "in", "on", "at", "for", "with", "from", "by", "about", "this", "that", "these", "those", "it", "its", "is", "are", "was", "were", "be", "been", "am", "i", "me", "my", "we", "our", "you", "your", "he", "she", "they", "them", "their", "just", "really", "very", "new", "tried", "try", "got", "get", "went", "go", "some", "any", "all", "much", "more", "most", "too", "also", "then", "than", "there", "here", "what", "which", "who", "how", "when", "where", "why", "loved", "love", "like", "liked", "today", "yesterday", "tonight", "week", "weekend"}
_SLANG = {"gonna": "going to", "wanna": "want to", "gotta": "have to", "lol": "", "omg": "", "tbh": "",
          "idk": "I do not know", "u": "you", "ur": "your", "ya": "you", "yeah": "yes", "nope": "no"}
_CONTRACTIONS = {"can't": "cannot", "won't": "will not", "don't": "do not", "i'm": "I am", "it's": "it is",
                 "didn't": "did not", "isn't": "is not", "i've": "I have", "that's": "that is"}
_FILLER = re.compile(r"\b(really|very|just|so|totally|literally|actually|honestly)\s+", re.IGNORECASE)
_HASHTAG = re.compile(r"(?<![\w#])#\w+")
# Words that never make a hashtag on their own: common verbs, adjectives, adverbs, time words and
# nouns too general to name a topic ("#first", "#place"). Hand-written: no tagger ships here.
_NOT_TOPIC = {"finished", "finish", "first", "second", "last", "next", "place", "thing", "things", "stuff", "time",
              "times", "morning", "evening", "night", "afternoon", "again", "finally", "great", "good", "best",
              "better", "nice", "lovely", "amazing", "awesome", "baked", "made", "make", "making", "learning",
              "learn", "reading", "read", "watched", "watch", "took", "take", "came", "come", "back", "home",
              "people", "friends", "friend", "family", "kids", "life", "today", "tomorrow", "year", "years", "days",
              "late", "early", "long", "short", "little", "big", "small", "old", "whole", "still", "ever", "never",
              "always", "every", "other", "another", "ready", "done", "want", "need", "feel", "felt", "think",
              "thought", "know", "knew", "said", "says", "went", "goes", "going", "work", "working", "started",
              "start", "lots", "enjoy", "enjoyed", "happy", "glad", "ripe", "fresh", "free", "open", "closed", "hungry",
              "angry", "sorry", "very", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
              "sunday", "month", "months", "sister", "brother", "mum", "mom", "dad", "wife", "husband", "partner",
              "son", "daughter", "baby", "mother", "father", "parents", "cousin", "neighbour", "neighbor"}
# Endings of verbs, adjectives and adverbs (baked, amazing, finally, leaky); a noun lost to them
# (comedy, puppy) only means one tag fewer.
_NOT_TOPIC_ENDINGS = ("ed", "ing", "ly", "est", "ful", "ous", "ive", "able", "ible", "ish", "less",
                      "ky", "ny", "sy", "zy", "py", "dy", "my", "wy", "fy", "by", "xy")
_YOU = re.compile(r"\b(you|your|yours|yourself|yourselves|you're|youre|you've|you'll|you'd|u|ur)\b", re.IGNORECASE)
# Two worked examples shown to the generator before the real notes: a post written *by* the
# user about what they did, never a reply *to* them.
DRAFT_EXAMPLES = (("made pancakes for breakfast", "Made fluffy pancakes for breakfast this morning. Best start to a Sunday!"),
                  ("my cat knocked over a plant", "My cat just knocked a plant off the shelf and looked at me while doing it."))
DRAFT_SYSTEM = ("You write a social media post for the user, as the user: in the first person (I, my, we), telling "
                "their followers what they did or think. Never reply to the user and never address them as 'you'.")


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
                 max_words: int = 40, min_tag: float = 0.42, tag_margin: float = 0.06, min_topic_word: float = 0.5,
                 index_ttl_s: float = 3600.0) -> None:
        self.store, self.embedder, self.generator, self.safety = store, embedder, generator, safety
        self.min_topic, self.max_words, self.styler = min_topic, max_words, VoiceStyler(embedder)
        self.min_tag, self.tag_margin, self.min_topic_word = min_tag, tag_margin, min_topic_word
        self.index_ttl_s, self._index, self._index_lock = index_ttl_s, None, threading.Lock()

    def draft(self, user_id: int | str, prompt: str) -> Draft:
        prompt = " ".join(without_controls(prompt).split())
        if not prompt:
            raise InputError("the prompt is empty: say what the post is about", field="prompt")
        if len(prompt) > MAX_TEXT:
            raise InputError(f"the prompt has {len(prompt):,} characters; a draft's prompt has at most {MAX_TEXT:,}",
                             field="prompt")
        user = self.store.find_user(user_id)
        refused = [f"the prompt asks for {s.kind} ('{s.text}'): townsquare does not write that"
                   for s in find_violent_speech(prompt)] or sensitive_reasons(prompt, "this post")
        if refused:
            return Draft("", source="refused", reasons=refused)
        voice = VoiceProfile.learn(user_texts(self.store, user["id"]))
        reasons: list[str] = []
        body, source = self._generate(prompt, voice, reasons), "generated"
        if not body:
            body, source = _words(_from_prompt(prompt), self.max_words), "prompt"
        body = self.styler.apply(_HASHTAG.sub("", body), voice, topic=prompt)
        tags = self.hashtags(prompt, body, voice)
        text = f"{body} {' '.join('#' + t for t in tags)}".strip()
        return self._checked(Draft(text, tags, source, reasons), prompt)

    def rewrite(self, text: str, how: str) -> Draft:
        if how not in REWRITES:
            raise InputError(f"unknown rewrite {how!r}; use one of: {', '.join(REWRITES)}", field="how")
        text = without_controls(text)  # NUL, BEL, terminal escapes: nothing a post means
        if not text.strip():
            raise InputError("the draft is empty: give the text to rewrite", field="text")
        if len(text) > MAX_TEXT:
            raise InputError(f"the draft has {len(text):,} characters; rewrite at most {MAX_TEXT:,}", field="text")
        if how in CHEERFUL and (refused := sensitive_reasons(text, "this change")):
            return Draft(text, source="unchanged", reasons=refused)  # no "Hope you all have a lovely day." on a death
        tags = _HASHTAG.findall(text)
        body = _HASHTAG.sub("", text).strip()
        body = getattr(self, f"_{how}")(body)
        return self._checked(Draft(" ".join([body, *tags]).strip(), [t[1:] for t in tags], how), text)

    # -- generation ---------------------------------------------------------------------------
    def _generate(self, prompt: str, voice: VoiceProfile, reasons: list[str]) -> str:
        if self.generator is None:
            return ""
        words = max(8, min(self.max_words, int(voice.words * 1.3)))
        request = GenerationRequest(messages=draft_messages(prompt, voice.describe(), words), max_tokens=72,
                                    temperature=0.0, stop=["\n\n"], repeat_penalty=1.2)
        try:
            # cut at the hard cap only: the styler trims to the user's length at a sentence end, not mid-sentence
            text = clean_generated(self.generator.generate(request).text, max_words=self.max_words)
        except Exception as error:  # noqa: BLE001  (the generator is optional: fall back to the prompt's words)
            reasons.append(f"generator failed ({error}); drafted from the prompt")
            return ""
        if not text:
            return ""
        if _YOU.search(text) and not _YOU.search(prompt):
            reasons.append("generated draft talked to 'you' instead of writing as the user; drafted from the prompt")
            return ""
        text = _without_copied_clauses(text, prompt)
        if not text:
            reasons.append("generated draft only repeated the worked examples; drafted from the prompt")
            return ""
        text = _from_first_topic_sentence(text, prompt)
        if not text:
            reasons.append("generated draft never mentioned what the prompt is about; drafted from the prompt")
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
                q = _LEAD_IN.sub("", q).strip().strip('"\u201c\u201d\'')  # 'The author could ask: "...?"'
                if q.endswith("?") and '"' not in q and ":" not in q and not find_pii(q):
                    return q
            except Exception:  # noqa: BLE001, S110  (any backend failure: a stock question below)
                pass
        return "Has anyone else tried it?"

    # -- rewrites -----------------------------------------------------------------------------
    def _shorter(self, body: str) -> str:
        """About half the words: filler words out, then whole sentences, greetings and one- or two-word
        interjections ("Hi all!", "Wow.") left out, until half the words are reached (at least one sentence)."""
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", _FILLER.sub("", body).strip()) if s]
        content = [s for s in sentences if len(s.split()) > 2] or sentences
        goal, kept = max(1, len(body.split()) // 2), []
        for sentence in content:
            if kept and sum(len(k.split()) for k in kept) + len(sentence.split()) > goal:
                break
            kept.append(sentence)
        text = _words(" ".join(kept), self.max_words)
        return text[:1].upper() + text[1:] if body[:1].isupper() else text  # "Honestly the broth" -> "The broth"

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
        body = body.rstrip()
        if body.endswith("?"):
            return body
        return f"{body if body.endswith(('.', '!')) else body + '.'} {self._ask(body)}"

    # -- shared -------------------------------------------------------------------------------
    def hashtags(self, prompt: str, body: str, voice: VoiceProfile, k: int = 2) -> list[str]:
        """Up to ``k`` platform hashtags that fit the draft (near the best one), else one clear topic word, else none."""
        words = [w for w in re.findall(r"[a-z0-9]+", prompt.lower()) if w not in _STOP]
        a, b = self.embedder.embed([prompt, body])
        query = l2_normalise((a + b)[None])[0]
        ranked = [(t, s) for t, s in self.tag_index().rank(query, words, voice.hashtags) if s >= self.min_tag]
        if ranked:
            return [t for t, s in ranked if s >= ranked[0][1] - self.tag_margin][:k]
        return self._topic_word(words, a)

    def tag_index(self) -> HashtagIndex:
        """The platform's hashtags, built on first use and again once ``index_ttl_s`` has passed."""
        with self._index_lock:
            if self._index is None or time.monotonic() - self._index.built_at > self.index_ttl_s:
                self._index = HashtagIndex.build(self.store, self.embedder)
            return self._index

    def _topic_word(self, words: list[str], prompt_vector: np.ndarray) -> list[str]:
        """The prompt word that carries its topic ("ramen"), if one clearly does; never a verb or an adjective."""
        nouns = list(dict.fromkeys(w for w in words if w.isalpha() and len(w) >= 4 and w not in _NOT_TOPIC
                                   and not w.endswith(_NOT_TOPIC_ENDINGS)))
        if not nouns:
            return []
        sims = self.embedder.embed(nouns) @ prompt_vector
        best = int(np.argmax(sims))
        return [nouns[best]] if sims[best] >= self.min_topic_word else []

    def _checked(self, draft: Draft, source_text: str) -> Draft:
        """Mask personal data the user did not write themselves; drop the draft if safety blocks it."""
        for span in sorted(find_pii(draft.text), key=lambda s: -s.start):
            value = draft.text[span.start:span.end]
            if value not in source_text:
                draft.text = draft.text[:span.start] + "[removed]" + draft.text[span.end:]
                draft.reasons.append(f"removed {span.kind} the prompt did not contain")
        check = self.safety.check([draft.text])[0]
        if not check.allowed:
            draft.reasons.append("the draft failed the safety check: " + "; ".join(check.reasons()))
            draft.text, draft.hashtags = "", []
        return draft


def _stems(text: str) -> set[str]:
    """Words cut to five letters, so "tomato" and "tomatoes", "garden" and "gardening" meet."""
    return {w[:5] for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) >= 3}


def _topic_words(prompt: str) -> set[str]:
    """The prompt's words that name its topic (nouns, as far as word lists tell): a draft keeps one."""
    words = re.findall(r"[a-z0-9]+", prompt.lower())
    return _stems(" ".join(w for w in words if w not in _STOP and w not in _NOT_TOPIC
                           and not w.endswith(_NOT_TOPIC_ENDINGS)))


def _from_first_topic_sentence(text: str, prompt: str) -> str:
    """The text from its first sentence that names the prompt's topic ("" if none does): the styler keeps
    a draft's first sentences, and a small model often opens with one about something else."""
    topic = _topic_words(prompt)
    if not topic:
        return text
    sentences = re.split(r"(?<=[.!?])\s+", text)
    first = next((i for i, sentence in enumerate(sentences) if topic & _stems(sentence)), None)
    return "" if first is None else " ".join(sentences[first:])


def _shingles(text: str, n: int = 4) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z']+", text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def _invented_runs() -> set[tuple[str, ...]]:
    """The worked examples' four-word runs that hold a detail their notes did not give ("looked at me
    while", "fluffy pancakes for breakfast"), not everyday phrases ("for breakfast this morning")."""
    runs: set[tuple[str, ...]] = set()
    for notes, post in DRAFT_EXAMPLES:
        known = set(re.findall(r"[a-z']+", notes.lower())) | _STOP | _NOT_TOPIC
        runs |= {run for run in _shingles(post) if any(w not in known for w in run)}
    return runs


_EXAMPLE_RUNS = _invented_runs()


def _without_copied_clauses(text: str, prompt: str) -> str:
    """The text without its clauses that repeat an invented detail of a worked example (``_invented_runs``)
    the prompt does not share: a small model carries them over ("... came out flat, looked at me while I
    was making it")."""
    copied = _EXAMPLE_RUNS - _shingles(prompt)
    clauses = re.split(r"(?<=[,.!?;])\s+", text)
    kept = [c for c in clauses if not _shingles(c) & copied]
    if len(kept) == len(clauses):
        return text
    out = " ".join(kept).strip().rstrip(",;")
    return out + "." if out and not out.endswith((".", "!", "?")) else out


def draft_messages(prompt: str, style: str, words: int) -> list[Message]:
    """System rules, two worked examples, then the user's fenced notes with the task restated last."""
    task = (f"Write the user's own post about the notes, in the first person, at most {words} words. "
            f"Style: {style}. Answer with the post only.")
    system, user = chat_messages(DRAFT_SYSTEM, [("notes", prompt)], task)
    shots = [m for notes, post in DRAFT_EXAMPLES for m in (
        Message(role="user", content=f"{fence(notes, 'notes')}\n\n{task}"), Message(role="assistant", content=post))]
    return [system, *shots, user]


def _spells(word: str, tag: str) -> bool:
    """A prompt word that the tag starts or ends with: chess -> chesstwitter, train -> bytrain."""
    return len(word) >= 3 and (tag == word or tag.endswith(word) or (len(word) >= 4 and tag.startswith(word)))


@dataclass
class HashtagIndex:
    """The platform's hashtags, each with the centroid of the posts that carry it and the vector of its name.

    ``rank`` scores every tag for a draft's vector: mostly by how near the draft is to the posts
    that carry the tag, partly by how near it is to the tag's name, plus a little when a prompt
    word spells the tag and when the tag is one of the user's favourites.
    """

    tags: list[str]
    centroids: np.ndarray = field(repr=False)
    names: np.ndarray = field(repr=False)
    built_at: float = 0.0

    @classmethod
    def build(cls, store, embedder: Embedder, *, max_posts: int = 2000, per_tag: int = 20,
              scan: int = 40_000) -> HashtagIndex:
        """From the newest public live posts with hashtags: at most ``per_tag`` a tag and ``max_posts`` in all."""
        kept: list[tuple[str, list[str]]] = []
        taken: Counter[str] = Counter()
        with store.read() as conn:
            rows = conn.execute(select(posts.c.text, posts.c.hashtags).where(
                posts.c.deleted.is_(False), posts.c.visibility == "public", posts.c.repost_of_id.is_(None))
                .order_by(posts.c.id.desc()).limit(scan))
            for text, tags in rows:
                fresh = [t for t in dict.fromkeys(t.lower() for t in tags or []) if taken[t] < per_tag]
                if fresh:
                    kept.append((text, fresh))
                    taken.update(fresh)
                if len(kept) >= max_posts:
                    break
        names = sorted(taken)
        if not names:
            empty = np.zeros((0, embedder.dim), np.float32)
            return cls([], empty, empty, time.monotonic())
        row = {t: i for i, t in enumerate(names)}
        sums = np.zeros((len(names), embedder.dim), np.float32)
        for vector, (_, tags) in zip(embedder.embed([text for text, _ in kept]), kept):
            sums[[row[t] for t in tags]] += vector
        return cls(names, l2_normalise(sums), embedder.embed(names), time.monotonic())

    def rank(self, query: np.ndarray, words: Iterable[str] = (), favourites: Iterable[str] = (),
             k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` best tags for ``query`` with their scores, best first."""
        if not self.tags:
            return []
        words, favourites = list(words), set(favourites)
        scores = 0.6 * (self.centroids @ query) + 0.4 * (self.names @ query)
        scores += np.array([0.08 * any(_spells(w, t) for w in words) + 0.04 * (t in favourites) for t in self.tags])
        return [(self.tags[i], round(float(scores[i]), 4)) for i in np.argsort(-scores)[:k]]


def _words(text: str, most: int) -> str:
    """``text`` cut to ``most`` words, with an ellipsis where it was cut."""
    words = text.split()
    return text if len(words) <= most else " ".join(words[:most]).rstrip(",;:") + "…"


def _from_prompt(prompt: str) -> str:
    text = prompt.strip().rstrip(".")
    return text[:1].upper() + text[1:] + "!"
