"""A USB (UVC) camera through OpenCV's V4L2 backend."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import cv2

from device.sources.base import SourceError, new_frame_id
from device.types import Frame


class UvcSource:
    """Opens the camera at construction (a missing camera fails at start-up, not mid-shoot).

    `device` is a /dev/videoN index, a device path, or anything cv2.VideoCapture opens
    (a video file works too, which is how the tests exercise this path).
    """

    def __init__(
        self, device: int | str = 0, width: int = 2304, height: int = 1296, fourcc: str = "MJPG", fps: float = 30.0
    ):
        if isinstance(device, str) and device.isdigit():
            device = int(device)
        self.device = device
        if isinstance(device, int) and sys.platform.startswith("linux"):
            cap = cv2.VideoCapture(device, cv2.CAP_V4L2)
        else:
            cap = cv2.VideoCapture(str(device) if not isinstance(device, int) else device)
        if not cap.isOpened():
            cap.release()
            raise SourceError(
                f"cannot open UVC camera {device!r}: not present or busy (check source.uvc.device, `v4l2-ctl --list-devices`)"
            )
        if isinstance(device, int):
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*fourcc))
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            cap.set(cv2.CAP_PROP_FPS, fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a stale queued one
        self._cap: cv2.VideoCapture | None = cap
        self.size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))

    def grab(self) -> Frame:
        if self._cap is None:
            raise SourceError(f"UVC camera {self.device!r} is closed")
        t0 = time.perf_counter()
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise SourceError(f"UVC camera {self.device!r} gave no frame (unplugged, or end of stream)")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        return Frame(
            id=new_frame_id("uvc"),
            image=rgb,
            timestamp=time.time(),
            source=f"uvc:{self.device}",
            info={"read_ms": (time.perf_counter() - t0) * 1000.0, "requested_size": self.size},
        )

    def frames(self) -> Iterator[Frame]:
        while self._cap is not None:
            try:
                yield self.grab()
            except SourceError:
                return

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
