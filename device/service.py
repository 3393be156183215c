"""The one core object behind `cutbox serve`, the REST API, the operator page and MQTT commands.

`CutboxService` owns the frame source, the pipeline, the capture store and the publisher,
and serialises everything that touches the camera or the model behind one lock, so the
page, the API and an MQTT command can arrive at the same moment. A camera that fails is
reported in `status()` (and re-opened on the next call), never raised out of the service
loop; a bad request raises `BadRequest`, a missing capture `NotFound`.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from device.config import ConfigError, CutboxConfig, validate
from device.errors import one_line
from device.quality import assess
from device.store import CaptureStore
from device.types import Capture, Frame

log = logging.getLogger("cutbox.service")

SECRET_KEYS = {"token", "password"}
REDACTED = "***"
# Config sections a running service can take without a restart (the pipeline is rebuilt),
# and the [api] keys read on every request.
LIVE_SECTIONS = {"source", "segment", "matte", "compose", "export", "booth", "turntable"}
LIVE_API_KEYS = {"review_threshold", "preview_fps", "preview_width", "list_limit"}
CAMERA_KINDS = {"uvc", "picamera2"}  # sources that show a live picture
GRAB_TIMEOUT_S = 10.0  # a hot folder waits this long for the next file on a capture call


class ServiceError(RuntimeError):
    """Something the box cannot do right now (the API answers 503)."""


class CameraError(ServiceError):
    """The frame source failed; the message says why in one line."""


class BadRequest(ValueError):
    """The caller asked for something invalid (the API answers 400 or 422)."""

    def __init__(self, message: str, problems: list[str] | None = None, status_code: int = 400):
        super().__init__(message)
        self.problems = problems or [message]
        self.status_code = status_code


def redact(value: Any) -> Any:
    """A config dump with secrets replaced, safe to show on a page."""
    if isinstance(value, dict):
        return {k: (REDACTED if k in SECRET_KEYS and v is not None else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _merge_patch(base: dict, patch: dict) -> dict:
    """Deep-merge a partial config; a redacted secret in the patch keeps the current value."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_patch(out[key], value)
        elif key in SECRET_KEYS and value == REDACTED:
            continue
        else:
            out[key] = value
    return out


def resolve_token(config: CutboxConfig) -> str:
    """The API bearer token: `api.token`, else `api.token_file`, else one generated once into
    `<data_dir>/api-token` (mode 600) so a fresh box is never open."""
    api = config.api
    if api.token:
        return api.token
    if api.token_file is not None:
        try:
            token = api.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                [f"api.token_file: cannot read {api.token_file}: {exc.strerror} (fix the path or permissions)"]
            ) from None
        if len(token) < 16:
            raise ConfigError(
                [f"api.token_file: the token in {api.token_file} is shorter than 16 characters (write a longer one)"]
            )
        return token
    path = Path(config.station.data_dir) / "api-token"
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= 16:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(0o600)
    log.warning("api: no token configured; generated one in %s", path)
    return token


