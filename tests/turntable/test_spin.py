"""Spin sets with the simulated turntable and the real pipeline (matte, compose, export).

The scene is a real product photo (CC0 clothing, distillation set) standing off-centre on the
simulated plate: as the plate turns, the product swings left and right (x = r*sin(angle)),
as it does in a booth when it is not put exactly on the axis. The segmenter returns the
photo's soft alpha label (made offline by the IS-Net teacher) moved with the product, so the
test does not depend on the student model being shipped; everything after the mask is the
real pipeline.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from device.compose import subject_box
from device.config import CutboxConfig
from device.pipeline import Pipeline
from device.turntable import SimulatedTurntable, TurntableError
from device.types import Frame, Mask
from device.workflows.spin import shoot_spin, union_box
from tests.paths import CLOTHING, SAMPLES

PHOTOS = CLOTHING
RADIUS_PX = 120


def sample() -> tuple[np.ndarray, np.ndarray]:
    jpg = sorted(PHOTOS.glob("*.jpg"))[5]
    rgb = cv2.cvtColor(cv2.imread(str(jpg)), cv2.COLOR_BGR2RGB)
    alpha = cv2.imread(str(jpg.with_suffix(".png")), cv2.IMREAD_GRAYSCALE)
    assert alpha is not None and alpha.shape == rgb.shape[:2]
    return rgb, alpha


class TurntableScene:
    """A FrameSource: the product photo on a wider backdrop, moved by where the plate is."""

    def __init__(self, table: SimulatedTurntable, sku: str | None = None):
        self.table = table
        self.rgb, self.alpha = sample()
        h, w = self.alpha.shape
        self.canvas = (w + 2 * RADIUS_PX + 40, h + 40)
        edge = np.concatenate([self.rgb[0], self.rgb[-1], self.rgb[:, 0], self.rgb[:, -1]])
        self.backdrop = tuple(int(v) for v in np.median(edge, axis=0))
        self.sku = sku
        self.shots = 0

    def grab(self) -> Frame:
        dx = RADIUS_PX * math.sin(math.radians(self.table.angle))
        m = np.float32([[1, 0, RADIUS_PX + 20 + dx], [0, 1, 20]])
        image = cv2.warpAffine(self.rgb, m, self.canvas, flags=cv2.INTER_LINEAR, borderValue=self.backdrop)
        truth = cv2.warpAffine(self.alpha, m, self.canvas, flags=cv2.INTER_LINEAR, borderValue=0)
        self.shots += 1
        return Frame(
            id=f"scene-{self.shots}",
            image=image,
            timestamp=0.0,
            source="test:scene",
            sku=self.sku,
            info={"truth": truth},
        )

    def frames(self):
        while True:
            yield self.grab()

    def close(self):
        pass


class TeacherLabelSegmenter:
    """The photo's teacher alpha at a model-like 256x256 resolution, in place of the student model."""

    def segment(self, frame: Frame) -> Mask:
        prob = cv2.resize(frame.info["truth"], (256, 256), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        return Mask(frame=frame, prob=prob, model="teacher-label", backend="cpu")


@pytest.fixture(scope="module")
def pipeline():
    config = CutboxConfig()
    config.turntable.settle_s = 0.0
    with Pipeline(config, segmenter=TeacherLabelSegmenter()) as p:
        yield p


@pytest.mark.shared_data
def test_spin_set_has_one_crop_box_and_angles_in_meta(pipeline):
    table = SimulatedTurntable(speed_deg_s=36000)
    scene = TurntableScene(table)
    steps = 8
    progress = []
    captures = shoot_spin(
        scene, pipeline, table, steps, sku="SHIRT-0042", on_step=lambda i, n, a: progress.append((i, a))
    )

    assert len(captures) == steps
    assert [c.meta["angle"] for c in captures] == [i * 45.0 for i in range(steps)]
    assert progress == [(i, i * 45.0) for i in range(steps)]
    assert len({c.meta["spin_id"] for c in captures}) == 1
    assert len({c.id for c in captures}) == steps
    assert all(c.sku == "SHIRT-0042" and c.meta["sku"] == "SHIRT-0042" for c in captures)
    assert [c.meta["spin_index"] for c in captures] == list(range(steps))

    # one crop box for the whole set: the union of the views' own boxes, wider than any of them
    boxes = {tuple(c.meta["spin_box"]) for c in captures}
    assert len(boxes) == 1
    box = boxes.pop()
    own = [subject_box(pipeline.matte(scene_frame(scene, a)), pipeline.preset_config()) for a in range(0, 360, 45)]
    assert box == union_box(own)
    widths = [b[2] - b[0] for b in own]
    assert box[2] - box[0] >= max(widths) + RADIUS_PX  # the swing (2r, sampled at 45 degree steps) is in it

    # every view's exported picture has the same size, and the plate is back at the start mark
    sizes = {cv2.imdecode(np.frombuffer(c.artifact("jpeg").data, np.uint8), cv2.IMREAD_COLOR).shape for c in captures}
    assert len(sizes) == 1
    assert table.angle == 0
    assert table.moves == [45.0] * steps


def scene_frame(scene: TurntableScene, angle: float) -> Frame:
    table = SimulatedTurntable(speed_deg_s=1e9)
    table.rotate(angle)
    return TurntableScene(table).grab()


@pytest.mark.shared_data
def test_product_stays_put_across_the_set(pipeline):
    """With one box, the product's left edge moves in the output only by its real swing; with
    per-view boxes (what a single capture does) it would stay pinned to the margin."""
    table = SimulatedTurntable(speed_deg_s=36000)
    captures = shoot_spin(TurntableScene(table), pipeline, table, 4, sku=None, return_to_start=False)
    lefts = []
    for c in captures:
        alpha = c.artifact("mask")
        assert alpha is not None, "the default preset exports a mask"
        a = cv2.imdecode(np.frombuffer(alpha.data, np.uint8), cv2.IMREAD_GRAYSCALE)
        cols = np.where(a.max(axis=0) > 128)[0]
        lefts.append(int(cols[0]))
    assert lefts[1] - lefts[3] > 20  # the 90 degree view sits right of the 270 degree view
    assert table.angle == 270.0  # return_to_start=False leaves it at the last view
    assert all(c.meta["sku"] is None for c in captures)


@pytest.mark.shared_data
def test_sku_comes_from_the_source_or_the_barcode_flag(pipeline):
    table = SimulatedTurntable(speed_deg_s=36000)
    captures = shoot_spin(TurntableScene(table, sku="TEE-7"), pipeline, table, 2)
    assert [c.sku for c in captures] == ["TEE-7", "TEE-7"]


@pytest.mark.shared_data
def test_a_failing_turntable_names_the_view():
    class Jammed(SimulatedTurntable):
        def rotate(self, degrees):
            raise TurntableError("controller answered 'ERR stall'")

    table = Jammed()
    with Pipeline(CutboxConfig(), segmenter=TeacherLabelSegmenter()) as p:
        with pytest.raises(TurntableError, match=r"view 2/3: controller answered 'ERR stall'"):
            shoot_spin(TurntableScene(table), p, table, 3, settle_s=0)


@pytest.mark.shared_data
@pytest.mark.parametrize("steps", [0, 361, 2.5])
def test_bad_step_counts_are_refused(pipeline, steps):
    table = SimulatedTurntable()
    with pytest.raises(ValueError, match="steps must be a whole number 1..360"):
        shoot_spin(TurntableScene(table), pipeline, table, steps)


def test_cutbox_spin_writes_each_view_named_by_sku_and_angle_with_its_sidecar(tmp_path, monkeypatch):
    """The CLI shell over shoot_spin: the real model, the simulated turntable, three views."""
    import json
    import shutil

    from device.cli import main

    photos = tmp_path / "in"
    photos.mkdir()
    for i in range(3):
        shutil.copy(SAMPLES / "shoes.jpg", photos / f"s{i}.jpg")
    monkeypatch.setenv("CUTBOX__TURNTABLE__SETTLE_S", "0")
    assert main(["spin", "--steps", "3", "--sku", "SHOE-1", "--source", str(photos), "-o", str(tmp_path / "out")]) == 0
    (folder,) = (tmp_path / "out" / "SHOE-1").iterdir()
    sidecars = sorted(folder.glob("*.json"))
    assert [p.name.rsplit("_", 1)[1] for p in sidecars] == ["000.0deg.json", "120.0deg.json", "240.0deg.json"]
    for side in sidecars:
        meta = json.loads(side.read_text())
        assert meta["spin_id"] == folder.name and meta["sku"] == "SHOE-1"
        assert (folder / side.name.replace(".json", ".jpg")).is_file() and (
            folder / side.name.replace(".json", ".mask.png")
        ).is_file()
