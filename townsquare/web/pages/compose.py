"""Writing: the composer with reply suggestions, drafts from a prompt, and the assistant."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from townsquare.errors import TownsquareError
from townsquare.ingest.records import InteractionKind, InteractionRecord, PostRecord
from townsquare.web.deps import Services
from townsquare.web.pages.base import Text, Viewer, not_shown, render, with_notice
from townsquare.web.pages.posts import in_words, shown_post

router = APIRouter()


@router.get("/compose")
def compose_page(
    request: Request,
    services: Services,
    viewer: Viewer,
    reply_to: Annotated[str | None, Query(max_length=256)] = None,
    suggested: Annotated[str, Query(max_length=200)] = "",
    use: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The composer; a reply shows suggestions. Without JavaScript, a suggestion's button asks for this page again
    with ``use`` (its id) and ``suggested`` (the ones shown): the same suggestions, and that one in the text box."""
    parent = shown_post(services, viewer, reply_to) if reply_to else None
    if reply_to and parent is None:
        return not_shown(request, viewer)
    suggestions, why_none = [], []
    if parent is not None and use:
        from townsquare.interact.store_io import suggestion_texts

        ids = _ids(suggested)
        texts = suggestion_texts(services.store, ids, user_id=viewer.user_id, post_id=int(parent["id"]))
        suggestions = [SimpleNamespace(id=i, text=texts[i]) for i in ids if i in texts]
        picked = int(use) if use.isascii() and use.isdigit() and int(use) in texts else None
        return render(request, "compose.html", viewer, parent=parent, suggestions=suggestions, why_none=[],
                      draft=texts.get(picked), picked=picked)
    if parent is not None:
        try:
            found = services.interact().suggester.suggest(int(parent["id"]), viewer.user_id)
            suggestions, why_none = found.items, found.reasons
        except TownsquareError as exc:
            why_none = [str(exc)]
    plain = None if not why_none else "Some possible replies were left out." if suggestions else \
        "No reply suggestions for this post: write your own."
    return render(request, "compose.html", viewer, parent=parent, suggestions=suggestions, why_none=why_none,
                  why_plain=plain, draft=None)


@router.post("/draft")
def draft(request: Request, services: Services, viewer: Viewer, prompt: Text) -> Response:
    try:
        made = services.interact().drafter.draft(viewer.user_id, prompt)
        text, why_none = made.text, made.reasons
    except TownsquareError as exc:
        text, why_none = "", [str(exc)]
    plain = None if not why_none else "Read the draft over before you post it: it was changed or simplified." \
        if text else "No draft this time: write the post yourself, or try other words."
    return render(request, "compose.html", viewer, parent=None, suggestions=[], why_none=why_none, why_plain=plain,
                  draft=text, prompt=prompt)


@router.get("/assistant")
def assistant(
    request: Request,
    services: Services,
    viewer: Viewer,
    question: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    answer, error = None, None
    if question:
        try:
            answer = services.interact().assistant.answer(viewer.user_id, question)
        except TownsquareError as exc:
            error = str(exc)
    return render(request, "assistant.html", viewer, question=question or "", answer=answer, error=error)


@router.post("/compose")
def compose(
    request: Request,
    services: Services,
    viewer: Viewer,
    text: Text,
    reply_to: Annotated[str, Form(max_length=256)] = "",
    suggested: Annotated[str, Form(max_length=200)] = "",
    picked: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    parent = shown_post(services, viewer, reply_to) if reply_to else None
    if reply_to and parent is None:
        return not_shown(request, viewer)
    if not text.strip():
        return render(request, "compose.html", viewer, 422, parent=parent, suggestions=[], why_none=[], draft=None,
                      error="There is nothing to post: the text is only spaces.")
    me = services.store.find_user(viewer.user_id)
    now = datetime.now(UTC)
    records: list[Any] = [
        PostRecord(
            id=f"web-{uuid.uuid4().hex[:16]}",
            author=me["external_id"],
            text=text,
            reply_to=reply_to or None,
            created_at=now,
        )
    ]
    if reply_to:
        records.append(
            InteractionRecord(
                user=me["external_id"], post=reply_to, kind=InteractionKind.reply, created_at=now
            )
        )
    services.ingest(records, source="web composer")
    if parent is not None:
        _suggestion_feedback(services, viewer.user_id, int(parent["id"]), text, suggested, picked)
    action, notice = _posted(services, records[0].id)
    # the author lands on the post: what they wrote, where it went (the thread of a reply), and, when moderation
    # acted on it, why it is hidden or labelled (and an appeal once a moderator decided)
    return with_notice(request, f"/posts/{records[0].id}", "Posted" if action == "hide" else notice)


def _posted(services, external_id: str) -> tuple[str, str]:
    """A new post's moderation action and the notice for its author: "Posted", or what moderation did
    with it and why, in words."""
    if not services.config.moderate_on_ingest:
        return "allow", "Posted"
    return in_words(services, int(services.store.find_post(external_id)["id"]), None)


def _suggestion_feedback(services, user_id: int, post_id: int, text: str, suggested: str, picked: str) -> None:
    """What the author did with the reply suggestions the composer showed (training data for ``train scorer
    --feedback``): the one posted as it was is picked (clicked, or typed out); the one clicked and then
    changed is edited, with the text posted; the others are ignored. Ids that are not this user's
    suggestions are passed over."""
    from townsquare.interact.store_io import record_feedback, suggestion_texts

    shown = suggestion_texts(services.store, _ids(suggested), user_id=user_id, post_id=post_id)
    posted = " ".join(text.split())
    same = next((i for i, t in shown.items() if " ".join(t.split()) == posted), None)
    clicked = int(picked) if picked.isascii() and picked.isdigit() and int(picked) in shown else None
    for i in shown:
        outcome = "picked" if i == same else "edited" if i == clicked and same is None else "ignored"
        record_feedback(services.store, i, outcome, text if outcome == "edited" else None, user_id=user_id)


def _ids(suggested: str) -> list[int]:
    """The suggestion ids in a form's comma-separated ``suggested`` (anything else in it is passed over)."""
    return [int(i) for i in suggested.split(",") if i.strip().isascii() and i.strip().isdigit() and len(i.strip()) < 19]
