"""The LiteRT segmenter: the real model on real photos, CPU/Edge TPU choice, lores input."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from device.booth.plate import area_resize
from device.config import load_config
from device.segment import ModelError, Segmenter, open_segmenter
from device.segment.litert import LiteRTSegmenter, find_edgetpu, stretch_resize
from device.sources.decode import decode_image
from device.sources.files import read_frame
from device.types import Frame
from tests.paths import GROCERY

PACKSHOTS = [
    "Alpro-Fresh-Soy-Milk_Iconic",
    "Anjou_Iconic",
    "Alpro-Vanilla-Soyghurt_Iconic",
    "Alpro-Blueberry-Soyghurt_Iconic",
]


@pytest.fixture(scope="module")
def segmenter() -> LiteRTSegmenter:
    return open_segmenter(load_config().segment)


def iou_with_teacher(prob: np.ndarray, label_path: Path, threshold: float) -> float:
    label = cv2.imread(str(label_path), cv2.IMREAD_GRAYSCALE) >= 128
    up = cv2.resize(prob, (label.shape[1], label.shape[0]), interpolation=cv2.INTER_LINEAR) >= threshold
    return float((up & label).sum() / max(1, (up | label).sum()))


def packshot_names() -> list[str]:
    names = sorted(p.stem for p in GROCERY.glob("*.jpg"))
    assert len(names) >= 20, f"test data missing: {GROCERY}"
    return names[::8][:10]


@pytest.mark.shared_data
def test_the_real_model_finds_packshot_products(segmenter):
    ious = []
    for name in packshot_names():
        mask = segmenter.segment(read_frame(GROCERY / f"{name}.jpg"))
        ious.append(iou_with_teacher(mask.prob, GROCERY / f"{name}.png", segmenter.card.threshold))
    assert np.mean(ious) >= 0.7, ious
    assert min(ious) >= 0.4, ious


@pytest.mark.shared_data
def test_the_mask_is_the_cards_output_size_and_a_probability(segmenter):
    mask = segmenter.segment(read_frame(GROCERY / f"{PACKSHOTS[0]}.jpg"))
    card = segmenter.card
    assert isinstance(segmenter, Segmenter)
    assert mask.prob.shape == (card.output_height, card.output_width) and mask.prob.dtype == np.float32
    assert 0.0 <= mask.prob.min() and mask.prob.max() <= 1.0
    assert mask.prob.max() > 0.9 and mask.prob.min() < 0.1  # product and background both present
    assert mask.model == card.label and mask.backend == "cpu"


@pytest.mark.shared_data
def test_the_lores_stream_is_used_instead_of_the_full_frame(segmenter):
    photo = decode_image(GROCERY / f"{PACKSHOTS[1]}.jpg")
    w, h = segmenter.input_size
    lores = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
    garbage = np.random.default_rng(0).integers(0, 256, (1296, 2304, 3), dtype=np.uint8)
    with_lores = segmenter.segment(Frame("t", garbage, 0.0, "test", lores=lores))
    from_photo = segmenter.segment(Frame("t", photo, 0.0, "test"))
    assert np.abs(with_lores.prob - from_photo.prob).mean() < 0.02
    assert iou_with_teacher(with_lores.prob, GROCERY / f"{PACKSHOTS[1]}.png", 0.5) >= 0.6


@pytest.mark.shared_data
def test_area_resize_matches_a_single_inter_area_step():
    img = decode_image(GROCERY / f"{PACKSHOTS[0]}.jpg")
    big = cv2.resize(img, (2304, 1296), interpolation=cv2.INTER_CUBIC)
    fast = area_resize(big, 256, 256).astype(np.float32)
    ref = cv2.resize(big, (256, 256), interpolation=cv2.INTER_AREA).astype(np.float32)
    assert fast.shape == ref.shape and np.abs(fast - ref).mean() < 1.5


@pytest.mark.shared_data
def test_stretch_resize_is_an_area_like_average_of_the_frame():
    """The hot-path model input: close to one INTER_AREA step, and no aliasing of a fine pattern."""
    img = decode_image(GROCERY / f"{PACKSHOTS[0]}.jpg")
    big = cv2.resize(img, (2304, 1296), interpolation=cv2.INTER_CUBIC)
    fast = stretch_resize(big, 256, 256).astype(np.float32)
    ref = cv2.resize(big, (256, 256), interpolation=cv2.INTER_AREA).astype(np.float32)
    assert fast.shape == ref.shape and np.abs(fast - ref).mean() < 1.5
    stripes = np.zeros((1296, 2304, 3), np.uint8)
    stripes[:, 1::2] = 255  # one-pixel stripes: an area average is flat grey, a point sample is not
    small = stretch_resize(stripes, 256, 256).astype(np.float32)
    assert np.abs(small - 127.5).max() <= 2


def test_cpu_is_chosen_and_the_reason_logged_when_there_is_no_coral(caplog):
    model = load_config().segment.model
    with caplog.at_level(logging.INFO, logger="device.segment"):
        seg = LiteRTSegmenter(model, threads=2, delegate="auto")
    assert find_edgetpu() is None  # no Coral on CI machines
    assert seg.backend == "cpu" and "no Coral found" in seg.backend_reason
    assert any("on cpu" in r.message and "no Coral found" in r.message for r in caplog.records)
    assert seg.threads == 2
    forced = LiteRTSegmenter(model, delegate="cpu")
    assert forced.backend == "cpu" and forced.backend_reason == "segment.delegate = cpu"


def test_delegate_edgetpu_without_a_coral_fails_at_start_with_the_fix():
    with pytest.raises(ModelError) as e:
        LiteRTSegmenter(load_config().segment.model, delegate="edgetpu")
    assert "no Coral found" in str(e.value) and "delegate = auto" in str(e.value)
