"""``create_app(settings)``: the HTTP API under /v1, the Bluesky endpoints, and the web app.

Nothing is built at import. ``factory()`` builds an app from TOWNSQUARE_* variables, for
``uvicorn --factory`` with several workers.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import BaseHTTPMiddleware

from townsquare.settings import Settings
from townsquare.web.config import WebConfig
from townsquare.web.errors import error_body, install_error_handlers
from townsquare.web.services import WebServices

API_DESCRIPTION = """townsquare's HTTP API: ingest, the For-you feed with explanations, steering,
trust & safety, privacy. Authenticate with `Authorization: Bearer <key>` (platform API key `ts_...`,
created with `townsquare keys create`) or a user's session token (`tss_...`)."""


class RequestGuard(BaseHTTPMiddleware):
    """Refuses bodies over the size limit (413) and times every request per route template."""

    def __init__(self, app, services: WebServices) -> None:
        super().__init__(app)
        self.services = services

    async def dispatch(self, request: Request, call_next):
        limit = self.services.config.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return JSONResponse(
                error_body(f"the request body is over {limit} bytes; send less or split it"), status_code=413
            )
        if length is None and request.method in ("POST", "PUT", "PATCH"):
            body = await request.body()  # chunked: read it (bounded by the server) and measure
            if len(body) > limit:
                return JSONResponse(error_body(f"the request body is over {limit} bytes"), status_code=413)
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        self.services.metrics.requests.labels(request.method, path, str(response.status_code)).observe(
            time.perf_counter() - start
        )
        return response


def create_app(
    settings: Settings | None = None,
    config: WebConfig | None = None,
    *,
    store: Any = None,
    embedder: Any = None,
    feed: Any = None,
    scorer: Any = None,
    moderation: Any = "auto",
    interact: Any = None,
) -> FastAPI:
    """The app over ``settings``' database. Tests may pass a store, an embedder, a feed, a safety scorer,
    ``townsquare.interact``'s components, or the feed's moderation provider (None: the feed ignores
    moderation; default: trust & safety's policy)."""
    from townsquare.storage import Store
    from townsquare.web.pages import router as pages_router
    from townsquare.web.routers import feed as feed_routes
    from townsquare.web.routers import health, ingest, keys, users, xrpc
    from townsquare.web.routers import interact as interact_routes
    from townsquare.web.routers import moderation as moderation_routes

    settings = settings or Settings()
    config = config or WebConfig()
    store = store or Store.open(settings.resolved_database_url)
    services = WebServices(
        settings,
        config,
        store,
        embedder=embedder,
        feed_override=feed,
        scorer_override=scorer,
        moderation=moderation,
        interact_override=interact,
    )
    app = FastAPI(
        title="townsquare",
        version="1",
        description=API_DESCRIPTION,
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(RequestGuard, services=services)
    for router in (
        health.router,
        ingest.router,
        feed_routes.router,
        users.router,
        moderation_routes.router,
        keys.router,
        xrpc.router,
        interact_routes.router,
    ):
        app.include_router(router)
    app.include_router(pages_router, include_in_schema=False)
    app.mount(
        "/static", StaticFiles(directory=str(resources.files("townsquare.web") / "static")), name="static"
    )
    return app


def factory() -> FastAPI:
    """For ``uvicorn --factory townsquare.web.app:factory``: settings from TOWNSQUARE_* variables."""
    return create_app(Settings(), WebConfig())
