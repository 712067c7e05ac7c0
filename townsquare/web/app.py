"""``create_app(settings)``: the HTTP API under /v1, the Bluesky endpoints, and the web app.

Nothing is built at import. ``factory()`` builds an app from TOWNSQUARE_* variables, for
``uvicorn --factory`` with several workers.
"""

from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from townsquare.settings import Settings
from townsquare.web.config import WebConfig
from townsquare.web.errors import API_PATHS, error_body, install_error_handlers, page_error
from townsquare.web.schemas import ERROR_RESPONSES
from townsquare.web.services import WebServices

API_DESCRIPTION = """townsquare's HTTP API: ingest, the For-you feed with explanations, steering,
trust & safety, privacy. Authenticate with `Authorization: Bearer <key>` (platform API key `ts_...`,
created with `townsquare keys create`) or a user's session token (`tss_...`)."""


class RequestGuard:
    """Refuses bodies over the size limit (413), times every request per route template, and counts
    the worker's requests in progress, closing a kept-alive connection when the worker holds more
    than its share of the server's (``townsquare.web.balance``).

    Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which adds a task and a memory
    stream to every request.
    """

    def __init__(self, app, services: WebServices) -> None:
        self.app, self.services = app, services

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.services.config.max_body_bytes
        headers = Headers(scope=scope)
        if scope["method"] == "POST" and _cross_site(scope, headers):
            await _refuse(scope, send, "a form of this site may only be sent from its own pages", status=403)
            return
        length = headers.get("content-length")
        if length is not None and (not (length.isascii() and length.isdigit()) or int(length) > limit):
            await _refuse(scope, send, f"the request body is over {limit} bytes; send less or split it")
            return
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            body = await _read_body(receive, limit)  # chunked: read it (bounded by the server) and measure
            if body is None:
                await _refuse(scope, send, f"the request body is over {limit} bytes")
                return
            receive = _replay(body)
        status = 500
        start = time.perf_counter()
        load = self.services.worker_load((scope.get("server") or (None, None))[1])
        if load is not None:
            load.started()

        async def send_and_note(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if load is not None and load.over_share():
                    message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            if load is not None:
                load.finished()
            path = getattr(scope.get("route"), "path", "unmatched")
            self.services.metrics.requests.labels(scope["method"], path, str(status)).observe(
                time.perf_counter() - start
            )


def _cross_site(scope, headers: Headers) -> bool:
    """A browser's POST to one of the web app's forms (not the API, whose keys are not cookies) from a page of
    another site: login CSRF on /signin, and a second guard beside the session cookie's SameSite=Lax."""
    origin = headers.get("origin")
    if not origin or scope["path"].startswith(API_PATHS):
        return False
    hosts = {headers.get("host", ""), *headers.get("x-forwarded-host", "").split(",")}  # behind a proxy too
    return origin == "null" or urlsplit(origin).netloc not in {h.strip() for h in hosts if h.strip()}


async def _refuse(scope, send, detail: str, status: int = 413) -> None:
    """The error, as JSON; a browser asking for a page gets the web app's error page with the same words (the
    rule of every other error: ``townsquare.web.errors.page_error``)."""
    page = await run_in_threadpool(page_error, Request(scope), detail, status)
    if page is not None:
        await page(scope, _nothing, send)
        return
    body = json.dumps(error_body(detail)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _nothing() -> dict:
    return {"type": "http.disconnect"}  # a refused request's body is not read


async def _read_body(receive, limit: int) -> bytes | None:
    """The whole request body, or None once it passes ``limit`` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return None
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


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
    from townsquare.web.pages import include_pages
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

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        services.close()

    app = FastAPI(
        lifespan=lifespan,
        title="townsquare",
        version="1",
        description=API_DESCRIPTION,
        openapi_url="/v1/openapi.json",
        docs_url=None,  # served below from the installed Swagger UI: FastAPI's page loads it from a CDN
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(RequestGuard, services=services)
    app.include_router(health.router, responses={503: ERROR_RESPONSES[503]})
    for router in (
        ingest.router,
        feed_routes.router,
        users.router,
        moderation_routes.router,
        keys.router,
        xrpc.router,
        interact_routes.router,
    ):
        app.include_router(router, responses=ERROR_RESPONSES)
    include_pages(app)
    app.mount(
        "/static", StaticFiles(directory=str(resources.files("townsquare.web") / "static")), name="static"
    )
    _api_docs(app)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> RedirectResponse:  # what a browser asks for first, whatever the page links
        return RedirectResponse("/static/favicon.svg", status_code=308)

    return app


def _api_docs(app: FastAPI) -> None:
    """The OpenAPI page at /v1/docs, with Swagger UI's files from the ``swagger-ui-bundle`` package, so
    that it works on a machine with no internet."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/v1/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/v1/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/v1/openapi.json", title="townsquare API",
                                   swagger_js_url="/v1/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/v1/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")


def factory() -> FastAPI:
    """For ``uvicorn --factory townsquare.web.app:factory``: settings from TOWNSQUARE_* variables.

    A worker serves one request at a time per core, and the feed's matrix products are small:
    BLAS threads only wait for cores the other workers are using (a 4 x 1,800 product took 8 ms
    with two BLAS threads on a busy machine, 0.3 ms with one), so each worker keeps to one.

    ``threadpool_limits`` reaches only the BLAS libraries already loaded (NumPy's); SciPy brings
    its own OpenBLAS when the feed loads, which reads the environment variable instead. Without
    it, that library started a thread per core whose idle spinning made a demo page cost 44 ms
    of CPU for 23 ms of wall time.
    """
    import os

    from threadpoolctl import threadpool_limits

    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    threadpool_limits(1, user_api="blas")
    return create_app(Settings(), WebConfig())