def _accepts(fn: Callable, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class CutboxService:
    """Capture, correct, review and report; thread-safe."""

    def __init__(self, config: CutboxConfig, *, pipeline=None, publisher=None, source=None, turntable=None):
        self.config = config
        self.data_dir = Path(config.station.data_dir)
        self.store = CaptureStore(self.data_dir / "captures")
        self._pipeline = pipeline
        self._publisher = publisher
        self._source = source
        self._turntable = turntable
        self._work = threading.RLock()  # camera + pipeline: one user at a time
        self._state = threading.Lock()  # the small status fields below
        self._listeners: list[Callable[[str, dict], None]] = []
        self.camera_error: str | None = None
        self.pipeline_error: str | None = None
        self.last_error: dict | None = None
        self.last_capture_id: str | None = None
        self.captures_done = 0
        self.errors: deque[dict] = deque(maxlen=20)
        self._last_frame: np.ndarray | None = None
        self._preview_cache: tuple[np.ndarray, int, bytes] | None = None
        self._probe_at = 0.0
        self._started = False
        self._beat_at = time.monotonic()  # last sign that the work loop makes progress
        self._beat_what = "start"
        self._watchdog_stop = threading.Event()
        self._watchdog_thread: threading.Thread | None = None

    # ---- life cycle -------------------------------------------------------------------------
    def start(self) -> CutboxService:
        """Load the model, start the publisher and open the camera; failures land in status()."""
        self._started = True
        try:
            self._ensure_pipeline()
        except ServiceError:
            pass  # reported in status(); /health/ready says not ready
        if self._publisher is None and self.config.mqtt.enabled:
            try:
                from device.comms.mqtt import Publisher

                outbox = self.config.mqtt.outbox_path or self.data_dir / "outbox.sqlite"
                self._publisher = Publisher(self.config.mqtt, self.config.station.id, outbox, handler=self)
                self._publisher.start()
            except Exception as exc:  # the page must still come up to show the problem
                self._error("mqtt", exc)
        try:
            self._open_source()
        except CameraError:
            pass
        return self

    def stop(self) -> None:
        self._watchdog_stop.set()
        with self._work:
            if self._source is not None:
                try:
                    self._source.close()
                except Exception:
                    pass
                self._source = None
            if self._turntable is not None:
                try:
                    self._turntable.close()
                except Exception:
                    pass
                self._turntable = None
        if self._publisher is not None:
            try:
                self._publisher.stop()
            except Exception as exc:
                log.warning("publisher stop: %s", exc)

    def add_listener(self, fn: Callable[[str, dict], None]) -> None:
        """fn(event, data) after each capture ("capture") and failure ("error"); for metrics."""
        self._listeners.append(fn)

    def _emit(self, event: str, data: dict) -> None:
        for fn in list(self._listeners):
            try:
                fn(event, data)
            except Exception:
                log.exception("listener failed")

    def _error(self, where: str, exc: BaseException | str) -> str:
        text = exc if isinstance(exc, str) else one_line(exc)
        entry = {"where": where, "message": text, "time": time.time()}
        with self._state:
            self.last_error = entry
            self.errors.append(entry)
        log.warning("%s: %s", where, text)
        self._emit("error", entry)
        return text

    # ---- parts ------------------------------------------------------------------------------
    def _ensure_pipeline(self):
        if self._pipeline is not None:
            return self._pipeline
        try:
            from device.pipeline import Pipeline

            self._pipeline = Pipeline(self.config)
            self.pipeline_error = None
        except Exception as exc:
            self.pipeline_error = self._error("pipeline", exc)
            raise ServiceError(f"pipeline not ready: {self.pipeline_error}") from None
        return self._pipeline

    @property
    def pipeline(self):
        return self._ensure_pipeline()

    def _open_source(self):
        if self._source is not None:
            return self._source
        try:
            from device.sources import open_source

            self._source = open_source(self.config.source, data_dir=self.data_dir)
        except Exception as exc:
            self.camera_error = self._error("camera", exc)
            raise CameraError(self.camera_error) from None
        return self._source

    def _drop_source(self) -> None:
        src, self._source = self._source, None
        if src is not None:
            try:
                src.close()
            except Exception:
                pass

    def _grab_once(self) -> Frame:
        src = self._open_source()
        if self.config.source.kind == "hotfolder" and _accepts(src.grab, "timeout"):
            return src.grab(timeout=GRAB_TIMEOUT_S)
        return src.grab()

    def grab(self) -> Frame:
        """The next frame; on failure the source is re-opened once (a file list starts over,
        a camera that was unplugged comes back), then the error is recorded and raised."""
        with self._work:
            try:
                try:
                    frame = self._grab_once()
                except CameraError:
                    raise
                except Exception:
                    self._drop_source()
                    frame = self._grab_once()
            except CameraError:
                raise
            except Exception as exc:
                self._drop_source()
                self.camera_error = self._error("camera", exc)
                raise CameraError(self.camera_error) from None
            self.camera_error = None
            self._last_frame = frame.image
            self.beat("frame")
            return frame

    # ---- the capture path -------------------------------------------------------------------
    def _process(
        self, frame: Frame, *, preset: str | None = None, box=None, strokes=None
    ) -> tuple[Capture, np.ndarray]:
        """frame -> matte -> quality -> compose/export; returns the capture and its alpha."""
        scored = _ScoringPipeline(self)
        matte = scored.matte(frame, strokes=strokes)
        capture = scored.finish(matte, preset=preset, box=box)
        if capture.sku is None and frame.sku is not None:
            capture.sku = frame.sku
        return capture, scored.alphas.pop(capture.id)

    def score(self, capture: Capture, matte) -> None:
        """Score a capture from its matte's alpha and set its review flag (`api.review_threshold`)."""
        t0 = time.perf_counter()
        report = assess(matte.full_alpha(), matte.frame.image, roi=getattr(matte, "roi", None))
        capture.timings_ms["quality"] = (time.perf_counter() - t0) * 1000.0
        capture.quality = round(report.score, 4)
        threshold = self.config.api.review_threshold
        capture.review = report.score < threshold or threshold >= 1.0  # 1.0: a person sees every shot
        capture.meta["quality"] = report.as_dict()
        capture.meta["review"] = capture.review

    def _keep(self, capture: Capture, alpha: np.ndarray, **extra) -> dict:
        """Store, publish and announce one finished capture."""
        extra.setdefault("review_state", "pending" if capture.review else "none")
        meta = self.store.save(
            capture, alpha, **({"strokes": extra.pop("strokes")} if "strokes" in extra else {}), extra=extra
        )
        published = self._publish(capture)
        with self._state:
            self.last_capture_id = capture.id
            self.captures_done += 1
        self._emit(
            "capture",
            {
                "id": capture.id,
                "timings_ms": dict(capture.timings_ms),
                "quality": capture.quality,
                "review": capture.review,
            },
        )
        return dict(meta, published=published)

    def _publish(self, capture: Capture) -> bool:
        if self._publisher is None:
            return False
        try:
            # False: this very content is already queued. A changed version (a correction, a
            # review decision) replaces a still-queued one, or is queued again once it was sent.
            self._publisher.submit(capture)
            return True
        except Exception as exc:  # outbox full (block policy) or closed: the capture stays stored
            self._error("publish", exc)
            return False

    def capture(self, sku: str | None = None, preset: str | None = None) -> Capture:
        """Take one frame and turn it into a stored, published capture."""
        if preset is not None:
            self._check_preset(preset)
        with self._work:
            frame = self.grab()
            if sku:
                frame = dataclasses.replace(frame, sku=sku)
            try:
                capture, alpha = self._process(frame, preset=preset)
            except Exception as exc:
                self._error("pipeline", exc)
                raise ServiceError(f"processing failed: {one_line(exc)}") from None
            capture.sku = sku or capture.sku
            self._keep(capture, alpha)
            return capture

    def capture_meta(self, sku: str | None = None, preset: str | None = None) -> dict:
        """capture() and return what the store holds about it (what the API answers)."""
        return self.store.meta(self.capture(sku=sku, preset=preset).id)

    def spin(self, steps: int | None = None, sku: str | None = None) -> list[Capture]:
        """A turntable spin set: one stored, scored capture per step."""
        steps = steps or self.config.turntable.steps
        if not 1 <= steps <= 720:
            raise BadRequest(f"steps must be 1..720, got {steps}")
        try:
            from device.turntable.spin import shoot_spin
        except ImportError as exc:
            raise ServiceError(f"spin is not available: {exc}") from None
        with self._work:
            if self._turntable is None:
                try:
                    from device.turntable import open_turntable

                    self._turntable = open_turntable(self.config.turntable)
                except Exception as exc:
                    raise ServiceError(f"turntable: {self._error('turntable', exc)}") from None
            self._open_source()
            tap = _ScoringPipeline(self)
            source = _ServiceSource(self)
            try:
                captures = shoot_spin(
                    source,
                    tap,
                    self._turntable,
                    steps,
                    sku,
                    on_step=lambda i, n, angle: self.beat(f"spin view {i + 1}/{n}"),
                )
            except ValueError as exc:
                raise BadRequest(f"spin: {one_line(exc)}") from None
            except CameraError:
                raise
            except Exception as exc:
                raise ServiceError(f"spin failed: {self._error('spin', exc)}") from None
            for cap in captures:
                alpha = tap.alphas.pop(cap.id, None)
                self._keep(cap, alpha)
            return captures

    def calibrate(self, frames: int | None = None) -> dict:
        """Photograph the empty booth into a clean plate under `<data_dir>/plate/` and switch
        the pipeline's booth segmenter to it (plate mode from the next capture on)."""
        from device.booth.plate import PlateError, calibrate, plate_summary

        n = frames or self.config.booth.plate_frames
        if not 1 <= n <= 64:
            raise BadRequest(f"frames must be 1..64, got {n}")
        with self._work:
            try:
                # the service itself is the source: its grab() re-opens a lost camera and records errors
                plate = calibrate(self, n, self.data_dir, self.config.booth.plate_average)
            except PlateError as exc:
                raise BadRequest(str(exc), status_code=409) from None
            segmenter = getattr(self._pipeline, "segmenter", None)
            if hasattr(segmenter, "set_plate"):
                segmenter.set_plate(plate)
        return plate_summary(plate)

    # ---- presets and config -----------------------------------------------------------------
    def presets(self) -> dict:
        compose = self.config.compose
        return {
            "current": compose.preset,
            "presets": {k: v.model_dump(mode="json") for k, v in compose.presets.items()},
        }

    def _check_preset(self, name: str) -> None:
        if name not in self.config.compose.presets:
            raise BadRequest(f"unknown preset {name!r}: choose from {', '.join(sorted(self.config.compose.presets))}")

    def set_preset(self, name: str) -> dict:
        self._check_preset(name)
        with self._work:
            self.config = validate(
                _merge_patch(self.config.model_dump(mode="json"), {"compose": {"preset": name}}), "preset"
            )
            if self._pipeline is not None and hasattr(self._pipeline, "set_preset"):
                self._pipeline.set_preset(name)
        return self.presets()

    def config_view(self) -> dict:
        return redact(self.config.model_dump(mode="json"))

    def update_config(self, patch: dict) -> dict:
        """Validate a partial config and apply it; sections that need a restart are named."""
        if not isinstance(patch, dict):
            raise BadRequest("the body must be a JSON object of sections")
        current = self.config.model_dump(mode="json")
        try:
            new = validate(_merge_patch(current, patch), "config")
        except ConfigError as exc:
            raise BadRequest(str(exc), exc.problems, status_code=422) from None
        new_dump = new.model_dump(mode="json")
        changed = sorted(k for k in new_dump if new_dump[k] != current.get(k))
        with self._work:
            old = self.config
            self.config = new
            if "source" in changed:
                self._drop_source()
            if any(s in changed for s in ("segment", "matte", "compose", "export", "booth")):
                try:
                    from device.pipeline import Pipeline

                    self._pipeline = Pipeline(new)
                except Exception as exc:
                    self.config = old
                    raise BadRequest(f"config rejected by the pipeline: {one_line(exc)}") from None
            if "turntable" in changed and self._turntable is not None:
                try:
                    self._turntable.close()
                finally:
                    self._turntable = None
        restart = [s for s in changed if s not in LIVE_SECTIONS and s != "api"]
        restart += [
            f"api.{k}" for k, v in new_dump["api"].items() if v != current["api"].get(k) and k not in LIVE_API_KEYS
        ]
        return {"config": self.config_view(), "changed": changed, "restart_required": restart}

    # ---- review and correction --------------------------------------------------------------
    def captures(self, limit: int | None = None) -> list[dict]:
        return self.store.list(limit or self.config.api.list_limit)

    def review_queue(self, limit: int | None = None) -> list[dict]:
        return self.store.list(limit or self.config.api.list_limit, review_state="pending")

    def review(self, capture_id: str, action: str) -> dict:
        """approve or reject a capture; the decision is stored and published with its meta."""
        if action not in ("approve", "reject"):
            raise BadRequest(f"unknown review action {action!r}: approve or reject")
        state = "approved" if action == "approve" else "rejected"
        with self._work:
            self.store.meta(capture_id)  # NotFound before anything changes
            meta = self.store.update_meta(capture_id, review_state=state, review=False)
            if self._publisher is not None:
                cap = self.store.capture(capture_id)
                cap.review = False
                cap.meta["review_state"] = state
                self._publish(cap)
        return meta

    def correct(self, capture_id: str, keep: np.ndarray, remove: np.ndarray) -> Capture:
        """Re-run the matte with the operator's strokes (frame-sized bool masks, added to any
        earlier ones) as hard constraints; the result replaces the capture and is re-published."""
        from device.matte.strokes import Strokes

        with self._work:
            meta = self.store.meta(capture_id)
            frame = self.store.frame(capture_id)
            h, w = frame.image.shape[:2]
            if keep.shape != (h, w) or remove.shape != (h, w):
                raise BadRequest(f"strokes are {keep.shape[1]}x{keep.shape[0]} but the frame is {w}x{h}")
            previous = self.store.strokes(capture_id)
            if previous is not None and previous.shape[:2] == (h, w):
                old_keep, old_remove = previous[..., 1] > 127, previous[..., 0] > 127
                keep, remove = (old_keep & ~remove) | keep, (old_remove & ~keep) | remove
            frame = dataclasses.replace(frame, sku=meta.get("sku"))
            try:
                capture, alpha = self._process(
                    frame, preset=meta.get("preset") or None, strokes=Strokes(keep=keep, remove=remove)
                )
            except Exception as exc:
                self._error("correct", exc)
                raise ServiceError(f"correction failed: {one_line(exc)}") from None
            capture.id = capture_id
            capture.sku = meta.get("sku")
            corrections = int(meta.get("corrections", 0)) + 1
            capture.meta["corrections"] = corrections
            # The operator has looked at it and fixed it: it leaves the review queue.
            capture.review = False
            capture.meta["review"] = False
            stroke_img = np.zeros((h, w, 3), np.uint8)
            stroke_img[..., 0][remove] = 255
            stroke_img[..., 1][keep] = 255
            self._keep(
                capture,
                alpha,
                strokes=stroke_img,
                corrections=corrections,
                review_state="corrected",
                created=meta.get("created", time.time()),
            )
            return capture

    # ---- liveness: the systemd watchdog ------------------------------------------------------
    def beat(self, what: str) -> None:
        """Record that the work loop made progress (a frame, a matte, a capture, a spin view,
        a healthy idle check); the watchdog is fed only while these keep coming."""
        self._beat_at = time.monotonic()
        self._beat_what = what

    def heartbeat(self) -> tuple[float, str]:
        """(seconds since the last beat, what it was)."""
        return time.monotonic() - self._beat_at, self._beat_what

    def check_idle(self) -> bool:
        """When nothing else holds the camera and the model, show they still work and beat:
        the model is loaded, a live camera gives a frame, a folder source is still there (a
        tethered DSLR is not fired for this: its source opens, gphoto2 is there). While a
        capture holds the work lock this does nothing: that work beats by itself, and work
        that hangs stops beating. A camera grab that hangs here stops the beats too."""
        if not self._work.acquire(blocking=False):
            return False
        try:
            if self._pipeline is None or self.pipeline_error is not None:
                return False
            if self.config.source.kind in CAMERA_KINDS:
                self.grab()
            else:
                self._open_source()
                self._probe_at = 0.0
                self._probe_source()
                if self.camera_error is not None:
                    return False
            self.beat("idle check")
            return True
        except ServiceError:
            return False
        finally:
            self._work.release()

    def feed_watchdog(self, notify, max_age_s: float) -> bool:
        """Ping systemd's watchdog (`notify.watchdog()`) only if the last beat is recent."""
        if self.heartbeat()[0] > max_age_s:
            return False
        return notify.watchdog()

    def start_watchdog(self, notify, *, max_age_s: float | None = None, check_every_s: float | None = None) -> bool:
        """Feed systemd's watchdog from a thread that runs the idle check and pings only on a
        recent beat; a hung grab or model call stops the pings and systemd restarts the unit.
        `max_age_s` defaults to WatchdogSec (a beat older than that means stuck), so a hang is
        acted on within about twice WatchdogSec. False when systemd asked for no watchdog."""
        interval = notify.watchdog_interval_s
        if interval is None or self._watchdog_thread is not None:
            return False
        max_age = max_age_s if max_age_s is not None else interval
        every = check_every_s if check_every_s is not None else max(0.05, min(2.0, interval / 4))

        def run() -> None:
            while not self._watchdog_stop.wait(every):
                try:
                    self.check_idle()
                except Exception:  # a bug in a check must not stop the loop; no beat, no ping
                    log.exception("idle check failed")
                self.feed_watchdog(notify, max_age)

        self._watchdog_thread = threading.Thread(target=run, name="cutbox-watchdog", daemon=True)
        self._watchdog_thread.start()
        return True

    # ---- live view and status ---------------------------------------------------------------
    def preview_jpeg(self, width: int | None = None) -> bytes | None:
        """One live-view JPEG: a fresh frame from a camera, else the last frame seen (a file
        source has no live picture); None when there is nothing to show yet."""
        width = width or self.config.api.preview_width
        image = None
        if self.config.source.kind in CAMERA_KINDS and self._work.acquire(blocking=False):
            try:
                image = self.grab().image
            except CameraError:
                image = None
            finally:
                self._work.release()
        if image is None:
            image = self._last_frame
            if image is None:
                return None
            cached = self._preview_cache
            if cached is not None and cached[0] is image and cached[1] == width:
                return cached[2]  # a still picture: the same bytes, so the stream sends it once
        source_image = image
        h, w = image.shape[:2]
        if w > width:
            image = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 75])
        if not ok:
            return None
        data = buf.tobytes()
        if source_image is self._last_frame:
            self._preview_cache = (source_image, width, data)
        return data

    def _probe_source(self) -> None:
        """Cheap check between captures: a file or hot-folder source whose folder vanished is
        a lost camera too (a live camera is checked by every grab)."""
        now = time.monotonic()
        if now - self._probe_at < 1.0:
            return
        self._probe_at = now
        cfg = self.config.source
        if cfg.kind in ("files", "hotfolder") and cfg.path is not None and not any(c in str(cfg.path) for c in "*?["):
            if not Path(cfg.path).exists():
                self.camera_error = f"{cfg.kind} source: {cfg.path} is gone"
            elif self.camera_error and "is gone" in self.camera_error:
                self.camera_error = None

    def publisher_status(self) -> dict:
        if self._publisher is None:
            return {"enabled": bool(self.config.mqtt.enabled), "connected": False}
        try:
            st = dict(self._publisher.status())
        except Exception as exc:
            return {"enabled": True, "connected": False, "error": one_line(exc)}
        st.setdefault("enabled", True)
        return st

    def status(self) -> dict:
        """Everything the page's banners and /health/ready need, in one small dict."""
        self._probe_source()
        mqtt = self.publisher_status()
        outbox = mqtt.get("outbox") if isinstance(mqtt.get("outbox"), dict) else {}
        depth = int(outbox.get("depth", 0))
        limit = int(outbox.get("max_captures", self.config.mqtt.outbox_max_captures))
        alerts = []
        if self.camera_error:
            alerts.append({"kind": "camera", "level": "error", "message": f"Camera lost: {self.camera_error}"})
        if self.pipeline_error:
            alerts.append({"kind": "pipeline", "level": "error", "message": f"Model not loaded: {self.pipeline_error}"})
        if mqtt.get("enabled") and not mqtt.get("connected"):
            alerts.append(
                {
                    "kind": "broker",
                    "level": "warning",
                    "message": "Broker down: captures wait in the outbox and go out when it is back",
                }
            )
        full = bool(outbox.get("full", False))
        if mqtt.get("enabled") and (full or (isinstance(depth, (int, float)) and depth >= 0.8 * limit)):
            alerts.append(
                {
                    "kind": "outbox",
                    "level": "error" if full else "warning",
                    "message": f"Outbox filling up: {depth} of {limit} captures waiting" + (" (full)" if full else ""),
                }
            )
        with self._state:
            last_error = dict(self.last_error) if self.last_error else None
        return {
            "station": self.config.station.id,
            "camera": {"ok": self.camera_error is None, "kind": self.config.source.kind, "error": self.camera_error},
            "pipeline": {
                "ok": self._pipeline is not None,
                "error": self.pipeline_error,
                "model": getattr(self._pipeline, "model_name", None) if self._pipeline is not None else None,
            },
            "mqtt": {
                **{k: v for k, v in mqtt.items() if isinstance(v, (str, int, float, bool, type(None)))},
                "outbox_depth": depth,
                "outbox_max": limit,
                "outbox_full": full,
                "dropped_captures": int(outbox.get("dropped_captures", 0)),
            },
            "preset": self.config.compose.preset,
            "review_queue": len(self.review_queue()),
            "captures": self.captures_done,
            "last_capture": self.last_capture_id,
            "last_error": last_error,
            "heartbeat": {"age_s": round(self.heartbeat()[0], 3), "last": self.heartbeat()[1]},
            "alerts": alerts,
        }

    def ready(self) -> bool:
        return self._pipeline is not None and self.pipeline_error is None


