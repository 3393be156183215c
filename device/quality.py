"""A 0..1 quality score per capture, so doubtful cut-outs reach a person before the catalog.

Two signals, both cheap (computed on a grid of at most 320 px):

- **uncertain band**: pixels with 0.1 < alpha < 0.9, divided by the length of the alpha
  edge, is the mean width of the soft band. A clean matte has a band of a few pixels; a
  model that does not know where the product ends leaves a wide grey smear.
- **edge alignment**: along the alpha edge, how strong the photo's own gradient is (within
  two pixels): the edge's median gradient placed between the photo's median (0) and its
  90th percentile (1). A cut that follows the product's
  outline sits on image edges; a cut through flat background or through the product does not.

An empty or (almost) full alpha scores 0: nothing was cut out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

GRID_PX = 320
GOOD_BAND_PX = 3.0  # mean soft-band width (grid px) that still counts as a crisp edge
BAND_SCALE_PX = 6.0  # how fast the band score falls beyond that
MIN_COVER, MAX_COVER = 0.002, 0.98


@dataclass(frozen=True)
class QualityReport:
    score: float  # 0..1, higher is better
    band_px: float  # mean width of the uncertain band on the grid
    band_score: float
    edge_alignment: float  # 0..1
    coverage: float  # fraction of the frame that is product

    def as_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


def _to_grid(alpha: np.ndarray, image: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Shrink first, convert after: the full-size frame is touched once, by the resize."""
    h, w = alpha.shape[:2]
    scale = min(1.0, GRID_PX / max(h, w))
    a = alpha if alpha.dtype in (np.uint8, np.float32) else alpha.astype(np.float32)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
        if image is not None:
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    elif image is not None and image.shape[:2] != (h, w):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    a = a.astype(np.float32) * (1 / 255) if np.issubdtype(a.dtype, np.integer) else np.clip(a, 0.0, 1.0)
    return a, image


def assess(alpha: np.ndarray, image: np.ndarray | None = None) -> QualityReport:
    """Score a matte (HxW alpha, float 0..1 or uint8) against its photo (HxWx3 RGB uint8)."""
    if alpha.ndim != 2 or alpha.size == 0:
        raise ValueError(f"alpha must be a non-empty HxW array, got shape {alpha.shape}")
    a, img = _to_grid(alpha, image)
    hard = (a > 0.5).astype(np.uint8)
    coverage = float(hard.mean())
    if coverage < MIN_COVER or coverage > MAX_COVER:
        return QualityReport(0.0, 0.0, 0.0, 0.0, coverage)

    # Edge pixels of the hard mask: inside pixels with an outside 4-neighbour.
    eroded = cv2.erode(hard, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    edge = (hard - eroded).astype(bool)
    edge_len = max(int(edge.sum()), 1)
    uncertain = int(((a > 0.1) & (a < 0.9)).sum())
    band_px = uncertain / edge_len
    band_score = float(np.exp(-max(0.0, band_px - GOOD_BAND_PX) / BAND_SCALE_PX))

    if img is None:
        alignment = 0.5  # unknown: neither rewards nor punishes
    else:
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
        gray = cv2.GaussianBlur(gray.astype(np.float32), (3, 3), 0)
        gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
        mag = cv2.magnitude(gx, gy)
        near = cv2.dilate(mag, np.ones((5, 5), np.uint8))  # the edge may sit up to 2 px off
        typical, strong = float(np.median(near)), float(np.percentile(near, 90))
        if strong - typical <= 1e-3:
            alignment = 0.0  # a flat photo has no outline to follow
        else:
            # Where the typical edge pixel sits between the photo's usual and its strong gradients.
            alignment = float(np.clip((np.median(near[edge]) - typical) / (strong - typical), 0.0, 1.0))
    score = float(np.clip(0.5 * band_score + 0.5 * alignment, 0.0, 1.0))
    return QualityReport(score, band_px, band_score, alignment, coverage)
