"""Shadow: what grounds the product. A contact or drop shadow made here, or the real cast shadow
the booth's clean plate showed (`Matte.shadow`), at output scale.

A shadow is a float32 0..1 darkness map over a rectangle of the canvas; the canvas is
multiplied by (1 - opacity * map) there, before the product is laid on top. The contact
ellipse is cached per size (the same preset makes the same kernel); the drop shadow is
blurred at quarter resolution, since a blurred shadow has no fine detail to lose.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from device.compose.layout import Placement
from device.config import PresetConfig, ShadowConfig
from device.types import Matte


@lru_cache(maxsize=16)
def contact_kernel(width: int, height: int, blur: int) -> np.ndarray:
    """A blurred filled ellipse of semi-axes width/2 x height/2, padded by 3 blur sigmas."""
    pad = 3 * blur
    k = np.zeros((height + 2 * pad + 1, width + 2 * pad + 1), np.float32)
    cv2.ellipse(
        k,
        (pad + width // 2, pad + height // 2),
        (max(1, width // 2), max(1, height // 2)),
        0,
        0,
        360,
        1.0,
        -1,
        cv2.LINE_AA,
    )
    if blur > 0:
        k = cv2.GaussianBlur(k, (0, 0), blur)
        k /= max(float(k.max()), 1e-6)
    k.setflags(write=False)
    return k


def contact(cfg: ShadowConfig, x: int, y: int, w: int, h: int) -> tuple[int, int, np.ndarray]:
    """Contact shadow centred under the product box (x, y, w, h): (left, top, map)."""
    ew = max(2, round(w * cfg.spread))
    eh = max(2, round(w * cfg.height))
    blur = round(cfg.blur_px / 2)
    k = contact_kernel(ew, eh, blur)
    left = x + w // 2 - k.shape[1] // 2
    top = y + h - k.shape[0] // 2
    return left, top, k


def drop(cfg: ShadowConfig, alpha: np.ndarray, x: int, y: int) -> tuple[int, int, np.ndarray]:
    """Drop shadow of a product alpha (uint8, placed at x, y): (left, top, map)."""
    small, pad = _blurred_quarter(cfg, alpha)
    small *= 1 / 255
    big = cv2.resize(small, (small.shape[1] * _Q, small.shape[0] * _Q), interpolation=cv2.INTER_LINEAR)
    return (*_drop_origin(cfg, x, y, pad), big)


def drop_weights(cfg: ShadowConfig, alpha: np.ndarray, x: int, y: int) -> tuple[int, int, np.ndarray]:
    """drop() as under()'s uint8 weights: made at quarter resolution and then scaled as uint8,
    so no product-size float map is ever written."""
    small, pad = _blurred_quarter(cfg, alpha)
    w8 = weights(cfg.opacity / 255.0, small)
    big = cv2.resize(w8, (w8.shape[1] * _Q, w8.shape[0] * _Q), interpolation=cv2.INTER_LINEAR)
    return (*_drop_origin(cfg, x, y, pad), big)


_Q = 4  # the drop shadow is blurred at 1/_Q of the output's resolution


def _blurred_quarter(cfg: ShadowConfig, alpha: np.ndarray) -> tuple[np.ndarray, int]:
    """(the alpha at 1/_Q scale, padded and blurred, float32 0..255; the padding in small px).

    The alpha is padded to whole _Q x _Q blocks and halved twice with bilinear steps of exactly
    2, which is the 4x4 block mean (as INTER_AREA, at a twentieth of its time on uint8)."""
    h, w = alpha.shape
    H, W = -(-h // _Q) * _Q, -(-w // _Q) * _Q
    if (H, W) != (h, w):
        alpha = cv2.copyMakeBorder(alpha, 0, H - h, 0, W - w, cv2.BORDER_CONSTANT, value=0)
    half = cv2.resize(alpha, (W // 2, H // 2), interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(half, (W // _Q, H // _Q), interpolation=cv2.INTER_LINEAR)
    sigma = cfg.blur_px / _Q / 2
    pad = int(np.ceil(3 * sigma)) + 1
    small = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0).astype(np.float32)
    if sigma > 0:
        small = cv2.GaussianBlur(small, (0, 0), sigma)
    return small, pad


def _drop_origin(cfg: ShadowConfig, x: int, y: int, pad: int) -> tuple[int, int]:
    """Top-left corner of the drop shadow's map: the product's, less the padding, plus the offset
    away from the light."""
    t = np.deg2rad(cfg.angle_deg)
    dx, dy = cfg.distance_px * np.cos(t), cfg.distance_px * np.sin(t)
    return x - pad * _Q + round(dx), y - pad * _Q + round(dy)


def apply(canvas: np.ndarray, opacity: float, left: int, top: int, darkness: np.ndarray) -> None:
    """Darken canvas in place by (1 - opacity * darkness) over the map's rectangle (clipped)."""
    H, W = canvas.shape[:2]
    h, w = darkness.shape
    x0, y0, x1, y1 = max(0, left), max(0, top), min(W, left + w), min(H, top + h)
    if x1 <= x0 or y1 <= y0 or opacity <= 0:
        return
    d = darkness[y0 - top : y1 - top, x0 - left : x1 - left]
    keep = 1.0 - opacity * d
    region = canvas[y0:y1, x0:x1]
    region[:] = (region * keep[..., None] + 0.5).astype(np.uint8)


