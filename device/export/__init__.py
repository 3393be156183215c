"""export stage: Cutout -> Artifacts (JPEG, PNG, WebP, TIFF, 8-bit mask, JSON sidecar).

JPEG, mask and sidecar are the critical ones (libjpeg-turbo / libpng via OpenCV, metadata
spliced in); RGBA PNG, TIFF and WebP are in DEFERRED_FORMATS and the pipeline runs them on
a worker after the catalog JPEG is out. Unknown names fail with the list of known ones.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image

from device.config import EXPORT_FORMATS, ExportConfig
from device.export import metadata
from device.types import Artifact, Cutout

__all__ = ["encode", "DEFERRED_FORMATS", "FORMATS"]

FORMATS = EXPORT_FORMATS
DEFERRED_FORMATS: frozenset[str] = frozenset({"png", "tiff", "webp"})

_SUBSAMPLING = {"420": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420, "422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422, "444": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444}
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
    bgr = cv2.cvtColor(_flat(cutout), cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _SUBSAMPLING[cfg.jpeg_subsampling]]
    data = _ok(*cv2.imencode(".jpg", bgr, params), "JPEG")
    return metadata.jpeg_with_exif(data, meta) if cfg.embed_metadata else data


def _png(cutout: Cutout, meta: dict, cfg: ExportConfig) -> bytes:
    if cutout.transparent:
        img = cv2.cvtColor(np.dstack([cutout.rgb, cutout.alpha]), cv2.COLOR_RGBA2BGRA)
    else:
        img = cv2.cvtColor(cutout.rgb, cv2.COLOR_RGB2BGR)
    data = _ok(*cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, cfg.png_level]), "PNG")
    return metadata.png_with_text(data, meta) if cfg.embed_metadata else data


def _mask(cutout: Cutout, meta: dict, cfg: ExportConfig) -> bytes:
    # libpng's adaptive row filters cost 4x the whole deflate on a 2000x2000 mask; a mask is
    # long runs of 0 and 255, which run-length deflate without filtering packs well (8 vs 35 ms)
    params = [cv2.IMWRITE_PNG_COMPRESSION, cfg.mask_level, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE,
              cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    data = _ok(*cv2.imencode(".png", cutout.alpha, params), "mask PNG")
    return metadata.png_with_text(data, meta) if cfg.embed_metadata else data


def _pil(cutout: Cutout) -> Image.Image:
    if cutout.transparent:
        return Image.fromarray(np.dstack([cutout.rgb, cutout.alpha]), "RGBA")
    return Image.fromarray(cutout.rgb, "RGB")


def _webp(cutout: Cutout, meta: dict, cfg: ExportConfig) -> bytes:
    buf = io.BytesIO()
    kw = {"exif": metadata.exif(meta).tobytes()} if cfg.embed_metadata else {}
    _pil(cutout).save(buf, "WEBP", quality=cfg.webp_quality, lossless=cfg.webp_lossless, method=4, **kw)
    return buf.getvalue()


def _tiff(cutout: Cutout, meta: dict, cfg: ExportConfig) -> bytes:
    buf = io.BytesIO()
    kw = {}
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
        raise ValueError(f"cut-out must be HxWx3 uint8 with an HxW uint8 alpha (got {cutout.rgb.shape} {cutout.rgb.dtype}, {cutout.alpha.shape} {cutout.alpha.dtype})")
    meta = dict(meta)
    meta.setdefault("capture_id", cutout.frame.id)
    meta.setdefault("model", cutout.model)
    meta.setdefault("preset", cutout.preset)
    meta.setdefault("sku", cutout.frame.sku)
    stem = str(meta["capture_id"])
    out: list[Artifact] = []
    for name in dict.fromkeys(formats):
        if name == "meta":
            continue
        fn, ext, ctype = _ENCODERS[name]
        out.append(Artifact(name=name, filename=stem + ext, content_type=ctype, data=fn(cutout, meta, cfg)))
    if "meta" in formats:
        side = dict(meta)
        side["size"] = [int(cutout.rgb.shape[1]), int(cutout.rgb.shape[0])]
        side["box"] = [int(v) for v in cutout.box]
        side["artifacts"] = {a.name: {"filename": a.filename, "sha256": a.sha256, "bytes": len(a.data)} for a in out}
        data = json.dumps(side, indent=2, sort_keys=True, default=str).encode("utf-8")
        out.append(Artifact(name="meta", filename=stem + ".json", content_type="application/json", data=data))
    return out
