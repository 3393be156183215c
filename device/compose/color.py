"""White-balance match: make the product's colours neutral against a neutral backdrop.

The booth's backdrop is white or grey by construction, so any tint it shows in the frame is
the light's (or the camera's). Per-channel gains that make the backdrop grey are applied to
the product through a LUT (one cheap pass).
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_GAIN = 1.5


def backdrop_gains(
    image: np.ndarray, alpha, box: tuple[int, int, int, int], ring: float = 0.15
) -> tuple[float, float, float]:
    """RGB gains that turn the mean backdrop colour (alpha ~ 0 around the box) grey.

    `alpha`: the frame-size HxW alpha, or a function giving the alpha over a frame box
    (`Matte.alpha_in`), so a matte stored for its ROI only is read just around the box."""
    H, W = image.shape[:2]
    x0, y0, x1, y1 = box
    px, py = round((x1 - x0) * ring), round((y1 - y0) * ring)
    X0, Y0, X1, Y1 = max(0, x0 - px), max(0, y0 - py), min(W, x1 + px), min(H, y1 + py)
    step = max(1, int(np.sqrt((X1 - X0) * (Y1 - Y0) / 40000)))
    a = alpha((X0, Y0, X1, Y1))[::step, ::step] if callable(alpha) else alpha[Y0:Y1:step, X0:X1:step]
    pix = image[Y0:Y1:step, X0:X1:step][a < 0.02]
    if pix.shape[0] < 50:
        return 1.0, 1.0, 1.0
    mean = pix.reshape(-1, 3).astype(np.float64).mean(axis=0)
    target = mean.mean()
    g = np.clip(target / np.maximum(mean, 1.0), 1 / MAX_GAIN, MAX_GAIN)
    return float(g[0]), float(g[1]), float(g[2])


def apply_gains(rgb: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    """rgb (HxWx3 uint8) with per-channel gains, through one 3-channel LUT."""
    lut = np.stack([np.clip(np.arange(256) * g + 0.5, 0, 255) for g in gains], axis=-1).astype(np.uint8)
    return cv2.LUT(rgb, lut.reshape(256, 1, 3))
