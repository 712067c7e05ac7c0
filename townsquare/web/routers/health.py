"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from townsquare.web.deps import Services

router = APIRouter(tags=["health"])


@router.get("/healthz")
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def ready(services: Services) -> JSONResponse:
    """The database answers, its schema is migrated and this worker's feed index is loaded.

    The first call starts loading the index in the background and answers 503 until it is done.
    ``policy_error`` says why the last edit of the policy file was not taken (still ready: the
    policy read before stays in force).
    """
    try:
        revision = services.store.schema_revision()
    except Exception as error:  # noqa: BLE001 - any database failure means not ready
        return JSONResponse({"status": "unavailable", "detail": type(error).__name__}, status_code=503)
    if revision is None:
        return JSONResponse({"status": "unavailable", "detail": "schema not migrated"}, status_code=503)
    state, detail = services.feed_state()
    if state != "ready":
        return JSONResponse({"status": state, "detail": detail, "schema": revision}, status_code=503)
    body = {"status": "ready", "schema": revision}
    if (error := services.policy_error()) is not None:  # serving, under the policy read before the edit
        body["policy_error"] = error
    return JSONResponse(body)


@router.get("/metrics", response_class=Response)
def metrics(services: Services) -> Response:
    """Prometheus metrics: request latency per route, feed stages, model latency, the moderation queue's depth
    and how long its oldest case has waited."""
    from townsquare.safety.queue import waiting_cases

    waiting, oldest = waiting_cases(services.store)
    services.metrics.queue_depth.set(sum(waiting.values()))
    services.metrics.queue_oldest.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
