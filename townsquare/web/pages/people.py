"""A person's page, ``/@handle``: who they are and their latest posts the viewer may see (the assistant's
"people" answers cite it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from townsquare.storage.schema import edges, posts, users
from townsquare.web.deps import Services
from townsquare.web.pages.base import Viewer, render
from townsquare.web.pages.posts import visible

router = APIRouter()

LATEST = 20  # posts on a person's page


@router.get("/@{handle}")
def person_page(
    request: Request,
    services: Services,
    viewer: Viewer,
    handle: Annotated[str, Path(min_length=1, max_length=64)],
) -> Response:
    """Display name, handle, bio and interests, and their ``LATEST`` posts the viewer may see, newest first
    (``visible``: visibility, blocks and mutes, moderation). Someone who blocks the viewer gets the same 404 as
    no one."""
    with services.store.read() as conn:
        person = conn.execute(select(users).where(func.lower(users.c.handle) == handle.lower())
                              .order_by(users.c.handle != handle).limit(1)).mappings().first()
        blocks_viewer = person is not None and conn.execute(select(edges.c.kind).where(
            edges.c.source_id == person["id"], edges.c.target_id == viewer.user_id, edges.c.kind == "block")).first()
        if person is None or blocks_viewer:
            return render(request, "error.html", viewer, 404,
                          message="There is no one here by that name, or they are not shown to you.")
        # twice as many asked for: moderation's verdicts come after the query's limit
        latest = visible(services, conn, viewer.user_id, posts.c.author_id == person["id"], limit=2 * LATEST,
                         moderator="moderate" in viewer.scopes, newest_first=True)[:LATEST]
    return render(request, "person.html", viewer, person=person, posts=latest)
