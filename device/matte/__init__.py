"""matte stage: the model's low-res mask -> frame-resolution soft alpha + clean foreground colours.

Cost is kept to the subject: the subject box is found on the low-res mask, everything
iterative (cleanup, trimap, guided filter coefficients, colour blurs) runs on a reduced work
grid of that box, and only the unknown band is evaluated at frame resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from device.config import MatteConfig
from device.matte import cleanup, foreground, guided, trimap
from device.matte.strokes import Strokes
from device.types import Mask, Matte

__all__ = ["refine", "Strokes"]


def _check_mask(mask: Mask) -> np.ndarray:
    prob = np.asarray(mask.prob)
    if prob.ndim == 3 and prob.shape[-1] == 1:
        prob = prob[..., 0]
    if prob.ndim != 2 or prob.size == 0:
        raise ValueError(f"Mask.prob must be a 2-D hxw probability map (got shape {prob.shape})")
    prob = prob.astype(np.float32, copy=False)
    if not np.isfinite(prob).all():
        raise ValueError("Mask.prob contains NaN or inf")
    return np.clip(prob, 0, 1)


def _subject_roi(kept: np.ndarray, frame_w: int, frame_h: int, pad: int, extra: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
    """Frame-pixel box around the kept mask pieces (and keep strokes), padded for the band."""
    pts = cv2.findNonZero(kept)
    boxes = []
    if pts is not None:
        x, y, w, h = cv2.boundingRect(pts)
        sx, sy = frame_w / kept.shape[1], frame_h / kept.shape[0]
        boxes.append((int(np.floor(x * sx)), int(np.floor(y * sy)), int(np.ceil((x + w) * sx)), int(np.ceil((y + h) * sy))))
    if extra is not None:
        boxes.append(extra)
    if not boxes:
        return None
    x0 = max(0, min(b[0] for b in boxes) - pad)
    y0 = max(0, min(b[1] for b in boxes) - pad)
    x1 = min(frame_w, max(b[2] for b in boxes) + pad)
    y1 = min(frame_h, max(b[3] for b in boxes) + pad)
    return x0, y0, x1, y1


def _lowres_to_work(prob: np.ndarray, roi: tuple[int, int, int, int], frame_w: int, frame_h: int, s: float, size: tuple[int, int]) -> np.ndarray:
    """Resample the whole-frame low-res map onto the work grid of the ROI (bilinear, pixel-centre exact)."""
    kx = frame_w / prob.shape[1] * s
    ky = frame_h / prob.shape[0] * s
    m = np.array([[kx, 0, 0.5 * kx - roi[0] * s - 0.5], [0, ky, 0.5 * ky - roi[1] * s - 0.5]], np.float64)
    return cv2.warpAffine(prob, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _sample(grid: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """Bilinear samples of an hxwxC float32 grid at N points (-> NxC); remap wants a 2-D map under 32767 a side."""
    n = mx.size
    cols = 1024
    rows = -(-n // cols)
    pad = rows * cols - n
    px = np.pad(mx, (0, pad)).reshape(rows, cols)
    py = np.pad(my, (0, pad)).reshape(rows, cols)
    out = cv2.remap(grid, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * cols, -1)[:n]


def refine(mask: Mask, cfg: MatteConfig, strokes: Strokes | None = None) -> Matte:
    """Soft alpha (HxW float32) and decontaminated foreground (HxWx3 uint8) at frame size."""
    frame = mask.frame
    image = frame.image
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"Frame.image must be HxWx3 uint8 RGB (got {image.shape} {image.dtype})")
    H, W = image.shape[:2]
    prob = _check_mask(mask)
    if strokes is not None:
        strokes.check_size(H, W)

    # 1. specks and pin-holes on the model's grid, then the subject box
    binary = np.where(prob >= cfg.threshold, np.uint8(255), np.uint8(0))
    kept = cleanup.clean(binary, cfg.speck_fraction, cfg.hole_fraction)
    removed = (binary > 0) & (kept == 0)
    filled = (kept > 0) & (binary == 0)
    if removed.any() or filled.any():
        prob = prob.copy()
        prob[cv2.dilate(removed.view(np.uint8), np.ones((3, 3), np.uint8)) > 0] = 0
        prob[filled] = 1
    keep_box = strokes.keep_box() if strokes is not None else None
    alpha = np.zeros((H, W), np.float32)
    fg = np.zeros((H, W, 3), np.uint8)
    cell = max(W / prob.shape[1], H / prob.shape[0])
    roi = _subject_roi(kept, W, H, int(np.ceil(2 * cell + 2 * cfg.band_px)), keep_box)
    if roi is None:
        return Matte(frame=frame, alpha=alpha, foreground=fg, model=mask.model)
    x0, y0, x1, y1 = roi
    rw, rh = x1 - x0, y1 - y0
    img_roi = image[y0:y1, x0:x1]

    # 2. work grid: guide, soft mask, strokes
    s = min(1.0, cfg.work_px / max(rw, rh))
    ww, wh = max(1, round(rw * s)), max(1, round(rh * s))
    sx, sy = ww / rw, wh / rh
    guide_w = cv2.resize(img_roi, (ww, wh), interpolation=cv2.INTER_AREA).astype(np.float32) * (1 / 255)
    p_w = _lowres_to_work(prob, roi, W, H, s, (ww, wh))
    keep_roi = remove_roi = None
    if strokes is not None:
        keep_roi = strokes.keep[y0:y1, x0:x1] & ~strokes.remove[y0:y1, x0:x1]
        remove_roi = strokes.remove[y0:y1, x0:x1]
        k_w = cv2.resize(keep_roi.view(np.uint8).astype(np.float32), (ww, wh), interpolation=cv2.INTER_AREA)
        r_w = cv2.resize(remove_roi.view(np.uint8).astype(np.float32), (ww, wh), interpolation=cv2.INTER_AREA)
        p_w = np.minimum(np.maximum(p_w, k_w), 1 - r_w)

    # 3. unknown band and guided filter on the work grid
    bin_w = np.where(p_w >= cfg.threshold, np.uint8(255), np.uint8(0))
    sure_w, maybe_w = trimap.band(bin_w, max(1, round(cfg.band_px * s)))
    # window about one model-mask cell: the mask knows the edge to a cell, the image inside it
    r_w = max(1, round(cfg.radius_cells * cell * s))
    coef = guided.coefficients(guide_w, p_w, r_w, cfg.eps)
    # the guided filter keeps some of the upsampled mask's blur; a gain about 0.5 takes it out
    # (folded into the coefficients: k (a.I + b - 0.5) + 0.5)
    coef *= cfg.sharpen
    coef[..., 3] += 0.5 * (1 - cfg.sharpen)

    # 4. frame resolution: solid outside the band, a . I + b inside it
    sure = cv2.resize(sure_w, (rw, rh), interpolation=cv2.INTER_NEAREST)
    maybe = cv2.resize(maybe_w, (rw, rh), interpolation=cv2.INTER_NEAREST)
    a_roi = alpha[y0:y1, x0:x1]
    a_roi[sure > 0] = 1.0
    band_mask = cv2.bitwise_and(maybe, cv2.bitwise_not(sure))
    fg_roi = fg[y0:y1, x0:x1]
    fg_roi[:] = img_roi
    ys, xs = np.nonzero(band_mask)
    if xs.size:
        mx = (xs.astype(np.float32) + 0.5) * sx - 0.5
        my = (ys.astype(np.float32) + 0.5) * sy - 0.5
        c = _sample(coef, mx, my)
        pix = img_roi[ys, xs].astype(np.float32) * (1 / 255)
        a_band = np.clip((c[:, :3] * pix).sum(axis=1) + c[:, 3], 0, 1)
        a_roi[ys, xs] = a_band
        if cfg.decontaminate:
            a_w = np.clip(guided.apply(coef, guide_w), 0, 1)
            a_w[sure_w > 0] = 1
            a_w[maybe_w == 0] = 0
            f_s, b_s = foreground.colour_layers(guide_w, a_w)
            fb = np.concatenate([_sample(f_s, mx, my), _sample(b_s, mx, my)], axis=1)
            f_band = foreground.correct(pix, a_band, fb[:, :3], fb[:, 3:])
            fg_roi[ys, xs] = (f_band * 255 + 0.5).astype(np.uint8)
    if keep_roi is not None:
        a_roi[keep_roi] = 1.0
        a_roi[remove_roi] = 0.0
        fg_roi[keep_roi] = img_roi[keep_roi]
    if cfg.hard:
        np.copyto(a_roi, (a_roi >= cfg.threshold).astype(np.float32))
    return Matte(frame=frame, alpha=alpha, foreground=fg, model=mask.model)
