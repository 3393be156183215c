"""compose stage: Matte -> Cutout at the preset's output size.

Order: crop box (alpha above a cut-off) -> placement (size, margins, fill, centre or floor)
-> canvas (colour / image / transparent) -> shadow -> product blended on top. Only the
product's own rectangle is resampled from the frame (warpAffine reads just what it needs),
so the cost follows the output size, not the camera's.
"""

from __future__ import annotations

import cv2
import numpy as np

from device.compose import background, color, layout, shadow
from device.config import PresetConfig
from device.types import Cutout, Matte

__all__ = ["compose", "subject_box"]


def subject_box(matte: Matte, preset: PresetConfig) -> tuple[int, int, int, int]:
    """The crop box compose would choose: pixels with alpha above the preset's cut-off.

    An empty matte (nothing on the table) gives the whole frame, so the capture still
    produces a picture that the quality check can flag.
    """
    box = layout.alpha_box(matte.alpha, preset.alpha_cutoff)
    if box is None:
        h, w = matte.alpha.shape
        return 0, 0, w, h
    return box


def _resample(matte: Matte, pl: layout.Placement, src: tuple[int, int, int, int]) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Frame region `src` (which contains the crop box) scaled by the placement's exact scale.

    Returns (X, Y, foreground uint8 RGB, alpha uint8) with (X, Y) the output position of the
    region's top-left. cv2.resize with fx/fy and no dsize uses exactly that scale, so the crop
    box keeps its exact output size; its position is rounded to the nearest output pixel.
    """
    x0, y0, x1, y1 = src
    interp = cv2.INTER_AREA if pl.sx < 1 else cv2.INTER_LINEAR
    a = matte.alpha[y0:y1, x0:x1]
    a8 = cv2.convertScaleAbs(a, alpha=255.0) if a.dtype != np.uint8 else a
    fg_o = cv2.resize(matte.foreground[y0:y1, x0:x1], None, fx=pl.sx, fy=pl.sy, interpolation=interp)
    a_o = cv2.resize(a8, None, fx=pl.sx, fy=pl.sy, interpolation=interp)
    X = pl.x - round((pl.box[0] - x0) * pl.sx)
    Y = pl.y - round((pl.box[1] - y0) * pl.sy)
    return X, Y, fg_o, a_o


def _clip(X: int, Y: int, img: np.ndarray, width: int, height: int) -> tuple[int, int, int, int, int, int]:
    """Intersection of an image placed at (X, Y) with the canvas: canvas rect + offsets into img."""
    h, w = img.shape[:2]
    cx0, cy0, cx1, cy1 = max(0, X), max(0, Y), min(width, X + w), min(height, Y + h)
    return cx0, cy0, cx1, cy1, cx0 - X, cy0 - Y


def _real_shadow(matte: Matte, pl: layout.Placement, src: tuple[int, int, int, int]) -> tuple[int, int, np.ndarray]:
    """The clean-plate mode's own cast shadow (frame darkness map) mapped like the product."""
    H, W = matte.alpha.shape
    x0, y0, x1, y1 = src
    # a cast shadow reaches past the product: take a region twice the box's size around it
    bw, bh = x1 - x0, y1 - y0
    x0, y0, x1, y1 = max(0, x0 - bw // 2), max(0, y0 - bh // 2), min(W, x1 + bw // 2), min(H, y1 + bh // 2)
    region = np.ascontiguousarray(matte.shadow[y0:y1, x0:x1], dtype=np.float32)
    big = cv2.resize(region, None, fx=pl.sx, fy=pl.sy, interpolation=cv2.INTER_AREA if pl.sx < 1 else cv2.INTER_LINEAR)
    X = pl.x - round((pl.box[0] - x0) * pl.sx)
    Y = pl.y - round((pl.box[1] - y0) * pl.sy)
    return X, Y, np.clip(big, 0, 1)


def _blend(bg: np.ndarray, fg: np.ndarray, a: np.ndarray) -> np.ndarray:
    """bg + (fg - bg) * a / 255 in uint8 (one rounding), all same-size arrays."""
    a3 = cv2.cvtColor(a, cv2.COLOR_GRAY2RGB)
    return cv2.add(cv2.multiply(fg, a3, scale=1 / 255), cv2.multiply(bg, cv2.bitwise_not(a3), scale=1 / 255))


def compose(matte: Matte, preset: PresetConfig, box: tuple[int, int, int, int] | None = None) -> Cutout:
    """Lay the matted product out on the preset's canvas; `box` forces the crop (spin sets)."""
    H, W = matte.alpha.shape
    if box is None:
        box = subject_box(matte, preset)
    else:
        x0, y0, x1, y1 = (int(v) for v in box)
        if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
            raise ValueError(f"box {tuple(box)} is not inside the {W}x{H} frame: give x0 < x1 <= {W}, y0 < y1 <= {H}")
        box = (x0, y0, x1, y1)
    pl = layout.place(box, preset)
    # everything with any alpha lands in the output, not just what is above the cut-off
    content = layout.alpha_box(matte.alpha, 1 / 255) or box
    src = (min(content[0], box[0]), min(content[1], box[1]), max(content[2], box[2]), max(content[3], box[3]))
    out = background.canvas(preset, pl.width, pl.height)
    alpha_out = np.zeros((pl.height, pl.width), np.uint8)
    X, Y, fg_o, a_o = _resample(matte, pl, src)
    X0, Y0, X1, Y1, u, v = _clip(X, Y, a_o, pl.width, pl.height)
    if X1 > X0 and Y1 > Y0:
        fg_o = fg_o[v:v + Y1 - Y0, u:u + X1 - X0]
        a_o = a_o[v:v + Y1 - Y0, u:u + X1 - X0]
        if preset.white_balance:
            fg_o = color.apply_gains(fg_o, color.backdrop_gains(matte.frame.image, matte.alpha, box))
        sh = preset.shadow
        if sh.kind != "none" and sh.real and matte.shadow is not None:
            shadow.apply(out, 1.0, *_real_shadow(matte, pl, src))
        elif sh.kind == "contact":
            shadow.apply(out, sh.opacity, *shadow.contact(sh, pl.x, pl.y, pl.w, pl.h))
        elif sh.kind == "drop":
            shadow.apply(out, sh.opacity, *shadow.drop(sh, a_o, X0, Y0))
        alpha_out[Y0:Y1, X0:X1] = a_o
        if preset.background == "transparent":
            out[Y0:Y1, X0:X1] = fg_o
        else:
            out[Y0:Y1, X0:X1] = _blend(out[Y0:Y1, X0:X1], fg_o, a_o)
    return Cutout(frame=matte.frame, rgb=out, alpha=alpha_out, box=box, preset=preset.name, model=matte.model,
                  transparent=preset.background == "transparent")