class _ServiceSource:
    """The source as shoot_spin sees it: grabs go through the service (re-open, error report)."""

    def __init__(self, service: CutboxService):
        self._service = service

    def grab(self) -> Frame:
        return self._service.grab()

    def frames(self):
        while True:
            yield self.grab()

    def close(self) -> None:
        pass


class _ScoringPipeline:
    """The pipeline as the service (and shoot_spin) drives it. Every capture path (a single
    capture, each view of a spin, a correction) ends in `finish()`, so that is the one place
    a capture is scored (from its matte's alpha), flagged for review and given the full-size
    alpha the store keeps; every stage done is a heartbeat for the watchdog."""

    def __init__(self, service: CutboxService):
        self._service = service
        self._pipe = service.pipeline
        self.alphas: dict[str, np.ndarray] = {}

    def matte(self, frame: Frame, strokes=None):
        matte = self._pipe.matte(frame, strokes=strokes)
        self._service.beat("matte")
        return matte

    def finish(self, matte, *, preset=None, box=None, extra_meta=None) -> Capture:
        capture = self._pipe.finish(matte, preset=preset, box=box, extra_meta=extra_meta)
        self._service.score(capture, matte)
        capture.complete()
        self.alphas[capture.id] = matte.full_alpha()
        self._service.beat("capture")
        return capture

    def process(self, frame: Frame, *, preset=None, box=None, strokes=None) -> Capture:
        return self.finish(self.matte(frame, strokes=strokes), preset=preset, box=box)

    def __getattr__(self, name):
        return getattr(self._pipe, name)
