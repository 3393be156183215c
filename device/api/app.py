"""The FastAPI app: routers, errors as clear JSON, closed CORS, the token, the static page."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from device.api.metrics import Metrics
from device.api.routers import captures, health, preview, review, settings, status
from device.config import CutboxConfig
from device.service import BadRequest, CameraError, CutboxService, ServiceError, resolve_token
from device.store import NotFound, StoreError

log = logging.getLogger("cutbox.api")
STATIC = Path(__file__).resolve().parent / "static"


def _problem(status_code: int, detail: str, problems: list[str] | None = None, **extra) -> JSONResponse:
    body = {"detail": detail}
    if problems:
        body["problems"] = problems
    body.update(extra)
    return JSONResponse(body, status_code=status_code)


def create_app(service: CutboxService, config: CutboxConfig | None = None, *, token: str | None = None) -> FastAPI:
    """The app over a started (or startable) service; `token` overrides the configured one."""
    config = config or service.config
    app = FastAPI(
        title="cutbox",
        version="1",
        description="Capture box control API and operator page. "
        "Calls that change state need `Authorization: Bearer <api token>`.",
    )
    app.state.service = service
    app.state.token = token or resolve_token(config)
    app.state.metrics = Metrics(service)

    if config.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.api.cors_origins,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
        )

    @app.exception_handler(BadRequest)
    async def _bad_request(request: Request, exc: BadRequest):
        return _problem(exc.status_code, str(exc), exc.problems)

    @app.exception_handler(StoreError)
    async def _bad_path(request: Request, exc: StoreError):
        return _problem(400, str(exc))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return _problem(404, str(exc))

    @app.exception_handler(CameraError)
    async def _camera(request: Request, exc: CameraError):
        return _problem(503, f"camera: {exc}", kind="camera")

    @app.exception_handler(ServiceError)
    async def _unavailable(request: Request, exc: ServiceError):
        return _problem(503, str(exc), kind="service")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()]
        return _problem(422, "invalid request", problems)

    for module in (health, status, captures, review, settings, preview):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
