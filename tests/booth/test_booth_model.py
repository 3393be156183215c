"""The shipped booth model: fully int8, its card matches it, and on white-on-white booth
composites of held-out products plate mode beats the generic model."""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest

from device.booth.plate import Plate
from device.booth.segmenter import BoothSegmenter, PlateModel
from device.config import BoothConfig
from device.segment.base import ModelError
from device.segment.litert import LiteRTSegmenter
from device.types import Frame
from tests.paths import BOOTH_MODEL, DISTILL, STUDENT_MODEL, TEST_DATA
from tools.booth.card import booth_int8_check

BOOTH, GENERIC, DATA = BOOTH_MODEL, STUDENT_MODEL, DISTILL
# Thin and open products (struts, straps) of unseen categories in a booth: plate 0.1.5200 made
# 0.516 of the 12 bundled ones, 0.1.5550 (trained with thin cases of every source) 0.753.
THIN_FLOOR = 0.65


def test_booth_model_is_fully_int8_and_card_matches():
    assert BOOTH.exists(), "models/cutbox-booth-int8.tflite missing: python -m tools.booth.train_plate export"
    card = json.loads(BOOTH.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(BOOTH.read_bytes()).hexdigest()
    assert card["file"] == BOOTH.name and card["input"]["channels"] == "RGB+plate"
    check = booth_int8_check(BOOTH)
    assert check["fully_int8"], check["problems"][:5]
    assert check["input"]["dtype"] == "uint8" and check["output"]["dtype"] == "uint8"
    assert check["input"]["shape"] == [1, card["input"]["height"], card["input"]["width"], 6]
    assert not {"TRANSPOSE", "TRANSPOSE_CONV"} & set(check["op_counts"])  # Edge TPU friendly
    assert BOOTH.with_suffix(".md").exists()


def test_plate_model_refuses_a_generic_model():
    with pytest.raises(ModelError, match="not RGB\\+plate"):
        PlateModel(GENERIC)


def _iou(prob: np.ndarray, gt: np.ndarray) -> float:
    prob = cv2.resize(prob, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
    p, g = prob >= 0.5, gt >= 0.5
    return float((p & g).sum() / max((p | g).sum(), 1))


@pytest.mark.shared_data
def test_plate_mode_beats_generic_on_white_on_white():
    from tools.booth import synth

    products, _ = synth.list_products("val")
    rng = np.random.default_rng(11)
    generic = LiteRTSegmenter(GENERIC, threads=1, delegate="cpu")
    plate_model = PlateModel(BOOTH, threads=1, delegate="cpu")
    ious = {"plate": [], "generic": []}
    loaded = []
    for p in products[::5]:  # 8 held-out products the teacher is sure of
        try:
            loaded.append((p, synth.load_product(p)))
        except ValueError:
            continue
        if len(loaded) == 8:
            break
    for p, (rgb, a) in loaded:
        c = synth.composite(rgb, a, rng, 288, 384, case="white_on_white")
        plate = Plate(image=c.plate, settings={}, created=0.0, n_frames=8, method="median")
        seg = BoothSegmenter(generic, plate_model, plate, BoothConfig())
        frame = Frame(id=p.name, image=c.image, timestamp=0.0, source="test")
        ious["plate"].append(_iou(seg.segment(frame).prob, c.alpha))
        assert frame.info["segment_mode"] == "plate", frame.info["plate_fit"]
        ious["generic"].append(_iou(generic.segment(frame).prob, c.alpha))
    plate_iou, generic_iou = np.mean(ious["plate"]), np.mean(ious["generic"])
    print(f"white on white, 8 held-out products: plate {plate_iou:.3f} vs generic {generic_iou:.3f}")
    # the plate must still help where the backdrop and product are both white and be good
    # outright. These 8 are seen-category garments, where generic 0.2.86 is already strong:
    # plate 0.1.5200 0.977, 0.1.5550 0.957 (it gained 27 points on thin products and 0.5 on
    # white on white of unseen categories); generic 0.952.
    assert plate_iou > generic_iou, ious
    assert plate_iou > 0.95, ious


@pytest.mark.shared_data
def test_see_through_brings_a_translucent_products_alpha_closer_to_the_truth():
    from device.config import MatteConfig
    from device.matte import refine
    from tools.booth import synth

    products, _ = synth.list_products("val")
    rng = np.random.default_rng(3)
    generic = LiteRTSegmenter(GENERIC, threads=1, delegate="cpu")
    plate_model = PlateModel(BOOTH, threads=1, delegate="cpu")
    sad = {"solid": 0.0, "see-through": 0.0}
    done = 0
    for p in products[::4]:
        try:
            rgb, a = synth.load_product(p)
        except ValueError:
            continue
        c = synth.composite(rgb, a, rng, 288, 384, case="translucent")
        plate = Plate(image=c.plate, settings={}, created=0.0, n_frames=8, method="median")
        for name, on in (("solid", False), ("see-through", True)):
            seg = BoothSegmenter(generic, plate_model, plate, BoothConfig(see_through=on))
            frame = Frame(id=p.name, image=c.image, timestamp=0.0, source="test")
            alpha = refine(seg.segment(frame), MatteConfig()).full_alpha()
            assert frame.info["segment_mode"] == "plate", frame.info["plate_fit"]
            sad[name] += float(np.abs(alpha - c.alpha).sum())
        done += 1
        if done == 6:
            break
    print(f"translucent, 6 held-out products, matte SAD: {sad}")
    # booth set (30 translucent composites, model 0.1.5200): 2.78 -> 1.80 thousand
    assert sad["see-through"] < 0.85 * sad["solid"], sad


@pytest.mark.shared_data
def test_open_booth_segmenter_uses_stored_plate_and_shipped_model(tmp_path):
    from device.booth.segmenter import open_booth_segmenter
    from device.config import validate
    from device.workflows.calibrate import calibrate
    from tests.booth.booth_fakes import ListSource, to_frame

    # a real photo (TrashNet glass, an unseen category) and its board with the product painted out
    photo = DATA / "trashnet" / "glass-182"
    img = cv2.cvtColor(cv2.imread(str(photo.with_suffix(".jpg"))), cv2.COLOR_BGR2RGB)
    hole = cv2.dilate((cv2.imread(str(photo.with_suffix(".png")), 0) > 8).astype(np.uint8), np.ones((15, 15), np.uint8))
    empty = cv2.inpaint(img, hole, 7, cv2.INPAINT_TELEA).astype(np.float32)
    rng = np.random.default_rng(0)
    calibrate(ListSource([to_frame(empty, rng) for _ in range(4)]), 4, tmp_path)
    cfg = validate({"station": {"data_dir": str(tmp_path)}})
    generic = LiteRTSegmenter(GENERIC, threads=1, delegate="cpu")
    seg = open_booth_segmenter(cfg, generic)
    frame = to_frame(img.astype(np.float32), rng)
    mask = seg.segment(frame)
    assert frame.info["segment_mode"] == "plate" and mask.model.startswith("cutbox-booth-int8"), frame.info
    assert mask.prob.shape == (128, 128) and 0.0 <= mask.prob.min() and mask.prob.max() <= 1.0

    off = open_booth_segmenter(validate({"station": {"data_dir": str(tmp_path / "none")}}), generic)
    frame = to_frame(img, rng)
    assert off.segment(frame).model == generic.card.label and "cutbox calibrate" in frame.info["plate_fit"]


def test_plate_model_opens_only_once_there_is_a_plate(tmp_path):
    from device.booth.segmenter import open_booth_segmenter
    from device.config import validate

    cfg = validate({"station": {"data_dir": str(tmp_path)}, "segment": {"threads": 1, "delegate": "cpu"}})
    generic = LiteRTSegmenter(GENERIC, threads=1, delegate="cpu")
    seg = open_booth_segmenter(cfg, generic)
    assert seg.plate is None and seg.plate_model is None
    frame = Frame(id="f1", image=np.full((288, 384, 3), 200, np.uint8), timestamp=0.0, source="test")
    assert seg.segment(frame).model == generic.card.label and "cutbox calibrate" in frame.info["plate_fit"]
    assert seg.plate_model is None

    seg.set_plate(
        Plate(image=np.full((288, 384, 3), 200, np.uint8), settings={}, created=0.0, n_frames=1, method="median")
    )
    assert isinstance(seg.plate_model, PlateModel)
    model = seg.plate_model
    frame = Frame(id="f2", image=np.full((288, 384, 3), 200, np.uint8), timestamp=0.0, source="test")
    assert seg.segment(frame).model.startswith("cutbox-booth-int8") and frame.info["segment_mode"] == "plate"
    seg.set_plate(None)
    seg.set_plate(
        Plate(image=np.full((288, 384, 3), 190, np.uint8), settings={}, created=0.0, n_frames=1, method="median")
    )
    assert seg.plate_model is model  # opened once, kept across recalibrations


def test_missing_plate_model_is_reported_once_a_plate_needs_it(tmp_path):
    from device.booth.segmenter import open_booth_segmenter
    from device.config import validate

    cfg = validate({"station": {"data_dir": str(tmp_path)}, "booth": {"model": str(tmp_path / "missing.tflite")}})
    seg = open_booth_segmenter(cfg, LiteRTSegmenter(GENERIC, threads=1, delegate="cpu"))
    assert seg.plate_model is None and seg.unavailable == ""
    seg.set_plate(
        Plate(image=np.full((288, 384, 3), 200, np.uint8), settings={}, created=0.0, n_frames=1, method="median")
    )
    frame = Frame(id="f", image=np.full((288, 384, 3), 200, np.uint8), timestamp=0.0, source="test")
    seg.segment(frame)
    assert frame.info["segment_mode"] == "generic" and "model file not found" in frame.info["plate_fit"]


def test_products_the_teacher_is_unsure_of_are_skipped(tmp_path):
    """An opaque product labelled at alpha 0.3 would be composited as a see-through one whose
    ground truth sits under the IoU threshold: training and the booth set skip it."""
    from tools.booth import synth

    img = np.full((120, 160, 3), 128, np.uint8)
    sure, unsure = np.zeros((120, 160), np.uint8), np.zeros((120, 160), np.uint8)
    cv2.rectangle(sure, (40, 20), (120, 100), 255, -1)
    cv2.rectangle(unsure, (40, 20), (120, 100), 80, -1)
    unsure[50:70, 70:90] = 255  # a bit of it solid, most of it not
    for name, alpha in (("sure", sure), ("unsure", unsure)):
        cv2.imwrite(str(tmp_path / f"{name}.jpg"), img)
        cv2.imwrite(str(tmp_path / f"{name}.png"), alpha)
    rgb, a = synth.load_product(synth.Product("sure", tmp_path / "sure.jpg", tmp_path / "sure.png"))
    assert a.max() == 1.0 and rgb.shape[:2] == a.shape
    with pytest.raises(ValueError, match="unsure label"):
        synth.load_product(synth.Product("unsure", tmp_path / "unsure.jpg", tmp_path / "unsure.png"))


def _bundled_unseen_composites(case: str):
    """The 12 bundled photos of categories neither model trained on (tests/data/unseen, MIT),
    each placed in a synthetic booth of `case` with its own plate (seeded, so the same every run)."""
    from tools.booth import synth

    rng = np.random.default_rng(2027)
    for jpg in sorted((TEST_DATA / "unseen").glob("*.jpg")):
        rgb, a = synth.load_product(synth.Product(jpg.stem, jpg, jpg.with_suffix(".png")))
        yield jpg.stem, synth.composite(rgb, a, rng, 288, 384, case=case)


# (case, IoU floor, least lead over generic mode): on a plain product the plate adds nothing
# (0.954 against 0.960 here, 0.961 against 0.961 on the unseen booth set), so it must only stay level
@pytest.mark.parametrize(
    "case, floor, lead", [("plain", 0.94, -0.01), ("white_on_white", 0.95, 0.01), ("thin", THIN_FLOOR, 0.2)]
)
def test_plate_mode_cuts_out_unseen_products_in_a_booth(case, floor, lead):
    generic = LiteRTSegmenter(GENERIC, threads=1, delegate="cpu")
    plate_model = PlateModel(BOOTH, threads=1, delegate="cpu")
    ious: dict[str, list[float]] = {"plate": [], "generic": []}
    for name, c in _bundled_unseen_composites(case):
        plate = Plate(image=c.plate, settings={}, created=0.0, n_frames=8, method="median")
        frame = Frame(id=name, image=c.image, timestamp=0.0, source="test")
        ious["plate"].append(
            _iou(BoothSegmenter(generic, plate_model, plate, BoothConfig()).segment(frame).prob, c.alpha)
        )
        assert frame.info["segment_mode"] == "plate", frame.info["plate_fit"]
        ious["generic"].append(_iou(generic.segment(frame).prob, c.alpha))
    plate_iou, generic_iou = float(np.mean(ious["plate"])), float(np.mean(ious["generic"]))
    print(f"{case}, 12 unseen products: plate {plate_iou:.3f} vs generic {generic_iou:.3f}")
    assert plate_iou >= generic_iou + lead, ious
    assert plate_iou >= floor, ious
