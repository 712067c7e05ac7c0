"""Errors as JSON: ``{"error": {"message", "field", "location"}}`` with a 4xx status, never a stack.

A browser asking for a page of the web app (``Accept: text/html``, outside the API's paths) gets the
same message as the web app's error page instead.
"""

from __future__ import annotations

import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from townsquare.errors import (
    BackendError,
    ConfigError,
    InputError,
    MissingDependencyError,
    NotFoundError,
    TownsquareError,
)
from townsquare.storage.contention import contention

log = logging.getLogger(__name__)
API_PATHS = ("/v1", "/xrpc", "/healthz", "/readyz", "/metrics")


def error_body(message: str, field: str | None = None, location: str | None = None) -> dict:
    return {"error": {"message": message, "field": field, "location": location}}


def status_of(error: TownsquareError) -> int:
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, InputError):
        return 422
    if isinstance(error, (MissingDependencyError, ConfigError, BackendError)):
        return 503
    return 400


def page_error(request: Request, message: str, status: int) -> Response | None:
    """The web app's error page with ``message``, if a browser asked for a page; else None (JSON).
    It reads the session (blocking I/O): call it on a worker thread."""
    if request.url.path.startswith(API_PATHS) or "text/html" not in request.headers.get("accept", ""):
        return None
    from townsquare.web.pages.base import render, viewer_of

    services = getattr(request.app.state, "services", None)
    try:
        viewer = viewer_of(request, services) if services is not None else None
    except SQLAlchemyError:  # the error page must not fail on the database
        viewer = None
    return render(request, "error.html", viewer, status, message=message)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TownsquareError)
    async def _townsquare(request: Request, error: TownsquareError) -> Response:
        field = getattr(error, "field", None)
        message = getattr(error, "message", None) or str(error)
        status = status_of(error)
        page = await run_in_threadpool(page_error, request, message, status)
        where = None if not field else "query" if field in request.query_params else \
            "path" if field in request.path_params else "body"
        return page or JSONResponse(error_body(message, field, where), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> Response:
        problems = error.errors()
        first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
        if body_problem := _body_problem(request, first):
            status, message = body_problem
            page = await run_in_threadpool(page_error, request, message, status)
            return page or JSONResponse(error_body(message, None, "body"), status_code=status)
        loc = [str(p) for p in first.get("loc", ())]
        where, field = (loc[0] if loc else None), ".".join(loc[1:]) or None
        message = f"{where or 'request'} {field or ''}: {first.get('msg', 'invalid')}".replace("  ", " ")
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more problems)"
        page = await run_in_threadpool(page_error, request, message, 422)
        return page or JSONResponse(error_body(message, field, where), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 400 and error.detail == "There was an error parsing the body":
            error = StarletteHTTPException(422, "the body could not be read as JSON: send JSON (UTF-8, nested at "
                                                "most a few hundred levels, numbers of at most 4,300 digits) with "
                                                "Content-Type: application/json")
        if error.status_code == 404 and error.detail == "Not Found":
            page = await run_in_threadpool(page_error, request, f"There is no page at {request.url.path}.", 404)
        else:
            page = await run_in_threadpool(page_error, request, str(error.detail), error.status_code)
        return page or JSONResponse(
            error_body(str(error.detail)),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, error: DataError) -> Response:
        if "NUL" not in str(error.orig):  # PostgreSQL's text holds no 0x00; SQLite's does
            return await _unexpected(request, error)
        message = "text may not contain NUL (0x00) characters"
        page = await run_in_threadpool(page_error, request, message, 422)
        return page or JSONResponse(error_body(message), status_code=422)

    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(sqlite3.Error)
    async def _database(request: Request, error: Exception) -> Response:
        found = contention(error)
        if found is None:
            return await _unexpected(request, error)
        kind, message = found
        status = 503 if kind == "busy" else 409
        log.warning("%s %s: %s (%s)", request.method, request.url.path, message, type(error).__name__)
        page = await run_in_threadpool(page_error, request, message, status)
        return page or JSONResponse(error_body(message), status_code=status,
                                    headers={"Retry-After": "1"} if status == 503 else None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        page = await run_in_threadpool(
            page_error, request, "Something went wrong on the server; its log has the details.", 500)
        return page or JSONResponse(
            error_body("internal error: the server failed; the log has the details"), status_code=500
        )


def _body_problem(request: Request, problem: dict) -> tuple[int, str] | None:
    """(status, message) for a body that is not JSON at all, where the field-by-field message would mislead:
    a 422 for JSON that does not parse (FastAPI names the character offset as if it were a field), a 415
    for a body sent as another type."""
    loc = [str(p) for p in problem.get("loc", ())]
    if problem.get("type") == "json_invalid":
        at = f" at character {loc[1]}" if len(loc) > 1 else ""
        reason = (problem.get("ctx") or {}).get("error", "it does not parse")
        return 422, f"the body is not valid JSON{at}: {reason}"
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if loc == ["body"] and content_type != "application/json" and not content_type.endswith("+json"):
        return 415, (f"the body was sent as {content_type or 'no content type'}; send JSON with "
                     "Content-Type: application/json")
    return None
