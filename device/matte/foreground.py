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


def colour_layers(
    image: np.ndarray, alpha: np.ndarray, radii: tuple[int, ...] = (45, 3)
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth foreground and backdrop colour estimates (hxwx3 float32, 0..1) on one grid.

    image: hxwx3 float32 0..1, alpha: hxw float32 0..1. Large radius first (fills colours far
    into the band), then a small one (local detail), as in the paper. The blurs are linear, so
    the backdrop blur of each pass is blur(b) - blur(b a) and one product per pass suffices.
    """
    image = np.ascontiguousarray(image, dtype=np.float32)
    alpha = np.ascontiguousarray(alpha, dtype=np.float32)
    a = alpha[..., None]
    inv_a = 1 - a
    f, b = image, image
    f_blur = b_blur = image
    for i, r in enumerate(radii):
        blur_a = _blur(alpha, r)[..., None]
        f_blur = _blur(f * a, r)
        f_blur /= blur_a + _TINY
        b_blur = _blur(b * inv_a, r)
        b_blur /= (1 + _TINY) - blur_a
        if i + 1 < len(radii):  # the corrected foreground only feeds the next pass
            f = image - inv_a * b_blur
            f -= a * f_blur
            f *= a
            f += f_blur
            np.clip(f, 0, 1, out=f)
            b = b_blur
    return f_blur, b_blur


def correct(
    image: np.ndarray, alpha: np.ndarray, f_smooth: np.ndarray, b_smooth: np.ndarray, channel_axis: int = -1
) -> np.ndarray:
    """Per-pixel blur-fusion step: F = F~ + a (I - a F~ - (1 - a) B~), all float32 0..1: colours
    Nx3 (or 3xN planes with channel_axis=0, alpha then 1xN), alpha N.

    Written as F~ + a (I - B~ - a (F~ - B~)) with in-place steps (one temporary)."""
    a = alpha[..., None] if channel_axis == -1 else alpha
    out = f_smooth - b_smooth
    out *= -a
    out += image
    out -= b_smooth
    out *= a
    out += f_smooth
    return np.clip(out, 0, 1, out=out)


def estimate(image: np.ndarray, alpha: np.ndarray, radii: tuple[int, ...] = (45, 3)) -> np.ndarray:
    """Foreground colours at one resolution (hxwx3 float32 0..1): the reference, single-grid form."""
    f, b = colour_layers(image, alpha, radii)
    return correct(image, alpha, f, b)


def suppress_spill(
    colours: np.ndarray, f_smooth: np.ndarray, b_smooth: np.ndarray, min_separation: float = 0.1
) -> np.ndarray:
    """Take out of edge colours the tint that still leans from the local product colour F~
    towards the backdrop's (3xN planes, float32 0..1, changed in place).

    Blur-fusion leaves a pixel the model calls solid (alpha 1) as it is, so backdrop light that
    bled into it (lens flare, JPEG chroma at half resolution) stays: the pink rim of a white cap
    on red paper. This is a keyer's spill suppression with the backdrop colour measured locally
    instead of a fixed key colour, on chroma only (rgb minus its mean), so brightness and
    shading stay and the correction never goes past F~'s own tint (no complementary rim). Only
    where F~ and B~ differ in tint enough for the direction to mean something; used on the
    unknown band only (a few pixels from the edge).

    Chroma (x less its channel mean) is linear, so the direction u = chroma(B~) - chroma(F~) is
    chroma(B~ - F~); and u's channels sum to 0, so the lean of chroma(I) - chroma(F~) along u is
    that of I - F~ itself: one chroma instead of four, the same figures."""
    u = b_smooth - f_smooth
    u -= (u[0] + u[1] + u[2]) * np.float32(1 / 3)
    uu = np.einsum("cn,cn->n", u, u)
    lean = np.einsum("cn,cn->n", colours - f_smooth, u)
    lean /= np.maximum(uu, 1e-6)
    np.clip(lean, 0, 1, out=lean)
    lean[uu < min_separation * min_separation] = 0
    colours -= lean * u
    return np.clip(colours, 0, 1, out=colours)
