"""Check a .tflite is fully integer: every op's tensors int8/uint8, int32 only for biases.

Imports only the LiteRT runtime, so the device tests can use it without TensorFlow.
"""

from __future__ import annotations

import numpy as np

try:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
except ImportError:  # pragma: no cover - Coral images that still carry tflite-runtime
    from tflite_runtime.interpreter import Interpreter, OpResolverType

BIAS_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}
# int32 operands that are shapes/parameters, not data: (op, input position)
SHAPE_INPUTS = {("RESIZE_BILINEAR", 1), ("RESIZE_NEAREST_NEIGHBOR", 1), ("RESHAPE", 1), ("PAD", 1), ("MEAN", 1)}


def int8_check(model_path: str) -> dict:
    """Return {"fully_int8", "ops", "op_counts", "problems", "input", "output"} for the model."""
    # without the XNNPACK delegate, so the model's own ops are listed (not DELEGATE nodes)
    it = Interpreter(
        model_path=str(model_path),
        num_threads=1,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    it.allocate_tensors()
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    problems, counts = [], {}
    for op in it._get_ops_details():
        name = op["op_name"]
        counts[name] = counts.get(name, 0) + 1
        for pos, idx in enumerate(op["inputs"]):
            if idx < 0:
                continue
            dt = tensors[idx]["dtype"]
            if dt in (np.int8, np.uint8):
                continue
            if dt == np.int32 and ((name in BIAS_OPS and pos == 2) or (name, pos) in SHAPE_INPUTS):
                continue
            problems.append(f"{name} input {pos} '{tensors[idx]['name']}' is {np.dtype(dt).name}")
        for idx in op["outputs"]:
            dt = tensors[idx]["dtype"]
            if dt not in (np.int8, np.uint8):
                problems.append(f"{name} output '{tensors[idx]['name']}' is {np.dtype(dt).name}")
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    return {
        "fully_int8": not problems,
        "ops": int(sum(counts.values())),
        "op_counts": dict(sorted(counts.items())),
        "problems": problems,
        "input": {
            "shape": [int(v) for v in inp["shape"]],
            "dtype": np.dtype(inp["dtype"]).name,
            "quantization": [float(inp["quantization"][0]), int(inp["quantization"][1])],
        },
        "output": {
            "shape": [int(v) for v in out["shape"]],
            "dtype": np.dtype(out["dtype"]).name,
            "quantization": [float(out["quantization"][0]), int(out["quantization"][1])],
        },
    }
