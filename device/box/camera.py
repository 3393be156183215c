"""The frame source as the running box uses it: opened on first use, re-opened once when a
grab fails (a file list starts over, an unplugged camera comes back), every failure recorded
as a one-line `camera_error` for the status banner instead of raised out of the service loop.
Also the live view: one JPEG from a fresh frame, or the last frame seen."""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from device.box.camera_retry import RetrySchedule
from device.box.events import Events
from device.box.watchdog import Heartbeat
from device.config import SourceConfig
from device.errors import CameraError
from device.sources.base import FrameSource
from device.types import Frame

log = logging.getLogger(__name__)

CAMERA_KINDS = {"uvc", "picamera2"}  # sources that show a live picture
GRAB_TIMEOUT_S = 10.0  # a hot folder waits this long for the next file on a capture call


def _accepts(fn: Callable, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class Camera:
    """One frame source behind the box's work lock; `config()` gives the current `[source]`."""

    def __init__(
        self,
        config: Callable[[], SourceConfig],
        data_dir: Path,
        lock: threading.RLock,
        events: Events,
        heartbeat: Heartbeat,
        source: FrameSource | None = None,
    ):
        self._config = config
        self._data_dir = data_dir
        self._lock = lock
        self._events = events
        self._heartbeat = heartbeat
        self._source = source
        self.error: str | None = None
        self.last_frame: np.ndarray | None = None
        self._preview_cache: tuple[np.ndarray, int, bytes] | None = None
        self._probe_at = 0.0
        self._retry: RetrySchedule | None = None

    @property
    def retry(self) -> RetrySchedule:
        """The background re-open schedule (`source.retry_min_s` .. `retry_max_s`)."""
        if self._retry is None:
            cfg = self._config()
            self._retry = RetrySchedule(cfg.retry_min_s, cfg.retry_max_s)
        return self._retry

    def _lost(self, exc: BaseException) -> str:
        self.error = self._events.error("camera", exc)
        wait = self.retry.failed()
        log.info("camera lost (attempt %d), next background retry in %.1f s", self.retry.failures, wait)
        return self.error

    @property
    def kind(self) -> str:
        return self._config().kind

    @property
    def live(self) -> bool:
        """A camera that shows a live picture (not files, a hot folder or a tethered DSLR)."""
        return self.kind in CAMERA_KINDS

    def open(self) -> FrameSource:
        if self._source is not None:
            return self._source
        try:
            from device.sources import open_source

            self._source = open_source(self._config(), data_dir=self._data_dir)
        except Exception as exc:  # any driver failure is a lost camera, reported on the page
            raise CameraError(self._lost(exc)) from None
        return self._source

    def close(self) -> None:
        """Close the source; the next grab opens it again (after a failure or a config change)."""
        src, self._source = self._source, None
        if src is not None:
            try:
                src.close()
            except Exception as exc:  # closing a broken driver must not stop anything
                log.debug("source close: %s", exc)

    def _grab_once(self, min_size: tuple[int, int] | None) -> Frame:
        src = self.open()
        if self.kind == "hotfolder" and _accepts(src.grab, "timeout"):
            size = {"min_size": min_size} if _accepts(src.grab, "min_size") else {}
            return src.grab(timeout=GRAB_TIMEOUT_S, **size)  # type: ignore[call-arg]
        return src.grab()

    def grab(self, min_size: tuple[int, int] | None = None) -> Frame:
        """The next frame; on failure the source is re-opened once, then the error is recorded
        and raised as `CameraError`. `min_size` lets a hot folder's JPEG decode reduced as far
        as it still covers that size (the capture's canvas); other sources ignore it."""
        with self._lock:
            try:
                try:
                    frame = self._grab_once(min_size)
                except CameraError:
                    raise
                except Exception:  # any driver failure: one re-open
                    self.close()
                    frame = self._grab_once(min_size)
            except CameraError:
                raise
            except Exception as exc:  # the second failure is the camera's error
                self.close()
                raise CameraError(self._lost(exc)) from None
            if self.retry.failures:
                log.info("camera back after %d failed attempt(s)", self.retry.failures)
                self.retry.succeeded()
            self.error = None
            self.last_frame = frame.image
            self._heartbeat.beat("frame")
            return frame

    def check(self) -> bool:
        """Show the source still works: a live camera gives a frame; a folder source is still
        there (a tethered DSLR is not fired for this: its source opens, gphoto2 is there)."""
        if self.live:
            self.grab()
            return True
        self.open()
        self._probe_at = 0.0
        self.probe()
        return self.error is None

    def watch(self) -> bool:
        """The idle check's view: True while the source works; False while it is lost, which
        is a state, not a hang: a lost live camera is re-opened only when the retry schedule
        says so, and either way the check returns at once."""
        if self.error is not None and not self.retry.due():
            return False
        try:
            return self.check()
        except CameraError:
            return False

    def probe(self) -> None:
        """Cheap check between captures: a file or hot-folder source whose folder vanished is
        a lost camera too (a live camera is checked by every grab)."""
        now = time.monotonic()
        if now - self._probe_at < 1.0:
            return
        self._probe_at = now
        cfg = self._config()
        if cfg.kind in ("files", "hotfolder") and cfg.path is not None and not any(c in str(cfg.path) for c in "*?["):
            if not Path(cfg.path).exists():
                self.error = f"{cfg.kind} source: {cfg.path} is gone"
            elif self.error and "is gone" in self.error:
                self.error = None

    def preview_jpeg(self, width: int) -> bytes | None:
        """One live-view JPEG: a fresh frame from a camera (unless a capture holds it), else the
        last frame seen; None when there is nothing to show yet."""
        image = None
        if self.live and (self.error is None or self.retry.due()) and self._lock.acquire(blocking=False):
            try:
                image = self.grab().image
            except CameraError:
                image = None
            finally:
                self._lock.release()
        if image is None:
            image = self.last_frame
            if image is None:
                return None
            cached = self._preview_cache
            if cached is not None and cached[0] is image and cached[1] == width:
                return cached[2]  # a still picture: the same bytes, so the stream sends it once
        data = _jpeg(image, width)
        if data is not None and image is self.last_frame:
            self._preview_cache = (image, width, data)
        return data


def _jpeg(image: np.ndarray, width: int) -> bytes | None:
    h, w = image.shape[:2]
    if w > width:
        image = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 75])
    return buf.tobytes() if ok else None
