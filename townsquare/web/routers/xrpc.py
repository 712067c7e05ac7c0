"""Bluesky feed generator endpoints: ``describeFeedGenerator`` and ``getFeedSkeleton``.

The requesting user comes from ``Authorization: Bearer <JWT>``, whose ``iss`` is the user's DID.
Checking the JWT's signature needs the user's DID document (a network lookup of their signing
key), which townsquare does not do: run it behind your PDS/AppView auth, or in front of a proxy
that verifies. Here the token's ``exp`` and ``aud`` are checked and ``iss`` is mapped to the user
whose external id is that DID. Anonymous or unknown users get a non-personalised feed.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import distinct, func, select

from townsquare.errors import InputError, NotFoundError
from townsquare.safety.gate import first_kept
from townsquare.storage.schema import interactions, posts, users
from townsquare.web.deps import Services
from townsquare.web.routers.feed import serve_page

router = APIRouter(prefix="/xrpc", tags=["bluesky"])
POPULAR_POOL = 2000  # the newest public top-level posts the anonymous feed ranks


def feed_uri(config) -> str:
    return f"at://{config.publisher_did}/app.bsky.feed.generator/{config.feed_name}"


def post_uri(external_id: str, author: str) -> str:
    """A post's AT URI: its external id when it is one, else one made from the author's DID."""
    if external_id.startswith("at://"):
        return external_id
    did = author if author.startswith("did:") else "did:web:" + author
    return f"at://{did}/app.bsky.feed.post/{external_id}"


def requester_did(request: Request, audience: str) -> str | None:
    """The ``iss`` of the bearer JWT, if the token is well formed, unexpired and meant for us."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    parts = header[7:].strip().split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict) or not str(claims.get("iss", "")).startswith("did:"):
        return None
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp < time.time():  # a token that never expires is not one we take
        return None
    if claims.get("aud") not in (None, audience):
        return None
    return str(claims["iss"]).split("#")[0]


@router.get("/app.bsky.feed.describeFeedGenerator")
def describe(services: Services) -> dict[str, Any]:
    config = services.config
    return {"did": config.service_did, "feeds": [{"uri": feed_uri(config)}]}


def _xrpc_error(name: str, message: str) -> JSONResponse:
    return JSONResponse({"error": name, "message": message}, status_code=400)


@router.get("/app.bsky.feed.getFeedSkeleton")
def skeleton(
    request: Request,
    services: Services,
    feed: Annotated[str, Query(max_length=512)],
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    if feed != feed_uri(services.config):
        return _xrpc_error("UnknownFeed", f"this generator serves {feed_uri(services.config)}")
    did = requester_did(request, services.config.service_did)
    user = _user_of(services.store, did) if did else None
    if user is not None and (cursor is None or cursor.startswith("p:")):
        try:
            page = serve_page(services, int(user["id"]), limit, cursor[2:] if cursor else None)
        except (InputError, NotFoundError):
            return _xrpc_error("BadCursor", "the cursor is unknown or expired; start again without one")
        uris = [post_uri(i["post"], i["author"].removeprefix("@")) for i in page["items"]]
        out: dict[str, Any] = {"feed": [{"post": u} for u in uris]}
        if page["cursor"]:
            out["cursor"] = "p:" + page["cursor"]
        return out
    return _popular(services, limit, cursor)


def _user_of(store, did: str) -> dict[str, Any] | None:
    try:
        return store.find_user(did)
    except NotFoundError:
        return None


def _popular(services, limit: int, cursor: str | None) -> dict[str, Any] | JSONResponse:
    """The non-personalised feed: recent public posts by how many people liked, reposted or replied
    to them, less what moderation hides."""
    if cursor is not None and not (cursor.startswith("g:") and (cursor[2:].isascii() and cursor[2:].isdigit())):
        return _xrpc_error("BadCursor", "the cursor is not one this feed gave")
    offset = int(cursor[2:]) if cursor else 0
    recent = (
        select(posts.c.id)
        .where(posts.c.deleted.is_(False), posts.c.visibility == "public", posts.c.reply_to_id.is_(None))
        .order_by(posts.c.id.desc())
        .limit(POPULAR_POOL)
        .subquery()
    )
    engaged = (  # people, not clicks: one user liking a post fifteen times counts once
        select(interactions.c.post_id, func.count(distinct(interactions.c.user_id)).label("n"))
        .where(
            interactions.c.kind.in_(("like", "repost", "reply")),
            interactions.c.post_id.in_(select(recent.c.id)),
        )
        .group_by(interactions.c.post_id)
        .subquery()
    )
    query = (
        select(posts.c.id, posts.c.external_id, users.c.external_id.label("author"))
        .join(recent, recent.c.id == posts.c.id)
        .join(users, users.c.id == posts.c.author_id)
        .outerjoin(engaged, engaged.c.post_id == posts.c.id)
        .order_by(func.coalesce(engaged.c.n, 0).desc(), posts.c.id.desc())
    )
    with services.store.read() as conn:
        rows = conn.execute(query).all()
    by_id = {r.id: r for r in rows}
    shown = [by_id[pid] for pid, _ in first_kept(services.store, list(by_id), services.policy(), offset + limit + 1,
                                                 lambda decision: decision is None or decision.action != "hide")]
    page = shown[offset:offset + limit]
    out: dict[str, Any] = {"feed": [{"post": post_uri(r.external_id, r.author)} for r in page]}
    if offset + limit < len(shown):
        out["cursor"] = f"g:{offset + limit}"
    return out
