"""Decoding: every image a camera, tethering tool or upload can give becomes 8-bit sRGB RGB,
and every unusable one is one clear ImageError line."""

from __future__ import annotations

import io
import struct
import time
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from device.sources.decode import ImageError, decode_image, decode_image_info
from tests.paths import SAMPLES


def _png_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def _jpeg_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def rgb_icc_profile(r, g, b, gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 matrix/TRC display profile with the given (D50) primaries."""

    def xyz(v):
        return b"XYZ " + b"\0" * 4 + b"".join(_s15(c) for c in v)

    curv = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [
        (b"rXYZ", xyz(r)),
        (b"gXYZ", xyz(g)),
        (b"bXYZ", xyz(b)),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rTRC", curv),
        (b"gTRC", curv),
        (b"bTRC", curv),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for sig, data in tags:
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    header = (
        struct.pack(">I", offset + len(body))
        + b"lcms"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 28
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\0" * 48
    )
    return header + table + body


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height but carries almost no data (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def assert_one_line(exc: ImageError) -> str:
    text = str(exc)
    assert text and "\n" not in text and len(text) < 300
    return text


def test_a_jpeg_file_decodes_to_rgb_uint8():
    img = decode_image(SAMPLES / "cap.jpg")
    ref = cv2.cvtColor(cv2.imread(str(SAMPLES / "cap.jpg")), cv2.COLOR_BGR2RGB)
    assert img.dtype == np.uint8 and img.shape == ref.shape and img.shape[2] == 3
    assert np.abs(img.astype(int) - ref.astype(int)).mean() < 2.0  # same picture, RGB order


def test_bytes_and_paths_give_the_same_image():
    path = SAMPLES / "shoes.jpg"
    assert np.array_equal(decode_image(path), decode_image(path.read_bytes()))


def test_exif_orientation_is_applied():
    im = Image.new("RGB", (40, 20), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 10, 20))  # red stripe on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs 90 degrees clockwise
    img, info = decode_image_info(_jpeg_bytes(im, exif=exif))
    assert img.shape[:2] == (40, 20)  # portrait after applying orientation
    assert info["exif_orientation"] == 6
    top = img[2, 10]
    assert top[0] > 200 and top[2] < 60  # the stored left edge is now the top


def test_icc_tagged_colours_are_converted_to_srgb():
    r, g, b = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)
    swapped = rgb_icc_profile(g, r, b)  # a profile whose "red" channel is sRGB green
    img, info = decode_image_info(_png_bytes(Image.new("RGB", (8, 8), (255, 0, 0)), icc_profile=swapped))
    assert info["icc"] == "converted to sRGB"
    assert img[0, 0, 1] > 240 and img[0, 0, 0] < 15


def test_an_srgb_profile_is_left_alone():
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    img, info = decode_image_info(_png_bytes(Image.new("RGB", (8, 8), (200, 10, 30)), icc_profile=srgb))
    assert info["icc"] == "sRGB already" and tuple(img[0, 0]) == (200, 10, 30)


def test_16_bit_rgb_png_becomes_8_bit():
    a = np.zeros((10, 12, 3), np.uint16)
    a[..., 2] = 65535  # OpenCV is BGR: this is full red
    a[..., 1] = 32768
    ok, buf = cv2.imencode(".png", a)
    img = decode_image(buf.tobytes())
    assert img.dtype == np.uint8 and img.shape == (10, 12, 3)
    assert tuple(img[0, 0]) == (255, 128, 0)


def test_16_bit_grayscale_png_is_scaled_not_clipped():
    g = np.full((6, 6), 65535, np.uint16)
    g[0, 0] = 32896  # = 128 * 257
    ok, buf = cv2.imencode(".png", g)
    img, info = decode_image_info(buf.tobytes())
    assert info["bit_depth"] == 16
    assert tuple(img[1, 1]) == (255, 255, 255) and tuple(img[0, 0]) == (128, 128, 128)


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # magenta + yellow ink = red
    img, info = decode_image_info(_jpeg_bytes(cmyk))
    assert info["mode"] == "CMYK" and img.shape == (16, 16, 3)
    r, g, b = (int(v) for v in img[8, 8])
    assert r > 200 and g < 60 and b < 60


def test_grayscale_becomes_three_equal_channels():
    img = decode_image(_jpeg_bytes(Image.new("L", (10, 10), 77)))
    assert img.shape == (10, 10, 3)
    assert np.all(np.abs(img.astype(int) - 77) <= 1) and np.array_equal(img[..., 0], img[..., 2])


def test_rgba_is_flattened_onto_white():
    im = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    im.paste((255, 0, 0, 255), (0, 0, 5, 10))
    img, info = decode_image_info(_png_bytes(im))
    assert info["alpha"] == "flattened onto white"
    assert tuple(img[5, 2]) == (255, 0, 0) and tuple(img[5, 8]) == (255, 255, 255)


def test_palette_with_transparency_is_flattened_too():
    im = Image.new("P", (4, 4), 0)
    im.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    im.info["transparency"] = 0
    im.putpixel((0, 0), 1)
    img = decode_image(_png_bytes(im, transparency=0))
    assert tuple(img[0, 0]) == (0, 255, 0) and tuple(img[3, 3]) == (255, 255, 255)


def test_an_empty_file_is_a_one_line_error(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageError) as e:
        decode_image(p)
    assert "empty file" in assert_one_line(e.value)


def test_a_truncated_jpeg_is_a_one_line_error():
    data = (SAMPLES / "vest.jpg").read_bytes()
    with pytest.raises(ImageError) as e:
        decode_image(data[: len(data) // 2])
    assert "truncated" in assert_one_line(e.value)


def test_a_decompression_bomb_is_refused_from_its_header_alone():
    t0 = time.perf_counter()
    with pytest.raises(ImageError) as e:
        decode_image(png_header_only(30000, 30000))
    assert time.perf_counter() - t0 < 0.5  # nothing was decoded or allocated
    text = assert_one_line(e.value)
    assert "MP" in text and "max_pixels" in text


def test_the_pixel_limit_is_configurable():
    data = _png_bytes(Image.new("RGB", (100, 100)))
    assert decode_image(data, max_pixels=10_000).shape == (100, 100, 3)
    with pytest.raises(ImageError, match="100x100"):
        decode_image(data, max_pixels=9_999)


def test_not_an_image_and_missing_files_are_one_line_errors(tmp_path):
    with pytest.raises(ImageError) as e:
        decode_image(b"hello, this is a text file\n" * 10)
    assert "not a readable image" in assert_one_line(e.value)
    with pytest.raises(ImageError) as e:
        decode_image(tmp_path / "nope.jpg")
    assert "no such file" in assert_one_line(e.value)


def _gradient(w: int, h: int) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w]
    return Image.fromarray(np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], axis=2).astype(np.uint8))


@pytest.mark.parametrize(
    ("min_size", "reduced", "size"),
    [
        ((200, 150), 8, (200, 150)),
        ((201, 150), 4, (400, 300)),
        ((400, 301), 2, (800, 600)),
        ((801, 10), 1, (1600, 1200)),
    ],
)
def test_a_jpeg_decodes_reduced_only_as_far_as_it_still_covers_the_size_asked_for(min_size, reduced, size):
    data = _jpeg_bytes(_gradient(1600, 1200))
    img, info = decode_image_info(data, min_size=min_size)
    assert (img.shape[1], img.shape[0]) == size and info.get("reduced", 1) == reduced
    assert img.shape[1] >= min_size[0] and img.shape[0] >= min_size[1]
    full = decode_image(data)
    small = cv2.resize(full, size, interpolation=cv2.INTER_AREA)
    assert np.abs(img.astype(int) - small.astype(int)).mean() < 3  # the same picture, smaller


def test_reduced_decode_covers_the_size_after_an_exif_quarter_turn():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 1600x1200, shown 1200x1600
    data = _jpeg_bytes(_gradient(1600, 1200), exif=exif.tobytes())
    img, info = decode_image_info(data, min_size=(300, 400))
    assert img.shape[:2] == (400, 300) and info["reduced"] == 4
    img, info = decode_image_info(data, min_size=(301, 200))  # needs 301 wide: 1200/4 = 300 is short
    assert img.shape[:2] == (800, 600) and info["reduced"] == 2


def test_formats_without_dct_scaling_and_no_size_asked_for_decode_in_full():
    png = _png_bytes(_gradient(800, 600))
    img, info = decode_image_info(png, min_size=(100, 100))
    assert img.shape[:2] == (600, 800) and "reduced" not in info
    img, info = decode_image_info(_jpeg_bytes(_gradient(800, 600)))
    assert img.shape[:2] == (600, 800) and "reduced" not in info


@pytest.mark.parametrize("subsampling", [0, 2])
def test_a_plain_camera_jpeg_decodes_to_the_same_pixels_as_pillow_gives(subsampling):
    rng = np.random.default_rng(subsampling)
    photo = _gradient(333, 251)
    noisy = np.clip(np.asarray(photo).astype(int) + rng.integers(-20, 20, (251, 333, 3)), 0, 255).astype(np.uint8)
    data = _jpeg_bytes(Image.fromarray(noisy), subsampling=subsampling)
    img, info = decode_image_info(data)
    assert img.dtype == np.uint8 and img.flags.c_contiguous and info["mode"] == "RGB"
    assert np.array_equal(img, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    padded, _ = decode_image_info(data + b"\0" * 16)  # zero padding after the end marker: still whole
    assert np.array_equal(padded, img)


@pytest.mark.parametrize("reduce", [2, 4, 8])
@pytest.mark.parametrize("subsampling", [0, 2])
def test_an_odd_sized_jpeg_decodes_reduced_to_the_same_pixels_as_pillows_draft(reduce, subsampling):
    """Sides that are not a multiple of the scale still reduce (ceil(side / scale) covers the
    size asked for), and the plain-JPEG path gives exactly Pillow's DCT-scaled pixels."""
    rng = np.random.default_rng(reduce)
    w, h = 1001, 667
    noisy = np.clip(np.asarray(_gradient(w, h)).astype(int) + rng.integers(-20, 20, (h, w, 3)), 0, 255)
    data = _jpeg_bytes(Image.fromarray(noisy.astype(np.uint8)), subsampling=subsampling)
    size = (-(-w // reduce), -(-h // reduce))
    img, info = decode_image_info(data, min_size=size)
    assert info["reduced"] == reduce and (img.shape[1], img.shape[0]) == size
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (w // reduce, h // reduce))
        assert np.array_equal(img, np.asarray(im.convert("RGB")))
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tagged = _jpeg_bytes(Image.fromarray(noisy.astype(np.uint8)), subsampling=subsampling, icc_profile=srgb)
    via_pillow, info = decode_image_info(tagged, min_size=size)  # a colour profile: Pillow's own path
    assert info["reduced"] == reduce and info["icc"] == "sRGB already" and np.array_equal(via_pillow, img)
