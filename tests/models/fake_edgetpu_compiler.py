"""A stand-in for Google's `edgetpu_compiler` (x86-64 apt package, not installed here): takes
the same arguments (`--out_dir DIR --show_operations MODEL.tflite`), writes
`DIR/<name>_edgetpu.tflite` as the model with the Edge TPU custom op added to its operator
table (what the runtime looks for) and prints the compiler's summary in its format."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import flatbuffers
from ai_edge_litert import schema_py_generated as schema

from tools.compile_edgetpu import model_ops


def main(argv: list[str]) -> int:
    out_dir = Path(argv[argv.index("--out_dir") + 1])
    model = Path(argv[-1])
    tree = schema.ModelT.InitFromPackedBuf(model.read_bytes(), 0)
    op = schema.OperatorCodeT()
    op.builtinCode = op.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    op.customCode = "edgetpu-custom-op"
    tree.operatorCodes.append(op)
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    out = out_dir / f"{model.stem}_edgetpu.tflite"
    out.write_bytes(bytes(builder.Output()))
    counts = Counter(model_ops(model))
    print("Edge TPU Compiler version 16.0.384591198")
    print(f"\nModel compiled successfully in 812 ms.\n\nInput model: {model}\nOutput model: {out}")
    print("On-chip memory used for caching model parameters: 1.93MiB")
    print("Off-chip memory used for streaming uncached model parameters: 0.00B")
    print("Number of Edge TPU subgraphs: 1")
    print(f"Total number of operations: {sum(counts.values())}\n\nOperator                       Count      Status\n")
    for name, n in sorted(counts.items()):
        print(f"{name:<30} {n:<10} Mapped to Edge TPU")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
