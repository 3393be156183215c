"""Live view: an MJPEG stream (multipart/x-mixed-replace) at a bounded frame rate, and one still."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

router = APIRouter(prefix="/api", tags=["preview"])
BOUNDARY = "cutboxframe"


@router.get("/preview.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, 204: {"description": "nothing to show yet"}})
async def still(request: Request) -> Response:
    data = await run_in_threadpool(request.app.state.service.preview_jpeg)
    if data is None:
        return Response(status_code=204)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/preview.mjpeg", response_class=StreamingResponse,
            responses={200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}}})
async def mjpeg(request: Request, frames: int | None = Query(None, ge=1, le=100_000, description="Stop after this many frames (default: until the client leaves)")):
    service = request.app.state.service
    period = 1.0 / service.config.api.preview_fps

    async def stream():
        sent, last = 0, None
        while frames is None or sent < frames:
            if await request.is_disconnected():
                return
            started = asyncio.get_running_loop().time()
            data = await run_in_threadpool(service.preview_jpeg)
            if data is not None and data is not last:
                yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data + b"\r\n"
                sent += 1
            last = data
            await asyncio.sleep(max(0.0, period - (asyncio.get_running_loop().time() - started)))

    return StreamingResponse(stream(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                             headers={"Cache-Control": "no-store"})
