"""Compile the shipped int8 models for the Coral Edge TPU, or say what would stop them compiling.

    python -m tools.compile_edgetpu [MODEL.tflite ...] [--out DIR] [--check-only] [--write-card]

With `edgetpu_compiler` on PATH (x86-64 Debian/Ubuntu only: Google ships no aarch64 build, so
compile on a PC and copy the `*_edgetpu.tflite` files to the box), each model is compiled
into `<name>_edgetpu.tflite` beside it, and the result is checked: it must hold the Edge TPU
custom op, or the compiler mapped nothing. Without the compiler, every op of the model is
checked against the ops the Edge TPU runs (Coral's "supported operations" table), so a
model change that would fall off the TPU shows here. Exit 0 when every model compiles (or
would), 1 otherwise.

`--write-card` records the result in the model card beside each model (`<name>.json`,
entry `edgetpu`, and an "Edge TPU" section in `<name>.md`): the compiled file's name and
sha256, the sha256 of the CPU model it was compiled from, the compiler version and what it
mapped, or, where it was not compiled, why and how to. The runtime then accepts only that
exact compiled file as the model's Edge TPU twin.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
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


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compiler_facts(log: str) -> dict:
    """What edgetpu_compiler's summary (`-s`) says: version, ops mapped, memory use."""
    facts: dict = {}
    for key, pattern in (
        ("compiler", r"Edge TPU Compiler version (\S+)"),
        ("subgraphs", r"Number of Edge TPU subgraphs: (\d+)"),
        ("ops_total", r"Total number of operations: (\d+)"),
        ("on_chip_memory", r"On-chip memory used for caching model parameters: (\S+)"),
        ("off_chip_memory", r"Off-chip memory used for streaming uncached model parameters: (\S+)"),
    ):
        m = re.search(pattern, log)
        if m:
            facts[key] = int(m.group(1)) if m.group(1).isdigit() else m.group(1)
    rows = re.findall(r"^([A-Z][A-Z0-9_]+)\s+(\d+)\s+(.+?)\s*$", log, re.MULTILINE)
    if rows:
        facts["ops_on_cpu"] = sum(int(n) for _, n, status in rows if status != "Mapped to Edge TPU")
    return facts


def card_entry(model: Path, report: dict, previous: dict | None = None) -> dict:
    """The model card's `edgetpu` entry for `model` after a compile or a check. A previous
    compile stays recorded while the CPU model is the one it was compiled from."""
    from ai_edge_litert import __version__ as litert_version

    compiled = Path(report["compiled"]) if report.get("compiled") else None
    source_sha = sha256(model)
    entry: dict = {
        "file": f"{model.stem}_edgetpu.tflite",
        "compiled": compiled is not None,
        "sha256": sha256(compiled) if compiled else None,
        "compiled_from_sha256": source_sha if compiled else None,
        "how": f"python -m tools.compile_edgetpu --write-card models/{model.name} (runs edgetpu_compiler "
        f"--out_dir models --show_operations models/{model.name} on an x86-64 PC; docs/coral.md)",
        "ops": {"kinds": sorted(set(report["ops"])), "unsupported": report["unsupported"]},
        "runtime": f"ai-edge-litert {litert_version} with a libedgetpu built against the same TensorFlow "
        "release (docs/coral.md, 'Which libedgetpu goes with ai-edge-litert')",
    }
    if compiled:
        entry.update(compiler_facts(report.get("log", "")))
        entry["note"] = "compiled and checked: the output holds the Edge TPU custom op"
        return entry
    if previous and previous.get("compiled") and previous.get("compiled_from_sha256") == source_sha:
        return {**previous, "ops": entry["ops"], "runtime": entry["runtime"]}
    why = report.get("note") or ("compile failed: " + " ".join(report.get("log", "").split())[-300:])
    if previous and previous.get("compiled"):
        why = f"stale: the compiled file was made from another version of {model.name}; compile again"
    entry["note"] = "not compiled: " + why if not why.startswith("stale") else why
    return entry


def carried_entry(model: Path, previous_card: dict) -> dict:
    """The `edgetpu` entry for a card a training tool writes anew: the previous compile while it
    is of this very model, else an uncompiled entry with the op check."""
    report = check_ops(model)
    report["note"] = "the card was rewritten after training; compile the new model"
    if not previous_card.get("edgetpu"):
        report["note"] = "not compiled yet"
    return card_entry(model, report, previous_card.get("edgetpu"))


def write_card_entry(model: Path, entry: dict) -> Path:
    """Put `entry` into the card beside `model` (JSON and Markdown), keeping the rest."""
    card_path = model.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["edgetpu"] = entry
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    md = model.with_suffix(".md")
    if md.is_file():
        md.write_text(with_md_section(md.read_text(), edgetpu_md(entry)))
    return card_path


def edgetpu_md(entry: dict) -> list[str]:
    """The model card's "Edge TPU" section."""
    ops = entry["ops"]
    lines = ["## Edge TPU", ""]
    if entry["compiled"]:
        lines.append(
            f"- `{entry['file']}`, sha256 `{entry['sha256']}`, compiled by edgetpu_compiler "
            f"{entry.get('compiler', '?')} from the model with sha256 `{entry['compiled_from_sha256']}`"
        )
        if "ops_on_cpu" in entry:
            lines.append(
                f"- {entry.get('ops_total', '?')} ops, {entry['ops_on_cpu']} left on the CPU; "
                f"on-chip memory {entry.get('on_chip_memory', '?')}, off-chip {entry.get('off_chip_memory', '?')}"
            )
    else:
        lines.append(f"- `{entry['file']}`: {entry['note']}")
        lines.append(
            f"- every one of the model's {len(ops['kinds'])} op kinds ({', '.join(ops['kinds'])}) is one the Edge TPU runs"
            if not ops["unsupported"]
            else f"- ops the Edge TPU cannot run: {', '.join(ops['unsupported'])}"
        )
    lines += [f"- how: `{entry['how']}`", f"- runtime: {entry['runtime']}", ""]
    return lines


def with_md_section(text: str, section: list[str]) -> str:
    """`text` with its "## Edge TPU" section replaced, or inserted before "## Latency"."""
    lines = text.rstrip("\n").split("\n")
    if "## Edge TPU" in lines:
        start = lines.index("## Edge TPU")
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        del lines[start:end]
    at = lines.index("## Latency") if "## Latency" in lines else len(lines)
    if at == len(lines) and lines[-1] != "":
        lines.append("")
    lines[at:at] = section
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.compile_edgetpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", type=Path, help="int8 .tflite files (default: both shipped models)")
    parser.add_argument("--out", type=Path, help="where the *_edgetpu.tflite go (default: beside each model)")
    parser.add_argument("--check-only", action="store_true", help="only check the ops, even with the compiler")
    parser.add_argument("--compiler", default="edgetpu_compiler", help="the compiler's name or path")
    parser.add_argument("--write-card", action="store_true", help="record the result in each model's card")
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
            report["note"] = (
                "--check-only: ops checked only"
                if args.check_only and shutil.which(args.compiler)
                else "edgetpu_compiler not found: ops checked only (compile on an x86-64 PC, docs/coral.md)"
            )
        ok &= report["ok"]
        if args.write_card:
            card = model.with_suffix(".json")
            previous = json.loads(card.read_text()).get("edgetpu") if card.is_file() else None
            if not card.is_file():
                print(f"compile_edgetpu: no model card {card} to write into", file=sys.stderr)
                return 1
            entry = card_entry(model, report, previous)
            write_card_entry(model, entry)
            report["card"] = {"path": str(card), "edgetpu": entry}
        results.append(report)
    print(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
