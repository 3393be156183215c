"""Take pictures (capture, spin, calibrate), list and fetch captures, correct them."""

from __future__ import annotations

import datetime as dt
import pathlib
import re
from typing import Annotated, Literal

import cv2
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import BeforeValidator
from starlette.background import BackgroundTask

from device.api.auth import require_token
from device.api.correction import CorrectionRequest
from device.api.guard import CORRECTION_BODY_LIMIT
from device.api.problems import CHANGE_RESPONSES
from device.box.store import ID_PATTERN, NAME_PATTERN
from device.workflows.gallery import MAX_ZIP_CAPTURES
from device.workflows.requests import CalibrateRequest, CaptureRequest, ReexportBody, SpinRequest

router = APIRouter(prefix="/api", tags=["captures"])
guarded = [Depends(require_token)]

CaptureId = Annotated[str, Path(pattern=ID_PATTERN, description="The capture's id, as /api/captures lists it")]
ArtifactName = Annotated[
    str, Path(pattern=NAME_PATTERN, description="original, alpha, strokes or an export (png, jpeg...)")
]
# What a stored file can be: the exports (device/export), the original, the alpha, the sidecar.
ARTIFACT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/tiff", "application/json", "application/octet-stream")
ISO_DAY = r"^\d{4}-\d{2}-\d{2}$"


def _iso_day(value: object) -> object:
    """Only `2026-12-07`: lax parsing would read `day=0` as 1970-01-01."""
    if isinstance(value, str) and not re.fullmatch(ISO_DAY, value):
        raise ValueError("a day as YYYY-MM-DD")
    return value


Day = Annotated[dt.date, BeforeValidator(_iso_day)]


@router.post("/capture", dependencies=guarded, responses=CHANGE_RESPONSES)
async def capture(request: Request, body: CaptureRequest | None = None) -> dict:
    body = body or CaptureRequest()
    return await run_in_threadpool(request.app.state.service.capture_meta, body.sku, body.preset)


@router.post("/spin", dependencies=guarded, responses=CHANGE_RESPONSES)
async def spin(request: Request, body: SpinRequest | None = None) -> dict:
    body = body or SpinRequest()
    service = request.app.state.service
    captures = await run_in_threadpool(service.spin, body.steps, body.sku)
    return {"captures": [service.store.meta(c.id) for c in captures]}


@router.get("/job")
def job(request: Request) -> dict:
    """The running spin or calibration ("view 7/24"), or `job: null` when the box is idle."""
    return {"job": request.app.state.service.progress.snapshot()}


@router.post("/cancel", dependencies=guarded, responses=CHANGE_RESPONSES)
def cancel(request: Request) -> dict:
    """Stop the running spin or calibration after its current view; nothing of it is kept."""
    return request.app.state.service.cancel()


@router.post("/calibrate", dependencies=guarded, responses=CHANGE_RESPONSES)
async def calibrate(request: Request, body: CalibrateRequest | None = None) -> dict:
    body = body or CalibrateRequest()
    return await run_in_threadpool(request.app.state.service.calibrate, body.frames)


StateFilter = Literal["pending", "approved", "rejected", "corrected", "none"]


@router.get("/captures")
def list_captures(
    request: Request,
    limit: int = Query(50, ge=1, le=10000),
    sku: str | None = Query(None, max_length=64, description="Part of the SKU, any case"),
    day: Day | None = Query(None, description="The box's local day the capture was made (2026-12-07)"),
    review_state: StateFilter | None = Query(None),
) -> list[dict]:
    """Newest first, filtered like the page's gallery."""
    return request.app.state.service.gallery.search(
        sku=sku, day=day.isoformat() if day else None, review_state=review_state, limit=limit
    )


