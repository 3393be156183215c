"""Fast guided filter (He, Sun & Tang 2010; He & Sun 2015, 'Fast Guided Filter').

The linear coefficients a, b (alpha ~= a . I + b in every window) are solved on a reduced
grid with cv2.boxFilter; because they are smooth they can be upsampled and applied to the
full-resolution guide, which gives frame-resolution edges at work-grid cost. Colour guide
(3x3 covariance per pixel), so edges between equally bright colours are found too. All
arithmetic is on contiguous float32 planes (strided channel views are several times slower).
"""

from __future__ import annotations

import cv2
import numpy as np


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def coefficients(guide: np.ndarray, p: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Window-averaged coefficients [a_r, a_g, a_b, b] (hxwx4 float32) of the colour guided filter.

    guide: hxwx3 float32 in 0..1; p: hxw float32 filtering input (the soft mask).
    """
    r = radius
    ir, ig, ib = cv2.split(guide)
    # 13 box filters in 4 calls: means of I, p, I*p and the 6 entries of I I^T
    m1 = cv2.split(_box(cv2.merge([ir, ig, ib, p]), r))
    m2 = cv2.split(_box(cv2.merge([ir * p, ig * p, ib * p, ir * ir]), r))
    m3 = cv2.split(_box(cv2.merge([ir * ig, ir * ib, ig * ig, ig * ib]), r))
    m4 = _box(ib * ib, r)
    mr, mg, mb, mp = m1
    cr = m2[0] - mr * mp
    cg = m2[1] - mg * mp
    cb = m2[2] - mb * mp
    rr = m2[3] - mr * mr + eps
    rg = m3[0] - mr * mg
    rb = m3[1] - mr * mb
    gg = m3[2] - mg * mg + eps
    gb = m3[3] - mg * mb
    bb = m4 - mb * mb + eps
    # inverse of the symmetric 3x3 covariance by cofactors, times cov(I, p)
    i_rr = gg * bb - gb * gb
    i_rg = gb * rb - rg * bb
    i_rb = rg * gb - gg * rb
    i_gg = rr * bb - rb * rb
    i_gb = rb * rg - rr * gb
    i_bb = rr * gg - rg * rg
    inv_det = 1.0 / (rr * i_rr + rg * i_rg + rb * i_rb)
    ar = (i_rr * cr + i_rg * cg + i_rb * cb) * inv_det
    ag = (i_rg * cr + i_gg * cg + i_gb * cb) * inv_det
    ab = (i_rb * cr + i_gb * cg + i_bb * cb) * inv_det
    b = mp - ar * mr - ag * mg - ab * mb
    return _box(cv2.merge([ar, ag, ab, b]), r)


def apply(coef: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """alpha = a . I + b for coefficients and guide of the same size (hxwx4, hxwx3 float32)."""
    ar, ag, ab, b = cv2.split(coef)
    ir, ig, ib = cv2.split(guide)
    return ar * ir + ag * ig + ab * ib + b


def guided_filter(guide: np.ndarray, p: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Plain colour guided filter at one resolution (used on the work grid and in tests)."""
    return apply(coefficients(guide, p, radius, eps), guide)
