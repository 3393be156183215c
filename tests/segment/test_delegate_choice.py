"""Edge TPU or CPU: the runtime's choice, both ways.

Absent: this machine has no Coral, so `auto` runs on the CPU and logs why. Present: no Coral
can be attached here, so detection is made to report a USB Coral (`find_edgetpu` replaced,
the only stand-in), the Edge TPU model is the shipped one with the Edge TPU op added to its
operator table, and `segment.edgetpu_lib` points LiteRT's real `load_delegate` at a real
shared library that is not a delegate (a copy of libz): LiteRT refuses it, and cutbox falls
back to the CPU with the reason, or refuses to start when `delegate = "edgetpu"`.
"""

from __future__ import annotations

import ctypes.util
import logging
import shutil
from pathlib import Path

import pytest

from device.config import SegmentConfig, load_config
from device.segment import ModelError, litert, open_segmenter
from device.segment.edgetpu import EDGETPU_OP, custom_ops, is_compiled_for_edgetpu


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
    with caplog.at_level(logging.INFO, logger="device.segment"):
        seg = open_segmenter(segment_cfg.model_copy(update={"delegate": "auto"}))
    assert seg.backend == "cpu"
    assert "no Coral found" in seg.backend_reason
    assert any("on cpu (no Coral found" in r.getMessage() for r in caplog.records)


@pytest.fixture
def compiled_model(segment_cfg, tmp_path) -> Path:
    """The shipped model with `edgetpu-custom-op` added to its operator table, written with
    LiteRT's own flatbuffer schema: what the runtime looks for in an edgetpu_compiler output."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(segment_cfg.model.read_bytes(), 0)
    op = schema.OperatorCodeT()
    op.builtinCode = op.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    op.customCode = EDGETPU_OP
    model.operatorCodes.append(op)
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out = tmp_path / "cutbox-student-int8_edgetpu.tflite"
    out.write_bytes(bytes(builder.Output()))
    return out


def test_the_edgetpu_op_is_read_from_the_operator_table(segment_cfg, compiled_model, tmp_path):
    assert custom_ops(segment_cfg.model) == []
    assert not is_compiled_for_edgetpu(segment_cfg.model)
    assert custom_ops(compiled_model) == [EDGETPU_OP]
    assert is_compiled_for_edgetpu(compiled_model)
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    assert not is_compiled_for_edgetpu(junk)


def test_a_cpu_model_on_a_coral_runs_on_the_cpu_and_says_it_is_not_compiled(
    segment_cfg, coral_on_usb, not_a_delegate, caplog
):
    """The delegate is not even tried (else the reason would be 'did not load'): a CPU model
    handed to it would run on the CPU while the status said edgetpu."""
    cfg = segment_cfg.model_copy(update={"delegate": "auto", "edgetpu_lib": str(not_a_delegate)})
    with caplog.at_level(logging.INFO, logger="device.segment"):
        seg = open_segmenter(cfg)
    assert seg.backend == "cpu"
    assert seg.backend_reason == (
        f"Coral at usb:1-1 but {segment_cfg.model.name} is not compiled for the Edge TPU (no edgetpu-custom-op)"
    )
    assert any("on cpu (Coral at usb:1-1 but" in r.getMessage() for r in caplog.records)


def test_delegate_edgetpu_without_a_compiled_model_refuses_to_start(segment_cfg, coral_on_usb):
    with pytest.raises(ModelError, match=r"not compiled for the Edge TPU .*set segment.edgetpu_model"):
        open_segmenter(segment_cfg.model_copy(update={"delegate": "edgetpu"}))


def test_coral_present_but_library_not_a_delegate_falls_back_to_cpu(
    segment_cfg, coral_on_usb, not_a_delegate, compiled_model, caplog
):
    cfg = segment_cfg.model_copy(
        update={"delegate": "auto", "edgetpu_lib": str(not_a_delegate), "edgetpu_model": compiled_model}
    )
    with caplog.at_level(logging.INFO, logger="device.segment"):
        seg = open_segmenter(cfg)
    assert seg.backend == "cpu"
    assert seg.backend_reason.startswith(f"Coral at usb:1-1 but {not_a_delegate} did not load (device 'usb'):")
    assert seg.model.model_path == segment_cfg.model  # the CPU runs the CPU model
    assert any("Coral at usb:1-1 but" in r.getMessage() for r in caplog.records)


def test_coral_required_but_library_not_a_delegate_refuses_to_start(
    segment_cfg, coral_on_usb, not_a_delegate, compiled_model
):
    cfg = segment_cfg.model_copy(
        update={"delegate": "edgetpu", "edgetpu_lib": str(not_a_delegate), "edgetpu_model": compiled_model}
    )
    with pytest.raises(
        ModelError,
        match=r"segment.delegate = edgetpu but Coral at usb:1-1 but .* did not load .*\(install libedgetpu1-std",
    ):
        open_segmenter(cfg)


@pytest.mark.parametrize(
    ("found", "configured", "sent"),
    [
        ("pcie:/dev/apex_0", "", "pci"),
        ("usb:1-1", "", "usb"),
        ("pcie:/dev/apex_0", "pci:1", "pci:1"),
        ("usb:2-1", "usb:0", "usb:0"),
    ],
)
def test_libedgetpu_gets_a_device_string_it_knows(monkeypatch, compiled_model, found, configured, sent):
    """libedgetpu knows "usb", "usb:N", "pci", "pci:N" (not "pcie"). No Coral here, so the
    loader is a recorder: what is checked is the option cutbox hands it."""
    monkeypatch.setattr(litert, "find_edgetpu", lambda: found)
    calls = []

    def record(lib, options):
        calls.append(options)
        return "delegate"

    delegates, backend, reason = litert.choose_delegate(
        "auto", "libedgetpu.so.1", record, device=configured, tpu_model=compiled_model
    )
    assert calls == [{"device": sent}]
    assert (delegates, backend) == (["delegate"], "edgetpu")
    assert f"(device {sent!r})" in reason and compiled_model.name in reason


@pytest.mark.parametrize(("written", "kept"), [("pcie", "pci"), ("PCIe:1", "pci:1"), ("usb:0", "usb:0"), ("", "")])
def test_the_config_maps_pcie_to_libedgetpus_pci(written, kept):
    assert SegmentConfig(edgetpu_device=written).edgetpu_device == kept


@pytest.mark.parametrize("bad", ["apex_0", "/dev/apex_0", "usb-1", "pci:x"])
def test_the_config_refuses_an_unknown_device_string(bad):
    with pytest.raises(ValueError, match="is not a libedgetpu device"):
        SegmentConfig(edgetpu_device=bad)


def test_real_loader_rejects_the_library(not_a_delegate):
    """The fallback above is LiteRT's own refusal, not a check of cutbox's."""
    from ai_edge_litert.interpreter import load_delegate

    with pytest.raises(AttributeError, match="undefined symbol: tflite_plugin_create_delegate"):
        load_delegate(str(not_a_delegate))
