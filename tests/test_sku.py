"""SKUs: read from a printed barcode or QR code in a photo, or from a USB scanner typing like a keyboard.

The photos are real (CC0 clothing shots from the distillation set); the barcode labels in them
are synthetic: drawn here from the EAN-13 specification (and OpenCV's QR encoder), warped by a
perspective transform as if the label were held at an angle, blended into the photo with
sensor-like noise and a little blur, then read back with OpenCV's detectors. No camera has
photographed them, so this shows the decoding path works on a realistic frame, not the
read rate of a real booth. The set's photos are small (~400x530), so they are scaled 3x to
a 2 MP booth frame before the label is printed into them.
"""

from __future__ import annotations

import os
import threading

import cv2
import numpy as np
import pytest

from device.types import Frame
from device.workflows.sku import (
    _KEYMAP,
    INPUT_EVENT,
    KeyboardScanner,
    KeyDecoder,
    SkuError,
    clean_sku,
    file_stem,
    group_dir,
    read_codes,
    read_scanner_line,
    sku_from_frame,
    sku_from_image,
)
from tests.paths import CLOTHING

PHOTOS = CLOTHING
L_CODES = ["0001101", "0011001", "0010011", "0111101", "0100011", "0110001", "0101111", "0111011", "0110111", "0001011"]
PARITY = ["LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL"]


def ean13_check(digits12: str) -> str:
    s = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits12))
    return str((10 - s % 10) % 10)


def ean13_modules(code: str) -> str:
    """The 95 bar/space modules of an EAN-13 code (1 = bar)."""
    r = ["".join("1" if b == "0" else "0" for b in c) for c in L_CODES]
    g = [c[::-1] for c in r]
    left = "".join((L_CODES if p == "L" else g)[int(d)] for p, d in zip(PARITY[int(code[0])], code[1:7]))
    right = "".join(r[int(d)] for d in code[7:])
    return "101" + left + "01010" + right + "101"


def barcode_label(code: str, module_px: int = 3, height_px: int = 120) -> np.ndarray:
    """A white paper label with the code's bars and 11-module quiet zones (gray uint8)."""
    mods = ean13_modules(code)
    quiet = 11 * module_px
    label = np.full((height_px + 2 * 20, len(mods) * module_px + 2 * quiet), 255, np.uint8)
    for i, m in enumerate(mods):
        if m == "1":
            label[20 : 20 + height_px, quiet + i * module_px : quiet + (i + 1) * module_px] = 0
    return label


