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
        return {"kind": "video", **kw}

    def create_still_configuration(self, **kw):
        return {"kind": "still", **kw}

    def configure(self, config):
        if config["lores"]["format"] in getattr(self, "refused_formats", ()):
            raise RuntimeError("lores format not supported")
        self.calls.append(("configure",))
        self.configured = config

    def set_controls(self, controls):
        self.calls.append(("set", dict(controls)))

    def start(self):
        self.calls.append(("start",))

    def capture_request(self):
        """Queued before the grab: two frames exposed and read out while the table moved, one
        read out just after the grab but exposed before it (9 ms exposure); then fresh ones."""
        self.served = getattr(self, "served", 0) + 1
        now = time.monotonic_ns()
        stamp = {1: now - 50_000_000, 2: now - 20_000_000, 3: now + 2_000_000}.get(self.served, now + 20_000_000)
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
    t_asked = time.monotonic_ns()
    frame = src.grab()
    released = [c[1] for c in Recorder.calls if c[0] == "release"]
    assert len(released) == 4  # three stale ones dropped, the fresh one used and released
    assert released[2] > t_asked  # read out after the ask, but its exposure began before: dropped
    assert all(s - 9_000_000 < t_asked for s in released[:3]) and released[3] - 9_000_000 > t_asked
    assert frame.info["exposure_start_ns"] == released[3] - 9_000_000 and frame.info["mode"] == "video"
    src.close()


@pytest.mark.parametrize("mode", ["video", "still"])
def test_video_or_still_configuration_from_the_config(monkeypatch, mode):
    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=Recorder))
    from device.sources.pi_camera import Picamera2Source

    src = Picamera2Source(main=(4608, 2592), lores=(256, 256), controls=CameraConfig(mode=mode))
    config = src._cam.configured
    assert config["kind"] == mode and config["main"] == {"size": (4608, 2592), "format": "BGR888"}
    assert config["lores"] == {"size": (256, 256), "format": "BGR888"}
    assert config.get("buffer_count") == (4 if mode == "video" else None)  # still: picamera2's own default
    assert src.grab().info["mode"] == mode
    src.close()


@pytest.mark.parametrize("mode", ["video", "still"])
def test_a_pi_4_gets_its_lores_stream_as_yuv_in_both_modes(monkeypatch, mode):
    class Pi4(Recorder):
        refused_formats = ("BGR888",)

        def make_array(self, name):
            return np.zeros((12, 8), np.uint8)  # I420 of an 8x8 picture

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=Pi4))
    from device.sources.pi_camera import Picamera2Source

    src = Picamera2Source(lores=(8, 8), controls=CameraConfig(mode=mode))
    assert src._cam.configured["lores"]["format"] == "YUV420" and src._lores_yuv
    src.close()


def test_a_picamera2_that_flushes_is_asked_for_frames_exposed_after_the_grab(monkeypatch):
    """A newer picamera2 drops the stale frames itself: the grab hands it the time it was asked."""

    class Flushing(Recorder):
        def capture_request(self, flush=None, wait=None):
            self.calls.append(("flush", flush))
            return FakeRequest(flush + 20_000_000, self)

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=Flushing))
    from device.sources.pi_camera import Picamera2Source

    for mode in ("video", "still"):
        src = Picamera2Source(controls=CameraConfig(mode=mode))
        before = time.monotonic_ns()
        src.grab()
        after = time.monotonic_ns()
        asked = [c[1] for c in Flushing.calls if c[0] == "flush"]
        assert len(asked) == 1 and isinstance(asked[0], int) and before <= asked[0] <= after
        src.close()


def test_exposure_start_is_the_readout_time_less_the_exposure():
    from device.sources.camera_controls import exposed_after, exposure_start_ns

    md = {"SensorTimestamp": 10_000_000_000, "ExposureTime": 20_000}
    assert exposure_start_ns(md) == 9_980_000_000
    assert exposed_after(md, 9_980_000_000) and not exposed_after(md, 9_990_000_000)
    assert exposure_start_ns({}) is None and exposed_after({}, 1)  # no timestamp: nothing says it is old


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
