"""The admin API (FastAPI): JSON REST under /api/v1, OpenAPI at /api/openapi.json."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from postback.kit.errors import PostbackError
from postback.users import tables as _users_tables  # noqa: F401 - on Base.metadata with the rest

log = logging.getLogger("postback.api")


def create_api() -> FastAPI:
    api = FastAPI(
        title="Postback",
        summary="Self-hosted server-to-server conversion tracker",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    _install_error_handlers(api)
    _include_routers(api)
    return api


def _include_routers(api: FastAPI) -> None:
    from postback.routers import ROUTERS

    for router in ROUTERS:
        api.include_router(router, prefix="/api/v1")
    # The dashboard's pages, at / (not part of the API's OpenAPI document).
    from postback.dashboard.routers import ROUTERS as PAGES

    for router in PAGES:
        api.include_router(router, include_in_schema=False)


def _install_error_handlers(api: FastAPI) -> None:
    # Outside /api the dashboard answers errors with a page (dashboard/errors.py).
    from postback.dashboard.errors import error_page, is_page

    @api.exception_handler(PostbackError)
    async def on_postback_error(request: Request, exc: PostbackError) -> Response:
        if is_page(request):
            return await run_in_threadpool(error_page, request, exc)
        headers = getattr(exc, "headers", None)
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=headers)

    @api.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        if is_page(request):
            return await run_in_threadpool(error_page, request, exc)
        fields = [
            {"field": ".".join(str(p) for p in err["loc"] if p != "body"), "message": err["msg"]}
            for err in exc.errors()
        ]
        detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return JSONResponse(
            {"error": "validation_error", "detail": detail, "fields": fields}, status_code=422
        )

    @api.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if is_page(request):
            return await run_in_threadpool(error_page, request, exc)
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse({"error": code, "detail": str(exc.detail)}, status_code=exc.status_code)

    @api.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        if is_page(request):
            return await run_in_threadpool(error_page, request, exc)
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            {"error": "server_error", "detail": "internal error, see the server log"},
            status_code=500,
        )
