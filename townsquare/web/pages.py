"""The web app: server-rendered pages over the same services as the API.

Forms post and redirect (so every page works without JavaScript); ``static/app.js`` only adds
small conveniences. The session cookie is HttpOnly and SameSite=Lax, so other sites cannot post
these forms with it.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy import or_, select

from townsquare.errors import TownsquareError
from townsquare.feed.explain import first_words
from townsquare.ingest.records import InteractionKind, InteractionRecord, PostRecord
from townsquare.safety.queue import appeal_case, decide_case, latest_case, list_cases
from townsquare.storage.schema import posts, users
from townsquare.storage.visibility import may_see
from townsquare.web.auth import Principal
from townsquare.web.dashboard import dashboard_plots
from townsquare.web.deps import COOKIE, Services
from townsquare.web.routers.feed import serve_page
from townsquare.web.routers.moderation import open_report_case

router = APIRouter()
# The post actions, each with what it did and what follows, for the notice on the page it returns to.
ACTIONS = {"like": ("Liked", "your feed will show more like it"),
           "repost": ("Reposted", "your followers will see it"),
           "hide": ("Hidden", "it will not come back, and less like it will"),
           "report": ("Reported", "a moderator will look at it")}
Text = Annotated[str, Form(min_length=1, max_length=2000)]


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    """The templates, loaded on first use and kept (Jinja compiles each template once)."""
    templates = Jinja2Templates(directory=str(resources.files("townsquare.web") / "templates"))
    templates.env.filters["link_posts"] = link_posts
    return templates


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
        replied_to=_replied_to(services, viewer.user_id, [item["post"] for item in page["items"]] if page else []),
        error=error,
        steering=steering,
        notice=notice,
        actions=ACTIONS,
    )


def _replied_to(services, user_id: int, post_ids: list[str]) -> dict[str, dict[str, str | None]]:
    """For each of ``post_ids`` that answers another post: the parent's author, first words and id (all
    None when ``user_id`` may not see the parent, ``_visible``), so a reply is never shown without context."""
    if not post_ids:
        return {}
    with services.store.read() as conn:
        links = dict(conn.execute(select(posts.c.external_id, posts.c.reply_to_id)
                                  .where(posts.c.external_id.in_(post_ids), posts.c.reply_to_id.is_not(None))).all())
        parents = {r["id"]: r for r in _visible(services, conn, user_id, posts.c.id.in_(set(links.values())))}
    hidden = {"author": None, "text": None, "post": None}
    return {child: {"author": "@" + p["handle"], "text": first_words(p["text"], 60), "post": p["external_id"]}
            if (p := parents.get(parent)) else hidden for child, parent in links.items()}


def _visible(services, conn, user_id: int, where, limit: int | None = None,
             moderator: bool = False) -> list[dict[str, Any]]:
    """The posts matching ``where`` that ``user_id`` may see, oldest first, with their authors' handles:
    ``townsquare.storage.visibility``'s rule, and nothing moderation hides from the feed except the
    viewer's own posts and, for a ``moderator``, every post: those are marked ``hidden`` (an author is
    told why, ``post_page``)."""
    query = (select(posts.c.id, posts.c.external_id, posts.c.text, posts.c.created_at, posts.c.reply_to_id,
                    posts.c.author_id, users.c.handle)
             .join(users, users.c.id == posts.c.author_id)
             .where(where, may_see(user_id), posts.c.repost_of_id.is_(None))
             .order_by(posts.c.created_at, posts.c.id).limit(limit))
    rows = [dict(r) for r in conn.execute(query).mappings()]
    moderation = getattr(services.feed.env, "moderation", None)
    if moderation is not None and rows:
        verdicts = moderation.verdicts([r["id"] for r in rows])
        for r in rows:
            r["hidden"] = getattr(verdicts.get(r["id"]), "action", "allow") == "hide"
            r["labels"] = getattr(verdicts.get(r["id"]), "labels", ())
        rows = [r for r in rows if not r["hidden"] or moderator or r["author_id"] == user_id]
    return rows


_POST_PAGE = re.compile(r"/posts/[^/?#\s]+")


def _shown_post(services, viewer: Principal, ref: str) -> dict[str, Any] | None:
    """The post ``ref`` if ``viewer`` may see it (``_visible``), else None: what the pages that act on a
    post (reply, like, report...) check first, so none shows or touches a post its viewer may not see."""
    with services.store.read() as conn:
        rows = _visible(services, conn, viewer.user_id, posts.c.external_id == ref, limit=1,
                        moderator="moderate" in viewer.scopes)
    return rows[0] if rows else None


def _not_shown(request: Request, viewer: Principal) -> HTMLResponse:
    # the same answer whether the post never existed or is not for this viewer
    return _render(request, "error.html", viewer, 404, message="This post does not exist, or it is not shown to you.")


@router.get("/posts/{ref}")
def post_page(request: Request, services: Services, ref: Annotated[str, Path(min_length=1, max_length=256)]) -> Response:
    """One post with the post it answers and its replies: the assistant's citations link here."""
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    thread = visible_thread(services, viewer.user_id, ref, moderator="moderate" in viewer.scopes)
    if thread is None:
        return _not_shown(request, viewer)
    post = thread["post"]
    statement = None
    if post.get("hidden") and post["author_id"] == viewer.user_id:
        statement = _hidden_statement(services, post)
    elif post.get("hidden"):  # a moderator looking at the thread
        statement = {"why": "Moderation hides it from everyone else.", "case": None, "author": False}
    return _render(request, "post.html", viewer, actions=ACTIONS, statement=statement, **thread)


