"""The product's real cast shadow as its own layer, found with the clean plate.

Outside the product, a booth frame is the plate darkened by the shadow:
frame = gain * plate * (1 - shadow). So shadow = 1 - frame / (gain * plate), where `gain`
(exposure flicker) is the median ratio on the border, and only where the darkening is
neutral (a shadow darkens r, g and b alike; a missed coloured part of the product does
not). The layer is 0 under the product, so compose can keep it, drop it or replace it with
a synthetic one. Computed at a reduced size (shadows are soft) and resized to the alpha.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from device.booth.plate import area_resize as _area
from device.types import Matte

WORK_WIDTH = 384  # shadows are soft: estimating them at this width loses nothing, costs little


def estimate_shadow(
    frame: np.ndarray,
    plate: np.ndarray,
    alpha: np.ndarray,
    min_darkening: float = 0.04,
    border: float = 0.1,
    max_chroma: float = 0.12,
    small: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Shadow layer (float32 0..1, alpha's size): how much the plate is darkened outside the product.

    frame, plate: HxWx3 uint8 RGB of the same size; alpha: float 0..1 at any size.
    `small`: (frame, plate) already reduced to one small size (e.g. the model input the booth
    segmenter made), which skips the two full-size resizes.
    """
    if frame.shape != plate.shape:
        raise ValueError(f"frame {frame.shape} and plate {plate.shape} differ: recalibrate the plate")
    if small is not None:
        f, p = (x.astype(np.float32) + 1.0 for x in small)
        wh, ww = f.shape[:2]
    else:
        h, w = frame.shape[:2]
        ww = min(WORK_WIDTH, w)
        wh = max(8, round(h * ww / w))
        f = _area(frame, ww, wh).astype(np.float32) + 1.0
        p = _area(plate, ww, wh).astype(np.float32) + 1.0
    f = cv2.GaussianBlur(f, (0, 0), 1.0)  # sensor noise would read as speckled shadow
    a = np.clip(_area(alpha.astype(np.float32, copy=False), ww, wh), 0.0, 1.0)

    ratio = f / p  # per channel
    b = max(2, int(round(border * min(wh, ww))))
    ring = np.ones((wh, ww), bool)
    ring[b:-b, b:-b] = False
    ring &= a < 0.05
    gain = float(np.median(ratio.mean(axis=2)[ring])) if ring.any() else 1.0
    ratio /= max(gain, 1e-3)
    lum = ratio.mean(axis=2)
    dark = np.clip(1.0 - lum, 0.0, 1.0)
    # Neutral darkening only: channel ratios close to each other.
    spread = (ratio.max(axis=2) - ratio.min(axis=2)) / np.maximum(lum, 1e-3)
    neutral = np.clip(1.0 - (spread - max_chroma) / max_chroma, 0.0, 1.0)
    # Soft threshold: noise below min_darkening is not shadow, ramping in up to twice that.
    ramp = np.clip((dark - min_darkening) / max(min_darkening, 1e-6), 0.0, 1.0)
    shadow = (dark * ramp * neutral * (1.0 - a)).astype(np.float32)
    ah, aw = alpha.shape[:2]
    if (wh, ww) != (ah, aw):
        # Full size: bilinear up (stays within 0..1), then nothing under the product (cv2: one SIMD pass each).
        shadow = cv2.resize(shadow, (aw, ah), interpolation=cv2.INTER_LINEAR)
        shadow = cv2.multiply(shadow, cv2.subtract(1.0, alpha.astype(np.float32, copy=False)))
        np.maximum(shadow, 0.0, out=shadow)  # alpha slightly above 1 must not make negative shadow
    return shadow


def add_shadow(matte: Matte, plate_image: np.ndarray, min_darkening: float = 0.04, border: float = 0.1,
               small: tuple[np.ndarray, np.ndarray] | None = None) -> Matte:
    """The same Matte with its `shadow` layer filled from the plate (frame and plate at full size)."""
    shadow = estimate_shadow(matte.frame.image, plate_image, matte.full_alpha(), min_darkening, border, small=small)
    return dataclasses.replace(matte, shadow=shadow)
