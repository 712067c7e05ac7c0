"""Dependencies as named ``Annotated`` aliases: ``Services``, ``StoreDep``, ``CurrentKey``, ``CurrentUser``.

Credentials: ``Authorization: Bearer ts_...`` (platform API key) or ``Bearer tss_...`` (a user's
session), or the web app's ``townsquare_session`` cookie. No credentials is 401, the wrong ones 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from starlette.concurrency import run_in_threadpool

from townsquare.web.auth import Principal
from townsquare.web.services import WebServices

COOKIE = "townsquare_session"


# What needs no I/O is ``async def``: FastAPI runs a plain ``def`` dependency on a worker thread,
# a hand-off each way per dependency per request.
async def get_services(request: Request) -> WebServices:
    return request.app.state.services


Services = Annotated[WebServices, Depends(get_services)]


async def get_store(services: Services) -> Any:
    return services.store


StoreDep = Annotated[Any, Depends(get_store)]


def credentials(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(COOKIE)


async def optional_principal(request: Request, services: Services) -> Principal | None:
    """Who is asking, if anyone. A key or session verified in the last moment (``auth_recall_s``) is
    known without I/O, here on the event loop; any other is looked up on a worker thread."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    token = credentials(request)
    principal = None
    if token and token.startswith(("ts_", "tss_")):
        book = services.keys if token.startswith("ts_") else services.sessions
        principal = book.recalled(token) or await run_in_threadpool(book.verify, token)
    if token and principal is None and token.startswith(("ts_", "tss_")):
        raise HTTPException(
            401,
            "the API key or session is unknown, revoked or expired",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = principal
    if principal is not None and not services.limiter.allow(principal.label):
        services.metrics.rate_limited.inc()
        raise HTTPException(
            429,
            "rate limit reached for this key; slow down and retry in a second",
            headers={"Retry-After": "1"},
        )
    return principal


MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


async def current_principal(principal: MaybePrincipal) -> Principal:
    if principal is None:
        raise HTTPException(
            401, "sign in or send 'Authorization: Bearer <API key>'", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


CurrentKey = Annotated[Principal, Depends(current_principal)]


def require(scope: str):
    """A dependency that lets through only principals holding ``scope``."""

    async def check(principal: CurrentKey) -> Principal:
        if scope not in principal.scopes:
            raise HTTPException(403, f"this key or session lacks the '{scope}' scope")
        if scope == "admin" and principal.user_id is not None:
            raise HTTPException(403, "the 'admin' scope needs a platform key that is not bound to a user")
        return principal

    return Depends(check)


IngestKey = Annotated[Principal, require("ingest")]
ReadKey = Annotated[Principal, require("read")]
ModerateKey = Annotated[Principal, require("moderate")]
AdminKey = Annotated[Principal, require("admin")]


def user_for(principal: Principal, store: Any, ref: str) -> dict[str, Any]:
    """The user ``ref`` names, if ``principal`` may see their private data (else 403)."""
    user = store.find_user(ref)
    if not principal.may_act_for(int(user["id"])):
        raise HTTPException(403, "you may only read and change your own data")
    return user


def current_user(principal: CurrentKey, store: StoreDep) -> dict[str, Any]:
    if principal.user_id is None:
        raise HTTPException(403, "this route needs a user's session or a key bound to a user")
    return store.find_user(principal.user_id)


CurrentUser = Annotated[dict[str, Any], Depends(current_user)]


def acting_user(
    user: Annotated[str, Path(min_length=1, max_length=256)], principal: CurrentKey, store: StoreDep
) -> dict[str, Any]:
    """The user in the path, whom ``principal`` may change: their own session or bound key, or a
    platform key with the ingest scope."""
    row = user_for(principal, store, user)
    if principal.user_id is None and "ingest" not in principal.scopes:
        raise HTTPException(403, "changing a user's data needs their session or the 'ingest' scope")
    return row


ActingUser = Annotated[dict[str, Any], Depends(acting_user)]