def _hidden_statement(services, post: dict[str, Any]) -> dict[str, Any]:
    """What the author of a hidden post is told: why, and whether they may appeal (a moderator's decision)."""
    case = latest_case(services.store, post["id"], decided=True)
    if case is None:  # the policy hid it; no moderator has looked yet
        why = _in_words(services, post["id"], "It is hidden from others until a moderator looks at it")[1]
        return {"why": why, "case": None, "author": True}
    if case["appeal_open"]:
        return {"why": "Your appeal is with the moderators.", "case": None, "author": True}
    return {"why": f"A moderator hid it on {case['updated_at']:%Y-%m-%d}. If you think that was wrong, you can "
            "appeal.", "case": case["id"], "author": True}


@router.post("/posts/{ref}/appeal")
def appeal(
    request: Request,
    services: Services,
    ref: Annotated[str, Path(min_length=1, max_length=256)],
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
) -> Response:
    """The author of a post a moderator hid asks for another look."""
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    thread = visible_thread(services, viewer.user_id, ref)
    post = thread["post"] if thread else None
    case = latest_case(services.store, int(post["id"]), decided=True) if post else None
    if post is None or post["author_id"] != viewer.user_id or case is None:
        return _render(request, "error.html", viewer, 403, message="Only the author of a post a moderator "
                       "decided on may appeal it.")
    try:
        appeal_case(services.store, int(case["id"]), viewer.user_id, reason)
    except TownsquareError as exc:  # e.g. no moderator has decided yet
        return _with_notice(f"/posts/{ref}", str(exc))
    return _with_notice(f"/posts/{ref}", "Appeal sent: a moderator will look at your post again")


def visible_thread(services, user_id: int, ref: str, max_replies: int = 200,
                   moderator: bool = False) -> dict[str, Any] | None:
    """The post ``ref``, the post it answers and its first replies, each only if ``user_id`` may see it
    (``_visible``). None when the post itself is not visible."""
    with services.store.read() as conn:
        target = conn.execute(select(posts.c.id, posts.c.reply_to_id).where(posts.c.external_id == ref)).first()
        if target is None:
            return None
        around = [posts.c.id == target.id, posts.c.reply_to_id == target.id]
        if target.reply_to_id is not None:
            around.append(posts.c.id == target.reply_to_id)
        rows = _visible(services, conn, user_id, or_(*around), limit=max_replies + 2, moderator=moderator)
    post = next((r for r in rows if r["id"] == target.id), None)
    if post is None:
        return None
    parent = next((r for r in rows if r["id"] == target.reply_to_id), None)
    return {"post": post, "parent": parent, "parent_not_shown": target.reply_to_id is not None and parent is None,
            "replies": [r for r in rows if r["reply_to_id"] == target.id]}


def link_posts(text: str) -> Markup:
    """``text`` escaped, with every ``(/posts/ID)`` the assistant cites made a link to that post's page."""
    return Markup(re.sub(r"\((/posts/[^/?#\s()&<>\"']+)\)", r'(<a href="\1">\1</a>)', str(escape(text))))


def _with_notice(path: str, notice: str) -> RedirectResponse:
    """See ``path`` (a page of this site), with ``notice`` shown on it."""
    return RedirectResponse(f"{path}?{urlencode({'notice': notice})}", status_code=303)


