"""Matte: the refined alpha beats the plain upsampled mask, no halo, rings keep holes, specks go, strokes win."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from device.config import MatteConfig
from device.matte import Strokes, refine
from device.types import Frame, Mask
from tests.paths import CLOTHING

PHOTOS = [
    "00143901-a14c-4600-960f-7747b4a3a8cd",
    "00003aeb-ace5-43bf-9a0c-dc31a03e9cd2",
    "00149032-3dd6-426e-9bc0-d53032536a42",
]


def _teacher(stem: str) -> tuple[np.ndarray, np.ndarray]:
    rgb = cv2.cvtColor(cv2.imread(str(CLOTHING / f"{stem}.jpg")), cv2.COLOR_BGR2RGB)
    alpha = cv2.imread(str(CLOTHING / f"{stem}.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    return rgb, alpha


def _mask(image: np.ndarray, prob: np.ndarray) -> Mask:
    return Mask(
        frame=Frame(id="t", image=image, timestamp=0.0, source="test"),
        prob=prob.astype(np.float32),
        model="test",
        backend="cpu",
    )


def _lowres(alpha: np.ndarray, factor: int) -> np.ndarray:
    h, w = alpha.shape
    return cv2.resize(alpha, (w // factor, h // factor), interpolation=cv2.INTER_AREA)


@pytest.mark.shared_data
def test_refined_alpha_is_closer_to_teacher_alpha_than_plain_upsampling():
    cfg = MatteConfig()
    refined_sad, plain_sad = [], []
    for stem in PHOTOS:
        rgb, gt = _teacher(stem)
        prob = _lowres(gt, 12)  # a 2304 px frame from a 192 px mask: the model's case
        matte = refine(_mask(rgb, prob), cfg)
        plain = cv2.resize(prob, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
        alpha = matte.full_alpha()
        assert alpha.shape == gt.shape and alpha.dtype == np.float32
        refined_sad.append(np.abs(alpha - gt).sum())
        plain_sad.append(np.abs(plain - gt).sum())
    assert sum(refined_sad) < 0.9 * sum(plain_sad), (refined_sad, plain_sad)


@pytest.mark.shared_data
def test_decontamination_removes_the_green_halo():
    rgb, gt = _teacher(PHOTOS[0])
    product = rgb.astype(np.float32)
    green = np.array([0, 255, 0], np.float32)
    a = gt[..., None]
    composite = np.clip(a * product + (1 - a) * green + 0.5, 0, 255).astype(np.uint8)
    mask = _mask(composite, _lowres(gt, 8))
    edge = (gt > 0.15) & (gt < 0.85)
    assert edge.sum() > 500

    def distance(colours: np.ndarray) -> float:
        return float(np.linalg.norm(colours[edge].astype(np.float32) - product[edge], axis=1).mean())

    before = refine(mask, MatteConfig(decontaminate=False)).full_foreground()
    after = refine(mask, MatteConfig(decontaminate=True)).full_foreground()
    assert distance(after) < 0.7 * distance(before), (distance(after), distance(before))
    # and the green cast is gone: edge pixels are not greener than the product there
    greenness = lambda c: float((c[edge][:, 1].astype(np.float32) - product[edge][:, 1]).mean())  # noqa: E731
    assert greenness(after) < 0.5 * greenness(before)


def test_backdrop_tint_bled_into_solid_edge_pixels_is_taken_out():
    """A white product on red paper, shot as JPEG: chroma at half resolution bleeds the red
    into edge pixels the matte rightly calls solid (alpha 1). Their tint goes; brightness stays."""
    size = 400
    alpha = np.zeros((size, size), np.float32)
    cv2.circle(alpha, (200, 200), 120, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.0)
    white, red = np.array([235, 235, 230], np.float32), np.array([200, 20, 25], np.float32)
    img = alpha[..., None] * white + (1 - alpha[..., None]) * red
    ycc = cv2.cvtColor(np.clip(img + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2YCrCb)
    for ch in (1, 2):  # chroma blurred over 6 px, as a 4:2:0 JPEG of a smaller photo upscaled
        ycc[..., ch] = cv2.GaussianBlur(ycc[..., ch], (0, 0), 3.0)
    frame = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
    rim = (alpha > 0.99) & (cv2.erode((alpha > 0.99).view(np.uint8), np.ones((9, 9), np.uint8)) == 0)
    fg = refine(_mask(frame, _lowres(alpha, 8)), MatteConfig()).full_foreground().astype(np.float32)

    def redness(c: np.ndarray) -> float:
        return float((c[rim][:, 0] - c[rim][:, 1:].mean(axis=1)).mean())

    assert redness(frame.astype(np.float32)) > 15  # the tint is there to take out
    # (blur-fusion alone leaves 86 % of it here: alpha 1 keeps the pixel as it is)
    assert redness(fg) < 0.6 * redness(frame.astype(np.float32)), (redness(fg), redness(frame.astype(np.float32)))
    lum = lambda c: float(c[rim].mean())  # noqa: E731
    assert abs(lum(fg) - lum(frame.astype(np.float32))) < 8  # brightness kept


def _ring_scene(size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """A gold ring (with a big hole) and three dust specks on a grey backdrop, and its true alpha."""
    img = np.full((size, size, 3), 200, np.uint8)
    alpha = np.zeros((size, size), np.uint8)
    c = size // 2
    cv2.circle(alpha, (c, c), 150, 255, -1)
    cv2.circle(alpha, (c, c), 90, 0, -1)
    for x, y in ((40, 40), (470, 60), (60, 460)):
        cv2.circle(alpha, (x, y), 6, 255, -1)
    img[alpha > 0] = (212, 175, 55)
    return img, alpha.astype(np.float32) / 255


def test_ring_keeps_its_hole_and_specks_vanish():
    img, alpha = _ring_scene()
    matte = refine(_mask(img, _lowres(alpha, 4)), MatteConfig())
    a = matte.full_alpha()
    assert a[256, 256] == 0.0  # the hole stays open
    assert a[256, 256 - 120] == 1.0  # the band of the ring is solid
    for x, y in ((40, 40), (470, 60), (60, 460)):
        assert a[y - 8 : y + 9, x - 8 : x + 9].max() == 0.0  # dust removed


def test_a_pinhole_in_the_mask_is_filled():
    img = np.full((400, 400, 3), 200, np.uint8)
    alpha = np.zeros((400, 400), np.float32)
    alpha[80:320, 80:320] = 1
    img[80:320, 80:320] = (30, 60, 160)
    prob = _lowres(alpha, 4)
    prob[50, 50] = 0.0  # a one-cell hole in the model's output, inside the product
    a = refine(_mask(img, prob), MatteConfig()).full_alpha()
    assert a[196:208, 196:208].min() == 1.0


def test_strokes_force_alpha_both_ways():
    img, alpha = _ring_scene()
    keep = np.zeros(alpha.shape, bool)
    keep[20:60, 200:300] = True  # backdrop the operator wants kept
    remove = np.zeros(alpha.shape, bool)
    remove[236:276, 120:150] = True  # part of the ring the operator wants gone
    matte = refine(_mask(img, _lowres(alpha, 4)), MatteConfig(), Strokes(keep, remove))
    assert matte.full_alpha()[keep].min() == 1.0
    assert matte.full_alpha()[remove].max() == 0.0
    untouched = refine(_mask(img, _lowres(alpha, 4)), MatteConfig())
    assert untouched.full_alpha()[keep].max() == 0.0 and untouched.full_alpha()[remove].min() == 1.0


@pytest.mark.shared_data
def test_hard_alpha_is_binary():
    rgb, gt = _teacher(PHOTOS[1])
    a = refine(_mask(rgb, _lowres(gt, 8)), MatteConfig(hard=True)).full_alpha()
    assert set(np.unique(a).tolist()) == {0.0, 1.0}


def test_empty_mask_gives_an_empty_matte():
    img = np.full((120, 160, 3), 128, np.uint8)
    matte = refine(_mask(img, np.zeros((32, 32))), MatteConfig())
    assert matte.full_alpha().shape == (120, 160) and matte.full_alpha().max() == 0.0


def test_bad_inputs_fail_with_one_clear_line():
    img = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(ValueError, match="2-D"):
        refine(_mask(img, np.zeros((4, 4, 4))), MatteConfig())
    with pytest.raises(ValueError, match="frame size"):
        refine(_mask(img, np.ones((10, 10))), MatteConfig(), Strokes.empty(50, 50))
    with pytest.raises(ValueError, match="same shape"):
        Strokes(np.zeros((5, 5), bool), np.zeros((6, 5), bool))


@pytest.mark.shared_data
def test_the_roi_bounds_every_non_zero_alpha():
    for stem in PHOTOS:
        rgb, gt = _teacher(stem)
        m = refine(_mask(rgb, _lowres(gt, 8)), MatteConfig())
        x0, y0, x1, y1 = m.roi
        outside = m.full_alpha().copy()
        outside[y0:y1, x0:x1] = 0
        assert outside.max() == 0.0 and m.full_alpha()[y0:y1, x0:x1].max() == 1.0


def test_refine_stores_the_roi_only_and_the_full_frame_views_agree():
    """Matte contract: refine() gives alpha/foreground covering `roi` (its exact size); outside
    it alpha is 0 and the foreground is the frame; full_*() and *_in() read any frame box."""
    img, alpha = _ring_scene()
    m = refine(_mask(img, _lowres(alpha, 4)), MatteConfig())
    x0, y0, x1, y1 = m.roi
    assert (x1 - x0, y1 - y0) != (512, 512)  # the ring does not fill the frame
    assert m.alpha.shape == (y1 - y0, x1 - x0) and m.foreground.shape == (y1 - y0, x1 - x0, 3)
    assert m.extent == m.roi
    full, fg = m.full_alpha(), m.full_foreground()
    assert full.shape == (512, 512) and full.dtype == np.float32 and fg.shape == (512, 512, 3)
    assert m.alpha.dtype == np.uint8  # refine() stores round(255 a) (see Matte)
    assert np.array_equal(full[y0:y1, x0:x1], m.alpha.astype(np.float32) / np.float32(255)) and np.array_equal(
        fg[y0:y1, x0:x1], m.foreground
    )
    outside = np.ones((512, 512), bool)
    outside[y0:y1, x0:x1] = False
    assert full[outside].max() == 0.0 and np.array_equal(fg[outside], img[outside])
    box = (x0 - 5, y0 + 3, x1 - 7, y1 + 0)  # straddles the roi's left edge
    assert np.array_equal(m.alpha_in(box), full[box[1] : box[3], box[0] : box[2]])
    assert np.array_equal(m.foreground_in(box), fg[box[1] : box[3], box[0] : box[2]])
    assert m.alpha_in(box).dtype == np.float32
    assert np.array_equal(m.alpha8_in(box), np.round(full[box[1] : box[3], box[0] : box[2]] * 255).astype(np.uint8))
    assert np.shares_memory(m.alpha8_in((x0 + 1, y0 + 1, x1 - 1, y1 - 1)), m.alpha)  # inside: a view


def test_a_frame_size_matte_and_a_roi_matte_mean_the_same():
    from device.types import Matte

    img, alpha = _ring_scene()
    frame = Frame(id="t", image=img, timestamp=0.0, source="test")
    full = Matte(frame=frame, alpha=alpha, foreground=img, model="t", roi=(96, 96, 416, 416))
    assert full.extent == (0, 0, 512, 512) and full.full_alpha() is alpha
    local = Matte(
        frame=frame,
        alpha=alpha[96:416, 96:416].copy(),
        foreground=img[96:416, 96:416].copy(),
        model="t",
        roi=(96, 96, 416, 416),
    )
    inside = np.zeros_like(alpha)  # the ring without the dust specks, which lie outside the box
    inside[96:416, 96:416] = alpha[96:416, 96:416]
    assert local.extent == (96, 96, 416, 416) and np.array_equal(local.full_alpha(), inside)
    empty = refine(_mask(img, np.zeros((32, 32))), MatteConfig())
    assert empty.roi == (0, 0, 0, 0) and empty.full_alpha().shape == (512, 512)
    with pytest.raises(ValueError, match="Matte.alpha"):
        Matte(frame=frame, alpha=alpha[:100, :100], foreground=img[:100, :100], model="t", roi=(0, 0, 50, 50))
    with pytest.raises(ValueError, match="same box"):
        Matte(frame=frame, alpha=alpha, foreground=img[:100], model="t")


def test_a_float_matte_and_a_uint8_matte_read_the_same():
    """Matte contract: alpha may be float 0..1 or uint8 0..255; alpha_in/full_alpha always give
    float32 0..1 and alpha8_in always uint8 round(255 a), whichever is stored."""
    from device.types import Matte

    img, alpha = _ring_scene()
    frame = Frame(id="t", image=img, timestamp=0.0, source="test")
    a8 = np.round(alpha * 255).astype(np.uint8)
    f = Matte(
        frame=frame,
        alpha=alpha[96:416, 96:416].astype(np.float32),
        foreground=img[96:416, 96:416].copy(),
        model="t",
        roi=(96, 96, 416, 416),
    )
    u = Matte(
        frame=frame,
        alpha=a8[96:416, 96:416].copy(),
        foreground=img[96:416, 96:416].copy(),
        model="t",
        roi=(96, 96, 416, 416),
    )
    for box in ((96, 96, 416, 416), (50, 120, 300, 500), (0, 0, 512, 512)):
        assert np.array_equal(f.alpha8_in(box), u.alpha8_in(box))
        assert f.alpha_in(box).dtype == u.alpha_in(box).dtype == np.float32
        assert np.abs(f.alpha_in(box) - u.alpha_in(box)).max() <= 0.5 / 255 + 1e-6
    assert u.full_alpha().dtype == np.float32 and u.full_alpha().shape == (512, 512)
    assert np.array_equal(u.full_alpha()[96:416, 96:416], a8[96:416, 96:416] / np.float32(255))
    assert np.shares_memory(u.alpha8_in((100, 100, 200, 200)), u.alpha)
    assert np.shares_memory(f.alpha_in((100, 100, 200, 200)), f.alpha)
    with pytest.raises(ValueError, match="uint8"):
        Matte(frame=frame, alpha=a8.astype(np.int32), foreground=img, model="t")


def test_guide_from_the_frames_shared_half_is_the_same_as_from_the_frame():
    from device.matte import _block_means
    from device.segment.litert import model_input, stretch_resize

    rng = np.random.default_rng(11)
    image = cv2.GaussianBlur(rng.integers(0, 256, (648, 1152, 3), dtype=np.uint8), (0, 0), 2)
    frame = Frame(id="h", image=image, timestamp=0.0, source="test")
    x0, y0, x1, y1 = 96, 40, 96 + 8 * 60, 40 + 8 * 50  # an even corner, whole 8 x 8 cells
    direct = _block_means(image[y0:y1, x0:x1], 8)
    shared = _block_means(frame.half()[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], 4)
    assert np.array_equal(direct, shared)
    # the model input reuses the same half and is what the plain resize gives
    assert np.array_equal(model_input(frame, 256, 256), stretch_resize(image, 256, 256))
    assert frame.half() is frame.half()  # made once per frame
    # a frame whose model input came from the lores stream never has a full half made for it
    lores = Frame(id="l", image=image, timestamp=0.0, source="test", lores=cv2.resize(image, (256, 256)))
    model_input(lores, 256, 256)
    prob = np.zeros((64, 64), np.float32)
    prob[16:48, 16:48] = 1.0
    matte = refine(Mask(frame=lores, prob=prob, model="test", backend="cpu"), MatteConfig())
    assert matte.alpha.size and lores.half(make=False) is None


def test_see_through_keeps_a_glass_parts_partial_alpha_and_only_when_asked():
    h, w = 480, 640
    image = np.full((h, w, 3), 235, np.uint8)
    image[120:400, 200:440] = (80, 120, 160)
    prob = np.zeros((120, 160), np.float32)
    prob[30:100, 50:110] = 1.0  # a solid product (frame rows 120-400, cols 200-440)
    prob[40:60, 60:100] = 0.6  # whose upper part lets 40 % of the booth through
    glass = (slice(180, 220), slice(260, 380))  # frame pixels well inside that part
    solid = (slice(280, 360), slice(260, 380))
    plain = refine(_mask(image, prob), MatteConfig()).full_alpha()
    assert plain[glass].min() == 1.0  # a probability: 0.6 rounds the interior to solid
    m = _mask(image, prob)
    seen = refine(
        Mask(frame=m.frame, prob=m.prob, model="test", backend="cpu", see_through=(0.35, 0.8)), MatteConfig()
    ).full_alpha()
    assert abs(float(seen[glass].mean()) - 0.6) < 0.02
    assert seen[solid].min() == 1.0  # the solid part stays solid
    assert seen[:100].max() == 0.0  # and the backdrop empty
    hard = refine(
        Mask(frame=m.frame, prob=m.prob, model="test", backend="cpu", see_through=(0.35, 0.8)), MatteConfig(hard=True)
    ).full_alpha()
    assert set(np.unique(hard)) <= {0.0, 1.0}  # hard alpha stays hard
