"""Booth calibration, stale-plate detection, the fallback to generic mode, and the shadow layer."""

from __future__ import annotations

import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from device.booth.plate import Plate, PlateError, check_plate, plate_dir
from device.booth.segmenter import BoothSegmenter
from device.booth.shadow import estimate_shadow
from device.config import BoothConfig, ConfigError, validate
from device.types import Mask
from device.workflows.calibrate import calibrate
from tests.booth.booth_fakes import ListSource, booth_plate, shifted, to_frame, with_product

SETTINGS = {"ExposureTime": 10000, "AnalogueGain": 2.0, "ColourGains": (1.8, 1.5)}


@pytest.fixture(scope="module")
def empty():
    return booth_plate()


@pytest.fixture(scope="module")
def plate(empty, tmp_path_factory):
    rng = np.random.default_rng(1)
    src = ListSource([to_frame(empty, rng, noise=3.0, **SETTINGS) for _ in range(8)])
    return calibrate(src, 8, tmp_path_factory.mktemp("station"), "median")


# ---- calibration ----------------------------------------------------------------------------
def test_calibration_averages_frames_and_cuts_noise(empty, plate):
    one = to_frame(empty, np.random.default_rng(9), noise=3.0).image.astype(np.float32)
    err_one = np.abs(one - np.clip(empty, 0, 255)).mean()
    err_plate = np.abs(plate.image.astype(np.float32) - np.clip(empty, 0, 255)).mean()
    assert plate.n_frames == 8 and plate.method == "median"
    assert err_plate < 0.6 * err_one, (err_plate, err_one)  # 8 frames: noise well below one frame's


def test_median_ignores_a_hand_in_one_frame(empty):
    rng = np.random.default_rng(2)
    frames = [to_frame(empty, rng) for _ in range(5)]
    hand = empty.copy()
    hand[100:200, 200:300] = (180, 120, 100)
    frames[2] = to_frame(hand, rng)
    p = calibrate(ListSource(frames), 5)
    assert np.abs(p.image[100:200, 200:300].astype(float) - empty[100:200, 200:300]).mean() < 3


def test_calibration_stores_plate_and_settings(plate):
    d = plate.path
    assert d is not None and d.name == "plate"
    meta = json.loads((d / "plate.json").read_text())
    assert meta["settings"] == {"exposure_us": 10000.0, "gain": 2.0, "wb_gains": [1.8, 1.5]}
    assert meta["resolution"] == [640, 360] and meta["n_frames"] == 8 and meta["created"] > 0
    again = Plate.load(d)
    assert np.array_equal(again.image, plate.image)
    assert again.settings == plate.settings and again.resolution == (640, 360)


def test_calibration_refuses_settling_auto_exposure(empty):
    rng = np.random.default_rng(3)
    frames = [to_frame(empty, rng, ExposureTime=10000 + 800 * i) for i in range(4)]
    with pytest.raises(PlateError, match="lock exposure"):
        calibrate(ListSource(frames), 4)


def test_missing_plate_says_run_calibrate(tmp_path):
    with pytest.raises(PlateError, match="cutbox calibrate"):
        Plate.load(plate_dir(tmp_path))


# ---- stale-plate detection --------------------------------------------------------------------
def _frame(img, seed=5, **info):
    return to_frame(img, np.random.default_rng(seed), **{**SETTINGS, **info})


def test_fitting_plate_passes_with_product_shadow_and_small_flicker(empty, plate):
    frame_img, _, _ = with_product(empty)
    for gain, dx in ((1.0, 0.0), (1.03, 0.0), (0.97, 1.0)):
        fit = check_plate(plate, _frame(shifted(frame_img * gain, dx, 0)))
        assert fit.ok, fit.reason


def test_changed_settings_make_the_plate_stale(empty, plate):
    frame_img, _, _ = with_product(empty)
    fit = check_plate(plate, _frame(frame_img, ExposureTime=12500))
    assert not fit.ok and "settings changed" in fit.reason and "exposure_us" in fit.reason
    fit = check_plate(plate, _frame(frame_img, ColourGains=(2.0, 1.5)))
    assert not fit.ok and "wb_gains" in fit.reason


