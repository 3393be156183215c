"""export stage: Cutout -> Artifacts (JPEG, PNG, WebP, TIFF, 8-bit mask, JSON sidecar).

JPEG, mask and sidecar are the critical ones (libjpeg-turbo via OpenCV, metadata spliced in);
RGBA PNG, TIFF and WebP are in DEFERRED_FORMATS and the pipeline runs them on a worker after
the catalog JPEG is out, but they are still on the clock to the finished file. Both PNGs are
written here around an ISA-L deflate (libpng's filter search and zlib are the slow part of
a PNG), and the formats of one call are encoded side by side when there are cores for it.
Unknown names fail with the list of known ones.
"""

from __future__ import annotations

import io
import json
import os
import struct
import threading
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
from PIL import Image

from device.config import EXPORT_FORMATS, ExportConfig
from device.export import metadata
from device.types import Artifact, Cutout

try:  # ISA-L deflate (wheels for x86-64 and aarch64); plain zlib when it is missing
    from isal import isal_zlib as _isal_zlib
except ImportError:  # pragma: no cover - depends on the install
    _isal_zlib = None  # type: ignore[assignment]

__all__ = ["encode", "DEFERRED_FORMATS", "FORMATS"]

FORMATS = EXPORT_FORMATS
DEFERRED_FORMATS: frozenset[str] = frozenset({"png", "tiff", "webp"})

_SUBSAMPLING = {
    "420": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    "422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    "444": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
}
_TIFF = {"none": None, "lzw": "tiff_lzw", "deflate": "tiff_adobe_deflate"}


def _flat(cutout: Cutout) -> np.ndarray:
    """RGB for formats without alpha: a transparent cut-out is flattened onto white."""
    if not cutout.transparent:
        return cutout.rgb
    a3 = cv2.cvtColor(cutout.alpha, cv2.COLOR_GRAY2RGB)
    return cv2.add(cv2.multiply(cutout.rgb, a3, scale=1 / 255), cv2.bitwise_not(a3))


def _ok(ok: bool, buf: np.ndarray, what: str) -> bytes:
    if not ok:
        raise RuntimeError(f"{what} encoder failed")
    return buf.tobytes()


def _jpeg(cutout: Cutout, meta: dict, cfg: ExportConfig) -> bytes:
    # an opaque cut-out from compose carries its BGR canvas (Cutout.bgr): no conversion
    bgr = cutout.bgr_image() if not cutout.transparent else cv2.cvtColor(_flat(cutout), cv2.COLOR_RGB2BGR)
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        cfg.jpeg_quality,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        _SUBSAMPLING[cfg.jpeg_subsampling],
    ]
    data = _ok(*cv2.imencode(".jpg", bgr, params), "JPEG")
    return metadata.jpeg_with_exif(data, meta) if cfg.embed_metadata else data


def _png(cutout: Cutout, meta: dict, cfg: ExportConfig) -> bytes:
    if cutout.transparent:
        px = cv2.merge((np.ascontiguousarray(cutout.rgb), np.ascontiguousarray(cutout.alpha)))
    else:  # compose's BGR canvas when it made one: one SIMD pass to RGB
        px = cv2.cvtColor(cutout.bgr_image(), cv2.COLOR_BGR2RGB)
    data = color_png(px, cfg.png_level)
    return metadata.png_with_text(data, meta) if cfg.embed_metadata else data


