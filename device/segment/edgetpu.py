"""What makes a run on a Coral real: a model compiled for it, and the device string libedgetpu knows.

The Edge TPU delegate takes any .tflite, but it only moves to the TPU the part that
`edgetpu_compiler` replaced by its custom op (`edgetpu-custom-op`); a CPU model handed to it
runs entirely on the CPU. So "edgetpu" is reported only for a model whose operator table
holds that op, read from the flatbuffer with LiteRT's own schema (no guessing from the name).
"""

from __future__ import annotations

from pathlib import Path

EDGETPU_OP = "edgetpu-custom-op"


def custom_ops(path: str | Path) -> list[str]:
    """The custom op codes in a .tflite's operator table (empty for a plain int8 model).
    Raises ValueError when the file is not a TFLite flatbuffer."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # tflite-runtime ships no schema: fall back to the op name's bytes
        data = Path(path).read_bytes()
        return [EDGETPU_OP] if EDGETPU_OP.encode() in data else []
    data = Path(path).read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError(f"{Path(path).name} is not a TFLite model (no TFL3 identifier)")
    model = schema.Model.GetRootAs(data, 0)
    ops = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i).CustomCode()
        if code:
            ops.append(code.decode("utf-8", "replace"))
    return ops


def is_compiled_for_edgetpu(path: str | Path) -> bool:
    """True when edgetpu_compiler mapped (part of) the model to the TPU."""
    try:
        return EDGETPU_OP in custom_ops(path)
    except (OSError, ValueError):
        return False


def device_option(found: str, configured: str) -> str:
    """The `device` option for libedgetpu: the configured one, else the kind that was found
    ("usb" for 'usb:1-1', "pci" for 'pcie:/dev/apex_0')."""
    if configured:
        return configured
    return "pci" if found.startswith("pci") else "usb"
