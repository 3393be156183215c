"""Compose: crop, margin, aspect and fill exact to a pixel; shadows where asked; backgrounds; white balance."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from device.compose import compose, layout, shadow, subject_box
from device.config import ConfigError, CutboxConfig, MarginConfig, PresetConfig, ShadowConfig, validate
from device.types import Frame, Matte

FRAME_W, FRAME_H = 1200, 800
BOX = (300, 250, 700, 450)  # a 400 x 200 product


def _matte(box=BOX, backdrop=(235, 235, 235), product=(40, 90, 200), shadow=None) -> Matte:
    img = np.empty((FRAME_H, FRAME_W, 3), np.uint8)
    img[:] = backdrop
    alpha = np.zeros((FRAME_H, FRAME_W), np.float32)
    x0, y0, x1, y1 = box
    alpha[y0:y1, x0:x1] = 1.0
    img[y0:y1, x0:x1] = product
    frame = Frame(id="c", image=img, timestamp=0.0, source="test")
    return Matte(frame=frame, alpha=alpha, foreground=img.copy(), model="test", shadow=shadow)


def _box_out(alpha: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(alpha >= 128)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _close(a, b, tol=1):
    return all(abs(int(p) - int(q)) <= tol for p, q in zip(a, b))


def test_subject_box_is_the_alpha_above_the_cut_off():
    m = _matte()
    m.alpha[100, 100] = 0.05  # faint haze below the cut-off does not widen the box
    assert subject_box(m, PresetConfig()) == BOX


def test_marketplace_square_product_fills_85_percent_and_is_centred():
    cut = compose(_matte(), PresetConfig(shadow=ShadowConfig(kind="none")))
    assert cut.rgb.shape == (2000, 2000, 3) and cut.alpha.shape == (2000, 2000)
    # 400x200 box, limiting side 400 -> 1700 px wide, 850 tall, centred
    assert _close(_box_out(cut.alpha), (150, 575, 1850, 1425)), _box_out(cut.alpha)
    assert cut.box == BOX


def test_margins_in_px_and_percent_with_floor_snap_on_a_4_by_5_canvas():
    preset = PresetConfig(
        width=1600,
        height=2000,
        fill=1.0,
        align="floor",
        margin=MarginConfig(top=100, right="10%", bottom="5%", left=40),
        shadow=ShadowConfig(kind="none"),
    )
    cut = compose(_matte(), preset)
    assert cut.rgb.shape == (2000, 1600, 3)
    # room: x 40..1440 (1400 wide), y 100..1900; 400x200 box scales by 3.5 -> 1400 x 700, standing on y = 1900
    assert _close(_box_out(cut.alpha), (40, 1200, 1440, 1900)), _box_out(cut.alpha)


def test_native_size_preset_is_the_crop_plus_margins():
    preset = PresetConfig(
        width=0, height=0, background="transparent", margin=MarginConfig(top=10, right=20, bottom=30, left=40)
    )
    cut = compose(_matte(), preset)
    assert cut.rgb.shape[:2] == (200 + 10 + 30, 400 + 40 + 20)
    assert cut.transparent
    assert _box_out(cut.alpha) == (40, 10, 440, 210)
    assert np.array_equal(cut.rgb[100, 200], (40, 90, 200))


def test_a_forced_box_is_used_as_given():
    cut = compose(_matte(), PresetConfig(shadow=ShadowConfig(kind="none")), box=(100, 50, 1100, 650))
    assert cut.box == (100, 50, 1100, 650)
    # 1000x600 box -> 1700 x 1020; the product (400x200 at 200,200 in the box) -> 680 x 340
    assert _close(_box_out(cut.alpha), (150 + 340, 490 + 340, 150 + 1020, 490 + 680)), _box_out(cut.alpha)
    with pytest.raises(ValueError, match="not inside"):
        compose(_matte(), PresetConfig(), box=(0, 0, 5000, 10))


def test_contact_shadow_sits_under_the_product_and_is_absent_when_off():
    with_shadow = compose(_matte(), PresetConfig(shadow=ShadowConfig(kind="contact", opacity=0.4)))
    without = compose(_matte(), PresetConfig(shadow=ShadowConfig(kind="none")))
    below = (slice(1430, 1460), slice(700, 1300))  # just under the product's bottom edge (y = 1425)
    above = (slice(500, 560), slice(700, 1300))  # above it
    assert with_shadow.rgb[below].mean() < 235
    assert with_shadow.rgb[above].min() == 255
    assert without.rgb[below].min() == 255 and without.rgb[above].min() == 255
    # the product itself is untouched by its shadow
    assert np.abs(with_shadow.rgb[1000, 1000].astype(int) - (40, 90, 200)).max() <= 2


def test_drop_shadow_falls_away_from_the_light():
    preset = PresetConfig(
        shadow=ShadowConfig(kind="drop", opacity=0.5, blur_px=20, distance_px=60, angle_deg=0)
    )  # cast to the right
    cut = compose(_matte(), preset)
    right = cut.rgb[800:1200, 1855:1905].mean()
    left = cut.rgb[800:1200, 95:145].mean()
    assert right < 230 and left == 255


@pytest.mark.parametrize("blur", [0.0, 7.0, 40.0])
def test_drop_shadow_sits_under_its_product_shifted_by_the_offset(blur):
    """The drop shadow's map (float, and the uint8 weights the colour canvas uses) is the
    product's silhouette moved by the offset: its centre of mass lands where the product's does,
    plus the offset, for a size that is not a whole number of the blur's 4 px cells."""
    alpha = np.zeros((403, 277), np.uint8)
    alpha[31:371, 40:250] = 255
    alpha[200:371, 40:100] = 0  # an L shape: a shift in either axis moves the centre of mass
    cfg = ShadowConfig(kind="drop", opacity=0.5, blur_px=blur, distance_px=30, angle_deg=45)
    dx, dy = 30 * np.cos(np.pi / 4), 30 * np.sin(np.pi / 4)
    ys, xs = np.nonzero(alpha)
    want = (xs.mean() + 0.5 + 100 + dx, ys.mean() + 0.5 + 50 + dy)  # pixel centres, product at (100, 50)
    left, top, darkness = shadow.drop(cfg, alpha, 100, 50)
    w_left, w_top, w8 = shadow.drop_weights(cfg, alpha, 100, 50)
    assert (w_left, w_top) == (left, top) and w8.shape == darkness.shape and w8.dtype == np.uint8
    assert np.abs(w8.astype(float) - 255 * 0.5 * darkness).max() <= 1.5  # the same map, rounded twice
    assert 0.9 < darkness.max() <= 1.0 + 1e-5
    for m in (darkness, w8.astype(float)):
        yy, xx = np.indices(m.shape)
        got = ((xx + 0.5) * m).sum() / m.sum() + left, ((yy + 0.5) * m).sum() / m.sum() + top
        assert abs(got[0] - want[0]) < 1.0 and abs(got[1] - want[1]) < 1.0, (got, want)


