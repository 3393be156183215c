"""A second teacher's labels for the distill photos, so training can learn from two teachers.

    python -m tools.model.label u2netp --out ~/.cache/cutbox-train/labels/u2netp

IS-Net made the labels beside the photos: precise at edges, but on COCO's one-object-in-a-scene
photos it scores below U2-Net-p, a salient-object model (IoU 0.557 against 0.644 on the same 48
images; the student, which learnt from IS-Net alone, 0.577). `[data] extra_labels` blends these
labels with IS-Net's, an ensemble of the two teachers.

Writes OUT/<distill folder name>/NAME.png (8-bit alpha at the photo's size), the layout
`data.load_all` looks for. Resumable: existing labels are kept. Only the training split is
labelled unless `--all`; the validation split keeps IS-Net's labels alone.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path

import cv2
import numpy as np

from tools import REPO
from tools.model import data


def label_path(out: Path, jpg: Path) -> Path:
    return Path(out).expanduser() / jpg.parent.name / f"{jpg.stem}.png"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("teacher", choices=("u2netp", "isnet"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--config",
        type=Path,
        default=Path(__file__).with_name("train.toml"),
        help="which photos and validation split (its [data] table)",
    )
    ap.add_argument("--all", action="store_true", help="label the validation split too")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    from tools.evaluate import OnnxTeacher, read_rgb

    cfg = tomllib.loads(args.config.read_text())["data"]  # not train.load_config: no TensorFlow here
    pairs = data.list_pairs([REPO / d for d in cfg["dirs"]])
    train, val = data.split_pairs(pairs, cfg["val_fraction"])
    todo = [jpg for jpg, _ in (pairs if args.all else train) if not label_path(args.out, jpg).exists()]
    print(f"{len(todo)} photos to label ({len(pairs) - len(todo)} done or in the validation split)", flush=True)
    teacher = OnnxTeacher(args.teacher, args.threads)
    t0 = time.time()
    for i, jpg in enumerate(todo, 1):
        rgb = read_rgb(jpg)
        prob = cv2.resize(teacher(rgb), (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        dest = label_path(args.out, jpg)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.stem + ".part.png")
        cv2.imwrite(str(tmp), np.round(np.clip(prob, 0, 1) * 255).astype(np.uint8))
        tmp.replace(dest)  # a stopped run never leaves a half-written label behind
        if i % 100 == 0 or i == len(todo):
            rate = (time.time() - t0) / i
            print(f"{i}/{len(todo)}  {rate:.2f} s/photo, {rate * (len(todo) - i) / 60:.0f} min left", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
