"""The pipeline: real model, real photos, every stage timed, critical encodes before return."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from device.config import load_config
from device.pipeline import STAGES, Pipeline, split_formats
from device.sources.files import read_frame
from tests.paths import GROCERY, SAMPLES


@pytest.fixture(scope="module")
def pipeline():
    with Pipeline(load_config()) as p:
        yield p


def _decode(data: bytes, flags=cv2.IMREAD_UNCHANGED) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    assert img is not None
    return img


def test_a_photo_becomes_a_catalog_jpeg_and_a_mask(pipeline):
    cap = pipeline.process(read_frame(SAMPLES / "cap.jpg"))
    assert cap.preset == "marketplace-white"
    jpeg, mask = cap.artifact("jpeg"), cap.artifact("mask")
    assert jpeg is not None and mask is not None
    assert jpeg.data[:3] == b"\xff\xd8\xff"
    assert _decode(jpeg.data).shape == (2000, 2000, 3)
    m = _decode(mask.data)
    assert m.shape == (2000, 2000) and m.dtype == np.uint8
    assert 0.02 < (m > 127).mean() < 0.9  # a product, not an empty or full frame
    corners = _decode(jpeg.data)[[5, 5, -5, -5], [5, -5, 5, -5]]
    assert corners.min() > 240  # on white


def test_every_stage_is_timed(pipeline):
    cap = pipeline.process(read_frame(SAMPLES / "shoes.jpg"))
    t = cap.timings_ms
    assert set(STAGES) <= set(t)
    assert all(t[s] >= 0 for s in STAGES) and t["segment"] > 0 and t["export"] > 0
    assert t["total"] >= t["segment"] + t["matte"] + t["compose"] + t["export"] - 0.01


def test_the_meta_names_capture_model_preset_and_source(pipeline):
    frame = read_frame(SAMPLES / "vest.jpg")
    cap = pipeline.process(frame)
    m = cap.meta
    assert m["schema"] == 1 and m["capture_id"] == cap.id
    assert m["model"] == cap.model == pipeline.segmenter.card.label
    assert m["preset"] == "marketplace-white" and m["source"] == frame.source
    assert m["frame_size"] == list(frame.size) and "sku" in m and m["timings_ms"] is cap.timings_ms


def test_slow_formats_finish_off_the_critical_path(pipeline):
    cap = pipeline.process(read_frame(SAMPLES / "sweater.jpg"), preset="transparent-png")
    assert split_formats(["png", "mask", "meta"]) == (["mask", "meta"], ["png"])
    assert cap.artifact("png") is None and cap.pending is not None
    cap.complete(timeout=30)
    png = _decode(cap.artifact("png").data)
    assert png.ndim == 3 and png.shape[2] == 4  # RGBA
    assert cap.pending is None


def test_a_spin_mattes_each_frame_then_finishes_all_with_one_box(pipeline):
    mattes = [pipeline.matte(read_frame(SAMPLES / n)) for n in ("cap.jpg", "shoes.jpg")]
    box = (40, 60, 360, 480)
    caps = [pipeline.finish(m, box=box) for m in mattes]
    for cap, m in zip(caps, mattes):
        assert cap.frame is m.frame
        assert cap.timings_ms["segment"] > 0 and cap.timings_ms["matte"] > 0  # carried over from matte()
        assert cap.meta["box"] == list(box)


def test_presets_are_switched_by_name_and_unknown_names_say_which_exist(pipeline):
    pipeline.set_preset("transparent-png")
    try:
        assert pipeline.preset == "transparent-png"
        with pytest.raises(ValueError, match="unknown preset 'nope': choose from"):
            pipeline.set_preset("nope")
        assert pipeline.preset == "transparent-png"
    finally:
        pipeline.set_preset("marketplace-white")
    with pytest.raises(ValueError, match="unknown preset"):
        pipeline.process(read_frame(SAMPLES / "cap.jpg"), preset="nope")


@pytest.mark.shared_data
def test_the_matte_of_the_real_model_overlaps_the_teacher_on_packshots(pipeline):
    names = sorted(p.stem for p in GROCERY.glob("*.jpg"))[3::9][:8]
    assert len(names) >= 5, f"test data missing: {GROCERY}"
    ious = []
    for name in names:
        alpha = pipeline.matte(read_frame(GROCERY / f"{name}.jpg")).full_alpha()
        label = cv2.imread(str(GROCERY / f"{name}.png"), cv2.IMREAD_GRAYSCALE) >= 128
        assert alpha.shape == label.shape
        fg = alpha >= 0.5
        ious.append((fg & label).sum() / max(1, (fg | label).sum()))
    assert np.mean(ious) >= 0.7, ious


def test_the_sidecar_lists_every_artifact_including_the_deferred_ones(pipeline):
    """transparent-png encodes its PNG off the critical path; the JSON sidecar still names it."""
    capture = pipeline.process(read_frame(SAMPLES / "cap.jpg"), preset="transparent-png").complete()
    names = [a.name for a in capture.artifacts]
    assert names[-1] == "meta" and "png" in names and names.count("meta") == 1
    listed = json.loads(capture.artifact("meta").data)["artifacts"]
    assert set(listed) == {"png", "mask"}
    assert listed["png"]["sha256"] == capture.artifact("png").sha256


def test_extra_meta_reaches_the_sidecar(pipeline):
    matte = pipeline.matte(read_frame(SAMPLES / "cap.jpg"))
    capture = pipeline.finish(matte, extra_meta={"spin_id": "s1", "angle": 15.0}).complete()
    side = json.loads(capture.artifact("meta").data)
    assert side["spin_id"] == "s1" and side["angle"] == 15.0
