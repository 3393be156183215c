"""Make the booth evaluation set: held-out labelled products photographed in synthetic booths.

    python -m tools.booth.make_booth_set --out ~/.cache/cutbox-train/booth-set --n 200

Products come from the model engineer's validation split (never trained on, by the
generic or the plate model). Each is placed over a synthetic clean plate (white/grey sweep,
vignetting, tint) with a realistic cast shadow, exposure flicker, a sub-pixel camera
shift and sensor noise (tools/booth/synth.py), in one of the hard cases: plain, white on
white, translucent parts (alpha scaled), thin straps. Written as

    img/NAME.png     the captured frame (RGB)
    plate/NAME.png   the calibrated empty booth it goes with
    gt/NAME.png      exact product alpha (8-bit)
    shadow/NAME.png  exact cast-shadow darkening outside the product (8-bit, 0 = none)
    white_on_white.txt, translucent.txt, straps.txt, plain.txt   subset lists (NAME per line)
    manifest.json    seed, sizes, split origin, per-image case and product

Deterministic for a given seed. The set is generated, not committed (regenerate it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from tools.booth import synth

DEFAULT_OUT = Path.home() / ".cache/cutbox-train/booth-set"
# Share of each hard case in the set; white on white is the case the plate is for.
CASE_SHARE = {"plain": 0.35, "white_on_white": 0.35, "translucent": 0.15, "straps": 0.15}


def _write(path: Path, img: np.ndarray) -> None:
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"cannot write {path}")


def make_set(out: Path, n: int, seed: int = 2026, h: int = 288, w: int = 384) -> dict:
    products, origin = synth.list_products("val")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(products))
    cases = [c for c, share in CASE_SHARE.items() for _ in range(int(round(share * n)))][:n]
    while len(cases) < n:
        cases.append("plain")
    for sub in ("img", "plate", "gt", "shadow"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    manifest = {"seed": seed, "size": [w, h], "split": origin, "n": n, "images": []}
    lists: dict[str, list[str]] = {c: [] for c in CASE_SHARE}
    k = 0
    for i, case in enumerate(cases):
        while True:  # skip the rare product whose label is empty
            p = products[order[k % len(order)]]
            k += 1
            try:
                rgb, a = synth.load_product(p)
                break
            except ValueError:
                continue
        c = synth.composite(rgb, a, rng, h, w, case=case)
        name = f"{i:04d}_{case}"
        _write(out / "img" / f"{name}.png", c.image)
        _write(out / "plate" / f"{name}.png", c.plate)
        _write(out / "gt" / f"{name}.png", np.clip(c.alpha * 255 + 0.5, 0, 255).astype(np.uint8))
        _write(out / "shadow" / f"{name}.png", np.clip(c.shadow * 255 + 0.5, 0, 255).astype(np.uint8))
        lists[case].append(name)
        manifest["images"].append({"name": name, "case": case, "product": p.name})
    for case, names in lists.items():
        (out / f"{case}.txt").write_text("".join(f"{nm}\n" for nm in names))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--n", type=int, default=200, help="images in the set")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    if args.n < 1:
        raise SystemExit("error: --n must be >= 1")
    m = make_set(args.out.expanduser(), args.n, args.seed)
    counts = {c: sum(1 for im in m["images"] if im["case"] == c) for c in CASE_SHARE}
    print(json.dumps({"out": str(args.out), "n": m["n"], "cases": counts, "split": m["split"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
