"""Live view: an MJPEG stream (multipart/x-mixed-replace) at a bounded frame rate, and one still."""

from __future__ import annotations

import asyncio
from functools import lru_cache

import cv2
import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

router = APIRouter(prefix="/api", tags=["preview"])
BOUNDARY = "cutboxframe"
STILL_RESEND_S = 1.0


@lru_cache(maxsize=4)
def placeholder(width: int) -> bytes:
    """A dark frame that says there is no picture yet (a file source before its first shot)."""
    height = width * 3 // 4
    image = np.full((height, width, 3), 40, np.uint8)
    text = "no live picture yet"
    scale = width / 640
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(
        image,
        text,
        ((width - tw) // 2, (height + th) // 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (200, 200, 200),
        2,
        cv2.LINE_AA,
    )
    return cv2.imencode(".jpg", image)[1].tobytes()


@router.get(
    "/preview.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 204: {"description": "nothing to show yet"}},
)
async def still(request: Request) -> Response:
    data = await run_in_threadpool(request.app.state.service.preview_jpeg)
    if data is None:
        return Response(status_code=204)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get(
    "/preview.mjpeg",
    response_class=StreamingResponse,
    responses={200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}}},
)
async def mjpeg(
    request: Request,
    frames: int | None = Query(
        None, ge=1, le=100_000, description="Stop after this many frames (default: until the client leaves)"
    ),
):
    service = request.app.state.service
    period = 1.0 / service.config.api.preview_fps

    async def stream():
        loop = asyncio.get_running_loop()
        sent, last, last_at = 0, None, 0.0
        while frames is None or sent < frames:
            if await request.is_disconnected():
                return
            started = loop.time()
            data = await run_in_threadpool(service.preview_jpeg) or placeholder(service.config.api.preview_width)
            # A still picture (file source, placeholder) is re-sent once a second, not at full rate.
            if data is not last or started - last_at >= STILL_RESEND_S:
                yield (
                    (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n").encode()
                    + data
                    + b"\r\n"
                )
                sent, last, last_at = sent + 1, data, started
            await asyncio.sleep(max(0.0, period - (loop.time() - started)))

    return StreamingResponse(
        stream(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}", headers={"Cache-Control": "no-store"}
    )
