"""The product's SKU: read from a barcode or QR code in the frame, or from a USB scanner.

The SKU names the files (`<sku>_<capture id>.jpg`), goes into every capture's metadata and
groups a product's shots (one folder per SKU, one spin id per turn). Two ways in:

- `sku_from_image(image)`: OpenCV's barcode (EAN-8/13, UPC-A/E, Code 39/93/128...) and QR
  detectors on the full-resolution frame (the model's lores stream is too small for bars).
- a USB scanner in keyboard mode ("keyboard wedge"): it types the code and Enter. Either read
  a line from stdin (`read_scanner_line`), or read the scanner's own input device
  (`KeyboardScanner`, /dev/input/by-id/...-event-kbd) so the keystrokes never reach a console;
  this decodes Linux input events with the standard library, no evdev package needed.
"""

from __future__ import annotations

import os
import re
import select
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from device.errors import BadRequest

SKU_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class SkuError(BadRequest):
    """An SKU that cannot name files, or a scanner that cannot be read; one line."""


def clean_sku(text: str) -> str:
    """Trim a scanned or typed SKU and check it can name files and MQTT topics safely."""
    sku = (text or "").strip()
    if not SKU_PATTERN.match(sku):
        raise SkuError(
            f"SKU {sku!r} is not usable: 1-64 characters, letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return sku


@dataclass(frozen=True)
class Code:
    """One decoded code: its text, its symbology ("EAN_13", "CODE_128", "QR"...) and its corners in image pixels."""

    text: str
    kind: str
    points: tuple[tuple[float, float], ...]


_barcode = None
_qr = None


def read_codes(image: np.ndarray, scales: tuple[float, ...] = (1.0, 0.5)) -> list[Code]:
    """Every barcode and QR code OpenCV can decode in an RGB (or gray) image.

    OpenCV's barcode detector finds bars only within a band of bar widths relative to the
    image, so a label too big for one scale is tried again at the next (half size by
    default); the first scale that decodes anything wins. Corners are in `image` pixels.
    """
    global _barcode, _qr
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    if _barcode is None:
        _barcode = cv2.barcode.BarcodeDetector()
        _qr = cv2.QRCodeDetector()
    codes: list[Code] = []
    for scale in scales:
        small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ok, texts, kinds, points = _barcode.detectAndDecodeWithType(small)
        if ok:
            for text, kind, quad in zip(texts, kinds, points):
                if text and all(c.text != text for c in codes):
                    codes.append(Code(text, kind, _corners(np.asarray(quad) / scale)))
        if codes:
            break
    ok, texts, points, _ = _qr.detectAndDecodeMulti(gray)
    if ok:
        for text, quad in zip(texts, points):
            if text:
                codes.append(Code(text, "QR", _corners(quad)))
    return codes


def sku_from_image(image: np.ndarray, accept: str | None = None) -> str | None:
    """The first decoded code that is a usable SKU (and matches the `accept` regex, if given)."""
    rule = re.compile(accept) if accept else None
    for code in read_codes(image):
        try:
            sku = clean_sku(code.text)
        except SkuError:
            continue
        if rule is None or rule.search(sku):
            return sku
    return None


def sku_from_frame(frame, accept: str | None = None) -> str | None:
    """`sku_from_image` on a Frame's full-resolution image; a SKU already on the frame wins."""
    if getattr(frame, "sku", None):
        return clean_sku(frame.sku)
    return sku_from_image(frame.image, accept)


def file_stem(sku: str | None, capture_id: str, angle: float | None = None) -> str:
    """File name without extension: `<sku>_<capture id>`, with `_<angle>deg` for a spin frame."""
    stem = f"{clean_sku(sku)}_{capture_id}" if sku else capture_id
    return f"{stem}_{angle:05.1f}deg" if angle is not None else stem


def group_dir(root: Path, sku: str | None) -> Path:
    """Where a product's shots go: one folder per SKU (`_no-sku` for shots without one)."""
    return Path(root) / (clean_sku(sku) if sku else "_no-sku")


def _corners(quad) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in np.asarray(quad).reshape(-1, 2))


# ---- keyboard-wedge scanners ---------------------------------------------------------------
def read_scanner_line(stream: IO[str], timeout_s: float | None = None) -> str | None:
    """One scanned code typed into `stream` (stdin) and ended by Enter; None on timeout or EOF."""
    if timeout_s is not None:
        try:
            ready, _, _ = select.select([stream], [], [], timeout_s)
        except (ValueError, OSError, TypeError):  # a stream without a file descriptor: just read
            ready = [stream]
        if not ready:
            return None
    line = stream.readline()
    if not line:
        return None
    return clean_sku(line)


