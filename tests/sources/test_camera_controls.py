"""[source.camera]: the controls handed to picamera2. No Pi camera here: the control sets
are checked as libcamera names and values, and the lock sequence against an object that
records what picamera2 is asked (start, settle, metadata, set)."""

from __future__ import annotations

import sys
import time
import types

import numpy as np
import pytest

from device.config import CameraConfig, load_config
from device.sources.camera_controls import AF_MODES, lock_controls, start_controls


def test_auto_leaves_the_isp_alone():
    assert start_controls(CameraConfig()) == {}
    assert lock_controls(CameraConfig(), {"ExposureTime": 1000, "AnalogueGain": 2.0}) == {}


def test_fixed_exposure_gains_and_manual_focus():
    cfg = CameraConfig(
        exposure="fixed",
        exposure_us=8000,
        analogue_gain=1.5,
        colour_gains=(1.9, 1.6),
        af_mode="manual",
        lens_position=2.0,
    )
    assert start_controls(cfg) == {
        "AeEnable": False,
        "ExposureTime": 8000,
        "AnalogueGain": 1.5,
        "AwbEnable": False,
        "ColourGains": (1.9, 1.6),
        "AfMode": AF_MODES["manual"],
        "LensPosition": 2.0,
    }


def test_lock_fixes_what_ae_and_awb_chose():
    md = {"ExposureTime": 12345, "AnalogueGain": 2.25, "ColourGains": (2.0, 1.5), "Lux": 400}
    assert lock_controls(CameraConfig(exposure="lock"), md) == {
        "AeEnable": False,
        "ExposureTime": 12345,
        "AnalogueGain": 2.25,
        "AwbEnable": False,
        "ColourGains": (2.0, 1.5),
    }
    with pytest.raises(ValueError, match="lacks AnalogueGain"):
        lock_controls(CameraConfig(exposure="lock"), {"ExposureTime": 1})


@pytest.mark.parametrize(
    ("kwargs", "needs"),
    [
        ({"exposure": "fixed", "exposure_us": 1000}, "needs exposure_us and analogue_gain"),
        ({"af_mode": "manual"}, "needs lens_position"),
        ({"colour_gains": (0.0, 1.0)}, "two gains in"),
    ],
)
def test_incomplete_settings_are_refused(kwargs, needs):
    with pytest.raises(ValueError, match=needs):
        CameraConfig(**kwargs)


def test_the_default_file_documents_source_camera():
    assert load_config(env={}).source.camera == CameraConfig()


class Recorder:
    """Stands in for picamera2.Picamera2 (no libcamera on x86): records the calls."""

    calls: list = []

    def __init__(self, camera):
        Recorder.calls = [("open", camera)]

    def create_video_configuration(self, **kw):
        return kw

    def configure(self, config):
        self.calls.append(("configure",))

    def set_controls(self, controls):
        self.calls.append(("set", dict(controls)))

    def start(self):
        self.calls.append(("start",))

    def capture_request(self):
        """Three frames queued before the grab (exposed while the table moved), then fresh ones."""
        self.served = getattr(self, "served", 0) + 1
        now = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        stamp = now - 50_000_000 if self.served <= 3 else now + 1_000_000
        return FakeRequest(stamp, self)

    def capture_metadata(self):
        self.calls.append(("metadata",))
        return {"ExposureTime": 9000, "AnalogueGain": 1.25, "ColourGains": (1.8, 1.4)}

    def stop(self):
        pass

    def close(self):
        pass


class FakeRequest:
    def __init__(self, stamp, cam):
        self.stamp, self.cam, self.released = stamp, cam, False

    def get_metadata(self):
        return {"SensorTimestamp": self.stamp, "ExposureTime": 9000, "AnalogueGain": 1.25}

    def make_array(self, name):
        return np.zeros((8, 8, 3), np.uint8)

    def release(self):
        self.cam.calls.append(("release", self.stamp))


def test_a_grab_skips_frames_exposed_before_it_was_asked_for(monkeypatch):
    """After a turntable move the queue still holds frames exposed during the move."""
    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=Recorder))
    from device.sources.pi_camera import Picamera2Source

    src = Picamera2Source(controls=CameraConfig())
    t_asked = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    src.grab()
    released = [c[1] for c in Recorder.calls if c[0] == "release"]
    assert len(released) == 4  # three stale ones dropped, the fresh one used and released
    assert all(s < t_asked for s in released[:3]) and released[3] > t_asked
    src.close()


def test_lock_runs_after_start_and_settle(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=Recorder))
    from device.sources.pi_camera import Picamera2Source

    cfg = CameraConfig(exposure="lock", settle_s=0.01, af_mode="continuous")
    src = Picamera2Source(controls=cfg)
    names = [c[0] for c in Recorder.calls]
    assert names == ["open", "configure", "set", "start", "metadata", "set"]
    assert Recorder.calls[2][1] == {"AfMode": AF_MODES["continuous"]}
    assert Recorder.calls[-1][1]["ExposureTime"] == 9000 and Recorder.calls[-1][1]["AeEnable"] is False
    assert src.locked["ColourGains"] == (1.8, 1.4)
    src.close()
