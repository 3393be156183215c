"""The typed records that flow one way through the pipeline.

source -> Frame -> segment -> Mask -> matte -> Matte -> compose -> Cutout -> export -> Artifact(s)

Each stage takes one of these and returns the next; no stage reaches back into another.
Images are numpy arrays in RGB order (OpenCV's BGR leaves a module only as `Cutout.bgr`,
whose RGB view is `Cutout.rgb`, for the JPEG encoder).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal, overload

import cv2
import numpy as np

_id_lock = threading.Lock()
_last_id_ms = 0


def new_capture_id() -> str:
    """Sortable, unique capture id: UTC time to the millisecond plus a random tail.

    One clock reading gives both the seconds and the milliseconds (two readings can straddle
    a second and sort a capture before an earlier one), and within a process the millisecond
    only goes forward: two captures in the same millisecond get consecutive ones, so ids sort
    in the order they were made (a spin's views, a batch) and the random tail only has to
    keep boxes apart."""
    global _last_id_ms
    with _id_lock:
        ms = max(int(time.time() * 1000), _last_id_ms + 1)
        _last_id_ms = ms
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(ms // 1000)) + f"{ms % 1000:03d}Z-" + uuid.uuid4().hex[:8]


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
    _half: list = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the full-resolution image."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    @overload
    def half(self, make: Literal[True] = True) -> np.ndarray: ...

    @overload
    def half(self, make: bool) -> np.ndarray | None: ...

    def half(self, make: bool = True) -> np.ndarray | None:
        """The image at half size, each pixel the mean of a 2x2 block (an odd last row or column
        is left out), made once per frame: the model input and the matte's guide both start
        from it, so the frame is read once for the two. Bilinear at exactly half size is that
        mean and OpenCV's fastest downscale. `make=False`: only if it was made already (None
        otherwise), for a reader that needs a small part of it (the matte, when the model
        took picamera2's lores stream and no half was made)."""
        if not self._half:
            if not make:
                return None
            h, w = self.image.shape[0] // 2, self.image.shape[1] // 2
            self._half.append(cv2.resize(self.image[: h * 2, : w * 2], (w, h), interpolation=cv2.INTER_LINEAR))
        return self._half[0]


@dataclass(frozen=True)
class Mask:
    """The model's low-resolution foreground probability for a frame (float32 0..1, hxw).

    `see_through` (lo, hi) says the map is also an alpha estimate inside the product: where it
    lies strictly between lo and hi the matte keeps it as alpha (glass, sheer fabric seen
    against a clean plate) instead of rounding the interior to solid or empty. None: a
    probability only (the generic model, whose 0.6 means unsure, not 60 % opaque)."""

    frame: Frame
    prob: np.ndarray
    model: str  # model name and version from the model card
    backend: str  # "cpu" or "edgetpu"
    see_through: tuple[float, float] | None = None
    backend_reason: str = ""  # why that backend (a Coral found and its model compiled, or why not)


@dataclass(frozen=True)
class Matte:
    """Soft alpha and the decontaminated foreground colours (uint8 RGB) that go with it, at frame
    resolution.

    `alpha` is either uint8 (0..255 meaning value / 255: what refine() gives, so the matte
    writes a quarter of the bytes and compose needs no conversion) or float32 0..1 (the simple
    form anyone may build). Readers do not look at the dtype: `alpha_in(box)` / `full_alpha()`
    always give float32 0..1 and `alpha8_in(box)` always gives uint8 0..255 (round(255 a)).

    `alpha` (hxw) and `foreground` (hxwx3) cover the frame box `extent`: either the whole
    frame (HxW), or only the `roi` box (its size exactly), which is what refine() gives so
    that no frame-size array is copied or written on the hot path. Outside the arrays alpha is
    0 and the foreground is the frame itself. Callers that want frame-size arrays use
    `full_alpha()` / `full_foreground()`; `alpha_in(box)` / `alpha8_in(box)` read any frame box.
    """

    frame: Frame
    alpha: np.ndarray
    foreground: np.ndarray
    model: str
    # optional real cast-shadow layer (booth mode): float32 0..1 darkness over the whole frame at
    # a reduced size (it is soft), scaled by whoever draws it
    shadow: np.ndarray | None = None
    # Frame box (x0, y0, x1, y1) outside which alpha is 0, so compose reads only this region;
    # refine() sets it ((0, 0, 0, 0): nothing found), None means unknown (look at the whole frame).
    # Whoever replaces `alpha` with a different one must replace or clear `roi` with it.
    roi: tuple[int, int, int, int] | None = None
    # ms spent making it (source, segment, matte), filled by the pipeline; finish() adds the rest
    timings_ms: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        H, W = self.frame.image.shape[:2]
        shape = self.alpha.shape[:2]
        roi_shape = self._roi_shape()
        if self.alpha.ndim != 2 or (shape != (H, W) and shape != roi_shape):
            want = f"{W}x{H} (the frame)" + (
                "" if roi_shape is None else f" or {roi_shape[1]}x{roi_shape[0]} (the roi)"
            )
            raise ValueError(f"Matte.alpha is {shape[::-1]} but must be {want}")
        if self.foreground.shape[:2] != shape:
            raise ValueError(f"Matte.foreground {self.foreground.shape[:2]} and alpha {shape} must cover the same box")
        if self.alpha.dtype != np.uint8 and not np.issubdtype(self.alpha.dtype, np.floating):
            raise ValueError(f"Matte.alpha must be uint8 (0..255) or float (0..1), not {self.alpha.dtype}")

    def _roi_shape(self) -> tuple[int, int] | None:
        if self.roi is None:
            return None
        x0, y0, x1, y1 = (int(v) for v in self.roi)
        return max(0, y1 - y0), max(0, x1 - x0)

    @property
    def extent(self) -> tuple[int, int, int, int]:
        """Frame box (x0, y0, x1, y1) that `alpha` and `foreground` cover."""
        H, W = self.frame.image.shape[:2]
        if self.alpha.shape[:2] == (H, W):
            return 0, 0, W, H
        assert self.roi is not None  # __post_init__: an alpha not the frame's size is the roi's
        x0, y0, x1, y1 = (int(v) for v in self.roi)
        return x0, y0, x1, y1

    @staticmethod
    def _crop(arr: np.ndarray, extent: tuple[int, int, int, int], box: tuple[int, int, int, int]) -> np.ndarray:
        """arr (covering frame box `extent`) over frame box `box`: a view when it covers it, else
        a new array with zeros outside it."""
        x0, y0, x1, y1 = box
        ex0, ey0, ex1, ey1 = extent
        if ex0 <= x0 and ey0 <= y0 and x1 <= ex1 and y1 <= ey1:
            return arr[y0 - ey0 : y1 - ey0, x0 - ex0 : x1 - ex0]
        out = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), arr.dtype)
        ix0, iy0, ix1, iy1 = max(x0, ex0), max(y0, ey0), min(x1, ex1), min(y1, ey1)
        if ix1 > ix0 and iy1 > iy0:
            out[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = arr[iy0 - ey0 : iy1 - ey0, ix0 - ex0 : ix1 - ex0]
        return out

    def alpha_in(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """Alpha as float32 0..1 over frame box (x0, y0, x1, y1) (inside the frame): a view when
        the stored alpha is float32 and covers it, else a new array with zeros outside it."""
        if self.alpha.dtype == np.float32:
            return self._crop(self.alpha, self.extent, box)
        a = self._crop(self.alpha, self.extent, box)
        if a.dtype == np.uint8:
            return a.astype(np.float32) / np.float32(255)
        return a.astype(np.float32)

    def alpha8_in(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """Alpha as uint8 round(255 a) over frame box (x0, y0, x1, y1) (inside the frame): a view
        when the arrays cover it (a float alpha is converted once per matte), else a new array
        with zeros outside it."""
        a8: np.ndarray | None = self.alpha
        if self.alpha.dtype != np.uint8:
            a8 = self.__dict__.get("_alpha8")
            if a8 is None:
                a = np.ascontiguousarray(self.alpha, dtype=np.float32)
                a8 = cv2.convertScaleAbs(np.clip(a, 0, 1), alpha=255.0) if a.size else np.zeros(a.shape, np.uint8)
                self.__dict__["_alpha8"] = a8  # a cache, not a field (the dataclass is frozen)
        assert a8 is not None
        return self._crop(a8, self.extent, box)

    def foreground_in(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """Foreground over frame box (x0, y0, x1, y1) (inside the frame): a view when the arrays
        cover it, else a new array (the frame outside them)."""
        x0, y0, x1, y1 = box
        ex0, ey0, ex1, ey1 = self.extent
        if ex0 <= x0 and ey0 <= y0 and x1 <= ex1 and y1 <= ey1:
            return self.foreground[y0 - ey0 : y1 - ey0, x0 - ex0 : x1 - ex0]
        out = self.frame.image[y0:y1, x0:x1].copy()
        ix0, iy0, ix1, iy1 = max(x0, ex0), max(y0, ey0), min(x1, ex1), min(y1, ey1)
        if ix1 > ix0 and iy1 > iy0:
            out[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = self.foreground[
                iy0 - ey0 : iy1 - ey0, ix0 - ex0 : ix1 - ex0
            ]
        return out

    def full_alpha(self) -> np.ndarray:
        """Frame-size alpha (HxW float32 0..1): `alpha` itself when it is float32 and covers the
        frame, else a new array, made once per matte (treat it as read-only)."""
        if self.alpha.shape == self.frame.image.shape[:2] and self.alpha.dtype == np.float32:
            return self.alpha
        full = self.__dict__.get("_full_alpha")
        if full is None:
            H, W = self.frame.image.shape[:2]
            full = self.alpha_in((0, 0, W, H))
            self.__dict__["_full_alpha"] = full  # a cache, not a field (the dataclass is frozen)
        return full

    def full_foreground(self) -> np.ndarray:
        """Frame-size foreground (HxWx3 uint8): `foreground` itself when it covers the frame, else
        a copy of the frame with the matte's foreground pasted over its extent."""
        if self.foreground.shape[:2] == self.frame.image.shape[:2]:
            return self.foreground
        H, W = self.frame.image.shape[:2]
        return self.foreground_in((0, 0, W, H))


@dataclass(frozen=True)
class Cutout:
    """The composed picture at output size.

    `rgb` is the product on its background (HxWx3 uint8); `alpha` the product's alpha at the
    same size (HxW uint8) so transparent exports and the separate mask need no recompute.
    `box` is the crop box in source-frame pixels (x0, y0, x1, y1).

    `bgr`, when compose made one, is the same picture in OpenCV's BGR order (HxWx3 uint8,
    contiguous) and `rgb` is then its channel-reversed view (`bgr[..., ::-1]`: RGB to every
    reader, no copy), so the JPEG encoder takes the canvas as it is. `bgr_image()` gives a BGR
    array whatever the cut-out holds; it uses `bgr` only while `rgb` is still that view.
    """

    frame: Frame
    rgb: np.ndarray
    alpha: np.ndarray
    box: tuple[int, int, int, int]
    preset: str
    model: str
    transparent: bool = False
    bgr: np.ndarray | None = field(default=None, repr=False, compare=False)

    def bgr_image(self) -> np.ndarray:
        """The picture in BGR order: `bgr` itself (no work) when compose made it, else a conversion of `rgb`."""
        if self.bgr is not None and _reversed_view(self.rgb, self.bgr):
            return self.bgr
        return cv2.cvtColor(np.ascontiguousarray(self.rgb), cv2.COLOR_RGB2BGR)


def _reversed_view(rgb: np.ndarray, bgr: np.ndarray) -> bool:
    """True when `rgb` is exactly `bgr[..., ::-1]` of a contiguous HxWx3 `bgr` (same memory)."""
    if (
        bgr.ndim != 3
        or bgr.shape[2] != 3
        or rgb.shape != bgr.shape
        or rgb.dtype != bgr.dtype
        or not bgr.flags.c_contiguous
    ):
        return False
    ri, bi = rgb.__array_interface__, bgr.__array_interface__
    return ri["data"][0] == bi["data"][0] + 2 * bgr.itemsize and rgb.strides == (
        bgr.strides[0],
        bgr.strides[1],
        -bgr.strides[2],
    )


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

    def complete(self, timeout: float | None = None) -> Capture:
        """Wait for the deferred encodes and add their artifacts (idempotent)."""
        if self.pending is not None:
            self.artifacts.extend(self.pending.result(timeout))
            self.pending = None
        return self