def test_changed_resolution_makes_the_plate_stale(empty, plate):
    small = cv2.resize(empty, (320, 180))
    fit = check_plate(plate, _frame(small))
    assert not fit.ok and "resolution changed" in fit.reason and "640x360" in fit.reason


def test_bumped_camera_is_caught_and_measured(empty, plate):
    frame_img, _, _ = with_product(empty)
    fit = check_plate(plate, _frame(shifted(frame_img, 8, 3)))
    assert not fit.ok and "camera moved" in fit.reason
    expected = np.hypot(8, 3) * 256 / 640
    assert abs(fit.measures["shift_px"] - expected) < 0.4, fit.measures


def test_light_drift_is_caught(empty, plate):
    frame_img, _, _ = with_product(empty)
    fit = check_plate(plate, _frame(frame_img * 0.85))
    assert not fit.ok and "light drifted" in fit.reason and "darker" in fit.reason
    warm = frame_img * np.array([1.06, 1.0, 0.96], np.float32)
    fit = check_plate(plate, _frame(warm))
    assert not fit.ok and "white balance drifted" in fit.reason


# ---- fallback to the generic model ------------------------------------------------------------
class FakeGeneric:
    def __init__(self):
        self.calls = 0

    def segment(self, frame):
        self.calls += 1
        return Mask(frame=frame, prob=np.zeros((128, 128), np.float32), model="generic 1", backend="cpu")


class FakePlateModel:
    input_size = (256, 256)
    card = SimpleNamespace(label="booth 1")
    backend = "cpu"

    def __init__(self):
        self.inputs = []

    def predict(self, image, plate):
        """Difference keying at the output size: the product is where frame and plate differ."""
        self.inputs.append((image.shape, plate.shape))
        d = np.abs(image.astype(np.float32) - plate).max(axis=2)
        return cv2.resize((d > 40).astype(np.float32), (128, 128), interpolation=cv2.INTER_AREA)


def test_plate_mode_when_it_fits_and_generic_with_reason_when_stale(empty, plate):
    generic, pm = FakeGeneric(), FakePlateModel()
    seg = BoothSegmenter(generic, pm, plate, BoothConfig())
    frame_img, _, _ = with_product(empty)

    ok = _frame(frame_img)
    mask = seg.segment(ok)
    assert mask.model == "booth 1" and ok.info["segment_mode"] == "plate" and generic.calls == 0
    assert pm.inputs == [((256, 256, 3), (256, 256, 3))]

    bumped = _frame(shifted(frame_img, 10, 0))
    mask = seg.segment(bumped)
    assert mask.model == "generic 1" and generic.calls == 1
    assert bumped.info["segment_mode"] == "generic" and "camera moved" in bumped.info["plate_fit"]

    dim = _frame(frame_img * 0.8)
    seg.segment(dim)
    assert dim.info["segment_mode"] == "generic" and "light drifted" in dim.info["plate_fit"]

    seg.set_plate(None)
    f = _frame(frame_img)
    seg.segment(f)
    assert f.info["segment_mode"] == "generic" and "cutbox calibrate" in f.info["plate_fit"]


def test_see_through_goes_with_plate_mode_masks_only_when_switched_on(empty, plate):
    frame_img, _, _ = with_product(empty)
    assert (
        BoothSegmenter(FakeGeneric(), FakePlateModel(), plate, BoothConfig()).segment(_frame(frame_img)).see_through
        is None
    )
    seg = BoothSegmenter(
        FakeGeneric(), FakePlateModel(), plate, BoothConfig(see_through=True, see_through_range=(0.3, 0.9))
    )
    assert seg.segment(_frame(frame_img)).see_through == (0.3, 0.9)
    stale = _frame(shifted(frame_img, 10, 0))
    assert seg.segment(stale).see_through is None and stale.info["segment_mode"] == "generic"


