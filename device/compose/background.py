"""The canvas the product is laid on: a colour, a picture (scaled to cover), or nothing."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from device.config import PresetConfig
from device.sources.decode import ImageError, decode_image


def hex_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


@lru_cache(maxsize=8)
def _cover(path: str, mtime: float, width: int, height: int) -> np.ndarray:
    try:
        rgb = decode_image(path)  # the frames' decoder: EXIF, ICC, 16-bit, size limit
    except ImageError as exc:
        raise ValueError(f"background image cannot be used: {exc} (give a JPEG or PNG file)") from None
    ih, iw = rgb.shape[:2]
    s = max(width / iw, height / ih)
    rw, rh = max(width, round(iw * s)), max(height, round(ih * s))
    big = cv2.resize(rgb, (rw, rh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x, y = (rw - width) // 2, (rh - height) // 2
    out = np.ascontiguousarray(big[y : y + height, x : x + width])
    out.setflags(write=False)
    return out


def canvas(preset: PresetConfig, width: int, height: int) -> np.ndarray:
    """A fresh HxWx3 uint8 RGB canvas for the preset (black for transparent presets)."""
    if preset.background == "color":
        rgb = hex_rgb(preset.color)
        if rgb[0] == rgb[1] == rgb[2]:
            return np.full((height, width, 3), rgb[0], np.uint8)  # memset
        out = np.empty((height, width, 3), np.uint8)
        out[0] = rgb  # one row, then row copies: broadcasting a 3-vector is 100x slower
        out[1:] = out[0]
        return out
    if preset.background == "image":
        p = Path(preset.image or "")  # the preset validator requires an image for this background
        try:
            mtime = p.stat().st_mtime
        except OSError:
            raise ValueError(f"background image {p} does not exist: fix compose preset '{preset.name}' image") from None
        return _cover(str(p), mtime, width, height).copy()
    return np.zeros((height, width, 3), np.uint8)