def print_into_photo(photo: np.ndarray, label: np.ndarray, seed: int = 0) -> np.ndarray:
    """Warp the label onto the photo as a tilted print, then add noise and blur (RGB uint8)."""
    rng = np.random.default_rng(seed)
    h, w = photo.shape[:2]
    lh, lw = label.shape[:2]
    scale = min(0.45 * w / lw, 0.35 * h / lh)
    cx, cy = 0.55 * w, 0.6 * h
    tw, th = lw * scale, lh * scale
    dst = np.float32(
        [
            [cx - tw / 2 + 0.06 * tw, cy - th / 2],
            [cx + tw / 2, cy - th / 2 + 0.08 * th],
            [cx + tw / 2 - 0.03 * tw, cy + th / 2],
            [cx - tw / 2, cy + th / 2 - 0.05 * th],
        ]
    )
    src = np.float32([[0, 0], [lw, 0], [lw, lh], [0, lh]])
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(label, m, (w, h), flags=cv2.INTER_AREA, borderValue=0)
    cover = cv2.warpPerspective(np.full_like(label, 255), m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    a = (cover.astype(np.float32) / 255.0)[:, :, None]
    paper = warped.astype(np.float32)[:, :, None] * np.float32([0.97, 0.96, 0.93])  # slightly warm paper, ink
    out = photo.astype(np.float32) * (1 - a) + paper * a
    out += rng.normal(0, 4.0, out.shape)
    out = cv2.GaussianBlur(np.clip(out, 0, 255).astype(np.uint8), (3, 3), 0.8)
    return out


@pytest.fixture(scope="module")
def photo(shared_data) -> np.ndarray:
    files = sorted(PHOTOS.glob("*.jpg"))
    assert files, f"no sample photos in {PHOTOS}"
    bgr = cv2.imread(str(files[3]))
    # the set's photos are ~400x530; scale to a 2 MP booth frame so a label has camera-like bar widths
    bgr = cv2.resize(bgr, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_ean13_generator_matches_the_specification():
    # 4006381333931 is the EAN-13 example from the GS1 / Wikipedia description
    assert ean13_check("400638133393") == "1"
    assert len(ean13_modules("4006381333931")) == 95


def test_sku_read_from_a_barcode_printed_in_a_real_photo(photo):
    code = "590123412345" + ean13_check("590123412345")
    shot = print_into_photo(photo, barcode_label(code), seed=1)
    codes = read_codes(shot)
    assert [c.text for c in codes] == [code]
    assert codes[0].kind == "EAN_13"
    # the corners land where the label was printed (lower middle of the frame)
    xs = [p[0] for p in codes[0].points]
    assert 0.2 * shot.shape[1] < np.mean(xs) < 0.9 * shot.shape[1]
    frame = Frame(id="f1", image=shot, timestamp=0.0, source="test")
    assert sku_from_frame(frame) == code


def test_sku_read_from_a_qr_label(photo):
    qr = cv2.QRCodeEncoder.create().encode("SHIRT-0042-BLU-M")
    qr = cv2.resize(qr, None, fx=8, fy=8, interpolation=cv2.INTER_NEAREST)
    qr = cv2.copyMakeBorder(qr, 32, 32, 32, 32, cv2.BORDER_CONSTANT, value=255)
    shot = print_into_photo(photo, qr, seed=2)
    assert sku_from_image(shot) == "SHIRT-0042-BLU-M"


def test_no_code_in_a_plain_photo(photo):
    assert sku_from_image(photo) is None


def test_accept_rule_skips_codes_that_are_not_skus(photo):
    code = "400638133393" + ean13_check("400638133393")
    shot = print_into_photo(photo, barcode_label(code), seed=3)
    assert sku_from_image(shot, accept=r"^400") == code
    assert sku_from_image(shot, accept=r"^SHIRT-") is None


def test_sku_names_files_and_groups_shots(tmp_path):
    assert file_stem("SHIRT-42", "20250101T120000000Z-abcd1234") == "SHIRT-42_20250101T120000000Z-abcd1234"
    assert file_stem("SHIRT-42", "cid", angle=15) == "SHIRT-42_cid_015.0deg"
    assert file_stem(None, "cid") == "cid"
    assert group_dir(tmp_path, "SHIRT-42") == tmp_path / "SHIRT-42"
    assert group_dir(tmp_path, None) == tmp_path / "_no-sku"


@pytest.mark.parametrize("bad", ["", "  ", "../etc/passwd", "a/b", "x" * 65, "-starts-with-dash", "sku with space"])
def test_unusable_skus_get_one_clear_line(bad):
    with pytest.raises(SkuError, match="is not usable"):
        clean_sku(bad)


def test_keyboard_wedge_line_on_stdin():
    r, w = os.pipe()
    with os.fdopen(r) as rd, os.fdopen(w, "w") as wr:
        assert read_scanner_line(rd, timeout_s=0.05) is None  # nothing scanned yet
        wr.write(" 4006381333931\n")
        wr.flush()
        assert read_scanner_line(rd, timeout_s=1) == "4006381333931"


def key_events(text: str) -> bytes:
    """What a US-layout scanner sends for `text` + Enter: press/release pairs, shift for capitals."""
    codes = {c: k for k, (c, _) in _KEYMAP.items() if k < 71}  # main block, not the keypad
    shifted = {s: k for k, (c, s) in _KEYMAP.items() if k < 71 and s != c}
    out = b""

    def ev(code, value):
        return INPUT_EVENT.pack(0, 0, 1, code, value) + INPUT_EVENT.pack(0, 0, 0, 0, 0)  # EV_KEY + EV_SYN

    for ch in text:
        if ch in shifted:
            out += ev(42, 1) + ev(shifted[ch], 1) + ev(shifted[ch], 0) + ev(42, 0)
        else:
            out += ev(codes[ch], 1) + ev(codes[ch], 0)
    return out + ev(28, 1) + ev(28, 0)


def test_scanner_input_device_decodes_key_events(tmp_path):
    """The input-event reader on a real FIFO carrying the byte stream an input device delivers."""
    fifo = tmp_path / "event-kbd"
    os.mkfifo(fifo)
    payload = key_events("Shirt-42_B") + key_events("590123412345" + ean13_check("590123412345"))

    def writer():
        with open(fifo, "wb") as f:
            f.write(payload[:100])  # split mid-event, as a read may return
            f.flush()
            f.write(payload[100:])

    t = threading.Thread(target=writer)
    t.start()
    scanner = KeyboardScanner(fifo, grab=False)
    try:
        assert scanner.read(timeout_s=2) == "Shirt-42_B"
        assert scanner.read(timeout_s=2) == "5901234123457"
        assert scanner.read(timeout_s=0.1) is None
    finally:
        scanner.close()
        t.join()


def test_key_decoder_ignores_repeats_and_non_key_events():
    d = KeyDecoder()
    assert d.feed([(1, 2, 1), (1, 2, 2), (1, 2, 0), (4, 4, 458782), (1, 3, 1), (1, 28, 1)]) == ["12"]


def test_missing_scanner_device_is_one_line():
    with pytest.raises(SkuError, match="not found"):
        KeyboardScanner("/dev/input/by-id/no-such-scanner")
