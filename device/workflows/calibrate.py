"""Calibrate a booth: photograph the empty booth into a clean plate (`cutbox calibrate`, the
page's Calibrate button, the `cmd/calibrate` MQTT command).

The plate's data and its checks are in `device.booth.plate`; this is the job that makes one.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from device.booth.plate import Plate, PlateError, average_frames, camera_settings, plate_dir, settings_change
from device.types import Frame

log = logging.getLogger(__name__)


class Grabber(Protocol):
    def grab(self) -> Frame: ...


def calibrate(
    source: Grabber,
    n_frames: int = 8,
    data_dir: str | Path | None = None,
    method: str = "median",
    on_frame: Callable[[int, int], None] | None = None,
) -> Plate:
    """Grab `n_frames` of the empty booth from `source`, average them into the plate, and
    (with `data_dir`) store it under `<data_dir>/plate/`. The settings stored are those the
    camera reported for the last frame; if they moved during calibration (auto exposure
    still settling) calibration fails, because such a plate would be stale at once.
    `on_frame(done, total)` runs after each frame (progress; it may raise to stop)."""
    if n_frames < 1:
        raise PlateError(f"n_frames must be >= 1, got {n_frames}")
    frames: list[Frame] = []
    for i in range(n_frames):
        frames.append(source.grab())
        if on_frame is not None:
            on_frame(i + 1, n_frames)
    sizes = {f.size for f in frames}
    if len(sizes) > 1:
        raise PlateError(
            f"frames changed size during calibration: {sorted(sizes)} (fix the camera mode and calibrate again)"
        )
    first, last = camera_settings(frames[0].info), camera_settings(frames[-1].info)
    moved = settings_change(first, last, 0.02)
    if moved:
        raise PlateError(
            f"camera settings moved during calibration ({moved}): lock exposure and white balance, then calibrate again"
        )
    image = average_frames([f.image for f in frames], method)
    noise = float(np.mean([np.std(f.image.astype(np.float32) - image) for f in frames])) if n_frames > 1 else 0.0
    plate = Plate(
        image=image,
        settings=last,
        created=time.time(),
        n_frames=n_frames,
        method=method,
        source=frames[-1].source,
        info={"noise_std": round(noise, 3)},
    )
    if data_dir is not None:
        d = plate.save(plate_dir(data_dir))
        plate = dataclasses.replace(plate, path=d)
        log.info("booth: plate of %d frames (%s) stored in %s, settings %s", n_frames, method, d, last)
    return plate
