"""Reply suggestions, drafts and the assistant for one user (their own session, or an ingest key)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import Field

from townsquare.ingest.records import ExternalId
from townsquare.web.deps import ActingUser, Services
from townsquare.web.schemas import Body, Message

router = APIRouter(prefix="/v1/users/{user}", tags=["interact"])


class SuggestionsCreate(Body):
    post: ExternalId


class DraftCreate(Body):
    prompt: Annotated[str, Field(min_length=1, max_length=2000, description="What the post is about.")]


class RewriteCreate(Body):
    text: Annotated[str, Field(min_length=1, max_length=5000)]
    how: Literal["shorter", "warmer", "more_formal", "add_question"] = "shorter"


class QuestionCreate(Body):
    question: Annotated[str, Field(min_length=1, max_length=1000)]


def _timed(services, task: str, call):
    start = time.perf_counter()
    try:
        return call()
    finally:
        services.metrics.models.labels("interact", task).observe(time.perf_counter() - start)


@router.post("/suggestions")
def suggestions(body: SuggestionsCreate, row: ActingUser, services: Services) -> dict[str, Any]:
    """Reply suggestions for a post, in the user's voice, with why there are fewer or none."""
    result = _timed(
        services, "suggest", lambda: services.interact().suggester.suggest(body.post, int(row["id"]))
    )
    return asdict(result)


class SuggestionFeedback(Body):
    outcome: Literal["picked", "edited", "ignored"]
    text: Annotated[str | None, Field(None, max_length=5000, description="What the user posted (edited only).")]


@router.post("/suggestions/{suggestion}/feedback", status_code=201)
def suggestion_feedback(suggestion: Annotated[int, Path(ge=1, le=2**62)], body: SuggestionFeedback,
                        row: ActingUser, services: Services) -> Message:
    """What the user did with one of their suggestions: picked it, edited it (with the text they posted) or
    ignored it. ``train scorer --feedback`` learns from these outcomes."""
    from townsquare.interact.store_io import record_feedback

    record_feedback(services.store, suggestion, body.outcome, body.text, user_id=int(row["id"]))
    return Message(detail=f"recorded {body.outcome} for suggestion {suggestion}")


@router.post("/drafts")
def draft(body: DraftCreate, row: ActingUser, services: Services) -> dict[str, Any]:
    """A draft post from a prompt, in the user's voice."""
    return asdict(
        _timed(services, "draft", lambda: services.interact().drafter.draft(int(row["id"]), body.prompt))
    )


@router.post("/drafts/rewrite")
def rewrite(body: RewriteCreate, _row: ActingUser, services: Services) -> dict[str, Any]:
    return asdict(
        _timed(services, "rewrite", lambda: services.interact().drafter.rewrite(body.text, body.how))
    )


@router.post("/assistant")
def ask(body: QuestionCreate, row: ActingUser, services: Services) -> dict[str, Any]:
    """An answer grounded in posts the user can see, with citations."""
    return asdict(
        _timed(
            services, "assistant", lambda: services.interact().assistant.answer(int(row["id"]), body.question)
        )
    )
