"""A 0..1 quality score per capture, so doubtful cut-outs reach a person before the catalog.

Two signals, both cheap: they are computed on the subject crop (the subject's box plus a
margin, from `Matte.roi` when the matte knows it) shrunk to at most 512 px, so the cost does
not grow with the frame and a small product in a big frame is still seen in detail:

- **uncertain band**: pixels with 0.1 < alpha < 0.9, divided by the length of the alpha
  edge, is the mean width of the soft band. It is reported in pixels of the whole frame
  shrunk to 320 px long side (the unit the constants below were tuned in), whatever grid it
  was measured on. A clean matte has a band of a few pixels; a model that does not know
  where the product ends leaves a wide grey smear.
- **edge alignment**: along the alpha edge, how strong the photo's own gradient is (within
  two grid pixels): the edge's median gradient placed between the crop's median (0) and its
  90th percentile (1). A cut that follows the product's outline sits on image edges; a cut
  through flat background or through the product does not.

An empty or (almost) full alpha scores 0: nothing was cut out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

GRID_PX = 320  # band widths are reported in px of the frame shrunk to this long side
CROP_PX = 512  # longest side of the grid the subject crop is scored on
CROP_MARGIN = 0.15  # margin around the subject box, as a fraction of its longer side
FIND_PX = 256  # the subject box is searched on a strided view about this size
GOOD_BAND_PX = 3.0  # mean soft-band width (320 px frame grid) that still counts as a crisp edge
BAND_SCALE_PX = 6.0  # how fast the band score falls beyond that
MIN_COVER, MAX_COVER = 0.002, 0.98


@dataclass(frozen=True)
class QualityReport:
    score: float  # 0..1, higher is better
    band_px: float  # mean width of the uncertain band, px of the frame at 320 px long side
    band_score: float
    edge_alignment: float  # 0..1
    coverage: float  # fraction of the frame that is product

    def as_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


def subject_box(alpha: np.ndarray, roi: tuple[int, int, int, int] | None = None) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) holding every pixel with alpha > 0, or None when there is none.

    `roi` (the matte's own box, alpha 0 outside it) is used as is; otherwise the box is
    found on a strided view (no copy of the frame) and widened by one stride."""
    h, w = alpha.shape[:2]
    if roi is not None:
        x0, y0, x1, y1 = (int(v) for v in roi)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None
    step = max(1, max(h, w) // FIND_PX)
    seen = alpha[::step, ::step] > (2 if alpha.dtype == np.uint8 else 0.01)
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    if rows.size == 0:
        return None
    return (
        max(0, (int(cols[0]) - 1) * step),
        max(0, (int(rows[0]) - 1) * step),
        min(w, (int(cols[-1]) + 2) * step),
        min(h, (int(rows[-1]) + 2) * step),
    )


def _shrink(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a crop down to `size` at the cost of the output, not of the full-resolution
    crop: bilinear sampling beyond 2x (area averaging there reads every frame pixel and was
    most of the score's cost; the scores come out the same), area averaging within 2x."""
    h, w = a.shape[:2]
    if (w, h) == size:
        return a
    far = w > 2 * size[0] or h > 2 * size[1]
    return cv2.resize(a, size, interpolation=cv2.INTER_LINEAR if far else cv2.INTER_AREA)


def assess(
    alpha: np.ndarray, image: np.ndarray | None = None, roi: tuple[int, int, int, int] | None = None
) -> QualityReport:
    """Score a matte (HxW alpha, float 0..1 or uint8) against its photo (HxWx3 RGB uint8).

    `roi`: the matte's box outside which alpha is 0 (`Matte.roi`), when known: saves the search."""
    if alpha.ndim != 2 or alpha.size == 0:
        raise ValueError(f"alpha must be a non-empty HxW array, got shape {alpha.shape}")
    h, w = alpha.shape
    box = subject_box(alpha, roi)
    if box is None:
        return QualityReport(0.0, 0.0, 0.0, 0.0, 0.0)
    x0, y0, x1, y1 = box
    pad = int(round(CROP_MARGIN * max(x1 - x0, y1 - y0))) + 2
    x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    cw, ch = x1 - x0, y1 - y0
    scale = min(1.0, CROP_PX / max(cw, ch))
    size = (max(1, round(cw * scale)), max(1, round(ch * scale)))

    a = alpha[y0:y1, x0:x1]
    a = _shrink(a if a.dtype in (np.uint8, np.float32) else a.astype(np.float32), size)
    a = a.astype(np.float32) * (1 / 255) if np.issubdtype(a.dtype, np.integer) else np.clip(a, 0.0, 1.0)
    hard = (a > 0.5).astype(np.uint8)
    # Alpha is 0 outside the crop, so the frame's coverage is the crop's, scaled by area.
    coverage = float(hard.mean()) * (cw * ch) / (w * h)
    if coverage < MIN_COVER or coverage > MAX_COVER:
        return QualityReport(0.0, 0.0, 0.0, 0.0, coverage)

    # Edge pixels of the hard mask: inside pixels with an outside 4-neighbour.
    eroded = cv2.erode(hard, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    edge = (hard - eroded).astype(bool)
    edge_len = max(int(edge.sum()), 1)
    uncertain = int(((a > 0.1) & (a < 0.9)).sum())
    grid_scale = size[0] / cw  # grid px per frame px
    frame_grid_scale = min(1.0, GRID_PX / max(h, w))
    band_px = uncertain / edge_len * frame_grid_scale / grid_scale
    band_score = float(np.exp(-max(0.0, band_px - GOOD_BAND_PX) / BAND_SCALE_PX))

    if image is None:
        alignment = 0.5  # unknown: neither rewards nor punishes
    else:
        if image.shape[:2] != (h, w):
            sy, sx = image.shape[0] / h, image.shape[1] / w
            crop = image[
                int(y0 * sy) : max(int(y0 * sy) + 1, int(y1 * sy)), int(x0 * sx) : max(int(x0 * sx) + 1, int(x1 * sx))
            ]
        else:
            crop = image[y0:y1, x0:x1]
        img = _shrink(crop, size)
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
        gray = cv2.GaussianBlur(gray.astype(np.float32), (3, 3), 0)
        gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
        mag = cv2.magnitude(gx, gy)
        near = cv2.dilate(mag, np.ones((5, 5), np.uint8))  # the edge may sit up to 2 px off
        # The photo's usual and strong gradients: order statistics of every other grid pixel
        # (a quarter of the sort, the same numbers to a few percent).
        sample = near[::2, ::2].ravel()
        lo, hi = sample.size // 2, min(sample.size - 1, int(0.9 * sample.size))
        part = np.partition(sample, (lo, hi))
        typical, strong = float(part[lo]), float(part[hi])
        if strong - typical <= 1e-3:
            alignment = 0.0  # a flat photo has no outline to follow
        else:
            # Where the typical edge pixel sits between the photo's usual and its strong gradients.
            alignment = float(np.clip((np.median(near[edge]) - typical) / (strong - typical), 0.0, 1.0))
    score = float(np.clip(0.5 * band_score + 0.5 * alignment, 0.0, 1.0))
    return QualityReport(score, band_px, band_score, alignment, coverage)
