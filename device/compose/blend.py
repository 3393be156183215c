"""Blend: the product over its backdrop, in uint8 with one rounding, and the output alpha plane
laid out as PNG rows so export writes the mask without a copy."""

from __future__ import annotations

import cv2
import numpy as np


def mask_canvas(height: int, width: int) -> np.ndarray:
    """The output alpha (height x width uint8, contents unset) as a view of rows one byte longer
    whose first byte is 0: exactly an unfiltered PNG's rows, so export writes the 8-bit mask
    without copying it (device.export.gray_png)."""
    rows = np.empty((height, width + 1), np.uint8)
    rows[:, 0] = 0
    return rows[:, 1:]


def blend(bg: np.ndarray, fg: np.ndarray, a: np.ndarray) -> np.ndarray:
    """bg + (fg - bg) * a / 255 in uint8 (one rounding), all same-size arrays."""
    a3 = cv2.cvtColor(a, cv2.COLOR_GRAY2RGB)
    return cv2.add(cv2.multiply(fg, a3, scale=1 / 255), cv2.multiply(bg, cv2.bitwise_not(a3), scale=1 / 255))


def on_colour(fg: np.ndarray, a: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    """The product over a flat colour, c + (fg - c) * a / 255, uint8, computed in fg's own
    buffer (callers pass a fresh one): no frame-size temporaries beyond one alpha plane x 3,
    which matters on a box whose memory bandwidth is shared."""
    a3 = cv2.cvtColor(a, cv2.COLOR_GRAY2RGB)
    cv2.multiply(fg, a3, dst=fg, scale=1 / 255)
    inv = cv2.bitwise_not(a3, dst=a3)
    if rgb != (255, 255, 255):  # the catalog case needs no product: c * (255 - a) / 255 is just 255 - a
        cv2.multiply(inv, rgb, dst=inv, scale=1 / 255)
    return cv2.add(fg, inv, dst=fg)


def fill_outside(out: np.ndarray, rgb: tuple[int, int, int], X0: int, Y0: int, X1: int, Y1: int) -> None:
    """Paint the canvas colour everywhere but the rectangle [X0, X1) x [Y0, Y1)."""
    grey = rgb[0] == rgb[1] == rgb[2]
    h, w = out.shape[:2]
    if not grey:
        row = np.empty((w, 3), np.uint8)
        row[:] = rgb  # one row, then row copies: broadcasting a 3-vector is 100x slower
    for y0, y1, x0, x1 in ((0, Y0, 0, w), (Y1, h, 0, w), (Y0, Y1, 0, X0), (Y0, Y1, X1, w)):
        if y1 > y0 and x1 > x0:
            if grey:
                out[y0:y1, x0:x1] = rgb[0]
            else:
                out[y0:y1, x0:x1] = row[x0:x1]