@router.post("/act")
def act(
    request: Request,
    services: Services,
    post: Annotated[str, Form(min_length=1, max_length=256)],
    kind: Annotated[str, Form(max_length=32)],
    back: Annotated[str, Form(max_length=300)] = "/home",
) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    if kind not in ACTIONS:
        return _render(request, "error.html", viewer, 422, message=f"unknown action {kind!r}")
    shown = _shown_post(services, viewer, post)
    if shown is None:
        return _not_shown(request, viewer)
    services.feed.record(viewer.user_id, post, kind)
    if kind == "report":
        open_report_case(services.store, post, viewer.handle or str(viewer.user_id))
    done, then = ACTIONS[kind]
    notice = f"{done} “{first_words(shown['text'], 40)}”: {then}."
    back = back if _POST_PAGE.fullmatch(back) else "/home"  # a post page of this site, or the feed
    return _with_notice(back, notice)


@router.post("/steer")
def steer(request: Request, services: Services, text: Text) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    try:
        services.feed.steer(viewer.user_id, text)
    except TownsquareError as exc:
        return _with_notice("/home", str(exc)[:150])
    return _with_notice("/home", "Steering saved")


@router.post("/unsteer")
def unsteer(request: Request, services: Services, phrase: Annotated[int, Form(ge=1)]) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    services.feed.unsteer(viewer.user_id, phrase)
    return _with_notice("/home", "Steering removed")


@router.get("/compose")
def compose_page(
    request: Request, services: Services, reply_to: Annotated[str | None, Query(max_length=256)] = None
) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    parent = _shown_post(services, viewer, reply_to) if reply_to else None
    if reply_to and parent is None:
        return _not_shown(request, viewer)
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
    if reply_to and _shown_post(services, viewer, reply_to) is None:
        return _not_shown(request, viewer)
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
    action, notice = _posted(services, records[0].id)
    if action == "allow":
        return _with_notice("/home", notice)
    # the author lands on the post, which says why it is hidden (and offers an appeal once a moderator decided)
    return _with_notice(f"/posts/{records[0].id}", "Posted" if action == "hide" else notice)


# What the author is told when the policy acts on their new post (a statement of reasons).
_POSTED = {"label": "Posted, with a label", "demote": "Posted, and shown to fewer people",
           "review": "Posted; a moderator will look at it", "hide": "Posted, but hidden from others until a "
           "moderator looks at it"}


def _posted(services, external_id: str) -> tuple[str, str]:
    """A new post's moderation action and the notice for its author: "Posted", or what moderation did
    with it and why, in words."""
    if not services.config.moderate_on_ingest:
        return "allow", "Posted"
    return _in_words(services, int(services.store.find_post(external_id)["id"]), None)


def _in_words(services, post_id: int, opening: str | None) -> tuple[str, str]:
    """What moderation does with a post and why, in words ("...: personal data (email, phone)."), opened
    by ``opening`` or by the action's own words (``_POSTED``); "Posted" when it does nothing."""
    from townsquare.safety import post_decisions

    try:
        decision = post_decisions(services.store, [post_id], services.policy()).get(post_id)
    except TownsquareError:
        decision = None
    if decision is None or decision.action not in _POSTED:
        return "allow", opening + "." if opening else "Posted"
    why = []
    for reason in decision.reasons:
        kinds = sorted({s["kind"].replace("_", " ") for s in reason.spans})
        words = reason.label_words + (f" ({', '.join(kinds)})" if kinds else "")
        why += [words] if words not in why else []
    return decision.action, f"{opening or _POSTED[decision.action]}: {'; '.join(why)}."


@router.get("/moderation")
def moderation_page(request: Request, services: Services) -> Response:
    viewer = _viewer(request, services)
    if viewer is None:
        return _to_signin()
    if "moderate" not in viewer.scopes:
        return _render(request, "error.html", viewer, 403, message="The moderation queue is for moderators.")
    cases = list_cases(services.store, status="open", limit=50) + list_cases(services.store, "appealed", 50)
    for case in cases:
        case["parts"] = marked(case["text"], [s for r in case["reasons"] for s in r.get("spans") or ()])
    return _render(request, "moderation.html", viewer, cases=cases)


def marked(text: str, spans: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """``text`` cut into (part, kind) pieces, kind None between the spans a classifier found, so a page
    can mark them. Spans that overlap an earlier one, or no longer match the text (edited since it was
    scored), are left unmarked."""
    parts: list[tuple[str, str | None]] = []
    at = 0
    for span in sorted(spans, key=lambda s: (s["start"], -s["end"])):
        start, end = span["start"], span["end"]
        if start < at or end > len(text) or start >= end or text[start:end] != span.get("text", text[start:end]):
            continue
        parts += [(text[at:start], None)] if start > at else []
        parts.append((text[start:end], span["kind"]))
        at = end
    return parts + ([(text[at:], None)] if at < len(text) else [])


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
