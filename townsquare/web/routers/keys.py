"""Admin: platform API keys and per-user sessions issued by the platform."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from townsquare.web.deps import AdminKey, Services
from townsquare.web.schemas import KeyCreate, KeyCreated, KeyPublic, Message, SessionCreate, SessionCreated

router = APIRouter(prefix="/v1", tags=["admin"])


@router.get("/keys")
def list_keys(_key: AdminKey, services: Services) -> list[KeyPublic]:
    return [KeyPublic(**k) for k in services.keys.list()]


@router.post("/keys", status_code=201)
def create_key(body: KeyCreate, _key: AdminKey, services: Services) -> KeyCreated:
    secret, row = services.keys.create(list(body.scopes), user=body.user, name=body.name)
    return KeyCreated(key=secret, **row)


@router.delete("/keys/{key_id}")
def revoke_key(key_id: Annotated[int, Path(ge=1, le=2**62)], _key: AdminKey, services: Services) -> Message:
    services.keys.revoke(key_id)
    return Message(detail=f"revoked key {key_id}")


@router.post("/sessions", status_code=201)
def create_session(body: SessionCreate, _key: AdminKey, services: Services) -> SessionCreated:
    """A session token for one user: the platform signs its user in to the web app or the API with it."""
    token, info = services.sessions.create(body.user, list(body.scopes))
    return SessionCreated(token=token, **info)