def test_backgrounds_colour_image_and_transparent(tmp_path):
    colour = compose(_matte(), PresetConfig(color="#123456", shadow=ShadowConfig(kind="none")))
    assert tuple(colour.rgb[5, 5]) == (0x12, 0x34, 0x56)
    pic = np.zeros((100, 200, 3), np.uint8)
    pic[:, :100] = (0, 0, 255)  # BGR red left half
    pic[:, 100:] = (255, 0, 0)
    path = tmp_path / "bg.png"
    cv2.imwrite(str(path), pic)
    image = compose(_matte(), PresetConfig(background="image", image=path, shadow=ShadowConfig(kind="none")))
    assert tuple(image.rgb[5, 5]) == (255, 0, 0) and tuple(image.rgb[5, 1994]) == (0, 0, 255)
    clear = compose(_matte(), PresetConfig(background="transparent"))
    assert clear.transparent and clear.alpha[5, 5] == 0 and clear.alpha[1000, 1000] == 255


def test_a_transparent_cutout_keeps_no_hidden_backdrop_under_its_clear_pixels():
    """A frame-shaped product (a hole in the middle): where the cut-out is clear, its colour is
    black, as on the rest of the canvas, except a 2 px ring that keeps the product's own colour
    for viewers that scale without premultiplying; where it shows, the colour is the product's."""
    m = _matte()
    x0, y0, x1, y1 = BOX
    m.alpha[y0 + 50 : y1 - 50, x0 + 100 : x1 - 100] = 0  # the hole shows the backdrop in the frame
    m.foreground[y0 + 50 : y1 - 50, x0 + 100 : x1 - 100] = (235, 235, 235)
    cut = compose(m, PresetConfig(width=0, height=0, background="transparent", margin=MarginConfig(top=16)))
    hole = np.zeros_like(cut.alpha, bool)
    bx0, by0, bx1, by1 = _box_out(cut.alpha)
    hole[by0 + 10 : by1 - 10, bx0 + 10 : bx1 - 10] = cut.alpha[by0 + 10 : by1 - 10, bx0 + 10 : bx1 - 10] == 0
    ring = cv2.dilate(cut.alpha, np.ones((5, 5), np.uint8)) > 0
    assert hole.sum() > 15_000 and (hole & ring).sum() > 1000
    assert cut.rgb[hole & ~ring].max() == 0  # no backdrop left in the file
    assert (cut.rgb[hole & ring] == (235, 235, 235)).all()  # the ring keeps its colour
    assert np.abs(cut.rgb[cut.alpha == 255].astype(int) - (40, 90, 200)).max() <= 2


