"""The FastAPI app: routers, errors as clear JSON, closed CORS, the token and trusted hosts
checked before a request is read, bounded bodies, security headers, the static page."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Match

from device.api.auth import require_reader
from device.api.config_schema import use_config_patch_schema
from device.api.guard import DEFAULT_BODY_LIMIT, RequestGuard, SecurityHeaders
from device.api.hosts import trusted_hosts
from device.api.metrics import Metrics
from device.api.problems import COMMON_RESPONSES, use_problem_for_validation_errors
from device.api.routers import backgrounds, captures, health, preview, review, session, settings, status
from device.box.settings import resolve_token
from device.config import CutboxConfig
from device.errors import BadRequest, CameraError, Conflict, CutboxError, Invalid, NotFound, Unavailable
from device.service import CutboxService

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


def _problem(status_code: int, detail: str, problems: list[str] | None = None, **extra) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    if problems:
        body["problems"] = problems
    body.update(extra)
    return JSONResponse(body, status_code=status_code)


def http_status(exc: CutboxError) -> tuple[int, str | None]:
    """The HTTP status code for an error kind, and the `kind` field a 503 carries."""
    if isinstance(exc, CameraError):
        return 503, "camera"
    if isinstance(exc, Unavailable):
        return 503, "service"
    if isinstance(exc, NotFound):
        return 404, None
    if isinstance(exc, Conflict):
        return 409, None
    if isinstance(exc, Invalid):
        return 422, None
    if isinstance(exc, BadRequest):
        return 400, None
    return 500, None


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (RFC 9110: a 405 lists them all)."""
    routes = request.app.router.routes
    found = set()
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in routes):
            found.add(method)
    return sorted(found)


def create_app(service: CutboxService, config: CutboxConfig | None = None, *, token: str | None = None) -> FastAPI:
    """The app over a started (or startable) service; `token` overrides the configured one."""
    config = config or service.config
    app = FastAPI(
        title="cutbox",
        version="1",
        description="Capture box control API and operator page. "
        "Calls need `Authorization: Bearer <api token>` (or the page's session cookie from `POST /api/login`); "
        "reads are open only when `api.open_reads` is set.",
        docs_url="/docs" if config.api.docs else None,
        redoc_url=None,
        max_body_size=DEFAULT_BODY_LIMIT,
        responses=COMMON_RESPONSES,
    )
    use_problem_for_validation_errors(app)
    use_config_patch_schema(app)
    app.state.service = service
    app.state.token = token or resolve_token(config)
    app.state.open_reads = config.api.open_reads
    app.state.session_hours = config.api.session_hours
    app.state.tls = config.api.tls_cert is not None
    app.state.metrics = Metrics(service)

    if config.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.api.cors_origins,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
        )
    # Added last = runs first: hosts, then headers, then the token, before anything is read.
    app.add_middleware(RequestGuard, token=app.state.token, open_reads=config.api.open_reads)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=trusted_hosts(config.api.trusted_hosts, config.api.host))

    @app.exception_handler(CutboxError)
    async def _cutbox_error(request: Request, exc: CutboxError):
        status_code, kind = http_status(exc)
        detail = f"camera: {exc}" if isinstance(exc, CameraError) else str(exc)
        problems = exc.problems if isinstance(exc, BadRequest) else None
        return _problem(status_code, detail, problems, **({"kind": kind} if kind else {}))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()]
        return _problem(422, "invalid request", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        response = await http_exception_handler(request, exc)
        if exc.status_code == 405:  # Starlette names only the first route's methods
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    app.include_router(health.router)
    app.include_router(session.router)
    for module in (status, captures, review, settings, preview, backgrounds):
        app.include_router(module.router, dependencies=[Depends(require_reader)])

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
