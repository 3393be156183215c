"""The one core object behind `cutbox serve`, the REST API, the operator page and MQTT commands.

`CutboxService` only wires parts together (`device.box`) and hands each call to the part that
does it; the jobs themselves (capture, spin, calibrate, correct, review) are in
`device.workflows.box`. Everything that touches the camera or the model runs behind one work
lock, so the page, the API and an MQTT command can arrive at the same moment. A camera that
fails is reported in `status()` (and re-opened on the next call), never raised out of the
service loop; a bad request raises `BadRequest`, a missing capture `NotFound`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from device.box.camera import Camera
from device.box.events import Events
from device.box.parts import Parts
from device.box.publishing import Publisher, Publishing
from device.box.retention import Retention
from device.box.scanner import ScannerLink
from device.box.settings import ConfigManager, redact, resolve_token
from device.box.status import box_status, mqtt_status
from device.box.store import CaptureStore
from device.box.watchdog import Heartbeat, Notifier, Watchdog
from device.config import CutboxConfig
from device.errors import BadRequest, CameraError, Conflict, ServiceError, Unavailable
from device.pipeline import Pipeline
from device.sources.base import FrameSource
from device.turntable.base import Turntable
from device.types import Capture, Frame
from device.workflows.box import BoxWorkflows
from device.workflows.gallery import Gallery

__all__ = [
    "BadRequest",
    "CameraError",
    "Conflict",
    "CutboxService",
    "ServiceError",
    "Unavailable",
    "redact",
    "resolve_token",
]

log = logging.getLogger(__name__)


class CutboxService:
    """Capture, correct, review and report; thread-safe."""

    def __init__(
        self,
        config: CutboxConfig,
        *,
        pipeline: Pipeline | None = None,
        publisher: Publisher | None = None,
        source: FrameSource | None = None,
        turntable: Turntable | None = None,
    ):
        self.data_dir = Path(config.station.data_dir)
        storage = config.storage
        self.store = CaptureStore(
            self.data_dir / "captures",
            min_free_bytes=storage.min_free_mb * 1_000_000,
            original_format=storage.original_format,
            original_jpeg_quality=storage.original_jpeg_quality,
        )
        self.gallery = Gallery(self.store)
        self._work = threading.RLock()  # camera + pipeline: one user at a time
        self.events = Events()
        self._heartbeat = Heartbeat()
        self.parts = Parts(self.events, pipeline, turntable)
        self.camera = Camera(
            lambda: self.settings.config.source, self.data_dir, self._work, self.events, self._heartbeat, source
        )
        self.settings = ConfigManager(config, self._work, self.camera, self.parts)
        self.publishing = Publishing(self.events, publisher)
        self.retention = Retention(self.store, storage, self.publishing.receipted, self.publishing.forget_receipts)
        self.watchdog = Watchdog(self._heartbeat, self.check_idle)
        self.workflows = BoxWorkflows(
            lock=self._work,
            settings=self.settings,
            camera=self.camera,
            parts=self.parts,
            store=self.store,
            publishing=self.publishing,
            events=self.events,
            heartbeat=self._heartbeat,
        )
        self.progress = self.workflows.progress
        self.scanner = ScannerLink(lambda: self.settings.config.scanner, self._scanned)

    @property
    def config(self) -> CutboxConfig:
        return self.settings.config

    # ---- life cycle -------------------------------------------------------------------------
    def start(self) -> CutboxService:
        """Load the model, start the publisher and open the camera; failures land in status()."""
        try:
            self.parts.pipeline(self.config)
        except Unavailable:
            pass  # reported in status(); /health/ready says not ready
        self.publishing.start(self.config, self.data_dir, handler=self)
        self.retention.start()
        try:
            self.camera.open()
        except CameraError:
            pass  # reported in status()
        self.scanner.start()
        return self

    def stop(self) -> None:
        self.watchdog.stop()
        self.scanner.stop()
        with self._work:
            self.camera.close()
            self.parts.close()
        self.retention.stop()
        self.publishing.stop()

    def _scanned(self, sku: str) -> None:
        """A scanned code: remembered for the next capture (status.scanner.last_sku, the
        page's SKU field), and with `scanner.action = "capture"` the shot is taken at once."""
        if self.config.scanner.action == "capture":
            self.capture(sku=sku)

    def add_listener(self, fn: Callable[[str, dict], None]) -> None:
        """fn(event, data) after each capture ("capture") and failure ("error"); for metrics."""
        self.events.add_listener(fn)

    @property
    def pipeline(self) -> Pipeline:
        return self.parts.pipeline(self.config)

    def grab(self) -> Frame:
        return self.camera.grab()

    # ---- workflows --------------------------------------------------------------------------
    def capture(self, sku: str | None = None, preset: str | None = None) -> Capture:
        return self.workflows.capture(sku=sku, preset=preset)

    def capture_meta(self, sku: str | None = None, preset: str | None = None) -> dict:
        """capture() and return what the store holds about it (what the API answers)."""
        return self.store.meta(self.capture(sku=sku, preset=preset).id)

    def spin(self, steps: int | None = None, sku: str | None = None) -> list[Capture]:
        return self.workflows.spin(steps, sku)

    def calibrate(self, frames: int | None = None) -> dict:
        return self.workflows.calibrate(frames)

    def cancel(self) -> dict:
        """Stop the running spin or calibration after its current step."""
        return self.progress.cancel()

    def review(self, capture_id: str, action: str) -> dict:
        return self.workflows.review(capture_id, action)

    def correct(self, capture_id: str, keep: np.ndarray, remove: np.ndarray) -> Capture:
        return self.workflows.correct(capture_id, keep, remove)

    def reexport(self, capture_id: str, preset: str) -> Capture:
        return self.workflows.reexport(capture_id, preset)

    def captures(self, limit: int | None = None) -> list[dict]:
        return self.store.list(limit or self.config.api.list_limit)

    def review_queue(self, limit: int | None = None) -> list[dict]:
        return self.store.list(limit or self.config.api.list_limit, review_state="pending")

    # ---- presets and config -----------------------------------------------------------------
    def presets(self) -> dict:
        return self.settings.presets()

    def set_preset(self, name: str) -> dict:
        return self.settings.set_preset(name)

    def config_view(self) -> dict:
        return self.settings.view()

    def update_config(self, patch: dict) -> dict:
        return self.settings.update(patch)

    # ---- liveness: the systemd watchdog ------------------------------------------------------
    def beat(self, what: str) -> None:
        self._heartbeat.beat(what)

    def heartbeat(self) -> tuple[float, str]:
        """(seconds since the last beat, what it was)."""
        return self._heartbeat.age()

    def check_idle(self) -> bool:
        """When nothing else holds the camera and the model, show they still work and beat.
        While a capture holds the work lock this does nothing: that work beats by itself, and
        work that hangs stops beating. A camera grab that hangs here stops the beats too; a
        camera that is lost (fails at once) is a state shown on the page, and still beats."""
        if not self._work.acquire(blocking=False):
            return False
        try:
            if not self.parts.ready:
                return False
            healthy = self.camera.watch()
            self.beat("idle check" if healthy else "idle check, camera lost")
            return healthy
        except Unavailable:
            return False
        finally:
            self._work.release()

    def feed_watchdog(self, notify: Notifier, max_age_s: float) -> bool:
        return self.watchdog.feed(notify, max_age_s)

    def start_watchdog(
        self, notify: Notifier, *, max_age_s: float | None = None, check_every_s: float | None = None
    ) -> bool:
        return self.watchdog.start(notify, max_age_s=max_age_s, check_every_s=check_every_s)

    # ---- live view and status ---------------------------------------------------------------
    def preview_jpeg(self, width: int | None = None) -> bytes | None:
        return self.camera.preview_jpeg(width or self.config.api.preview_width)

    def publisher_status(self) -> dict:
        return self.publishing.status(bool(self.config.mqtt.enabled))

    def status(self) -> dict:
        """Everything the page's banners and /health/ready need, in one small dict."""
        self.camera.probe()
        config = self.config
        pipeline = self.parts.loaded
        status = box_status(
            job=self.progress.snapshot(),
            station=config.station.id,
            camera={
                "ok": self.camera.error is None,
                "kind": config.source.kind,
                "error": self.camera.error,
                "retry_in_s": self.camera.retry.wait_s(),
            },
            pipeline={
                "ok": pipeline is not None,
                "error": self.parts.pipeline_error,
                "model": pipeline.model_name if pipeline is not None else None,
                "backend": pipeline.backend[0] if pipeline is not None else None,
                "backend_reason": pipeline.backend[1] if pipeline is not None else None,
                "booth": dict(getattr(pipeline.segmenter, "last_decision", None) or {}) if pipeline is not None else {},
            },
            mqtt=mqtt_status(self.publisher_status(), config.mqtt.outbox_max_captures),
            preset=config.compose.preset,
            review_queue=len(self.review_queue()),
            captures=self.events.captures_done,
            last_capture=self.events.last_capture_id,
            last_error=self.events.last(),
            heartbeat=self.heartbeat(),
            storage=self.retention.status(),
            settings=self._settings_status(),
        )
        status["scanner"] = self.scanner.status()
        return status

    def _settings_status(self) -> dict:
        s = self.settings
        return {
            "restart_pending": s.restart_pending(),
            "saved_to": str(s.overrides.path) if s.overrides is not None else None,
            "error": s.save_error or (s.overrides.error if s.overrides is not None else None),
        }

    def ready(self) -> bool:
        return self.parts.ready
