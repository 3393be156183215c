"""Background pictures for presets, uploaded into the data folder.

A preset with `background = "image"` names its picture by path, and settings changes may
only name paths inside the box's folders; so the page and integrations upload the picture
here first (`PUT /api/backgrounds/<name>`) and point the preset at the path this returns.
The upload is decoded once (hostile files, decompression bombs and non-images are refused
with the reason) and written atomically as a PNG under `<data_dir>/backgrounds/`.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import cv2
import numpy as np

from device.errors import BadRequest
from device.sources.decode import decode_image

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_BACKGROUND_PIXELS = 40_000_000


def background_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "backgrounds"


def save_background(data_dir: Path, name: str, data: bytes) -> dict:
    """Check and store one uploaded picture; returns its path for a preset's `image`."""
    if not NAME.fullmatch(name):
        raise BadRequest("name: lower-case letters, digits, - and _ (up to 64), e.g. 'studio-grey'")
    if not data:
        raise BadRequest("the body must be the picture (JPEG, PNG, WebP, TIFF...)")
    rgb = decode_image(data, MAX_BACKGROUND_PIXELS)  # ImageError (a BadRequest) says why it is not one
    folder = background_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.png"
    ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise BadRequest("the picture could not be re-encoded as PNG")
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(png.tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    h, w = rgb.shape[:2]
    return {"name": name, "path": str(target), "width": w, "height": h}
