"""Liveness (the process answers) and readiness (the model is loaded) for systemd and load balancers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
def live() -> dict:
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "model not loaded"}})
def ready(request: Request):
    service = request.app.state.service
    st = service.status()
    body = {"ready": service.ready(), "camera_ok": st["camera"]["ok"], "pipeline_error": st["pipeline"]["error"]}
    return JSONResponse(body, status_code=200 if body["ready"] else 503)
