"""Cameras: UVC through OpenCV (exercised with a real video stream), picamera2 lazily."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from device.config import SourceConfig
from device.sources import SourceError, open_source
from device.sources.uvc import UvcSource


@pytest.fixture
def red_video(tmp_path):
    path = tmp_path / "cam.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    assert writer.isOpened()
    bgr = np.zeros((48, 64, 3), np.uint8)
    bgr[..., 2] = 220  # red in OpenCV's BGR
    for _ in range(3):
        writer.write(bgr)
    writer.release()
    return path


def test_uvc_source_gives_rgb_frames_until_the_stream_ends(red_video):
    src = open_source(SourceConfig(kind="uvc", uvc={"device": str(red_video)}))
    frames = list(src.frames())
    src.close()
    assert len(frames) == 3
    f = frames[0]
    assert f.size == (64, 48) and f.image.dtype == np.uint8
    r, g, b = f.image[24, 32]
    assert r > 180 and g < 40 and b < 40  # RGB order, not OpenCV's BGR
    assert f.source.startswith("uvc:") and f.info["read_ms"] >= 0
    with pytest.raises(SourceError, match="closed"):
        src.grab()


def test_a_missing_uvc_camera_fails_at_open_with_one_line():
    with pytest.raises(SourceError) as e:
        UvcSource("/dev/video-that-does-not-exist")
    assert "cannot open UVC camera" in str(e.value) and "\n" not in str(e.value)


def test_picamera2_without_libcamera_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # as on x86: the import fails
    with pytest.raises(SourceError) as e:
        open_source(SourceConfig(kind="picamera2"))
    assert "apt install python3-picamera2" in str(e.value) and "\n" not in str(e.value)


def test_importing_the_sources_never_imports_picamera2():
    code = "import sys, device.sources, device.sources.pi_camera; print('picamera2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
