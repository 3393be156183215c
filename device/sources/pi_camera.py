"""The Raspberry Pi camera through picamera2: main stream for the output, lores for the model.

The ISP makes the lores copy in hardware, so the 12 MP main frame is never resized in
software on the hot path. picamera2 exists only on Raspberry Pi OS (apt python3-picamera2);
it is imported when this source is opened, never at package import.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import cv2
import numpy as np

from device.sources.base import SourceError, new_frame_id
from device.types import Frame

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


class Picamera2Source:
    """Configures a video stream with main (RGB) and lores (RGB, or YUV420 on a Pi 4) outputs."""

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
        # picamera2's "BGR888" is R,G,B in memory, i.e. numpy RGB.
        self._lores_yuv = False
        try:
            config = cam.create_video_configuration(
                main={"size": tuple(main), "format": "BGR888"},
                lores={"size": tuple(lores), "format": "BGR888"},
                buffer_count=4,
            )
            cam.configure(config)
        except Exception:  # Pi 4 and older ISPs give lores only as YUV420
            config = cam.create_video_configuration(
                main={"size": tuple(main), "format": "BGR888"},
                lores={"size": tuple(lores), "format": "YUV420"},
                buffer_count=4,
            )
            cam.configure(config)
            self._lores_yuv = True
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
        """The first request whose exposure started after this call: the queue holds frames
        exposed earlier (while a turntable was still moving, say), so those are dropped, at
        most a queue's worth (libcamera's SensorTimestamp is the start of exposure, in ns of
        CLOCK_BOOTTIME)."""
        asked = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        for _ in range(STALE_REQUESTS_MAX):
            request = self._cam.capture_request()
            stamp = request.get_metadata().get("SensorTimestamp")
            if stamp is None or stamp >= asked:
                return request
            request.release()
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