def test_generic_mode_when_booth_off_or_model_missing(empty, plate):
    frame_img, _, _ = with_product(empty)
    off = BoothSegmenter(FakeGeneric(), FakePlateModel(), plate, BoothConfig(enabled=False))
    f = _frame(frame_img)
    assert off.segment(f).model == "generic 1" and "booth.enabled = false" in f.info["plate_fit"]
    missing = BoothSegmenter(FakeGeneric(), None, plate, BoothConfig(), unavailable="plate model not found: x.tflite")
    f = _frame(frame_img)
    assert missing.segment(f).model == "generic 1" and "not found" in f.info["plate_fit"]


# ---- shadow layer -----------------------------------------------------------------------------
def test_shadow_layer_recovers_cast_shadow_and_spares_product(empty, plate):
    frame_img, alpha, shadow_gt = with_product(empty, colour=(90, 60, 50), shadow=0.4)
    frame = _frame(frame_img * 1.03)  # a little flicker too
    est = estimate_shadow(frame.image, plate.image, alpha)
    assert est.shape == alpha.shape and est.dtype == np.float32
    assert np.abs(est - shadow_gt).mean() < 0.01
    region = shadow_gt > 0.2
    assert abs(est[region].mean() - shadow_gt[region].mean()) < 0.05
    assert est[alpha >= 1.0].max() == 0.0 and est[alpha > 0.95].max() < 0.02  # none on the product itself
    assert est[(shadow_gt == 0) & (alpha == 0)].mean() < 0.005  # no shadow where none was cast


# ---- config -------------------------------------------------------------------------------------
def test_booth_config_rejects_typos_and_bad_values():
    assert validate({"booth": {"plate_frames": 4}}).booth.plate_frames == 4
    with pytest.raises(ConfigError, match="booth.plate_frame"):
        validate({"booth": {"plate_frame": 4}})
    with pytest.raises(ConfigError, match="booth.plate_average"):
        validate({"booth": {"plate_average": "mode"}})
    with pytest.raises(ConfigError, match="booth.see_through_range.*0 < lo < hi < 1"):
        validate({"booth": {"see_through_range": [0.8, 0.3]}})


def test_booth_segmenter_adds_shadow_only_in_plate_mode(empty, plate):
    from device.types import Matte

    frame_img, alpha, shadow_gt = with_product(empty, colour=(90, 60, 50), shadow=0.4)
    seg = BoothSegmenter(FakeGeneric(), FakePlateModel(), plate, BoothConfig())
    f = _frame(frame_img)
    seg.segment(f)
    matte = Matte(frame=f, alpha=alpha, foreground=f.image, model="booth 1")
    with_shadow = seg.add_shadow(matte)
    layer = with_shadow.shadow
    assert layer is not None and layer.shape[1] <= 384  # kept small: no frame-size work in plate mode
    # scaled to the frame (compose leaves the product's own pixels alone) it is the cast shadow
    full = cv2.resize(layer, (alpha.shape[1], alpha.shape[0]), interpolation=cv2.INTER_LINEAR) * (1 - alpha)
    assert np.abs(full - shadow_gt).mean() < 0.01

    stale = _frame(frame_img * 0.8)
    seg.segment(stale)
    assert seg.add_shadow(Matte(frame=stale, alpha=alpha, foreground=stale.image, model="generic 1")).shadow is None


def test_featureless_sweep_with_product_on_the_border_still_fits():
    """A plain sweep has nothing to align: noise and a product reaching the border must not read as a bump."""
    h, w = 360, 640
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    sweep = np.broadcast_to(235 - 15 * yy, (h, w, 3)).astype(np.float32)
    rng = np.random.default_rng(4)
    plate = calibrate(ListSource([to_frame(sweep, rng, noise=3.0) for _ in range(8)]), 8)
    img = sweep.copy()
    img[150:, 250:420] = (60, 80, 160)  # a tall product standing on the bottom edge
    for seed in range(5):
        fit = check_plate(plate, to_frame(img, np.random.default_rng(seed), noise=3.0))
        assert fit.ok, fit.reason
    assert not check_plate(plate, to_frame(img * 0.85, rng, noise=3.0)).ok
