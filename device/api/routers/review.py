"""The review queue: captures that scored below `api.review_threshold` wait here for a person."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from device.api.auth import require_token
from device.api.problems import CHANGE_RESPONSES
from device.api.routers.captures import CaptureId

router = APIRouter(prefix="/api/review", tags=["review"])
guarded = [Depends(require_token)]


@router.get("")
def queue(request: Request, limit: int = Query(50, ge=1, le=10000)) -> list[dict]:
    return request.app.state.service.review_queue(limit)


@router.post("/{capture_id}/approve", dependencies=guarded, responses=CHANGE_RESPONSES)
async def approve(request: Request, capture_id: CaptureId) -> dict:
    """Good as it is: leaves the queue; the decision goes out with the capture's meta."""
    return await run_in_threadpool(request.app.state.service.review, capture_id, "approve")


@router.post("/{capture_id}/reject", dependencies=guarded, responses=CHANGE_RESPONSES)
async def reject(request: Request, capture_id: CaptureId) -> dict:
    """Not usable: leaves the queue marked rejected, so the catalog can drop it."""
    return await run_in_threadpool(request.app.state.service.review, capture_id, "reject")
