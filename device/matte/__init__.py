"""matte stage: the model's low-res mask -> frame-resolution soft alpha + clean foreground colours.

Cost is kept to the subject: the subject box is found on the low-res mask, everything
iterative (cleanup, trimap, guided filter coefficients, colour blurs) runs on a reduced work
grid of that box, and only the unknown band is evaluated at frame resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from device.config import MatteConfig
from device.matte import cleanup, foreground, guided, trimap
from device.matte.strokes import Strokes
from device.types import Frame, Mask, Matte

__all__ = ["refine", "Strokes"]

_RGB = np.dtype((np.void, 3))  # one pixel as a 3-byte item: fancy indexing on it is a plain copy


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


def _subject_roi(
    kept: np.ndarray, frame_w: int, frame_h: int, pad: int, extra: tuple[int, int, int, int] | None
) -> tuple[int, int, int, int] | None:
    """Frame-pixel box around the kept mask pieces (and keep strokes), padded for the band."""
    pts = cv2.findNonZero(kept)
    boxes = []
    if pts is not None:
        x, y, w, h = cv2.boundingRect(pts)
        sx, sy = frame_w / kept.shape[1], frame_h / kept.shape[0]
        boxes.append(
            (int(np.floor(x * sx)), int(np.floor(y * sy)), int(np.ceil((x + w) * sx)), int(np.ceil((y + h) * sy)))
        )
    if extra is not None:
        boxes.append(extra)
    if not boxes:
        return None
    x0 = max(0, min(b[0] for b in boxes) - pad)
    y0 = max(0, min(b[1] for b in boxes) - pad)
    x1 = min(frame_w, max(b[2] for b in boxes) + pad)
    y1 = min(frame_h, max(b[3] for b in boxes) + pad)
    return x0, y0, x1, y1


def _lowres_to_work(
    prob: np.ndarray, roi: tuple[int, int, int, int], frame_w: int, frame_h: int, k: int, size: tuple[int, int]
) -> np.ndarray:
    """Resample the whole-frame low-res map onto the work grid (cells of k x k frame pixels from the
    ROI's corner), bilinear and pixel-centre exact. The map is tiny, so warpAffine's cost is nil here."""
    kx = frame_w / prob.shape[1] / k
    ky = frame_h / prob.shape[0] / k
    m = np.array([[kx, 0, 0.5 * kx - roi[0] / k - 0.5], [0, ky, 0.5 * ky - roi[1] / k - 0.5]], np.float64)
    return cv2.warpAffine(prob, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _sample(grids: list[np.ndarray], mx: np.ndarray, my: np.ndarray) -> list[np.ndarray]:
    """Bilinear samples of hxwx4 float32 grids at N points (-> N-vectors, four per grid).

    cv2.remap's 4-channel path is several times faster per channel than 1-3 channels or more
    than 4, so callers pack their planes four to a grid; the points are converted to remap's
    fixed-point form once (convertMaps: what remap does itself with float maps on every call,
    so the samples are the same). remap wants a 2-D map under 32767 a side."""
    n = mx.size
    cols = 1024
    rows = -(-n // cols)
    pad = rows * cols - n
    px = np.pad(mx, (0, pad)).reshape(rows, cols)
    py = np.pad(my, (0, pad)).reshape(rows, cols)
    m1, m2 = cv2.convertMaps(px, py, cv2.CV_16SC2)
    out: list[np.ndarray] = []
    for grid in grids:
        got = cv2.remap(grid, m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out.extend(plane.reshape(-1)[:n] for plane in cv2.split(got))
    return out


def _work_grid(
    roi: tuple[int, int, int, int], frame_w: int, frame_h: int, work_px: int
) -> tuple[int, tuple[int, int, int, int]]:
    """(k, roi): an integer cell size k (work grid long side about work_px) and the ROI grown to
    whole cells where the frame allows, so the guide is an integer-factor INTER_AREA (a fast
    path, 3-4x the speed of a fractional one) and every work cell is exactly k x k frame pixels."""
    x0, y0, x1, y1 = roi
    k = max(1, -(-max(x1 - x0, y1 - y0) // work_px))

    def grow(a0: int, a1: int, size: int) -> tuple[int, int]:
        a0 -= a0 % 2 if k % 2 == 0 else 0  # even corner: the guide can start from Frame.half()
        n = -(-(a1 - a0) // k) * k
        a1 = a0 + n
        if a1 > size:
            a0, a1 = max(0, size - n), size
        return a0, a1

    x0, x1 = grow(x0, x1, frame_w)
    y0, y1 = grow(y0, y1, frame_h)
    return k, (x0, y0, x1, y1)


def _block_means(src: np.ndarray, k: int) -> np.ndarray:
    """Means of k x k blocks (src's sides are multiples of k): 2x2 halvings while k is even
    (bilinear at exactly half size is the 2x2 mean and OpenCV's fastest path), then one
    integer INTER_AREA; about half the cost of one INTER_AREA over the whole factor."""
    while k % 2 == 0:
        src = cv2.resize(src, (src.shape[1] // 2, src.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
        k //= 2
    if k == 1:
        return np.ascontiguousarray(src)
    return cv2.resize(src, (src.shape[1] // k, src.shape[0] // k), interpolation=cv2.INTER_AREA)


def _cell_pixels(cy: np.ndarray, cx: np.ndarray, k: int, rw: int, rh: int):
    """The frame pixels of work cells (cy, cx), cell-major: their flat index into the ROI
    arrays, their position on the work grid (for bilinear samples) and, when the ROI is not
    whole cells, which of the cells' pixels fell inside it (else None)."""
    off = np.arange(k, dtype=np.int32)
    ys = ((cy.astype(np.int32) * k)[:, None, None] + off[None, :, None]).repeat(k, axis=2).ravel()
    xs = ((cx.astype(np.int32) * k)[:, None, None] + off[None, None, :]).repeat(k, axis=1).ravel()
    inside = None
    if rw % k or rh % k:  # the ROI is not whole cells: the last row / column of cells overhangs
        inside = (xs < rw) & (ys < rh)
        xs, ys = xs[inside], ys[inside]
    mx = (xs.astype(np.float32) + 0.5) * (1 / k) - 0.5
    my = (ys.astype(np.float32) + 0.5) * (1 / k) - 0.5
    return ys * rw + xs, mx, my, inside


def _keep_see_through(
    a_roi: np.ndarray,
    p_w: np.ndarray,
    band_cells: np.ndarray,
    see_through: tuple[float, float],
    k: int,
    rw: int,
    rh: int,
) -> None:
    """Cells off the edge band whose mask value lies strictly inside `see_through` take that
    value as alpha (bilinear at frame pixels), not the 0/1 a probability would round to."""
    lo, hi = see_through
    cells = (p_w > lo) & (p_w < hi) & (band_cells == 0)
    cy, cx = np.nonzero(cells)
    if not cx.size:
        return
    idx, mx, my, _ = _cell_pixels(cy, cx, k, rw, rh)
    a = _sample([p_w], mx, my)[0]
    a_roi.reshape(-1)[idx] = cv2.convertScaleAbs(a, alpha=255.0).reshape(-1)


def refine(mask: Mask, cfg: MatteConfig, strokes: Strokes | None = None) -> Matte:
    """Soft alpha (uint8 round(255 a), see Matte) and decontaminated foreground (uint8 RGB) at frame resolution, stored
    for the subject's box only (`Matte.roi`, which is also the arrays' extent): alpha is 0 and
    the foreground is the frame itself outside it (see `Matte.full_alpha()`).

    1. specks and pin-holes on the model's grid, then the subject box; 2. a work grid of k x k
    cells (guide, soft mask, strokes); 3. the unknown band and the guided filter on that grid;
    4. frame resolution: solid cells straight into the alpha, a . I + b (and the foreground's
    colour correction) at the band's pixels only."""
    frame = mask.frame
    image = frame.image
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"Frame.image must be HxWx3 uint8 RGB (got {image.shape} {image.dtype})")
    H, W = image.shape[:2]
    prob = _check_mask(mask)
    if strokes is not None:
        strokes.check_size(H, W)

    prob, kept = _clean(prob, cfg)
    keep_box = strokes.keep_box() if strokes is not None else None
    cell = max(W / prob.shape[1], H / prob.shape[0])
    found = _subject_roi(kept, W, H, int(np.ceil(2 * cell + 2 * cfg.band_px)), keep_box)
    if found is None:
        return Matte(
            frame=frame,
            alpha=np.zeros((0, 0), np.uint8),
            foreground=np.zeros((0, 0, 3), np.uint8),
            model=mask.model,
            roi=(0, 0, 0, 0),
        )

    grid = _Grid.over(found, W, H, cfg.work_px)
    x0, y0, x1, y1 = grid.roi
    img_roi = image[y0:y1, x0:x1]
    guide_w = _guide(frame, img_roi, grid)
    p_w = _lowres_to_work(prob, grid.roi, W, H, grid.k, (grid.ww, grid.wh))
    keep_roi = remove_roi = None
    if strokes is not None:
        keep_roi = strokes.keep[y0:y1, x0:x1] & ~strokes.remove[y0:y1, x0:x1]
        remove_roi = strokes.remove[y0:y1, x0:x1]
        p_w = _with_strokes(p_w, keep_roi, remove_roi, grid)

    # 3. unknown band and guided filter on the work grid
    bin_w = np.where(p_w >= cfg.threshold, np.uint8(255), np.uint8(0))
    sure_w, maybe_w = trimap.band(bin_w, max(1, round(cfg.band_px / grid.k)))
    coef = _coefficients(guide_w, p_w, cfg, cell, grid.k)

    # 4. frame resolution
    a_roi = _solid_alpha(sure_w, grid)
    fg_roi = img_roi.copy()  # outside the band the foreground is the frame itself
    band_cells = cv2.bitwise_and(maybe_w, cv2.bitwise_not(sure_w))
    colours = _colour_grids(coef, guide_w, sure_w, maybe_w) if cfg.decontaminate else None
    _refine_band(a_roi, fg_roi, band_cells, coef, colours, cfg, grid)
    if mask.see_through is not None and not cfg.hard:
        _keep_see_through(a_roi, p_w, band_cells, mask.see_through, grid.k, grid.rw, grid.rh)
    if keep_roi is not None and remove_roi is not None:
        a_roi[keep_roi] = 255
        a_roi[remove_roi] = 0
        fg_roi[keep_roi] = img_roi[keep_roi]
    return Matte(frame=frame, alpha=a_roi, foreground=fg_roi, model=mask.model, roi=grid.roi)


def _clean(prob: np.ndarray, cfg: MatteConfig) -> tuple[np.ndarray, np.ndarray]:
    """(probability with specks removed and pin-holes filled, the cleaned binary mask)."""
    binary = np.where(prob >= cfg.threshold, np.uint8(255), np.uint8(0))
    kept = cleanup.clean(binary, cfg.speck_fraction, cfg.hole_fraction)
    removed = (binary > 0) & (kept == 0)
    filled = (kept > 0) & (binary == 0)
    if removed.any() or filled.any():
        prob = prob.copy()
        prob[cv2.dilate(removed.view(np.uint8), np.ones((3, 3), np.uint8)) > 0] = 0
        prob[filled] = 1
    return prob, kept


@dataclass(frozen=True)
class _Grid:
    """The work grid: cells of k x k frame pixels over the subject's box `roi` (rw x rh pixels,
    ww x wh cells; the last row and column of cells may stick out of a frame-wide roi)."""

    k: int
    roi: tuple[int, int, int, int]

    @classmethod
    def over(cls, roi: tuple[int, int, int, int], W: int, H: int, work_px: int) -> _Grid:
        k, roi = _work_grid(roi, W, H, work_px)
        return cls(k, roi)

    @property
    def rw(self) -> int:
        return self.roi[2] - self.roi[0]

    @property
    def rh(self) -> int:
        return self.roi[3] - self.roi[1]

    @property
    def ww(self) -> int:
        return -(-self.rw // self.k)

    @property
    def wh(self) -> int:
        return -(-self.rh // self.k)

    @property
    def whole(self) -> bool:
        """The roi is whole cells."""
        return self.ww * self.k == self.rw and self.wh * self.k == self.rh


def _guide(frame: Frame, img_roi: np.ndarray, grid: _Grid) -> np.ndarray:
    """The guide image on the work grid (float 0..1): block means of the roi, from the model
    input's half-size copy when one was made and the cells line up with it."""
    x0, y0, x1, y1 = grid.roi
    H, W = frame.image.shape[:2]
    k = grid.k
    src = img_roi
    if not grid.whole:  # the ROI spans the frame and the frame is not whole cells
        src = cv2.copyMakeBorder(img_roi, 0, grid.wh * k - grid.rh, 0, grid.ww * k - grid.rw, cv2.BORDER_REPLICATE)
    half = frame.half(make=False)  # the model input's halving, when it made one
    if (
        half is not None
        and k % 2 == 0
        and x0 % 2 == 0
        and y0 % 2 == 0
        and src is img_roi
        and x1 <= W - W % 2
        and y1 <= H - H % 2
    ):
        guide8 = _block_means(half[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], k // 2)
    else:
        guide8 = _block_means(src, k)
    guide_w = guide8.astype(np.float32)
    guide_w *= 1 / 255
    return guide_w


def _with_strokes(p_w: np.ndarray, keep_roi: np.ndarray, remove_roi: np.ndarray, grid: _Grid) -> np.ndarray:
    """The work-grid mask raised to the keep strokes' cover and lowered below the remove strokes'."""
    size = (grid.ww, grid.wh)
    k_w = cv2.resize(keep_roi.view(np.uint8).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    r_w = cv2.resize(remove_roi.view(np.uint8).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    return np.minimum(np.maximum(p_w, k_w), 1 - r_w)


def _coefficients(guide_w: np.ndarray, p_w: np.ndarray, cfg: MatteConfig, cell: float, k: int) -> np.ndarray:
    """The guided filter's per-cell a_r, a_g, a_b, b, sharpened."""
    # window about one model-mask cell: the mask knows the edge to a cell, the image inside it
    r_w = max(1, round(cfg.radius_cells * cell / k))
    coef = guided.coefficients(guide_w, p_w, r_w, cfg.eps)
    # the guided filter keeps some of the upsampled mask's blur; a gain about 0.5 takes it out
    # (folded into the coefficients: k (a.I + b - 0.5) + 0.5)
    coef *= cfg.sharpen
    coef[..., 3] += 0.5 * (1 - cfg.sharpen)
    return coef


def _solid_alpha(sure_w: np.ndarray, grid: _Grid) -> np.ndarray:
    """The roi's alpha with the solid cells in (nearest = whole k x k blocks); the band's pixels
    are written over it by `_refine_band`."""
    rw, rh, k = grid.rw, grid.rh, grid.k
    a_roi = np.empty((rh, rw), np.uint8)  # every pixel written below
    if grid.whole:
        cv2.resize(sure_w, (rw, rh), dst=a_roi, interpolation=cv2.INTER_NEAREST_EXACT)
    else:
        a_roi[:] = cv2.resize(sure_w, (grid.ww * k, grid.wh * k), interpolation=cv2.INTER_NEAREST_EXACT)[:rh, :rw]
    return a_roi


def _colour_grids(coef: np.ndarray, guide_w: np.ndarray, sure_w: np.ndarray, maybe_w: np.ndarray) -> list[np.ndarray]:
    """The smooth foreground and background colour layers, six planes four to a grid. They are
    blurs of 45 and 3 work cells, so they run on a grid of 2 x 2 work cells (a quarter of the
    pixels), with the radii halved."""
    wh, ww = guide_w.shape[:2]
    a_w = np.clip(guided.apply(coef, guide_w), 0, 1)
    a_w[sure_w > 0] = 1
    a_w[maybe_w == 0] = 0
    cw, ch = -(-ww // 2), -(-wh // 2)
    if (cw * 2, ch * 2) != (ww, wh):
        guide_c = cv2.copyMakeBorder(guide_w, 0, ch * 2 - wh, 0, cw * 2 - ww, cv2.BORDER_REPLICATE)
        a_c = cv2.copyMakeBorder(a_w, 0, ch * 2 - wh, 0, cw * 2 - ww, cv2.BORDER_REPLICATE)
    else:
        guide_c, a_c = guide_w, a_w
    guide_c = cv2.resize(guide_c, (cw, ch), interpolation=cv2.INTER_AREA)
    a_c = cv2.resize(a_c, (cw, ch), interpolation=cv2.INTER_AREA)
    f_s, b_s = foreground.colour_layers(guide_c, a_c, (22, 2))
    # the six colour planes four to a grid, without splitting them first
    g2, g3 = np.empty((ch, cw, 4), np.float32), np.empty((ch, cw, 4), np.float32)
    cv2.mixChannels([f_s, b_s], [g2, g3], [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5, 6, 5, 7])
    return [g2, g3]


def _refine_band(
    a_roi: np.ndarray,
    fg_roi: np.ndarray,
    band_cells: np.ndarray,
    coef: np.ndarray,
    colours: list[np.ndarray] | None,
    cfg: MatteConfig,
    grid: _Grid,
) -> None:
    """a . I + b at the pixels of the band cells only (gathered by flat index) into `a_roi`, and
    with `colours` the decontaminated foreground into `fg_roi`."""
    cy, cx = np.nonzero(band_cells)
    if not cx.size:
        return
    k = grid.k
    idx, mx, my, inside = _cell_pixels(cy, cx, k, grid.rw, grid.rh)
    # channel planes (contiguous N-vectors): numpy on strided N x 3 columns is several times slower
    px3 = np.take(fg_roi.reshape(-1, 3).view(_RGB).reshape(-1), idx).view(np.uint8).reshape(-1, 3)
    pix = px3.T.astype(np.float32)
    pix *= 1 / 255
    c = _sample([coef], mx, my)  # coef is already hxwx4: a_r, a_g, a_b, b
    a_band = c[0] * pix[0]
    a_band += c[1] * pix[1]
    a_band += c[2] * pix[2]
    a_band += c[3]
    np.clip(a_band, 0, 1, out=a_band)
    # hard: 0/1 by the threshold (solid cells and strokes are 0 / 255 already); the colour
    # correction below still uses the soft alpha
    a_store = (
        np.where(a_band >= cfg.threshold, np.uint8(255), np.uint8(0))
        if cfg.hard
        else cv2.convertScaleAbs(a_band, alpha=255.0).reshape(-1)
    )
    a_roi.reshape(-1)[idx] = a_store
    if colours is None:
        return
    # the colour layers are blurs over 4+ work cells: one sample per band cell (its centre,
    # on the 2x coarser grid: (c + 0.5) / 2 - 0.5) repeated over the cell's k x k pixels
    # is as good as one per pixel, at 1/k^2 of the sampling (pixels are cell-major above)
    planes = _sample(colours, cx.astype(np.float32) * 0.5 - 0.25, cy.astype(np.float32) * 0.5 - 0.25)
    fb = np.repeat(np.stack(planes[:6]), k * k, axis=1)
    if inside is not None:
        fb = fb[:, inside]
    f_band = foreground.correct(pix, a_band[None, :], fb[:3], fb[3:], channel_axis=0)
    foreground.suppress_spill(f_band, fb[:3], fb[3:])
    f_band *= 255
    f_band += 0.5
    fg_roi.reshape(-1, 3).view(_RGB).reshape(-1)[idx] = f_band.T.astype(np.uint8, order="C").view(_RGB).reshape(-1)
