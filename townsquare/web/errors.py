"""Errors as JSON: ``{"error": {"message", "field", "location"}}`` with a 4xx status, never a stack."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from townsquare.errors import (
    BackendError,
    ConfigError,
    InputError,
    MissingDependencyError,
    NotFoundError,
    TownsquareError,
)

log = logging.getLogger(__name__)


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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TownsquareError)
    async def _townsquare(_request: Request, error: TownsquareError) -> JSONResponse:
        field = getattr(error, "field", None)
        message = getattr(error, "message", None) or str(error)
        return JSONResponse(
            error_body(message, field, "body" if field else None), status_code=status_of(error)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ())]
        where, field = (loc[0] if loc else None), ".".join(loc[1:]) or None
        message = f"{where or 'request'} {field or ''}: {first.get('msg', 'invalid')}".replace("  ", " ")
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more problems)"
        return JSONResponse(error_body(message, field, where), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(str(error.detail)),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal error: the server failed; the log has the details"), status_code=500
        )
