"""Booth-like backgrounds and product compositing (numpy + OpenCV only, no TensorFlow).

Used to make extra training pairs from labelled product photos, and reusable for a booth
evaluation set: `composite(rgb, alpha, rng)` puts the product (cut out with its soft alpha)
onto a white/grey sweep, coloured paper, a gradient or a lightly textured surface, with a
synthetic contact shadow under it, and returns the new picture and its alpha.
"""

from __future__ import annotations

import cv2
import numpy as np

BACKGROUND_KINDS = ("sweep", "paper", "gradient", "texture")


def _colour(rng: np.random.Generator, kind: str) -> np.ndarray:
    if kind == "neutral":
        v = rng.uniform(150, 255)
        return np.array([v, v, v]) + rng.normal(0, 4, 3)
    return rng.uniform(40, 255, 3)


def background(h: int, w: int, rng: np.random.Generator, kind: str | None = None, tint=None) -> np.ndarray:
    """A float32 HxWx3 (0..255) booth background of the given or a random kind; `tint` (RGB)
    makes it a sweep of about that colour (a white shirt on white paper)."""
    kind = "sweep" if tint is not None else kind or BACKGROUND_KINDS[rng.integers(len(BACKGROUND_KINDS))]
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    if kind == "sweep":  # paper curving from wall to floor: light top, soft fall-off
        if tint is not None:
            top = np.asarray(tint, np.float64) + rng.normal(0, 6, 3)
        else:
            top = _colour(rng, "neutral" if rng.random() < 0.8 else "colour")
        bottom = top * rng.uniform(0.75, 1.05)
        knee = rng.uniform(0.3, 0.8)
        t = 1.0 / (1.0 + np.exp(-(yy - knee) * rng.uniform(6, 20)))
        bg = top * (1 - t) + bottom * t
        bg = np.broadcast_to(bg, (h, w, 3))
    elif kind == "paper":
        bg = np.broadcast_to(_colour(rng, "colour"), (h, w, 3))
    elif kind == "gradient":
        a, b = _colour(rng, "colour"), _colour(rng, "neutral")
        ang = rng.uniform(0, 2 * np.pi)
        xx = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
        t = np.clip(0.5 + (xx - 0.5) * np.cos(ang) + (yy - 0.5) * np.sin(ang), 0, 1)
        bg = a * (1 - t) + b * t
    else:  # light texture: low-pass noise on a neutral base (fabric, card, wood-ish)
        base = _colour(rng, "neutral" if rng.random() < 0.6 else "colour")
        n = rng.normal(0, 1, (max(h // 8, 2), max(w // 8, 2))).astype(np.float32)
        n = cv2.resize(n, (w, h), interpolation=cv2.INTER_CUBIC)
        fine = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8)
        bg = base * (1 + rng.uniform(0.02, 0.08) * n[..., None]) + rng.uniform(2, 8) * fine[..., None]
    # vignetting / uneven light
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    y2 = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    vig = 1 - rng.uniform(0, 0.25) * (xx**2 + y2**2) / 2
    return np.clip(np.asarray(bg, np.float32) * vig[..., None], 0, 255).astype(np.float32)


def contact_shadow(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative shade map (HxW, 1 = no shadow) for a soft shadow under the product."""
    h, w = alpha.shape
    ys, xs = np.nonzero(alpha > 0.5)
    shade = np.ones((h, w), np.float32)
    if len(ys) == 0:
        return shade
    x0, x1, y1 = xs.min(), xs.max(), ys.max()
    cx = (x0 + x1) / 2 + rng.uniform(-0.1, 0.1) * (x1 - x0)
    ax = max((x1 - x0) / 2 * rng.uniform(0.7, 1.1), 2)
    ay = max(ax * rng.uniform(0.08, 0.25), 2)
    blob = np.zeros((h, w), np.float32)
    cv2.ellipse(blob, (int(cx), int(y1)), (int(ax), int(ay)), 0, 0, 360, 1.0, -1)
    # a drop shadow too: the product's own silhouette, offset and blurred
    dx, dy = rng.uniform(-0.05, 0.05) * w, rng.uniform(0.0, 0.04) * h
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    drop = cv2.warpAffine(alpha.astype(np.float32), m, (w, h))
    sigma = rng.uniform(0.01, 0.04) * max(h, w)
    blob = cv2.GaussianBlur(np.maximum(blob, drop * rng.uniform(0, 0.7)), (0, 0), sigma)
    return 1.0 - rng.uniform(0.15, 0.55) * np.clip(blob, 0, 1)


def clutter(h: int, w: int, rng: np.random.Generator, pool: list[np.ndarray]) -> np.ndarray:
    """A busy scene behind the product (a cluttered floor, a shelf, a desk): a zoomed-in crop of
    another photo with patches of others laid over it, often out of focus. Float32 HxWx3 0..255.

    Its objects are unlabelled on purpose: the student learns that the one product in front is
    the subject, not everything in the frame (on COCO it called half the scene foreground)."""

    def crop(img: np.ndarray, ch: int, cw: int) -> np.ndarray:
        ih, iw = img.shape[:2]
        zoom = rng.uniform(0.3, 0.8)
        sh, sw = max(int(ih * zoom), 8), max(int(iw * zoom), 8)
        y0, x0 = rng.integers(0, ih - sh + 1), rng.integers(0, iw - sw + 1)
        return cv2.resize(img[y0 : y0 + sh, x0 : x0 + sw], (cw, ch), interpolation=cv2.INTER_LINEAR)

    bg = crop(pool[rng.integers(len(pool))], h, w).astype(np.float32)
    for _ in range(int(rng.integers(0, 4))):
        ph, pw = int(h * rng.uniform(0.2, 0.6)), int(w * rng.uniform(0.2, 0.6))
        y0, x0 = rng.integers(0, h - ph + 1), rng.integers(0, w - pw + 1)
        bg[y0 : y0 + ph, x0 : x0 + pw] = crop(pool[rng.integers(len(pool))], ph, pw)
    if rng.random() < 0.6:  # depth of field
        bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(0.8, 4.0))
    return np.clip(bg * rng.uniform(0.6, 1.1), 0, 255)


def composite(
    rgb: np.ndarray,
    alpha: np.ndarray,
    rng: np.random.Generator,
    out_hw: tuple[int, int] | None = None,
    pool: list[np.ndarray] | None = None,
    match: bool = False,
    fill: tuple[float, float] = (0.35, 0.9),
) -> tuple[np.ndarray, np.ndarray]:
    """Put a labelled product onto a random booth background, or with `pool` (other photos)
    onto a `clutter` scene made from them, or with `match` onto a sweep of its own median
    colour (the low-contrast case: white on white, black on black).

    rgb: HxWx3 uint8, alpha: HxW float 0..1. The product is cropped to its box, rescaled and
    placed at random (mostly near the centre, resting low); returns (uint8 RGB, float32 alpha).
    """
    h, w = out_hw or alpha.shape[:2]
    ys, xs = np.nonzero(alpha > 0.05)
    if len(ys) < 16:
        raise ValueError("alpha has no product to composite")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    fg, a = rgb[y0:y1, x0:x1].astype(np.float32), alpha[y0:y1, x0:x1].astype(np.float32)
    s = rng.uniform(*fill) * min(h / a.shape[0], w / a.shape[1])
    nh, nw = max(int(a.shape[0] * s), 4), max(int(a.shape[1] * s), 4)
    fg = cv2.resize(fg, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    a = cv2.resize(a, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    py = int(np.clip(rng.normal((h - nh) * 0.6, (h - nh) * 0.2 + 1), 0, h - nh))
    px = int(np.clip(rng.normal((w - nw) * 0.5, (w - nw) * 0.2 + 1), 0, w - nw))
    A = np.zeros((h, w), np.float32)
    F = np.zeros((h, w, 3), np.float32)
    A[py : py + nh, px : px + nw] = np.clip(a, 0, 1)
    F[py : py + nh, px : px + nw] = fg
    if pool is not None:
        bg = clutter(h, w, rng, pool)
    else:
        bg = background(h, w, rng, tint=np.median(fg[a > 0.5], axis=0) if match and (a > 0.5).any() else None)
    if rng.random() < 0.85:
        bg = bg * contact_shadow(A, rng)[..., None]
    out = A[..., None] * F + (1 - A[..., None]) * bg
    return np.clip(out, 0, 255).astype(np.uint8), A
