"""Place: where the product goes. The crop box from the alpha, then its scale and offset into
the output.

All geometry is integer output pixels decided here, once, so crop, margin, aspect and fill
are exact: the product's box lands on [x, x + w) x [y, y + h) of the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device.config import PresetConfig
from device.types import Matte


@dataclass(frozen=True)
class Placement:
    """Output canvas size and where the crop box lands in it (all output pixels)."""

    width: int
    height: int
    x: int  # product box left edge in the output
    y: int  # product box top edge in the output
    w: int  # product box width in the output
    h: int  # product box height in the output
    box: tuple[int, int, int, int]  # crop box in frame pixels (x0, y0, x1, y1)

    @property
    def sx(self) -> float:
        return self.w / (self.box[2] - self.box[0])

    @property
    def sy(self) -> float:
        return self.h / (self.box[3] - self.box[1])

    def affine(self, dx: int = 0, dy: int = 0) -> np.ndarray:
        """2x3 frame->output matrix (pixel centres) for cv2.warpAffine, shifted by (-dx, -dy)."""
        x0, y0 = self.box[0], self.box[1]
        return np.array(
            [
                [self.sx, 0, self.sx * (0.5 - x0) + self.x - 0.5 - dx],
                [0, self.sy, self.sy * (0.5 - y0) + self.y - 0.5 - dy],
            ],
            np.float64,
        )


def alpha_box(alpha: np.ndarray, cutoff: float) -> tuple[int, int, int, int] | None:
    """Tight box (x0, y0, x1, y1) of pixels with alpha > cutoff, None when there are none."""
    # numpy's max is SIMD along both axes (cv2.reduce across a row is 40x slower)
    cols = alpha.max(axis=0)
    xs = np.flatnonzero(cols > cutoff)
    if xs.size == 0:
        return None
    rows = alpha[:, xs[0] : xs[-1] + 1].max(axis=1)
    ys = np.flatnonzero(rows > cutoff)
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def margin_px(value: int | str, side: int) -> int:
    """A margin in output pixels: an int is pixels, 'N%' is N percent of that output side."""
    if isinstance(value, str):
        return int(round(float(value.rstrip("%")) / 100 * side))
    return int(value)


def place(box: tuple[int, int, int, int], preset: PresetConfig) -> Placement:
    """Scale and position the crop box in the preset's canvas."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    if bw <= 0 or bh <= 0:
        raise ValueError(f"crop box {box} is empty: x1 > x0 and y1 > y0 are needed")
    m = preset.margin
    if preset.width == 0:  # native: the crop at 1:1 plus margins (percent of the crop's side)
        left, right = margin_px(m.left, bw), margin_px(m.right, bw)
        top, bottom = margin_px(m.top, bh), margin_px(m.bottom, bh)
        return Placement(bw + left + right, bh + top + bottom, left, top, bw, bh, box)
    W, H = preset.width, preset.height
    left, right = margin_px(m.left, W), margin_px(m.right, W)
    top, bottom = margin_px(m.top, H), margin_px(m.bottom, H)
    aw, ah = W - left - right, H - top - bottom
    if aw <= 0 or ah <= 0:
        raise ValueError(f"margins leave no room in a {W}x{H} output: make them smaller")
    scale = preset.fill * min(aw / bw, ah / bh)
    w = max(1, min(aw, round(bw * scale)))
    h = max(1, min(ah, round(bh * scale)))
    x = left + (aw - w) // 2
    y = top + (ah - h if preset.align == "floor" else (ah - h) // 2)
    return Placement(W, H, x, y, w, h, box)


def _region(matte: Matte) -> tuple[int, int, int, int] | None:
    """The frame box where the matte's alpha can be non-zero (the whole frame when unknown)."""
    W, H = matte.frame.size
    roi = matte.roi
    if roi is None:
        return 0, 0, W, H
    x0, y0, x1, y1 = (max(0, min(int(v), lim)) for v, lim in zip(roi, (W, H, W, H)))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def boxes(matte: Matte, cutoffs: tuple[float, ...]) -> list[tuple[int, int, int, int] | None]:
    """Tight boxes of alpha > each cut-off, from one column and one row maximum over the region."""
    region = _region(matte)
    if region is None:
        return [None] * len(cutoffs)
    x0, y0, x1, y1 = region
    a = matte.alpha8_in(region)  # uint8 round(255 alpha): a quarter of the bytes of a float read
    # numpy's max is SIMD along both axes (cv2.reduce across a row is 40x slower)
    cols, rows = a.max(axis=0), a.max(axis=1)
    out: list[tuple[int, int, int, int] | None] = []
    for c in cutoffs:
        xs, ys = np.flatnonzero(cols > c * 255), np.flatnonzero(rows > c * 255)
        out.append(
            None if xs.size == 0 else (x0 + int(xs[0]), y0 + int(ys[0]), x0 + int(xs[-1]) + 1, y0 + int(ys[-1]) + 1)
        )
    return out


def subject_box(matte: Matte, preset: PresetConfig) -> tuple[int, int, int, int]:
    """The crop box compose would choose: pixels with alpha above the preset's cut-off.

    An empty matte (nothing on the table) gives the whole frame, so the capture still
    produces a picture that the quality check can flag.
    """
    box = boxes(matte, (preset.alpha_cutoff,))[0]
    if box is None:
        w, h = matte.frame.size
        return 0, 0, w, h
    return box
