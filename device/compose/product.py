"""Product: the matted product's pixels at output scale. Only the frame region that can hold
product is resampled, by exactly the placement's scale, so the crop box keeps its exact output
size and the cost follows the output size, not the camera's."""

from __future__ import annotations

import cv2
import numpy as np

from device.compose.layout import Placement
from device.types import Matte


def scale_interp(s: float) -> int:
    """INTER_AREA only below half size: between 0.5 and 1 bilinear still reads every source pixel
    and is several times cheaper than a fractional INTER_AREA step."""
    return cv2.INTER_AREA if s < 0.5 else cv2.INTER_LINEAR


def resample(matte: Matte, pl: Placement, src: tuple[int, int, int, int]) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Frame region `src` (which contains the crop box) scaled by the placement's exact scale.

    Returns (X, Y, foreground uint8 RGB, alpha uint8) with (X, Y) the output position of the
    region's top-left. cv2.resize with fx/fy and no dsize uses exactly that scale, so the crop
    box keeps its exact output size; its position is rounded to the nearest output pixel.
    """
    interp = scale_interp(pl.sx)
    fg_o = cv2.resize(matte.foreground_in(src), None, fx=pl.sx, fy=pl.sy, interpolation=interp)
    a_o = cv2.resize(matte.alpha8_in(src), None, fx=pl.sx, fy=pl.sy, interpolation=interp)
    X, Y = origin(pl, src)
    return X, Y, fg_o, a_o


def origin(pl: Placement, src: tuple[int, int, int, int]) -> tuple[int, int]:
    """Output position of the top-left of frame region `src` under the placement."""
    return pl.x - round((pl.box[0] - src[0]) * pl.sx), pl.y - round((pl.box[1] - src[1]) * pl.sy)


def clip(X: int, Y: int, img: np.ndarray, width: int, height: int) -> tuple[int, int, int, int, int, int]:
    """Intersection of an image placed at (X, Y) with the canvas: canvas rect + offsets into img."""
    h, w = img.shape[:2]
    cx0, cy0, cx1, cy1 = max(0, X), max(0, Y), min(width, X + w), min(height, Y + h)
    return cx0, cy0, cx1, cy1, cx0 - X, cy0 - Y


def resize(img: np.ndarray, pl: Placement, interp: int) -> np.ndarray:
    """img scaled by exactly the placement's (sx, sy) (fx/fy, no dsize: the crop box keeps its exact size)."""
    return cv2.resize(img, None, fx=pl.sx, fy=pl.sy, interpolation=interp)


def resize_into(img: np.ndarray, dst: np.ndarray, pl: Placement, interp: int) -> None:
    """_resize written straight into a canvas view of the matching size (no temporary, no copy)."""
    got = cv2.resize(img, None, dst=dst, fx=pl.sx, fy=pl.sy, interpolation=interp)
    if not np.shares_memory(got, dst):  # cv2 reallocated (size mismatch): copy what fits
        dst[:] = got[: dst.shape[0], : dst.shape[1]]
