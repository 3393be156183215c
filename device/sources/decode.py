"""Bytes or a file -> an HxWx3 uint8 sRGB array, or one clear `ImageError` line.

Everything a camera, a tethering tool or a web upload can hand us ends up the same: EXIF
orientation applied, ICC-tagged colours converted to sRGB, 16-bit and float data scaled to
8 bits, CMYK/gray/palette converted, alpha flattened onto white (a product shot's
background). The header's pixel count is checked before any pixel is decoded, so a
30000x30000 "decompression bomb" costs nothing.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from device.errors import BadRequest, one_line

try:  # littlecms is optional in some Pillow builds; without it ICC profiles are ignored
    from PIL import ImageCms

    _SRGB = ImageCms.createProfile("sRGB")
except ImportError:  # pragma: no cover - depends on the Pillow build
    ImageCms = None  # type: ignore[assignment]
    _SRGB = None  # type: ignore[assignment]

DEFAULT_MAX_PIXELS = 60_000_000
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a cut-short file is an error, never a grey half-image


class _AlreadySrgb(Exception):
    """Internal: the embedded profile is sRGB, nothing to convert."""


class ImageError(BadRequest):
    """An input image that cannot be used; the message is one line meant for the operator."""


REDUCTIONS = (8, 4, 2)  # the scales libjpeg decodes at for free (DCT scaling), largest first


def decode_image(data: bytes | Path | str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode to HxWx3 uint8 RGB (sRGB); raise ImageError with a one-line reason."""
    return decode_image_info(data, max_pixels)[0]


