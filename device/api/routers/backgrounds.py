"""Upload a background picture for presets (into the data folder, see device.workflows.backgrounds)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from device.api.auth import require_token
from device.api.guard import UPLOAD_BODY_LIMIT
from device.api.problems import CROSS_SITE
from device.workflows.backgrounds import NAME, save_background

router = APIRouter(prefix="/api", tags=["settings"])


@router.put(
    "/backgrounds/{name}",
    dependencies=[Depends(require_token)],
    responses=CROSS_SITE,
    max_body_size=UPLOAD_BODY_LIMIT,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_background(
    request: Request, name: Annotated[str, Path(pattern=NAME.pattern, description="e.g. studio-grey")]
) -> dict:
    """Store the body (a picture, up to 32 MiB) as `<data_dir>/backgrounds/<name>.png`; set a
    preset's `image` to the returned `path`."""
    data = await request.body()
    return await run_in_threadpool(save_background, request.app.state.service.data_dir, name, data)
