"""Ingest: users, posts, follows, blocks, mutes and interactions, one at a time or in a batch.

Every write goes through the importers' ``Loader`` (``WebServices.ingest``): one transaction,
idempotent by external id; new posts are scored by trust & safety when ``moderate_on_ingest`` is on.
A post deleted on the platform (``DELETE /v1/posts/{post}``, or a post record with ``deleted: true``)
keeps its row for its replies' sake and loses its words; an unfollow, unblock or unmute is a
``DELETE`` of the edge (or an edge record with ``removed: true``).
A key bound to a user writes only that user's records: their profile, posts, edges and interactions.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import select

from townsquare.errors import InputError, NotFoundError
from townsquare.ingest.records import EdgeRecord, InteractionRecord, PostRecord, UserRecord
from townsquare.storage.schema import posts
from townsquare.storage.visibility import may_see
from townsquare.web.auth import Principal
from townsquare.web.deps import IngestKey, Services
from townsquare.web.schemas import BatchCreate, EdgeCreate, IngestPublic

router = APIRouter(prefix="/v1", tags=["ingest"])


def _actor(record) -> str:
    """The external id of the user on whose behalf ``record`` is written."""
    if isinstance(record, UserRecord):
        return record.id
    if isinstance(record, PostRecord):
        return record.author
    if isinstance(record, EdgeRecord):
        return record.source
    return record.user


def _load(services, records, key: Principal) -> IngestPublic:
    if key.user_id is not None:
        own = services.store.find_user(key.user_id)["external_id"]
        for at, record in enumerate(records):
            if _actor(record) != own:
                where = f"record {at}: " if len(records) > 1 else ""
                raise HTTPException(403, f"{where}this key acts only for user {own!r}, not {_actor(record)!r}")
        _only_posts_they_may_see(services.store, key.user_id, records)
    return IngestPublic.of(services.ingest(records, source="request"))


def _only_posts_they_may_see(store, user_id: int, records) -> None:
    """A key bound to a user may like, reply to, quote or repost only posts that user may see; any other is
    refused as the loader refuses a post that does not exist, word for word, so that the answer tells no
    one a private post is there (session 22: a like on a private post put its text in the liker's feed)."""
    named = [(at, record, name, getattr(record, name)) for at, record in enumerate(records)
             for name in (("post",) if isinstance(record, InteractionRecord) else
                          ("reply_to", "quote_of", "repost_of") if isinstance(record, PostRecord) else ())
             if getattr(record, name)]
    if not named:
        return
    refs = sorted({ref for *_, ref in named})
    with store.read() as conn:  # each stored one, and whether the user may see it
        seen = dict(conn.execute(select(posts.c.external_id, may_see(user_id)).where(posts.c.external_id.in_(refs))).all())
    for at, record, name, ref in named:
        if ref in seen and not seen[ref]:
            message = (f"unknown post {ref!r}" if name == "post" else f"post {record.id!r} refers to unknown post {ref!r}")
            raise InputError(message, source="request", line=at + 1, field=name)


@router.post("/users", status_code=201)
def create_user(body: UserRecord, key: IngestKey, services: Services) -> IngestPublic:
    return _load(services, [body], key)


@router.post("/posts", status_code=201)
def create_post(body: PostRecord, key: IngestKey, services: Services) -> IngestPublic:
    return _load(services, [body], key)


@router.delete("/posts/{post:path}")  # :path: ids such as at:// URIs hold "/"
def delete_post(post: Annotated[str, Path(min_length=1, max_length=256)], key: IngestKey,
                services: Services) -> IngestPublic:
    """The post was deleted on the platform: it leaves every feed at once and its text, tags, vectors and
    moderation scores are erased (the row stays, marked deleted, so that its replies keep their thread)."""
    row = services.store.find_post(post)
    if key.user_id is not None and row["author_id"] != key.user_id:  # not theirs: 404 unless they may see it
        with services.store.read() as conn:
            if conn.execute(select(posts.c.id).where(posts.c.id == row["id"], may_see(key.user_id))).first() is None:
                raise NotFoundError(f"no post {post!r}")
    author = services.store.find_user(row["author_id"])["external_id"]
    return _load(services, [PostRecord(id=row["external_id"], author=author, text="", deleted=True)], key)


@router.post("/interactions", status_code=201)
def create_interaction(body: InteractionRecord, key: IngestKey, services: Services) -> IngestPublic:
    return _load(services, [body], key)


def _edge_route(kind: str):
    def create_edge(body: EdgeCreate, key: IngestKey, services: Services) -> IngestPublic:
        if body.source == body.target:
            raise HTTPException(422, f"a user cannot {kind} themselves")
        return _load(services, [EdgeRecord(type=kind, **body.model_dump())], key)

    create_edge.__name__ = f"create_{kind}"
    create_edge.__doc__ = f"Record that ``source`` {kind}s ``target``."
    return create_edge


def _edge_removal(kind: str):
    def remove_edge(source: Annotated[str, Query(min_length=1, max_length=256)],
                    target: Annotated[str, Query(min_length=1, max_length=256)],
                    key: IngestKey, services: Services) -> IngestPublic:
        if source == target:
            raise HTTPException(422, f"a user cannot un{kind} themselves")
        for name, value in (("source", source), ("target", target)):
            if "\x00" in value:
                raise InputError(f"{name} contains a NUL (0x00) character", field=name)
        return _load(services, [EdgeRecord(type=kind, source=source, target=target, removed=True)], key)

    remove_edge.__name__ = f"remove_{kind}"
    remove_edge.__doc__ = f"``source`` no longer {kind}s ``target`` (``changed`` counts it; 0 when it did not)."
    return remove_edge


for _kind, _path in (("follow", "/follows"), ("block", "/blocks"), ("mute", "/mutes")):
    router.add_api_route(
        _path, _edge_route(_kind), methods=["POST"], status_code=201, response_model=IngestPublic
    )
    router.add_api_route(_path, _edge_removal(_kind), methods=["DELETE"], response_model=IngestPublic)


@router.post("/batch", status_code=201)
def create_batch(body: BatchCreate, key: IngestKey, services: Services) -> IngestPublic:
    """Many records in one transaction; references may point forwards within the batch."""
    if len(body.records) > services.config.max_batch:
        raise HTTPException(413, f"a batch holds at most {services.config.max_batch} records; split it")
    return _load(services, body.records, key)
