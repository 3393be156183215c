"""Capture, spin, calibrate, correct and review on the running box.

Every job takes the work lock (one user of the camera and the model at a time), drives the
pipeline through the scoring step, and ends in `_keep`: stored, published, counted. A bad
request raises `BadRequest`, a state that does not allow it `Conflict`, a part that failed
`Unavailable` (`CameraError` for the camera); every failure is also recorded for the page.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

import numpy as np

from device.box.camera import Camera
from device.box.events import Events
from device.box.parts import Parts
from device.box.publishing import Publishing
from device.box.settings import ConfigManager
from device.box.store import CaptureStore
from device.box.watchdog import Heartbeat
from device.errors import BadRequest, CameraError, Conflict, Unavailable, one_line
from device.limits import MAX_PLATE_FRAMES, MAX_SPIN_STEPS
from device.matte.strokes import Strokes
from device.segment.base import PlateAware
from device.sources.decode import ImageError
from device.types import Capture, Frame
from device.workflows.progress import Cancelled, Progress
from device.workflows.reduced_decode import decode_size, decoded_in_full, needs_full_decode
from device.workflows.scoring import ScoredPipeline

log = logging.getLogger(__name__)

SPIN_SCAN_LIMIT = 100_000  # captures looked at to find a spin set's views
_FAILED = {"pipeline": "processing failed", "correct": "correction failed", "reexport": "re-export failed"}


class BoxWorkflows:
    def __init__(
        self,
        *,
        lock: threading.RLock,
        settings: ConfigManager,
        camera: Camera,
        parts: Parts,
        store: CaptureStore,
        publishing: Publishing,
        events: Events,
        heartbeat: Heartbeat,
        progress: Progress | None = None,
    ):
        self.progress = progress or Progress()
        self._lock = lock
        self._settings = settings
        self._camera = camera
        self._parts = parts
        self._store = store
        self._publishing = publishing
        self._events = events
        self._heartbeat = heartbeat

    def _scored(self) -> ScoredPipeline:
        config = self._settings.config
        return ScoredPipeline(self._parts.pipeline(config), config.api.review_threshold, self._heartbeat.beat)

    def _process(
        self, where: str, frame: Frame, *, preset: str | None = None, strokes: Strokes | None = None
    ) -> tuple[Capture, np.ndarray]:
        """frame -> matte -> compose/export -> score; the capture and its full-size alpha. A
        stage that fails on this frame is recorded under `where` and raised as `Unavailable`."""
        scored = self._scored()  # Unavailable (already recorded) when the model is not loaded
        try:
            capture = scored.process(frame, preset=preset, strokes=strokes)
        except Exception as exc:  # any stage failing on this frame: recorded, one line to the caller
            self._events.error(where, exc)
            raise Unavailable(f"{_FAILED[where]}: {one_line(exc)}") from None
        if capture.sku is None and frame.sku is not None:
            capture.sku = frame.sku
        return capture, scored.alphas.pop(capture.id)

    def _keep(self, capture: Capture, alpha: np.ndarray | None, strokes: np.ndarray | None = None, **extra) -> dict:
        """Store, publish and announce one finished capture."""
        extra.setdefault("review_state", "pending" if capture.review else "none")
        meta = self._store.save(capture, alpha, **({"strokes": strokes} if strokes is not None else {}), extra=extra)
        published = self._publishing.submit(capture)
        self._events.captured(capture)
        return dict(meta, published=published)

    def capture(self, sku: str | None = None, preset: str | None = None) -> Capture:
        """Take one frame and turn it into a stored, published capture. A hot folder's JPEG is
        decoded no larger than the preset's canvas needs (unless `source.reduced_decode` is off),
        and again in full when the product then had to be enlarged (workflows/reduced_decode)."""
        if preset is not None:
            self._settings.check_preset(preset)
        with self._lock:
            config = self._settings.config
            preset_cfg = config.compose.presets[preset or config.compose.preset]
            frame = self._camera.grab(min_size=decode_size(preset_cfg) if config.source.reduced_decode else None)
            if sku:
                frame = dataclasses.replace(frame, sku=sku)
            capture, alpha = self._process("pipeline", frame, preset=preset)
            if needs_full_decode(frame, capture, preset_cfg):
                capture, alpha = self._cut_in_full(frame, preset, (capture, alpha))
            capture.sku = sku or capture.sku
            self._keep(capture, alpha)
            return capture

    def _cut_in_full(
        self, frame: Frame, preset: str | None, reduced: tuple[Capture, np.ndarray]
    ) -> tuple[Capture, np.ndarray]:
        """The capture cut again from its file decoded in full; the reduced cut when the file
        cannot be read any more (a tethering tool removed it): enlarged, but not lost."""
        try:
            full = decoded_in_full(frame, self._settings.config.source.max_pixels)
        except ImageError as exc:
            log.warning("cannot decode %s again in full, keeping the reduced cut: %s", frame.source, exc)
            return reduced
        return self._process("pipeline", full, preset=preset)

    def spin(self, steps: int | None = None, sku: str | None = None) -> list[Capture]:
        """A turntable spin set: one stored, scored capture per step. Progress ("view 7/24")
        is in `progress`; a cancel stops it after the current view and keeps nothing."""
        config = self._settings.config
        steps = steps or config.turntable.steps
        if not 1 <= steps <= MAX_SPIN_STEPS:
            raise BadRequest(f"steps must be 1..{MAX_SPIN_STEPS}, got {steps}")

        def on_step(i: int, n: int, angle: float) -> None:
            self._heartbeat.beat(f"spin view {i + 1}/{n}")
            self.progress.step(i + 1, f"view {i + 1}/{n}")  # raises Cancelled when asked to stop

        with self._lock:
            self.progress.begin("spin", steps)
            try:
                table = self._parts.turntable(config)
                self._camera.open()
                return self._spin(table, steps, sku, on_step)
            finally:
                self.progress.end()

    def _spin(self, table, steps: int, sku: str | None, on_step) -> list[Capture]:
        from device.turntable.base import TurntableError
        from device.workflows.spin import shoot_spin

        scored = self._scored()
        try:
            captures = shoot_spin(self._camera, scored, table, steps, sku, on_step=on_step)
        except (CameraError, Cancelled, Conflict):  # Conflict: the camera changed mode mid-spin
            raise
        except TurntableError as exc:
            raise Unavailable(f"spin failed: {self._events.error('spin', exc)}") from None
        except ValueError as exc:
            raise BadRequest(f"spin: {one_line(exc)}") from None
        except Exception as exc:  # a stage failing on one view fails the set, recorded
            raise Unavailable(f"spin failed: {self._events.error('spin', exc)}") from None
        for cap in captures:
            self._keep(cap, scored.alphas.pop(cap.id, None))
        return captures

    def calibrate(self, frames: int | None = None) -> dict:
        """Photograph the empty booth into a clean plate under `<data_dir>/plate/` and switch
        the pipeline's booth segmenter to it (plate mode from the next capture on)."""
        from device.booth.plate import PlateError, plate_summary
        from device.workflows.calibrate import calibrate

        config = self._settings.config
        n = frames or config.booth.plate_frames
        if not 1 <= n <= MAX_PLATE_FRAMES:
            raise BadRequest(f"frames must be 1..{MAX_PLATE_FRAMES}, got {n}")
        with self._lock:
            self.progress.begin("calibrate", n)
            try:
                # the camera re-opens a lost source and records errors
                plate = calibrate(
                    self._camera,
                    n,
                    config.station.data_dir,
                    config.booth.plate_average,
                    on_frame=lambda done, total: self.progress.step(done, f"frame {done}/{total}"),
                )
            except PlateError as exc:
                raise Conflict(str(exc)) from None
            finally:
                self.progress.end()
            pipeline = self._parts.loaded
            if pipeline is not None and isinstance(pipeline.segmenter, PlateAware):
                pipeline.segmenter.set_plate(plate)
        return plate_summary(plate)

    def review(self, capture_id: str, action: str) -> dict:
        """approve or reject a capture; the decision is stored and published with its meta."""
        if action not in ("approve", "reject"):
            raise BadRequest(f"unknown review action {action!r}: approve or reject")
        state = "approved" if action == "approve" else "rejected"
        with self._lock:
            self._store.meta(capture_id)  # NotFound before anything changes
            meta = self._store.update_meta(capture_id, review_state=state, review=False)
            if self._publishing.publisher is not None:
                cap = self._store.capture(capture_id)
                cap.review = False
                cap.meta["review_state"] = state
                self._publishing.submit(cap)
        return meta

    def correct(self, capture_id: str, keep: np.ndarray, remove: np.ndarray) -> Capture:
        """Re-run the matte with the operator's strokes (frame-sized bool masks, added to any
        earlier ones) as hard constraints; the result replaces the capture and is re-published."""
        with self._lock:
            meta = self._store.meta(capture_id)
            frame = self._store.frame(capture_id)
            keep, remove = self._merged_strokes(capture_id, frame, keep, remove)
            frame = dataclasses.replace(frame, sku=meta.get("sku"))
            capture, alpha = self._process(
                "correct", frame, preset=meta.get("preset") or None, strokes=Strokes(keep=keep, remove=remove)
            )
            capture.id = capture_id
            capture.sku = meta.get("sku")
            corrections = int(meta.get("corrections", 0)) + 1
            capture.meta["corrections"] = corrections
            # Re-scored like any capture: a fix that still scores below the threshold stays in
            # the review queue (a person approves or rejects it); one that passes leaves it.
            self._keep(
                capture,
                alpha,
                strokes=_stroke_image(keep, remove),
                corrections=corrections,
                review_state="pending" if capture.review else "corrected",
                created=meta.get("created", time.time()),
            )
            return capture

    def reexport(self, capture_id: str, preset: str) -> Capture:
        """The capture again in another preset: the same frame and strokes, the same id. Its
        files are replaced and re-published; its review state and corrections stay. A view of
        a spin set takes its whole set along, so the views keep one crop box."""
        from device.workflows.spin import finish_set

        self._settings.check_preset(preset)
        with self._lock:
            metas = self._set_of(self._store.meta(capture_id))
            inputs = [self._stored_input(m) for m in metas]
            scored = self._scored()
            try:
                mattes = [scored.matte(frame, strokes=strokes) for frame, _, strokes in inputs]
                if len(metas) == 1 and "spin_id" not in (metas[0].get("meta") or {}):
                    captures = [scored.finish(mattes[0], preset=preset)]
                else:
                    views = [(_spin_keys(m), matte) for m, matte in zip(metas, mattes, strict=True)]
                    captures = finish_set(scored, views, preset)
            except Exception as exc:  # any stage failing: recorded, one line to the caller
                self._events.error("reexport", exc)
                raise Unavailable(f"{_FAILED['reexport']}: {one_line(exc)}") from None
            for meta, (_, painted, _), capture in zip(metas, inputs, captures, strict=True):
                alpha = scored.alphas.pop(capture.id)
                capture.id, capture.sku = meta["id"], meta.get("sku")
                capture.meta["reexported_from"] = meta.get("preset")
                state = meta.get("review_state") or ("pending" if capture.review else "none")
                self._keep(
                    capture, alpha, strokes=painted, review_state=state, created=meta.get("created", time.time())
                )
            return next(c for c in captures if c.id == capture_id)

    def _set_of(self, meta: dict) -> list[dict]:
        """The capture's spin set in view order, or the capture alone."""
        spin_id = (meta.get("meta") or {}).get("spin_id")
        if not spin_id:
            return [meta]
        views = [m for m in self._store.list(SPIN_SCAN_LIMIT) if (m.get("meta") or {}).get("spin_id") == spin_id]
        return sorted(views, key=lambda m: m["meta"].get("spin_index", 0))

    def _stored_input(self, meta: dict) -> tuple[Frame, np.ndarray | None, Strokes | None]:
        """(the original frame, the painted strokes image, the strokes as masks) of a stored capture."""
        frame = dataclasses.replace(self._store.frame(meta["id"]), sku=meta.get("sku"))
        painted = self._store.strokes(meta["id"])
        if painted is None or painted.shape[:2] != frame.image.shape[:2]:
            return frame, painted, None
        return frame, painted, Strokes(keep=painted[..., 1] > 127, remove=painted[..., 0] > 127)

    def _merged_strokes(
        self, capture_id: str, frame: Frame, keep: np.ndarray, remove: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """New strokes on top of the stored ones (a new stroke wins where they disagree)."""
        h, w = frame.image.shape[:2]
        if keep.shape != (h, w) or remove.shape != (h, w):
            raise BadRequest(f"strokes are {keep.shape[1]}x{keep.shape[0]} but the frame is {w}x{h}")
        previous = self._store.strokes(capture_id)
        if previous is not None and previous.shape[:2] == (h, w):
            old_keep, old_remove = previous[..., 1] > 127, previous[..., 0] > 127
            keep, remove = (old_keep & ~remove) | keep, (old_remove & ~keep) | remove
        return keep, remove


def _spin_keys(meta: dict) -> dict:
    """A stored spin view's place in its set, for composing the set again."""
    inner = meta.get("meta") or {}
    keys = {k: inner[k] for k in ("spin_id", "angle", "spin_index", "spin_steps") if k in inner}
    return {**keys, "sku": meta["sku"]} if meta.get("sku") else keys


def _stroke_image(keep: np.ndarray, remove: np.ndarray) -> np.ndarray:
    """The strokes as the store keeps them: remove in red, keep in green."""
    h, w = keep.shape
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0][remove] = 255
    img[..., 1][keep] = 255
    return img
