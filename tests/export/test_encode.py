"""Export: every format decodes, carries the SKU / capture id / model, and the sidecar checks out."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from device.config import ExportConfig
from device.export import DEFERRED_FORMATS, encode
from device.types import Cutout, Frame

META = {
    "schema": 1,
    "capture_id": "20250101T000000000Z-abcd1234",
    "sku": "SKU-4711",
    "model": "student-v3",
    "preset": "marketplace-white",
    "timings_ms": {"matte": 7.5},
    "source": "test",
    "frame_size": [640, 480],
}


def _cutout(transparent: bool = False) -> Cutout:
    rgb = np.full((300, 400, 3), 255, np.uint8)
    alpha = np.zeros((300, 400), np.uint8)
    alpha[50:250, 100:300] = 255
    alpha[50:250, 99] = 128
    rgb[alpha > 0] = (200, 30, 30)
    frame = Frame(id="f", image=rgb, timestamp=0.0, source="test", sku="SKU-4711")
    return Cutout(
        frame=frame,
        rgb=rgb,
        alpha=alpha,
        box=(1, 2, 3, 4),
        preset="marketplace-white",
        model="student-v3",
        transparent=transparent,
    )


def _img(a) -> Image.Image:
    im = Image.open(io.BytesIO(a.data))
    im.load()
    return im


def _user_comment(im: Image.Image) -> dict:
    raw = im.getexif().get_ifd(0x8769)[0x9286]
    return json.loads(raw[8:] if isinstance(raw, bytes) else raw)


def test_jpeg_decodes_and_carries_exif_metadata():
    (a,) = encode(_cutout(), META, ["jpeg"], ExportConfig())
    im = _img(a)
    assert (a.name, a.filename, a.content_type) == ("jpeg", META["capture_id"] + ".jpg", "image/jpeg")
    assert im.format == "JPEG" and im.size == (400, 300) and im.mode == "RGB"
    desc = json.loads(im.getexif()[0x010E])
    assert desc == {
        "capture_id": META["capture_id"],
        "sku": "SKU-4711",
        "model": "student-v3",
        "preset": "marketplace-white",
    }
    assert _user_comment(im)["timings_ms"] == {"matte": 7.5}
    assert np.abs(np.asarray(im, np.int16)[150, 200] - (200, 30, 30)).max() < 8


def test_jpeg_quality_setting_changes_the_file():
    small = encode(_cutout(), META, ["jpeg"], ExportConfig(jpeg_quality=30))[0]
    big = encode(_cutout(), META, ["jpeg"], ExportConfig(jpeg_quality=98))[0]
    assert len(small.data) < len(big.data)


def test_png_with_alpha_decodes_and_has_text_chunks():
    (a,) = encode(_cutout(transparent=True), META, ["png"], ExportConfig())
    im = _img(a)
    assert im.mode == "RGBA" and im.size == (400, 300)
    px = np.asarray(im)
    assert tuple(px[150, 200]) == (200, 30, 30, 255) and px[10, 10, 3] == 0 and px[100, 99, 3] == 128
    assert im.text["cutbox:sku"] == "SKU-4711" and im.text["cutbox:capture_id"] == META["capture_id"]
    assert json.loads(im.text["cutbox:meta"])["model"] == "student-v3"


def test_mask_is_an_8_bit_png_equal_to_the_alpha():
    cut = _cutout()
    (a,) = encode(cut, META, ["mask"], ExportConfig())
    im = _img(a)
    assert im.mode == "L" and a.filename.endswith(".mask.png")
    assert np.array_equal(np.asarray(im), cut.alpha)
    assert im.text["cutbox:model"] == "student-v3"


def test_webp_and_tiff_decode_and_carry_metadata():
    webp, tiff = encode(_cutout(transparent=True), META, ["webp", "tiff"], ExportConfig())
    w, t = _img(webp), _img(tiff)
    assert w.format == "WEBP" and w.mode == "RGBA" and w.size == (400, 300)
    assert json.loads(w.getexif()[0x010E])["sku"] == "SKU-4711"
    assert t.format == "TIFF" and t.mode == "RGBA" and np.array_equal(np.asarray(t)[..., 3], _cutout().alpha)
    assert json.loads(t.tag_v2[270])["capture_id"] == META["capture_id"]


def test_transparent_cutout_is_flattened_on_white_for_jpeg():
    (a,) = encode(_cutout(transparent=True), META, ["jpeg"], ExportConfig())
    px = np.asarray(_img(a), np.int16)
    assert px[10, 10].min() > 245


def test_sidecar_lists_every_artifact_with_its_sha256():
    arts = encode(_cutout(), META, ["jpeg", "mask", "meta"], ExportConfig())
    assert [a.name for a in arts] == ["jpeg", "mask", "meta"]
    side = json.loads(arts[-1].data)
    assert side["sku"] == "SKU-4711" and side["schema"] == 1 and side["size"] == [400, 300]
    for a in arts[:-1]:
        assert side["artifacts"][a.name]["sha256"] == hashlib.sha256(a.data).hexdigest()


def test_metadata_can_be_left_out():
    (a,) = encode(_cutout(), META, ["jpeg"], ExportConfig(embed_metadata=False))
    assert 0x010E not in _img(a).getexif()


def test_deferred_formats_are_the_slow_ones_and_unknown_formats_fail():
    assert DEFERRED_FORMATS == frozenset({"png", "tiff", "webp"})
    with pytest.raises(ValueError, match="unknown export format 'gif'"):
        encode(_cutout(), META, ["jpeg", "gif"], ExportConfig())


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (257, 130), (2000, 2000)])
@pytest.mark.parametrize("level", [0, 1, 3, 6])
def test_gray_png_round_trips_at_any_size_and_level(shape, level):
    from device.export import gray_png

    rng = np.random.default_rng(sum(shape) + level)
    img = np.zeros(shape, np.uint8)
    img[shape[0] // 4 :, shape[1] // 3 :] = 255
    img[:, : max(1, shape[1] // 5)] = rng.integers(0, 256, (shape[0], max(1, shape[1] // 5)), np.uint8)
    data = gray_png(img, level)
    im = Image.open(io.BytesIO(data))
    im.load()
    assert im.mode == "L" and im.size == (shape[1], shape[0])
    assert np.array_equal(np.asarray(im), img)


def test_mask_png_without_isal_falls_back_to_zlib(monkeypatch):
    import device.export as export

    monkeypatch.setattr(export, "_isal_zlib", None)
    cut = _cutout()
    (a,) = encode(cut, META, ["mask"], ExportConfig())
    assert np.array_equal(np.asarray(_img(a)), cut.alpha)


def test_bgr_image_uses_the_bgr_canvas_only_while_rgb_is_its_view():
    import dataclasses

    c = _cutout()
    bgr = np.ascontiguousarray(c.rgb[..., ::-1])
    with_bgr = dataclasses.replace(c, rgb=bgr[..., ::-1], bgr=bgr)
    assert with_bgr.bgr_image() is bgr
    assert np.array_equal(c.bgr_image(), bgr)  # no bgr: converted from rgb
    stale = dataclasses.replace(with_bgr, rgb=np.zeros_like(c.rgb))  # rgb replaced: bgr is ignored
    assert not stale.bgr_image().any()
    cfg = ExportConfig(embed_metadata=False)
    a = encode(c, {"capture_id": "a"}, ["jpeg"], cfg)[0].data
    b = encode(with_bgr, {"capture_id": "a"}, ["jpeg"], cfg)[0].data
    assert a == b  # the same JPEG from the BGR canvas as from the RGB picture


def test_mask_from_the_compose_canvas_is_written_without_a_copy_and_the_same_bytes():
    from device.compose import mask_canvas
    from device.export import _png_rows, gray_png

    rng = np.random.default_rng(3)
    a = mask_canvas(61, 77)
    a[:] = rng.integers(0, 256, a.shape, dtype=np.uint8)
    assert _png_rows(a) is not None  # the PNG rows are the canvas itself
    plain = np.ascontiguousarray(a)
    assert _png_rows(plain) is None and _png_rows(a[:, 1:]) is None  # anything else is copied
    assert gray_png(a, 1) == gray_png(plain, 1)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(gray_png(a, 1)))), plain)
    a.base[5, 0] = 1  # a spoiled filter byte is never trusted
    assert _png_rows(a) is None


def _photo_cutout(shape: tuple[int, int], transparent: bool, seed: int, bgr_view: bool = False) -> Cutout:
    """A cut-out with noise, gradients and colour under alpha 0 (what a lossy path would drop)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx * 7) % 256, (yy * 3) % 256, (xx + yy) % 256], axis=2).astype(np.uint8)
    rgb[: h // 2] = rng.integers(0, 256, (h // 2, w, 3), np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    alpha[h // 4 :, w // 3 :] = 255
    alpha[:, : max(1, w // 5)] = rng.integers(0, 256, (h, max(1, w // 5)), np.uint8)
    bgr = None
    if bgr_view:  # compose's opaque canvas: BGR memory, RGB as its reversed view
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        rgb = bgr[..., ::-1]
    frame = Frame(id="f", image=np.zeros((4, 4, 3), np.uint8), timestamp=0.0, source="test")
    return Cutout(frame, rgb, alpha, (0, 0, w, h), "p", "m", transparent=transparent, bgr=bgr)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (37, 129), (700, 513)])
@pytest.mark.parametrize("level", [0, 1, 3, 4, 9])
def test_png_decodes_to_exactly_the_cut_out_with_pil_and_opencv(shape, level):
    import cv2

    for transparent, bgr_view in ((True, False), (False, False), (False, True)):
        cut = _photo_cutout(shape, transparent, seed=level, bgr_view=bgr_view)
        (a,) = encode(cut, META, ["png"], ExportConfig(png_level=level))
        want = np.dstack([cut.rgb, cut.alpha]) if transparent else np.asarray(cut.rgb)
        im = _img(a)
        assert im.mode == ("RGBA" if transparent else "RGB") and im.size == (shape[1], shape[0])
        assert np.array_equal(np.asarray(im), want)
        flag = cv2.IMREAD_UNCHANGED
        got = cv2.imdecode(np.frombuffer(a.data, np.uint8), flag)
        got = cv2.cvtColor(got, cv2.COLOR_BGRA2RGBA if transparent else cv2.COLOR_BGR2RGB).reshape(want.shape)
        assert np.array_equal(got, want)


def test_png_without_isal_is_still_exact(monkeypatch):
    import device.export as export

    monkeypatch.setattr(export, "_isal_zlib", None)
    cut = _photo_cutout((64, 48), True, seed=1)
    (a,) = encode(cut, META, ["png"], ExportConfig(png_level=1))
    assert np.array_equal(np.asarray(_img(a)), np.dstack([cut.rgb, cut.alpha]))


def test_lossless_webp_keeps_the_colour_under_transparent_pixels():
    cut = _photo_cutout((120, 90), True, seed=2)
    (a,) = encode(cut, META, ["webp"], ExportConfig(webp_lossless=True, webp_quality=100))
    assert np.array_equal(np.asarray(_img(a).convert("RGBA")), np.dstack([cut.rgb, cut.alpha]))


def test_lossless_tiff_decodes_to_exactly_the_cut_out():
    cut = _photo_cutout((50, 70), True, seed=3)
    (a,) = encode(cut, META, ["tiff"], ExportConfig())
    assert np.array_equal(np.asarray(_img(a)), np.dstack([cut.rgb, cut.alpha]))


def test_formats_encoded_side_by_side_are_the_same_files_as_one_by_one(monkeypatch):
    import device.export as export

    cut = _photo_cutout((300, 200), True, seed=4)
    names = ["jpeg", "png", "webp", "tiff", "mask", "meta"]
    cfg = ExportConfig(embed_metadata=False)
    monkeypatch.setattr(export, "_usable_cores", lambda: 4)
    side = encode(cut, {"capture_id": "x"}, names, cfg)
    monkeypatch.setattr(export, "_usable_cores", lambda: 1)
    alone = encode(cut, {"capture_id": "x"}, names, cfg)
    assert [a.name for a in side] == names
    assert [(a.name, a.data) for a in side] == [(a.name, a.data) for a in alone]
