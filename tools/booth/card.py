"""The booth model's card (models/cutbox-booth-int8.json + .md), same format as the generic one.

`write_card` is called by `train_plate.py export` (file, sha256, int8 check, latency,
training); `tools/booth/evaluate_booth.py` adds the booth-set table under "metrics" and
the per-frame timing of plate vs generic mode under "latency"; `write_md` renders both.
Needs only LiteRT + numpy (no TensorFlow).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import numpy as np

from tools.compile_edgetpu import carried_entry, edgetpu_md
from tools.model.card import io_entries, sha256

NAME = "cutbox-booth-int8"
VERSION_MAJOR_MINOR = "0.1"


def invoke_latency(tflite: Path, runs: int = 100) -> dict:
    """Invoke-only latency at one thread (random uint8 input; int8 cost does not depend on it)."""
    from tools.model.int8_check import Interpreter

    it = Interpreter(model_path=str(tflite), num_threads=1)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], np.random.default_rng(0).integers(0, 256, inp["shape"], dtype=np.uint8))
    for _ in range(5):
        it.invoke()
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        it.invoke()
        ms.append((time.perf_counter() - t0) * 1000)
    return {
        "ms_p50": round(float(np.percentile(ms, 50)), 2),
        "ms_p95": round(float(np.percentile(ms, 95)), 2),
        "threads": 1,
        "runs": runs,
        "runtime": "ai-edge-litert (XNNPACK), x86-64 dev machine, 1 thread",
        "note": f"invoke only; 1-minute load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores when measured",
    }


def booth_int8_check(tflite: Path) -> dict:
    """tools/model/int8_check.py on the booth model (one checker for both models)."""
    from tools.model.int8_check import int8_check

    return int8_check(str(tflite))


def write_card(tflite: Path, state: dict, size: int, out_dir: Path | None = None) -> dict:
    from tools.booth.synth import HARD_CASES
    from tools.model.card import LICENCES

    tflite = Path(tflite)
    out_dir = out_dir or tflite.parent
    check = booth_int8_check(tflite)
    if not check["fully_int8"]:
        raise SystemExit(f"not fully int8: {check['problems'][:5]}")
    card_path = out_dir / f"{NAME}.json"
    old = json.loads(card_path.read_text()) if card_path.exists() else {}
    m = state.get("model", {})
    exported = state.get("exported") or {"weights": "best.weights.h5", "step": state.get("best_step") or 0}
    if state.get("init_kind") == "plate":
        start = f"continued from {state.get('init')}"
    else:
        start = f"Conv1's extra input weights start at zero; initialised from {state.get('init')}"
    card = {
        "name": NAME,
        "version": f"{VERSION_MAJOR_MINOR}.{state.get('steps_before', 0) + exported['step']}",
        "file": tflite.name,
        "sha256": sha256(tflite),
        **io_entries(
            check,
            "RGB+plate",
            "none: 6 uint8 channels, the frame's RGB bytes then the clean plate's RGB bytes at "
            "the same size; the model normalises and takes frame - plate inside",
        ),
        "metrics": old.get("metrics", {}),
        "latency": {
            **invoke_latency(tflite),
            **({"modes": old["latency"]["modes"]} if "modes" in old.get("latency", {}) else {}),
        },
        "training": {
            "summary": (
                f"plate-aware student: the generic student's graph (MobileNetV2 width {m.get('width')} + U-Net decoder "
                f"{m.get('decoder')}, {size} px) with a 6-channel input; a fixed 1x1 conv makes normalised RGB + "
                f"(frame - plate)/64; {start}; fine-tuned on booth composites made on the fly from the training split "
                "(tools/booth/synth.py: sweeps, vignetting, cast shadows, flicker, camera shift, noise, white on "
                "white, translucent parts, straps, thin and open; mix "
                f"{'/'.join(HARD_CASES[: len(_case_weights(state))])} {_case_mix(state)}{_data_mix(state)}), "
                "same loss as the generic student, "
                f"{state.get('threads', 1)} CPU thread{'s' if state.get('threads', 1) != 1 else ''}"
            ),
            "model": m,
            "data": state.get("data") or {},
            "best_step": state.get("best_step"),
            "steps_done": state.get("step"),
            "exported": exported,
            "steps_before": state.get("steps_before", 0),
            "best_val_iou": state.get("best_iou"),
            "history": state.get("history", [])[-10:],
            "split": state.get("split"),
            "seed": state.get("seed"),
            "schedule": state.get("schedule"),
            "notes": state.get("notes", []),
            "licences": LICENCES,
            "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    }
    card["edgetpu"] = carried_entry(tflite, old)
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    write_md(card, out_dir / f"{NAME}.md")
    return card


def _case_weights(state: dict) -> list[float]:
    from tools.booth.synth import CASE_WEIGHTS

    return list((state.get("schedule") or {}).get("case_weights") or CASE_WEIGHTS)


def _case_mix(state: dict) -> str:
    """The hard-case mix the run trained on, as fractions (synth's default when it named none)."""
    w = _case_weights(state)
    return "/".join(f"{v / sum(w):.2f}" for v in w)


def _data_mix(state: dict) -> str:
    """The run's [data] mix (train_plate --config), when it had one."""
    d = state.get("data") or {}
    if not d:
        return ""
    parts = [f"products: seen categories of {d['products_from']} (its holdout never)"] if d.get("products_from") else []
    parts += [f"{k} {d[k]}" for k in ("p_empty", "p_change", "p_edge") if k in d]
    if d.get("plate_kinds"):
        parts.append("booths " + ", ".join(f"{k} {v}" for k, v in d["plate_kinds"].items()))
    if d.get("mismatch"):
        parts.append("mismatch " + ", ".join(f"{k} {v}" for k, v in d["mismatch"].items()))
    return "; " + "; ".join(parts)


_DECIMALS = {"iou": 4, "sad": 2, "mae": 4, "boundary_f": 4, "false_fg": 3, "missed": 3}  # the table's columns


def _table(rows: list[dict]) -> str:
    out = [
        "| mode | n | " + " | ".join(k.replace("_", " ") for k in _DECIMALS) + " | ms/img |",
        "|---|---|" + "---|" * len(_DECIMALS) + "---|",
    ]
    for r in rows:
        out.append(
            f"| {r['model']} | {r['n']} | "
            + " | ".join(f"{r.get(k, float('nan')):.{d}f}" for k, d in _DECIMALS.items())
            + f" | {r.get('ms', float('nan')):.1f} |"
        )
    return "\n".join(out)


def write_md(card: dict, path: Path) -> None:
    lat = card["latency"]
    lines = [
        f"# {card['name']} {card['version']}",
        "",
        "Plate-aware (booth mode) int8 segmentation model for cutbox: takes the frame and the clean plate of the "
        "empty booth. Written by `tools/booth/card.py` and `tools/booth/evaluate_booth.py` from measured numbers.",
        "",
        "## Input / output",
        f"- input: {card['input']['width']}x{card['input']['height']} {card['input']['channels']} {card['input']['dtype']}; "
        f"{card['input']['normalisation']}; resize: {card['input']['resize']}",
        f"- output: {card['output']['width']}x{card['output']['height']} {card['output']['dtype']} "
        f"{card['output']['meaning']}, threshold {card['output']['threshold']} (use q >= 128)",
        f"- file `{card['file']}`, sha256 `{card['sha256']}`",
        "",
        "## Int8 check",
        f"- fully int8: **{card['int8_check']['fully_int8']}** ({card['int8_check']['ops']} ops: "
        + ", ".join(f"{k} x{v}" for k, v in card["int8_check"]["op_counts"].items())
        + ")",
        "",
        *(edgetpu_md(card["edgetpu"]) if card.get("edgetpu") else []),
        "## Latency",
        f"- model invoke: p50 {lat['ms_p50']} ms, p95 {lat['ms_p95']} ms ({lat['runtime']}; {lat['note']})",
    ]
    if "modes" in lat:
        md = lat["modes"]
        lines.append(
            f"- whole segment step on a {md['frame']} frame, 1 thread: generic p50 {md['generic_ms_p50']} ms, "
            f"plate mode p50 {md['plate_ms_p50']} ms (incl. the plate fit check) = **{md['ratio']:.2f}x** "
            f"(target <= 1.20x)"
        )
    lines += ["", "## Quality"]
    for set_name, res in card.get("metrics", {}).items():
        lines += ["", f"### {set_name}", res.get("about", "")]
        for subset, rows in res.get("subsets", {}).items():
            lines += ["", f"**{subset}**", "", _table(rows)]
            if res.get("paired", {}).get(subset):
                lines += ["", "IoU minus plate mode's, 95 % paired bootstrap interval over the same images:"]
                lines += [
                    f"- {d['model']}: {d['diff']:+.4f} ({d['low']:+.4f} .. {d['high']:+.4f}), n {d['n']}"
                    for d in res["paired"][subset]
                ]
        if res.get("device_modes"):
            lines += ["", f"Device booth mode ran: {res['device_modes']}"]
        if "shadow" in res:
            s = res["shadow"]
            lines += [
                "",
                f"Shadow layer (device/booth/shadow.py) vs exact shadow ground truth: MAE {s['mae_gt_alpha']:.4f} "
                f"with the true alpha, {s['mae_plate_alpha']:.4f} with plate-mode alpha; mean shadow strength in "
                f"shadowed pixels {s['gt_mean']:.3f} (true) vs {s['est_mean']:.3f} (estimated).",
            ]
        if "targets" in res:
            lines += ["", "Targets: " + "; ".join(f"{k}: {v}" for k, v in res["targets"].items())]
    t = card["training"]
    lines += [
        "",
        "## Training",
        f"- {t['summary']}",
        f"- best step {t.get('best_step')} of {t.get('steps_done')}, validation IoU (float, booth composites of "
        f"held-out products, at output size) {t.get('best_val_iou')}"
        + (f"; exported: {t['exported']['weights']} (step {t['exported']['step']})" if t.get("exported") else "")
        + (f"; the run went on from a model of {t['steps_before']} steps" if t.get("steps_before") else ""),
        f"- split: {t.get('split')}",
        "",
        "## Data and licences",
    ] + [f"- {v}" for v in t["licences"].values()]
    path.write_text("\n".join(lines) + "\n")
