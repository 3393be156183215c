"""Spin sets: turn the product a full circle and cut out every view with ONE crop box.

Each view is matted while the table turns; only when the whole circle is shot is the crop
box known (the union of every view's subject box), and every view is then composed and
exported with that box. A 360 viewer flipping through the set sees the product turn in
place instead of jumping and zooming from frame to frame.

Memory: all mattes of a set are held until the box is known (about 20 bytes per frame
pixel: 24 views of a 2 MP frame is ~1 GB on the Pi, so keep spin frames at 2 MP or use
fewer steps for 12 MP stills).
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from device.compose import subject_box
from device.config import CutboxConfig, PresetConfig
from device.errors import Conflict
from device.limits import MAX_SPIN_STEPS
from device.turntable.base import Turntable, TurntableError, wrap
from device.types import Capture, Frame, Matte
from device.workflows.sku import clean_sku, sku_from_frame

log = logging.getLogger(__name__)


def new_spin_id() -> str:
    """Sortable, unique id shared by every capture of one spin set."""
    return "spin-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def union_box(boxes) -> tuple[int, int, int, int]:
    """The smallest box holding every (x0, y0, x1, y1) box."""
    boxes = list(boxes)
    if not boxes:
        raise ValueError("union of no boxes")
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


class Grabber(Protocol):
    def grab(self) -> Frame: ...


class SpinStages(Protocol):
    """What a spin needs of the pipeline: `Pipeline` itself, or the box's `ScoredPipeline`."""

    @property
    def config(self) -> CutboxConfig: ...

    @property
    def preset(self) -> str: ...

    def preset_config(self, name: str | None = None) -> PresetConfig: ...

    def matte(self, frame: Frame) -> Matte: ...

    def finish(
        self,
        matte: Matte,
        *,
        preset: str | None = None,
        box: tuple[int, int, int, int] | None = None,
        extra_meta: dict | None = None,
    ) -> Capture: ...


def shoot_spin(
    source: Grabber,
    pipeline: SpinStages,
    turntable: Turntable,
    steps: int,
    sku: str | None = None,
    *,
    preset: str | None = None,
    settle_s: float | None = None,
    return_to_start: bool | None = None,
    read_sku: bool = False,
    on_step: Callable[[int, int, float], None] | None = None,
) -> list[Capture]:
    """Shoot `steps` views 360/steps degrees apart and return one capture per view.

    Every capture has the same crop box and, in `meta`: `spin_id`, `angle` (degrees from the
    first view), `spin_index`, `spin_steps`, `sku`, `spin_box`. `settle_s` and
    `return_to_start` default to `pipeline.config.turntable`. With `read_sku`, a missing
    SKU is read from a barcode in the first view. `on_step(index, steps, angle)` runs after
    each shot (progress, watchdog).
    """
    if not isinstance(steps, int) or not 1 <= steps <= MAX_SPIN_STEPS:
        raise ValueError(f"steps must be a whole number 1..{MAX_SPIN_STEPS} (got {steps!r})")
    table_cfg = pipeline.config.turntable
    if settle_s is None:
        settle_s = table_cfg.settle_s
    if return_to_start is None:
        return_to_start = table_cfg.return_to_start
    sku = clean_sku(sku) if sku else None
    preset_name = preset or pipeline.preset
    pipeline.preset_config(preset_name)  # an unknown preset fails before the turntable moves
    step_deg = 360.0 / steps
    spin_id = new_spin_id()
    start = turntable.angle
    log.info("spin %s: %d views, %.2f degrees apart, sku=%s", spin_id, steps, step_deg, sku)

    shots = []  # (angle, matte)
    size = None
    for i in range(steps):
        if i:
            try:
                turntable.rotate(step_deg)
            except TurntableError as exc:
                raise TurntableError(f"spin {spin_id}, view {i + 1}/{steps}: {exc}") from None
        if settle_s:
            time.sleep(settle_s)
        frame = source.grab()
        if i == 0 and sku is None:
            sku = frame.sku and clean_sku(frame.sku)
            if sku is None and read_sku:
                sku = sku_from_frame(frame)
                log.info("spin %s: SKU from barcode: %s", spin_id, sku)
        if size is None:
            size = frame.size
        elif frame.size != size:
            raise Conflict(
                f"spin {spin_id}: view {i + 1} is {frame.size[0]}x{frame.size[1]}, the first was {size[0]}x{size[1]}; one camera mode per spin"
            )
        if sku is not None and frame.sku != sku:
            frame = dataclasses.replace(frame, sku=sku)
        angle = wrap(turntable.angle - start)
        shots.append((angle, pipeline.matte(frame)))
        if on_step is not None:
            on_step(i, steps, angle)
    if return_to_start and steps > 1:
        turntable.rotate(step_deg)  # the last step completes the circle: the next product starts at the mark

    views = []
    for i, (angle, matte) in enumerate(shots):
        extra = dict(spin_id=spin_id, angle=angle, spin_index=i, spin_steps=steps)
        views.append(({**extra, "sku": sku} if sku else extra, matte))
    shots.clear()
    captures = finish_set(pipeline, views, preset_name)
    for cap in captures:
        cap.sku = sku or cap.sku
    log.info("spin %s done: box %s", spin_id, captures[0].meta.get("spin_box") if captures else None)
    return captures


def finish_set(pipeline: SpinStages, views: list[tuple[dict, Matte]], preset: str) -> list[Capture]:
    """Compose a spin set's views with one crop box, the union of every view's subject box in
    `preset` (so the product does not jump between views); each view's `meta` gets its spin
    keys and `spin_box`. Used when a spin is shot and when its set is exported again."""
    preset_cfg = pipeline.preset_config(preset)
    box = union_box(subject_box(m, preset_cfg) for _, m in views)
    return [
        pipeline.finish(matte, preset=preset, box=box, extra_meta={**extra, "spin_box": list(box)})
        for extra, matte in views
    ]