def color_png(px: np.ndarray, level: int) -> bytes:
    """An 8-bit PNG of `px`: HxWx3 uint8 RGB, or HxWx4 RGBA.

    Every row carries PNG's Up filter (the byte above subtracted, one wrap-around numpy
    subtract over whole rows) and the stream is one deflate, ISA-L's at levels 0-3. libpng's
    per-row filter search and zlib are what make an RGBA PNG slow; Up alone on a composed
    canvas (flat background, smooth product) keeps the file within about 10 % of libpng's at
    level 3. The pixels are made contiguous first: a subtract over strided channels is far
    slower than the copy."""
    h, w, channels = px.shape
    flat = np.ascontiguousarray(px).reshape(h, w * channels)
    raw = np.empty((h, w * channels + 1), np.uint8)
    raw[:, 0] = 2  # filter type Up
    raw[0, 0] = 0  # nothing above the first row: filter None, the pixels as they are
    raw[0, 1:] = flat[0]
    np.subtract(flat[1:], flat[:-1], out=raw[1:, 1:])
    color_type = {3: 2, 4: 6}[channels]
    ihdr = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", _deflate(raw, level, zlib.Z_DEFAULT_STRATEGY))
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF)
    )


def _deflate(raw: np.ndarray, level: int, strategy: int = zlib.Z_RLE) -> bytes:
    """zlib stream of `raw`: ISA-L at levels 0-3 when installed (5-10x zlib's speed), else zlib
    with `strategy` (run-length by default: a mask is long runs of 0 and 255)."""
    if _isal_zlib is not None and level <= 3:
        return _isal_zlib.compress(raw.data, level)
    c = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy)
    return c.compress(raw.data) + c.flush()


def _png_rows(img: np.ndarray) -> np.ndarray | None:
    """The PNG rows `img` already sits in when it came from compose.mask_canvas (a view one
    byte into rows of width + 1 whose first byte is 0), else None."""
    base = img.base
    h, w = img.shape
    if (
        not isinstance(base, np.ndarray)
        or base.dtype != np.uint8
        or base.shape != (h, w + 1)
        or not base.flags.c_contiguous
        or img.strides != (w + 1, 1)
        or img.__array_interface__["data"][0] != base.__array_interface__["data"][0] + 1
    ):
        return None
    return base if not base[:, 0].any() else None


def gray_png(img: np.ndarray, level: int) -> bytes:
    """An 8-bit greyscale PNG of img (HxW uint8), rows unfiltered.

    libpng's adaptive row filters cost 4x the whole deflate on a 2000x2000 mask and buy nothing
    on runs of 0 and 255; with filtering off a PNG is just the rows (each after a 0 byte)
    deflated, so the stream is written here and the deflate is ISA-L's (much faster than zlib's)."""
    h, w = img.shape
    raw = _png_rows(img)
    if raw is None:
        raw = np.empty((h, w + 1), np.uint8)
        raw[:, 0] = 0  # filter type None on every row
        raw[:, 1:] = img
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", _deflate(raw, level))
        + _png_chunk(b"IEND", b"")
    )


def _mask(cutout: Cutout, meta: dict, cfg: ExportConfig) -> bytes:
    data = gray_png(cutout.alpha, cfg.mask_level)
    return metadata.png_with_text(data, meta) if cfg.embed_metadata else data


def _pil(cutout: Cutout) -> Image.Image:
    if cutout.transparent:
        return Image.fromarray(np.dstack([cutout.rgb, cutout.alpha]), "RGBA")
    return Image.fromarray(cutout.rgb, "RGB")


def _webp(cutout: Cutout, meta: dict, cfg: ExportConfig) -> bytes:
    buf = io.BytesIO()
    kw = {"exif": metadata.exif(meta).tobytes()} if cfg.embed_metadata else {}
    # exact: lossless keeps the colour under alpha 0 as well, so the file decodes to the cut-out
    _pil(cutout).save(
        buf, "WEBP", quality=cfg.webp_quality, lossless=cfg.webp_lossless, method=cfg.webp_method, exact=True, **kw
    )
    return buf.getvalue()


def _tiff(cutout: Cutout, meta: dict, cfg: ExportConfig) -> bytes:
    buf = io.BytesIO()
    kw: dict[str, Any] = {}
    if cfg.embed_metadata:
        kw["exif"] = metadata.exif(meta)
        kw["description"] = metadata.summary(meta)
        kw["software"] = metadata.SOFTWARE
    comp = _TIFF[cfg.tiff_compression]
    if comp:
        kw["compression"] = comp
    _pil(cutout).save(buf, "TIFF", **kw)
    return buf.getvalue()


