"""Metadata that travels inside the files: EXIF for JPEG/WebP/TIFF, tEXt chunks for PNG.

A file that leaves the catalog still says which SKU, capture and model made it. The
encoders stay the fast ones (libjpeg-turbo / libpng via OpenCV); the metadata is spliced
into the finished byte stream, which costs microseconds.
"""

from __future__ import annotations

import json
import struct
import zlib

from PIL import Image

SOFTWARE = "cutbox"
_EXIF_IFD = 0x8769
_IMAGE_DESCRIPTION = 0x010E
_SOFTWARE = 0x0131
_USER_COMMENT = 0x9286


def summary(meta: dict) -> str:
    """The short JSON put in ImageDescription / PNG 'Description': who, what, which model."""
    keys = ("capture_id", "sku", "model", "preset")
    return json.dumps({k: meta.get(k) for k in keys}, separators=(",", ":"))


def exif(meta: dict) -> Image.Exif:
    """EXIF block: ImageDescription = summary, Software = cutbox, UserComment = full meta JSON."""
    e = Image.Exif()
    e[_IMAGE_DESCRIPTION] = summary(meta)
    e[_SOFTWARE] = SOFTWARE
    e.get_ifd(_EXIF_IFD)[_USER_COMMENT] = b"ASCII\x00\x00\x00" + json.dumps(
        meta, separators=(",", ":"), default=str
    ).encode("ascii", "replace")
    return e


def jpeg_with_exif(jpeg: bytes, meta: dict) -> bytes:
    """Insert an APP1 Exif segment right after the JPEG's SOI marker."""
    payload = exif(meta).tobytes()  # starts with b"Exif\\0\\0"
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("metadata too large for one EXIF segment: shorten the meta dict")
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_text(meta: dict) -> dict[str, str]:
    return {
        "Description": summary(meta),
        "Software": SOFTWARE,
        "cutbox:sku": str(meta.get("sku") or ""),
        "cutbox:capture_id": str(meta.get("capture_id") or ""),
        "cutbox:model": str(meta.get("model") or ""),
        "cutbox:meta": json.dumps(meta, separators=(",", ":"), default=str),
    }


def png_with_text(png: bytes, meta: dict) -> bytes:
    """Insert iTXt chunks (UTF-8 key/value) right after IHDR (IHDR is always 8 + 25 bytes in)."""
    end_ihdr = 8 + 25
    if png[12:16] != b"IHDR":
        raise ValueError("not a PNG stream: IHDR not found where it must be")
    chunks = b"".join(
        _chunk(b"iTXt", k.encode("latin-1") + b"\x00\x00\x00\x00\x00" + v.encode("utf-8"))
        for k, v in png_text(meta).items()
    )
    return png[:end_ihdr] + chunks + png[end_ihdr:]
