"""The Raspberry Pi camera through picamera2: main stream for the output, lores for the model.

The ISP makes the lores copy in hardware, so the 12 MP main frame is never resized in
software on the hot path. picamera2 exists only on Raspberry Pi OS (apt python3-picamera2);
it is imported when this source is opened, never at package import.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Iterator

import cv2
import numpy as np

from device.sources.base import SourceError, new_frame_id
from device.sources.camera_controls import exposed_after, exposure_start_ns
from device.types import Frame

log = logging.getLogger(__name__)

STALE_REQUESTS_MAX = 6  # buffer_count 4 plus the ones in flight


def _import_picamera2():
    try:
        from picamera2 import Picamera2  # noqa: PLC0415 - lazy on purpose
    except ImportError as exc:
        raise SourceError(
            f"picamera2 is not available ({exc}): on Raspberry Pi OS run `apt install python3-picamera2` "
            "and make the venv with --system-site-packages; elsewhere use source.kind = uvc, hotfolder or files"
        ) from None
    return Picamera2


def _configure(cam, mode: str, main: tuple[int, int], lores: tuple[int, int]) -> bool:
    """Configure the camera for `mode` with main (RGB) and lores outputs; True when the lores
    stream had to be YUV420 (Pi 4 and older ISPs give lores only so).

    video: a stream at the sensor's video rate with 4 buffers (live view and spins follow it).
    still: picamera2's still configuration, its high-quality noise reduction and long frame
    times allowed (less noise on a dim booth, a slower live view)."""
    create = cam.create_still_configuration if mode == "still" else cam.create_video_configuration
    extra = {} if mode == "still" else {"buffer_count": 4}
    # picamera2's "BGR888" is R,G,B in memory, i.e. numpy RGB.
    for lores_format in ("BGR888", "YUV420"):
        try:
            config = create(
                main={"size": tuple(main), "format": "BGR888"},
                lores={"size": tuple(lores), "format": lores_format},
                **extra,
            )
            cam.configure(config)
            return lores_format == "YUV420"
        except Exception:
            if lores_format == "YUV420":
                raise
    raise AssertionError("unreachable")


class Picamera2Source:
    """The Pi camera in video or still mode with main (RGB) and lores (RGB, or YUV420 on a
    Pi 4) outputs; every grab is exposed after it was asked for."""

    def __init__(
        self,
        main: tuple[int, int] = (2304, 1296),
        lores: tuple[int, int] = (256, 256),
        camera: int = 0,
        controls=None,
    ):
        Picamera2 = _import_picamera2()
        try:
            cam = Picamera2(camera)
        except Exception as exc:  # libcamera raises its own families (and RuntimeError, IndexError)
            raise SourceError(
                f"cannot open Pi camera {camera}: {exc} (check the ribbon cable and `rpicam-hello --list-cameras`)"
            ) from None
        self.mode = controls.mode if controls is not None else "video"
        try:
            self._lores_yuv = _configure(cam, self.mode, main, lores)
        except Exception as exc:  # a size or mode the sensor cannot give
            cam.close()
            raise SourceError(f"Pi camera {camera}: cannot configure {self.mode} mode: {exc}") from None
        # newer picamera2 drops frames exposed before a given time itself (capture_request(flush=));
        # older ones get the same rule from _fresh_request's own loop
        self._flush = "flush" in inspect.signature(cam.capture_request).parameters
        self._cam = cam
        self.camera = camera
        self.locked: dict = {}
        try:
            self._apply_controls(controls)
        except Exception as exc:  # a control the sensor refuses: libcamera's errors vary by version
            self.close()
            raise SourceError(f"Pi camera {camera}: cannot apply source.camera controls: {exc}") from None

    def _apply_controls(self, controls) -> None:
        """Start with `[source.camera]`'s controls; for exposure = "lock", let AE/AWB settle
        and fix what they chose (logged in each frame's info as exposure_us, gains)."""
        from device.sources.camera_controls import lock_controls, start_controls

        cam = self._cam
        initial = start_controls(controls) if controls is not None else {}
        if initial:
            cam.set_controls(initial)
        cam.start()
        if controls is not None and controls.exposure == "lock":
            time.sleep(controls.settle_s)
            self.locked = lock_controls(controls, cam.capture_metadata())
            cam.set_controls(self.locked)

    def _fresh_request(self):
        """The first request whose exposure started after this call. The queue holds frames
        exposed earlier (while a turntable was still moving, say): picamera2 drops them itself
        where it can (`flush=`), else they are dropped here, at most a queue's worth. Exposure
        start is libcamera's SensorTimestamp (first line read out, CLOCK_MONOTONIC) less the
        exposure time."""
        asked = time.monotonic_ns()
        if self._flush:
            return self._cam.capture_request(flush=asked)
        for _ in range(STALE_REQUESTS_MAX):
            request = self._cam.capture_request()
            if exposed_after(request.get_metadata(), asked):
                return request
            request.release()
        log.warning("picamera2: %d frames in a row exposed before the grab; taking the next", STALE_REQUESTS_MAX)
        return self._cam.capture_request()

    def grab(self) -> Frame:
        if self._cam is None:
            raise SourceError("Pi camera is closed")
        t0 = time.perf_counter()
        request = self._fresh_request()
        try:
            main = np.ascontiguousarray(request.make_array("main")[:, :, :3])
            lores = request.make_array("lores")
            metadata = request.get_metadata()
        finally:
            request.release()
        if self._lores_yuv:
            lores = cv2.cvtColor(lores, cv2.COLOR_YUV2RGB_I420)
        else:
            lores = np.ascontiguousarray(lores[:, :, :3])
        return Frame(
            id=new_frame_id("picam"),
            image=main,
            lores=lores,
            timestamp=time.time(),
            source=f"picamera2:{self.camera}",
            info={
                "read_ms": (time.perf_counter() - t0) * 1000.0,
                "exposure_us": metadata.get("ExposureTime"),
                "analogue_gain": metadata.get("AnalogueGain"),
                "colour_temperature": metadata.get("ColourTemperature"),
                "exposure_start_ns": exposure_start_ns(metadata),
                "mode": self.mode,
            },
        )

    def frames(self) -> Iterator[Frame]:
        while self._cam is not None:
            yield self.grab()

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            finally:
                self._cam = None
