"""Edge TPU or CPU: the runtime's choice, both ways.

Absent: this machine has no Coral, so `auto` runs on the CPU and logs why. Present: no Coral
can be attached here, so detection is made to report a USB Coral (`find_edgetpu` replaced,
the only stand-in), and `segment.edgetpu_lib` points LiteRT's real `load_delegate` at a real
shared library that is not a delegate (a copy of libz): LiteRT refuses it, and cutbox falls
back to the CPU with the reason, or refuses to start when `delegate = "edgetpu"`.
"""

from __future__ import annotations

import ctypes.util
import logging
import shutil
from pathlib import Path

import pytest

from device.config import load_config
from device.segment import ModelError, litert, open_segmenter


@pytest.fixture(scope="module")
def segment_cfg():
    cfg = load_config().segment
    assert cfg.model.is_file(), f"the shipped model is missing: {cfg.model}"
    return cfg


@pytest.fixture
def not_a_delegate(tmp_path) -> Path:
    """A real ELF shared library that exports no TFLite delegate entry points."""
    name = ctypes.util.find_library("z")
    assert name, "libz not found"
    for folder in (
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib/aarch64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
        "/lib",
    ):
        if Path(folder, name).is_file():
            dst = tmp_path / "libedgetpu.so.1"
            shutil.copy(Path(folder, name), dst)
            return dst
    pytest.fail(f"{name} not found in the usual library folders")


@pytest.fixture
def coral_on_usb(monkeypatch):
    monkeypatch.setattr(litert, "find_edgetpu", lambda: "usb:1-1")


def test_no_coral_runs_on_cpu_and_logs_why(segment_cfg, caplog):
    assert litert.find_edgetpu() is None
    with caplog.at_level(logging.INFO, logger="cutbox.segment"):
        seg = open_segmenter(segment_cfg.model_copy(update={"delegate": "auto"}))
    assert seg.backend == "cpu"
    assert "no Coral found" in seg.backend_reason
    assert any("on cpu (no Coral found" in r.getMessage() for r in caplog.records)


def test_coral_present_but_library_not_a_delegate_falls_back_to_cpu(segment_cfg, coral_on_usb, not_a_delegate, caplog):
    cfg = segment_cfg.model_copy(update={"delegate": "auto", "edgetpu_lib": str(not_a_delegate)})
    with caplog.at_level(logging.INFO, logger="cutbox.segment"):
        seg = open_segmenter(cfg)
    assert seg.backend == "cpu"
    assert seg.backend_reason.startswith(f"Coral at usb:1-1 but {not_a_delegate} did not load:")
    assert any("Coral at usb:1-1 but" in r.getMessage() for r in caplog.records)


def test_coral_required_but_library_not_a_delegate_refuses_to_start(segment_cfg, coral_on_usb, not_a_delegate):
    cfg = segment_cfg.model_copy(update={"delegate": "edgetpu", "edgetpu_lib": str(not_a_delegate)})
    with pytest.raises(
        ModelError,
        match=r"segment.delegate = edgetpu: Coral at usb:1-1 but .* did not load: .*\(install libedgetpu1-std\)",
    ):
        open_segmenter(cfg)


def test_real_loader_rejects_the_library(not_a_delegate):
    """The fallback above is LiteRT's own refusal, not a check of cutbox's."""
    from ai_edge_litert.interpreter import load_delegate

    with pytest.raises(AttributeError, match="undefined symbol: tflite_plugin_create_delegate"):
        load_delegate(str(not_a_delegate))