@lru_cache(maxsize=16)
def _contact_weights(width: int, height: int, blur: int, opacity: float) -> np.ndarray:
    """The contact kernel as uint8 darkening weights round(255 * opacity * map)."""
    w8 = cv2.convertScaleAbs(contact_kernel(width, height, blur), alpha=255.0 * opacity)
    w8.setflags(write=False)
    return w8


def contact_weights(cfg: ShadowConfig, x: int, y: int, w: int, h: int) -> tuple[int, int, np.ndarray]:
    """contact() as cached uint8 weights (255 * opacity * map) for under()."""
    ew = max(2, round(w * cfg.spread))
    eh = max(2, round(w * cfg.height))
    k8 = _contact_weights(ew, eh, round(cfg.blur_px / 2), float(cfg.opacity))
    return x + w // 2 - k8.shape[1] // 2, y + h - k8.shape[0] // 2, k8


def weights(opacity: float, darkness: np.ndarray) -> np.ndarray:
    """A float 0..1 darkness map as uint8 weights round(255 * opacity * map)."""
    return cv2.convertScaleAbs(np.ascontiguousarray(darkness, dtype=np.float32), alpha=255.0 * opacity)


def under(
    canvas: np.ndarray, alpha: np.ndarray, color: tuple[int, int, int], left: int, top: int, w8: np.ndarray
) -> None:
    """Shadow a product already laid on a flat colour: canvas -= color * w8 * (255 - alpha) / 255^2.

    With the product over colour c, shadowing the colour first gives c k + (F - c k) a, which is
    the laid-on picture minus c (1 - k)(1 - a): so the shadow shows only where the product does
    not cover it, and the product's own pixels are untouched. All uint8 (a few small cv2 passes
    over the shadow's rectangle)."""
    H, W = canvas.shape[:2]
    h, w = w8.shape
    x0, y0, x1, y1 = max(0, left), max(0, top), min(W, left + w), min(H, top + h)
    if x1 <= x0 or y1 <= y0:
        return
    d = w8[y0 - top : y1 - top, x0 - left : x1 - left]
    for (r0, r1), (c0, c1) in _shaded_blocks(d):
        ry0, ry1, rx0, rx1 = y0 + r0, y0 + r1, x0 + c0, x0 + c1
        grey = color[0] == color[1] == color[2]  # a grey colour folds into the one multiply
        scale = float(color[0]) / 255**2 if grey else 1 / 255
        t = cv2.multiply(d[r0:r1, c0:c1], cv2.bitwise_not(alpha[ry0:ry1, rx0:rx1]), scale=scale)
        t3 = cv2.cvtColor(t, cv2.COLOR_GRAY2RGB)
        if not grey:
            t3 = cv2.multiply(t3, (float(color[0]), float(color[1]), float(color[2]), 0.0), scale=1 / 255)
        region = canvas[ry0:ry1, rx0:rx1]
        got = cv2.subtract(region, t3, dst=region)
        if not np.shares_memory(got, canvas):  # pragma: no cover - cv2 always writes a matching view
            region[:] = got