@router.get(
    "/captures.zip",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}, 404: {"description": "nothing matches"}},
)
async def download_zip(
    request: Request,
    sku: str | None = Query(None, max_length=64),
    day: Day | None = Query(None),
    review_state: StateFilter | None = Query(None),
) -> FileResponse:
    """The matching captures' files in one ZIP (`<sku>/<capture id>/...`), at most 500 captures."""
    gallery = request.app.state.service.gallery
    day_text = day.isoformat() if day else None
    metas = await run_in_threadpool(
        gallery.search, sku=sku, day=day_text, review_state=review_state, limit=MAX_ZIP_CAPTURES + 1
    )
    path = await run_in_threadpool(gallery.zip, metas)
    return _zip_response(path, "-".join(["cutbox", day_text or "all", *([sku] if sku else [])]))


def _zip_response(path: pathlib.Path, name: str) -> FileResponse:
    """A temporary ZIP sent once (deleted after), never cached on a shared tablet."""
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"{name}.zip",
        headers={"Cache-Control": "no-store, private"},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.get(
    "/captures/{capture_id}/zip",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
async def download_one(request: Request, capture_id: CaptureId) -> FileResponse:
    """One capture's files in a ZIP: original, alpha, the exported cut-outs and sidecars, meta.json."""
    path, meta = await run_in_threadpool(request.app.state.service.gallery.zip_one, capture_id)
    return _zip_response(path, "-".join(["cutbox", *([meta["sku"]] if meta.get("sku") else []), capture_id]))


@router.delete("/captures/{capture_id}", dependencies=guarded, responses=CHANGE_RESPONSES)
def delete_capture(request: Request, capture_id: CaptureId) -> dict:
    """Remove a capture from the box (what the catalog already has stays there)."""
    return request.app.state.service.gallery.delete(capture_id)


@router.get("/captures/{capture_id}")
def get_capture(request: Request, capture_id: CaptureId) -> dict:
    return request.app.state.service.store.meta(capture_id)


@router.get(
    "/captures/{capture_id}/artifacts/{name}",
    response_class=Response,
    responses={200: {"content": {t: {} for t in ARTIFACT_TYPES}, "description": "the file"}},
)
def get_artifact(
    request: Request,
    capture_id: CaptureId,
    name: ArtifactName,
    max_side: int | None = Query(None, ge=16, le=8192, description="Scale images down to this long side (page views)"),
):
    art = request.app.state.service.store.artifact(capture_id, name)
    headers = {"Cache-Control": "no-store, private"}
    if max_side is not None and art.content_type in ("image/png", "image/jpeg"):
        image = cv2.imread(str(art.path), cv2.IMREAD_UNCHANGED)
        if image is not None and max(image.shape[:2]) > max_side:
            h, w = image.shape[:2]
            s = max_side / max(h, w)
            image = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
            ext = ".png" if art.content_type == "image/png" else ".jpg"
            ok, buf = cv2.imencode(ext, image)
            if ok:
                return Response(buf.tobytes(), media_type=art.content_type, headers=headers)
    return FileResponse(
        art.path,
        media_type=art.content_type,
        filename=art.path.name,
        headers=headers,
        content_disposition_type="inline",
    )


@router.post("/captures/{capture_id}/reexport", dependencies=guarded, responses=CHANGE_RESPONSES)
async def reexport(request: Request, capture_id: CaptureId, body: ReexportBody) -> dict:
    """Make the capture again in another preset (same frame and strokes, same id): its files
    are replaced and re-published."""
    service = request.app.state.service
    await run_in_threadpool(service.reexport, capture_id, body.preset)
    return service.store.meta(capture_id)


@router.post(
    "/captures/{capture_id}/correct",
    dependencies=guarded,
    responses=CHANGE_RESPONSES,
    max_body_size=CORRECTION_BODY_LIMIT,
)
async def correct(request: Request, capture_id: CaptureId, body: CorrectionRequest) -> dict:
    service = request.app.state.service
    frame = service.store.meta(capture_id).get("frame") or {}
    width, height = int(frame.get("width", 0)), int(frame.get("height", 0))
    keep, remove = await run_in_threadpool(body.to_masks, width, height)
    await run_in_threadpool(service.correct, capture_id, keep, remove)
    return service.store.meta(capture_id)
