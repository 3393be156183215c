"""The unseen-category evaluation list of a training config: the photos of its `[data] holdout`
categories whose teacher label is trustworthy (the same `min_solid` test training applies), so a
score on them says how the student does on kinds of product it never learnt.

    python -m tools.model.holdout --config tools/model/train-diverse.toml --out ~/.cache/cutbox-train/unseen.txt
    python -m tools.evaluate --data ../shared/data/distill --split ~/.cache/cutbox-train/unseen.txt \\
        --model models/cutbox-student-int8.tflite --model u2netp

The held-out photos are never trained on and never used to choose a checkpoint (validation is a
hash split of the seen categories), so the figures may be reported.
"""

from __future__ import annotations

import argparse
import tomllib
from collections import Counter
from pathlib import Path

import cv2

from tools import REPO
from tools.model import data


def load_config(path: Path) -> dict:
    """The training config's TOML (read here without TensorFlow: the booth tools list unseen
    products from the device venv)."""
    return tomllib.loads(Path(path).read_text())


def unseen_pairs(cfg: dict) -> list[tuple[Path, Path]]:
    """Held-out photos whose IS-Net label passes `min_solid` (what training would have kept)."""
    holdout = cfg["data"].get("holdout", [])
    if not holdout:
        raise SystemExit("error: the config has no [data] holdout categories")
    pairs = data.held_out(data.list_pairs([REPO / d for d in cfg["data"]["dirs"]]), holdout)
    min_solid = cfg["data"].get("min_solid", 0.0)
    return [(jpg, png) for jpg, png in pairs if data.solid_fraction(cv2.imread(str(png), 0)) >= min_solid]


def category(jpg: Path) -> str:
    """`source/class` of a distill photo (`trashnet/glass`, `grocery-instore/Oat-Milk`)."""
    stem = Path(jpg).stem
    cls = stem.split("-")[0] if Path(jpg).parent.name == "trashnet" else stem.split("_")[0]
    return f"{Path(jpg).parent.name}/{cls}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    pairs = unseen_pairs(load_config(args.config))
    data.write_split(pairs, args.out.expanduser())
    counts = Counter(category(jpg) for jpg, _ in pairs)
    print(f"{len(pairs)} unseen photos -> {args.out}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
