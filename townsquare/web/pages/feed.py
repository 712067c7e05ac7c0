"""The home feed, with why each post is there, and what a reader does with a post (like, hide, report...)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from townsquare.errors import InputError, NotFoundError, StaleCursorError, TownsquareError
from townsquare.feed.explain import first_words
from townsquare.safety.queue import report_post
from townsquare.storage.schema import interactions, posts
from townsquare.web.deps import Services
from townsquare.web.pages.base import ACTIONS, Text, Viewer, not_shown, render, shown_notice, with_notice
from townsquare.web.pages.posts import replied_to, shown_post
from townsquare.web.routers.feed import serve_page

router = APIRouter()

@router.get("/home")
def home(
    request: Request,
    services: Services,
    viewer: Viewer,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    page, error, status, notice = None, None, 200, shown_notice(request)
    try:
        try:
            page = serve_page(services, viewer.user_id, 20, cursor)
        except StaleCursorError:  # any other bad cursor (garbage, forged, another user's) stays an error
            # "More posts" after a long pause: a new feed, said so, rather than an error page with no way on
            page, cursor = serve_page(services, viewer.user_id, 20, None), None
            refreshed = "Your feed was refreshed: the page you were on expired while you were away."
            notice = f"{refreshed} {notice}" if notice else refreshed
        if cursor:  # a page served again (an action returns to it): without the posts hidden since
            gone = turned_down(services, viewer.user_id, [item["post"] for item in page["items"]])
            page["items"] = [item for item in page["items"] if item["post"] not in gone]
    except TownsquareError as exc:  # a bad or expired cursor (the page says so), or a feed that failed
        error, status = str(exc), 422 if isinstance(exc, (InputError, NotFoundError)) else 503
    steering = services.feed.steering(viewer.user_id)
    return render(
        request,
        "home.html",
        viewer,
        status,
        page=page,
        replied_to=replied_to(services, viewer.user_id, [item["post"] for item in page["items"]] if page else []),
        error=error,
        steering=steering,
        notice=notice,
        actions=ACTIONS,
        cursor=cursor if page else None,
    )


def turned_down(services, user_id: int, refs: list[str]) -> set[str]:
    """Which of the posts ``refs`` the user hid or marked not interested. The feed serves a page asked for again
    as it was, less what moderation or a block took since; the page an action returns to drops these too, as
    "Hidden: it will not come back" promises."""
    if not refs:
        return set()
    with services.store.read() as conn:
        return set(conn.execute(
            select(posts.c.external_id).join(interactions, interactions.c.post_id == posts.c.id)
            .where(interactions.c.user_id == user_id, interactions.c.kind.in_(("hide", "not_interested")),
                   posts.c.external_id.in_(refs))).scalars())


_POST_PAGE = re.compile(r"/posts/[^/?#\s\\][^?#\s\\]*")  # at:// ids keep their slashes; always this site
# The feed page an action was taken on (its cursor, if past the first) and the post to scroll back to.
_FEED_PAGE = re.compile(r"/home(\?cursor=[A-Za-z0-9_%=-]{1,300})?(#[!$%&'()*+,\-./0-9:;=?@A-Z_a-z~]{1,600})?")


def on_site(back: str) -> bool:
    """Whether ``back`` is a page of this site an action may return to: a post's page or the feed."""
    if _POST_PAGE.fullmatch(back):
        return not {".", ".."} & set(back.split("/"))
    return _FEED_PAGE.fullmatch(back) is not None


@router.post("/act")
def act(
    request: Request,
    services: Services,
    viewer: Viewer,
    post: Annotated[str, Form(min_length=1, max_length=256)],
    kind: Annotated[str, Form(max_length=32)],
    back: Annotated[str, Form(max_length=1000)] = "/home",
) -> Response:
    if kind not in ACTIONS:
        return render(request, "error.html", viewer, 422, message=f"unknown action {kind!r}")
    shown = shown_post(services, viewer, post)
    if shown is None:
        return not_shown(request, viewer)
    recorded = services.feed.record(viewer.user_id, post, kind)
    if kind == "report" and recorded:  # one report a user and post: no reopening a case at will
        report_post(services.store, post)
    done, then = ACTIONS[kind]
    notice = f"{done} “{first_words(shown['text'], 40)}”: {then}."
    return with_notice(request, back if on_site(back) else "/home", notice)


@router.post("/steer")
def steer(request: Request, services: Services, viewer: Viewer, text: Text) -> Response:
    from townsquare.feed.steering import parse_steering

    try:
        services.feed.steer(viewer.user_id, text)
    except TownsquareError as exc:
        return with_notice(request, "/home", str(exc)[:150])
    saved = "; ".join(f"{p.direction} {p.phrase}" for p in parse_steering(text))  # what of the text was taken
    return with_notice(request, "/home", f"Steering saved: {saved}"[:200])


@router.post("/unsteer")
def unsteer(
    request: Request,
    services: Services,
    viewer: Viewer,
    phrase: Annotated[int, Form(ge=1, le=2**62)],
) -> Response:
    removed = services.feed.unsteer(viewer.user_id, phrase)
    return with_notice(request, "/home", "Steering removed" if removed else "That steering phrase was already gone")