def test_white_balance_neutralises_a_blue_cast():
    # a grey product under blue light on a white backdrop: both come out blue-tinted
    m = _matte(backdrop=(200, 215, 250), product=(100, 108, 125))
    plain = compose(m, PresetConfig(shadow=ShadowConfig(kind="none")))
    balanced = compose(m, PresetConfig(white_balance=True, shadow=ShadowConfig(kind="none")))
    cast = lambda c: float(np.ptp(c.rgb[1000, 1000].astype(float)))  # noqa: E731
    assert cast(balanced) < 0.3 * cast(plain)


def test_real_cast_shadow_is_kept_when_the_booth_provides_one():
    layer = np.zeros((FRAME_H, FRAME_W), np.float32)
    layer[450:480, 300:700] = 0.5  # the product's own shadow on the floor, under it
    cut = compose(_matte(shadow=layer), PresetConfig(shadow=ShadowConfig(kind="contact", real=True)))
    assert cut.rgb[1435:1480, 700:1300].mean() == pytest.approx(128, abs=4)
    # the booth keeps the layer small (it is soft): the same shadow lands in the same place
    small = cv2.resize(layer, (FRAME_W // 6, FRAME_H // 6), interpolation=cv2.INTER_AREA)
    from_small = compose(_matte(shadow=small), PresetConfig(shadow=ShadowConfig(kind="contact", real=True)))
    assert from_small.rgb[1435:1480, 700:1300].mean() == pytest.approx(128, abs=6)
    assert np.abs(from_small.rgb.astype(int) - cut.rgb).mean() < 1.0
    assert from_small.rgb[:1300].min() >= cut.rgb[:1300].min() - 2 and from_small.rgb[1600:].min() == 255


def test_the_catalog_path_scales_the_real_shadow_as_uint8_weights_within_one_grey_level_of_the_float_map():
    small = np.zeros((FRAME_H // 6, FRAME_W // 6), np.float32)
    small[75:80, 50:117] = np.linspace(0.05, 0.9, 67)  # a graded shadow, to the layer's edge values
    m, preset = _matte(shadow=small), PresetConfig(shadow=ShadowConfig(kind="contact", real=True))
    pl = layout.place(layout.boxes(m, (preset.alpha_cutoff,))[0], preset)
    left, top, darkness = shadow.real(m, pl)
    got = shadow.real_weights(m, pl)
    assert got[:2] == (left, top) and got[2].shape == darkness.shape
    assert np.abs(got[2].astype(int) - shadow.weights(1.0, darkness)).max() <= 1 and got[2].max() >= 225


def test_presets_by_name_and_validation():
    presets = CutboxConfig().compose.presets
    assert {"marketplace-white", "transparent-png", "lifestyle"} <= set(presets)
    mw = presets["marketplace-white"]
    assert (mw.width, mw.height, mw.fill, mw.color, mw.shadow.kind) == (2000, 2000, 0.85, "#ffffff", "contact")
    assert {"jpeg", "mask"} <= set(mw.formats) and {"png", "mask"} <= set(presets["transparent-png"].formats)
    assert mw.name == "marketplace-white"
    with pytest.raises(ConfigError, match="compose.presets.x.margin.top"):
        validate({"compose": {"presets": {"x": {"margin": {"top": "five"}}}, "preset": "x"}})
    with pytest.raises(ConfigError, match="not defined"):
        validate({"compose": {"preset": "nope"}})


@pytest.mark.parametrize("side", [1000, 500])  # scale 0.85 (bilinear) and 0.425 (area)
def test_a_product_larger_than_the_output_is_shrunk_exactly_with_its_shadow(side):
    big = (100, 100, 1100, 700)  # 1000 x 600 in the frame
    cut = compose(
        _matte(box=big),
        PresetConfig(width=side, height=side, shadow=ShadowConfig(kind="contact", opacity=0.4, blur_px=8)),
    )
    w, h = round(0.85 * side), round(0.85 * side * 0.6)
    x, y = (side - w) // 2, (side - h) // 2
    assert cut.rgb.shape == (side, side, 3)
    assert _close(_box_out(cut.alpha), (x, y, x + w, y + h)), _box_out(cut.alpha)
    assert cut.rgb[y + h + 1 : y + h + 4, side // 2 - 50 : side // 2 + 50].mean() < 235  # shadow just under it
    assert cut.rgb[: y - 10, :].min() == 255  # white above it
    assert np.abs(cut.rgb[side // 2, side // 2].astype(int) - (40, 90, 200)).max() <= 2


def test_the_matte_roi_only_narrows_what_is_read():
    from dataclasses import replace

    m = _matte()
    with_roi = replace(m, roi=(280, 230, 720, 470))
    for preset in (
        PresetConfig(),
        PresetConfig(color="#123456", shadow=ShadowConfig(kind="drop")),
        PresetConfig(background="transparent"),
    ):
        a, b = compose(m, preset), compose(with_roi, preset)
        assert a.box == b.box == BOX
        assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.alpha, b.alpha)
    empty = replace(m, alpha=np.zeros_like(m.alpha), roi=(0, 0, 0, 0))
    assert subject_box(empty, PresetConfig()) == (0, 0, FRAME_W, FRAME_H)


def test_colour_canvas_carries_its_bgr_order_and_rgb_is_its_view():
    """On a colour background compose builds the canvas in BGR (for the JPEG encoder, Cutout.bgr)
    and `rgb` is its reversed view: same memory, RGB to every reader."""
    preset = PresetConfig(color="#123456", shadow=ShadowConfig(kind="contact"))
    cut = compose(_matte(), preset)
    assert cut.bgr is not None and cut.bgr.flags.c_contiguous
    assert np.shares_memory(cut.rgb, cut.bgr) and np.array_equal(cut.rgb, cut.bgr[..., ::-1])
    assert tuple(cut.rgb[5, 5]) == (0x12, 0x34, 0x56) and tuple(cut.bgr[5, 5]) == (0x56, 0x34, 0x12)
    assert np.abs(cut.rgb[cut.rgb.shape[0] // 2, cut.rgb.shape[1] // 2].astype(int) - (40, 90, 200)).max() <= 2
    assert cut.bgr_image() is cut.bgr
    assert compose(_matte(), PresetConfig(background="transparent")).bgr is None


def test_shadow_is_drawn_only_where_it_falls_and_the_same_as_over_the_whole_rectangle():
    from device.compose import shadow

    rng = np.random.default_rng(7)
    w8 = np.zeros((400, 300), np.uint8)
    w8[10:30, 40:90] = rng.integers(1, 200, (20, 50), dtype=np.uint8)  # two patches far apart
    w8[350:380, 200:260] = rng.integers(1, 200, (30, 60), dtype=np.uint8)
    assert shadow._shaded_blocks(w8) == [((10, 30), (40, 90)), ((350, 380), (200, 260))]
    assert shadow._shaded_blocks(np.zeros((5, 5), np.uint8)) == []
    canvas = rng.integers(100, 256, (500, 500, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (500, 500), dtype=np.uint8)
    got = canvas.copy()
    shadow.under(got, alpha, (250, 240, 230), 50, 60, w8)
    # reference: the formula over the whole rectangle at once
    want = canvas.astype(np.float64)
    t = w8 * (255 - alpha[60:460, 50:350].astype(np.float64)) / 255
    want[60:460, 50:350] -= t[..., None] * np.array([250, 240, 230]) / 255
    assert np.abs(got.astype(np.float64) - np.clip(want, 0, 255)).max() <= 1.01
