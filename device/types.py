"""The typed records that flow one way through the pipeline.

source -> Frame -> segment -> Mask -> matte -> Matte -> compose -> Cutout -> export -> Artifact(s)

Each stage takes one of these and returns the next; no stage reaches back into another.
Images are numpy arrays in RGB order (OpenCV's BGR never leaves a module).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np


def new_capture_id() -> str:
    """Sortable, unique capture id: UTC time to the millisecond plus a random tail."""
    t = time.gmtime()
    ms = int((time.time() % 1) * 1000)
    return time.strftime("%Y%m%dT%H%M%S", t) + f"{ms:03d}Z-" + uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class Frame:
    """One picture from a source.

    `image` is the full-resolution HxWx3 uint8 RGB frame used for the output; `lores`, when
    the source can give one (picamera2's lores stream), is a smaller RGB copy made by the ISP
    for the model, so the hot path never resizes 12 MP in software.
    """

    id: str
    image: np.ndarray
    timestamp: float
    source: str  # e.g. "file:/photos/a.jpg", "uvc:0", "picamera2:main", "hotfolder:/in/a.jpg"
    lores: np.ndarray | None = None
    sku: str | None = None
    info: dict = field(default_factory=dict)  # source-specific: path, exif orientation, icc, exposure...

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the full-resolution image."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True)
class Mask:
    """The model's low-resolution foreground probability for a frame (float32 0..1, hxw)."""

    frame: Frame
    prob: np.ndarray
    model: str  # model name and version from the model card
    backend: str  # "cpu" or "edgetpu"


@dataclass(frozen=True)
class Matte:
    """Full-resolution soft alpha (float32 0..1, HxW) and the decontaminated foreground colours
    (HxWx3 uint8 RGB) that go with it."""

    frame: Frame
    alpha: np.ndarray
    foreground: np.ndarray
    model: str
    shadow: np.ndarray | None = None  # optional real cast-shadow layer (float32 0..1, HxW)
    # Frame box (x0, y0, x1, y1) outside which alpha is 0, so compose reads only this region;
    # refine() sets it ((0, 0, 0, 0): nothing found), None means unknown (look at the whole frame).
    # Whoever replaces `alpha` with a different one must replace or clear `roi` with it.
    roi: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class Cutout:
    """The composed picture at output size.

    `rgb` is the product on its background (HxWx3 uint8); `alpha` the product's alpha at the
    same size (HxW uint8) so transparent exports and the separate mask need no recompute.
    `box` is the crop box in source-frame pixels (x0, y0, x1, y1).
    """

    frame: Frame
    rgb: np.ndarray
    alpha: np.ndarray
    box: tuple[int, int, int, int]
    preset: str
    model: str
    transparent: bool = False


@dataclass(frozen=True)
class Artifact:
    """One exported file: its bytes, how to label it, and its checksum."""

    name: str  # "jpeg", "png", "webp", "tiff", "mask", "meta"
    filename: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Capture:
    """Everything one frame produced: artifacts, per-stage timings in ms, and metadata.

    This is what the CLI writes, the API lists and the publisher sends.
    """

    id: str
    frame: Frame
    artifacts: list[Artifact]
    timings_ms: dict[str, float]
    model: str
    preset: str
    sku: str | None = None
    quality: float | None = None
    review: bool = False
    meta: dict = field(default_factory=dict)
    # Slow encodes (RGBA PNG, TIFF, WebP) finish off the critical path; complete() joins them.
    pending: Future | None = field(default=None, repr=False)

    def artifact(self, name: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.name == name), None)

    def complete(self, timeout: float | None = None) -> "Capture":
        """Wait for the deferred encodes and add their artifacts (idempotent)."""
        if self.pending is not None:
            self.artifacts.extend(self.pending.result(timeout))
            self.pending = None
        return self
