"""Foreground colour estimation ('decontamination'), so the backdrop does not bleed into edges.

An edge pixel is I = a F + (1 - a) B: showing I as the product colour leaves a rim of the
backdrop (a white or green halo). Blur-fusion (Forte & Pitie 2021, 'Approximate Fast
Foreground Colour Estimation') estimates smooth local F and B by alpha-weighted blurs, then
corrects F per pixel: F = F~ + a (I - a F~ - (1 - a) B~). The blurs run on the reduced work
grid; only the per-pixel correction runs at frame resolution, and only in the unknown band
(where a is 1 the formula gives F = I exactly).
"""

from __future__ import annotations

import cv2
import numpy as np

_TINY = 1e-4


def _blur(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.blur(x, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def colour_layers(image: np.ndarray, alpha: np.ndarray, radii: tuple[int, ...] = (45, 3)) -> tuple[np.ndarray, np.ndarray]:
    """Smooth foreground and backdrop colour estimates (hxwx3 float32, 0..1) on one grid.

    image: hxwx3 float32 0..1, alpha: hxw float32 0..1. Large radius first (fills colours far
    into the band), then a small one (local detail), as in the paper.
    """
    f, b = image, image
    f_blur = b_blur = image
    for r in radii:
        a = alpha[..., None]
        blur_a = _blur(alpha, r)[..., None]
        f_blur = _blur(f * a, r) / (blur_a + _TINY)
        b_blur = _blur(b * (1 - a), r) / (1 - blur_a + _TINY)
        f = np.clip(f_blur + a * (image - a * f_blur - (1 - a) * b_blur), 0, 1)
        b = b_blur
    return f_blur.astype(np.float32), b_blur.astype(np.float32)


def correct(image: np.ndarray, alpha: np.ndarray, f_smooth: np.ndarray, b_smooth: np.ndarray) -> np.ndarray:
    """Per-pixel blur-fusion step: F = F~ + a (I - a F~ - (1 - a) B~), all Nx3/N float32 0..1."""
    a = alpha[..., None]
    return np.clip(f_smooth + a * (image - a * f_smooth - (1 - a) * b_smooth), 0, 1)


def estimate(image: np.ndarray, alpha: np.ndarray, radii: tuple[int, ...] = (45, 3)) -> np.ndarray:
    """Foreground colours at one resolution (hxwx3 float32 0..1): the reference, single-grid form."""
    f, b = colour_layers(image, alpha, radii)
    return correct(image, alpha, f, b)
