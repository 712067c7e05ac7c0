"""Ingest: users, posts, follows, blocks, mutes and interactions, one at a time or in a batch.

Every write goes through the importers' ``Loader`` (``WebServices.ingest``): one transaction,
idempotent by external id; new posts are scored by trust & safety when ``moderate_on_ingest`` is on.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from townsquare.ingest.records import EdgeRecord, InteractionRecord, PostRecord, UserRecord
from townsquare.web.deps import IngestKey, Services
from townsquare.web.schemas import BatchCreate, EdgeCreate, IngestPublic

router = APIRouter(prefix="/v1", tags=["ingest"])


def _load(services, records) -> IngestPublic:
    return IngestPublic.of(services.ingest(records, source="request"))


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
