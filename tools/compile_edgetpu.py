"""Compile the shipped int8 models for the Coral Edge TPU, or say what would stop them compiling.

    python -m tools.compile_edgetpu [MODEL.tflite ...] [--out DIR] [--check-only]

With `edgetpu_compiler` on PATH (x86-64 Debian/Ubuntu only: Google ships no aarch64 build, so
compile on a PC and copy the `*_edgetpu.tflite` files to the box), each model is compiled
into `<name>_edgetpu.tflite` beside it, and the result is checked: it must hold the Edge TPU
custom op, or the compiler mapped nothing. Without the compiler, every op of the model is
checked against the ops the Edge TPU runs (Coral's "supported operations" table), so a
model change that would fall off the TPU shows here. Exit 0 when every model compiles (or
would), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS = [REPO / "models" / "cutbox-student-int8.tflite", REPO / "models" / "cutbox-booth-int8.tflite"]

# Ops the Edge TPU executes when they are int8 and their shapes are static (coral.ai/docs/edgetpu/models-intro).
EDGETPU_OPS = frozenset(
    """ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEQUANTIZE EXP FULLY_CONNECTED GATHER
    HARD_SWISH L2_NORMALIZATION LOGISTIC LSTM MAX_POOL_2D MAXIMUM MEAN MINIMUM MUL PACK PAD PRELU QUANTIZE
    REDUCE_MAX REDUCE_MIN RELU RELU6 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR RSQRT SLICE
    SOFTMAX SPACE_TO_DEPTH SPLIT SQUARE SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM TANH
    TRANSPOSE_CONV""".split()
)


def model_ops(path: Path) -> list[str]:
    """The builtin op names in the model's operator table, read with LiteRT's schema."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    ops = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())  # the two fields of old and new files
        ops.append(code.CustomCode().decode() if code.CustomCode() else names.get(builtin, str(builtin)))
    return ops


def check_ops(path: Path) -> dict:
    """{"model", "ops", "unsupported"}: which ops would stay on the CPU."""
    ops = model_ops(path)
    return {"model": path.name, "ops": ops, "unsupported": sorted(set(ops) - EDGETPU_OPS)}


def compile_model(path: Path, out: Path, compiler: str) -> dict:
    """Run edgetpu_compiler on one model and check its output holds the Edge TPU op."""
    from device.segment.edgetpu import is_compiled_for_edgetpu

    out.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(
        [compiler, "--out_dir", str(out), "--show_operations", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    compiled = out / f"{path.stem}_edgetpu.tflite"
    ok = run.returncode == 0 and compiled.is_file() and is_compiled_for_edgetpu(compiled)
    return {
        "model": path.name,
        "compiled": str(compiled) if ok else None,
        "ok": ok,
        "log": run.stdout[-2000:] + run.stderr[-1000:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.compile_edgetpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", type=Path, help="int8 .tflite files (default: both shipped models)")
    parser.add_argument("--out", type=Path, help="where the *_edgetpu.tflite go (default: beside each model)")
    parser.add_argument("--check-only", action="store_true", help="only check the ops, even with the compiler")
    parser.add_argument("--compiler", default="edgetpu_compiler", help="the compiler's name or path")
    args = parser.parse_args(argv)
    models = args.models or MODELS
    compiler = None if args.check_only else shutil.which(args.compiler)
    results, ok = [], True
    for model in models:
        if not model.is_file():
            print(f"compile_edgetpu: {model} not found", file=sys.stderr)
            return 1
        report = check_ops(model)
        if compiler:
            report.update(compile_model(model, args.out or model.parent, compiler))
        else:
            report["ok"] = not report["unsupported"]
            report["note"] = "edgetpu_compiler not found: ops checked only (compile on an x86-64 PC, docs/coral.md)"
        ok &= report["ok"]
        results.append(report)
    print(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