EV_KEY = 1
KEY_ENTER, KEY_KPENTER = 28, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 42, 54
# Linux input key codes (linux/input-event-codes.h) of a US layout: code -> (plain, shifted)
_KEYMAP: dict[int, tuple[str, str]] = {
    **{2 + i: (c, s) for i, (c, s) in enumerate(zip("1234567890-=", "!@#$%^&*()_+"))},
    **{16 + i: (c, c.upper()) for i, c in enumerate("qwertyuiop")},
    26: ("[", "{"),
    27: ("]", "}"),
    **{30 + i: (c, c.upper()) for i, c in enumerate("asdfghjkl")},
    39: (";", ":"),
    40: ("'", '"'),
    41: ("`", "~"),
    43: ("\\", "|"),
    **{44 + i: (c, c.upper()) for i, c in enumerate("zxcvbnm")},
    51: (",", "<"),
    52: (".", ">"),
    53: ("/", "?"),
    57: (" ", " "),
    55: ("*", "*"),
    74: ("-", "-"),
    78: ("+", "+"),
    83: (".", "."),
    98: ("/", "/"),
    71: ("7", "7"),
    72: ("8", "8"),
    73: ("9", "9"),
    75: ("4", "4"),
    76: ("5", "5"),
    77: ("6", "6"),
    79: ("1", "1"),
    80: ("2", "2"),
    81: ("3", "3"),
    82: ("0", "0"),
}
INPUT_EVENT = struct.Struct("llHHi")  # struct input_event: timeval, type, code, value (native sizes)


class KeyDecoder:
    """Turns key events into lines the way a US-layout keyboard would type them."""

    def __init__(self):
        self._shift = 0
        self._chars: list[str] = []

    def feed(self, events: Iterable[tuple[int, int, int]]) -> list[str]:
        """(type, code, value) events -> the completed lines (value 1 press, 0 release, 2 repeat)."""
        lines = []
        for etype, code, value in events:
            if etype != EV_KEY:
                continue
            if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT):
                self._shift = max(0, self._shift + (1 if value == 1 else -1 if value == 0 else 0))
                continue
            if value != 1:
                continue
            if code in (KEY_ENTER, KEY_KPENTER):
                lines.append("".join(self._chars))
                self._chars.clear()
            elif code in _KEYMAP:
                self._chars.append(_KEYMAP[code][1 if self._shift else 0])
        return lines


EVIOCGRAB = 0x40044590


class KeyboardScanner:
    """A USB barcode scanner's own input device, grabbed so its keystrokes reach only cutbox.

    Use the stable name under /dev/input/by-id/ (…-event-kbd); the service user needs the
    `input` group (the udev rule and install script set that up).
    """

    def __init__(self, device: str | os.PathLike, grab: bool = True):
        self.device = str(device)
        try:
            self._fd = os.open(self.device, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise SkuError(f"scanner {self.device} not found (plug it in; list /dev/input/by-id/)") from None
        except PermissionError:
            raise SkuError(f"scanner {self.device}: permission denied (add the service user to group input)") from None
        if grab:
            import fcntl

            try:
                fcntl.ioctl(self._fd, EVIOCGRAB, 1)
            except OSError as exc:
                os.close(self._fd)
                raise SkuError(f"scanner {self.device}: cannot grab it for exclusive use ({exc.strerror})") from None
        self._decoder = KeyDecoder()
        self._buf = b""
        self._lines: list[str] = []

    def read(self, timeout_s: float | None = None) -> str | None:
        """The next scanned code, or None when nothing complete arrives within `timeout_s`."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._lines:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._fd], [], [], wait)
            if not ready:
                return None
            try:
                chunk = os.read(self._fd, INPUT_EVENT.size * 64)
            except BlockingIOError:
                continue
            if not chunk:
                if deadline is None:
                    raise SkuError(f"scanner {self.device} closed (unplugged?)")
                time.sleep(min(0.05, wait or 0.05))
                if time.monotonic() >= deadline:
                    return None
                continue
            self._buf += chunk
            n = len(self._buf) // INPUT_EVENT.size
            events = [INPUT_EVENT.unpack_from(self._buf, i * INPUT_EVENT.size)[2:] for i in range(n)]
            self._buf = self._buf[n * INPUT_EVENT.size :]
            self._lines.extend(line for line in self._decoder.feed(events) if line.strip())
        return clean_sku(self._lines.pop(0))

    def close(self) -> None:
        os.close(self._fd)