def _shaded_blocks(w8: np.ndarray, gap: int = 32) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """((row0, row1), (col0, col1)) blocks that hold all non-zero weights: runs of shaded rows
    (split where more than `gap` rows are empty), each cut to its shaded columns. A real cast
    shadow is one block; scattered faint bits do not cost a product-size rectangle."""
    rows = np.flatnonzero(w8.max(axis=1))
    if rows.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(rows) > gap)
    blocks = []
    for r0, r1 in zip(np.r_[rows[0], rows[cuts + 1]], np.r_[rows[cuts], rows[-1]] + 1):
        cols = np.flatnonzero(w8[r0:r1].max(axis=0))
        blocks.append(((int(r0), int(r1)), (int(cols[0]), int(cols[-1]) + 1)))
    return blocks


# ---- the real cast shadow (booth plate mode) and the preset's choice -------------------------
def real_part(matte: Matte, pl: Placement) -> tuple[int, int, np.ndarray, tuple[int, int]] | None:
    """The part of the clean-plate mode's own cast shadow that holds shadow and lands on the
    canvas: `Matte.shadow` is a small layer over the whole frame, so only that part is ever
    scaled (one small resize, not a frame-size one). Returns (left, top, part, output size), or
    None when no shadow lands on the canvas."""
    layer = matte.shadow
    if layer is None:
        return None
    lh, lw = layer.shape[:2]
    W, H = matte.frame.size
    kx, ky = W / lw * pl.sx, H / lh * pl.sy  # output px per layer px
    ox, oy = pl.x - pl.box[0] * pl.sx, pl.y - pl.box[1] * pl.sy  # output position of the frame's corner
    u0, v0 = max(0, int(np.floor(-ox / kx))), max(0, int(np.floor(-oy / ky)))
    u1, v1 = min(lw, int(np.ceil((pl.width - ox) / kx))), min(lh, int(np.ceil((pl.height - oy) / ky)))
    if u1 <= u0 or v1 <= v0:
        return None
    pts = cv2.findNonZero((layer[v0:v1, u0:u1] >= 1 / 255).view(np.uint8))  # below that it changes no uint8 pixel
    if pts is None:
        return None
    x, y, w, h = cv2.boundingRect(pts)
    # one layer pixel of margin each side, so the bilinear fade-out is kept
    x0, y0 = max(u0, u0 + x - 1), max(v0, v0 + y - 1)
    x1, y1 = min(u1, u0 + x + w + 1), min(v1, v0 + y + h + 1)
    size = (max(1, round((x1 - x0) * kx)), max(1, round((y1 - y0) * ky)))
    return round(ox + x0 * kx), round(oy + y0 * ky), layer[y0:y1, x0:x1], size


def real(matte: Matte, pl: Placement) -> tuple[int, int, np.ndarray] | None:
    """The real cast shadow at output scale as a float 0..1 darkness map: (left, top, map)."""
    part = real_part(matte, pl)
    if part is None:
        return None
    left, top, small, size = part
    big = cv2.resize(np.ascontiguousarray(small, dtype=np.float32), size, interpolation=cv2.INTER_LINEAR)
    return left, top, np.clip(big, 0, 1)


def real_weights(matte: Matte, pl: Placement) -> tuple[int, int, np.ndarray] | None:
    """real() as under's uint8 weights: made at the layer's size (the conversion
    saturates, so no clip) and then scaled as uint8, a third of the float path's time."""
    part = real_part(matte, pl)
    if part is None:
        return None
    left, top, small, size = part
    return left, top, cv2.resize(weights(1.0, small), size, interpolation=cv2.INTER_LINEAR)


def for_preset(matte: Matte, preset: PresetConfig, pl: Placement, a_o, X0, Y0):
    """(opacity, left, top, darkness map) of the preset's shadow, or None."""
    sh = preset.shadow
    if sh.kind != "none" and sh.real and matte.shadow is not None:
        cast = real(matte, pl)
        return None if cast is None else (1.0, *cast)
    if sh.kind == "contact":
        return (sh.opacity, *contact(sh, pl.x, pl.y, pl.w, pl.h))
    if sh.kind == "drop":
        return (sh.opacity, *drop(sh, a_o, X0, Y0))
    return None
