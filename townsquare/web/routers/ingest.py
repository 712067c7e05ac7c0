"""Ingest: users, posts, follows, blocks, mutes and interactions, one at a time or in a batch.

Every write goes through the importers' ``Loader``: one transaction, idempotent by external id.
"""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, HTTPException

from townsquare.errors import TownsquareError
from townsquare.ingest.loader import Loader
from townsquare.ingest.records import EdgeRecord, InteractionRecord, PostRecord, UserRecord
from townsquare.web.deps import IngestKey, Services
from townsquare.web.schemas import BatchCreate, EdgeCreate, IngestPublic

router = APIRouter(prefix="/v1", tags=["ingest"])
log = logging.getLogger(__name__)


def _load(services, records) -> IngestPublic:
    report = Loader(services.store).load(records, source="request")
    posts = [r.id for r in records if isinstance(r, PostRecord)]
    if posts and report.inserted.get("post") and services.config.moderate_on_ingest:
        _moderate(services, posts)
    return IngestPublic.of(report)


def _moderate(services, external_ids: list[str]) -> None:
    """Trust & safety scores new posts and queues what the policy flags; ingest never fails on it."""
    from townsquare.safety.queue import score_posts
    from townsquare.storage.schema import posts

    try:
        scorer, policy = services.scorer(), services.policy()
    except TownsquareError as error:
        log.warning("ingested posts are not scored: %s", error)
        return
    with services.store.read() as conn:
        ids = list(services.store.resolve(conn, posts, external_ids).values())
    start = time.perf_counter()
    score_posts(services.store, ids, scorer, policy)
    services.moderation_changed(ids)
    services.metrics.models.labels("safety", "score_posts").observe(time.perf_counter() - start)


@router.post("/users", status_code=201)
def create_user(body: UserRecord, _key: IngestKey, services: Services) -> IngestPublic:
    return _load(services, [body])


@router.post("/posts", status_code=201)
def create_post(body: PostRecord, _key: IngestKey, services: Services) -> IngestPublic:
    return _load(services, [body])


@router.post("/interactions", status_code=201)
def create_interaction(body: InteractionRecord, _key: IngestKey, services: Services) -> IngestPublic:
    return _load(services, [body])


def _edge_route(kind: str):
    def create_edge(body: EdgeCreate, _key: IngestKey, services: Services) -> IngestPublic:
        if body.source == body.target:
            raise HTTPException(422, f"a user cannot {kind} themselves")
        return _load(services, [EdgeRecord(type=kind, **body.model_dump())])

    create_edge.__name__ = f"create_{kind}"
    create_edge.__doc__ = f"Record that ``source`` {kind}s ``target``."
    return create_edge


for _kind, _path in (("follow", "/follows"), ("block", "/blocks"), ("mute", "/mutes")):
    router.add_api_route(
        _path, _edge_route(_kind), methods=["POST"], status_code=201, response_model=IngestPublic
    )


@router.post("/batch", status_code=201)
def create_batch(body: BatchCreate, _key: IngestKey, services: Services) -> IngestPublic:
    """Many records in one transaction; references may point forwards within the batch."""
    if len(body.records) > services.config.max_batch:
        raise HTTPException(413, f"a batch holds at most {services.config.max_batch} records; split it")
    return _load(services, body.records)