def decode_image_info(
    data: bytes | Path | str, max_pixels: int = DEFAULT_MAX_PIXELS, min_size: tuple[int, int] | None = None
) -> tuple[np.ndarray, dict]:
    """decode_image plus what was done to get there (format, mode, orientation, icc, ...).

    With `min_size` (width, height), a JPEG is decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's
    DCT scaling: the skipped detail is never computed) when that still covers `min_size`;
    `info["reduced"]` then says by how much. Other formats always decode in full."""
    raw = _read(data)
    im = _open(raw, max_pixels)
    width, height = im.size
    info = {"format": im.format, "mode": im.mode, "width": width, "height": height}
    reduce = 1
    if min_size is not None and im.format == "JPEG":
        reduce = jpeg_reduction((width, height), min_size[::-1] if _orientation(im) in (5, 6, 7, 8) else min_size)
    if (rgb := _plain_jpeg(raw, im, reduce)) is not None:
        if reduce > 1:
            info["reduced"] = reduce
        return rgb, info
    try:
        if reduce > 1:
            im.draft(im.mode, (width // reduce, height // reduce))  # Pillow scales by floor ratios
            info["reduced"] = round(width / im.size[0])
        im.load()
    except Exception as exc:  # a broken body can raise almost anything inside Pillow
        raise ImageError(f"truncated or corrupt {im.format or 'image'} data: {one_line(exc)}") from None

    orientation = _orientation(im)
    if orientation not in (1, None):
        info["exif_orientation"] = int(orientation)
        try:
            im = ImageOps.exif_transpose(im)
        except Exception as exc:  # as above: Pillow, on hostile EXIF
            raise ImageError(f"cannot apply EXIF orientation {orientation}: {one_line(exc)}") from None

    try:
        rgb = _to_srgb(im, info)
    except ImageError:
        raise
    except Exception as exc:  # as above: Pillow or LittleCMS on a hostile mode or profile
        raise ImageError(f"cannot convert {im.mode} image to RGB: {one_line(exc)}") from None
    return np.ascontiguousarray(rgb), info


def _open(raw: bytes, max_pixels: int) -> Image.Image:
    """The image's header, checked: readable, has pixels, not over `max_pixels`."""
    if not raw:
        raise ImageError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im: Image.Image = Image.open(io.BytesIO(raw))
    except UnidentifiedImageError:
        raise ImageError(f"not a readable image ({len(raw)} bytes, unknown format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"image header claims too many pixels (over {max_pixels / 1e6:.0f} MP, source.max_pixels)"
        ) from None
    except Exception as exc:  # a broken header can raise almost anything inside Pillow
        raise ImageError(f"unreadable image header: {one_line(exc)}") from None
    width, height = im.size
    if width <= 0 or height <= 0:
        raise ImageError(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(
            f"image header claims {width}x{height} = {width * height / 1e6:.0f} MP, over the "
            f"{max_pixels / 1e6:.0f} MP limit (source.max_pixels)"
        )
    return im


def _orientation(im: Image.Image) -> int:
    try:
        return im.getexif().get(0x0112, 1) or 1
    except Exception:  # a corrupt EXIF block must not lose the picture
        return 1


def _plain_jpeg(raw: bytes, im: Image.Image, reduce: int = 1) -> np.ndarray | None:
    """The pixels of a JPEG that needs nothing done to it (YCbCr, no colour profile, upright)
    straight from OpenCV's libjpeg into an RGB array, at 1/`reduce` of its size (the same DCT
    scaling as Pillow's draft, the same pixels), else None for the general path.

    This skips Pillow's image-to-array copy, the larger part of decoding a camera JPEG. libjpeg
    in OpenCV fills a cut-short file with grey instead of failing, so only a file that ends in
    the end-of-image marker takes this path: a truncated one still fails in Pillow."""
    if im.format != "JPEG" or im.mode != "RGB" or im.info.get("icc_profile") or _orientation(im) != 1:
        return None
    if raw.rstrip(b"\0")[-2:] != b"\xff\xd9":
        return None
    import cv2

    scaled = {
        1: cv2.IMREAD_COLOR,
        2: cv2.IMREAD_REDUCED_COLOR_2,
        4: cv2.IMREAD_REDUCED_COLOR_4,
        8: cv2.IMREAD_REDUCED_COLOR_8,
    }[reduce]
    if hasattr(cv2, "IMREAD_COLOR_RGB"):  # the scale bits with RGB order instead of BGR
        scaled = (scaled & ~cv2.IMREAD_COLOR) | cv2.IMREAD_COLOR_RGB
    arr = cv2.imdecode(np.frombuffer(raw, np.uint8), scaled | cv2.IMREAD_IGNORE_ORIENTATION)
    width, height = im.size
    if arr is None or arr.shape != (-(-height // reduce), -(-width // reduce), 3):
        return None
    if not hasattr(cv2, "IMREAD_COLOR_RGB"):  # OpenCV before 4.11 decodes to BGR only
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    return arr


def jpeg_reduction(size: tuple[int, int], min_size: tuple[int, int] | None) -> int:
    """The largest DCT reduction (8, 4, 2; else 1) of a `size` picture that still covers `min_size`."""
    if min_size is None:
        return 1
    for r in REDUCTIONS:
        if -(-size[0] // r) >= min_size[0] and -(-size[1] // r) >= min_size[1]:
            return r
    return 1


def _read(data: bytes | Path | str) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    path = Path(data)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ImageError(f"is a folder, not an image: {path}") from None
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _to_srgb(im: Image.Image, info: dict) -> np.ndarray:
    """Any Pillow mode -> HxWx3 uint8 sRGB."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        info["bit_depth"] = 32 if mode in ("I", "F") else 16
        arr = np.asarray(im)
        if mode == "F":
            top = 1.0 if float(np.nanmax(arr)) <= 1.0 else 65535.0 if float(np.nanmax(arr)) > 255 else 255.0
            gray = np.clip(np.nan_to_num(arr) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        else:
            arr = arr.astype(np.int64)
            top = 255 if arr.max(initial=0) <= 255 else 65535
            gray = np.clip((arr * 255 + top // 2) // top, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)

    icc = im.info.get("icc_profile")
    if icc and ImageCms is not None and mode in ("RGB", "RGBA", "CMYK", "L", "LA"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if mode in ("RGB", "RGBA") and "srgb" in ImageCms.getProfileDescription(src).lower().replace(" ", ""):
                info["icc"] = "sRGB already"
                raise _AlreadySrgb
            base = im
            alpha = None
            if mode in ("RGBA", "LA"):
                alpha = im.getchannel("A")
                base = im.convert("RGB" if mode == "RGBA" else "L")
            out_mode = "RGB"
            im2 = ImageCms.profileToProfile(base, src, _SRGB, outputMode=out_mode)
            assert im2 is not None  # not in place: a new image
            info["icc"] = "converted to sRGB"
            if alpha is not None:
                im2.putalpha(alpha)
            im = im2
            mode = im.mode
        except _AlreadySrgb:
            pass
        except Exception as exc:  # a broken profile: keep the pixels, note why
            info["icc"] = f"ignored: {one_line(exc)}"

    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        info["alpha"] = "flattened onto white"
        rgba = np.asarray(im.convert("RGBA"), dtype=np.uint16)
        a = rgba[:, :, 3:4]
        rgb = (rgba[:, :, :3] * a + 255 * (255 - a) + 127) // 255
        return rgb.astype(np.uint8)
    if mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8)
