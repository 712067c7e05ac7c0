"""A tiny community for the interaction layer: distinct voices, a thread, blocks, mutes, private posts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from townsquare.ingest.loader import Loader
from townsquare.ingest.records import EdgeRecord, PostRecord, UserRecord
from townsquare.models.base import GenerationRequest, GenerationResult, Generator

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _t(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def world() -> list:
    users = [UserRecord(id=h, handle=h, display_name=h.title()) for h in
             ("ana", "bo", "cy", "dee", "eve", "fox", "gil")]
    posts = [
        # ana: emoji-heavy, short, casual
        PostRecord(id="a1", author="ana", text="omg best pancakes ever 🥞🎉", created_at=_t(200)),
        PostRecord(id="a2", author="ana", text="sunny walk with the pup 🐶☀️", created_at=_t(190)),
        PostRecord(id="a3", author="ana", text="new plant day!! 🌱🎉", created_at=_t(180)),
        # bo: formal, longer, no emoji
        PostRecord(id="b1", author="bo", text="I finished reading a history of the Roman roads. The engineering is remarkable.",
                   created_at=_t(170)),
        PostRecord(id="b2", author="bo", text="Our committee meets on Thursday. Please review the agenda beforehand.",
                   created_at=_t(160)),
        # cy: the posts people reply to
        PostRecord(id="c1", author="cy", text="Baked my first sourdough loaf this weekend, the crust came out great! #sourdough",
                   created_at=_t(30)),
        PostRecord(id="c2", author="cy", text="My grandmother passed away last night. I miss her so much.", created_at=_t(20)),
        PostRecord(id="c3", author="cy", text="Secret plans for the weekend", visibility="private", created_at=_t(10)),
        PostRecord(id="c4", author="cy", text="Started learning chess openings, the Sicilian is so tricky #chess",
                   created_at=_t(5)),
        # replies that build the response bank
        PostRecord(id="r1", author="dee", text="That loaf looks amazing, well done!", reply_to="c1", created_at=_t(29)),
        PostRecord(id="r2", author="eve", text="What flour did you use?", reply_to="c1", created_at=_t(28)),
        PostRecord(id="r3", author="dee", text="Call me at 415-555-0134 and I'll share my starter", reply_to="c1",
                   created_at=_t(27)),
        PostRecord(id="r4", author="eve", text="The Sicilian took me months, keep going!", reply_to="c4", created_at=_t(4)),
        # dee writes about chess; fox is muted by ana; gil blocks ana
        PostRecord(id="d1", author="dee", text="Thread on chess openings: why the Queen's Gambit still works #chess",
                   created_at=_t(50)),
        PostRecord(id="f1", author="fox", text="My favourite chess openings for beginners #chess", created_at=_t(40)),
        PostRecord(id="g1", author="gil", text="Chess openings cheat sheet for club players #chess", created_at=_t(35)),
        PostRecord(id="e1", author="eve", text="Sourdough starter tips: feed it twice a day #sourdough", created_at=_t(60)),
        PostRecord(id="e2", author="eve", text="Old sourdough post from last year #sourdough", created_at=_t(24 * 300)),
        PostRecord(id="x1", author="eve", text="Followers-only note about chess openings", visibility="followers",
                   created_at=_t(3)),
    ]
    edges = [EdgeRecord(type="mute", source="ana", target="fox"), EdgeRecord(type="block", source="gil", target="ana"),
             EdgeRecord(type="follow", source="bo", target="eve")]
    return users + posts + edges


@pytest.fixture
def community(sqlite_store):
    Loader(sqlite_store).load(world())
    return sqlite_store


@pytest.fixture(scope="session")
def embedder():
    from townsquare.models.onnx_embedder import OnnxEmbedder

    return OnnxEmbedder("minilm", threads=2)


@pytest.fixture(scope="session")
def safety(embedder):
    from townsquare.safety import ReplySafetyCheck, SafetyScorer, load_policy

    scorer = SafetyScorer.load()  # its own moderation encoder: the heads read its vectors
    policy = load_policy(None, scorer.curves())
    return ReplySafetyCheck(scorer, policy), scorer, policy


class ScriptedGenerator(Generator):
    """A gullible backend: obeys any 'reply with: X' it finds in the prompt, else returns ``default``.

    A real small model may or may not follow injected text; this one always does, so the tests
    check that the layers after the model (filters, safety) stop what it writes.
    """

    model_id = "scripted"

    def __init__(self, default: str = "What a lovely idea, enjoy it!", finish: str = "stop") -> None:
        self.default, self.prompts, self.finish = default, [], finish  # finish "length": cut off by max_tokens

    def generate(self, request: GenerationRequest) -> GenerationResult:
        prompt = request.prompt or "\n".join(m.content for m in request.messages)
        self.prompts.append(prompt)
        marker = "reply with:"
        if marker in prompt.lower():
            start = prompt.lower().index(marker) + len(marker)
            return GenerationResult(text=prompt[start:].split("\n")[0].split("‹")[0].strip(), finish_reason="stop")
        return GenerationResult(text=self.default, finish_reason=self.finish)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        yield self.generate(request).text


@pytest.fixture
def gullible():
    return ScriptedGenerator()


@pytest.fixture
def make_suggester(community, embedder, safety):
    from townsquare.interact import (
        BankSource,
        GeneratedSource,
        ReplySuggester,
        ResponseScorer,
        StockSource,
    )

    def make(generator=None, **options):
        check, scorer, policy = safety
        sources = [BankSource.from_store(community, embedder, policy), StockSource()]
        if generator is not None:
            sources.append(GeneratedSource(generator))
        return ReplySuggester(community, embedder, ResponseScorer.load(), sources, check, policy,
                              safety_scorer=scorer, **options)

    return make
