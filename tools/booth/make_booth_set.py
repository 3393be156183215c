"""Make the booth evaluation set: products of categories no model trained on, photographed in synthetic booths.

    python -m tools.booth.make_booth_set --out ~/.cache/cutbox-train/booth-set-unseen --n 80

Products are the photos of a training config's `[data] holdout` categories (default
tools/model/train-diverse.toml: TrashNet glass and metal, two grocery families), the ones
neither the generic student nor the plate model ever trains or validates on, drawn in turn
from each category so no category dominates. Each is placed over a synthetic clean plate
(white/grey sweep, vignetting, tint) with a realistic cast shadow, exposure flicker, a
sub-pixel camera shift and sensor noise (tools/booth/synth.py), in one of the hard cases:
plain, white on white, translucent parts (alpha scaled), thin and open (the product's outline
with struts, and straps: the held-out data has no real chairs or eyeglasses, so they are made
from its products); a share of every case sticks over the frame edge. Written as

    img/NAME.png     the captured frame (RGB)
    plate/NAME.png   the calibrated empty booth it goes with
    gt/NAME.png      exact product alpha (8-bit)
    shadow/NAME.png  exact cast-shadow darkening outside the product (8-bit, 0 = none)
    plain.txt, white_on_white.txt, translucent.txt, thin.txt, edge.txt   subset lists (NAME per line)
    manifest.json    seed, sizes, where the products came from, per-image case, edge, product

Deterministic for a given seed. The set is generated, not committed (regenerate it).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from tools.booth import synth

DEFAULT_OUT = Path.home() / ".cache/cutbox-train/booth-set-unseen"
# Share of each hard case in the set; white on white is the case the plate is for.
CASE_SHARE = {"plain": 0.3, "white_on_white": 0.3, "translucent": 0.15, "thin": 0.25}
EDGE_SHARE = 0.2  # images whose product sticks over the frame edge (any case)


def _write(path: Path, img: np.ndarray) -> None:
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"cannot write {path}")


def by_category(products: list[synth.Product], rng: np.random.Generator) -> list[synth.Product]:
    """Products in turns, one from each category (in random order within it), each once: a
    category with few photos runs out early instead of repeating them."""
    from tools.model.holdout import category

    groups: dict[str, list[synth.Product]] = defaultdict(list)
    for p in products:
        groups[category(p.image)].append(p)
    queues = [[g[i] for i in rng.permutation(len(g))] for _, g in sorted(groups.items())]
    out = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def make_set(
    out: Path, n: int, seed: int = 2026, h: int = 288, w: int = 384, config: Path = synth.DIVERSE_TOML
) -> dict:
    products, origin = synth.config_products(config, "unseen")
    rng = np.random.default_rng(seed)
    order = by_category(products, rng)
    cases = [c for c, share in CASE_SHARE.items() for _ in range(int(round(share * n)))][:n]
    while len(cases) < n:
        cases.append("plain")
    edges = np.zeros(n, bool)
    edges[rng.permutation(n)[: int(round(EDGE_SHARE * n))]] = True
    for sub in ("img", "plate", "gt", "shadow"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    manifest = {
        "seed": seed,
        "size": [w, h],
        "split": origin,
        "products": "unseen categories only: " + ", ".join(synth.holdout_patterns(config)),
        "n": n,
        "images": [],
    }
    lists: dict[str, list[str]] = {c: [] for c in (*CASE_SHARE, "edge")}
    k = 0
    for i, case in enumerate(cases):
        while True:  # skip the rare product whose label is empty
            p = order[k % len(order)]
            k += 1
            try:
                rgb, a = synth.load_product(p)
                break
            except ValueError:
                if k > 2 * len(order):
                    raise SystemExit(f"error: no loadable product among {len(order)} from {origin}") from None
                continue
        c = synth.composite(rgb, a, rng, h, w, case=case, edge=bool(edges[i]))
        name = f"{i:04d}_{case}" + ("_edge" if edges[i] else "")
        _write(out / "img" / f"{name}.png", c.image)
        _write(out / "plate" / f"{name}.png", c.plate)
        _write(out / "gt" / f"{name}.png", np.clip(c.alpha * 255 + 0.5, 0, 255).astype(np.uint8))
        _write(out / "shadow" / f"{name}.png", np.clip(c.shadow * 255 + 0.5, 0, 255).astype(np.uint8))
        lists[case].append(name)
        if edges[i]:
            lists["edge"].append(name)
        manifest["images"].append({"name": name, "case": case, "edge": bool(edges[i]), "product": p.name})
    for sub, names in lists.items():
        (out / f"{sub}.txt").write_text("".join(f"{nm}\n" for nm in names))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--n", type=int, default=80, help="images in the set")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument(
        "--config",
        type=Path,
        default=synth.DIVERSE_TOML,
        help="training config whose [data] holdout categories give the products (default %(default)s)",
    )
    args = ap.parse_args(argv)
    if args.n < 1:
        raise SystemExit("error: --n must be >= 1")
    if not args.config.exists():
        raise SystemExit(f"error: --config {args.config} not found")
    m = make_set(args.out.expanduser(), args.n, args.seed, config=args.config)
    counts = {c: sum(1 for im in m["images"] if im["case"] == c) for c in CASE_SHARE}
    counts["edge"] = sum(1 for im in m["images"] if im["edge"])
    print(json.dumps({"out": str(args.out), "n": m["n"], "cases": counts, "products": m["products"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
