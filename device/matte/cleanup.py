"""Remove specks and fill pin-holes in a binary mask, relative to the subject's size.

Sizes are relative (a fraction of the largest piece / of the subject area) so the same
settings work at any mask resolution. Only holes smaller than `hole_fraction` of the subject
are filled, so a ring or a handbag handle keeps its opening.
"""

from __future__ import annotations

import cv2
import numpy as np


def remove_specks(binary: np.ndarray, speck_fraction: float) -> np.ndarray:
    """uint8 0/255 mask with every piece smaller than speck_fraction x the largest removed."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 2:
        return binary
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, np.uint8)
    keep[1:][areas >= speck_fraction * areas.max()] = 255
    return keep[labels]


def fill_small_holes(binary: np.ndarray, hole_fraction: float) -> np.ndarray:
    """uint8 0/255 mask with enclosed background pieces smaller than hole_fraction x subject area filled."""
    subject = int(np.count_nonzero(binary))
    if subject == 0 or hole_fraction <= 0:
        return binary
    inv = cv2.bitwise_not(binary)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    if n <= 1:
        return binary
    h, w = binary.shape
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    touches = (x == 0) | (y == 0) | (x + bw == w) | (y + bh == h)
    fill = (~touches) & (area < hole_fraction * subject)
    fill[0] = False
    if not fill.any():
        return binary
    return np.where(fill[labels], np.uint8(255), binary)


def clean(binary: np.ndarray, speck_fraction: float, hole_fraction: float) -> np.ndarray:
    return fill_small_holes(remove_specks(binary, speck_fraction), hole_fraction)
