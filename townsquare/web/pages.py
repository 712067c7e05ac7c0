"""The web app: server-rendered pages over the same services as the API.

Forms post and redirect (so every page works without JavaScript); ``static/app.js`` only adds
small conveniences. The session cookie is HttpOnly and SameSite=Lax, so other sites cannot post
these forms with it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from townsquare.errors import TownsquareError
from townsquare.feed.explain import first_words
from townsquare.ingest.loader import Loader
from townsquare.ingest.records import InteractionKind, InteractionRecord, PostRecord
from townsquare.safety.queue import decide_case, list_cases
from townsquare.storage.schema import posts, users
from townsquare.web.auth import Principal
from townsquare.web.dashboard import dashboard_plots
from townsquare.web.deps import COOKIE, Services
from townsquare.web.routers.feed import serve_page
from townsquare.web.routers.moderation import open_report_case

router = APIRouter()
ACTIONS = ("like", "repost", "hide", "report")
Text = Annotated[str, Form(min_length=1, max_length=2000)]


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    """The templates, loaded on first use and kept (Jinja compiles each template once)."""
    return Jinja2Templates(directory=str(resources.files("townsquare.web") / "templates"))


def _viewer(request: Request, services) -> Principal | None:
    token = request.cookies.get(COOKIE)
    return services.sessions.verify(token) if token and token.startswith("tss_") else None


def _render(
    request: Request, name: str, viewer: Principal | None, status: int = 200, **context
) -> HTMLResponse:
    return templates().TemplateResponse(request, name, {"viewer": viewer, **context}, status_code=status)


def _to_signin() -> RedirectResponse:
    return RedirectResponse("/signin", status_code=303)


@router.get("/")
def index(request: Request, services: Services) -> Response:
    return RedirectResponse("/home" if _viewer(request, services) else "/signin", status_code=303)


@router.get("/signin")
def signin_page(request: Request, services: Services) -> HTMLResponse:
    people = []
    if services.config.demo:
        with services.store.read() as conn:
            people = conn.execute(select(users.c.handle, users.c.display_name).order_by(users.c.handle)).all()
    return _render(request, "signin.html", None, demo=services.config.demo, people=people)


@router.post("/signin")
def signin(
    request: Request,
    services: Services,
    handle: Annotated[str, Form(max_length=256)] = "",
    token: Annotated[str, Form(max_length=200)] = "",
    moderator: Annotated[bool, Form()] = False,
) -> Response:
    if token:
        if services.sessions.verify(token) is None:
            return _render(
                request,
                "signin.html",
                None,
                401,
                demo=services.config.demo,
                people=[],
                error="That session token is unknown or expired.",
            )
    elif services.config.demo and handle:
        token, _ = services.sessions.create(handle, ["read", "moderate"] if moderator else ["read"])
    else:
        return _render(
            request,
            "signin.html",
            None,
            400,
            demo=services.config.demo,
            people=[],
            error="Sign in with the session token your platform gave you.",
        )
    response = RedirectResponse("/home", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=services.config.cookie_secure,
        max_age=services.config.session_ttl_s,
    )
    return response


@router.post("/signout")
def signout(request: Request, services: Services) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        services.sessions.end(token)
    response = _to_signin()
    response.delete_cookie(COOKIE)
    return response


@router.get("/home")
def home(
    request: Request,
    services: Services,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    notice: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    page, error = None, None
    try:
        page = serve_page(services, viewer.user_id, 20, cursor)
    except TownsquareError as exc:
        error = str(exc)
    steering = services.feed.steering(viewer.user_id)
    return _render(
        request,
        "home.html",
        viewer,
        page=page,
        replied_to=_replied_to(services.store, [item["post"] for item in page["items"]] if page else []),
        error=error,
        steering=steering,
        notice=notice,
        actions=ACTIONS,
    )


def _replied_to(store, post_ids: list[str]) -> dict[str, dict[str, str | None]]:
    """For each of ``post_ids`` that answers another post: the parent's author and first words (both
    None when the parent is deleted or not public), so a reply is never shown without context."""
    if not post_ids:
        return {}
    parent = posts.alias("parent")
    query = (
        select(posts.c.external_id, users.c.handle, parent.c.text, parent.c.deleted, parent.c.visibility)
        .join(parent, posts.c.reply_to_id == parent.c.id)
        .join(users, users.c.id == parent.c.author_id)
        .where(posts.c.external_id.in_(post_ids))
    )
    with store.read() as conn:
        rows = conn.execute(query).all()
    out = {}
    for child, handle, text, deleted, visibility in rows:
        shown = not deleted and visibility == "public"
        out[child] = {"author": "@" + handle if shown else None, "text": first_words(text, 60) if shown else None}
    return out


@router.post("/act")
def act(
    request: Request,
    services: Services,
    post: Annotated[str, Form(min_length=1, max_length=256)],
    kind: Annotated[str, Form(max_length=32)],
) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    if kind not in ACTIONS:
        return _render(request, "error.html", viewer, 422, message=f"unknown action {kind!r}")
    services.feed.record(viewer.user_id, post, kind)
    if kind == "report":
        open_report_case(services.store, post, viewer.handle or str(viewer.user_id))
    past = {"like": "Liked", "repost": "Reposted", "hide": "Hidden", "report": "Reported"}[kind]
    return RedirectResponse(f"/home?notice={past}+{post}", status_code=303)


@router.post("/steer")
def steer(request: Request, services: Services, text: Text) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    try:
        services.feed.steer(viewer.user_id, text)
    except TownsquareError as exc:
        return RedirectResponse(f"/home?notice={str(exc)[:150]}", status_code=303)
    return RedirectResponse("/home?notice=Steering+saved", status_code=303)


@router.post("/unsteer")
def unsteer(request: Request, services: Services, phrase: Annotated[int, Form(ge=1)]) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    services.feed.unsteer(viewer.user_id, phrase)
    return RedirectResponse("/home?notice=Steering+removed", status_code=303)


@router.get("/compose")
def compose_page(
    request: Request, services: Services, reply_to: Annotated[str | None, Query(max_length=256)] = None
) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    parent = services.store.find_post(reply_to) if reply_to else None
    suggestions, why_none = [], []
    if parent is not None:
        try:
            found = services.interact().suggester.suggest(int(parent["id"]), viewer.user_id)
            suggestions, why_none = [s.text for s in found.items], found.reasons
        except TownsquareError as exc:
            why_none = [str(exc)]
    return _render(
        request, "compose.html", viewer, parent=parent, suggestions=suggestions, why_none=why_none, draft=None
    )


@router.post("/draft")
def draft(request: Request, services: Services, prompt: Text) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    try:
        made = services.interact().drafter.draft(viewer.user_id, prompt)
        text, why_none = made.text, made.reasons
    except TownsquareError as exc:
        text, why_none = "", [str(exc)]
    return _render(
        request, "compose.html", viewer, parent=None, suggestions=[], why_none=why_none, draft=text
    )


@router.get("/assistant")
def assistant(
    request: Request, services: Services, question: Annotated[str | None, Query(max_length=1000)] = None
) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    answer, error = None, None
    if question:
        try:
            answer = services.interact().assistant.answer(viewer.user_id, question)
        except TownsquareError as exc:
            error = str(exc)
    return _render(request, "assistant.html", viewer, question=question or "", answer=answer, error=error)


@router.post("/compose")
def compose(
    request: Request, services: Services, text: Text, reply_to: Annotated[str, Form(max_length=256)] = ""
) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
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
    Loader(services.store).load(records, source="web composer")
    return RedirectResponse("/home?notice=Posted", status_code=303)


@router.get("/moderation")
def moderation_page(request: Request, services: Services) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    if "moderate" not in viewer.scopes:
        return _render(request, "error.html", viewer, 403, message="The moderation queue is for moderators.")
    cases = list_cases(services.store, status="open", limit=50) + list_cases(services.store, "appealed", 50)
    return _render(request, "moderation.html", viewer, cases=cases)


@router.post("/moderation/{case_id}")
def moderate(
    request: Request,
    services: Services,
    case_id: int,
    action: Annotated[str, Form(max_length=16)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    if "moderate" not in viewer.scopes:
        return _render(request, "error.html", viewer, 403, message="Only moderators may decide cases.")
    decision = decide_case(services.store, case_id, viewer.handle or "moderator", action, note=note)
    services.moderation_changed([decision["post_id"]])
    return RedirectResponse("/moderation", status_code=303)


@router.get("/dashboard")
def dashboard(request: Request, services: Services) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    return _render(request, "dashboard.html", viewer, plots=dashboard_plots(services.store))
