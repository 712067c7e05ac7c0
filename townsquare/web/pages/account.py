"""Signing in and out (a session cookie; in the demo, as any of its people)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from townsquare.storage.schema import users
from townsquare.web.deps import COOKIE, Services
from townsquare.web.pages.base import render, to_signin, viewer_of

router = APIRouter()


@router.get("/")
def index(request: Request, services: Services) -> Response:
    return RedirectResponse("/home" if viewer_of(request, services) else "/signin", status_code=303)


@router.get("/signin")
def signin_page(request: Request, services: Services) -> HTMLResponse:
    return render(request, "signin.html", None, demo=services.config.demo, people=_demo_people(services))


def _demo_people(services: Services) -> list:
    """Whom the demo's sign-in page lists (nobody outside the demo)."""
    if not services.config.demo:
        return []
    with services.store.read() as conn:
        return conn.execute(select(users.c.handle, users.c.display_name).order_by(users.c.handle)).all()


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
            return render(
                request,
                "signin.html",
                None,
                401,
                demo=services.config.demo,
                people=_demo_people(services),
                error="That session token is unknown or expired.",
            )
    elif services.config.demo and handle:
        token, _ = services.sessions.create(handle, ["read", "moderate"] if moderator else ["read"])
    else:
        return render(
            request,
            "signin.html",
            None,
            400,
            demo=services.config.demo,
            people=_demo_people(services),
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
    response = to_signin()
    response.delete_cookie(COOKIE)
    response.headers["Clear-Site-Data"] = '"cache"'  # Back must not show the pages seen while signed in
    return response
