"""Users: a public profile, and a user's data on request (export) or removed (deletion)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from townsquare.storage.privacy import delete_user, export_user
from townsquare.web.auth import Principal
from townsquare.web.deps import CurrentKey, ReadKey, Services, user_for

router = APIRouter(prefix="/v1/users", tags=["users"])
UserRef = Annotated[str, Path(min_length=1, max_length=256)]


@router.get("/{user}")
def profile(user: UserRef, _key: ReadKey, services: Services) -> dict[str, Any]:
    """The public profile of a user."""
    row = services.store.find_user(user)
    return {k: row[k] for k in ("external_id", "handle", "display_name", "bio", "language")}


def _own_or_admin(principal: Principal, services, user: str) -> dict[str, Any]:
    row = services.store.find_user(user)
    if "admin" in principal.scopes and principal.user_id is None:
        return row
    if principal.user_id is None or not principal.may_act_for(int(row["id"])):
        raise HTTPException(403, "only the user themselves or an admin key may export or delete a user")
    return user_for(principal, services.store, user)


@router.get("/{user}/export")
def export(user: UserRef, principal: CurrentKey, services: Services) -> dict[str, Any]:
    """Everything stored about the user."""
    row = _own_or_admin(principal, services, user)
    return export_user(services.store, int(row["id"]))


@router.delete("/{user}")
def remove(user: UserRef, principal: CurrentKey, services: Services) -> dict[str, int]:
    """Remove the user and everything derived from them: the user's own session, a key bound to them that
    may write (``ingest``), or an unbound admin key."""
    row = _own_or_admin(principal, services, user)
    if principal.kind == "key" and principal.user_id is not None and "ingest" not in principal.scopes:
        raise HTTPException(403, "a key bound to a user needs the 'ingest' scope to delete them; this one may "
                                 f"only {', '.join(sorted(principal.scopes))}")
    from townsquare.feed.collaborative import forget_users, models_folder

    counts = delete_user(services.store, int(row["id"]))
    for book in (services.keys, services.sessions):  # their sessions and keys went with them: not remembered here
        book.recent.forget(user_id=int(row["id"]))
    counts["collaborative model versions"] = forget_users(models_folder(services.settings), [int(row["id"])])
    return counts
