"""What every page shares: the templates, who is signed in, rendering, redirects with a notice."""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache
from importlib import resources
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from pydantic import BeforeValidator

from townsquare.web.auth import Principal
from townsquare.web.deps import COOKIE, Services

# The post actions, each with what it did and what follows, for the notice on the page it returns to.
ACTIONS = {"like": ("Liked", "your feed will show more like it"),
           "repost": ("Reposted", "your followers will see it"),
           "hide": ("Hidden", "it will not come back, and less like it will"),
           "report": ("Reported", "a moderator will look at it")}


_CONTROLS = dict.fromkeys(c for c in range(32) if chr(c) not in "\n\t")


def _one_newline(value: object) -> object:
    """Browsers send a text box's line breaks as CRLF: two characters where the box counted one. Other control
    characters (a NUL, pasted or sent by a script) are dropped: no post may hold one."""
    return value.replace("\r\n", "\n").translate(_CONTROLS) if isinstance(value, str) else value


# A text box's text; its HTML ``maxlength`` counts a line break as one character, and so does this.
Text = Annotated[str, BeforeValidator(_one_newline), Form(min_length=1, max_length=2000)]


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    """The templates, loaded on first use and kept (Jinja compiles each template once)."""
    templates = Jinja2Templates(directory=str(resources.files("townsquare.web") / "templates"))
    templates.env.filters["link_posts"] = link_posts
    return templates


def viewer_of(request: Request, services) -> Principal | None:
    """Who is signed in (the session cookie), or None."""
    token = request.cookies.get(COOKIE)
    return services.sessions.verify(token) if token and token.startswith("tss_") else None


class SignInFirst(Exception):
    """A page that needs a signed-in viewer was asked for without a session: the app redirects to /signin."""


def signed_in(request: Request, services: Services) -> Principal:
    """The signed-in viewer (the ``Viewer`` dependency of every page but signing in)."""
    viewer = viewer_of(request, services)
    if viewer is None:
        raise SignInFirst
    return viewer


Viewer = Annotated[Principal, Depends(signed_in)]


class ModeratorsOnly(Exception):
    """A moderators' page or form was asked for by someone else: the app answers 403 with the error page."""

    def __init__(self, viewer: Principal) -> None:
        super().__init__("This is for moderators.")
        self.viewer = viewer


def moderating(viewer: Viewer) -> Principal:
    """The signed-in viewer, who must be a moderator (the ``Moderator`` dependency of the moderators' pages)."""
    if "moderate" not in viewer.scopes:
        raise ModeratorsOnly(viewer)
    return viewer


Moderator = Annotated[Principal, Depends(moderating)]


def render(
    request: Request, name: str, viewer: Principal | None, status: int = 200, **context
) -> HTMLResponse:
    response = templates().TemplateResponse(request, name, {"viewer": viewer, **context}, status_code=status)
    if viewer is not None:  # a signed-in page is the viewer's alone: after signing out, Back must not show it
        response.headers["Cache-Control"] = "no-store"
    return response


def to_signin() -> RedirectResponse:
    return RedirectResponse("/signin", status_code=303)


def not_shown(request: Request, viewer: Principal) -> HTMLResponse:
    # the same answer whether the post never existed or is not for this viewer
    return render(request, "error.html", viewer, 404, message="This post does not exist, or it is not shown to you.")


def with_notice(request: Request, path: str, notice: str) -> RedirectResponse:
    """See ``path`` (a page of this site), with ``notice`` shown on it. The notice is signed with the viewer's
    session, so that a link someone else made cannot put words on this site's pages ("your account is
    suspended, call ...")."""
    where = urlsplit(path)  # a page of the feed keeps its cursor and the post it scrolls to
    query = "&".join(q for q in (where.query, urlencode({"notice": notice, "sig": _notice_signature(request, notice)}))
                     if q)
    return RedirectResponse(f"{where.path}?{query}" + (f"#{where.fragment}" if where.fragment else ""),
                            status_code=303)


def shown_notice(request: Request) -> str | None:
    """The notice ``with_notice`` sent this viewer here with; None when there is none, or it was not signed
    for this viewer's session."""
    notice, sig = request.query_params.get("notice"), request.query_params.get("sig", "")
    if not notice or not hmac.compare_digest(sig, _notice_signature(request, notice)):
        return None
    return notice


def _notice_signature(request: Request, notice: str) -> str:
    session = request.cookies.get(COOKIE, "")
    return hmac.new(session.encode(), notice.encode(), hashlib.sha256).hexdigest()[:20]


def link_posts(text: str, cited) -> Markup:
    """``text`` escaped, with each ``(/posts/ID)`` that is one of the answer's own ``cited`` URLs made a link to that
    post's page. A ``(/posts/ID)`` inside a quoted post's text stays text: anyone may write one, naming a post the
    asker may not see."""
    cited = set(cited)

    def link(match: re.Match) -> str:
        url = match.group(1)
        return f'(<a href="{url}">{url}</a>)' if url in cited else match.group(0)

    return Markup(re.sub(r"\((/posts/[^/?#\s()&<>\"']+)\)", link, str(escape(text))))
