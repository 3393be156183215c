"""The product's real cast shadow as its own layer, found with the clean plate.

Outside the product, a booth frame is the plate darkened by the shadow:
frame = gain * plate * (1 - shadow). So shadow = 1 - frame / (gain * plate), where `gain`
(exposure flicker) is the median ratio on the border, and only where the darkening is
neutral (a shadow darkens r, g and b alike; a missed coloured part of the product does
not). The layer is 0 under the product, so compose can keep it, drop it or replace it with
a synthetic one. Computed and kept at a reduced size (shadows are soft); compose scales only
the part it draws to the output.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from device.booth.plate import area_resize as _area
from device.types import Matte

WORK_WIDTH = 384  # shadows are soft: estimating them at this width loses nothing, costs little


def _shadow_small(
    f8: np.ndarray, p8: np.ndarray, a: np.ndarray, min_darkening: float, border: float, max_chroma: float
) -> np.ndarray:
    """The layer at the small size: frame and plate (uint8, one size), alpha (float 0..1, the same
    size). Per-channel work runs on contiguous planes with cv2 (numpy reductions over a last axis
    of 3 are ten times slower)."""
    wh, ww = a.shape
    f = cv2.GaussianBlur(f8.astype(np.float32) + 1.0, (0, 0), 1.0)  # sensor noise would read as speckled shadow
    r, g, b = cv2.split(cv2.divide(f, p8.astype(np.float32) + 1.0))  # per-channel ratio to the plate
    lum = (r + g + b) * np.float32(1 / 3)
    bw = max(2, int(round(border * min(wh, ww))))
    ring = np.ones((wh, ww), bool)
    ring[bw:-bw, bw:-bw] = False
    ring &= a < 0.05
    gain = float(np.median(lum[ring])) if ring.any() else 1.0
    inv_gain = np.float32(1 / max(gain, 1e-3))
    lum *= inv_gain
    dark = cv2.max(cv2.min(1.0 - lum, 1.0), 0.0)
    # Neutral darkening only: channel ratios close to each other.
    spread = (cv2.max(cv2.max(r, g), b) - cv2.min(cv2.min(r, g), b)) * inv_gain / cv2.max(lum, 1e-3)
    neutral = cv2.max(cv2.min(1.0 - (spread - max_chroma) / max_chroma, 1.0), 0.0)
    # Soft threshold: noise below min_darkening is not shadow, ramping in up to twice that.
    ramp = cv2.max(cv2.min((dark - min_darkening) / max(min_darkening, 1e-6), 1.0), 0.0)
    # Right at the product (two small pixels: the noise blur's reach) product and backdrop mix,
    # which reads as a dark rim; there the shadow is carried in from just outside instead, so a
    # real contact shadow still meets the product and a rim disappears.
    near = np.ones((5, 5), np.uint8)
    cover = cv2.dilate(a, near)
    shadow = dark * ramp * neutral * (1.0 - cover)
    shadow += cv2.dilate(shadow, near) * cv2.max(cover - a, 0.0)
    return _drop_specks(shadow.astype(np.float32, copy=False))


def _drop_specks(shadow: np.ndarray, min_area_frac: float = 2e-4, level: float = 1 / 255) -> np.ndarray:
    """A cast shadow is a broad patch; isolated specks of a few small pixels are noise or edge
    leftovers, and each would make compose shade a product-size rectangle for nothing."""
    on = (shadow >= level).view(np.uint8)
    # 16-bit labels are a third of the 32-bit labelling's time; 8-connected pieces of one pixel
    # or more are at most a quarter of the pixels, so they fit while that is under 65536
    ltype = cv2.CV_16U if shadow.size < 4 * 65535 else cv2.CV_32S
    n, labels, stats, _ = cv2.connectedComponentsWithStats(on, connectivity=8, ltype=ltype)
    small = stats[1:, cv2.CC_STAT_AREA] < max(4, min_area_frac * shadow.size)
    if n > 1 and small.any():
        keep = np.ones(n, np.float32)
        keep[1:][small] = 0
        shadow *= keep[labels]
    shadow *= on  # below one grey level it shades nothing
    return shadow


def _small_pair(frame: np.ndarray, plate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if frame.shape != plate.shape:
        raise ValueError(f"frame {frame.shape} and plate {plate.shape} differ: recalibrate the plate")
    h, w = frame.shape[:2]
    ww = min(WORK_WIDTH, w)
    wh = max(8, round(h * ww / w))
    return _area(frame, ww, wh), _area(plate, ww, wh)


def estimate_shadow(
    frame: np.ndarray,
    plate: np.ndarray,
    alpha: np.ndarray,
    min_darkening: float = 0.04,
    border: float = 0.1,
    max_chroma: float = 0.12,
) -> np.ndarray:
    """Shadow layer at alpha's size (float32 0..1): how much the plate is darkened outside the product.

    frame, plate: HxWx3 uint8 RGB of the same size; alpha: float 0..1 at any size. The
    frame-size form for tools and tests; the pipeline keeps the layer small (`add_shadow`).
    """
    f8, p8 = _small_pair(frame, plate)
    wh, ww = f8.shape[:2]
    a = np.clip(_area(alpha.astype(np.float32, copy=False), ww, wh), 0.0, 1.0)
    shadow = _shadow_small(f8, p8, a, min_darkening, border, max_chroma)
    ah, aw = alpha.shape[:2]
    if (wh, ww) != (ah, aw):
        # Full size: bilinear up (stays within 0..1), then nothing under the product (cv2: one SIMD pass each).
        shadow = cv2.resize(shadow, (aw, ah), interpolation=cv2.INTER_LINEAR)
        shadow = cv2.multiply(shadow, cv2.subtract(1.0, alpha.astype(np.float32, copy=False)))
        np.maximum(shadow, 0.0, out=shadow)  # alpha slightly above 1 must not make negative shadow
    return shadow


def small_alpha(matte: Matte, w: int, h: int) -> np.ndarray:
    """The matte's alpha over the whole frame at w x h (float32 0..1), read from its region of
    interest only: no frame-size array is made."""
    W, H = matte.frame.size
    out = np.zeros((h, w), np.float32)
    x0, y0, x1, y1 = matte.extent
    sx, sy = w / W, h / H
    u0, v0 = int(round(x0 * sx)), int(round(y0 * sy))
    u1, v1 = max(u0 + 1, int(round(x1 * sx))), max(v0 + 1, int(round(y1 * sy)))
    u1, v1 = min(u1, w), min(v1, h)
    if x1 > x0 and y1 > y0 and u1 > u0 and v1 > v0:
        a8 = matte.alpha8_in((x0, y0, x1, y1))
        out[v0:v1, u0:u1] = _area(a8, u1 - u0, v1 - v0) * np.float32(1 / 255)
    return out


def add_shadow(
    matte: Matte,
    plate_image: np.ndarray,
    min_darkening: float = 0.04,
    border: float = 0.1,
    small: tuple[np.ndarray, np.ndarray] | None = None,
    max_chroma: float = 0.12,
) -> Matte:
    """The same Matte with its `shadow` layer: kept at the small size it is estimated at (a
    soft layer over the whole frame; compose scales just the part it draws), so plate mode adds
    no frame-size work. `small`: (frame, plate) already reduced to one size (the booth
    segmenter's model input), else both are reduced here."""
    f8, p8 = small if small is not None else _small_pair(matte.frame.image, plate_image)
    wh, ww = f8.shape[:2]
    shadow = _shadow_small(f8, p8, small_alpha(matte, ww, wh), min_darkening, border, max_chroma)
    return dataclasses.replace(matte, shadow=shadow)
