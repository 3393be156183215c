"""Configuration (read, validated partial update) and presets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from device.api.auth import require_token
from device.api.guard import CONFIG_BODY_LIMIT
from device.api.problems import CROSS_SITE, Problem

router = APIRouter(prefix="/api", tags=["settings"])


class PresetChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=64)


@router.get("/config")
def get_config(request: Request) -> dict:
    """The running configuration; secrets are shown as ***."""
    return request.app.state.service.config_view()


@router.put(
    "/config",
    dependencies=[Depends(require_token)],
    max_body_size=CONFIG_BODY_LIMIT,
    responses={
        **CROSS_SITE,
        409: {
            "model": Problem,
            "description": "well formed but refused: a rule between keys, a path outside the box's folders",
        },
    },
)
async def put_config(
    request: Request, patch: dict[str, Any] = Body(..., examples=[{"compose": {"preset": "transparent-png"}}])
) -> dict:
    """Merge a partial configuration (sections and keys as in cutbox.toml), validate, apply."""
    return await run_in_threadpool(request.app.state.service.update_config, patch)


@router.get("/presets")
def presets(request: Request) -> dict:
    return request.app.state.service.presets()


@router.put("/preset", dependencies=[Depends(require_token)], responses=CROSS_SITE)
async def set_preset(request: Request, body: PresetChoice) -> dict:
    return await run_in_threadpool(request.app.state.service.set_preset, body.name)
