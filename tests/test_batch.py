"""`cutbox cutout` decodes a JPEG no larger than the preset needs, and never loses resolution for it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from device.config import validate
from device.devtools.bench import bench_frame
from device.pipeline import Pipeline
from device.workflows.batch import cut_out_file

# small enough that the t-shirt of bench_frame (about 870 px of its 1296, 217 of a 1/4 decode's 324)
# fills it from a 1/4 decode: 0.85 * 240 = 204 px
SIDE = 240
SMALL = {"width": SIDE, "height": SIDE, "fill": 0.85, "formats": ["jpeg", "mask"]}


@pytest.fixture(scope="module")
def pipeline():
    from device.config import CutboxConfig

    presets = {n: p.model_dump(mode="json") for n, p in CutboxConfig().compose.presets.items()}
    presets["small"] = SMALL
    cfg = validate({"segment": {"threads": 1, "delegate": "cpu"}, "compose": {"presets": presets}})
    with Pipeline(cfg) as p:
        yield p


def _save(path, rgb):
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path


def test_a_product_that_fills_the_frame_is_cut_from_a_reduced_decode(pipeline, tmp_path):
    path = _save(tmp_path / "big.jpg", bench_frame())  # 2304x1296, the product two thirds of its height
    capture = cut_out_file(pipeline, path, "small")
    assert capture.frame.info["reduced"] == 4 and capture.frame.size == (576, 324)
    jpeg = cv2.imdecode(np.frombuffer(capture.artifact("jpeg").data, np.uint8), cv2.IMREAD_COLOR)
    assert jpeg.shape[:2] == (SIDE, SIDE)
    x0, y0, x1, y1 = capture.meta["box"]
    assert y1 - y0 >= 0.85 * SIDE  # the reduced frame still had every pixel the output uses


def test_a_small_product_is_cut_again_from_the_full_decode(pipeline, tmp_path):
    frame = bench_frame()
    small = cv2.resize(frame, (frame.shape[1] // 5, frame.shape[0] // 5), interpolation=cv2.INTER_AREA)
    canvas = np.empty_like(frame)
    canvas[:] = small[:4, :4].reshape(-1, 3).mean(axis=0).astype(np.uint8)  # the frame's own backdrop
    canvas[500 : 500 + small.shape[0], 900 : 900 + small.shape[1]] = small
    path = _save(tmp_path / "far.jpg", canvas)
    capture = cut_out_file(pipeline, path, "small")
    assert "reduced" not in capture.frame.info and capture.frame.size == (2304, 1296)


def test_a_native_size_preset_always_decodes_in_full(pipeline, tmp_path):
    path = _save(tmp_path / "big.jpg", bench_frame())
    capture = cut_out_file(pipeline, path, "transparent-png")
    assert "reduced" not in capture.frame.info and capture.frame.size == (2304, 1296)
