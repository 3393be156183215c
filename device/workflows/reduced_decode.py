"""Decoding a photo file no larger than the preset needs, and in full when that was too small.

A fixed-size preset never uses more of the frame than the product's output size takes, but
how big the product is in the frame is known only after the cut. So a JPEG larger than the
preset's canvas is decoded at the largest DCT reduction that still covers the canvas
(`decode_size`), and when the product then had to be enlarged (the reduced frame gave fewer
pixels than the output uses, `needs_full_decode`) the file is decoded again in full
(`decoded_in_full`) and cut again. A native-size preset keeps every pixel of the crop: it
always decodes in full. `cutbox cutout` and the box's hot folder both work this way.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from device.config import PresetConfig
from device.sources.files import read_frame
from device.types import Capture, Frame


def decode_size(preset: PresetConfig) -> tuple[int, int] | None:
    """(width, height) a file's decode must cover for `preset`: its canvas; None (decode in
    full) for a native-size preset."""
    return (preset.width, preset.height) if preset.width > 0 else None


def needs_full_decode(frame: Frame, capture: Capture, preset: PresetConfig) -> bool:
    """True when `frame` was decoded reduced and `capture` (cut from it with `preset`) had to
    enlarge the product: the full file has pixels the output would use."""
    from device.compose.layout import place

    if frame.info.get("reduced", 1) <= 1:
        return False
    placed = place(tuple(capture.meta["box"]), preset)
    return placed.sx > 1.0 or placed.sy > 1.0


def decoded_in_full(frame: Frame, max_pixels: int) -> Frame:
    """`frame` again with its file (`info["path"]`) decoded at full size: the same id, SKU and
    source, the decode's own info (ImageError when the file cannot be read now)."""
    full = read_frame(Path(frame.info["path"]), max_pixels)
    info = {k: v for k, v in frame.info.items() if k != "reduced"}
    info.update(full.info)
    return dataclasses.replace(frame, image=full.image, lores=None, info=info)
