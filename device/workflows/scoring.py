"""The scoring step every box capture goes through: quality from the matte's alpha, the review
flag from `api.review_threshold`, and the full-size alpha the store keeps.

`ScoredPipeline` is the pipeline as a box workflow drives it: the same `matte` and `finish`
(so `shoot_spin` takes either), with `finish` scoring the capture, waiting for its deferred
encodes and beating the watchdog's heartbeat after every stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from device.config import CutboxConfig, PresetConfig
from device.matte import Strokes
from device.pipeline import Pipeline
from device.quality import assess
from device.types import Capture, Frame, Matte


def score(capture: Capture, matte: Matte, threshold: float) -> None:
    """Score a capture from its matte's alpha and set its review flag (below `threshold`, or
    every shot when the threshold is 1.0: a person sees them all)."""
    t0 = time.perf_counter()
    report = assess(matte.full_alpha(), matte.frame.image, roi=matte.roi)
    capture.timings_ms["quality"] = (time.perf_counter() - t0) * 1000.0
    capture.quality = round(report.score, 4)
    capture.review = report.score < threshold or threshold >= 1.0
    capture.meta["quality"] = report.as_dict()
    capture.meta["review"] = capture.review


class ScoredPipeline:
    """A pipeline whose every finished capture is scored; `alphas[capture_id]` keeps each one's
    full-size alpha for the store."""

    def __init__(self, pipeline: Pipeline, threshold: float, beat: Callable[[str], None]):
        self._pipe = pipeline
        self._threshold = threshold
        self._beat = beat
        self.alphas: dict[str, np.ndarray] = {}

    @property
    def config(self) -> CutboxConfig:
        return self._pipe.config

    @property
    def preset(self) -> str:
        return self._pipe.preset

    def preset_config(self, name: str | None = None) -> PresetConfig:
        return self._pipe.preset_config(name)

    def matte(self, frame: Frame, strokes: Strokes | None = None) -> Matte:
        matte = self._pipe.matte(frame, strokes=strokes)
        self._beat("matte")
        return matte

    def finish(
        self,
        matte: Matte,
        *,
        preset: str | None = None,
        box: tuple[int, int, int, int] | None = None,
        extra_meta: dict | None = None,
    ) -> Capture:
        capture = self._pipe.finish(matte, preset=preset, box=box, extra_meta=extra_meta)
        score(capture, matte, self._threshold)
        capture.complete()
        self.alphas[capture.id] = matte.full_alpha()
        self._beat("capture")
        return capture

    def process(self, frame: Frame, *, preset: str | None = None, strokes: Strokes | None = None) -> Capture:
        return self.finish(self.matte(frame, strokes=strokes), preset=preset)
