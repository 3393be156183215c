"""The correction request: the operator's keep/remove strokes, as a painted PNG or as polylines.

The page sends its stroke layer as a PNG (green = keep, red = remove, transparent = not
painted), at any size: it is scaled to the frame. Integrators may send polylines in frame
pixels (or 0..1 with `normalized`) and a brush diameter instead. Either becomes two
frame-sized boolean masks for `CutboxService.correct`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import JsonDict

from device.errors import BadRequest
from device.limits import MAX_STROKE_LINES, MAX_STROKE_PNG_CHARS, MAX_STROKE_POINTS

Coordinate = Annotated[float, Field(allow_inf_nan=False)]
Point = tuple[Coordinate, Coordinate]
Polyline = Annotated[list[Point], Field(min_length=1)]
# The stroke layer is a PNG: clients (and schema-driven test tools) read this format name.
PNG_FORMAT = "base64-png"
# "Something painted", said in JSON schema so clients see it: a layer or one line at least.
SOMETHING_PAINTED: JsonDict = {
    "anyOf": [
        {"required": ["mask_png"], "properties": {"mask_png": {"type": "string"}}},
        {"required": ["keep"], "properties": {"keep": {"minItems": 1}}},
        {"required": ["remove"], "properties": {"remove": {"minItems": 1}}},
    ]
}


class CorrectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=SOMETHING_PAINTED)

    mask_png: str | None = Field(
        None,
        max_length=MAX_STROKE_PNG_CHARS,
        description="PNG stroke layer (base64 or data: URL): green = keep, red = remove, transparent = untouched; scaled to the frame",
        json_schema_extra={"format": PNG_FORMAT, "contentMediaType": "image/png"},
    )
    keep: list[Polyline] = Field(
        default_factory=list, max_length=MAX_STROKE_LINES, description="Polylines to keep (alpha 1)"
    )
    remove: list[Polyline] = Field(
        default_factory=list, max_length=MAX_STROKE_LINES, description="Polylines to remove (alpha 0)"
    )
    brush_px: float = Field(24.0, ge=1, le=2000, description="Brush diameter for polylines, in frame pixels")
    normalized: bool = Field(False, description="Polyline points are 0..1 fractions of the frame instead of pixels")

    @model_validator(mode="after")
    def _something_painted(self) -> CorrectionRequest:
        if self.mask_png is None and not self.keep and not self.remove:
            raise ValueError("send mask_png or at least one keep/remove polyline")
        lines = self.keep + self.remove
        if sum(len(line) for line in lines) > MAX_STROKE_POINTS:
            raise ValueError(f"at most {MAX_STROKE_POINTS} points in all polylines together")
        return self

    def to_masks(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """(keep, remove) as HxW bool arrays at the frame's size."""
        if self.mask_png is not None:
            keep, remove = _decode_layer(self.mask_png, width, height)
        else:
            keep = np.zeros((height, width), bool)
            remove = np.zeros((height, width), bool)
        thickness = max(1, int(round(self.brush_px)))
        for lines, target in ((self.keep, keep), (self.remove, remove)):
            if not lines:
                continue
            canvas = np.zeros((height, width), np.uint8)
            for line in lines:
                pts = np.asarray(line, np.float64)
                if not np.isfinite(pts).all():
                    raise BadRequest("polyline points must be finite numbers")
                if self.normalized:
                    pts = pts * [width, height]
                # Far-off points still draw their part of the line but cannot overflow OpenCV.
                pts = np.clip(pts, [-4 * width, -4 * height], [5 * width, 5 * height]).round().astype(np.int32)
                if len(pts) == 1:
                    cv2.circle(canvas, tuple(int(v) for v in pts[0]), max(1, thickness // 2), 255, -1)
                else:
                    cv2.polylines(canvas, [pts.reshape(-1, 1, 2)], False, 255, thickness, lineType=cv2.LINE_8)
            target |= canvas > 0
        remove_wins = keep & remove
        keep &= ~remove_wins
        return keep, remove


def _decode_layer(text: str, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("mask_png: not valid base64") from None
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED) if raw else None
    if image is None or image.ndim not in (2, 3):
        raise BadRequest("mask_png: not a readable PNG image")
    h, w = image.shape[:2]
    if h * w > 80_000_000:
        raise BadRequest(f"mask_png: {w}x{h} is too large")
    if image.ndim == 2:
        raise BadRequest("mask_png: needs colour (green = keep, red = remove), got a grey image")
    if image.shape[2] == 4:
        b, g, r, a = cv2.split(image)
        painted = a > 0
    else:
        b, g, r = cv2.split(image)
        painted = np.ones((h, w), bool)
    keep = painted & (g > 127) & (g.astype(np.int16) > r.astype(np.int16) + 40)
    remove = painted & (r > 127) & (r.astype(np.int16) > g.astype(np.int16) + 40)
    if (w, h) != (width, height):
        keep = cv2.resize(keep.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        remove = cv2.resize(remove.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
    return keep, remove
