"""A user's feed and their private data: the feed, why-not, steering, feedback, history, blocks and mutes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response
from sqlalchemy import select

from townsquare.safety.queue import report_post
from townsquare.storage.schema import edges, interactions, posts, users
from townsquare.web.auth import Principal
from townsquare.web.deps import ActingUser, ReadKey, Services, user_for
from townsquare.web.schemas import FeedbackCreate, FeedPagePublic, Message, SteeringCreate, SteeringPublic

router = APIRouter(prefix="/v1/users/{user}", tags=["feed"])
UserRef = Annotated[str, Path(min_length=1, max_length=256, description="Handle, @handle or external id.")]


def serve_page(services, user_ref: str | int | dict, limit: int, cursor: str | None,
               principal: Principal | None = None) -> dict[str, Any]:
    """A feed page as a dict; at most ``feed_concurrency`` pages are computed at once per worker
    (request threads queue here instead of taking turns with the GIL). With ``principal``, the user
    is looked up (and ``principal``'s right to their feed checked) inside the slot, through the
    page's own connection."""
    feed = services.feed
    with services.feed_slots, services.store.reading():
        if principal is not None:
            user_ref = user_for(principal, services.store, user_ref)
        page = feed.page(user_ref, limit=limit, cursor=cursor).to_dict()
    services.metrics.feed_timings(page["timings"])
    return page


@router.get("/feed", response_model=FeedPagePublic)
def feed(
    user: UserRef,
    principal: ReadKey,
    services: Services,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """A page of the For-you feed, each item with why it is there; pass ``cursor`` for the next page."""
    # Checked and written to JSON here, on the request's thread: FastAPI would check a returned
    # model again on a second hand-off to a worker thread, then write it on the event loop.
    page = FeedPagePublic(**serve_page(services, user, limit, cursor, principal))
    return Response(page.model_dump_json(), media_type="application/json")


@router.get("/why-not/{post:path}")  # :path: ids such as at:// URIs hold "/"
def why_not(
    user: UserRef,
    post: Annotated[str, Path(min_length=1, max_length=256)],
    principal: ReadKey,
    services: Services,
) -> dict[str, Any]:
    """Why a post is not on the user's first page: which stage let it go."""
    row = user_for(principal, services.store, user)
    return services.feed.why_not(int(row["id"]), post)


def _phrases(items) -> list[SteeringPublic]:
    return [SteeringPublic(id=p.id, direction=p.direction, phrase=p.phrase, weight=p.weight) for p in items]


@router.get("/steering")
def steering(user: UserRef, principal: ReadKey, services: Services) -> list[SteeringPublic]:
    row = user_for(principal, services.store, user)
    return _phrases(services.feed.steering(int(row["id"])))


@router.post("/steering", status_code=201)
def steer(user: UserRef, body: SteeringCreate, row: ActingUser, services: Services) -> list[SteeringPublic]:
    """Steer in plain words: 'more cooking, less politics'."""
    return _phrases(services.feed.steer(int(row["id"]), body.text))


@router.delete("/steering")
def unsteer(
    user: UserRef,
    row: ActingUser,
    services: Services,
    phrase: Annotated[str | None, Query(max_length=200)] = None,
    id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Message:
    """Remove one phrase (by ``id``, or by ``phrase``: its text or id) or, with neither, all of them;
    404 when the one named is not there."""
    ref: str | int | None = id if id is not None else (
        int(phrase) if phrase and phrase.isascii() and phrase.isdigit() and len(phrase) < 19 else phrase)  # an id a key column holds
    removed = services.feed.unsteer(int(row["id"]), ref)
    if ref is not None and not removed:
        raise HTTPException(404, f"no steering phrase {ref!r} for {row['handle']}")
    return Message(detail=f"removed {removed} steering phrase{'s' * (removed != 1)}")


@router.post("/feedback", status_code=201)
def feedback(user: UserRef, body: FeedbackCreate, row: ActingUser, services: Services) -> Message:
    """Live feedback (like, hide, report, ...): logged and counted on the very next feed request."""
    recorded = services.feed.record(int(row["id"]), body.post, body.kind.value, value=body.value)
    if body.kind.value == "report" and recorded:  # one report a user and post: no reopening a case at will
        report_post(services.store, body.post)
    return Message(detail=f"recorded {body.kind.value} on {body.post}")


@router.get("/interactions")
def history(
    user: UserRef, principal: ReadKey, services: Services, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    """The user's own interaction history, newest first (private)."""
    row = user_for(principal, services.store, user)
    query = (
        select(
            interactions.c.kind,
            interactions.c.created_at,
            interactions.c.value,
            posts.c.external_id.label("post"),
        )
        .join(posts, posts.c.id == interactions.c.post_id)
        .where(interactions.c.user_id == row["id"])
        .order_by(interactions.c.id.desc())
        .limit(limit)
    )
    with services.store.read() as conn:
        return [{**r, "created_at": r["created_at"].isoformat()} for r in conn.execute(query).mappings()]


@router.get("/edges")
def relations(
    user: UserRef, principal: ReadKey, services: Services, kind: Literal["follow", "block", "mute"] = "follow"
) -> list[str]:
    """Whom the user follows, blocks or mutes (blocks and mutes are private), as external ids."""
    row = user_for(principal, services.store, user)
    query = (
        select(users.c.external_id)
        .join(edges, edges.c.target_id == users.c.id)
        .where(edges.c.source_id == row["id"], edges.c.kind == kind)
        .order_by(users.c.external_id)
    )
    with services.store.read() as conn:
        return list(conn.execute(query).scalars())
