"""The web app: server-rendered pages over the same services as the API.

Forms post and redirect (so every page works without JavaScript); ``static/app.js`` only adds
small conveniences. The session cookie is HttpOnly and SameSite=Lax, so other sites cannot post
these forms with it.

One module per part of the site: ``account`` (sign in and out), ``feed`` (home and what a reader
does with a post), ``posts`` (a post's page, who may see which post, appeals), ``compose`` (writing,
drafts, the assistant), ``people`` (a person's page) and ``moderation`` (the queue and the dashboard); ``base`` is
what they share.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from townsquare.web.pages import account, compose, feed, moderation, people, posts
from townsquare.web.pages.base import ModeratorsOnly, SignInFirst, render, to_signin

router = APIRouter()
for part in (account, feed, posts, people, compose, moderation):
    router.include_router(part.router)


def include_pages(app: FastAPI) -> None:
    """Serve the pages on ``app``; a page asked for without a session redirects to /signin, and a
    moderators' page asked for by anyone else is refused (403)."""
    app.include_router(router, include_in_schema=False)

    async def _sign_in_first(_request: Request, _error: SignInFirst) -> RedirectResponse:
        return to_signin()

    async def _moderators_only(request: Request, error: ModeratorsOnly) -> HTMLResponse:
        return render(request, "error.html", error.viewer, 403,
                      message="This is for moderators: sign in as a moderator to see it.")

    app.add_exception_handler(SignInFirst, _sign_in_first)
    app.add_exception_handler(ModeratorsOnly, _moderators_only)