_ENCODERS = {
    "jpeg": (_jpeg, ".jpg", "image/jpeg"),
    "png": (_png, ".png", "image/png"),
    "webp": (_webp, ".webp", "image/webp"),
    "tiff": (_tiff, ".tif", "image/tiff"),
    "mask": (_mask, ".mask.png", "image/png"),
}


def encode(cutout: Cutout, meta: dict, formats: Sequence[str], cfg: ExportConfig) -> list[Artifact]:
    """Encode the cut-out in `formats`, in order; 'meta' (the JSON sidecar, with the sha256 of
    the images made in this same call) always comes last."""
    if isinstance(formats, str):
        formats = [formats]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown export format {bad[0]!r}: choose from {', '.join(FORMATS)}")
    if cutout.rgb.dtype != np.uint8 or cutout.alpha.dtype != np.uint8 or cutout.rgb.shape[:2] != cutout.alpha.shape:
        raise ValueError(
            f"cut-out must be HxWx3 uint8 with an HxW uint8 alpha (got {cutout.rgb.shape} {cutout.rgb.dtype}, {cutout.alpha.shape} {cutout.alpha.dtype})"
        )
    meta = dict(meta)
    meta.setdefault("capture_id", cutout.frame.id)
    meta.setdefault("model", cutout.model)
    meta.setdefault("preset", cutout.preset)
    meta.setdefault("sku", cutout.frame.sku)
    stem = str(meta["capture_id"])
    names = [n for n in dict.fromkeys(formats) if n != "meta"]
    datas = _run_encoders(cutout, meta, names, cfg)
    out = [
        Artifact(name=n, filename=stem + _ENCODERS[n][1], content_type=_ENCODERS[n][2], data=d)
        for n, d in zip(names, datas)
    ]
    if "meta" in formats:
        out.append(sidecar(cutout, meta, out))
    return out


def _run_encoders(cutout: Cutout, meta: dict, names: list[str], cfg: ExportConfig) -> list[bytes]:
    """Each format's bytes, in order. With more than one format and more than one core to run
    on, the encoders run side by side (libjpeg, libwebp, ISA-L and numpy let go of the GIL)."""
    if len(names) < 2 or _usable_cores() < 2:
        return [_ENCODERS[n][0](cutout, meta, cfg) for n in names]
    futures = [_encode_pool().submit(_ENCODERS[n][0], cutout, meta, cfg) for n in names[1:]]
    first = _ENCODERS[names[0]][0](cutout, meta, cfg)  # this thread takes one itself
    return [first, *(f.result() for f in futures)]


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _encode_pool() -> ThreadPoolExecutor:
    """One small process-wide pool for side-by-side encodes (threads start on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=len(_ENCODERS) - 1, thread_name_prefix="cutbox-encode")
        return _POOL


def sidecar(cutout: Cutout, meta: dict, artifacts: Sequence[Artifact]) -> Artifact:
    """The JSON sidecar: the capture's meta plus the sha256 of every artifact listed.

    The pipeline calls it after the deferred encodes too, so one sidecar covers them all.
    """
    side = dict(meta)
    side["size"] = [int(cutout.rgb.shape[1]), int(cutout.rgb.shape[0])]
    side["box"] = [int(v) for v in cutout.box]
    side["artifacts"] = {a.name: {"filename": a.filename, "sha256": a.sha256, "bytes": len(a.data)} for a in artifacts}
    # no indent: json's C encoder (an indent selects the slower pure-Python one)
    data = json.dumps(side, sort_keys=True, default=str).encode("utf-8")
    return Artifact(name="meta", filename=f"{meta['capture_id']}.json", content_type="application/json", data=data)
